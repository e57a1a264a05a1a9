//! What to build and how: the build commands of each app in the project, from
//! devops-agent.toml or detected from package.json, Cargo.toml, go.mod or a Makefile, and the
//! order they run in. In a monorepo each workspace with a build script is an app, built after
//! the workspaces it imports ([`crate::project::Workspaces`]), or the orchestrator (turbo, nx)
//! builds them all with its one command; a root script that only fans out to the workspaces is
//! never run beside them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::framework::{self, DevBuild, Ecosystem, Framework, Output};
use crate::project::{
    FileError, Orchestrator, Project, fans_out, package_json_read, workspaces_read,
};

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
    /// Why the development build does not run (the framework has none), if so.
    pub(crate) no_dev_build: Option<&'static str>,
    /// Output directory candidates, relative to the app, first existing wins.
    pub(crate) outputs: Vec<Output>,
    /// The framework recognised, and the evidence (`next (Next.js, web/package.json
    /// dependency next)`).
    pub(crate) framework: Option<(&'static Framework, String)>,
    /// Directories of the apps that must be built before this one (workspaces it imports).
    pub(crate) after: Vec<String>,
}

/// How the apps of a project are built.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Every app built, whose output is measured.
    pub(crate) apps: Vec<App>,
    pub(crate) order: Order,
}

/// The order builds run in.
#[derive(Debug, Clone)]
pub(crate) enum Order {
    /// Each app its own command, level by level (indexes into the apps); the apps of one level
    /// do not depend on each other and build concurrently.
    Levels(Vec<Vec<usize>>),
    /// The monorepo's orchestrator builds every app with one command.
    Orchestrated(Box<Orchestrated>),
}

/// One orchestrator command that builds every workspace.
#[derive(Debug, Clone)]
pub(crate) struct Orchestrated {
    pub(crate) tool: Orchestrator,
    /// The root app running it (dir `.`), with its dev and prod commands.
    pub(crate) runner: App,
    /// Workspace name → directory, to attribute the orchestrator's output.
    pub(crate) members: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub(crate) struct BuildCommand {
    pub(crate) command: String,
    pub(crate) env: BTreeMap<String, String>,
    /// Where the command came from, for the report ("package.json script build:dev").
    pub(crate) source: String,
}

/// The line of `"script":` in a package.json (only for an error, so a plain search).
fn script_line(path: &Path, script: &str) -> Option<u64> {
    let text = crate::fsread::read_lossy(path, 4 * 1024 * 1024).ok()?;
    let needle = format!("\"{script}\"");
    let scripts = text.find("\"scripts\"")?;
    let mut from = scripts;
    while let Some(at) = text.get(from..)?.find(&needle) {
        let at = from + at;
        if text[at + needle.len()..].trim_start().starts_with(':') {
            return Some(crate::project::line_col(&text, at).0);
        }
        from = at + needle.len();
    }
    None
}

/// Default output directories of front-end tool chains without a recognised framework, in the
/// order they are tried.
const NODE_OUTPUTS: &[&str] = &["dist", "build", "out", "public/build"];

fn node_outputs() -> Vec<Output> {
    NODE_OUTPUTS.iter().map(|d| Output::at_root(d)).collect()
}

/// The apps to build (for listings; [`plan`] also says in which order).
pub(crate) fn apps(project: &Project) -> (Vec<App>, Vec<FileError>) {
    let (plan, errors) = plan(project);
    (plan.apps, errors)
}

/// For each of `paths` (directories something starts from), whether it may need what the
/// builds produce: a build runs in it, under it or above it, a monorepo orchestrator builds
/// every workspace with one command, or the workspace there imports (transitively) one that is
/// built. Everything may when the build plan or the workspace graph cannot be read. The
/// startup gate starts a service that needs none of it while the builds still run.
pub(crate) fn may_need_build(project: &Project, paths: &[&Path]) -> Vec<bool> {
    let (plan, errors) = plan(project);
    let workspaces = workspaces_read(project);
    let (Ok(workspaces), true, Order::Levels(_)) = (workspaces, errors.is_empty(), &plan.order)
    else {
        return vec![true; paths.len()];
    };
    let built: Vec<&App> = plan.apps.iter().collect();
    paths
        .iter()
        .map(|path| {
            if built
                .iter()
                .any(|a| a.path.starts_with(path) || path.starts_with(&a.path))
            {
                return true;
            }
            let Some(w) = &workspaces else {
                return false;
            };
            let Some(member) = w
                .members
                .iter()
                .find(|m| project.root.join(&m.dir) == *path)
            else {
                return false;
            };
            let mut stack = member.depends_on.clone();
            let mut seen = std::collections::BTreeSet::new();
            while let Some(j) = stack.pop() {
                if !seen.insert(j) {
                    continue;
                }
                let dir = project.root.join(&w.members[j].dir);
                if built.iter().any(|a| a.path == dir) {
                    return true;
                }
                stack.extend(w.members[j].depends_on.iter().copied());
            }
            false
        })
        .collect()
}

/// The apps to build and their order.
pub(crate) fn plan(project: &Project) -> (Plan, Vec<FileError>) {
    let (apps, mut errors) = detect(project);
    let sequential = |apps: Vec<App>| {
        let order = Order::Levels((0..apps.len()).map(|i| vec![i]).collect());
        Plan { apps, order }
    };
    if project.config.build.dev.is_some()
        || project.config.build.prod.is_some()
        || project.config.build.dir.is_some()
    {
        return (sequential(apps), errors);
    }
    let workspaces = match workspaces_read(project) {
        Ok(Some(w)) => w,
        Ok(None) => return (sequential(apps), errors),
        Err(e) => {
            errors.push(e);
            return (sequential(apps), errors);
        }
    };
    let runner = package_manager(&project.root);
    // The root's own build script, when it does more than fan out to the workspaces.
    let root_script = workspaces.root.scripts.get("build");
    let mut apps: Vec<App> = apps
        .into_iter()
        .filter(|a| a.dir != "." || root_script.is_some_and(|s| !fans_out(s)))
        .collect();
    for app in &mut apps {
        if app.dir != "." {
            // Members run with the monorepo's package manager (the lock file is at the root).
            for cmd in [&mut app.dev, &mut app.prod] {
                if let Some(rest) = cmd.command.split_once(" run ").map(|(_, r)| r.to_owned()) {
                    cmd.command = format!("{runner} run {rest}");
                }
            }
        }
    }
    let index_of = |dir: &str, apps: &[App]| apps.iter().position(|a| a.dir == dir);
    if let Some(tool) = workspaces.orchestrator {
        let command = match root_script {
            Some(s) if s.contains(tool.as_str()) => format!("{runner} run build"),
            _ => tool.command(runner, "build"),
        };
        let source = match root_script {
            Some(s) if s.contains(tool.as_str()) => "package.json script build".to_owned(),
            _ => tool.config_file().to_owned(),
        };
        let env = &project.config.build.env;
        let runner_app = App {
            dir: ".".to_owned(),
            path: project.root.clone(),
            kind: Kind::Node,
            dev: BuildCommand {
                command: command.clone(),
                env: env_with(env, "NODE_ENV", "development"),
                source: source.clone(),
            },
            prod: BuildCommand {
                command,
                env: env_with(env, "NODE_ENV", "production"),
                source,
            },
            no_dev_build: None,
            outputs: Vec::new(),
            framework: None,
            after: Vec::new(),
        };
        let members = workspaces
            .members
            .iter()
            .map(|m| (m.name.clone(), m.dir.clone()))
            .collect();
        apps.retain(|a| a.dir != ".");
        return (
            Plan {
                apps,
                order: Order::Orchestrated(Box::new(Orchestrated {
                    tool,
                    runner: runner_app,
                    members,
                })),
            },
            errors,
        );
    }
    let mut levels: Vec<Vec<usize>> = match workspaces.levels(|m| index_of(&m.dir, &apps).is_some())
    {
        Ok(levels) => levels
            .into_iter()
            .map(|l| {
                l.into_iter()
                    .filter_map(|i| index_of(&workspaces.members[i].dir, &apps))
                    .collect()
            })
            .collect(),
        Err(cycle) => {
            errors.push(FileError::new("package.json", cycle.to_string()));
            vec![(0..apps.len()).filter(|&i| apps[i].dir != ".").collect()]
        }
    };
    // What each member waits for, so a failed library stops its dependents.
    for app in &mut apps {
        if let Some(m) = workspaces.member(&app.dir) {
            let mut stack = m.depends_on.clone();
            let mut seen = std::collections::BTreeSet::new();
            while let Some(j) = stack.pop() {
                if seen.insert(j) {
                    stack.extend(workspaces.members[j].depends_on.iter().copied());
                }
            }
            app.after = seen
                .into_iter()
                .map(|j| workspaces.members[j].dir.clone())
                .collect();
        }
    }
    // A root build of its own runs after every workspace.
    if let Some(root) = index_of(".", &apps) {
        levels.push(vec![root]);
    }
    (
        Plan {
            apps,
            order: Order::Levels(levels),
        },
        errors,
    )
}

/// Find the apps to build. Configuration wins; else every package.json with a build script,
/// the Cargo project at the root, a Go module at the root, or a Makefile with a `build` target.
fn detect(project: &Project) -> (Vec<App>, Vec<FileError>) {
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
                no_dev_build: None,
                outputs: node_outputs(),
                framework: None,
                after: Vec::new(),
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
        let own_dev_script = ["build:dev", "build:development"]
            .into_iter()
            .find(|s| pkg.scripts.contains_key(*s));
        let dev_script = own_dev_script.unwrap_or(prod_script);
        // `npm run build` of an empty script exits 0 having built nothing: not a build.
        let blank: Vec<&str> = [dev_script, prod_script]
            .into_iter()
            .filter(|s| pkg.scripts.get(*s).is_some_and(|c| c.trim().is_empty()))
            .collect();
        if let Some(script) = blank.first() {
            let mut error = FileError::new(
                &pkg.path,
                format!("script \"{script}\" is empty: it would build nothing"),
            );
            error.line = script_line(pkg_path, script);
            errors.push(error);
            continue;
        }
        let detection = framework::detect(Ecosystem::Node, |p| pkg.dependencies.contains(p));
        let no_dev_build = match detection.map(|f| f.dev_build) {
            Some(DevBuild::None(reason)) if own_dev_script.is_none() => Some(reason),
            _ => None,
        };
        let outputs = detection
            .map(|f| (f.outputs)(dir_path))
            .filter(|o| !o.is_empty())
            .unwrap_or_else(node_outputs);
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
            no_dev_build,
            outputs,
            framework: detection.map(|f| (f, evidence(f, &pkg))),
            after: Vec::new(),
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
            no_dev_build: None,
            outputs: vec![Output::at_root("target/release")],
            framework: None,
            after: Vec::new(),
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
            no_dev_build: None,
            outputs: Vec::new(),
            framework: None,
            after: Vec::new(),
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
                no_dev_build: None,
                outputs: ["dist", "build", "bin"]
                    .iter()
                    .map(|d| Output::at_root(d))
                    .collect(),
                framework: None,
                after: Vec::new(),
            });
        }
    }
    (apps, errors)
}

/// Which framework, from which file: `next (Next.js, web/package.json dependency next)`.
fn evidence(f: &Framework, pkg: &crate::project::PackageJson) -> String {
    let package = f
        .packages
        .iter()
        .find(|p| pkg.dependencies.contains(**p))
        .unwrap_or(&"");
    format!("{} ({}, {} dependency {package})", f.id, f.name, pkg.path)
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
        .find_map(|n| crate::fsread::read_lossy(&root.join(n), 4 * 1024 * 1024).ok())?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with(['\t', ' ', '.', '#']))
            .filter_map(|l| l.split_once(':'))
            .filter(|(_, rest)| !rest.starts_with('='))
            .flat_map(|(names, _)| names.split_whitespace().map(str::to_owned))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::testutil::project;

    /// A workspace importing a built one needs the build; one importing nothing built, in a
    /// directory of its own, does not; the root (above every build) does.
    #[test]
    fn what_may_need_the_build() {
        let (dir, p) = project(&[
            ("package.json", r#"{"workspaces":["packages/*","apps/*"]}"#),
            (
                "packages/logger/package.json",
                r#"{"name":"@m/logger","scripts":{"build":"tsc"}}"#,
            ),
            (
                "apps/api/package.json",
                r#"{"name":"@m/api","dependencies":{"@m/logger":"*"},"scripts":{"start":"node ."}}"#,
            ),
            (
                "apps/clock/package.json",
                r#"{"name":"@m/clock","scripts":{"start":"node ."}}"#,
            ),
        ]);
        let paths = ["apps/api", "apps/clock", "."].map(|d| dir.path().join(d));
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        assert_eq!(may_need_build(&p, &refs), [true, false, true]);
    }
}
