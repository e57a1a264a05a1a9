//! `devops-agent deps` on real trees: fixtures whose manifests and lock files were written by
//! npm, yarn, pnpm, pip, uv and pipenv, installed by those tools (once, cached under
//! `target/fixture-cache/`), then broken the way trees really break. Lock formats that record
//! download URLs (uv.lock, Pipfile.lock, Cargo.lock) are not committed: the tool writes them
//! from the committed manifest into the cached tree, against the index this machine is
//! configured for; the committed npm and yarn locks carry no `resolved` URLs, which both accept. Where a reference tool
//! exists, the same tree is checked by it and the problems must agree: `npm ls --all` for Node,
//! `pip check` for Python.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{
    Run, check, copy_tree, devops_agent, edit, findings, fixture, have, installed_fixture, project,
    run, sh, skip, status,
};

/// How a fixture's tree is installed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Installer {
    Npm,
    YarnClassic,
    YarnBerry,
    Pnpm,
    /// `python3 -m venv .venv` and `pip install -r requirements.txt`.
    Pip,
    /// `uv sync --locked` (creates `.venv`).
    Uv,
    /// `pipenv sync --dev` with the venv in the project.
    Pipenv,
    /// `poetry sync` with the venv in the project.
    Poetry,
    /// `cargo generate-lockfile`: nothing to install, but Cargo.lock names the registry's
    /// index, so it is written here rather than committed.
    CargoLock,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tools() -> PathBuf {
    repo().join("target/fixture-cache/tools")
}

/// Installed trees are never copied from the fixture itself (a developer may have one there).
const NOT_COMMITTED: &[&str] = &["node_modules", ".venv", ".yarn", "venv"];

fn install(dir: &Path, installer: Installer) -> Result<(), String> {
    let node_tool = |rel: &str| -> Result<Command, String> {
        let script = tools().join("node/node_modules").join(rel);
        if !script.is_file() {
            return Err(format!(
                "{} missing (scripts/test.sh installs it)",
                script.display()
            ));
        }
        let mut cmd = Command::new("node");
        cmd.arg(script).current_dir(dir);
        Ok(cmd)
    };
    match installer {
        Installer::Npm => sh(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(dir),
            "npm ci",
        ),
        Installer::YarnClassic => sh(
            node_tool("yarn/bin/yarn.js")?.args([
                "install",
                "--frozen-lockfile",
                "--non-interactive",
                "--no-progress",
            ]),
            "yarn install",
        ),
        Installer::YarnBerry => sh(
            node_tool("@yarnpkg/cli-dist/bin/yarn.js")?
                .args(["install", "--immutable"])
                .env("YARN_ENABLE_TELEMETRY", "0")
                .env("YARN_ENABLE_GLOBAL_CACHE", "true"),
            "yarn (berry) install",
        ),
        Installer::Pnpm => sh(
            node_tool("pnpm/bin/pnpm.cjs")?.args([
                "install",
                "--frozen-lockfile",
                "--reporter=silent",
            ]),
            "pnpm install",
        ),
        Installer::Pip => {
            sh(
                Command::new("python3")
                    .args(["-m", "venv", ".venv"])
                    .current_dir(dir),
                "python3 -m venv",
            )?;
            sh(
                Command::new(dir.join(".venv/bin/python"))
                    .args(["-m", "pip", "install", "--quiet", "-r", "requirements.txt"])
                    .current_dir(dir),
                "pip install",
            )
        }
        Installer::Uv => {
            let uv = tools().join("py/bin/uv");
            if !uv.is_file() {
                return Err(format!(
                    "{} missing (scripts/test.sh installs it)",
                    uv.display()
                ));
            }
            // uv.lock records every download URL, so it is not committed: uv writes it here
            // from pyproject.toml, against whatever index this machine is configured for.
            if !dir.join("uv.lock").is_file() {
                sh(
                    Command::new(&uv)
                        .args(["lock", "--quiet", "--python", "python3"])
                        .current_dir(dir),
                    "uv lock",
                )?;
            }
            sh(
                Command::new(uv)
                    .args(["sync", "--locked", "--quiet", "--python", "python3"])
                    .current_dir(dir),
                "uv sync",
            )
        }
        Installer::Poetry => {
            let poetry = tools().join("py/bin/poetry");
            if !poetry.is_file() {
                return Err(format!(
                    "{} missing (scripts/test.sh installs it)",
                    poetry.display()
                ));
            }
            sh(
                Command::new(poetry)
                    .args(["sync", "--no-interaction", "--quiet"])
                    .env("POETRY_VIRTUALENVS_IN_PROJECT", "true")
                    .env("POETRY_VIRTUALENVS_PREFER_ACTIVE_PYTHON", "true")
                    .env_remove("VIRTUAL_ENV")
                    .current_dir(dir),
                "poetry sync",
            )
        }
        Installer::Pipenv => {
            let pipenv = tools().join("py/bin/pipenv");
            if !pipenv.is_file() {
                return Err(format!(
                    "{} missing (scripts/test.sh installs it)",
                    pipenv.display()
                ));
            }
            let pipenv_cmd = |args: &[&str]| {
                let mut cmd = Command::new(&pipenv);
                cmd.args(args)
                    .env("PIPENV_VENV_IN_PROJECT", "1")
                    .env("PIPENV_IGNORE_VIRTUALENVS", "1")
                    .env_remove("VIRTUAL_ENV")
                    .current_dir(dir);
                cmd
            };
            // Pipfile.lock records the index URL, so it is not committed: pipenv writes it
            // here from the Pipfile (which names no source, so the configured index is used).
            if !dir.join("Pipfile.lock").is_file() {
                sh(&mut pipenv_cmd(&["lock"]), "pipenv lock")?;
            }
            sh(&mut pipenv_cmd(&["sync", "--dev"]), "pipenv sync")
        }
        Installer::CargoLock => sh(
            Command::new(env!("CARGO"))
                .args(["generate-lockfile", "--quiet"])
                .current_dir(dir),
            "cargo generate-lockfile",
        ),
    }
}

/// A private copy of fixture `name` with its tree installed, or None (after `skip`) when the
/// machine lacks the tools.
fn installed(name: &str, installer: Installer) -> Option<tempfile::TempDir> {
    let needs = match installer {
        Installer::Npm | Installer::YarnClassic | Installer::YarnBerry | Installer::Pnpm => "npm",
        Installer::Pip | Installer::Uv | Installer::Pipenv | Installer::Poetry => "python3",
        Installer::CargoLock => env!("CARGO"),
    };
    if !have(needs) {
        skip(&format!("{needs} is not installed"));
        return None;
    }
    installed_fixture(name, NOT_COMMITTED, |dir| install(dir, installer)).map(|(dir, _)| dir)
}

fn deps(dir: &Path) -> Run {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["deps", "--project"])
        .arg(dir)
        .env_remove("VIRTUAL_ENV")
        .env_remove("NODE_ENV");
    run(cmd)
}

fn problems<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    check(report, id)["evidence"]["problems"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn assert_all_passed(report: &Value, out: &Run, peers: bool) {
    for id in [
        "deps.packages_installed",
        "deps.lockfile_valid",
        "deps.no_version_conflicts",
    ] {
        assert_eq!(
            status(report, id),
            "passed",
            "{id}: {:#}",
            check(report, id)
        );
        assert!(
            check(report, id)["evidence"]["checked"]
                .as_u64()
                .unwrap_or(0)
                > 0
        );
    }
    if peers {
        assert_eq!(status(report, "deps.peer_dependencies"), "passed");
    }
    assert_eq!(out.code, 0, "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------------
// Node

/// The problems of `npm ls --all --json` as (kind, package or path, required by).
fn npm_ls(dir: &Path) -> BTreeSet<(String, String, String)> {
    let out = Command::new("npm")
        .args(["ls", "--all", "--json"])
        .current_dir(dir)
        .output()
        .expect("npm ls");
    let json: Value = serde_json::from_slice(&out.stdout).expect("npm ls --json");
    let prefix = format!("{}/", fs::canonicalize(dir).unwrap().display());
    let mut set = BTreeSet::new();
    for problem in json["problems"].as_array().into_iter().flatten() {
        let text = problem.as_str().unwrap_or("");
        let (kind, rest) = text.split_once(": ").unwrap();
        match kind {
            "missing" => {
                let (spec, by) = rest.split_once(", required by ").unwrap();
                let name = &spec[..=spec[1..].find('@').unwrap()];
                set.insert(("missing".into(), name.into(), by.into()));
            }
            "invalid" | "extraneous" => {
                let path = rest.rsplit_once(' ').unwrap().1;
                let path = path.strip_prefix(&prefix).unwrap_or(path);
                set.insert((kind.into(), path.into(), String::new()));
            }
            other => panic!("unexpected npm ls problem kind {other}: {text}"),
        }
    }
    set
}

/// The same problems from devops-agent's evidence.
fn agent_npm_problems(report: &Value) -> BTreeSet<(String, String, String)> {
    let mut set = BTreeSet::new();
    for id in [
        "deps.packages_installed",
        "deps.no_version_conflicts",
        "deps.peer_dependencies",
        "deps.lockfile_valid",
    ] {
        for p in problems(report, id) {
            let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
            match s("problem").as_str() {
                "missing" if s("dependency_type") != "optionalDependencies" => {
                    set.insert(("missing".into(), s("package"), s("required_by")));
                }
                "invalid" => {
                    set.insert(("invalid".into(), s("path"), String::new()));
                }
                "extraneous" => {
                    set.insert(("extraneous".into(), s("path"), String::new()));
                }
                _ => {}
            }
        }
    }
    set
}

/// One package manager's tree, installed by that manager, with nothing broken.
struct CleanTree {
    /// The row's name in a failure.
    manager: &'static str,
    fixture: &'static str,
    installer: Installer,
    /// The tree has peer dependencies, so `deps.peer_dependencies` must pass too.
    peers: bool,
    /// `(key, value)` the lock check's first manifest must carry (`lockfile`, `lockfile_format`).
    lock: &'static [(&'static str, &'static str)],
    /// What else the row proves: the reference tool agrees, the evidence names the manifest.
    more: fn(&Path, &Value),
}

/// Every package manager's clean install passes every deps check, names its lock the way its
/// tool does, and (where a reference tool exists) the tool agrees nothing is wrong. One row per
/// manager; a failing row is reported by name and the others still run. The broken variants of
/// each tree are the tests below.
#[test]
fn a_clean_tree_from_each_package_manager_passes_every_check() {
    let rows = [
        CleanTree {
            manager: "npm",
            fixture: "deps-npm",
            installer: Installer::Npm,
            peers: true,
            lock: &[
                ("lockfile", "package-lock.json"),
                ("lockfile_format", "npm v3"),
            ],
            more: |dir, report| {
                let installed = check(report, "deps.packages_installed");
                assert_eq!(
                    installed["evidence"]["manifests"][0]["manifest"],
                    "package.json"
                );
                assert_eq!(installed["evidence"]["manifests"][0]["node_modules"], true);
                // npm ls agrees that nothing is wrong.
                assert!(npm_ls(dir).is_empty());
            },
        },
        CleanTree {
            manager: "yarn classic",
            fixture: "deps-yarn",
            installer: Installer::YarnClassic,
            peers: true,
            lock: &[("lockfile_format", "yarn v1")],
            // yarn's own check agrees that nothing is wrong.
            more: |dir, _| assert!(yarn_classic(dir, &["check"]).0, "yarn check"),
        },
        CleanTree {
            manager: "yarn berry",
            fixture: "deps-yarn-berry",
            installer: Installer::YarnBerry,
            peers: true,
            lock: &[("lockfile_format", "yarn berry")],
            more: |dir, _| assert!(berry_immutable_ok(dir), "yarn install --immutable"),
        },
        CleanTree {
            manager: "pnpm",
            fixture: "deps-pnpm",
            installer: Installer::Pnpm,
            peers: true,
            lock: &[("lockfile_format", "pnpm")],
            more: |dir, _| assert!(pnpm_ls_ok(dir), "pnpm ls"),
        },
        CleanTree {
            manager: "pip",
            fixture: "deps-python",
            installer: Installer::Pip,
            peers: false,
            lock: &[],
            more: |dir, report| {
                assert_eq!(
                    status(report, "deps.peer_dependencies"),
                    "skipped",
                    "{:#}",
                    check(report, "deps.peer_dependencies")
                );
                let m = &check(report, "deps.packages_installed")["evidence"]["manifests"][0];
                assert_eq!(m["manifest"], "requirements.txt");
                assert_eq!(m["environment"], ".venv");
                assert_eq!(m["python"].as_str().unwrap().split('.').next(), Some("3"));
                // requests, six, typing_extensions, PySocks (the socks extra); tomli and
                // colorama are excluded by their markers.
                assert_eq!(m["checked"], 4);
                assert!(pip_check(dir).is_empty());
            },
        },
        CleanTree {
            manager: "uv",
            fixture: "deps-uv",
            installer: Installer::Uv,
            peers: false,
            lock: &[("lockfile", "uv.lock")],
            more: |dir, _| assert!(uv_tool(dir, &["lock", "--check"])),
        },
        CleanTree {
            manager: "poetry",
            fixture: "deps-poetry",
            installer: Installer::Poetry,
            peers: false,
            lock: &[("lockfile", "poetry.lock")],
            more: |_, _| {},
        },
        CleanTree {
            manager: "pipenv",
            fixture: "deps-pipenv",
            installer: Installer::Pipenv,
            peers: false,
            lock: &[],
            more: |_, _| {},
        },
    ];
    let mut failed = Vec::new();
    for row in &rows {
        let outcome = std::panic::catch_unwind(|| {
            // `installed` fails the row (it panics) when the manager is missing.
            let dir = installed(row.fixture, row.installer).expect("installed");
            let out = deps(dir.path());
            let report = out.report();
            assert_all_passed(&report, &out, row.peers);
            let lock = &check(&report, "deps.lockfile_valid")["evidence"]["manifests"][0];
            for (key, value) in row.lock {
                assert_eq!(lock[*key], *value, "{key}");
            }
            (row.more)(dir.path(), &report);
        });
        if let Err(panic) = outcome {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("panicked");
            failed.push(format!("{}: {why}", row.manager));
        }
    }
    assert!(failed.is_empty(), "failing rows:\n{}", failed.join("\n\n"));
}

#[test]
fn broken_npm_tree_reports_what_npm_ls_reports() {
    let Some(dir) = installed("deps-npm", Installer::Npm) else {
        return;
    };
    let root = dir.path();
    // A transitive package removed, a root dependency (and peer) downgraded out of range, a
    // nested version edited, an optional dependency removed, a stray package added.
    fs::remove_dir_all(root.join("node_modules/js-tokens")).unwrap();
    edit(
        &root.join("node_modules/react/package.json"),
        "\"version\": \"18.3.1\"",
        "\"version\": \"16.0.0\"",
    );
    edit(
        &root.join("node_modules/debug/node_modules/ms/package.json"),
        "\"version\": \"2.0.0\"",
        "\"version\": \"3.0.0\"",
    );
    fs::remove_dir_all(root.join("node_modules/is-odd")).unwrap();
    fs::create_dir_all(root.join("node_modules/stray")).unwrap();
    fs::write(
        root.join("node_modules/stray/package.json"),
        r#"{"name":"stray","version":"1.0.0"}"#,
    )
    .unwrap();

    let out = deps(root);
    let report = out.report();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let expected = npm_ls(root);
    assert_eq!(expected.len(), 4, "npm ls saw {expected:#?}");
    assert_eq!(agent_npm_problems(&report), expected);

    let installed = check(&report, "deps.packages_installed");
    assert_eq!(installed["status"], "failed");
    assert!(
        installed["message"].as_str().unwrap().contains("npm ci"),
        "{installed:#}"
    );
    // The missing optional dependency is a warning finding, not a failure.
    let optional = findings(installed)
        .into_iter()
        .find(|f| f["message"].as_str().unwrap().starts_with("is-odd@^3.0.1"))
        .expect("is-odd finding");
    assert_eq!(optional["severity"], "warning");
    assert_eq!(optional["file"], "package.json");
    assert_eq!(optional["line"], 17);

    let conflicts = check(&report, "deps.no_version_conflicts");
    assert_eq!(conflicts["status"], "failed");
    let react = problems(&report, "deps.no_version_conflicts")
        .into_iter()
        .find(|p| p["package"] == "react")
        .expect("react invalid");
    assert_eq!(react["wanted"], "^18.2.0");
    assert_eq!(react["found"], "16.0.0");
    assert_eq!(react["path"], "node_modules/react");
    assert_eq!(react["required_by"], "deps-npm-fixture@1.0.0");
    // Peers: react-dom wants react ^18.3.1 and local-lib >=17; the optional peer react-native
    // is absent without complaint.
    let peers: BTreeSet<String> = problems(&report, "deps.peer_dependencies")
        .into_iter()
        .map(|p| {
            format!(
                "{} {}",
                p["required_by"].as_str().unwrap(),
                p["wanted"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        peers,
        BTreeSet::from([
            "local-lib@1.0.0 >=17".to_owned(),
            "react-dom@18.3.1 ^18.3.1".to_owned()
        ])
    );
    // The lock check sees the installed tree differ from package-lock.json.
    let lock = check(&report, "deps.lockfile_valid");
    assert_eq!(lock["status"], "failed");
    let drift: BTreeSet<&str> = problems(&report, "deps.lockfile_valid")
        .into_iter()
        .filter(|p| p["problem"] == "differs_from_lock")
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        drift,
        BTreeSet::from([
            "node_modules/debug/node_modules/ms",
            "node_modules/js-tokens",
            "node_modules/react"
        ])
    );
}

/// A lock npm 8 wrote with `"extraneous": true` entries: the fixture had debug and is-number,
/// both were removed from package.json, and `npm link ./tool --save` (which never prunes)
/// rewrote the lock keeping them, flagged. `npm ci` skips them and `npm ls --all` is clean, so
/// devops-agent passes; with a locked package then removed, both fail on the same problem.
#[test]
fn npm_lock_extraneous_entries_are_skipped_like_npm_ci() {
    let Some(dir) = installed("deps-npm-extraneous", Installer::Npm) else {
        return;
    };
    let root = dir.path();
    let lock = fs::read_to_string(root.join("package-lock.json")).unwrap();
    assert_eq!(lock.matches("\"extraneous\": true").count(), 6, "{lock}");
    // What npm ci did with them: nothing.
    assert!(!root.join("node_modules/is-number").exists());
    assert!(!root.join("node_modules/debug").exists());

    let npm_ok = npm_ls_ok(root);
    assert!(npm_ok, "npm ls --all accepts the tree npm ci installed");
    let out = deps(root);
    let report = out.report();
    assert_eq!(
        status(&report, "deps.lockfile_valid") == "passed",
        npm_ok,
        "agreement with npm ls: {:#}",
        check(&report, "deps.lockfile_valid")
    );
    assert_all_passed(&report, &out, true);
    let lockfile = check(&report, "deps.lockfile_valid");
    assert!(findings(lockfile).is_empty(), "{lockfile:#}");
    let manifest = &lockfile["evidence"]["manifests"][0];
    assert_eq!(manifest["lockfile_format"], "npm v2");
    // debug, its nested ms and is-number.
    assert_eq!(manifest["lock_extraneous_skipped"], 3);
    assert_eq!(agent_npm_problems(&report), npm_ls(root));

    // Broken: a package the lock really locks is gone.
    fs::remove_dir_all(root.join("node_modules/ms")).unwrap();
    let npm_ok = npm_ls_ok(root);
    let out = deps(root);
    let report = out.report();
    assert!(!npm_ok);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(status(&report, "deps.packages_installed"), "failed");
    assert_eq!(
        status(&report, "deps.lockfile_valid") == "passed",
        npm_ok,
        "agreement with npm ls"
    );
    let expected = npm_ls(root);
    assert_eq!(expected.len(), 1, "npm ls saw {expected:#?}");
    assert_eq!(agent_npm_problems(&report), expected);
    let drift: Vec<&str> = problems(&report, "deps.lockfile_valid")
        .into_iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(drift, ["node_modules/ms"]);
}

#[test]
fn peer_downgraded_fails_only_the_peer_it_breaks() {
    let Some(dir) = installed("deps-npm", Installer::Npm) else {
        return;
    };
    // 18.2.0 still satisfies the root's ^18.2.0 and local-lib's >=17, not react-dom's ^18.3.1.
    edit(
        &dir.path().join("node_modules/react/package.json"),
        "\"version\": \"18.3.1\"",
        "\"version\": \"18.2.0\"",
    );
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(status(&report, "deps.peer_dependencies"), "failed");
    assert_eq!(status(&report, "deps.no_version_conflicts"), "passed");
    assert_eq!(status(&report, "deps.packages_installed"), "passed");
    let peer = problems(&report, "deps.peer_dependencies");
    assert_eq!(peer.len(), 1, "{peer:#?}");
    assert_eq!(peer[0]["required_by"], "react-dom@18.3.1");
    assert_eq!(peer[0]["found"], "18.2.0");
    assert_eq!(
        agent_npm_problems(&report),
        npm_ls(dir.path()),
        "agreement with npm ls"
    );
}

#[test]
fn manifest_edited_after_locking_is_out_of_sync() {
    let Some(dir) = installed("deps-npm", Installer::Npm) else {
        return;
    };
    let manifest = dir.path().join("package.json");
    edit(&manifest, "\"ms\": \"^2.1.3\"", "\"ms\": \"^3.0.0\"");
    edit(
        &manifest,
        "\"react\": \"^18.2.0\",",
        "\"react\": \"^18.2.0\",\n    \"left-pad\": \"^1.3.0\",",
    );
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(out.code, 1);
    let lock = check(&report, "deps.lockfile_valid");
    assert_eq!(lock["status"], "failed");
    let by_package: Vec<(String, u64)> = findings(lock)
        .into_iter()
        .map(|f| {
            (
                f["message"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(
        by_package
            .iter()
            .any(|(m, l)| m.contains("left-pad") && m.contains("does not record") && *l == 7),
        "{by_package:#?}"
    );
    assert!(
        by_package
            .iter()
            .any(|(m, l)| m.contains("ms@^3.0.0") && m.contains("locks 2.1.3") && *l == 10),
        "{by_package:#?}"
    );
    assert!(lock["message"].as_str().unwrap().contains("npm install"));
    // The new dependency is also simply not installed.
    let missing = problems(&report, "deps.packages_installed");
    assert!(
        missing
            .iter()
            .any(|p| p["package"] == "left-pad" && p["problem"] == "missing")
    );
}

#[test]
fn deleted_lock_file_fails_lockfile_valid_only() {
    let Some(dir) = installed("deps-npm", Installer::Npm) else {
        return;
    };
    fs::remove_file(dir.path().join("package-lock.json")).unwrap();
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(status(&report, "deps.lockfile_valid"), "failed");
    let p = problems(&report, "deps.lockfile_valid");
    assert_eq!(p[0]["problem"], "no_lockfile");
    assert!(
        findings(check(&report, "deps.lockfile_valid"))[0]["message"]
            .as_str()
            .unwrap()
            .contains("node_modules/.package-lock.json")
    );
    assert_eq!(status(&report, "deps.packages_installed"), "passed");
    assert_eq!(status(&report, "deps.no_version_conflicts"), "passed");
}

#[test]
fn malformed_lock_is_an_error_with_its_line_and_other_checks_still_run() {
    let Some(dir) = installed("deps-npm", Installer::Npm) else {
        return;
    };
    let lock = dir.path().join("package-lock.json");
    edit(&lock, "\"lockfileVersion\": 3,", "\"lockfileVersion\": 3,,");
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(out.code, 2, "{}", out.stdout);
    let check_ = check(&report, "deps.lockfile_valid");
    assert_eq!(check_["status"], "error");
    let f = &findings(check_)[0];
    assert_eq!(f["file"], "package-lock.json");
    assert_eq!(f["line"], 4);
    assert_eq!(status(&report, "deps.packages_installed"), "passed");
    assert_eq!(status(&report, "deps.peer_dependencies"), "passed");
}

#[test]
fn malformed_package_json_is_an_error_with_its_line() {
    let dir = project(&[
        (
            "web/package.json",
            "{\n  \"name\": \"web\",\n  \"dependencies\": {\n    \"a\": \"^1\"\n  \n",
        ),
        ("api/requirements.txt", "six==1.16.0\n"),
    ]);
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(out.code, 2);
    for id in [
        "deps.packages_installed",
        "deps.lockfile_valid",
        "deps.no_version_conflicts",
        "deps.peer_dependencies",
    ] {
        let c = check(&report, id);
        assert_eq!(c["status"], "error", "{id}");
        let f = findings(c)
            .into_iter()
            .find(|f| f["file"] == "web/package.json")
            .unwrap_or_else(|| panic!("{id}: {c:#}"));
        assert_eq!(f["line"], 6);
    }
    // The Python manifest beside it is still checked (and has no environment).
    let installed = problems(&report, "deps.packages_installed");
    assert!(
        installed
            .iter()
            .any(|p| p["manifest"] == "api/requirements.txt" && p["problem"] == "no_environment")
    );
}

#[test]
fn workspaces_resolve_through_links_like_npm() {
    let Some(dir) = installed("deps-npm-workspaces", Installer::Npm) else {
        return;
    };
    let out = deps(dir.path());
    let report = out.report();
    assert_all_passed(&report, &out, false);
    assert_eq!(
        check(&report, "deps.packages_installed")["evidence"]["manifests"][0]["workspaces"],
        2
    );
    // The workspace's own nested is-number@6 removed: it would now resolve to the root's 7.0.0.
    fs::remove_dir_all(dir.path().join("packages/web/node_modules/is-number")).unwrap();
    let out = deps(dir.path());
    let report = out.report();
    let p = problems(&report, "deps.no_version_conflicts");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0]["required_by"], "@demo/web@1.0.0");
    assert_eq!(p[0]["found"], "7.0.0");
    assert_eq!(agent_npm_problems(&report), npm_ls(dir.path()));
}

#[test]
fn yarn_classic_tree_and_lock() {
    // The clean tree passes: a_clean_tree_from_each_package_manager_passes_every_check.
    let Some(dir) = installed("deps-yarn", Installer::YarnClassic) else {
        return;
    };
    edit(
        &dir.path().join("package.json"),
        "\"debug\": \"^2.6.9\"",
        "\"debug\": \"^2.6.8\"",
    );
    edit(
        &dir.path().join("node_modules/scheduler/package.json"),
        "\"version\": \"0.23.2\"",
        "\"version\": \"0.23.0\"",
    );
    let report = deps(dir.path()).report();
    let kinds: BTreeSet<(String, String)> = problems(&report, "deps.lockfile_valid")
        .into_iter()
        .map(|p| {
            (
                p["problem"].as_str().unwrap().into(),
                p["package"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            ("differs_from_lock".into(), "scheduler".into()),
            ("out_of_sync".into(), "debug".into())
        ])
    );
    assert!(
        check(&report, "deps.lockfile_valid")["message"]
            .as_str()
            .unwrap()
            .contains("yarn")
    );
}

/// yarn 1's own check, `yarn check` (lock against package.json, and the installed tree against
/// the lock and every package's ranges), exit code against devops-agent's on one broken copy
/// of the tree per row. `yarn check --integrity` is not the reference: it compares the lock with
/// `node_modules/.yarn-integrity`, which records the `resolved` URLs the committed lock leaves
/// out, so it fails on the healthy tree.
#[test]
fn yarn_classic_verdicts_agree_with_yarn_check() {
    let Some(dir) = installed("deps-yarn", Installer::YarnClassic) else {
        return;
    };
    let root = dir.path();
    let version = |package: &str, from: &str, to: &str| {
        let path = format!("node_modules/{package}/package.json");
        let (from, to) = (
            format!("\"version\": \"{from}\""),
            format!("\"version\": \"{to}\""),
        );
        move |d: &Path| edit(&d.join(&path), &from, &to)
    };
    let manifest = |from: &'static str, to: &'static str| {
        move |d: &Path| edit(&d.join("package.json"), from, to)
    };
    let remove = |rel: &'static str| move |d: &Path| fs::remove_dir_all(d.join(rel)).unwrap();
    let cases: Vec<(&str, Break<'_>)> = vec![
        ("healthy", Box::new(|_: &Path| {})),
        (
            "transitive package out of its range",
            Box::new(version("scheduler", "0.23.2", "0.23.0")),
        ),
        (
            "root dependency (and peer) out of range",
            Box::new(version("react", "18.3.1", "16.0.0")),
        ),
        (
            "in range, but not the locked version",
            Box::new(version("react", "18.3.1", "18.2.0")),
        ),
        (
            "range edited after locking",
            Box::new(manifest("\"debug\": \"^2.6.9\"", "\"debug\": \"^2.6.8\"")),
        ),
        (
            "dependency added after locking",
            Box::new(manifest(
                "\"ms\": \"^2.1.3\",",
                "\"ms\": \"^2.1.3\",\n    \"left-pad\": \"^1.3.0\",",
            )),
        ),
        (
            "transitive package removed",
            Box::new(remove("node_modules/js-tokens")),
        ),
        (
            "root dependency removed",
            Box::new(remove("node_modules/react")),
        ),
        (
            "optional dependency removed",
            Box::new(remove("node_modules/is-odd")),
        ),
        (
            "stray package",
            Box::new(|d: &Path| {
                fs::create_dir_all(d.join("node_modules/stray")).unwrap();
                fs::write(
                    d.join("node_modules/stray/package.json"),
                    r#"{"name":"stray","version":"1.0.0"}"#,
                )
                .unwrap();
            }),
        ),
        (
            "lock deleted",
            Box::new(|d: &Path| fs::remove_file(d.join("yarn.lock")).unwrap()),
        ),
    ];
    let mut table = Vec::new();
    for (what, break_it) in &cases {
        let copy = tempfile::tempdir().unwrap();
        copy_tree(root, copy.path(), &[]);
        break_it(copy.path());
        let (yarn_ok, said) = yarn_classic(copy.path(), &["check"]);
        let out = deps(copy.path());
        let report = out.report();
        table.push(format!("{what}: yarn check {yarn_ok}, exit {}", out.code));
        assert_eq!(
            out.code == 0,
            yarn_ok,
            "{what}: yarn check says\n{said}\ndevops-agent: {}",
            out.stdout
        );
        assert_ne!(out.code, 2, "{what}: {}", out.stdout);
        if *what == "healthy" {
            assert_all_passed(&report, &out, true);
        }
    }
    // The rows that must break, so the table cannot pass by accepting everything.
    let broken = table.iter().filter(|r| r.contains("false")).count();
    assert_eq!(broken, 8, "{table:#?}");
}

#[test]
fn yarn_berry_lock_with_node_modules_linker() {
    let Some(dir) = installed("deps-yarn-berry", Installer::YarnBerry) else {
        return;
    };
    // The clean tree passes (yarn install --immutable agrees):
    // a_clean_tree_from_each_package_manager_passes_every_check.
    edit(
        &dir.path().join("package.json"),
        "\"is-number\": \"^7.0.0\"",
        "\"is-number\": \"^7.0.1\"",
    );
    // berry's own check refuses the lock too (it would have to change it: YN0028).
    assert!(!berry_immutable_ok(dir.path()), "yarn install --immutable");
    let out = deps(dir.path());
    assert_eq!(out.code, 1, "{}", out.stdout);
    let report = out.report();
    let p = problems(&report, "deps.lockfile_valid");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0]["problem"], "out_of_sync");
    assert_eq!(p[0]["found"], "npm:^7.0.0");
}

#[test]
fn pnpm_store_layout_resolves_through_symlinks() {
    let Some(dir) = installed("deps-pnpm", Installer::Pnpm) else {
        return;
    };
    // A package in the store edited out of react-dom's range.
    edit(
        &dir.path()
            .join("node_modules/.pnpm/scheduler@0.23.2/node_modules/scheduler/package.json"),
        "\"version\": \"0.23.2\"",
        "\"version\": \"0.23.0\"",
    );
    let report = deps(dir.path()).report();
    let p = problems(&report, "deps.no_version_conflicts");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0]["package"], "scheduler");
    assert_eq!(p[0]["required_by"], "react-dom@18.3.1");
    assert_eq!(
        p[0]["path"],
        "node_modules/.pnpm/react-dom@18.3.1_react@18.3.1/node_modules/scheduler"
    );
    let lock = problems(&report, "deps.lockfile_valid");
    assert!(
        lock.iter()
            .any(|p| p["problem"] == "differs_from_lock" && p["package"] == "scheduler"),
        "{lock:#?}"
    );
    // And a specifier edited after locking.
    edit(
        &dir.path().join("package.json"),
        "\"ms\": \"^2.1.3\"",
        "\"ms\": \"^2.1.2\"",
    );
    let report = deps(dir.path()).report();
    let lock = problems(&report, "deps.lockfile_valid");
    assert!(
        lock.iter()
            .any(|p| p["problem"] == "out_of_sync" && p["package"] == "ms"),
        "{lock:#?}"
    );
}

/// Whether `pnpm ls` accepts the tree (its exit code).
fn pnpm_ls_ok(dir: &Path) -> bool {
    Command::new("node")
        .arg(tools().join("node/node_modules/pnpm/bin/pnpm.cjs"))
        .args(["ls", "--depth", "Infinity"])
        .current_dir(dir)
        .output()
        .expect("pnpm ls")
        .status
        .success()
}

fn npm_ls_ok(dir: &Path) -> bool {
    Command::new("npm")
        .args(["ls", "--all"])
        .current_dir(dir)
        .output()
        .expect("npm ls")
        .status
        .success()
}

/// `pnpm` with `args` in `dir`: whether it exited 0, and what it printed.
fn pnpm(dir: &Path, args: &[&str]) -> (bool, String) {
    // pnpm turns `frozen-lockfile` on by itself when CI is set, and then refuses the
    // `--resolution-only` re-resolution that gives its peer verdict: the reference verdict is
    // the one a developer's pnpm gives, so the child does not see CI.
    let out = Command::new("node")
        .arg(tools().join("node/node_modules/pnpm/bin/pnpm.cjs"))
        .args(args)
        .env_remove("CI")
        .current_dir(dir)
        .output()
        .expect("pnpm");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// pnpm's own verdict on a tree's peers and the unmet ones it lists, as (package, found; empty
/// for a missing one). A frozen install does not look at peers, so this resolves again from
/// the lock without writing anything: pnpm prints every unmet peer and fails on them only under
/// `strict-peer-dependencies=true`.
fn pnpm_peers(dir: &Path) -> (bool, BTreeSet<(String, String)>) {
    let (ok, text) = pnpm(dir, &["install", "--resolution-only", "--prefer-offline"]);
    let mut unmet = BTreeSet::new();
    for line in text.lines() {
        let (rest, missing) = if let Some((_, r)) = line.split_once("unmet peer ") {
            (r, false)
        } else if let Some((_, r)) = line.split_once("missing peer ") {
            (r, true)
        } else {
            continue;
        };
        let name_end = 1 + rest[1..].find('@').expect("name@range");
        let found = if missing {
            String::new()
        } else {
            rest.rsplit_once(": found ")
                .expect("found")
                .1
                .trim()
                .to_owned()
        };
        unmet.insert((rest[..name_end].to_owned(), found));
    }
    (ok, unmet)
}

/// devops-agent's peer problems in the same shape.
fn agent_peers(report: &Value) -> BTreeSet<(String, String)> {
    problems(report, "deps.peer_dependencies")
        .into_iter()
        .map(|p| {
            (
                p["package"].as_str().unwrap().to_owned(),
                p["found"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// A pnpm workspace where react-redux 9's optional peer redux is not resolved (the package that
/// uses it does not depend on redux), while the other workspace package's @reduxjs/toolkit 1.9
/// brings redux 4.2.1 into the hidden hoist `node_modules/.pnpm/node_modules`. Node's lookup
/// from react-redux's store folder would reach that redux; pnpm's resolution — the links
/// beside react-redux — does not, and pnpm accepts the tree even with strict peers.
#[test]
fn pnpm_optional_peer_only_in_the_hidden_hoist_is_not_a_peer() {
    let Some(dir) = installed("deps-pnpm-hoist", Installer::Pnpm) else {
        return;
    };
    let root = dir.path();
    let store = root.join("node_modules/.pnpm");
    let beside = store.join("react-redux@9.2.0_react@18.3.1/node_modules");
    assert!(beside.join("react").exists());
    assert!(!beside.join("redux").exists());
    let hoisted = fs::read_to_string(store.join("node_modules/redux/package.json")).unwrap();
    assert!(hoisted.contains("\"version\": \"4.2.1\""), "{hoisted}");

    for strict in [false, true] {
        fs::write(
            root.join(".npmrc"),
            format!("strict-peer-dependencies={strict}\n"),
        )
        .unwrap();
        let (peers_ok, unmet) = pnpm_peers(root);
        let pnpm_ok = peers_ok && pnpm(root, &["ls", "-r", "--depth", "Infinity"]).0;
        assert!(
            pnpm_ok,
            "strict={strict}: pnpm accepts the tree ({unmet:?})"
        );
        let out = deps(root);
        let report = out.report();
        assert_eq!(out.code == 0, pnpm_ok, "strict={strict}: {}", out.stdout);
        assert_all_passed(&report, &out, true);
        let peers = check(&report, "deps.peer_dependencies");
        assert!(findings(peers).is_empty(), "strict={strict}: {peers:#}");
        assert_eq!(agent_peers(&report), unmet);
    }
}

/// Two unmet peers pnpm itself resolves and reports: react-redux 9 wants redux ^5 and gets
/// @reduxjs/toolkit's 4.2.1, and the toolkit 1.9 wants react-redux ^7 || ^8 and gets 9.2.0.
/// With the committed `strict-peer-dependencies=false` pnpm warns and installs, and
/// devops-agent warns and passes; with `true` both refuse the same two peers.
#[test]
fn pnpm_strict_peer_dependencies_decides_whether_unmet_peers_fail() {
    let Some(dir) = installed("deps-pnpm-peers", Installer::Pnpm) else {
        return;
    };
    let root = dir.path();
    assert_eq!(
        fs::read_to_string(root.join(".npmrc")).unwrap(),
        "strict-peer-dependencies=false\n"
    );
    for strict in [false, true] {
        if strict {
            fs::write(root.join(".npmrc"), "strict-peer-dependencies=true\n").unwrap();
        }
        let (pnpm_ok, unmet) = pnpm_peers(root);
        assert_eq!(pnpm_ok, !strict, "pnpm's verdict with strict={strict}");
        assert_eq!(
            unmet,
            BTreeSet::from([
                ("react-redux".to_owned(), "9.2.0".to_owned()),
                ("redux".to_owned(), "4.2.1".to_owned())
            ])
        );
        let out = deps(root);
        let report = out.report();
        assert_eq!(out.code == 0, pnpm_ok, "strict={strict}: {}", out.stdout);
        assert_eq!(agent_peers(&report), unmet);
        let peers = check(&report, "deps.peer_dependencies");
        assert_eq!(
            peers["status"],
            if strict { "failed" } else { "warning" },
            "{peers:#}"
        );
        for f in findings(peers) {
            let message = f["message"].as_str().unwrap();
            if strict {
                assert_eq!(f["severity"], "error");
                assert_eq!(f["suggestion"], "pnpm install --frozen-lockfile");
            } else {
                // Installing again gives the tree pnpm already accepted: no fix to suggest.
                assert_eq!(f["severity"], "warning");
                assert!(f["suggestion"].is_null(), "{f:#}");
                assert!(
                    message.ends_with("pnpm accepts it: strict-peer-dependencies=false in .npmrc"),
                    "{message}"
                );
            }
        }
        for id in [
            "deps.packages_installed",
            "deps.lockfile_valid",
            "deps.no_version_conflicts",
        ] {
            assert_eq!(status(&report, id), "passed", "{:#}", check(&report, id));
        }
    }
}

/// `auto-install-peers=false` (committed .npmrc, and `autoInstallPeers: false` in the lock
/// pnpm wrote with it): react-dom's peer react is not installed. pnpm warns and accepts the
/// tree unless peers are strict; devops-agent agrees. Set back to the default, pnpm's frozen
/// install refuses the lock (`ERR_PNPM_LOCKFILE_CONFIG_MISMATCH`) and so does `deps.lockfile_valid`,
/// whose fix, run, clears it.
#[test]
fn pnpm_auto_install_peers_false_and_the_lock_settings() {
    let Some(dir) = installed("deps-pnpm-no-auto-peers", Installer::Pnpm) else {
        return;
    };
    let root = dir.path();
    assert!(!root.join("node_modules/.pnpm/react@18.3.1").exists());
    for strict in [false, true] {
        fs::write(
            root.join(".npmrc"),
            format!("auto-install-peers=false\nstrict-peer-dependencies={strict}\n"),
        )
        .unwrap();
        let (pnpm_ok, unmet) = pnpm_peers(root);
        assert_eq!(pnpm_ok, !strict);
        assert_eq!(unmet, BTreeSet::from([("react".to_owned(), String::new())]));
        let out = deps(root);
        let report = out.report();
        assert_eq!(out.code == 0, pnpm_ok, "strict={strict}: {}", out.stdout);
        assert_eq!(agent_peers(&report), unmet);
        assert_eq!(status(&report, "deps.lockfile_valid"), "passed");
    }

    // The default again (true), while the lock says false.
    fs::write(root.join(".npmrc"), "").unwrap();
    let (frozen_ok, said) = pnpm(root, &["install", "--frozen-lockfile", "--prefer-offline"]);
    assert!(!frozen_ok);
    assert!(said.contains("ERR_PNPM_LOCKFILE_CONFIG_MISMATCH"), "{said}");
    let out = deps(root);
    let report = out.report();
    assert_eq!(out.code == 0, frozen_ok, "{}", out.stdout);
    let lock = check(&report, "deps.lockfile_valid");
    assert_eq!(lock["status"], "failed", "{lock:#}");
    let mismatch = findings(lock);
    assert_eq!(mismatch.len(), 1, "{lock:#}");
    assert!(
        mismatch[0]["message"]
            .as_str()
            .unwrap()
            .contains("autoInstallPeers: false, but auto-install-peers is true by default"),
        "{lock:#}"
    );
    let fix = mismatch[0]["suggestion"].as_str().unwrap();
    assert_eq!(
        fix,
        "pnpm install --no-frozen-lockfile and commit pnpm-lock.yaml"
    );
    // The fix, run: pnpm re-resolves with the setting (react now installed as a peer).
    let command = fix.strip_suffix(" and commit pnpm-lock.yaml").unwrap();
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    let (fixed, said) = pnpm(root, &args);
    assert!(fixed, "{said}");
    assert!(pnpm(root, &["install", "--frozen-lockfile", "--prefer-offline"]).0);
    let out = deps(root);
    let report = out.report();
    assert_all_passed(&report, &out, true);
    assert!(agent_peers(&report).is_empty());
}

/// npm with `legacy-peer-deps=true` (committed .npmrc): react 17 beside react-dom 18, whose
/// peer wants ^18.3.1. `npm ci` installs it (without the setting it refuses, ERESOLVE), so
/// devops-agent warns and passes; `npm ls` still lists the invalid peer, and the problem
/// devops-agent reports is the one npm ls reports.
#[test]
fn npm_legacy_peer_deps_accepts_peer_mismatches_like_npm_ci() {
    let Some(dir) = installed("deps-npm-legacy-peers", Installer::Npm) else {
        return;
    };
    let root = dir.path();
    let npm_ci_ok = |d: &Path| {
        Command::new("npm")
            .args(["ci", "--dry-run", "--no-audit", "--no-fund"])
            .current_dir(d)
            .output()
            .expect("npm ci --dry-run")
            .status
            .success()
    };
    for legacy in [true, false] {
        if !legacy {
            fs::remove_file(root.join(".npmrc")).unwrap();
        }
        let ci_ok = npm_ci_ok(root);
        assert_eq!(
            ci_ok, legacy,
            "npm ci's verdict with legacy-peer-deps={legacy}"
        );
        // npm ls checks peers either way.
        assert!(!npm_ls_ok(root));
        let out = deps(root);
        let report = out.report();
        assert_eq!(out.code == 0, ci_ok, "legacy={legacy}: {}", out.stdout);
        assert_eq!(agent_npm_problems(&report), npm_ls(root));
        let peers = check(&report, "deps.peer_dependencies");
        assert_eq!(
            peers["status"],
            if legacy { "warning" } else { "failed" },
            "{peers:#}"
        );
        let p = problems(&report, "deps.peer_dependencies");
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_eq!(p[0]["package"], "react");
        assert_eq!(p[0]["found"], "17.0.2");
        assert_eq!(p[0]["required_by"], "react-dom@18.3.1");
    }
}

/// One way of breaking a private copy of an installed tree.
type Break<'a> = Box<dyn Fn(&Path) + 'a>;

/// `yarn` 1 (classic) with `args` in `dir`: whether it exited 0, and what it printed.
fn yarn_classic(dir: &Path, args: &[&str]) -> (bool, String) {
    output(
        Command::new("node")
            .arg(tools().join("node/node_modules/yarn/bin/yarn.js"))
            .args(args)
            .current_dir(dir),
    )
}

/// yarn berry (4) with `args` in `dir`, on the shared global cache (so offline once cached).
fn yarn_berry(dir: &Path, args: &[&str]) -> (bool, String) {
    output(
        Command::new("node")
            .arg(tools().join("node/node_modules/@yarnpkg/cli-dist/bin/yarn.js"))
            .args(args)
            .env("YARN_ENABLE_TELEMETRY", "0")
            .env("YARN_ENABLE_GLOBAL_CACHE", "true")
            .current_dir(dir),
    )
}

fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run the package manager");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// berry's own check, `yarn install --immutable` (it fails when the lock would change). It also
/// links the tree again, so it runs on a throwaway copy and the tree under test stays broken.
fn berry_immutable_ok(dir: &Path) -> bool {
    let copy = tempfile::tempdir().unwrap();
    copy_tree(dir, copy.path(), &[]);
    yarn_berry(copy.path(), &["install", "--immutable"]).0
}

/// The package manager's own verdict on a tree (its exit code): `npm ls --all`, `pnpm ls`,
/// `yarn check` (yarn 1), `yarn install --immutable` (berry).
fn tool_accepts(installer: Installer, dir: &Path) -> bool {
    match installer {
        Installer::Npm => npm_ls_ok(dir),
        Installer::Pnpm => pnpm_ls_ok(dir),
        Installer::YarnClassic => yarn_classic(dir, &["check"]).0,
        Installer::YarnBerry => berry_immutable_ok(dir),
        _ => unreachable!("not a Node package manager"),
    }
}

/// Whether the installed esbuild really works here: loading it finds this machine's native
/// package and a transform runs its binary.
fn esbuild_runs(dir: &Path) -> bool {
    Command::new("node")
        .args(["-e", "require('esbuild').transformSync('let a = 1')"])
        .current_dir(dir)
        .output()
        .expect("node")
        .status
        .success()
}

/// This machine's esbuild package, as esbuild names it (`linux-x64`).
fn esbuild_native() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let cpu = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{os}-{cpu}")
}

/// Remove an installed package: its real folder, and the link to it when it is one (pnpm).
fn uninstall(link: &Path) {
    let real = fs::canonicalize(link).unwrap();
    fs::remove_dir_all(&real).unwrap();
    if fs::symlink_metadata(link).is_ok() {
        fs::remove_file(link).unwrap();
    }
}

/// esbuild 0.25.12 (with its 26 platform packages) and fsevents, installed by npm, pnpm, yarn 1
/// and yarn berry on this machine, from committed locks each tool wrote. Healthy, every
/// package manager accepts its tree, esbuild runs, and devops-agent passes: silently where the
/// lock records the platforms (`os`/`cpu`/`libc` for npm and pnpm, `conditions` for berry),
/// and with one informational line for yarn 1, whose lock does not (yarn reads them from the
/// registry's manifests, outside the project). Then each tree broken three ways, devops-agent's
/// exit code next to the tool's own check's:
///
/// | variant | npm ls --all | yarn check | pnpm ls | yarn install --immutable (berry) | agent |
/// |:--|:--|:--|:--|:--|:--|
/// | esbuild's package.json says 0.25.11 | 1 | 1 | 0 | 0 | 1 |
/// | this machine's `@esbuild/<os>-<cpu>` not installed | 0 | 0 (warns) | 0 | 0 | 0 (warns) |
/// | esbuild not installed | 1 | 1 | 0 | 0 | 1 |
///
/// npm ls and yarn check walk the installed tree, and devops-agent agrees with them on every
/// row. pnpm ls lists the lock (it names esbuild 0.25.12 and fsevents even when neither is on
/// disk), and berry's check is about the lock and relinks the tree, so neither sees a broken
/// tree: there Node itself shows the removals are real breaks (it cannot load esbuild), and
/// devops-agent judges them as it does for npm. A missing native package is a missing optional
/// dependency for every manager (a warning, exit 0, as npm ls and yarn check): npm cannot tell
/// it from a failed optional build either.
#[test]
fn platform_only_optional_packages_are_silent_and_breaks_agree_with_the_tools() {
    let native = esbuild_native();
    for (name, installer) in [
        ("deps-npm-platform", Installer::Npm),
        ("deps-pnpm-platform", Installer::Pnpm),
        ("deps-yarn-platform", Installer::YarnClassic),
        ("deps-yarn-berry-platform", Installer::YarnBerry),
    ] {
        let Some(dir) = installed(name, installer) else {
            return;
        };
        let root = dir.path();
        assert!(
            tool_accepts(installer, root),
            "{name}: the package manager accepts its tree"
        );
        assert!(esbuild_runs(root), "{name}: esbuild runs");
        let out = deps(root);
        let report = out.report();
        assert_all_passed(&report, &out, true);
        for id in [
            "deps.packages_installed",
            "deps.lockfile_valid",
            "deps.no_version_conflicts",
            "deps.peer_dependencies",
        ] {
            let c = check(&report, id);
            let shown = findings(c);
            if installer == Installer::YarnClassic && id == "deps.packages_installed" {
                // One line for every optional package yarn left out, none blocking.
                assert_eq!(shown.len(), 1, "{name} {id}: {c:#}");
                assert_eq!(shown[0]["severity"], "info", "{c:#}");
                assert!(
                    shown[0]["message"]
                        .as_str()
                        .unwrap()
                        .contains("yarn v1 skips"),
                    "{c:#}"
                );
                // 25 foreign esbuild packages and fsevents.
                assert_eq!(c["evidence"]["problems_total"], 26, "{c:#}");
                assert!(
                    problems(&report, id)
                        .iter()
                        .all(|p| p["problem"] == "missing"
                            && p["dependency_type"] == "optionalDependencies"),
                    "{c:#}"
                );
            } else {
                assert!(shown.is_empty(), "{name} {id}: {c:#}");
            }
        }
        let skipped = check(&report, "deps.packages_installed")["evidence"]["manifests"][0]
            ["platform_skipped"]
            .as_u64()
            .unwrap();
        if installer == Installer::YarnClassic {
            assert_eq!(skipped, 0, "{name}: yarn.lock v1 records no platforms");
        } else {
            // All of esbuild's platforms but this one, and fsevents (macOS only).
            assert!(skipped >= 20, "{name}: {skipped}");
        }

        let esbuild = fs::canonicalize(root.join("node_modules/esbuild")).unwrap();
        let native_link = esbuild.parent().unwrap().join("@esbuild").join(&native);
        let breaks: [(&str, Break<'_>); 3] = [
            (
                "esbuild's package.json edited to 0.25.11",
                Box::new(|copy: &Path| {
                    let real = fs::canonicalize(copy.join("node_modules/esbuild")).unwrap();
                    edit(
                        &real.join("package.json"),
                        "\"version\": \"0.25.12\"",
                        "\"version\": \"0.25.11\"",
                    );
                }),
            ),
            (
                "this machine's native package not installed",
                Box::new(|copy: &Path| {
                    let rel = native_link
                        .strip_prefix(fs::canonicalize(root).unwrap())
                        .unwrap();
                    uninstall(&copy.join(rel));
                }),
            ),
            (
                "esbuild not installed",
                Box::new(|copy: &Path| uninstall(&copy.join("node_modules/esbuild"))),
            ),
        ];
        for (i, (what, break_it)) in breaks.iter().enumerate() {
            let copy = tempfile::tempdir().unwrap();
            copy_tree(root, copy.path(), &[]);
            break_it(copy.path());
            let tool_ok = tool_accepts(installer, copy.path());
            let runs = esbuild_runs(copy.path());
            let out = deps(copy.path());
            let report = out.report();
            let agent_ok = out.code == 0;
            let context = format!(
                "{name}, {what}: tool {tool_ok}, esbuild runs {runs}, devops-agent {}",
                out.stdout
            );
            // The version edit leaves esbuild working (it checks its binary against a version
            // compiled into its JavaScript, not package.json); the removals break it.
            assert_eq!(runs, i == 0, "{context}");
            match installer {
                Installer::Npm | Installer::YarnClassic => {
                    assert_eq!(agent_ok, tool_ok, "agreement with the tool: {context}");
                    assert_eq!(tool_ok, i == 1, "{context}");
                }
                Installer::Pnpm | Installer::YarnBerry => {
                    assert!(tool_ok, "the tool does not look at the tree: {context}");
                    // A missing optional package is a warning, as for npm and yarn 1.
                    assert_eq!(agent_ok, i == 1, "{context}");
                }
                _ => unreachable!(),
            }
            if i == 0 {
                let p = problems(&report, "deps.no_version_conflicts");
                assert_eq!(p.len(), 1, "{context}");
                assert_eq!(p[0]["package"], "esbuild");
                assert_eq!(p[0]["found"], "0.25.11");
            }
            if i == 1 {
                let c = check(&report, "deps.packages_installed");
                let native_spec = format!("@esbuild/{native}@0.25.12 is not installed");
                if installer == Installer::YarnClassic {
                    // Now one more among the ones yarn may have skipped on purpose.
                    assert_eq!(c["evidence"]["problems_total"], 27, "{context}");
                } else {
                    assert!(
                        findings(c).iter().any(|f| f["severity"] == "warning"
                            && f["message"].as_str().unwrap().starts_with(&native_spec)),
                        "{context}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Python

fn normalize(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(['-', '_', '.']).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&part.to_ascii_lowercase());
    }
    out
}

/// `pip check` problems as (kind, package, required by).
fn pip_check(dir: &Path) -> BTreeSet<(String, String, String)> {
    let out = Command::new(dir.join(".venv/bin/python"))
        .args(["-m", "pip", "check"])
        .current_dir(dir)
        .output()
        .expect("pip check");
    let mut set = BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((by, rest)) = line.split_once(" requires ") {
            let name = rest.split(',').next().unwrap();
            set.insert(("missing".into(), normalize(name), by.into()));
        } else if let Some((by, rest)) = line.split_once(" has requirement ") {
            let you_have = rest.split(", but you have ").nth(1).unwrap();
            let name = you_have.split(' ').next().unwrap();
            set.insert(("invalid".into(), normalize(name), by.into()));
        }
    }
    set
}

/// devops-agent's problems that come from installed distributions' requirements.
fn agent_pip_problems(report: &Value) -> BTreeSet<(String, String, String)> {
    let mut set = BTreeSet::new();
    for id in ["deps.packages_installed", "deps.no_version_conflicts"] {
        for p in problems(report, id) {
            let by = p["required_by"].as_str().unwrap_or("");
            // `name version`: an installed distribution, not a manifest or `name[extra]`.
            if by.contains(' ') {
                set.insert((
                    p["problem"].as_str().unwrap().to_owned(),
                    normalize(p["package"].as_str().unwrap()),
                    by.to_owned(),
                ));
            }
        }
    }
    set
}

fn site_packages(dir: &Path) -> PathBuf {
    let lib = dir.join(".venv/lib");
    let python = fs::read_dir(&lib)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python"))
        .unwrap();
    python.path().join("site-packages")
}

fn dist_info(site: &Path, prefix: &str) -> PathBuf {
    fs::read_dir(site)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_ascii_lowercase();
            name.starts_with(&format!("{prefix}-")) && name.ends_with(".dist-info")
        })
        .unwrap_or_else(|| panic!("no {prefix} dist-info in {}", site.display()))
}

#[test]
fn broken_venv_reports_what_pip_check_reports() {
    let Some(dir) = installed("deps-python", Installer::Pip) else {
        return;
    };
    let site = site_packages(dir.path());
    fs::remove_dir_all(dist_info(&site, "urllib3")).unwrap();
    let idna = dist_info(&site, "idna").join("METADATA");
    let text = fs::read_to_string(&idna).unwrap();
    let version_line = text
        .lines()
        .find(|l| l.starts_with("Version:"))
        .unwrap()
        .to_owned();
    fs::write(&idna, text.replacen(&version_line, "Version: 1.0", 1)).unwrap();
    // A declared requirement removed, and the package the `socks` extra brings.
    fs::remove_dir_all(dist_info(&site, "six")).unwrap();
    fs::remove_dir_all(dist_info(&site, "pysocks")).unwrap();

    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(out.code, 1);
    let expected = pip_check(dir.path());
    assert_eq!(expected.len(), 2, "pip check saw {expected:#?}");
    assert_eq!(agent_pip_problems(&report), expected);

    let installed = check(&report, "deps.packages_installed");
    assert!(
        installed["message"]
            .as_str()
            .unwrap()
            .contains("pip install -r requirements.txt")
    );
    let six = findings(installed)
        .into_iter()
        .find(|f| f["message"].as_str().unwrap().starts_with("six"))
        .expect("six finding");
    assert_eq!(six["file"], "requirements-base.txt");
    assert_eq!(six["line"], 1);
    let socks = problems(&report, "deps.packages_installed")
        .into_iter()
        .find(|p| p["package"] == "PySocks")
        .expect("PySocks from requests[socks]");
    assert_eq!(socks["required_by"], "requests[socks]");
    let idna = problems(&report, "deps.no_version_conflicts")
        .into_iter()
        .find(|p| p["package"] == "idna")
        .unwrap();
    assert_eq!(idna["found"], "1.0");
    assert_eq!(idna["wanted"], "<4,>=2.5");
}

#[test]
fn requirement_out_of_range_and_constraint_violated() {
    let Some(dir) = installed("deps-python", Installer::Pip) else {
        return;
    };
    edit(
        &dir.path().join("requirements-base.txt"),
        "six==1.16.0",
        "six>=1.17",
    );
    fs::write(dir.path().join("constraints.txt"), "urllib3<2\n").unwrap();
    let report = deps(dir.path()).report();
    let p: BTreeSet<(String, String)> = problems(&report, "deps.no_version_conflicts")
        .into_iter()
        .map(|p| {
            (
                p["package"].as_str().unwrap().into(),
                p["required_by"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        p,
        BTreeSet::from([
            ("six".into(), "requirements.txt".into()),
            ("urllib3".into(), "constraints.txt".into())
        ])
    );
}

#[test]
fn no_virtualenv_is_a_failure_naming_where_it_looked() {
    let dir = project(&[
        ("backend/requirements.txt", "requests==2.32.3\n"),
        ("backend/pyproject.toml", "[tool.ruff]\nline-length = 100\n"),
    ]);
    let report = deps(dir.path()).report();
    let c = check(&report, "deps.packages_installed");
    assert_eq!(c["status"], "failed");
    let f = &findings(c)[0];
    assert_eq!(f["file"], "backend/requirements.txt");
    assert!(f["message"].as_str().unwrap().contains("no virtualenv"));
    assert!(
        f["suggestion"]
            .as_str()
            .unwrap()
            .contains("cd backend && python3 -m venv .venv")
    );
    // A pyproject.toml with only tool settings is not a dependency manifest.
    let manifests = &c["evidence"]["manifests"];
    assert_eq!(manifests.as_array().unwrap().len(), 1, "{manifests:#}");
}

#[test]
fn malformed_pyproject_and_requirement_lines_are_errors_with_lines() {
    let dir = project(&[
        (
            "svc/pyproject.toml",
            "[project]\nname = \"svc\"\ndependencies = [\"requests>=2\"\n",
        ),
        ("worker/requirements.txt", "six==1.16.0\nrequests >=>2\n"),
    ]);
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(out.code, 2);
    let c = check(&report, "deps.lockfile_valid");
    assert_eq!(c["status"], "error");
    let located: BTreeSet<(String, u64)> = findings(c)
        .into_iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["file"].as_str().unwrap().into(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(
        located.contains(&("worker/requirements.txt".into(), 2)),
        "{located:#?}"
    );
    assert!(
        located
            .iter()
            .any(|(f, l)| f == "svc/pyproject.toml" && *l >= 3),
        "{located:#?}"
    );
    // Peer dependencies do not apply to Python.
    assert_eq!(status(&report, "deps.peer_dependencies"), "skipped");
}

#[test]
fn uv_project_synced_by_uv() {
    let Some(dir) = installed("deps-uv", Installer::Uv) else {
        return;
    };
    // A dependency dropped from pyproject.toml after locking, and the venv drifting from the lock.
    edit(
        &dir.path().join("pyproject.toml"),
        "    \"idna>=3.6,<4\",\n",
        "",
    );
    assert!(!uv_tool(dir.path(), &["lock", "--check"]), "uv agrees");
    let site = site_packages(dir.path());
    let six = dist_info(&site, "six").join("METADATA");
    let text = fs::read_to_string(&six).unwrap();
    let version_line = text
        .lines()
        .find(|l| l.starts_with("Version:"))
        .unwrap()
        .to_owned();
    fs::write(&six, text.replacen(&version_line, "Version: 1.16.0", 1)).unwrap();
    let report = deps(dir.path()).report();
    let kinds: BTreeSet<(String, String)> = problems(&report, "deps.lockfile_valid")
        .into_iter()
        .map(|p| {
            (
                p["problem"].as_str().unwrap().into(),
                p["package"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            ("differs_from_lock".into(), "six".into()),
            ("out_of_sync".into(), "idna".into())
        ])
    );
    assert!(
        check(&report, "deps.lockfile_valid")["message"]
            .as_str()
            .unwrap()
            .contains("uv")
    );
}

fn uv_tool(dir: &Path, args: &[&str]) -> bool {
    Command::new(tools().join("py/bin/uv"))
        .args(args)
        .args(["--offline", "--quiet", "--python", "python3"])
        .current_dir(dir)
        .output()
        .expect("uv")
        .status
        .success()
}

/// A copy of `dir` with `from` replaced by `to` in `file`.
fn variant(dir: &Path, file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_tree(dir, copy.path(), &[]);
    edit(&copy.path().join(file), from, to);
    copy
}

#[test]
fn uv_legacy_dev_dependencies_and_groups_agree_with_uv() {
    // `[tool.uv] dev-dependencies` (the legacy spelling of the dev group), a group outside the
    // default ones that includes another, an extra: uv locks them all and `uv sync` installs
    // only the project's dependencies and `dev`.
    let Some(dir) = installed("deps-uv-legacy", Installer::Uv) else {
        return;
    };
    assert!(
        uv_tool(dir.path(), &["lock", "--check"]),
        "uv accepts its lock"
    );
    assert!(uv_tool(dir.path(), &["sync", "--locked", "--check"]));
    let out = deps(dir.path());
    let report = out.report();
    assert_all_passed(&report, &out, false);
    assert!(pip_check(dir.path()).is_empty());
    // six and typing-extensions installed; iniconfig, packaging (groups) and idna (extra)
    // locked but not installed, and not required.
    assert_eq!(
        check(&report, "deps.packages_installed")["evidence"]["manifests"][0]["checked"],
        2
    );

    // Each edit as uv judges it: `uv lock --check` fails exactly when lockfile_valid fails.
    let file = "pyproject.toml";
    for (from, to) in [
        (
            "dev-dependencies = [\"typing-extensions>=4.6\"]",
            "dev-dependencies = []",
        ),
        ("\"packaging>=23\"", "\"packaging>=24\""),
        ("\"packaging>=23\"", "\"packaging<30,>=23\""),
        (
            "lint = [\"iniconfig>=2\"]",
            "lint = [\"iniconfig>=2\", \"colorama\"]",
        ),
        ("idn = [\"idna>=3.6\"]", "idn = [\"idna>=3.7\"]"),
        (
            "idn = [\"idna>=3.6\"]",
            "idn = [\"idna>=3.6\"]\nsix = [\"six\"]",
        ),
        (
            "dependencies = [\"six>=1.16\"]",
            "dependencies = [\"six >= 1.16\"]",
        ),
        ("test = [{ include-group = \"lint\" }, ", "test = ["),
    ] {
        let copy = variant(dir.path(), file, from, to);
        let uv_ok = uv_tool(copy.path(), &["lock", "--check"]);
        let report = deps(copy.path()).report();
        let lock = check(&report, "deps.lockfile_valid");
        assert_eq!(
            lock["status"] == "passed",
            uv_ok,
            "{from:?} -> {to:?}: uv lock --check {}, devops-agent {lock:#}",
            if uv_ok { "passes" } else { "fails" }
        );
        if !uv_ok {
            assert!(
                lock["message"].as_str().unwrap().contains("uv lock"),
                "{lock:#}"
            );
        }
    }

    // The environment as `uv sync --check` judges it: the legacy dev dependency uninstalled.
    let site = site_packages(dir.path());
    fs::remove_dir_all(dist_info(&site, "typing_extensions")).unwrap();
    assert!(!uv_tool(dir.path(), &["sync", "--locked", "--check"]));
    let report = deps(dir.path()).report();
    let missing = problems(&report, "deps.packages_installed");
    assert_eq!(missing.len(), 1, "{missing:#?}");
    assert_eq!(missing[0]["package"], "typing-extensions");
}

#[test]
fn poetry_project_synced_by_poetry() {
    let Some(dir) = installed("deps-poetry", Installer::Poetry) else {
        return;
    };
    // The constraint raised past the locked version; the dev group's package removed.
    edit(
        &dir.path().join("pyproject.toml"),
        "six = \"^1.16\"",
        "six = \"^2.0\"",
    );
    fs::remove_dir_all(dist_info(&site_packages(dir.path()), "typing_extensions")).unwrap();
    let report = deps(dir.path()).report();
    let lock = problems(&report, "deps.lockfile_valid");
    assert!(
        lock.iter().any(|p| p["problem"] == "out_of_sync"
            && p["package"] == "six"
            && p["found"] == "1.17.0"),
        "{lock:#?}"
    );
    let six = findings(check(&report, "deps.lockfile_valid"))
        .into_iter()
        .find(|f| f["message"].as_str().unwrap().contains("six"))
        .unwrap();
    assert_eq!(
        (six["file"].as_str(), six["line"].as_u64()),
        (Some("pyproject.toml"), Some(10))
    );
    assert!(
        check(&report, "deps.lockfile_valid")["message"]
            .as_str()
            .unwrap()
            .contains("poetry lock")
    );
    let missing = problems(&report, "deps.packages_installed");
    assert!(
        missing.iter().any(|p| p["package"] == "typing-extensions"),
        "{missing:#?}"
    );
    // Same for the conflict: the installed six no longer satisfies ^2.0 (>=2.0,<3.0.0).
    let conflict = problems(&report, "deps.no_version_conflicts");
    assert!(
        conflict
            .iter()
            .any(|p| p["package"] == "six" && p["wanted"] == ">=2.0,<3.0"),
        "{conflict:#?}"
    );
}

#[test]
fn pipenv_project_synced_by_pipenv() {
    let Some(dir) = installed("deps-pipenv", Installer::Pipenv) else {
        return;
    };
    edit(
        &dir.path().join("Pipfile"),
        "[dev-packages]",
        "[dev-packages]\nattrs = \"*\"",
    );
    let report = deps(dir.path()).report();
    let lock = problems(&report, "deps.lockfile_valid");
    assert!(
        lock.iter()
            .any(|p| p["problem"] == "out_of_sync" && p["package"] == "attrs"),
        "{lock:#?}"
    );
    let missing = problems(&report, "deps.packages_installed");
    assert!(
        missing.iter().any(|p| p["package"] == "attrs"),
        "{missing:#?}"
    );
}

#[test]
fn mixed_repo_checks_every_manifest_and_names_it() {
    let (Some(web), Some(api)) = (
        installed("deps-npm", Installer::Npm),
        installed("deps-python", Installer::Pip),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    copy_tree(web.path(), &dir.path().join("frontend"), &[]);
    copy_tree(api.path(), &dir.path().join("backend"), &[]);
    fs::write(dir.path().join(".gitignore"), "generated/\n").unwrap();
    fs::create_dir_all(dir.path().join("generated")).unwrap();
    fs::write(dir.path().join("generated/package.json"), "{not json").unwrap();
    fs::remove_dir_all(dir.path().join("frontend/node_modules/scheduler")).unwrap();
    let report = deps(dir.path()).report();
    let c = check(&report, "deps.packages_installed");
    let manifests: Vec<&str> = c["evidence"]["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manifest"].as_str().unwrap())
        .collect();
    assert_eq!(
        manifests,
        ["frontend/package.json", "backend/requirements.txt"]
    );
    let p = problems(&report, "deps.packages_installed");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0]["manifest"], "frontend/package.json");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("cd frontend && npm ci"),
        "{c:#}"
    );
}

#[test]
fn no_manifest_skips_with_the_reason() {
    let dir = project(&[("README.md", "hello\n")]);
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(out.code, 0);
    let c = check(&report, "deps.packages_installed");
    assert_eq!(c["status"], "skipped");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("no package.json, requirements.txt")
    );
}

// ---------------------------------------------------------------------------------------------
// Rust

/// Whether cargo itself accepts the lock as it stands (`--locked`).
fn cargo_locked_ok(dir: &Path) -> bool {
    Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--format-version", "1"])
        .current_dir(dir)
        .output()
        .expect("cargo metadata")
        .status
        .success()
}

#[test]
fn cargo_workspace_lock_in_sync_and_drifted() {
    let Some(dir) = installed("deps-cargo", Installer::CargoLock) else {
        return;
    };
    let out = deps(dir.path());
    let report = out.report();
    assert_all_passed(&report, &out, false);
    let m = &check(&report, "deps.packages_installed")["evidence"]["manifests"][0];
    assert_eq!(m["manifest"], "Cargo.toml");
    assert_eq!(m["members"], 2);
    assert!(
        cargo_locked_ok(dir.path()),
        "cargo accepts the lock it wrote"
    );

    // A dependency added and one removed after locking; a requirement raised past the lock
    // (the next minor after the version cargo locked).
    let lock_text = fs::read_to_string(dir.path().join("Cargo.lock")).unwrap();
    let locked = lock_text
        .split("name = \"fastrand\"\nversion = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("fastrand in Cargo.lock");
    let mut parts = locked.split('.').map(|p| p.parse::<u64>().unwrap());
    let raised = format!("{}.{}", parts.next().unwrap(), parts.next().unwrap() + 1);
    let app = dir.path().join("app/Cargo.toml");
    edit(&app, "ryu = \"1.0\"", "semver = \"1\"");
    edit(
        &app,
        "version = \"2.1\"",
        &format!("version = \"{raised}\""),
    );
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(out.code, 1);
    let lock: BTreeSet<(String, String)> = problems(&report, "deps.lockfile_valid")
        .into_iter()
        .map(|p| {
            (
                p["problem"].as_str().unwrap().into(),
                p["package"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        lock,
        BTreeSet::from([
            ("out_of_sync".into(), "ryu".into()),
            ("out_of_sync".into(), "semver".into())
        ])
    );
    let semver = findings(check(&report, "deps.lockfile_valid"))
        .into_iter()
        .find(|f| f["message"].as_str().unwrap().contains("semver"))
        .unwrap();
    assert_eq!(semver["file"], "app/Cargo.toml");
    assert_eq!(semver["line"], 12);
    let conflict = &problems(&report, "deps.no_version_conflicts")[0];
    assert_eq!(conflict["package"], "fastrand");
    assert_eq!(conflict["wanted"], raised);
    assert_eq!(conflict["found"], locked);
    assert_eq!(status(&report, "deps.packages_installed"), "failed");
    // cargo agrees the lock no longer fits (the raised requirement put back: a release that
    // new may not exist, and then cargo would fail for that reason instead).
    edit(
        &app,
        &format!("version = \"{raised}\""),
        "version = \"2.1\"",
    );
    assert!(
        !cargo_locked_ok(dir.path()),
        "cargo rejects the drifted lock"
    );

    fs::remove_file(dir.path().join("Cargo.lock")).unwrap();
    let report = deps(dir.path()).report();
    assert_eq!(
        problems(&report, "deps.lockfile_valid")[0]["problem"],
        "no_lockfile"
    );
}

// ---------------------------------------------------------------------------------------------
// Go

#[test]
fn go_module_sums_and_vendor_manifest() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("deps-go"), dir.path(), NOT_COMMITTED);
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(status(&report, "deps.packages_installed"), "passed");
    assert_eq!(status(&report, "deps.lockfile_valid"), "passed");
    assert_eq!(out.code, 0);
    let m = &check(&report, "deps.lockfile_valid")["evidence"]["manifests"][0];
    assert_eq!(m["lockfile"], "go.sum");
    assert_eq!(m["vendored"], true);

    // A module hash dropped from go.sum, a version bumped in go.mod but not re-vendored.
    let sum = dir.path().join("go.sum");
    let text = fs::read_to_string(&sum).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("github.com/pkg/errors v0.9.1 h1:"))
        .collect();
    fs::write(&sum, kept.join("\n") + "\n").unwrap();
    edit(
        &dir.path().join("go.mod"),
        "github.com/google/uuid v1.3.0",
        "github.com/google/uuid v1.3.1",
    );
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(out.code, 1);
    let installed: BTreeSet<(String, u64)> = findings(check(&report, "deps.packages_installed"))
        .into_iter()
        .map(|f| {
            (
                f["message"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .into(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        installed,
        BTreeSet::from([
            ("github.com/google/uuid".into(), 6),
            ("github.com/pkg/errors".into(), 7)
        ])
    );
    let vendor = problems(&report, "deps.lockfile_valid");
    assert_eq!(vendor.len(), 1, "{vendor:#?}");
    assert_eq!(vendor[0]["problem"], "vendor_out_of_sync");
    assert!(
        check(&report, "deps.lockfile_valid")["message"]
            .as_str()
            .unwrap()
            .contains("go mod vendor")
    );

    fs::write(
        dir.path().join("go.mod"),
        "module example.com/x\n\nrequire (\n  github.com/a/b\n)\n",
    )
    .unwrap();
    let out = deps(dir.path());
    let report = out.report();
    assert_eq!(out.code, 2);
    let f = &findings(check(&report, "deps.packages_installed"))[0];
    assert_eq!(
        (f["file"].as_str(), f["line"].as_u64()),
        (Some("go.mod"), Some(4))
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn hostile_trees_give_a_report_not_a_panic_or_a_hang() {
    let dir = project(&[
        // Odd but valid JSON: npm reads non-object maps as empty.
        (
            "web/package.json",
            r#"{"name":"web","version":"1.0.0","dependencies":{},"optionalDependencies":{"x":{"not":"a string"}},"devDependencies":{"bad":"^^1","a":"^1.0.0"}}"#,
        ),
        // A project manifest whose dependency maps are not objects declares nothing knowable.
        (
            "shape/package.json",
            "{\"name\":\"shape\",\n\"dependencies\":[],\"peerDependenciesMeta\":7}",
        ),
        ("web/package-lock.json", "[1, 2, 3]"),
        (
            "web/node_modules/a/package.json",
            "{\"name\": \"a\", \"version\": ",
        ),
        ("web/node_modules/.package-lock.json", "{}"),
        ("yarnapp/package.json", r#"{"dependencies":{"ms":"^2"}}"#),
        (
            "yarnapp/yarn.lock",
            "\u{0}garbage\n  version\n\"unterminated:\n",
        ),
        ("pnpmapp/package.json", r#"{"dependencies":{"ms":"^2"}}"#),
        ("pnpmapp/pnpm-lock.yaml", "lockfileVersion: [\n"),
        (
            "py/requirements.txt",
            "-\u{e9}bc\n-r missing.txt\n-r requirements.txt\nname[unclosed\nok ; python_version <\n",
        ),
        ("py/.venv/pyvenv.cfg", "version = garbage\n"),
        (
            "py/.venv/lib/python3.11/site-packages/x-1.dist-info/RECORD",
            "",
        ),
        (
            "rs/Cargo.toml",
            "[package]\nname = \"rs\"\n[dependencies]\nserde = 5\n",
        ),
        ("rs/Cargo.lock", "[[package]]\nname = 1\n"),
        ("gosvc/go.mod", "module x\nrequire a v1\n"),
        ("gosvc/go.sum", "a v1\n"),
    ]);
    let root = dir.path();
    // A symlink loop and a FIFO where package.json files are read.
    std::os::unix::fs::symlink("loop", root.join("web/node_modules/loop")).unwrap();
    fs::create_dir_all(root.join("web/node_modules/fifo")).unwrap();
    let fifo = root.join("web/node_modules/fifo/package.json");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    edit(
        &root.join("web/package.json"),
        "\"a\":\"^1.0.0\"",
        "\"a\":\"^1.0.0\",\"fifo\":\"*\",\"loop\":\"*\"",
    );

    let out = deps(root);
    let report = out.report();
    assert_eq!(out.code, 2, "{}", out.stdout);
    let lock = check(&report, "deps.lockfile_valid");
    assert_eq!(lock["status"], "error");
    let unreadable: BTreeSet<&str> = findings(lock)
        .into_iter()
        .filter(|f| f["severity"] == "error" && f["line"].is_u64())
        .filter_map(|f| f["file"].as_str())
        .collect();
    let installed_check = check(&report, "deps.packages_installed");
    assert!(
        findings(installed_check)
            .iter()
            .any(|f| f["file"] == "shape/package.json"
                && f["line"] == 2
                && f["severity"] == "error"),
        "{installed_check:#}"
    );
    for file in [
        "web/package-lock.json",
        "pnpmapp/pnpm-lock.yaml",
        "rs/Cargo.lock",
        "py/requirements.txt",
    ] {
        assert!(
            unreadable.contains(file),
            "{file} not reported with a line: {unreadable:#?}"
        );
    }
    let installed = problems(&report, "deps.packages_installed");
    let broken: BTreeSet<&str> = installed
        .iter()
        .filter(|p| p["problem"] == "broken")
        .filter_map(|p| p["package"].as_str())
        .collect();
    assert!(
        broken.contains("a") && broken.contains("fifo") && broken.contains("loop"),
        "{installed:#?}"
    );
}

#[test]
fn npm_v1_lock_and_shrinkwrap() {
    // package-lock.json v1, written by npm 6; the tree installed from it by `npm ci`.
    let Some(dir) = installed("deps-npm-v1", Installer::Npm) else {
        return;
    };
    let out = deps(dir.path());
    let report = out.report();
    assert_all_passed(&report, &out, true);
    assert_eq!(
        check(&report, "deps.lockfile_valid")["evidence"]["manifests"][0]["lockfile_format"],
        "npm v1"
    );
    edit(
        &dir.path()
            .join("node_modules/debug/node_modules/ms/package.json"),
        "\"version\": \"2.0.0\"",
        "\"version\": \"2.0.1\"",
    );
    edit(
        &dir.path().join("package.json"),
        "\"react\": \"^18.2.0\"",
        "\"react\": \"^19.0.0\"",
    );
    let report = deps(dir.path()).report();
    let kinds: BTreeSet<(String, String)> = problems(&report, "deps.lockfile_valid")
        .into_iter()
        .map(|p| {
            (
                p["problem"].as_str().unwrap().into(),
                p["package"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            ("differs_from_lock".into(), "ms".into()),
            ("out_of_sync".into(), "react".into())
        ])
    );

    // `npm shrinkwrap` is package-lock.json renamed; it takes precedence.
    let Some(dir) = installed("deps-npm", Installer::Npm) else {
        return;
    };
    fs::rename(
        dir.path().join("package-lock.json"),
        dir.path().join("npm-shrinkwrap.json"),
    )
    .unwrap();
    let out = deps(dir.path());
    let report = out.report();
    assert_all_passed(&report, &out, true);
    assert_eq!(
        check(&report, "deps.lockfile_valid")["evidence"]["manifests"][0]["lockfile"],
        "npm-shrinkwrap.json"
    );
}

#[test]
fn production_install_without_dev_dependencies() {
    let Some(dir) = installed("deps-npm", Installer::Npm) else {
        return;
    };
    // What `npm ci --omit=dev` leaves out.
    fs::remove_dir_all(dir.path().join("node_modules/is-number")).unwrap();
    let report = deps(dir.path()).report();
    assert_eq!(status(&report, "deps.packages_installed"), "failed");

    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["deps", "--project"])
        .arg(dir.path())
        .env("NODE_ENV", "production");
    let out = run(cmd);
    let report = out.report();
    assert_eq!(status(&report, "deps.packages_installed"), "passed");
    assert_eq!(status(&report, "deps.lockfile_valid"), "passed");
    let p = problems(&report, "deps.packages_installed");
    assert_eq!(p[0]["package"], "is-number");
    assert_eq!(p[0]["dependency_type"], "devDependencies");
    // What is fine is said once, with why, and without a fix to run.
    let findings = check(&report, "deps.packages_installed")["findings"]
        .as_array()
        .unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["severity"], "info");
    assert!(findings[0]["suggestion"].is_null(), "{findings:#?}");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("fine: NODE_ENV=production installs leave devDependencies out"),
        "{findings:#?}"
    );
    assert!(!out.stdout.contains("→ npm ci"), "{}", out.stdout);
}
