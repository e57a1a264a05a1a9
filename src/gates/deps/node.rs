//! Node projects: every package.json that is not a workspace member of another, with its
//! workspaces, its lock file and its installed `node_modules`.
//!
//! The installed tree is walked from the root and each workspace the way `npm ls --all` walks
//! it: every `dependencies`, `devDependencies` (root and workspaces only), `optionalDependencies`
//! and `peerDependencies` edge is resolved as Node resolves it and checked against its
//! specifier. Missing and invalid edges, extraneous packages and lock drift are reported with the
//! same meaning npm gives them.

use super::in_dir;
use std::cell::OnceCell;
use std::fs;
use std::path::{Path, PathBuf};

// Path and index maps are hot (one entry per installed package); foldhash is several times
// faster than the default SipHash there, and nothing here needs DoS-resistant hashing.
use foldhash::{HashMap, HashSet, HashSetExt};

use super::lines::JsonKeyLines;
use super::node_lock::{self, LockKind, NodeLock};
use super::node_shape;
use super::node_tree::{Dep, DepKind, Manifest, Tree};
use super::npm_spec::Spec;
use super::npmrc::Npmrc;
use super::outcome::{Outcome, Problem};
use super::read;
use crate::check::Severity;
use crate::project::{FileError, Project};

/// Lock files in the order a package manager would pick them.
const LOCKS: &[&str] = &[
    "npm-shrinkwrap.json",
    "package-lock.json",
    "pnpm-lock.yaml",
    "yarn.lock",
];

/// One package.json of the project being checked (the root or a workspace).
struct Top {
    /// Display path of the package.json.
    rel: String,
    /// Directory relative to the Node root (`""` for the root itself), as locks key workspaces.
    key: String,
    text: String,
    pkg: usize,
    /// Lines of the manifest's keys, indexed on the first finding that needs one.
    lines: OnceCell<JsonKeyLines>,
}

impl Top {
    /// The line of `key` in the manifest's `section` object.
    fn key_line(&self, section: &str, key: &str) -> Option<u64> {
        self.lines
            .get_or_init(|| JsonKeyLines::new(&self.text))
            .get(section, key)
    }
}

/// Check every Node project among `package_jsons` (sorted shallow-first so roots come before
/// the workspaces and `file:` packages they cover).
pub(crate) fn check_all(project: &Project, package_jsons: &[PathBuf], out: &mut Outcome) {
    let mut sorted = package_jsons.to_vec();
    sorted.sort_by_key(|p| (p.components().count(), p.clone()));
    let mut covered: HashSet<PathBuf> = HashSet::new();
    for path in sorted {
        if crate::cancel::requested() {
            return;
        }
        if covered.contains(&path) || fs::canonicalize(&path).is_ok_and(|c| covered.contains(&c)) {
            continue;
        }
        check_one(project, &path, out, &mut covered);
    }
}

fn read_manifest(project: &Project, path: &Path) -> Result<(String, Manifest), FileError> {
    let rel = project.relative(path);
    let text = read::text(&rel, path, read::MAX_FILE_BYTES)?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| read::json_error(&rel, &e))?;
    node_shape::check(&rel, &text)?;
    Ok((text, manifest))
}

fn check_one(project: &Project, path: &Path, out: &mut Outcome, covered: &mut HashSet<PathBuf>) {
    let rel = project.relative(path);
    let Some(dir) = path.parent() else {
        return;
    };
    let dir_rel = project.relative(dir);
    let (text, manifest) = match read_manifest(project, path) {
        Ok(read) => read,
        Err(e) => {
            out.unreadable(&e, true);
            return;
        }
    };
    let real_dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let mut tree = Tree::new(real_dir.clone());

    // Workspaces: npm/yarn `workspaces`, pnpm's pnpm-workspace.yaml.
    let mut patterns = manifest.workspaces.clone();
    patterns.extend(pnpm_workspaces(dir));
    let members = expand_workspaces(dir, &patterns);
    let root_pkg = tree.add(real_dir.clone(), manifest);
    let mut tops = vec![Top {
        rel: rel.clone(),
        key: String::new(),
        text,
        pkg: root_pkg,
        lines: OnceCell::new(),
    }];
    for member in &members {
        covered.insert(member.join("package.json"));
        let member_path = member.join("package.json");
        match read_manifest(project, &member_path) {
            Ok((text, m)) => {
                let member_dir = fs::canonicalize(member).unwrap_or_else(|_| member.clone());
                let pkg = tree.add(member_dir, m);
                tops.push(Top {
                    rel: project.relative(&member_path),
                    key: member
                        .strip_prefix(dir)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    text,
                    pkg,
                    lines: OnceCell::new(),
                });
            }
            Err(e) => out.unreadable(&e, true),
        }
    }

    // The lock file, if any.
    let present: Vec<&str> = LOCKS
        .iter()
        .copied()
        .filter(|name| dir.join(name).is_file())
        .collect();
    let lock_name = present.first().copied();
    let pnp = dir.join(".pnp.cjs").is_file() && !dir.join("node_modules").is_dir();
    // The lock is parsed on a thread of its own while the installed tree is listed and read:
    // neither needs the other until the walk.
    let (lock, physical) = std::thread::scope(|s| {
        let parsing = lock_name.map(|name| {
            let lock_path = dir.join(name);
            let lock_rel = project.relative(&lock_path);
            s.spawn(move || node_lock::read(&lock_rel, &lock_path, name))
        });
        let physical = if pnp {
            Vec::new()
        } else {
            // Read every installed package.json up front, in parallel; the walk then
            // resolves in memory.
            let mut physical = Vec::new();
            let top_dirs: Vec<PathBuf> =
                tops.iter().map(|t| tree.pkgs[t.pkg].dir.clone()).collect();
            tree.prefetch(&top_dirs);
            for top_dir in &top_dirs {
                tree.installed_under(top_dir, &mut physical);
            }
            let mut to_read = physical.clone();
            for top_dir in &top_dirs {
                tree.store_under(top_dir, &mut to_read);
            }
            tree.preload(&to_read);
            physical
        };
        let lock: Option<Result<NodeLock, FileError>> = parsing.map(|h| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        (lock, physical)
    });
    let kind = match &lock {
        Some(Ok(l)) => l.kind,
        _ => lock_name.map(|n| match n {
            "pnpm-lock.yaml" => LockKind::Pnpm,
            "yarn.lock" => LockKind::YarnClassic,
            _ => LockKind::Npm(3),
        }),
    };
    let install = in_dir(&dir_rel, kind.map_or("npm install", LockKind::install));
    let production = project.env.get("NODE_ENV").as_deref() == Some("production");
    let npmrc = Npmrc::load(dir);
    let peer_policy = PeerPolicy::of(kind, &npmrc);

    let mut platform_skipped = 0usize;
    let mut visited: HashSet<usize> = HashSet::new();
    let mut edges = 0usize;
    let mut peer_edges = 0usize;
    if pnp {
        let note = format!(
            "{rel}: Yarn Plug'n'Play install (.pnp.cjs, no node_modules) — installed packages not inspected"
        );
        out.installed.unverified.push(note.clone());
        out.conflicts.unverified.push(note.clone());
        out.peers.unverified.push(note);
    } else {
        let no_foreign = std::collections::HashSet::new();
        let opts = WalkOpts {
            install: &install,
            production,
            foreign: match &lock {
                Some(Ok(lock)) => &lock.foreign,
                _ => &no_foreign,
            },
            platform_skipped: std::cell::Cell::new(0),
            platforms_unrecorded: kind == Some(LockKind::YarnClassic),
            peers: &peer_policy,
        };
        walk_tree(
            project,
            &mut tree,
            &tops,
            &opts,
            out,
            covered,
            &mut visited,
            (&mut edges, &mut peer_edges),
        );
        if kind != Some(LockKind::Pnpm) && dir.join("node_modules").is_dir() {
            workspace_links(project, &mut tree, dir, &tops, &install, out);
        }
        extraneous(project, &mut tree, physical, &visited, &install, &rel, out);
        platform_skipped = opts.platform_skipped.get();
    }

    // Evidence: one entry per manifest in each check it fed.
    let lock_rel = lock_name.map(|n| project.relative(&dir.join(n)));
    let node_modules = dir.join("node_modules").is_dir();
    let i = out.installed.manifest(&rel, "node", edges);
    out.installed
        .annotate(i, "node_modules", serde_json::Value::from(node_modules));
    out.installed
        .annotate(i, "workspaces", serde_json::Value::from(members.len()));
    out.installed.annotate(
        i,
        "platform_skipped",
        serde_json::Value::from(platform_skipped),
    );
    out.conflicts.manifest(&rel, "node", edges);
    out.peers.manifest(&rel, "node", peer_edges);

    // The lock: present, parses, in sync with every package.json, matched by the install.
    let mut lock_checked = 0usize;
    let mut lock_extraneous = None;
    if present.len() > 1 {
        out.lockfile.push(
            Problem::new(
                Severity::Warning,
                "multiple_locks",
                "",
                &rel,
                format!(
                    "{} lock files in {}: {} — a package manager uses one; delete the others",
                    present.len(),
                    if dir_rel.is_empty() { "." } else { &dir_rel },
                    present.join(", ")
                ),
            )
            .at(&rel, None),
        );
    }
    match lock {
        None => {
            let declared: usize = tops
                .iter()
                .map(|t| tree.pkgs[t.pkg].manifest.deps(true).len())
                .sum();
            if declared > 0 {
                let hidden = dir.join("node_modules/.package-lock.json").is_file();
                out.lockfile.push(
                    Problem::new(
                        Severity::Error,
                        "no_lockfile",
                        "",
                        &rel,
                        format!(
                            "{rel} declares {declared} dependencies but has no lock file{} — installs are not reproducible",
                            if hidden {
                                " (only node_modules/.package-lock.json, which is not committed)"
                            } else {
                                ""
                            }
                        ),
                    )
                    .at(&rel, None)
                    .fix(&format!(
                        "{} and commit package-lock.json",
                        in_dir(&dir_rel, "npm install")
                    )),
                );
            }
        }
        Some(Err(e)) => out.lockfile.errors.push(e),
        Some(Ok(lock)) => {
            let kind = lock.kind.unwrap_or(LockKind::Npm(3));
            if matches!(kind, LockKind::Npm(_)) {
                lock_extraneous = Some(lock.extraneous);
            }
            let lock_rel = lock_rel.clone().unwrap_or_default();
            lock_checked += sync(project, &tree, &tops, &lock, kind, &lock_rel, &dir_rel, out);
            if let Some(locked) = lock.auto_install_peers {
                lock_checked += 1;
                pnpm_settings(&npmrc, locked, &rel, &lock_rel, &dir_rel, out);
            }
            if !pnp {
                lock_checked += installed_matches_lock(
                    project, &mut tree, dir, &visited, &lock, kind, &lock_rel, &dir_rel, out,
                );
            }
        }
    }
    let i = out.lockfile.manifest(&rel, "node", lock_checked);
    out.lockfile
        .annotate(i, "lockfile", serde_json::Value::from(lock_rel));
    if let Some(n) = lock_extraneous {
        // Entries `npm ci` skips, so not compared with the installed tree.
        out.lockfile
            .annotate(i, "lock_extraneous_skipped", serde_json::Value::from(n));
    }
    if let Some(kind) = kind {
        out.lockfile.annotate(
            i,
            "lockfile_format",
            serde_json::Value::from(match kind {
                LockKind::Npm(v) => format!("npm v{v}"),
                LockKind::YarnClassic => "yarn v1".to_owned(),
                LockKind::YarnBerry => "yarn berry".to_owned(),
                LockKind::Pnpm => "pnpm".to_owned(),
            }),
        );
    }
}

/// pnpm refuses a frozen install when the lock was resolved with another `auto-install-peers`
/// (`ERR_PNPM_LOCKFILE_CONFIG_MISMATCH`): the setting decides which peers the lock holds.
fn pnpm_settings(
    npmrc: &Npmrc,
    locked: bool,
    rel: &str,
    lock_rel: &str,
    dir_rel: &str,
    out: &mut Outcome,
) {
    let (current, from) = match npmrc.flag("auto-install-peers") {
        Some(v) => (v, "in .npmrc"),
        None => (true, "by default"),
    };
    if current == locked {
        return;
    }
    out.lockfile.push(
        Problem::new(
            Severity::Error,
            "out_of_sync",
            "",
            rel,
            format!(
                "{lock_rel} was resolved with autoInstallPeers: {locked}, but auto-install-peers is {current} {from} — pnpm install --frozen-lockfile refuses it"
            ),
        )
        .with("wanted", Some(&current.to_string()))
        .with("found", Some(&locked.to_string()))
        .with("path", Some(lock_rel))
        .at(lock_rel, None)
        .fix(&format!(
            "{} and commit pnpm-lock.yaml",
            in_dir(dir_rel, "pnpm install --no-frozen-lockfile")
        )),
    );
}

/// What the walk needs besides the tree.
struct WalkOpts<'a> {
    /// The command that installs the tree (for fixes).
    install: &'a str,
    /// `NODE_ENV=production`: devDependencies are omitted on purpose.
    production: bool,
    /// Optional packages the lock restricts to other platforms.
    foreign: &'a std::collections::HashSet<String>,
    /// How many of those were (rightly) not installed.
    platform_skipped: std::cell::Cell<usize>,
    /// The lock does not record which packages are built for other platforms (yarn v1: yarn
    /// reads `os`/`cpu` from each package's registry manifest, which is not in the project), so
    /// a missing optional dependency may be one yarn skipped on purpose.
    platforms_unrecorded: bool,
    /// Whether the package manager fails on peer problems.
    peers: &'a PeerPolicy,
}

/// How the package manager that installs the tree treats an unmet peer dependency (missing or
/// out of range), from the project's `.npmrc`.
struct PeerPolicy {
    /// `Error` when the package manager refuses the tree, `Warning` when it only warns.
    severity: Severity,
    /// Why it is accepted, for the finding (empty when it is not).
    accepted: String,
}

impl PeerPolicy {
    fn of(kind: Option<LockKind>, npmrc: &Npmrc) -> PeerPolicy {
        let lenient = |accepted: &str| PeerPolicy {
            severity: Severity::Warning,
            accepted: accepted.to_owned(),
        };
        match kind {
            // pnpm resolves peers and only warns about unmet ones unless
            // strict-peer-dependencies is true (false by default since pnpm 8).
            Some(LockKind::Pnpm) => match npmrc.flag("strict-peer-dependencies") {
                Some(true) => PeerPolicy::strict(),
                Some(false) => {
                    lenient("; pnpm accepts it: strict-peer-dependencies=false in .npmrc")
                }
                None => lenient(
                    "; pnpm accepts it: strict-peer-dependencies is not set (false by default)",
                ),
            },
            // yarn v1 never installs peer dependencies and only warns about unmet ones, at
            // install time; `yarn check` passes such a tree.
            Some(LockKind::YarnClassic) => lenient(
                "; yarn v1 accepts it: it never installs peer dependencies and only warns about unmet ones",
            ),
            // npm with legacy-peer-deps neither installs peers nor refuses a tree for them
            // (`npm ci` succeeds; `npm ls` still lists them).
            Some(LockKind::Npm(_)) | None if npmrc.flag("legacy-peer-deps") == Some(true) => {
                lenient("; npm accepts it: legacy-peer-deps=true in .npmrc")
            }
            _ => PeerPolicy::strict(),
        }
    }

    fn strict() -> PeerPolicy {
        PeerPolicy {
            severity: Severity::Error,
            accepted: String::new(),
        }
    }
}

/// Resolve every edge reachable from the tops and report missing and invalid ones.
#[expect(
    clippy::too_many_arguments,
    reason = "one walk sharing the run's state"
)]
fn walk_tree(
    project: &Project,
    tree: &mut Tree,
    tops: &[Top],
    opts: &WalkOpts<'_>,
    out: &mut Outcome,
    covered: &mut HashSet<PathBuf>,
    visited: &mut HashSet<usize>,
    counts: (&mut usize, &mut usize),
) {
    let (edges, peer_edges) = counts;
    let (install, production) = (opts.install, opts.production);
    let top_of: HashMap<usize, &Top> = tops.iter().map(|t| (t.pkg, t)).collect();
    let root_pkg = tops.first().map(|t| t.pkg);
    let mut queue: Vec<usize> = tops.iter().map(|t| t.pkg).collect();
    visited.extend(queue.iter().copied());
    let mut reported_broken: HashSet<usize> = HashSet::new();
    while let Some(from) = queue.pop() {
        if crate::cancel::requested() {
            return;
        }
        let top = top_of.get(&from).copied();
        let deps: Vec<Dep> = if top.is_some() {
            tree.pkgs[from].manifest.deps(true)
        } else {
            tree.pkgs[from].manifest.take_deps()
        };
        // Only findings name the requiring package; most packages have none.
        let label_cell = OnceCell::new();
        let from_label = |tree: &Tree| -> String {
            label_cell
                .get_or_init(|| {
                    tree.pkgs[from].label(&match top {
                        Some(t) => t.rel.clone(),
                        None => project.relative(&tree.pkgs[from].dir),
                    })
                })
                .clone()
        };
        let from_rel = |tree: &Tree| -> String {
            match top {
                Some(t) => t.rel.clone(),
                None => project.relative(&tree.pkgs[from].dir.join("package.json")),
            }
        };
        for dep in deps {
            // The root's own peerDependencies describe how it is consumed, not what it needs
            // installed: check them when present, never require them.
            let kind = if dep.kind == DepKind::Peer && Some(from) == root_pkg {
                DepKind::PeerOptional
            } else {
                dep.kind
            };
            let spec = Spec::parse(&dep.spec);
            if let (Some(_), Spec::Presence("file" | "link")) = (top, &spec) {
                let target = dep
                    .spec
                    .trim_start_matches("file:")
                    .trim_start_matches("link:");
                // A local package is checked as part of the project using it, not as a
                // project of its own (its peers are the user's to provide).
                let base = tree.pkgs[from].dir.clone();
                covered.insert(base.join(target).join("package.json"));
                if let Ok(real) = fs::canonicalize(base.join(target)) {
                    covered.insert(real.join("package.json"));
                }
            }
            if kind.is_peer() {
                *peer_edges += 1;
            } else {
                *edges += 1;
            }
            // Only findings need a line; the index behind it is built on the first.
            let line = || top.and_then(|t| t.key_line(dep.kind.section(), &dep.name));
            let Some(found) = tree.resolve(from, &dep.name) else {
                let (acc, severity) = match kind {
                    DepKind::Dev if production => (&mut out.installed, Severity::Info),
                    DepKind::Prod | DepKind::Dev => (&mut out.installed, Severity::Error),
                    // The package manager skips optional packages built for other platforms
                    // on purpose (`@esbuild/darwin-arm64` on Linux): nothing to report, only
                    // counted in the evidence.
                    DepKind::Optional if opts.foreign.contains(&dep.name) => {
                        opts.platform_skipped.set(opts.platform_skipped.get() + 1);
                        continue;
                    }
                    DepKind::Optional if opts.platforms_unrecorded => {
                        (&mut out.installed, Severity::Info)
                    }
                    DepKind::Optional => (&mut out.installed, Severity::Warning),
                    DepKind::Peer => (&mut out.peers, opts.peers.severity),
                    DepKind::PeerOptional => continue,
                };
                let what = match kind {
                    DepKind::Optional => "optional dependency",
                    DepKind::Dev => "dev dependency",
                    DepKind::Peer | DepKind::PeerOptional => "peer dependency",
                    DepKind::Prod => "dependency",
                };
                let fine = if severity == Severity::Info && kind == DepKind::Optional {
                    "; yarn v1 skips optional packages built for other platforms and its lock \
                     does not record which, so this may be one (`yarn check` is silent about \
                     those and only warns about the others)"
                } else if severity == Severity::Info {
                    "; fine: NODE_ENV=production installs leave devDependencies out"
                } else if kind == DepKind::Peer {
                    // The installer leaves it out on purpose, so installing again cannot help.
                    opts.peers.accepted.as_str()
                } else {
                    ""
                };
                let (from_label, from_rel) = (from_label(tree), from_rel(tree));
                let problem = Problem::new(
                    severity,
                    "missing",
                    &dep.name,
                    &tops[0].rel,
                    format!(
                        "{}@{} is not installed ({what} of {from_label}{fine})",
                        dep.name, dep.spec
                    ),
                )
                .with("wanted", Some(&dep.spec))
                .with("required_by", Some(&from_label))
                .with("dependency_type", Some(dep.kind.section()))
                .at(&from_rel, line());
                // Nothing to fix in what is fine.
                acc.push(if fine.is_empty() {
                    problem.fix(install)
                } else {
                    problem
                });
                continue;
            };
            let pkg = &tree.pkgs[found.pkg];
            if let Some(why) = &pkg.broken {
                if reported_broken.insert(found.pkg) {
                    let from_label = from_label(tree);
                    let location = project.relative(&found.location);
                    out.installed.push(
                        Problem::new(
                            Severity::Error,
                            "broken",
                            &dep.name,
                            &tops[0].rel,
                            format!("{location} is installed but unreadable: {why}"),
                        )
                        .with("path", Some(&location))
                        .with("required_by", Some(&from_label))
                        .at(&format!("{location}/package.json"), None)
                        .fix(install),
                    );
                }
                continue;
            }
            let name = pkg.manifest.name.as_deref();
            let version = pkg.manifest.version.as_deref();
            if !spec.satisfied_by(name, version) {
                let acc = if kind.is_peer() {
                    &mut out.peers
                } else {
                    &mut out.conflicts
                };
                let found_label = match (name, version) {
                    (Some(n), Some(v)) if n != dep.name => format!("{n}@{v}"),
                    (_, Some(v)) => v.to_owned(),
                    (_, None) => "no version".to_owned(),
                };
                let (severity, accepted) = if kind.is_peer() {
                    (opts.peers.severity, opts.peers.accepted.as_str())
                } else {
                    (Severity::Error, "")
                };
                let (from_label, from_rel) = (from_label(tree), from_rel(tree));
                let location = project.relative(&found.location);
                let problem = Problem::new(
                    severity,
                    "invalid",
                    &dep.name,
                    &tops[0].rel,
                    format!(
                        "{} at {location} is {found_label}, but {from_label} wants {}{}{accepted}",
                        dep.name,
                        dep.spec,
                        if kind.is_peer() { " (peer)" } else { "" }
                    ),
                )
                .with("wanted", Some(&dep.spec))
                .with("found", version)
                .with("path", Some(&location))
                .with("required_by", Some(&from_label))
                .with("dependency_type", Some(dep.kind.section()))
                .at(&from_rel, line());
                // Reinstalling gives the same tree the package manager already accepted.
                acc.push(if accepted.is_empty() {
                    problem.fix(install)
                } else {
                    problem
                });
            }
            if visited.insert(found.pkg) {
                queue.push(found.pkg);
            }
        }
    }
}

/// npm and yarn link each workspace into the root `node_modules`; a missing link means the
/// install predates the workspace.
fn workspace_links(
    project: &Project,
    tree: &mut Tree,
    dir: &Path,
    tops: &[Top],
    install: &str,
    out: &mut Outcome,
) {
    for top in tops.iter().skip(1) {
        let Some(name) = tree.pkgs[top.pkg].manifest.name.clone() else {
            continue;
        };
        let link = dir.join("node_modules").join(&name);
        if fs::symlink_metadata(&link).is_err() {
            out.installed.push(
                Problem::new(
                    Severity::Error,
                    "missing",
                    &name,
                    &tops[0].rel,
                    format!(
                        "workspace {name} ({}) is not linked at {}",
                        top.rel,
                        project.relative(&link)
                    ),
                )
                .with("path", Some(&project.relative(&link)))
                .with("required_by", Some(&tops[0].rel))
                .with("dependency_type", Some("workspace"))
                .at(&top.rel, None)
                .fix(install),
            );
        }
    }
}

/// Installed packages nothing depends on (`npm ls`: extraneous).
/// `physical` is every package directory installed under the root and the workspaces
/// ([`Tree::installed_under`]).
fn extraneous(
    project: &Project,
    tree: &mut Tree,
    physical: Vec<(PathBuf, bool)>,
    visited: &HashSet<usize>,
    install: &str,
    rel: &str,
    out: &mut Outcome,
) {
    for (location, is_link) in physical {
        let dir = if is_link {
            let Some(target) = tree.link_target(&location) else {
                continue;
            };
            target
        } else {
            location.clone()
        };
        if tree.at(&dir).is_some_and(|i| visited.contains(&i)) {
            continue;
        }
        let pkg = tree.load(&location, is_link);
        let label = tree.pkgs[pkg].label("?");
        let path = project.relative(&location);
        out.lockfile.push(
            Problem::new(
                Severity::Warning,
                "extraneous",
                tree.pkgs[pkg].manifest.name.as_deref().unwrap_or(&path),
                rel,
                format!("{label} at {path} is installed but nothing depends on it (extraneous)"),
            )
            .with("found", tree.pkgs[pkg].manifest.version.as_deref())
            .with("path", Some(&path))
            .at(&path, None)
            .fix(install),
        );
    }
}

/// Every package.json in sync with what the lock recorded for it. Returns entries checked.
#[expect(
    clippy::too_many_arguments,
    reason = "one comparison sharing the run's state"
)]
fn sync(
    project: &Project,
    tree: &Tree,
    tops: &[Top],
    lock: &NodeLock,
    kind: LockKind,
    lock_rel: &str,
    dir_rel: &str,
    out: &mut Outcome,
) -> usize {
    let _ = project;
    let relock = format!(
        "{} and commit {}",
        in_dir(dir_rel, kind.relock()),
        Path::new(lock_rel)
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    let mut checked = 0;
    for top in tops {
        let deps = tree.pkgs[top.pkg].manifest.deps(true);
        let label = tree.pkgs[top.pkg].label(&top.rel);
        let recorded = lock.importers.as_ref().map(|i| i.get(&top.key));
        let mut problem = |dep: Option<&Dep>, name: &str, message: String, locked: Option<&str>| {
            let line = dep.and_then(|d| top.key_line(d.kind.section(), name));
            out.lockfile.push(
                Problem::new(Severity::Error, "out_of_sync", name, &top.rel, message)
                    .with("wanted", dep.map(|d| d.spec.as_str()))
                    .with("found", locked)
                    .with("path", Some(lock_rel))
                    .with("required_by", Some(&label))
                    .at(&top.rel, line)
                    .fix(&relock),
            );
        };
        for dep in &deps {
            if top.key.is_empty() && dep.kind.is_peer() && recorded.is_none() {
                continue;
            }
            checked += 1;
            match kind {
                LockKind::YarnClassic => {
                    let descriptor = format!("{}@{}", dep.name, dep.spec);
                    if !dep.kind.is_peer() && !lock.descriptors.contains(&descriptor) {
                        problem(
                            Some(dep),
                            &dep.name,
                            format!(
                                "{} asks for {descriptor}, which {lock_rel} does not resolve (package.json changed after locking)",
                                top.rel
                            ),
                            None,
                        );
                    }
                }
                LockKind::YarnBerry | LockKind::Pnpm => {
                    let Some(Some(recorded)) = recorded else {
                        problem(
                            Some(dep),
                            &dep.name,
                            format!("{lock_rel} has no entry for {}", top.rel),
                            None,
                        );
                        break;
                    };
                    let wanted = if kind == LockKind::YarnBerry {
                        node_lock::berry_spec(&dep.spec)
                    } else {
                        dep.spec.clone()
                    };
                    match recorded.get(&dep.name) {
                        Some(spec) if *spec == wanted => {}
                        // pnpm does not record peers of the importer itself.
                        None if kind == LockKind::Pnpm && dep.kind.is_peer() => {}
                        other => problem(
                            Some(dep),
                            &dep.name,
                            format!(
                                "{} wants {}@{}, {lock_rel} was locked with {} (package.json changed after locking)",
                                top.rel,
                                dep.name,
                                dep.spec,
                                other.map_or_else(
                                    || "no such dependency".to_owned(),
                                    |s| format!("{s:?}")
                                )
                            ),
                            other.map(String::as_str),
                        ),
                    }
                }
                LockKind::Npm(_) => {
                    let locked_at = |name: &str| -> Option<&node_lock::Locked> {
                        let own = if top.key.is_empty() {
                            format!("node_modules/{name}")
                        } else {
                            format!("{}/node_modules/{name}", top.key)
                        };
                        lock.locations
                            .get(&own)
                            .or_else(|| lock.locations.get(&format!("node_modules/{name}")))
                    };
                    let spec = Spec::parse(&dep.spec);
                    let locked = locked_at(&dep.name);
                    let satisfied = locked.is_some_and(|l| {
                        l.link || spec.satisfied_by(l.name.as_deref(), l.version.as_deref())
                    });
                    let recorded_spec = recorded.and_then(|r| r.and_then(|m| m.get(&dep.name)));
                    let declared_in_lock = match recorded {
                        None => true,
                        Some(None) => false,
                        Some(Some(_)) => recorded_spec.is_some(),
                    };
                    if dep.kind == DepKind::PeerOptional && locked.is_none() {
                        continue;
                    }
                    if !declared_in_lock
                        || (!satisfied && (dep.kind != DepKind::Optional || locked.is_some()))
                    {
                        let locked_version = locked.and_then(|l| l.version.as_deref());
                        problem(
                            Some(dep),
                            &dep.name,
                            match (declared_in_lock, locked_version) {
                                (false, _) => format!(
                                    "{} declares {}@{}, which {lock_rel} does not record (package.json changed after locking)",
                                    top.rel, dep.name, dep.spec
                                ),
                                (true, Some(v)) => format!(
                                    "{} wants {}@{}, {lock_rel} locks {v} (package.json changed after locking)",
                                    top.rel, dep.name, dep.spec
                                ),
                                (true, None) => format!(
                                    "{} declares {}@{}, which {lock_rel} does not lock",
                                    top.rel, dep.name, dep.spec
                                ),
                            },
                            locked_version,
                        );
                    }
                }
            }
        }
        // Dependencies the lock recorded that package.json no longer declares.
        if let Some(Some(recorded)) = recorded {
            let declared: HashSet<&str> = deps.iter().map(|d| d.name.as_str()).collect();
            let mut stale: Vec<&String> = recorded
                .keys()
                .filter(|n| !declared.contains(n.as_str()))
                .collect();
            stale.sort();
            for name in stale {
                problem(
                    None,
                    name,
                    format!(
                        "{lock_rel} still records {name} for {}, which no longer declares it (package.json changed after locking)",
                        top.rel
                    ),
                    recorded.get(name).map(String::as_str),
                );
            }
        }
    }
    checked
}

/// The installed tree holds what the lock says. Returns entries checked.
#[expect(
    clippy::too_many_arguments,
    reason = "one comparison sharing the run's state"
)]
fn installed_matches_lock(
    project: &Project,
    tree: &mut Tree,
    dir: &Path,
    visited: &HashSet<usize>,
    lock: &NodeLock,
    kind: LockKind,
    lock_rel: &str,
    dir_rel: &str,
    out: &mut Outcome,
) -> usize {
    let install = in_dir(dir_rel, kind.install());
    let manifest = project.relative(&dir.join("package.json"));
    let production = project.env.get("NODE_ENV").as_deref() == Some("production");
    let mut checked = 0;
    let mut mismatch =
        |package: &str, path: &str, message: String, wanted: Option<&str>, found: Option<&str>| {
            out.lockfile.push(
                Problem::new(
                    Severity::Error,
                    "differs_from_lock",
                    package,
                    &manifest,
                    message,
                )
                .with("wanted", wanted)
                .with("found", found)
                .with("path", Some(path))
                .at(lock_rel, None)
                .fix(&install),
            );
        };
    if !dir.join("node_modules").is_dir() {
        // Nothing installed: packages_installed already says so, entry by entry.
        return 0;
    }
    match kind {
        LockKind::Npm(_) => {
            for (key, locked) in &lock.locations {
                checked += 1;
                let location = super::node_tree::join(dir, key);
                // The listings the walk read answer for every installed entry; only what they
                // do not show costs an `lstat`.
                let is_link = tree.listed(&location).or_else(|| {
                    fs::symlink_metadata(&location)
                        .ok()
                        .map(|m| m.file_type().is_symlink())
                });
                let Some(is_link) = is_link else {
                    if !locked.optional && (!locked.dev || !production) {
                        mismatch(
                            key.rsplit("node_modules/").next().unwrap_or(key),
                            key,
                            format!(
                                "{lock_rel} locks {key}@{} but it is not installed",
                                locked.version.as_deref().unwrap_or("?")
                            ),
                            locked.version.as_deref(),
                            None,
                        );
                    }
                    continue;
                };
                let name = key.rsplit("node_modules/").next().unwrap_or(key);
                if locked.link {
                    if !is_link {
                        mismatch(
                            name,
                            key,
                            format!(
                                "{lock_rel} links {key} to a local folder, but a copy is installed there"
                            ),
                            None,
                            None,
                        );
                    }
                    continue;
                }
                let pkg = tree.load(&location, is_link);
                let installed = tree.pkgs[pkg].manifest.version.clone();
                if installed.is_some() && installed != locked.version {
                    mismatch(
                        name,
                        key,
                        format!(
                            "{key} is {} but {lock_rel} locks {}",
                            installed.as_deref().unwrap_or("?"),
                            locked.version.as_deref().unwrap_or("?")
                        ),
                        locked.version.as_deref(),
                        installed.as_deref(),
                    );
                }
            }
        }
        LockKind::YarnClassic | LockKind::YarnBerry | LockKind::Pnpm => {
            let mut seen: Vec<usize> = visited.iter().copied().collect();
            seen.sort_unstable();
            for pkg in seen {
                let p = &tree.pkgs[pkg];
                // Only installed packages, not the project's own folders.
                if !p.dir.components().any(|c| c.as_os_str() == "node_modules") {
                    continue;
                }
                let (Some(name), Some(version)) = (&p.manifest.name, &p.manifest.version) else {
                    continue;
                };
                checked += 1;
                let locked = lock.versions.get(name);
                // Local (`file:`, `link:`) packages are locked by path, not version.
                if locked.is_some_and(|v| v.iter().any(|x| x.contains(':'))) {
                    continue;
                }
                if !locked.is_some_and(|v| v.contains(version)) {
                    let path = project.relative(&p.dir);
                    let mut versions: Vec<&String> =
                        locked.map(|v| v.iter().collect()).unwrap_or_default();
                    versions.sort();
                    let versions: Vec<&str> = versions.iter().map(|s| s.as_str()).collect();
                    mismatch(
                        name,
                        &path,
                        format!(
                            "{name}@{version} is installed but {lock_rel} locks {}",
                            if versions.is_empty() {
                                "no version of it".to_owned()
                            } else {
                                versions.join(", ")
                            }
                        ),
                        versions.first().copied(),
                        Some(version),
                    );
                }
            }
        }
    }
    checked
}

/// Workspace globs from pnpm-workspace.yaml (`packages:`), if present.
pub(crate) fn pnpm_workspaces(dir: &Path) -> Vec<String> {
    #[derive(serde::Deserialize, Default)]
    struct Ws {
        #[serde(default)]
        packages: Vec<String>,
    }
    let Some(text) = read::optional_text(&dir.join("pnpm-workspace.yaml")) else {
        return Vec::new();
    };
    serde_saphyr::from_str::<Ws>(&text)
        .map(|w| w.packages)
        .unwrap_or_default()
}

/// Directories matched by workspace patterns that hold a package.json; `!pattern` excludes.
pub(crate) fn expand_workspaces(dir: &Path, patterns: &[String]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut excluded: Vec<PathBuf> = Vec::new();
    for pattern in patterns {
        match pattern.strip_prefix('!') {
            Some(p) => excluded.extend(expand(dir, p, "")),
            None => out.extend(expand(dir, pattern, "package.json")),
        }
    }
    out.retain(|d| !excluded.contains(d) && d != dir);
    out.sort();
    out.dedup();
    out
}

/// Directories under `dir` matched by one workspace pattern (`packages/*`, `apps/**`, `app-*`,
/// exact paths: `*` within a segment, `**` any depth up to 4) that contain `marker` (any
/// directory when `marker` is empty). Shared by npm/yarn/pnpm workspaces and Cargo members.
pub(crate) fn expand(dir: &Path, pattern: &str, marker: &str) -> Vec<PathBuf> {
    let pattern = pattern.trim_start_matches("./").trim_end_matches('/');
    let mut current = vec![dir.to_path_buf()];
    for segment in pattern.split('/') {
        let mut next = Vec::new();
        for base in &current {
            if segment == "**" {
                let mut stack = vec![(base.clone(), 0)];
                while let Some((d, depth)) = stack.pop() {
                    next.push(d.clone());
                    if depth < 4 {
                        for sub in subdirs(&d) {
                            stack.push((sub, depth + 1));
                        }
                    }
                }
            } else if segment.contains('*') {
                for sub in subdirs(base) {
                    let name = sub.file_name().map(|n| n.to_string_lossy().into_owned());
                    if name.is_some_and(|n| glob_match(segment, &n)) {
                        next.push(sub);
                    }
                }
            } else {
                next.push(base.join(segment));
            }
        }
        current = next;
    }
    current
        .into_iter()
        .filter(|d| {
            if marker.is_empty() {
                d.is_dir()
            } else {
                d.join(marker).is_file()
            }
        })
        .collect()
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name != "node_modules"
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// `*` matches any run of characters within one path segment.
fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(at) = rest.find(part) {
            rest = &rest[at + part.len()..];
        } else {
            return false;
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_segments() {
        assert!(glob_match("*", "web"));
        assert!(glob_match("app-*", "app-web"));
        assert!(!glob_match("app-*", "lib-web"));
        assert!(glob_match("*-svc", "api-svc"));
    }
}
