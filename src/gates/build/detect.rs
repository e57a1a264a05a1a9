//! What to build and how: the build commands of each app in the project, from
//! devops-agent.toml or detected from package.json, Cargo.toml, go.mod or a Makefile.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::project::{FileError, Project, package_json_read};

/// The toolchain that builds an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Node,
    Cargo,
    Go,
    Make,
    /// Commands given in devops-agent.toml.
    Configured,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Cargo => "cargo",
            Kind::Go => "go",
            Kind::Make => "make",
            Kind::Configured => "configured",
        }
    }
}

/// One buildable app and its two builds.
#[derive(Debug, Clone)]
pub(crate) struct App {
    /// Directory relative to the project (`.` for the root).
    pub(crate) dir: String,
    pub(crate) path: PathBuf,
    pub(crate) kind: Kind,
    pub(crate) dev: BuildCommand,
    pub(crate) prod: BuildCommand,
    /// Output directory candidates, relative to the app, first existing wins.
    pub(crate) outputs: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct BuildCommand {
    pub(crate) command: String,
    pub(crate) env: BTreeMap<String, String>,
    /// Where the command came from, for the report ("package.json script build:dev").
    pub(crate) source: String,
}

/// Default output directories of front-end tool chains, in the order they are tried.
const NODE_OUTPUTS: &[&str] = &["dist", "build", "out", ".next", "public/build"];

/// Find the apps to build. Configuration wins; else every package.json with a build script,
/// the Cargo project at the root, a Go module at the root, or a Makefile with a `build` target.
pub(crate) fn apps(project: &Project) -> (Vec<App>, Vec<FileError>) {
    let cfg = &project.config.build;
    let mut errors = Vec::new();
    let env: BTreeMap<String, String> = cfg.env.clone();

    if cfg.dev.is_some() || cfg.prod.is_some() {
        let dir = cfg.dir.clone().unwrap_or_else(|| ".".to_owned());
        let path = project.root.join(&dir);
        let with = |command: &Option<String>, mode: &str| {
            command.as_ref().map(|c| BuildCommand {
                command: c.clone(),
                env: env_with(&env, "NODE_ENV", mode),
                source: format!(
                    "devops-agent.toml [build] {}",
                    if mode == "production" { "prod" } else { "dev" }
                ),
            })
        };
        let dev = with(&cfg.dev, "development");
        let prod = with(&cfg.prod, "production");
        let (dev, prod) = match (dev, prod) {
            (Some(d), Some(p)) => (d, p),
            (Some(d), None) => (d.clone(), d),
            (None, Some(p)) => (p.clone(), p),
            (None, None) => return (Vec::new(), errors),
        };
        return (
            vec![App {
                dir,
                path,
                kind: Kind::Configured,
                dev,
                prod,
                outputs: NODE_OUTPUTS.iter().map(|s| (*s).to_owned()).collect(),
            }],
            errors,
        );
    }

    let mut apps = Vec::new();
    for pkg_path in &project.detected.package_json {
        let dir_path = pkg_path.parent().unwrap_or(&project.root);
        let rel = project.relative(dir_path);
        let dir = if rel.is_empty() { ".".to_owned() } else { rel };
        if let Some(only) = &cfg.dir
            && only.trim_end_matches('/') != dir
        {
            continue;
        }
        let pkg = match package_json_read(&project.root, pkg_path) {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let Some(prod_script) = pkg.scripts.get("build").map(|_| "build") else {
            continue;
        };
        let runner = package_manager(dir_path);
        let dev_script = ["build:dev", "build:development"]
            .into_iter()
            .find(|s| pkg.scripts.contains_key(*s))
            .unwrap_or(prod_script);
        apps.push(App {
            dir: dir.clone(),
            path: dir_path.to_owned(),
            kind: Kind::Node,
            dev: BuildCommand {
                command: format!("{runner} run {dev_script}"),
                env: env_with(&env, "NODE_ENV", "development"),
                source: format!("{dir}/package.json script {dev_script}"),
            },
            prod: BuildCommand {
                command: format!("{runner} run {prod_script}"),
                env: env_with(&env, "NODE_ENV", "production"),
                source: format!("{dir}/package.json script {prod_script}"),
            },
            outputs: NODE_OUTPUTS.iter().map(|s| (*s).to_owned()).collect(),
        });
    }
    let root = &project.root;
    let in_scope = |dir: &str| {
        cfg.dir
            .as_deref()
            .is_none_or(|d| d.trim_end_matches('/') == dir)
    };
    if apps.is_empty() && root.join("Cargo.toml").is_file() && in_scope(".") {
        apps.push(App {
            dir: ".".to_owned(),
            path: root.clone(),
            kind: Kind::Cargo,
            dev: BuildCommand {
                command: "cargo build --locked --message-format=json-diagnostic-rendered-ansi"
                    .to_owned(),
                env: env.clone(),
                source: "Cargo.toml".to_owned(),
            },
            prod: BuildCommand {
                command:
                    "cargo build --locked --release --message-format=json-diagnostic-rendered-ansi"
                        .to_owned(),
                env: env.clone(),
                source: "Cargo.toml".to_owned(),
            },
            outputs: vec!["target/release".to_owned()],
        });
    }
    if apps.is_empty() && root.join("go.mod").is_file() && in_scope(".") {
        apps.push(App {
            dir: ".".to_owned(),
            path: root.clone(),
            kind: Kind::Go,
            dev: BuildCommand {
                command: "go build ./...".to_owned(),
                env: env.clone(),
                source: "go.mod".to_owned(),
            },
            prod: BuildCommand {
                command: "go build -trimpath ./...".to_owned(),
                env: env_with(&env, "CGO_ENABLED", "0"),
                source: "go.mod".to_owned(),
            },
            outputs: Vec::new(),
        });
    }
    if apps.is_empty()
        && in_scope(".")
        && let Some(makefile) = makefile_targets(root)
    {
        let pick = |names: &[&str]| {
            names
                .iter()
                .find(|n| makefile.contains(&(**n).to_owned()))
                .map(|n| (*n).to_owned())
        };
        if let Some(build) = pick(&["build"]) {
            let dev =
                pick(&["build-dev", "build_dev", "dev-build"]).unwrap_or_else(|| build.clone());
            let prod =
                pick(&["build-prod", "build_prod", "release"]).unwrap_or_else(|| build.clone());
            apps.push(App {
                dir: ".".to_owned(),
                path: root.clone(),
                kind: Kind::Make,
                dev: BuildCommand {
                    command: format!("make {dev}"),
                    env: env.clone(),
                    source: format!("Makefile target {dev}"),
                },
                prod: BuildCommand {
                    command: format!("make {prod}"),
                    env: env.clone(),
                    source: format!("Makefile target {prod}"),
                },
                outputs: vec!["dist".to_owned(), "build".to_owned(), "bin".to_owned()],
            });
        }
    }
    (apps, errors)
}

fn env_with(base: &BTreeMap<String, String>, key: &str, value: &str) -> BTreeMap<String, String> {
    let mut env = base.clone();
    env.entry(key.to_owned())
        .or_insert_with(|| value.to_owned());
    env
}

/// The package manager a directory's lock file names (looking up to the repository root for
/// workspaces is left to the package manager itself).
pub(crate) fn package_manager(dir: &Path) -> &'static str {
    if dir.join("pnpm-lock.yaml").is_file() {
        "pnpm"
    } else if dir.join("yarn.lock").is_file() {
        "yarn"
    } else {
        "npm"
    }
}

/// Target names of a Makefile (lines `name:` not starting with whitespace or `.`).
fn makefile_targets(root: &Path) -> Option<Vec<String>> {
    let text = ["Makefile", "makefile", "GNUmakefile"]
        .iter()
        .find_map(|n| fs::read_to_string(root.join(n)).ok())?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with(['\t', ' ', '.', '#']))
            .filter_map(|l| l.split_once(':'))
            .filter(|(_, rest)| !rest.starts_with('='))
            .flat_map(|(names, _)| names.split_whitespace().map(str::to_owned))
            .collect(),
    )
}
