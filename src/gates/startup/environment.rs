//! The environment a service's command runs in: the project's virtualenv `bin/` (with
//! `VIRTUAL_ENV`, as `poetry run` / `uv run` / `source .venv/bin/activate` set it) and every
//! `node_modules/.bin` from the service's directory up to the project root (as `npm run` adds
//! them) go before the inherited `PATH`, so `gunicorn app:app` in a Procfile finds the
//! gunicorn the deps gate just verified.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::project::Project;

/// What was put in front of `PATH`, for evidence (paths relative to the project).
#[derive(Debug, Clone, Default)]
pub(crate) struct RunEnv {
    /// The virtualenv, relative to the project (or `$VIRTUAL_ENV`).
    pub(crate) venv: Option<String>,
    /// `node_modules/.bin` directories, nearest first.
    pub(crate) node_bins: Vec<String>,
    /// Absolute directories to prepend, in order.
    prepend: Vec<PathBuf>,
    venv_path: Option<PathBuf>,
}

impl RunEnv {
    /// Find the directories for a service in `dir`.
    pub(crate) fn find(project: &Project, dir: &Path) -> RunEnv {
        let mut env = RunEnv::default();
        if let Some((path, label)) = crate::gates::deps::locate_venv(project, dir)
            && path.join("bin").is_dir()
        {
            env.prepend.push(path.join("bin"));
            env.venv = Some(label);
            env.venv_path = Some(path);
        }
        let mut current = Some(dir);
        while let Some(d) = current {
            let bin = d.join("node_modules/.bin");
            if bin.is_dir() {
                env.node_bins.push(project.relative(&bin));
                env.prepend.push(bin);
            }
            if d == project.root {
                break;
            }
            current = d.parent().filter(|p| p.starts_with(&project.root));
        }
        env
    }

    /// Set `PATH` (and `VIRTUAL_ENV`) in `vars`, on top of the inherited `PATH`.
    pub(crate) fn apply(&self, vars: &mut BTreeMap<String, String>) {
        if self.prepend.is_empty() {
            return;
        }
        let inherited = vars
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        let mut parts: Vec<String> = self
            .prepend
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if !inherited.is_empty() {
            parts.push(inherited);
        }
        vars.insert("PATH".to_owned(), parts.join(":"));
        if let Some(venv) = &self.venv_path {
            vars.insert(
                "VIRTUAL_ENV".to_owned(),
                venv.to_string_lossy().into_owned(),
            );
        }
    }

    /// Whether `program` is installed in one of the directories.
    pub(crate) fn has(&self, program: &str) -> bool {
        self.prepend.iter().any(|d| d.join(program).is_file())
    }

    /// For evidence: `.venv (VIRTUAL_ENV) + node_modules/.bin`, or `inherited PATH`.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.venv {
            parts.push(format!("{v}/bin (VIRTUAL_ENV)"));
        }
        parts.extend(self.node_bins.iter().cloned());
        if parts.is_empty() {
            "inherited PATH".to_owned()
        } else {
            format!("{} before the inherited PATH", parts.join(", "))
        }
    }
}
