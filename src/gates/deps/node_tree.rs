//! The installed `node_modules` tree, resolved the way Node resolves `require`: from the
//! requiring package's real directory, `node_modules/NAME` in it and then in each parent
//! directory. Symlinks (workspaces, `file:`/`link:` dependencies, pnpm's `.pnpm` store) are
//! followed to their real directory, and resolution continues from there — which is what makes
//! pnpm's layout work, with one rule of pnpm's own: a package in its `.pnpm` store sees only the
//! dependencies linked beside it, not the hidden hoist above.
//!
//! Each directory listing and each package.json is read at most once.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
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
    let file = join(dir, "package.json");
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

impl Manifest {
    /// [`Manifest::deps`] of an installed package (`top` false), its maps moved into the edges
    /// instead of copied, leaving them empty: the walk follows each installed package once and
    /// nothing reads its maps again. Most packages fill only `dependencies`; with more than one
    /// map filled, a name may be in two, and the copying rule above decides.
    pub(crate) fn take_deps(&mut self) -> Vec<Dep> {
        let filled = [
            &self.optional_dependencies,
            &self.dependencies,
            &self.peer_dependencies,
        ]
        .iter()
        .filter(|l| !l.is_empty())
        .count();
        if filled > 1 {
            let deps = self.deps(false);
            self.optional_dependencies.clear();
            self.dependencies.clear();
            self.peer_dependencies.clear();
            return deps;
        }
        let (list, kind) = if !self.optional_dependencies.is_empty() {
            (
                std::mem::take(&mut self.optional_dependencies),
                DepKind::Optional,
            )
        } else if !self.dependencies.is_empty() {
            (std::mem::take(&mut self.dependencies), DepKind::Prod)
        } else {
            (std::mem::take(&mut self.peer_dependencies), DepKind::Peer)
        };
        list.into_iter()
            .map(|(name, spec)| {
                let kind = if kind == DepKind::Peer && self.optional_peers.contains(&name) {
                    DepKind::PeerOptional
                } else {
                    kind
                };
                Dep { name, spec, kind }
            })
            .collect()
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

/// `join(&dir, name)` in one allocation of the final size (`Path::join` copies `dir`, then grows
/// the copy for `name`: a reallocation per path, and this tree builds one for every entry it
/// lists). The same bytes as `Path::join` for a `dir` not ending in `/` and a relative `name`;
/// anything else is left to it.
pub(crate) fn join(dir: &Path, name: impl AsRef<Path>) -> PathBuf {
    let (d, n) = (
        dir.as_os_str().as_bytes(),
        name.as_ref().as_os_str().as_bytes(),
    );
    if d.is_empty() || d.ends_with(b"/") || n.is_empty() || n.starts_with(b"/") {
        return dir.join(name);
    }
    let mut bytes = Vec::with_capacity(d.len() + 1 + n.len());
    bytes.extend_from_slice(d);
    bytes.push(b'/');
    bytes.extend_from_slice(n);
    PathBuf::from(OsString::from_vec(bytes))
}

/// Whether `path` is absolute with no empty, `.` or `..` component and no trailing `/`: then
/// its bytes cut at a `/` are exactly what `Path::parent` gives, and the bytes after it what
/// `Path::file_name` gives.
fn is_clean(path: &[u8]) -> bool {
    if path == b"/" {
        return true;
    }
    path.first() == Some(&b'/')
        && path[1..]
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// A clean path's parent (its length) and last component: `/a/b` → (`/a`, `b`), `/a` → (`/`,
/// `a`), `/` → (None, None).
fn split_last(path: &[u8]) -> (Option<usize>, Option<&[u8]>) {
    if path.len() <= 1 {
        return (None, None);
    }
    let cut = path.iter().rposition(|&b| b == b'/').unwrap_or(0);
    (Some(cut.max(1)), Some(&path[cut + 1..]))
}

/// `Path::starts_with` on clean paths: `base` is `path` or a directory above it.
fn starts_with_path(path: &[u8], base: &[u8]) -> bool {
    path.starts_with(base) && (path.len() == base.len() || base == b"/" || path[base.len()] == b'/')
}

/// The directories and symlinks listed in `dir` (name → is a symlink), None when it cannot be
/// listed.
fn read_listing(dir: &Path) -> Option<HashMap<String, bool>> {
    fs::read_dir(dir).ok().map(|entries| {
        entries
            .flatten()
            .filter_map(|e| {
                let kind = e.file_type().ok()?;
                let name = e.file_name().into_string().ok()?;
                (kind.is_dir() || kind.is_symlink()).then_some((name, kind.is_symlink()))
            })
            .collect()
    })
}

/// The (device, inode) of what `path` names, following symlinks; None when it does not exist.
fn dir_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// What one thread of [`Tree::prefetch`] read: the answers the system calls of
/// [`Tree::installed_under`] and [`Tree::preload`] would give, for them to use instead.
#[derive(Default)]
struct Fetched {
    /// (device, inode) of the `node_modules` directories that exist; one that does not is
    /// kept as unlistable in `listings`.
    ids: Vec<(PathBuf, (u64, u64))>,
    listings: Vec<(PathBuf, Option<HashMap<String, bool>>)>,
    manifests: Vec<(PathBuf, Manifest, Option<String>)>,
}

impl Fetched {
    /// The (device, inode) of `nm`, kept; None when it does not exist.
    fn id(&mut self, nm: &Path) -> Option<(u64, u64)> {
        let id = dir_id(nm);
        match id {
            Some(id) => self.ids.push((nm.to_owned(), id)),
            None => self.listings.push((nm.to_owned(), None)),
        }
        id
    }

    /// List `dir`, keep the listing, and give the real (not symlinked) entries not hidden.
    fn real_entries(&mut self, dir: PathBuf) -> Vec<PathBuf> {
        let listing = read_listing(&dir);
        let entries = listing.as_ref().map_or_else(Vec::new, |l| {
            l.iter()
                .filter(|(name, is_link)| !**is_link && !name.starts_with('.'))
                .map(|(name, _)| join(&dir, name))
                .collect()
        });
        self.listings.push((dir, listing));
        entries
    }

    /// Read the package at `loc` (a real directory) and, below it, every package installed
    /// in its own `node_modules`, as [`Tree::installed_under`] descends; `seen` stops a
    /// symlink cycle as it does there.
    fn package_tree(&mut self, loc: PathBuf, seen: &mut HashSet<(u64, u64)>, budget: &mut usize) {
        let mut stack = vec![loc];
        while let Some(loc) = stack.pop() {
            if *budget == 0 || crate::cancel::requested() {
                return;
            }
            *budget -= 1;
            let (manifest, broken) = read_manifest(&loc);
            let nm = join(&loc, "node_modules");
            self.manifests.push((loc, manifest, broken));
            if !self.id(&nm).is_some_and(|id| seen.insert(id)) {
                continue;
            }
            for path in self.real_entries(nm) {
                if is_scope(&path) {
                    stack.extend(self.real_entries(path));
                } else {
                    stack.push(path);
                }
            }
        }
    }
}

/// Whether the last component of `path` names an `@scope` directory.
fn is_scope(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.as_encoded_bytes().starts_with(b"@"))
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
    /// The path buffer [`Tree::resolve`] reuses.
    scratch: Vec<u8>,
    /// (device, inode) of `node_modules` directories, read ahead by [`Tree::prefetch`] (one
    /// found absent is an unlistable entry of `listings`).
    ids: HashMap<OsString, (u64, u64)>,
    /// Manifests read ahead by [`Tree::prefetch`], taken when their package is loaded.
    prefetched: HashMap<OsString, (Manifest, Option<String>)>,
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
        let listing = read_listing(dir).map(Rc::new);
        self.listings
            .insert(dir.as_os_str().to_owned(), listing.clone());
        listing
    }

    /// Whether `node_modules_dir/name` exists, and whether it is a symlink.
    fn entry(&mut self, node_modules_dir: &Path, name: &str) -> Option<bool> {
        match name.split_once('/') {
            Some((scope, rest)) if scope.starts_with('@') => {
                self.listing(node_modules_dir)?.get(scope)?;
                self.listing(&join(node_modules_dir, scope))?
                    .get(rest)
                    .copied()
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
        let dir = self.pkgs.get(from)?.dir.as_os_str().as_bytes();
        if is_clean(dir) && is_clean(self.stop.as_os_str().as_bytes()) {
            return self.resolve_clean(from, name);
        }
        self.resolve_paths(from, name)
    }

    /// [`Tree::resolve`] on the bytes of a clean absolute path (every directory here is one:
    /// a real directory joined with listed names): the same steps as [`Tree::resolve_paths`],
    /// with the parent, the last component and `…/node_modules` taken by cutting and extending
    /// one buffer instead of parsing components and allocating a path per step (this walk was
    /// a third of the tree walk's time on a 2,300-package tree).
    fn resolve_clean(&mut self, from: usize, name: &str) -> Option<Found> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(self.pkgs[from].dir.as_os_str().as_bytes());
        let stop_len = self.stop.as_os_str().len();
        let inside = starts_with_path(&buf, self.stop.as_os_str().as_bytes());
        // `buf[..end]` is the directory of this step; None once past `/`.
        let mut end = Some(buf.len());
        let mut steps = 0;
        let mut found = None;
        while let Some(d_len) = end {
            steps += 1;
            if steps > MAX_UP {
                break;
            }
            let (parent_len, file_name) = split_last(&buf[..d_len]);
            if file_name != Some(b"node_modules".as_slice()) {
                buf.truncate(d_len);
                if d_len > 1 {
                    buf.push(b'/');
                }
                buf.extend_from_slice(b"node_modules");
                let node_modules = Path::new(OsStr::from_bytes(&buf));
                if let Some(is_link) = self.entry(node_modules, name) {
                    let location = join(node_modules, name);
                    let pkg = self.load(&location, is_link);
                    found = Some(Found { pkg, location });
                    break;
                }
                buf.truncate(d_len);
            }
            if inside && d_len == stop_len {
                break;
            }
            if let Some(p_len) = parent_len
                && split_last(&buf[..p_len]).1 == Some(b".pnpm".as_slice())
            {
                break;
            }
            end = parent_len;
        }
        self.scratch = buf;
        found
    }

    /// [`Tree::resolve`] through `Path` components, for a directory that is not a clean path.
    fn resolve_paths(&mut self, from: usize, name: &str) -> Option<Found> {
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
                let node_modules = join(d, "node_modules");
                if let Some(is_link) = self.entry(&node_modules, name) {
                    let location = join(&node_modules, name);
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
        let (manifest, broken) = self
            .prefetched
            .remove(dir.as_os_str())
            .unwrap_or_else(|| read_manifest(dir));
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
        let order = todo.clone();
        let todo: Vec<&PathBuf> = todo
            .into_iter()
            .filter(|loc| !self.prefetched.contains_key(loc.as_os_str()))
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
        let mut read: HashMap<OsString, (Manifest, Option<String>)> = loaded
            .into_iter()
            .flatten()
            .map(|(dir, m, broken)| (dir.into_os_string(), (m, broken)))
            .collect();
        self.pkgs.reserve(order.len());
        self.by_dir.reserve(order.len());
        // In the order of `locations`, whichever way each was read, so package indices (and
        // the order of findings) are those of reading them one by one.
        for dir in order {
            if self.by_dir.contains_key(dir.as_os_str()) {
                continue;
            }
            let Some((manifest, broken)) = self
                .prefetched
                .remove(dir.as_os_str())
                .or_else(|| read.remove(dir.as_os_str()))
            else {
                continue;
            };
            self.pkgs.push(Pkg {
                dir: dir.clone(),
                manifest,
                broken,
            });
            self.by_dir
                .insert(dir.as_os_str().to_owned(), self.pkgs.len() - 1);
        }
    }

    /// Read ahead, on a few threads, what [`Tree::installed_under`] and [`Tree::preload`] will
    /// ask of the file system for the trees under `tops`: every `node_modules` listed (and
    /// stat-ed) and every package.json in them read, the packages of each top's own
    /// `node_modules` shared out between the threads. Those two then take the answers from
    /// here instead of asking one by one on this thread: on a 2,300-package npm tree the
    /// listing alone took a third of the gate's time, one core idle. Nothing is decided here —
    /// anything not read ahead (a thread stopped early) is asked again as before.
    pub(crate) fn prefetch(&mut self, tops: &[PathBuf]) {
        let mut seen: HashSet<(u64, u64)> = HashSet::new();
        let mut work: Vec<PathBuf> = Vec::new();
        let mut own = Fetched::default();
        for top in tops {
            let nm = join(top, "node_modules");
            if !own.id(&nm).is_some_and(|id| seen.insert(id)) {
                continue;
            }
            work.extend(own.real_entries(nm));
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 4);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let fetch = || -> Fetched {
            let mut out = Fetched::default();
            let mut seen = seen.clone();
            let mut budget = 100_000usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(loc) = work.get(i) else {
                    return out;
                };
                if crate::cancel::requested() {
                    return out;
                }
                if is_scope(loc) {
                    for sub in out.real_entries(loc.clone()) {
                        out.package_tree(sub, &mut seen, &mut budget);
                    }
                } else {
                    out.package_tree(loc.clone(), &mut seen, &mut budget);
                }
            }
        };
        let fetched: Vec<Fetched> = std::thread::scope(|s| {
            let handles: Vec<_> = (1..threads).map(|_| s.spawn(fetch)).collect();
            let mut fetched = vec![own, fetch()];
            // A panicking thread loses what it read, which is then read as before.
            fetched.extend(handles.into_iter().filter_map(|h| h.join().ok()));
            fetched
        });
        for part in fetched {
            for (path, id) in part.ids {
                self.ids.entry(path.into_os_string()).or_insert(id);
            }
            for (path, listing) in part.listings {
                self.listings
                    .entry(path.into_os_string())
                    .or_insert_with(|| listing.map(Rc::new));
            }
            for (path, manifest, broken) in part.manifests {
                self.prefetched
                    .entry(path.into_os_string())
                    .or_insert((manifest, broken));
            }
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
            .listing(&join(dir, "node_modules"))
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
                    let scope_dir = join(&nm, name);
                    if let Some(scoped) = self.listing(&scope_dir) {
                        let mut inner: Vec<&String> = scoped
                            .iter()
                            .filter(|(_, link)| !**link)
                            .map(|(sub, _)| sub)
                            .collect();
                        inner.sort();
                        out.extend(inner.into_iter().map(|sub| (join(&scope_dir, sub), false)));
                    }
                } else {
                    out.push((join(&nm, name), false));
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
        let mut stack = vec![join(dir, "node_modules")];
        let mut seen: HashSet<(u64, u64)> = HashSet::new();
        let mut guard = 0usize;
        while let Some(nm) = stack.pop() {
            guard += 1;
            if guard > 100_000 || crate::cancel::requested() {
                break;
            }
            let id = match (
                self.ids.get(nm.as_os_str()),
                self.listings.get(nm.as_os_str()),
            ) {
                (Some(&id), _) => Some(id),
                // Found absent ahead (or not listable, which ends here too).
                (None, Some(None)) => None,
                (None, _) => dir_id(&nm),
            };
            match id {
                Some(id) if seen.insert(id) => {}
                Some(_) => continue,
                None => {
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
                    let scope_dir = join(&nm, name);
                    if let Some(scoped) = self.listing(&scope_dir) {
                        let mut inner: Vec<(&String, &bool)> = scoped.iter().collect();
                        inner.sort();
                        for (sub, &sub_link) in inner {
                            let loc = join(&scope_dir, sub);
                            if !sub_link {
                                stack.push(join(&loc, "node_modules"));
                            }
                            out.push((loc, sub_link));
                        }
                    }
                    continue;
                }
                let loc = join(&nm, name);
                if !is_link {
                    stack.push(join(&loc, "node_modules"));
                }
                out.push((loc, is_link));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte cuts `resolve` walks with give `Path`'s own answers on clean paths, and the
    /// paths they cannot answer for are not taken as clean.
    #[test]
    fn byte_cuts_match_path_components() {
        for text in [
            "/",
            "/a",
            "/app/node_modules",
            "/app/node_modules/@scope/pkg",
            "/app/node_modules/.pnpm/a@1.0.0/node_modules/a",
        ] {
            let bytes = text.as_bytes();
            assert!(is_clean(bytes), "{text}");
            let (parent, name) = split_last(bytes);
            let path = Path::new(text);
            assert_eq!(
                parent.map(|p| Path::new(OsStr::from_bytes(&bytes[..p]))),
                path.parent(),
                "{text}"
            );
            assert_eq!(name.map(OsStr::from_bytes), path.file_name(), "{text}");
        }
        for text in ["", "a/b", "/a/", "/a//b", "/a/./b", "/a/../b", "/a/.."] {
            assert!(!is_clean(text.as_bytes()), "{text}");
        }
        for (path, base) in [
            ("/app/node_modules/a", "/app"),
            ("/app", "/app"),
            ("/apple", "/app"),
            ("/app", "/"),
            ("/", "/"),
            ("/ap", "/app"),
        ] {
            assert_eq!(
                starts_with_path(path.as_bytes(), base.as_bytes()),
                Path::new(path).starts_with(base),
                "{path} {base}"
            );
        }
    }
}
