//! Loading a project: its configuration (fatal when broken), its environment and its files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::FileError;
use super::compose::relative;
use super::config::{Config, ConfigError};
use super::walk::Detected;
use crate::dotenv::{self, DotEnvError};

/// Everything the gates know about the project under validation.
#[derive(Debug, Clone)]
pub struct Project {
    /// Absolute project directory.
    pub root: PathBuf,
    pub name: String,
    pub config: Config,
    /// The configuration file read, if any, and its text (to turn spans into lines).
    pub config_file: Option<(PathBuf, String)>,
    pub detected: Detected,
    pub env: Env,
    /// Port declarations, read and parsed once per run however many gates ask
    /// ([`crate::gates::ports::collect`]); clones of the project share it.
    pub(crate) port_decls: std::sync::Arc<std::sync::OnceLock<crate::gates::ports::Declarations>>,
}

impl Project {
    /// Load the project at `root`. `config` overrides `root/devops-agent.toml`; a missing
    /// explicit config file is an error, a missing default one is not.
    pub fn load(root: &Path, config: Option<&Path>) -> Result<Project, ConfigError> {
        let root = std::path::absolute(root).map_err(|e| ConfigError {
            path: root.to_owned(),
            line: None,
            column: None,
            message: e.to_string(),
        })?;
        if !root.is_dir() {
            return Err(ConfigError {
                path: root,
                line: None,
                column: None,
                message: "project directory does not exist".to_owned(),
            });
        }
        let (config_path, required) = match config {
            Some(path) => (path.to_owned(), true),
            None => (root.join("devops-agent.toml"), false),
        };
        let loaded = Config::load(&config_path, required)?;
        let (config, config_file) = match loaded {
            Some((config, text)) => (config, Some((config_path, text))),
            None => (Config::default(), None),
        };
        let name = config.project.name.clone().unwrap_or_else(|| {
            root.file_name().map_or_else(
                || "project".to_owned(),
                |n| n.to_string_lossy().into_owned(),
            )
        });
        let env = Env::load(&root);
        let detected = Detected::scan(&root);
        Ok(Project {
            root,
            name,
            config,
            config_file,
            detected,
            env,
            port_decls: std::sync::Arc::default(),
        })
    }

    /// A redactor that knows every secret this project defines: its environment
    /// ([`Env::redactor`]), the `environment` of each configured service, the build `env`, and
    /// the passwords of configured database and external URLs.
    pub fn redactor(&self) -> crate::redact::Redactor {
        let mut r = self.env.redactor();
        let config = &self.config;
        let services = config
            .services
            .values()
            .flat_map(|s| s.environment.iter())
            .chain(config.build.env.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let urls = config
            .databases
            .iter()
            .map(|d| ("url", d.url.as_str()))
            .chain(config.external.iter().map(|e| ("url", e.url.as_str())));
        r.learn_project(services.chain(urls));
        r
    }

    /// A path relative to the project for display.
    pub fn relative(&self, path: &Path) -> String {
        relative(&self.root, path)
    }

    /// Whether `[ports] ignore` excludes the file at `rel`.
    pub fn ignored(&self, rel: &str) -> bool {
        self.config.ports.ignore.iter().any(|prefix| {
            let prefix = prefix.trim_end_matches('/');
            rel == prefix || rel.starts_with(&format!("{prefix}/"))
        })
    }
}

/// Files that document the variables an app reads, as `.env.example` does.
pub(crate) const EXAMPLE_FILES: &[&str] = &[
    ".env.example",
    ".env.sample",
    ".env.template",
    ".env.default",
    ".env.defaults",
];

/// The environment the application would see: the process environment first, then the
/// project's `.env`, as docker compose resolves it.
#[derive(Debug, Clone, Default)]
pub struct Env {
    process: BTreeMap<String, String>,
    dotenv: BTreeMap<String, String>,
    /// The `.env` file exists but could not be read; checks that need it report this.
    pub dotenv_error: Option<FileError>,
    /// Whether a `.env` file was found.
    pub dotenv_present: bool,
    /// Keys documented in `.env.example` (and `.env.sample`, `.env.template`, `.env.default`,
    /// `.env.defaults`), when one of them exists and parses.
    pub example_keys: Option<std::collections::BTreeSet<String>>,
    /// Which of those files were read.
    pub example_files: Vec<String>,
    /// One of them exists but could not be read.
    pub example_error: Option<FileError>,
}

impl Env {
    /// Snapshot the process environment and read `root/.env`.
    pub fn load(root: &Path) -> Env {
        let process: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let mut env = Env {
            process,
            ..Env::default()
        };
        for name in EXAMPLE_FILES {
            match dotenv::load(&root.join(name)) {
                Ok(Some(example)) => {
                    env.example_keys
                        .get_or_insert_with(Default::default)
                        .extend(example.entries.iter().map(|e| e.key.clone()));
                    env.example_files.push((*name).to_owned());
                }
                Ok(None) => {}
                Err(e) => {
                    if env.example_error.is_none() {
                        env.example_error = Some(file_error(root, &e));
                    }
                }
            }
        }
        let path = root.join(".env");
        let lookup_process = env.process.clone();
        let lookup = move |name: &str| lookup_process.get(name).cloned();
        match dotenv::load(&path).and_then(|d| d.map(|d| d.resolve(&lookup)).transpose()) {
            Ok(Some(values)) => {
                env.dotenv = values;
                env.dotenv_present = true;
            }
            Ok(None) => {}
            Err(e) => {
                env.dotenv_present = true;
                env.dotenv_error = Some(file_error(root, &e));
            }
        }
        env
    }

    /// The value the application would get for `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.process
            .get(name)
            .or_else(|| self.dotenv.get(name))
            .cloned()
    }

    /// Every variable the application would see, `.env` first then the process environment
    /// (for building a [`crate::redact::Redactor`]; values never leave through this).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.dotenv
            .iter()
            .chain(self.process.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A redactor that knows this environment's secret values: the process environment's by
    /// name, `.env`'s by name and by looking random.
    pub fn redactor(&self) -> crate::redact::Redactor {
        let mut r = crate::redact::Redactor::new(
            self.process.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        r.learn_project(self.dotenv.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        r
    }

    /// Where `name` comes from: `process`, `.env`, or None.
    pub fn source(&self, name: &str) -> Option<&'static str> {
        if self.process.contains_key(name) {
            Some("process")
        } else if self.dotenv.contains_key(name) {
            Some(".env")
        } else {
            None
        }
    }
}

/// Turn a `.env` error into a located [`FileError`] (never carrying a value).
pub fn file_error(root: &Path, err: &DotEnvError) -> FileError {
    match err {
        DotEnvError::Syntax {
            path,
            line,
            column,
            message,
        } => FileError {
            file: relative(root, Path::new(path)),
            line: Some(*line as u64),
            column: Some(*column as u64),
            message: message.clone(),
        },
        // The file is the FileError's own; the message says only what went wrong with it.
        DotEnvError::TooLarge { path, limit } => FileError::new(
            relative(root, Path::new(path)),
            format!("file is larger than {limit} bytes"),
        ),
        DotEnvError::Io { path, source } => {
            FileError::new(relative(root, Path::new(path)), source.to_string())
        }
    }
}
