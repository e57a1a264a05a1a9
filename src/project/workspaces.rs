//! The workspace graph of a JavaScript monorepo: the members named by npm/yarn `workspaces` or
//! `pnpm-workspace.yaml` (and Nx `project.json` projects), which members depend on which, and
//! the orchestrator (Turborepo, Nx) that already knows how to run a task across them in order.
//!
//! Builds use it to run each member once, after the members it imports; startup uses it to tell
//! services (members that serve) from libraries and from the root's fan-out scripts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::compose::{read_text, relative};
use super::{FileError, PackageJson, Project, package_json_read};

const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// A task runner that orders and caches a task across the workspaces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Orchestrator {
    Turbo,
    Nx,
}

impl Orchestrator {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Orchestrator::Turbo => "turbo",
            Orchestrator::Nx => "nx",
        }
    }

    /// The config file that announces it.
    pub(crate) fn config_file(self) -> &'static str {
        match self {
            Orchestrator::Turbo => "turbo.json",
            Orchestrator::Nx => "nx.json",
        }
    }

    /// The one command that runs `task` in every workspace, in dependency order.
    pub(crate) fn command(self, runner: &str, task: &str) -> String {
        let exec = match runner {
            "pnpm" => "pnpm exec".to_owned(),
            "yarn" => "yarn".to_owned(),
            _ => "npx --no-install".to_owned(),
        };
        match self {
            Orchestrator::Turbo => format!("{exec} turbo run {task}"),
            Orchestrator::Nx => format!("{exec} nx run-many -t {task}"),
        }
    }
}

/// One workspace member.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// Package name (or Nx project name).
    pub(crate) name: String,
    /// Directory relative to the project.
    pub(crate) dir: String,
    pub(crate) manifest: PackageJson,
    /// Indexes of the members it depends on.
    pub(crate) depends_on: Vec<usize>,
}

/// The monorepo at the project root.
#[derive(Debug, Clone)]
pub(crate) struct Workspaces {
    pub(crate) root: PackageJson,
    pub(crate) members: Vec<Member>,
    pub(crate) orchestrator: Option<Orchestrator>,
}

/// A dependency cycle between members, which no order can satisfy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workspace dependency cycle between {}", members.join(", "))]
pub(crate) struct Cycle {
    pub(crate) members: Vec<String>,
}

/// Read the workspace graph of the project root, or None when the root is not a monorepo.
pub(crate) fn read(project: &Project) -> Result<Option<Workspaces>, FileError> {
    let root_dir = &project.root;
    let manifest_path = root_dir.join("package.json");
    if !manifest_path.is_file() {
        return Ok(None);
    }
    let root = package_json_read(root_dir, &manifest_path)?;
    let text = read_text("package.json", &manifest_path, MAX_CONFIG_BYTES)?;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut patterns: Vec<String> = match value.get("workspaces") {
        Some(serde_json::Value::Array(a)) => strings(a),
        Some(serde_json::Value::Object(o)) => o
            .get("packages")
            .and_then(|p| p.as_array())
            .map(|a| strings(a))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    patterns.extend(crate::gates::deps::pnpm_workspaces(root_dir));
    let mut dirs: Vec<PathBuf> = crate::gates::deps::expand_workspaces(root_dir, &patterns);

    let orchestrator = if root_dir.join("turbo.json").is_file() {
        Some(Orchestrator::Turbo)
    } else if root_dir.join("nx.json").is_file() {
        Some(Orchestrator::Nx)
    } else {
        None
    };
    // Nx projects without a workspace entry: a project.json with a package.json beside it.
    if orchestrator == Some(Orchestrator::Nx) {
        for path in &project.detected.package_json {
            if let Some(dir) = path.parent()
                && dir != root_dir.as_path()
                && dir.join("project.json").is_file()
                && !dirs.iter().any(|d| d == dir)
            {
                dirs.push(dir.to_owned());
            }
        }
    }
    if dirs.is_empty() {
        return Ok(None);
    }
    dirs.sort();
    let mut members = Vec::new();
    for dir in dirs {
        let manifest = package_json_read(root_dir, &dir.join("package.json"))?;
        let rel = relative(root_dir, &dir);
        let mut manifest = manifest;
        let name = nx_project_name(root_dir, &dir)?
            .or_else(|| manifest.name.clone())
            .unwrap_or_else(|| rel.clone());
        manifest.dependencies.extend(nx_implicit(root_dir, &dir)?);
        members.push(Member {
            name,
            dir: rel,
            manifest,
            depends_on: Vec::new(),
        });
    }
    let index: BTreeMap<String, usize> = members
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            let mut names = vec![(m.name.clone(), i)];
            if let Some(n) = &m.manifest.name {
                names.push((n.clone(), i));
            }
            names
        })
        .collect();
    for m in &mut members {
        let own = m.name.clone();
        let deps: BTreeSet<usize> = m
            .manifest
            .dependencies
            .iter()
            .filter(|d| **d != own)
            .filter_map(|d| index.get(d).copied())
            .collect();
        m.depends_on = deps.into_iter().collect();
    }
    Ok(Some(Workspaces {
        root,
        members,
        orchestrator,
    }))
}

fn strings(a: &[serde_json::Value]) -> Vec<String> {
    a.iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn nx_project(root: &Path, dir: &Path) -> Result<Option<serde_json::Value>, FileError> {
    let path = dir.join("project.json");
    if !path.is_file() {
        return Ok(None);
    }
    let rel = relative(root, &path);
    let text = read_text(&rel, &path, MAX_CONFIG_BYTES)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| FileError {
            file: rel,
            line: Some(e.line() as u64),
            column: Some(e.column() as u64),
            message: format!("invalid JSON: {e}"),
        })
}

fn nx_project_name(root: &Path, dir: &Path) -> Result<Option<String>, FileError> {
    Ok(nx_project(root, dir)?.and_then(|v| v.get("name")?.as_str().map(str::to_owned)))
}

fn nx_implicit(root: &Path, dir: &Path) -> Result<Vec<String>, FileError> {
    Ok(nx_project(root, dir)?
        .and_then(|v| {
            v.get("implicitDependencies")?
                .as_array()
                .map(|a| strings(a))
        })
        .unwrap_or_default())
}

impl Workspaces {
    /// The members accepted by `keep`, in levels: each level depends only on earlier ones, so a
    /// level's members can run concurrently. Dependencies through members not kept (a library
    /// without a build script) still order what they connect.
    pub(crate) fn levels(&self, keep: impl Fn(&Member) -> bool) -> Result<Vec<Vec<usize>>, Cycle> {
        let n = self.members.len();
        // Transitive closure of dependencies, so a dropped middle member still orders its ends.
        let mut reach: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        for (i, r) in reach.iter_mut().enumerate() {
            let mut stack = self.members[i].depends_on.clone();
            while let Some(j) = stack.pop() {
                if r.insert(j) {
                    stack.extend(self.members[j].depends_on.iter().copied());
                }
            }
        }
        let kept: Vec<usize> = (0..n).filter(|&i| keep(&self.members[i])).collect();
        let mut placed: BTreeSet<usize> = BTreeSet::new();
        let mut levels = Vec::new();
        while placed.len() < kept.len() {
            let level: Vec<usize> = kept
                .iter()
                .copied()
                .filter(|i| !placed.contains(i))
                .filter(|&i| {
                    reach[i]
                        .iter()
                        .all(|j| *j == i || !kept.contains(j) || placed.contains(j))
                })
                .collect();
            if level.is_empty() {
                let members = kept
                    .iter()
                    .filter(|i| !placed.contains(i))
                    .map(|&i| self.members[i].name.clone())
                    .collect();
                return Err(Cycle { members });
            }
            placed.extend(level.iter().copied());
            levels.push(level);
        }
        Ok(levels)
    }

    /// The member whose directory is `dir` (relative to the project).
    pub(crate) fn member(&self, dir: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.dir == dir)
    }
}

/// Whether a root script only runs the same script in every workspace (`npm run build -ws`,
/// `pnpm -r build`, `yarn workspaces run build`, `lerna run build`) or hands it to an
/// orchestrator (`turbo run build`, `nx run-many`): it is not an app of its own, and running it
/// beside the members would do everything twice.
pub(crate) fn fans_out(script: &str) -> bool {
    let words: Vec<&str> = script.split_whitespace().collect();
    let has = |w: &str| words.contains(&w);
    has("--workspaces")
        || has("-ws")
        || words.iter().any(|w| w.starts_with("--workspace="))
        || has("--workspace")
        || (words.first() == Some(&"pnpm") && (has("-r") || has("--recursive")))
        || (words.first() == Some(&"yarn") && has("workspaces"))
        || has("turbo")
        || has("nx")
        || has("lerna")
        || words
            .iter()
            .any(|w| w.ends_with("/turbo") || w.ends_with("/nx"))
}

/// Whether a root script only runs workspaces' commands through a process runner —
/// `concurrently "npm run dev -w api" "npm run dev -w web"`, `concurrently npm:dev:*`,
/// `npm-run-all --parallel dev:*`, `run-p dev:api dev:web` — each of which fans out or runs in
/// one workspace (`-w`, `--workspace`, pnpm's `--filter`, `npm --prefix apps/api`, `yarn
/// workspace api`, or a root script that does). `scripts` are the root's, which `npm:NAME` and
/// the runners' names refer to, `*` matching within one `:`-separated part as npm-run-all's
/// globs do. Started beside the workspaces' own servers it would start each twice. A runner
/// with one command of its own (`concurrently "tsc -w" "node dist"`) is an app, not this.
pub(crate) fn runs_workspace_scripts(script: &str, scripts: &BTreeMap<String, String>) -> bool {
    workspace_only(script, scripts, 0)
}

fn workspace_only(script: &str, scripts: &BTreeMap<String, String>, depth: u8) -> bool {
    if depth > 4 {
        return false;
    }
    let segments = crate::framework::segments(script);
    !segments.is_empty()
        && segments.iter().all(|seg| {
            let words = seg.words.get(seg.program..).unwrap_or(&[]);
            let Some((program, args)) = words.split_first() else {
                return false;
            };
            let named = |pattern: &str| -> Vec<&String> {
                scripts
                    .iter()
                    .filter(|(name, _)| glob_matches(pattern, name))
                    .map(|(_, s)| s)
                    .collect()
            };
            let all = |commands: Vec<&String>| {
                !commands.is_empty()
                    && commands
                        .iter()
                        .all(|c| workspace_only(c, scripts, depth + 1))
            };
            match program.rsplit('/').next().unwrap_or(program) {
                "concurrently" => {
                    let mut commands: Vec<&String> = Vec::new();
                    let mut runs: Vec<String> = Vec::new();
                    let mut rest = args.iter();
                    while let Some(arg) = rest.next() {
                        if CONCURRENTLY_VALUED.contains(&arg.as_str()) {
                            rest.next();
                        } else if arg.starts_with('-') {
                        } else if let Some((_, name)) = arg
                            .split_once(':')
                            .filter(|(pm, _)| matches!(*pm, "npm" | "pnpm" | "yarn" | "bun"))
                        {
                            let found = named(name);
                            if found.is_empty() {
                                return false;
                            }
                            commands.extend(found);
                        } else {
                            runs.push(arg.clone());
                        }
                    }
                    let runs: Vec<&String> = runs.iter().collect();
                    (!commands.is_empty() || !runs.is_empty())
                        && (commands.is_empty() || all(commands))
                        && (runs.is_empty() || all(runs))
                }
                "npm-run-all" | "npm-run-all2" | "run-p" | "run-s" => {
                    let mut commands: Vec<&String> = Vec::new();
                    for arg in args.iter().filter(|a| !a.starts_with('-')) {
                        let found = named(arg);
                        if found.is_empty() {
                            return false;
                        }
                        commands.extend(found);
                    }
                    all(commands)
                }
                _ => {
                    let line = words.join(" ");
                    let has = |w: &str| words.iter().any(|x| x == w);
                    let root_script = match words {
                        [pm, run, name, ..]
                            if matches!(pm.as_str(), "npm" | "pnpm" | "yarn" | "bun")
                                && matches!(run.as_str(), "run" | "run-script") =>
                        {
                            scripts.get(name)
                        }
                        _ => None,
                    };
                    fans_out(&line)
                        || (program == "pnpm" && (has("--filter") || has("-F")))
                        || words.iter().any(|w| w.starts_with("--filter="))
                        || (program == "npm" && (has("-w") || has("--prefix") || has("-C")))
                        || (program == "yarn" && words.get(1).is_some_and(|w| w == "workspace"))
                        || root_script.is_some_and(|s| workspace_only(s, scripts, depth + 1))
                }
            }
        })
}

/// The options of `concurrently` that take a value (`-n api,web`, `-c blue,green`).
const CONCURRENTLY_VALUED: &[&str] = &[
    "-n",
    "--names",
    "-c",
    "--prefix-colors",
    "-p",
    "--prefix",
    "-l",
    "--prefix-length",
    "-t",
    "--timestamp-format",
    "-m",
    "--max-processes",
    "--restart-tries",
    "--restart-after",
    "--default-input-target",
    "--success",
    "-s",
    "--name-separator",
];

/// npm-run-all's script globs: `*` matches within one `:`-separated part, `**` across parts.
fn glob_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p {
            [] => n.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=n.len()).any(|i| go(rest, &n[i..])),
            [b'*', rest @ ..] => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != b':')
                .any(|i| go(rest, &n[i..])),
            [c, rest @ ..] => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Whether a root script runs one target of one Nx project (`nx serve`, `npx nx serve api`,
/// `pnpm nx run api:serve`), rather than many (`nx run-many`, `nx affected`) or a chain of
/// commands. In an Nx "integrated" repository — one package.json at the root, the projects
/// described by `project.json` files — that script is the app's own start, not a fan-out to
/// workspaces: there are none to fan out to.
pub(crate) fn runs_one_nx_target(script: &str) -> bool {
    if script.contains("&&") || script.contains(';') || script.contains('|') {
        return false;
    }
    let words: Vec<&str> = script.split_whitespace().collect();
    let at = match words.as_slice() {
        ["nx", ..] => 1,
        ["npx" | "pnpx" | "bunx" | "pnpm" | "yarn" | "bun", "nx", ..] => 2,
        ["pnpm" | "npm" | "yarn", "exec", "nx", ..] => 3,
        _ => return false,
    };
    match words.get(at) {
        Some(&("run-many" | "affected" | "exec" | "graph" | "watch")) | None => false,
        Some(target) => !target.starts_with('-'),
    }
}

/// Whether a script only watches and recompiles (`tsc -w`, `tsup --watch`, `babel -w`): a
/// library's dev script, not a server.
pub(crate) fn only_watches(script: &str) -> bool {
    const COMPILERS: &[&str] = &[
        "tsc",
        "tsup",
        "babel",
        "swc",
        "rollup",
        "esbuild",
        "unbuild",
        "vite",
        "webpack",
        "microbundle",
        "tsdown",
    ];
    script.split("&&").all(|part| {
        let words: Vec<&str> = part.split_whitespace().collect();
        let compiler = words
            .iter()
            .find(|w| !w.contains('='))
            .is_some_and(|w| COMPILERS.contains(w));
        let watching = words.iter().any(|w| matches!(*w, "-w" | "--watch"));
        let vite_build = words.first() == Some(&"vite") && words.get(1) == Some(&"build");
        compiler && watching && (words.first() != Some(&"vite") || vite_build)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::testutil::project;

    #[test]
    fn graph_orders_members_by_their_imports() {
        let (_d, p) = project(&[
            ("package.json", r#"{"workspaces":["packages/*","apps/*"]}"#),
            (
                "packages/logger/package.json",
                r#"{"name":"@m/logger","scripts":{"build":"tsc"}}"#,
            ),
            (
                "packages/util/package.json",
                r#"{"name":"@m/util","dependencies":{"@m/logger":"*"}}"#,
            ),
            (
                "apps/api/package.json",
                r#"{"name":"@m/api","dependencies":{"@m/util":"*","express":"4"},"scripts":{"build":"tsc"}}"#,
            ),
            (
                "apps/web/package.json",
                r#"{"name":"@m/web","devDependencies":{"@m/logger":"workspace:*"},"scripts":{"build":"tsc"}}"#,
            ),
        ]);
        let ws = read(&p).unwrap().unwrap();
        assert_eq!(ws.orchestrator, None);
        let names = |levels: Vec<Vec<usize>>| -> Vec<Vec<String>> {
            levels
                .into_iter()
                .map(|l| l.into_iter().map(|i| ws.members[i].name.clone()).collect())
                .collect()
        };
        // util has no build script: api still waits for logger through it.
        let built = ws
            .levels(|m| m.manifest.scripts.contains_key("build"))
            .unwrap();
        assert_eq!(names(built), [vec!["@m/logger"], vec!["@m/api", "@m/web"]]);
    }

    #[test]
    fn cycles_are_reported_and_orchestrators_found() {
        let (_d, p) = project(&[
            ("package.json", r#"{"workspaces":{"packages":["pkgs/*"]}}"#),
            ("turbo.json", "{}"),
            (
                "pkgs/a/package.json",
                r#"{"name":"a","dependencies":{"b":"*"}}"#,
            ),
            (
                "pkgs/b/package.json",
                r#"{"name":"b","dependencies":{"a":"*"}}"#,
            ),
        ]);
        let ws = read(&p).unwrap().unwrap();
        assert_eq!(ws.orchestrator, Some(Orchestrator::Turbo));
        let err = ws.levels(|_| true).unwrap_err();
        assert_eq!(err.to_string(), "workspace dependency cycle between a, b");
        assert_eq!(
            Orchestrator::Turbo.command("npm", "build"),
            "npx --no-install turbo run build"
        );
    }

    #[test]
    fn fan_out_and_watch_scripts() {
        assert!(fans_out("npm run build --workspaces --if-present"));
        assert!(fans_out("turbo run dev"));
        assert!(fans_out("pnpm -r --parallel dev"));
        assert!(!fans_out("next build"));
    }

    #[test]
    fn runners_of_workspace_scripts_fan_out() {
        let scripts: BTreeMap<String, String> = [
            ("dev:api", "npm run dev -w apps/api"),
            ("dev:web", "npm run dev --workspace=apps/web"),
            ("dev-api", "pnpm --filter api dev"),
            ("dev-web", "yarn workspace web dev"),
            ("serve", "node server.js"),
            ("all", "run-p dev:*"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for script in [
            "concurrently \"npm run dev -w apps/api\" \"npm run dev -w apps/web\"",
            "concurrently -n api,web -c blue,green \"npm:dev:api\" \"npm:dev:web\"",
            "npx concurrently --kill-others npm:dev-*",
            "concurrently \"npm run dev:api\" \"npm run dev:web\"",
            "npm-run-all --parallel dev:*",
            "run-p dev:api dev:web",
            "run-p all",
            "concurrently \"npm --prefix apps/api run dev\" \"pnpm -F web dev\"",
        ] {
            assert!(runs_workspace_scripts(script, &scripts), "{script}");
        }
        for script in [
            // A command of its own: the root is an app.
            "concurrently \"npm run dev -w apps/web\" \"node server.js\"",
            "concurrently \"tsc -w\" \"nodemon dist\"",
            "run-p dev:api serve",
            // A name that matches no script proves nothing.
            "run-p missing:*",
            "concurrently npm:nothing-*",
            "node server.js",
            "concurrently",
        ] {
            assert!(!runs_workspace_scripts(script, &scripts), "{script}");
        }
        assert!(glob_matches("dev:*", "dev:api"));
        assert!(!glob_matches("dev:*", "dev:api:watch"));
        assert!(glob_matches("dev:**", "dev:api:watch"));
        assert!(glob_matches("dev-*", "dev-api"));
    }

    #[test]
    fn one_nx_target_is_not_many() {
        for script in [
            "nx serve",
            "nx serve api",
            "npx nx serve api --configuration=development",
            "pnpm nx run api:serve",
            "pnpm exec nx build",
        ] {
            assert!(runs_one_nx_target(script), "{script}");
        }
        for script in [
            "nx run-many -t serve",
            "nx affected -t build",
            "nx",
            "nx --help",
            "nx build && node dist/api",
            "npm run build -ws",
            "turbo run dev",
        ] {
            assert!(!runs_one_nx_target(script), "{script}");
        }
        assert!(only_watches("tsc -w -p . --preserveWatchOutput"));
        assert!(only_watches("tsup src/index.ts --watch"));
        assert!(!only_watches("node --watch dist/server.js"));
        assert!(!only_watches("vite --port 5173"));
        assert!(!only_watches("tsc -p ."));
    }
}
