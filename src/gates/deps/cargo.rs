//! Rust projects: every workspace's Cargo.lock is present, parses, and is in sync with the
//! Cargo.toml of every member, as `cargo build --locked` requires — checked offline, from the
//! files alone.
//!
//! In sync means: each member is locked at its version; each dependency it declares (normal,
//! dev, build, target-specific; renamed with `package =`; inherited with `workspace = true`) is
//! in its lock entry and the locked version meets the requirement (Cargo's semver, not npm's);
//! and the lock records no dependency the member no longer declares.

use super::in_dir;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::lines::TomlKeyLines;
use super::outcome::{Outcome, Problem};
use super::read;
use crate::check::Severity;
use crate::project::Project;

#[derive(Debug, Default, Deserialize)]
struct CargoToml {
    package: Option<PackageTable>,
    workspace: Option<WorkspaceTable>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "dev-dependencies")]
    dev_dependencies: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "build-dependencies")]
    build_dependencies: BTreeMap<String, toml::Value>,
    #[serde(default)]
    target: BTreeMap<String, TargetTable>,
}

#[derive(Debug, Default, Deserialize)]
struct PackageTable {
    name: Option<String>,
    version: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct WorkspaceTable {
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    package: Option<WorkspacePackage>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct WorkspacePackage {
    version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct TargetTable {
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "dev-dependencies")]
    dev_dependencies: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "build-dependencies")]
    build_dependencies: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
struct CargoLock {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Debug, Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    #[serde(default)]
    dependencies: Vec<String>,
}

/// One declared dependency of a member.
struct CrateDep {
    /// The crate's real name (after `package =`).
    name: String,
    /// The version requirement, when one is given (path and git deps may have none).
    req: Option<String>,
    line: Option<u64>,
}

struct Member {
    rel: String,
    name: String,
    version: Option<String>,
    deps: Vec<CrateDep>,
}

/// Check every Cargo workspace (or standalone package) among `manifests`.
pub(crate) fn check_all(project: &Project, manifests: &[PathBuf], out: &mut Outcome) {
    let mut parsed: BTreeMap<PathBuf, (String, CargoToml)> = BTreeMap::new();
    for path in manifests {
        let rel = project.relative(path);
        let result = read::text(&rel, path, read::MAX_FILE_BYTES).and_then(|text| {
            toml::from_str::<CargoToml>(&text)
                .map(|t| (text.clone(), t))
                .map_err(|e| read::toml_error(&rel, &text, &e))
        });
        match result {
            Ok(p) => {
                parsed.insert(path.clone(), p);
            }
            Err(e) => out.unreadable(&e, false),
        }
    }
    // Workspace roots first; a package under a root that lists it is that root's member.
    let mut claimed: BTreeSet<PathBuf> = BTreeSet::new();
    let roots: Vec<PathBuf> = parsed
        .iter()
        .filter(|(_, (_, t))| t.workspace.is_some())
        .map(|(p, _)| p.clone())
        .collect();
    for root in &roots {
        let Some(dir) = root.parent() else { continue };
        let Some((_, toml)) = parsed.get(root) else {
            continue;
        };
        let ws = toml.workspace.as_ref();
        let mut members: Vec<PathBuf> = Vec::new();
        if toml.package.is_some() {
            members.push(root.clone());
        }
        let excluded: Vec<PathBuf> = ws
            .map(|w| w.exclude.iter().map(|e| dir.join(e)).collect())
            .unwrap_or_default();
        for pattern in ws.map(|w| w.members.as_slice()).unwrap_or_default() {
            for member_dir in super::node::expand(dir, pattern, "Cargo.toml") {
                if !excluded.iter().any(|e| member_dir.starts_with(e)) {
                    members.push(member_dir.join("Cargo.toml"));
                }
            }
        }
        claimed.extend(members.iter().cloned());
        check_workspace(project, root, &members, &parsed, out);
    }
    for path in parsed.keys() {
        if !claimed.contains(path) && !roots.contains(path) {
            check_workspace(project, path, std::slice::from_ref(path), &parsed, out);
        }
    }
}

fn check_workspace(
    project: &Project,
    root: &Path,
    member_paths: &[PathBuf],
    parsed: &BTreeMap<PathBuf, (String, CargoToml)>,
    out: &mut Outcome,
) {
    let Some(dir) = root.parent() else { return };
    let root_rel = project.relative(root);
    let ws = parsed.get(root).and_then(|(_, t)| t.workspace.as_ref());
    let mut members = Vec::new();
    for path in member_paths {
        match parsed.get(path) {
            Some((text, toml)) => {
                if let Some(member) = member(project, path, text, toml, ws) {
                    members.push(member);
                }
            }
            None if path.is_file() => {} // unreadable: already reported
            None => out.installed.push(
                Problem::new(
                    Severity::Error,
                    "missing",
                    &project.relative(path),
                    &root_rel,
                    format!("workspace member {} does not exist", project.relative(path)),
                )
                .at(&root_rel, None),
            ),
        }
    }
    if members.is_empty() {
        return;
    }
    let declared: usize = members.iter().map(|m| m.deps.len()).sum();
    let lock_path = dir.join("Cargo.lock");
    let lock_rel = project.relative(&lock_path);
    let relock = in_dir(&project.relative(dir), "cargo update --workspace");
    let lock = if lock_path.is_file() {
        match read::text(&lock_rel, &lock_path, read::MAX_FILE_BYTES).and_then(|text| {
            toml::from_str::<CargoLock>(&text).map_err(|e| read::toml_error(&lock_rel, &text, &e))
        }) {
            Ok(lock) => Some(lock),
            Err(e) => {
                out.unreadable(&e, false);
                return;
            }
        }
    } else {
        None
    };
    let i = out.installed.manifest(&root_rel, "rust", declared);
    out.installed
        .annotate(i, "members", serde_json::Value::from(members.len()));
    out.conflicts.manifest(&root_rel, "rust", declared);
    let i = out
        .lockfile
        .manifest(&root_rel, "rust", declared + members.len());
    out.lockfile.annotate(
        i,
        "lockfile",
        serde_json::Value::from(lock.as_ref().map(|_| lock_rel.clone())),
    );
    let Some(lock) = lock else {
        out.lockfile.push(
            Problem::new(
                Severity::Error,
                "no_lockfile",
                "",
                &root_rel,
                format!(
                    "{root_rel} has no Cargo.lock: `cargo build --locked` fails and builds are not reproducible"
                ),
            )
            .at(&root_rel, None)
            .fix(&format!(
                "{} and commit Cargo.lock",
                in_dir(&project.relative(dir), "cargo generate-lockfile")
            )),
        );
        out.installed.push(
            Problem::new(
                Severity::Error,
                "unresolved",
                "",
                &root_rel,
                format!("{declared} dependencies of {root_rel} are not resolved to versions (no Cargo.lock)"),
            )
            .at(&root_rel, None)
            .fix(&in_dir(&project.relative(dir), "cargo generate-lockfile")),
        );
        return;
    };
    let mut by_name: HashMap<&str, Vec<&LockedPackage>> = HashMap::new();
    for p in &lock.package {
        by_name.entry(p.name.as_str()).or_default().push(p);
    }
    for member in &members {
        let entry = by_name.get(member.name.as_str()).and_then(|list| {
            list.iter()
                .find(|p| member.version.as_ref().is_none_or(|v| *v == p.version))
        });
        let Some(entry) = entry else {
            out.lockfile.push(
                Problem::new(
                    Severity::Error,
                    "out_of_sync",
                    &member.name,
                    &root_rel,
                    format!(
                        "{lock_rel} has no entry for {} {} ({} changed after locking)",
                        member.name,
                        member.version.as_deref().unwrap_or(""),
                        member.rel
                    ),
                )
                .with("wanted", member.version.as_deref())
                .at(&member.rel, None)
                .fix(&relock),
            );
            continue;
        };
        // Lock dependency entries are `name`, `name version` or `name version (source)`.
        let locked: HashMap<&str, Option<&str>> = entry
            .dependencies
            .iter()
            .map(|d| {
                let mut parts = d.split_whitespace();
                (parts.next().unwrap_or(""), parts.next())
            })
            .collect();
        for dep in &member.deps {
            let Some(version) = locked.get(dep.name.as_str()) else {
                let problem = |severity| {
                    Problem::new(
                        severity,
                        "out_of_sync",
                        &dep.name,
                        &root_rel,
                        format!(
                            "{} declares {}{}, which {lock_rel} does not lock ({} changed after locking)",
                            member.rel,
                            dep.name,
                            dep.req.as_deref().map(|r| format!(" {r}")).unwrap_or_default(),
                            member.rel
                        ),
                    )
                    .with("wanted", dep.req.as_deref())
                    .with("required_by", Some(&member.name))
                    .at(&member.rel, dep.line)
                    .fix(&relock)
                };
                out.lockfile.push(problem(Severity::Error));
                let mut missing = problem(Severity::Error);
                missing.message = format!(
                    "{} of {} is not resolved in {lock_rel}: `cargo build --locked` fails",
                    dep.name, member.name
                );
                missing
                    .item
                    .insert("problem".to_owned(), serde_json::Value::from("missing"));
                out.installed.push(missing);
                continue;
            };
            let version = version.map(str::to_owned).or_else(|| {
                by_name
                    .get(dep.name.as_str())
                    .and_then(|l| (l.len() == 1).then(|| l[0].version.clone()))
            });
            if let (Some(req), Some(version)) = (&dep.req, &version)
                && !cargo_allows(req, version)
            {
                out.conflicts.push(
                    Problem::new(
                        Severity::Error,
                        "invalid",
                        &dep.name,
                        &root_rel,
                        format!(
                            "{} wants {} {req}, {lock_rel} locks {version}",
                            member.rel, dep.name
                        ),
                    )
                    .with("wanted", Some(req))
                    .with("found", Some(version))
                    .with("required_by", Some(&member.name))
                    .with("path", Some(&lock_rel))
                    .at(&member.rel, dep.line)
                    .fix(&in_dir(
                        &project.relative(dir),
                        &format!("cargo update -p {}", dep.name),
                    )),
                );
            }
        }
        let declared: BTreeSet<&str> = member.deps.iter().map(|d| d.name.as_str()).collect();
        let mut stale: Vec<&&str> = locked.keys().filter(|n| !declared.contains(**n)).collect();
        stale.sort();
        for name in stale {
            out.lockfile.push(
                Problem::new(
                    Severity::Error,
                    "out_of_sync",
                    name,
                    &root_rel,
                    format!(
                        "{lock_rel} still locks {name} for {}, which {} no longer declares",
                        member.name, member.rel
                    ),
                )
                .with("required_by", Some(&member.name))
                .at(&lock_rel, None)
                .fix(&relock),
            );
        }
    }
}

/// Cargo's requirement semantics (a bare `1.2` is `^1.2`); an unparseable one is not judged.
fn cargo_allows(req: &str, version: &str) -> bool {
    match (
        semver::VersionReq::parse(req),
        semver::Version::parse(version),
    ) {
        (Ok(req), Ok(version)) => req.matches(&version),
        _ => true,
    }
}

fn member(
    project: &Project,
    path: &Path,
    text: &str,
    toml: &CargoToml,
    ws: Option<&WorkspaceTable>,
) -> Option<Member> {
    let package = toml.package.as_ref()?;
    let name = package.name.clone()?;
    let version = match &package.version {
        Some(toml::Value::String(v)) => Some(v.clone()),
        Some(toml::Value::Table(_)) => ws.and_then(|w| w.package.as_ref()?.version.clone()),
        // Since Rust 1.75 a package without a version is 0.0.0.
        _ => Some("0.0.0".to_owned()),
    };
    let mut tables: Vec<&BTreeMap<String, toml::Value>> = vec![
        &toml.dependencies,
        &toml.dev_dependencies,
        &toml.build_dependencies,
    ];
    for target in toml.target.values() {
        tables.push(&target.dependencies);
        tables.push(&target.dev_dependencies);
        tables.push(&target.build_dependencies);
    }
    let mut deps: BTreeMap<String, CrateDep> = BTreeMap::new();
    let key_lines = TomlKeyLines::new(text);
    for table in tables {
        for (key, value) in table {
            let inherited = value
                .get("workspace")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false);
            let source = if inherited {
                ws.and_then(|w| w.dependencies.get(key)).unwrap_or(value)
            } else {
                value
            };
            let real = value
                .get("package")
                .or_else(|| source.get("package"))
                .and_then(toml::Value::as_str)
                .unwrap_or(key)
                .to_owned();
            let req = match source {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Table(t) => t
                    .get("version")
                    .and_then(toml::Value::as_str)
                    .map(str::to_owned),
                _ => None,
            };
            let line = key_lines.get(key);
            deps.entry(real.clone()).or_insert(CrateDep {
                name: real,
                req,
                line,
            });
        }
    }
    Some(Member {
        rel: project.relative(path),
        name,
        version,
        deps: deps.into_values().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_requirement_semantics() {
        assert!(cargo_allows("1", "1.9.0"));
        assert!(cargo_allows("0.2", "0.2.9"));
        assert!(!cargo_allows("0.2", "0.3.0"));
        assert!(!cargo_allows("2.6", "2.5.0"));
        assert!(cargo_allows("=1.0.5", "1.0.5"));
    }

    #[test]
    fn dependency_lines() {
        let text = "[dependencies]\nitoa.workspace = true\nfastrand = { version = \"2\" }\n";
        let lines = TomlKeyLines::new(text);
        assert_eq!(lines.get("itoa"), Some(2));
        assert_eq!(lines.get("fastrand"), Some(3));
    }
}
