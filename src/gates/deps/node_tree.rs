//! The installed `node_modules` tree, resolved the way Node resolves `require`: from the
//! requiring package's real directory, `node_modules/NAME` in it and then in each parent
//! directory. Symlinks (workspaces, `file:`/`link:` dependencies, pnpm's `.pnpm` store) are
//! followed to their real directory, and resolution continues from there — which is what makes
//! pnpm's layout work, with one rule of pnpm's own: a package in its `.pnpm` store sees only the
//! dependencies linked beside it, not the hidden hoist above.
//!
//! Each directory listing and each package.json is read at most once.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

// Path and index maps are hot (one entry per installed package); foldhash is several times
// faster than the default SipHash there, and nothing here needs DoS-resistant hashing.
use foldhash::{HashMap, HashSet, HashSetExt};
use serde::Deserialize;
use serde_json::Value;

use super::{lenient, read};

/// Walking up from a package never takes more steps than this (symlink targets far outside the
/// project could otherwise walk to `/`, which is harmless, but bounded is better).
const MAX_UP: usize = 64;

/// The dependency maps of a package.json that resolution needs. Maps whose JSON is not an object
/// of strings (old packages have `"dependencies": []`) are read as empty, as npm does.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Manifest {
    #[serde(deserialize_with = "lenient::string")]
    pub(crate) name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub(crate) version: Option<String>,
    #[serde(deserialize_with = "lenient::string_map")]
    pub(crate) dependencies: Vec<(String, String)>,
    #[serde(rename = "devDependencies", deserialize_with = "lenient::string_map")]
    pub(crate) dev_dependencies: Vec<(String, String)>,
    #[serde(
        rename = "optionalDependencies",
        deserialize_with = "lenient::string_map"
    )]
    pub(crate) optional_dependencies: Vec<(String, String)>,
    #[serde(rename = "peerDependencies", deserialize_with = "lenient::string_map")]
    pub(crate) peer_dependencies: Vec<(String, String)>,
    #[serde(
        rename = "peerDependenciesMeta",
        deserialize_with = "lenient::optional_peers"
    )]
    pub(crate) optional_peers: Vec<String>,
    /// `workspaces` as an array or as `{ "packages": [...] }`.
    #[serde(deserialize_with = "lenient_workspaces")]
    pub(crate) workspaces: Vec<String>,
}

fn lenient_workspaces<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let value = Value::deserialize(d)?;
    Ok(match &value {
        Value::Array(_) => strings(&value),
        Value::Object(map) => map.get("packages").map(strings).unwrap_or_default(),
        _ => Vec::new(),
    })
}

/// What resolution reads from an *installed* package's package.json: [`Manifest`] without
/// `devDependencies` and `workspaces`, which npm never follows below the project's own
/// packages (those are read as [`Manifest`]). Installed packages often declare dozens of
/// devDependencies; they are skipped by the parser, never collected.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Installed {
    #[serde(deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    version: Option<String>,
    #[serde(deserialize_with = "lenient::string_map")]
    dependencies: Vec<(String, String)>,
    #[serde(
        rename = "optionalDependencies",
        deserialize_with = "lenient::string_map"
    )]
    optional_dependencies: Vec<(String, String)>,
    #[serde(rename = "peerDependencies", deserialize_with = "lenient::string_map")]
    peer_dependencies: Vec<(String, String)>,
    #[serde(
        rename = "peerDependenciesMeta",
        deserialize_with = "lenient::optional_peers"
    )]
    optional_peers: Vec<String>,
}

impl From<Installed> for Manifest {
    fn from(i: Installed) -> Manifest {
        Manifest {
            name: i.name,
            version: i.version,
            dependencies: i.dependencies,
            dev_dependencies: Vec::new(),
            optional_dependencies: i.optional_dependencies,
            peer_dependencies: i.peer_dependencies,
            optional_peers: i.optional_peers,
            workspaces: Vec::new(),
        }
    }
}

/// Read `dir/package.json` of an installed package: the manifest, or why it could not be read.
fn read_manifest(dir: &Path) -> (Manifest, Option<String>) {
    thread_local! {
        /// One read buffer per reading thread, reused for every package.json it reads.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let file = dir.join("package.json");
    BUF.with_borrow_mut(|buf| {
        match read::bytes_into("package.json", &file, read::MAX_INSTALLED_BYTES, buf) {
            Ok(()) => match serde_json::from_slice::<Installed>(buf) {
                Ok(m) => (m.into(), None),
                Err(e) => (
                    Manifest::default(),
                    Some(format!("invalid package.json: {e}")),
                ),
            },
            Err(e) => (Manifest::default(), Some(e.message)),
        }
    })
}

/// How a dependency is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DepKind {
    Prod,
    Dev,
    Optional,
    Peer,
    PeerOptional,
}

impl DepKind {
    pub(crate) fn section(self) -> &'static str {
        match self {
            DepKind::Prod => "dependencies",
            DepKind::Dev => "devDependencies",
            DepKind::Optional => "optionalDependencies",
            DepKind::Peer | DepKind::PeerOptional => "peerDependencies",
        }
    }

    pub(crate) fn is_peer(self) -> bool {
        matches!(self, DepKind::Peer | DepKind::PeerOptional)
    }
}

/// One declared dependency.
#[derive(Debug, Clone)]
pub(crate) struct Dep {
    pub(crate) name: String,
    pub(crate) spec: String,
    pub(crate) kind: DepKind,
}

impl Manifest {
    /// The edges npm follows from a package: for the root and workspaces (`top`) also
    /// devDependencies. An optional dependency overrides a regular one of the same name, and a
    /// regular dependency wins over a peer of the same name, as in npm.
    pub(crate) fn deps(&self, top: bool) -> Vec<Dep> {
        let dev: &[(String, String)] = if top { &self.dev_dependencies } else { &[] };
        let lists: [(&[(String, String)], DepKind); 4] = [
            (&self.optional_dependencies, DepKind::Optional),
            (&self.dependencies, DepKind::Prod),
            (dev, DepKind::Dev),
            (&self.peer_dependencies, DepKind::Peer),
        ];
        let total = lists.iter().map(|(l, _)| l.len()).sum();
        let mut out: Vec<Dep> = Vec::with_capacity(total);
        let mut seen: HashSet<&str> = HashSet::with_capacity(total);
        for (list, kind) in lists {
            for (name, spec) in list {
                if seen.insert(name.as_str()) {
                    let kind = if kind == DepKind::Peer && self.optional_peers.contains(name) {
                        DepKind::PeerOptional
                    } else {
                        kind
                    };
                    out.push(Dep {
                        name: name.clone(),
                        spec: spec.clone(),
                        kind,
                    });
                }
            }
        }
        out
    }
}

/// One package directory of the tree.
#[derive(Debug)]
pub(crate) struct Pkg {
    /// Real (symlink-free) directory.
    pub(crate) dir: PathBuf,
    pub(crate) manifest: Manifest,
    /// Why its package.json could not be read, when it could not.
    pub(crate) broken: Option<String>,
}

impl Pkg {
    /// `name@version` as npm prints it; `fallback` (e.g. the manifest path) for a package
    /// without a name.
    pub(crate) fn label(&self, fallback: &str) -> String {
        match (&self.manifest.name, &self.manifest.version) {
            (Some(name), Some(version)) => format!("{name}@{version}"),
            (Some(name), None) => name.clone(),
            (None, _) => fallback.to_owned(),
        }
    }
}

/// Entries of one `node_modules` (or `node_modules/@scope`) directory: name → is a symlink.
type Listing = Rc<HashMap<String, bool>>;

/// The loaded part of the tree, grown on demand as dependencies are resolved.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub(crate) pkgs: Vec<Pkg>,
    // The path maps are keyed by the path's bytes (`OsString`), not by `PathBuf`: a `Path`
    // hashes and compares component by component, which was a tenth of the walk's time, and
    // every path here is built the same way (a real directory joined with listed names), so
    // equal paths have equal bytes.
    by_dir: HashMap<OsString, usize>,
    listings: HashMap<OsString, Option<Listing>>,
    /// Real (symlink-free) forms of directories below `stop`, found from the cached listings.
    reals: HashMap<OsString, PathBuf>,
    /// Resolution does not look above this directory (the project's Node root), as npm's tree
    /// ends there too.
    stop: PathBuf,
}

/// Where a resolved dependency was found.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The package index.
    pub(crate) pkg: usize,
    /// The location it was found at (may be a symlink), e.g. `/app/node_modules/react`.
    pub(crate) location: PathBuf,
}

impl Tree {
    pub(crate) fn new(stop: PathBuf) -> Tree {
        Tree {
            stop,
            ..Tree::default()
        }
    }

    /// Add a package whose manifest was already read (the root, workspaces).
    pub(crate) fn add(&mut self, dir: PathBuf, manifest: Manifest) -> usize {
        if let Some(&i) = self.by_dir.get(dir.as_os_str()) {
            return i;
        }
        self.pkgs.push(Pkg {
            dir: dir.clone(),
            manifest,
            broken: None,
        });
        self.by_dir
            .insert(dir.into_os_string(), self.pkgs.len() - 1);
        self.pkgs.len() - 1
    }

    /// The package at real directory `dir`, if loaded.
    pub(crate) fn at(&self, dir: &Path) -> Option<usize> {
        self.by_dir.get(dir.as_os_str()).copied()
    }

    fn listing(&mut self, dir: &Path) -> Option<Listing> {
        if let Some(cached) = self.listings.get(dir.as_os_str()) {
            return cached.clone();
        }
        let listing = fs::read_dir(dir).ok().map(|entries| {
            let map: HashMap<String, bool> = entries
                .flatten()
                .filter_map(|e| {
                    let kind = e.file_type().ok()?;
                    let name = e.file_name().into_string().ok()?;
                    (kind.is_dir() || kind.is_symlink()).then_some((name, kind.is_symlink()))
                })
                .collect();
            Rc::new(map)
        });
        self.listings
            .insert(dir.as_os_str().to_owned(), listing.clone());
        listing
    }

    /// Whether `node_modules_dir/name` exists, and whether it is a symlink.
    fn entry(&mut self, node_modules_dir: &Path, name: &str) -> Option<bool> {
        match name.split_once('/') {
            Some((scope, rest)) if scope.starts_with('@') => {
                let scope_dir = node_modules_dir.join(scope);
                self.listing(node_modules_dir)?.get(scope)?;
                self.listing(&scope_dir)?.get(rest).copied()
            }
            _ => self.listing(node_modules_dir)?.get(name).copied(),
        }
    }

    /// Whether `location` (`…/node_modules/NAME` or `…/node_modules/@scope/NAME`) is a
    /// symlink, from its directory's cached listing; None when the listing does not show it as
    /// a directory or symlink (absent, a file, not listable) — the caller then asks the kernel.
    pub(crate) fn listed(&mut self, location: &Path) -> Option<bool> {
        let name = location.file_name()?.to_str()?;
        let parent = location.parent()?;
        self.listing(parent)?.get(name).copied()
    }

    /// Resolve `name` as `require` would from package `from`.
    pub(crate) fn resolve(&mut self, from: usize, name: &str) -> Option<Found> {
        let start = self.pkgs.get(from)?.dir.clone();
        let inside = start.starts_with(&self.stop);
        let mut dir: Option<&Path> = Some(&start);
        let mut steps = 0;
        while let Some(d) = dir {
            steps += 1;
            if steps > MAX_UP {
                break;
            }
            if d.file_name().is_none_or(|n| n != "node_modules") {
                let node_modules = d.join("node_modules");
                if let Some(is_link) = self.entry(&node_modules, name) {
                    let location = node_modules.join(name);
                    let pkg = self.load(&location, is_link);
                    return Some(Found { pkg, location });
                }
            }
            // Byte equality: `d` is `start` cut at a separator and `stop` is its real prefix
            // (a `Path` comparison would walk both component by component).
            if inside && d.as_os_str() == self.stop.as_os_str() {
                break;
            }
            // pnpm's virtual store: a package in `.pnpm/<key>/node_modules/<name>` gets exactly
            // the dependencies pnpm resolved for it, linked beside it in
            // `.pnpm/<key>/node_modules`. Walking further would reach the hidden hoist
            // (`.pnpm/node_modules`, every package of the store) and then the project's own
            // dependencies, and find packages pnpm did not resolve for it — an optional peer
            // another package happens to depend on — which `pnpm ls` does not count.
            if d.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == ".pnpm")
            {
                break;
            }
            dir = d.parent();
        }
        None
    }

    /// The real form of `path`, a directory at or below the project's Node root: each component
    /// is taken from its parent's cached listing when that says it is a directory and not a
    /// symlink, so a path costs no system call beyond the listings resolution reads anyway;
    /// anything else (a symlink, a file, a path outside the root, `..`) asks the kernel
    /// (`realpath`). None when the path does not resolve.
    fn real(&mut self, path: &Path) -> Option<PathBuf> {
        if path == self.stop {
            return Some(self.stop.clone());
        }
        if let Some(real) = self.reals.get(path.as_os_str()) {
            return Some(real.clone());
        }
        let listed = match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
            (Some(parent), Some(name)) if path.starts_with(&self.stop) => match self.real(parent) {
                Some(real_parent) => {
                    let is_real_dir = self
                        .listing(&real_parent)
                        .is_some_and(|l| l.get(name) == Some(&false));
                    is_real_dir.then(|| real_parent.join(name))
                }
                None => return None,
            },
            _ => None,
        };
        let real = match listed {
            Some(real) => real,
            None => fs::canonicalize(path).ok()?,
        };
        self.reals.insert(path.as_os_str().to_owned(), real.clone());
        self.reals.insert(real.as_os_str().to_owned(), real.clone());
        Some(real)
    }

    /// The real directory the symlink at `location` points to. pnpm links every dependency
    /// (`.pnpm/a@1/node_modules/b -> ../../b@2/node_modules/b`): one `readlink`, its text applied
    /// to the link's real directory component by component ([`Tree::real`]), instead of a
    /// `realpath` of the whole path per dependency edge.
    pub(crate) fn link_target(&mut self, location: &Path) -> Option<PathBuf> {
        use std::path::Component;
        let text = fs::read_link(location).ok();
        let (Some(text), Some(parent)) = (text, location.parent()) else {
            return fs::canonicalize(location).ok();
        };
        if !text.is_relative() {
            return fs::canonicalize(location).ok();
        }
        let mut real = self.real(parent)?;
        for component in text.components() {
            match component {
                Component::CurDir => {}
                Component::ParentDir => {
                    real.pop();
                }
                Component::Normal(name) => {
                    real.push(name);
                    real = self.real(&real)?;
                }
                Component::RootDir | Component::Prefix(_) => {
                    return fs::canonicalize(location).ok();
                }
            }
        }
        Some(real)
    }

    /// Load the package at `location` (following a symlink to its real directory).
    pub(crate) fn load(&mut self, location: &Path, is_link: bool) -> usize {
        let target;
        let dir: &Path = if is_link {
            target = self
                .link_target(location)
                .unwrap_or_else(|| location.to_owned());
            &target
        } else {
            location
        };
        if let Some(&i) = self.by_dir.get(dir.as_os_str()) {
            return i;
        }
        let (manifest, broken) = read_manifest(dir);
        self.pkgs.push(Pkg {
            dir: dir.to_owned(),
            manifest,
            broken,
        });
        self.by_dir
            .insert(dir.as_os_str().to_owned(), self.pkgs.len() - 1);
        self.pkgs.len() - 1
    }

    /// Read the package.json of every (non-symlink) location in `locations` not loaded yet,
    /// on a few threads: on a 600-package tree this file reading is most of the gate's time.
    pub(crate) fn preload(&mut self, locations: &[(PathBuf, bool)]) {
        let todo: Vec<&PathBuf> = locations
            .iter()
            .filter(|(loc, is_link)| !is_link && !self.by_dir.contains_key(loc.as_os_str()))
            .map(|(loc, _)| loc)
            .collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 4);
        let chunk = todo.len().div_ceil(threads).max(1);
        let read_part = |part: &[&PathBuf]| -> Vec<(PathBuf, Manifest, Option<String>)> {
            part.iter()
                .take_while(|_| !crate::cancel::requested())
                .map(|dir| {
                    let (m, broken) = read_manifest(dir);
                    ((*dir).clone(), m, broken)
                })
                .collect()
        };
        let loaded: Vec<Vec<(PathBuf, Manifest, Option<String>)>> = std::thread::scope(|s| {
            let mut parts = todo.chunks(chunk);
            let first = parts.next().unwrap_or_default();
            let handles: Vec<_> = parts.map(|part| s.spawn(move || read_part(part))).collect();
            // This thread reads the first part itself.
            let mut loaded = vec![read_part(first)];
            // A panicking reader thread loses its part, which is then read lazily.
            loaded.extend(handles.into_iter().filter_map(|h| h.join().ok()));
            loaded
        });
        let count: usize = loaded.iter().map(Vec::len).sum();
        self.pkgs.reserve(count);
        self.by_dir.reserve(count);
        for (dir, manifest, broken) in loaded.into_iter().flatten() {
            if self.by_dir.contains_key(dir.as_os_str()) {
                continue;
            }
            self.pkgs.push(Pkg {
                dir: dir.clone(),
                manifest,
                broken,
            });
            self.by_dir
                .insert(dir.into_os_string(), self.pkgs.len() - 1);
        }
    }

    /// Every package directory of pnpm's store under `dir/node_modules/.pnpm`, as (location,
    /// false): the one real (not linked) package in each `.pnpm/<key>/node_modules`. These
    /// listings are the ones resolution reads anyway (a store package's dependencies are the
    /// links beside it); collecting the packages here lets [`Tree::preload`] read their
    /// package.json files on several threads. Packages nothing resolves to are read but never
    /// looked at.
    pub(crate) fn store_under(&mut self, dir: &Path, out: &mut Vec<(PathBuf, bool)>) {
        let store = dir.join("node_modules/.pnpm");
        let is_store = self
            .listing(&dir.join("node_modules"))
            .is_some_and(|l| l.get(".pnpm") == Some(&false));
        let Some(listing) = is_store.then(|| self.listing(&store)).flatten() else {
            return;
        };
        let mut keys: Vec<&String> = listing
            .iter()
            .filter(|(name, is_link)| {
                !**is_link && !name.starts_with('.') && *name != "node_modules"
            })
            .map(|(name, _)| name)
            .collect();
        keys.sort();
        for key in keys {
            if crate::cancel::requested() {
                return;
            }
            let nm = store.join(key).join("node_modules");
            let Some(listing) = self.listing(&nm) else {
                continue;
            };
            // Sorted, so package indices (and the order of findings) do not depend on the
            // hash map's.
            let mut names: Vec<(&String, &bool)> = listing.iter().collect();
            names.sort();
            for (name, &is_link) in names {
                if is_link || name.starts_with('.') {
                    continue;
                }
                if name.starts_with('@') {
                    let scope_dir = nm.join(name);
                    if let Some(scoped) = self.listing(&scope_dir) {
                        let mut inner: Vec<&String> = scoped
                            .iter()
                            .filter(|(_, link)| !**link)
                            .map(|(sub, _)| sub)
                            .collect();
                        inner.sort();
                        out.extend(inner.into_iter().map(|sub| (scope_dir.join(sub), false)));
                    }
                } else {
                    out.push((nm.join(name), false));
                }
            }
        }
    }

    /// Every package directory physically installed under `dir/node_modules`, recursively
    /// (nested `node_modules` of each), as (location, is symlink). Hidden entries (`.bin`,
    /// `.pnpm`, `.cache`) are not packages. Each real `node_modules` directory is listed once,
    /// by (device, inode): a symlink cycle (`a/node_modules -> ..`) ends the descent instead
    /// of unrolling it into 2^depth paths.
    pub(crate) fn installed_under(&mut self, dir: &Path, out: &mut Vec<(PathBuf, bool)>) {
        use std::os::unix::fs::MetadataExt;
        let mut stack = vec![dir.join("node_modules")];
        let mut seen: HashSet<(u64, u64)> = HashSet::new();
        let mut guard = 0usize;
        while let Some(nm) = stack.pop() {
            guard += 1;
            if guard > 100_000 || crate::cancel::requested() {
                break;
            }
            match fs::metadata(&nm) {
                Ok(meta) if seen.insert((meta.dev(), meta.ino())) => {}
                Ok(_) => continue,
                Err(_) => {
                    // Most packages have no node_modules of their own: remember that, so
                    // resolution from them does not ask the kernel again.
                    self.listings.entry(nm.into_os_string()).or_insert(None);
                    continue;
                }
            }
            let Some(listing) = self.listing(&nm) else {
                continue;
            };
            let mut names: Vec<(&String, &bool)> = listing.iter().collect();
            names.sort();
            for (name, &is_link) in names {
                if name.starts_with('.') {
                    continue;
                }
                if name.starts_with('@') && !is_link {
                    let scope_dir = nm.join(name);
                    if let Some(scoped) = self.listing(&scope_dir) {
                        let mut inner: Vec<(&String, &bool)> = scoped.iter().collect();
                        inner.sort();
                        for (sub, &sub_link) in inner {
                            let loc = scope_dir.join(sub);
                            if !sub_link {
                                stack.push(loc.join("node_modules"));
                            }
                            out.push((loc, sub_link));
                        }
                    }
                    continue;
                }
                let loc = nm.join(name);
                if !is_link {
                    stack.push(loc.join("node_modules"));
                }
                out.push((loc, is_link));
            }
        }
    }
}
