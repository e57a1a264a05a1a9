//! `devops-agent init`: detect the stack and write a commented `devops-agent.toml` that
//! validates as written.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::gates::ports::{self, PortExpr};
use crate::project::{Config, Project};

/// What `init` wrote.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Written {
    pub(crate) config: String,
    pub(crate) services: Vec<String>,
    pub(crate) build_apps: Vec<String>,
}

/// Errors of `init`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    #[error("{0} exists; use --force to replace it")]
    Exists(String),
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the generated configuration does not parse ({0}); this is a bug, please report it")]
    Invalid(String),
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Render the configuration for `project`.
pub(crate) fn render(project: &Project) -> String {
    let decls = ports::collect(project);
    let (services, _) = crate::gates::startup::detect_services(project, &decls.ports);
    let (apps, _) = crate::gates::build::detect_apps(project);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# devops-agent configuration, written by `devops-agent init` from what it detected.\n# Everything is optional: delete what detection already gets right. Reference: the README's\n# \"Configuration\" section.\n\n[project]\nname = {}\n",
        quote(&project.name)
    );
    for s in &services {
        let _ = writeln!(out, "[services.{}]", toml_key(&s.name));
        let _ = writeln!(out, "dir = {}", quote(&s.dir));
        if let Some(var) = &s.port_var {
            let expr = decls
                .ports
                .iter()
                .find(
                    |d| matches!(d.expr(), PortExpr::EnvWithDefault { var: ref v, .. } if v == var),
                )
                .map_or_else(
                    || match s.port_preferred {
                        Some(p) => format!("${{{var}:-{p}}}"),
                        None => format!("${{{var}}}"),
                    },
                    |d| d.expression.clone(),
                );
            let _ = writeln!(out, "port = {}", quote(&expr));
        }
        if let Some(l) = &s.dev {
            let _ = writeln!(out, "dev = {}   # from {}", quote(&l.command), l.source);
        }
        if let Some(l) = &s.prod {
            let _ = writeln!(out, "prod = {}   # from {}", quote(&l.command), l.source);
        }
        out.push_str("# health = \"/health\"        # default: first of /health, /healthz, /api/health, /ready, /\n");
        out.push_str("# env = [\"DATABASE_URL\"]    # variables this service requires\n\n");
    }
    out.push_str("[startup]\n# ready_timeout = \"60s\"\n# stability = \"1s\"\n# health_samples = 20\n# health_p95 = \"1s\"\n# required_env = []\n\n");
    out.push_str("[build]\n");
    match apps.first() {
        Some(app) => {
            let _ = writeln!(
                out,
                "# Detected: {} (dev: `{}`, prod: `{}`).",
                apps.iter()
                    .map(|a| a.dir.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                app.dev.command,
                app.prod.command
            );
        }
        None => out.push_str("# No build detected; set dev/prod commands if there is one.\n"),
    }
    out.push_str("# max_warnings = 0\n# artifacts = [\"dist/index.html\"]\n\n[build.budgets]\n# total = \"1 MB\"\n# per_file = \"300 KB\"\n# compression = \"gzip\"\n\n");
    out.push_str("# [[databases]]\n# name = \"main\"\n# url = \"${DATABASE_URL}\"\n\n# [[external]]\n# name = \"payments\"\n# url = \"https://api.example.com/health\"\n\n[timeouts]\n# build = \"10m\"\n# grace = \"3s\"\n");
    out
}

fn toml_key(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.is_empty()
    {
        name.to_owned()
    } else {
        quote(name)
    }
}

/// Write the configuration (refusing to replace one unless `force`).
pub(crate) fn write(project: &Project, force: bool) -> Result<Written, InitError> {
    let path: PathBuf = project.root.join("devops-agent.toml");
    let shown = path.display().to_string();
    if path.exists() && !force {
        return Err(InitError::Exists(shown));
    }
    let text = render(project);
    Config::parse(&text).map_err(|(line, _, message)| {
        InitError::Invalid(format!("line {}: {message}", line.unwrap_or(0)))
    })?;
    std::fs::write(&path, &text).map_err(|source| InitError::Write {
        path: shown.clone(),
        source,
    })?;
    let decls = ports::collect(project);
    let (services, _) = crate::gates::startup::detect_services(project, &decls.ports);
    let (apps, _) = crate::gates::build::detect_apps(project);
    Ok(Written {
        config: shown,
        services: services.into_iter().map(|s| s.name).collect(),
        build_apps: apps.into_iter().map(|a| a.dir).collect(),
    })
}
