//! Node lock files, read into one shape: package-lock.json v1/v2/v3, npm-shrinkwrap.json and
//! `node_modules/.package-lock.json` (npm), yarn.lock v1 (its own text format) and berry (YAML),
//! pnpm-lock.yaml v6/v9.
//!
//! What the checks need from a lock: the dependencies each workspace declared when the lock was
//! written (to tell a manifest edited after locking), the version locked for each install
//! location (npm) or each package (yarn, pnpm), to compare with what is installed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{lenient, read};
use crate::project::FileError;

/// Which package manager wrote the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockKind {
    /// package-lock.json / npm-shrinkwrap.json with its `lockfileVersion`.
    Npm(u64),
    YarnClassic,
    YarnBerry,
    Pnpm,
}

impl LockKind {
    /// The command that installs exactly what the lock says.
    pub(crate) fn install(self) -> &'static str {
        match self {
            LockKind::Npm(_) => "npm ci",
            LockKind::YarnClassic => "yarn install --frozen-lockfile",
            LockKind::YarnBerry => "yarn install --immutable",
            LockKind::Pnpm => "pnpm install --frozen-lockfile",
        }
    }

    /// The command that brings the lock back in sync with package.json.
    pub(crate) fn relock(self) -> &'static str {
        match self {
            LockKind::Npm(_) => "npm install",
            LockKind::YarnClassic | LockKind::YarnBerry => "yarn install",
            LockKind::Pnpm => "pnpm install",
        }
    }
}

/// One npm install location in the lock.
#[derive(Debug, Clone, Default)]
pub(crate) struct Locked {
    pub(crate) version: Option<String>,
    /// The real package name when installed under an alias.
    pub(crate) name: Option<String>,
    pub(crate) link: bool,
    /// Optional (incl. platform-specific packages npm skips on other platforms).
    pub(crate) optional: bool,
    pub(crate) dev: bool,
}

/// A parsed Node lock file.
#[derive(Debug, Default)]
pub(crate) struct NodeLock {
    pub(crate) kind: Option<LockKind>,
    /// npm: install location relative to the lock's directory (`node_modules/a/node_modules/b`).
    pub(crate) locations: BTreeMap<String, Locked>,
    /// Dependencies each workspace declared when locking: workspace dir (`""` for the root) →
    /// name → specifier. None when the format does not record them (npm v1, yarn v1).
    pub(crate) importers: Option<HashMap<String, HashMap<String, String>>>,
    /// yarn: the `name@range` descriptors the lock resolves.
    pub(crate) descriptors: HashSet<String>,
    /// yarn, pnpm: package name → versions locked.
    pub(crate) versions: HashMap<String, HashSet<String>>,
    /// npm, pnpm, yarn berry: packages the lock restricts to other platforms (`fsevents` on
    /// Linux, `@esbuild/darwin-arm64` on x64), which the package manager skips on purpose.
    pub(crate) foreign: HashSet<String>,
    /// npm: install locations marked `"extraneous": true` (npm 7–8 write them for packages
    /// left in `node_modules` that nothing requires, e.g. after `npm link --save`). `npm ci`
    /// does not install them, so they are not part of the locked tree.
    pub(crate) extraneous: usize,
    /// pnpm: `settings.autoInstallPeers`, the `auto-install-peers` the lock was resolved with
    /// (v6+); a frozen install refuses a lock whose value differs from the current setting.
    pub(crate) auto_install_peers: Option<bool>,
}

/// Read the lock at `path`; `rel` names it in errors.
pub(crate) fn read(rel: &str, path: &Path, kind_hint: &str) -> Result<NodeLock, FileError> {
    let text = read::text(rel, path, read::MAX_FILE_BYTES)?;
    parse(rel, &text, kind_hint)
}

/// Parse lock text; `kind_hint` is the lock's file name.
pub(crate) fn parse(rel: &str, text: &str, kind_hint: &str) -> Result<NodeLock, FileError> {
    match kind_hint {
        "yarn.lock" => {
            if text.contains("__metadata:") {
                berry(rel, text)
            } else {
                yarn_classic(rel, text)
            }
        }
        "pnpm-lock.yaml" => pnpm(rel, text),
        _ => npm(rel, text),
    }
}

#[derive(Deserialize)]
struct NpmLock {
    #[serde(rename = "lockfileVersion", default)]
    lockfile_version: Option<u64>,
    #[serde(default)]
    packages: Option<NpmPackages>,
    #[serde(default)]
    dependencies: Option<BTreeMap<String, V1Entry>>,
}

/// Whether a `packages` key is an install location (`node_modules/a`, `w/node_modules/a`)
/// rather than the root (`""`) or a workspace / `file:` folder.
fn is_location(key: &str) -> bool {
    key.starts_with("node_modules/") || key.contains("/node_modules/")
}

/// One `packages` entry, read for what its key makes it: an install location, or the root or
/// a workspace, whose declared dependencies are kept.
enum NpmPackage {
    Location(NpmEntry),
    Importer(NpmImporter),
}

/// package-lock.json `packages`, in key order (a key written twice keeps its last entry). The
/// key decides how its entry is read: the dependency maps of the thousands of install
/// locations are only type-checked, never collected.
struct NpmPackages(BTreeMap<String, NpmPackage>);

impl<'de> Deserialize<'de> for NpmPackages {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NpmPackages;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<NpmPackages, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let entry = if is_location(&key) {
                        NpmPackage::Location(map.next_value()?)
                    } else {
                        NpmPackage::Importer(map.next_value()?)
                    };
                    out.insert(key, entry);
                }
                Ok(NpmPackages(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "mirrors package-lock.json's flags"
)]
struct NpmEntry {
    version: Option<String>,
    name: Option<String>,
    link: bool,
    optional: bool,
    dev: bool,
    extraneous: bool,
    #[serde(rename = "devOptional")]
    dev_optional: bool,
    // Type-checked (an object), not collected: nothing reads a location's own edges.
    dependencies: lenient::AnyObject,
    #[serde(rename = "devDependencies")]
    dev_dependencies: lenient::AnyObject,
    #[serde(rename = "optionalDependencies")]
    optional_dependencies: lenient::AnyObject,
    #[serde(rename = "peerDependencies")]
    peer_dependencies: lenient::AnyObject,
    os: Value,
    cpu: Value,
    libc: Value,
}

/// The root's or a workspace's entry: the dependencies it declared when locking. The other
/// fields are type-checked as in a location entry.
#[derive(Deserialize, Default)]
#[serde(default)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "mirrors package-lock.json's flags"
)]
struct NpmImporter {
    version: Option<String>,
    name: Option<String>,
    link: bool,
    optional: bool,
    dev: bool,
    extraneous: bool,
    #[serde(rename = "devOptional")]
    dev_optional: bool,
    os: Value,
    cpu: Value,
    libc: Value,
    dependencies: BTreeMap<String, Value>,
    #[serde(rename = "devDependencies")]
    dev_dependencies: BTreeMap<String, Value>,
    #[serde(rename = "optionalDependencies")]
    optional_dependencies: BTreeMap<String, Value>,
    #[serde(rename = "peerDependencies")]
    peer_dependencies: BTreeMap<String, Value>,
}

/// Whether an npm `os`/`cpu` list (`["darwin"]`, `["!win32"]`) admits `current`.
fn platform_allows(list: &Value, current: &str) -> bool {
    let Some(items) = list.as_array() else {
        return true;
    };
    let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    if items.iter().any(|i| i.strip_prefix('!') == Some(current)) {
        return false;
    }
    let allowed: Vec<&&str> = items.iter().filter(|i| !i.starts_with('!')).collect();
    allowed.is_empty() || allowed.iter().any(|i| **i == current)
}

/// Whether a package restricted by `os`, `cpu` and `libc` lists (npm's and pnpm's fields)
/// can be installed on this machine: npm and pnpm skip an optional one that cannot.
pub(crate) fn platform_fits(os: &Value, cpu: &Value, libc: &Value) -> bool {
    let (this_os, this_cpu) = npm_platform();
    // libc is only checked on Linux, as npm-install-checks does.
    let libc_ok = this_os != "linux" || !libc.is_array() || platform_allows(libc, machine_libc());
    platform_allows(os, this_os) && platform_allows(cpu, this_cpu) && libc_ok
}

/// `glibc` or `musl`, as npm names the C library (musl systems have its dynamic loader).
/// Looked up once per run: listing `/lib` and `/usr/lib` for every lock entry was three
/// quarters of the gate's directory reads on a 2,300-package lock.
fn machine_libc() -> &'static str {
    static LIBC: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    LIBC.get_or_init(|| {
        let musl = ["/lib", "/usr/lib"].iter().any(|dir| {
            std::fs::read_dir(dir).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("ld-musl-"))
            })
        });
        if musl { "musl" } else { "glibc" }
    })
}

/// This machine as npm names it (`process.platform`, `process.arch`).
fn npm_platform() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let cpu = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "x86" => "ia32",
        other => other,
    };
    (os, cpu)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct V1Entry {
    version: Option<String>,
    optional: bool,
    dev: bool,
    extraneous: bool,
    dependencies: BTreeMap<String, V1Entry>,
}

fn npm(rel: &str, text: &str) -> Result<NodeLock, FileError> {
    let raw: NpmLock = serde_json::from_str(text).map_err(|e| read::json_error(rel, &e))?;
    let version = raw.lockfile_version.unwrap_or(1);
    let mut lock = NodeLock {
        kind: Some(LockKind::Npm(version)),
        ..NodeLock::default()
    };
    if let Some(NpmPackages(packages)) = raw.packages {
        let mut importers = HashMap::new();
        for (key, entry) in packages {
            match entry {
                NpmPackage::Location(entry) if entry.extraneous => lock.extraneous += 1,
                NpmPackage::Location(entry) => {
                    if !platform_fits(&entry.os, &entry.cpu, &entry.libc)
                        && let Some(name) = key.rsplit("node_modules/").next()
                    {
                        lock.foreign.insert(name.to_owned());
                    }
                    lock.locations.insert(
                        key,
                        Locked {
                            version: entry.version,
                            name: entry.name,
                            link: entry.link,
                            optional: entry.optional || entry.dev_optional,
                            dev: entry.dev || entry.dev_optional,
                        },
                    );
                }
                NpmPackage::Importer(entry) => {
                    // "" is the root; other non-node_modules keys are workspaces (or `file:`
                    // dependencies' own folders), whose declared dependencies npm records.
                    let mut declared = HashMap::new();
                    for map in [
                        &entry.dependencies,
                        &entry.dev_dependencies,
                        &entry.optional_dependencies,
                        &entry.peer_dependencies,
                    ] {
                        for (name, spec) in map {
                            if let Some(spec) = spec.as_str() {
                                declared.insert(name.clone(), spec.to_owned());
                            }
                        }
                    }
                    importers.insert(key, declared);
                }
            }
        }
        lock.importers = Some(importers);
    } else if let Some(deps) = raw.dependencies {
        // lockfileVersion 1: a nested tree of `dependencies`, mapped onto install locations.
        fn walk(
            prefix: &str,
            deps: &BTreeMap<String, V1Entry>,
            out: &mut BTreeMap<String, Locked>,
            extraneous: &mut usize,
        ) {
            for (name, entry) in deps {
                let location = format!("{prefix}node_modules/{name}");
                walk(
                    &format!("{location}/"),
                    &entry.dependencies,
                    out,
                    extraneous,
                );
                if entry.extraneous {
                    *extraneous += 1;
                    continue;
                }
                // An alias is locked as `npm:real-name@1.2.3`.
                let (name, version) = match entry
                    .version
                    .as_deref()
                    .and_then(|v| v.strip_prefix("npm:"))
                {
                    Some(aliased) => match aliased.get(1..).and_then(|r| r.rfind('@')) {
                        Some(at) => (
                            Some(aliased[..=at].to_owned()),
                            Some(aliased[at + 2..].to_owned()),
                        ),
                        None => (None, entry.version.clone()),
                    },
                    None => (None, entry.version.clone()),
                };
                out.insert(
                    location,
                    Locked {
                        version,
                        name,
                        link: entry
                            .version
                            .as_deref()
                            .is_some_and(|v| v.starts_with("file:")),
                        optional: entry.optional,
                        dev: entry.dev,
                    },
                );
            }
        }
        walk("", &deps, &mut lock.locations, &mut lock.extraneous);
    }
    Ok(lock)
}

/// yarn.lock v1: blocks of `"a@^1", a@^1.2:` followed by indented `version "1.2.3"`.
fn yarn_classic(rel: &str, text: &str) -> Result<NodeLock, FileError> {
    let mut lock = NodeLock {
        kind: Some(LockKind::YarnClassic),
        ..NodeLock::default()
    };
    let mut current: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            if !line.ends_with(':') || line.matches('"').count() % 2 != 0 {
                return Err(FileError::new(
                    rel,
                    "not a yarn.lock entry: expected `\"name@range\", …:`",
                )
                .at_line(i as u64 + 1));
            }
            current = line
                .trim_end_matches(':')
                .split(", ")
                .map(|d| d.trim().trim_matches('"').to_owned())
                .collect();
            lock.descriptors.extend(current.iter().cloned());
        } else if let Some(version) = line
            .strip_prefix("  version ")
            .map(|v| v.trim().trim_matches('"'))
        {
            for descriptor in &current {
                let name = real_name(descriptor);
                lock.versions
                    .entry(name)
                    .or_default()
                    .insert(version.to_owned());
            }
        }
    }
    Ok(lock)
}

/// The package a yarn descriptor resolves to: `my-ms@npm:ms@^2` → `ms`, `@s/a@^1` → `@s/a`.
fn real_name(descriptor: &str) -> String {
    let split = |d: &str| -> (String, String) {
        match d.get(1..).and_then(|r| r.find('@')) {
            Some(at) => (d[..=at].to_owned(), d[at + 2..].to_owned()),
            None => (d.to_owned(), String::new()),
        }
    };
    let (name, spec) = split(descriptor);
    if let Some(aliased) = spec.strip_prefix("npm:")
        && aliased.get(1..).is_some_and(|r| r.contains('@'))
    {
        return split(aliased).0;
    }
    name
}

fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    options
}

fn yaml_error(rel: &str, err: &serde_saphyr::Error) -> FileError {
    let (line, column) = err
        .location()
        .map_or((None, None), |l| (Some(l.line()), Some(l.column())));
    let text = err.to_string();
    FileError {
        file: rel.to_owned(),
        line: line.filter(|l| *l > 0),
        column: column.filter(|c| *c > 0),
        message: format!(
            "invalid YAML: {}",
            text.lines().next().unwrap_or("parse error").trim()
        ),
    }
}

/// A YAML scalar that may be written as a number (`version: 1.0`), read as text.
#[derive(Debug, Clone)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            U(u64),
            F(f64),
            B(bool),
        }
        Ok(Text(match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::U(u) => u.to_string(),
            Raw::F(f) => f.to_string(),
            Raw::B(b) => b.to_string(),
        }))
    }
}

#[derive(Deserialize)]
struct BerryEntry {
    #[serde(default)]
    resolution: Option<String>,
    #[serde(default)]
    version: Option<Text>,
    #[serde(default)]
    dependencies: BTreeMap<String, Text>,
    #[serde(default, rename = "peerDependencies")]
    peer_dependencies: BTreeMap<String, Text>,
    /// `os=darwin & cpu=arm64`: the platforms the package installs on.
    #[serde(default)]
    conditions: Option<String>,
}

/// Whether a berry `conditions` expression (`os=darwin & cpu=arm64 & libc=glibc`, the form
/// yarn writes) admits this machine. Anything more complex is taken to fit.
fn berry_conditions_fit(conditions: &str) -> bool {
    let mut os = Vec::new();
    let mut cpu = Vec::new();
    let mut libc = Vec::new();
    for clause in conditions.split('&') {
        let Some((key, value)) = clause.trim().split_once('=') else {
            return true;
        };
        let value = Value::from(value.trim());
        match key.trim() {
            "os" => os.push(value),
            "cpu" => cpu.push(value),
            "libc" => libc.push(value),
            _ => return true,
        }
    }
    let list = |v: Vec<Value>| {
        if v.is_empty() {
            Value::Null
        } else {
            Value::Array(v)
        }
    };
    platform_fits(&list(os), &list(cpu), &list(libc))
}

fn berry(rel: &str, text: &str) -> Result<NodeLock, FileError> {
    // `__metadata` reads as an entry without a resolution and is skipped below.
    let raw: BTreeMap<String, BerryEntry> =
        serde_saphyr::from_str_with_options(text, yaml_options())
            .map_err(|e| yaml_error(rel, &e))?;
    let mut lock = NodeLock {
        kind: Some(LockKind::YarnBerry),
        ..NodeLock::default()
    };
    let mut importers = HashMap::new();
    for (key, entry) in raw {
        if key == "__metadata" {
            continue;
        }
        lock.descriptors
            .extend(key.split(", ").map(|d| d.trim().to_owned()));
        let Some(resolution) = entry.resolution else {
            continue;
        };
        let (name, reference) = match resolution.get(1..).and_then(|r| r.find('@')) {
            Some(at) => (&resolution[..=at], &resolution[at + 2..]),
            None => (resolution.as_str(), ""),
        };
        if let Some(dir) = reference.strip_prefix("workspace:") {
            let dir = if dir == "." { "" } else { dir };
            let declared: HashMap<String, String> = entry
                .dependencies
                .iter()
                .chain(&entry.peer_dependencies)
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect();
            importers.insert(dir.to_owned(), declared);
        } else if let Some(version) = entry.version {
            if entry
                .conditions
                .as_deref()
                .is_some_and(|c| !berry_conditions_fit(c))
            {
                lock.foreign.insert(name.to_owned());
            }
            lock.versions
                .entry(name.to_owned())
                .or_default()
                .insert(version.0);
        }
    }
    lock.importers = Some(importers);
    Ok(lock)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PnpmImporter {
    dependencies: BTreeMap<String, PnpmDep>,
    #[serde(rename = "devDependencies")]
    dev_dependencies: BTreeMap<String, PnpmDep>,
    #[serde(rename = "optionalDependencies")]
    optional_dependencies: BTreeMap<String, PnpmDep>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PnpmDep {
    /// v6+: `{ specifier, version }`.
    Full { specifier: Text },
    /// v5: a bare version; specifiers live in a separate map.
    Bare(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct PnpmLock {
    #[serde(rename = "lockfileVersion")]
    lockfile_version: Option<Text>,
    #[serde(default)]
    importers: Option<BTreeMap<String, PnpmImporter>>,
    #[serde(flatten)]
    single: PnpmImporter,
    #[serde(default)]
    specifiers: BTreeMap<String, Text>,
    #[serde(default)]
    packages: BTreeMap<String, PnpmPackage>,
    #[serde(default)]
    settings: PnpmSettings,
}

/// pnpm-lock.yaml `settings`: the resolution settings the lock was written with.
#[derive(Deserialize, Default)]
#[serde(default)]
struct PnpmSettings {
    #[serde(rename = "autoInstallPeers")]
    auto_install_peers: Option<bool>,
}

/// What a pnpm `packages` entry says about where it installs (the rest is not needed).
#[derive(Deserialize, Default)]
#[serde(default)]
struct PnpmPackage {
    os: Value,
    cpu: Value,
    libc: Value,
}

fn pnpm(rel: &str, text: &str) -> Result<NodeLock, FileError> {
    let raw: PnpmLock = serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| yaml_error(rel, &e))?;
    if raw.lockfile_version.is_none() {
        return Err(FileError::new(
            rel,
            "no lockfileVersion: not a pnpm lock file",
        ));
    }
    let mut lock = NodeLock {
        kind: Some(LockKind::Pnpm),
        auto_install_peers: raw.settings.auto_install_peers,
        ..NodeLock::default()
    };
    let declared = |importer: &PnpmImporter, specifiers: &BTreeMap<String, Text>| {
        let mut out = HashMap::new();
        for map in [
            &importer.dependencies,
            &importer.dev_dependencies,
            &importer.optional_dependencies,
        ] {
            for (name, dep) in map {
                let spec = match dep {
                    PnpmDep::Full { specifier, .. } => Some(specifier.0.clone()),
                    PnpmDep::Bare(_) => specifiers.get(name).map(|s| s.0.clone()),
                };
                if let Some(spec) = spec {
                    out.insert(name.clone(), spec);
                }
            }
        }
        out
    };
    let mut importers = HashMap::new();
    if let Some(map) = &raw.importers {
        for (dir, importer) in map {
            let dir = if dir == "." { "" } else { dir.as_str() };
            importers.insert(dir.to_owned(), declared(importer, &raw.specifiers));
        }
    } else {
        importers.insert(String::new(), declared(&raw.single, &raw.specifiers));
    }
    lock.importers = Some(importers);
    for (key, package) in &raw.packages {
        let foreign = !platform_fits(&package.os, &package.cpu, &package.libc);
        // v9 `name@1.2.3`, v6 `/name@1.2.3(peer@1.0.0)`, v5 `/name/1.2.3_peer@1.0.0`.
        let key = key.trim_start_matches('/');
        let key = key.split('(').next().unwrap_or(key);
        let parsed = match key.get(1..).and_then(|r| r.find('@')) {
            Some(at) => Some((&key[..=at], &key[at + 2..])),
            None => key.rsplit_once('/'),
        };
        if let Some((name, version)) = parsed {
            if foreign {
                lock.foreign.insert(name.to_owned());
            }
            let version = version.split('_').next().unwrap_or(version);
            lock.versions
                .entry(name.to_owned())
                .or_default()
                .insert(version.to_owned());
        }
    }
    Ok(lock)
}

/// How a manifest specifier is written in a berry lock: registry ranges get the `npm:`
/// protocol, anything with a protocol stays as is.
pub(crate) fn berry_spec(spec: &str) -> String {
    if spec.contains(':') {
        spec.to_owned()
    } else {
        format!("npm:{spec}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yarn_classic_descriptors_and_aliases() {
        let lock = yarn_classic(
            "yarn.lock",
            "# yarn lockfile v1\n\n\"js-tokens@^3.0.0 || ^4.0.0\":\n  version \"4.0.0\"\n\n\
             ms@^2.1.3, \"my-ms@npm:ms@^2.1.1\":\n  version \"2.1.3\"\n\n\"@s/a@^1\":\n  version \"1.0.1\"\n",
        )
        .unwrap();
        assert!(lock.descriptors.contains("js-tokens@^3.0.0 || ^4.0.0"));
        assert!(lock.descriptors.contains("my-ms@npm:ms@^2.1.1"));
        assert!(lock.versions["ms"].contains("2.1.3"));
        assert!(!lock.versions.contains_key("my-ms"));
        assert!(lock.versions["@s/a"].contains("1.0.1"));
    }

    #[test]
    fn pnpm_package_keys_of_each_version() {
        let lock = pnpm(
            "x",
            "lockfileVersion: '6.0'\ndependencies:\n  a:\n    specifier: ^1.0.0\n    version: 1.0.1\n\
             packages:\n  /a@1.0.1(react@18.0.0):\n    resolution: {integrity: x}\n  /@s/b@2.0.0:\n    resolution: {integrity: y}\n",
        )
        .unwrap();
        assert!(lock.versions["a"].contains("1.0.1"));
        assert!(lock.versions["@s/b"].contains("2.0.0"));
        assert_eq!(lock.importers.unwrap()[""]["a"], "^1.0.0");
    }

    #[test]
    fn malformed_locks_name_the_line() {
        let err = npm("package-lock.json", "{\n  \"packages\": {\n    \"\": [}\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        let err = pnpm(
            "pnpm-lock.yaml",
            "lockfileVersion: '9.0'\nimporters:\n  .: [\n",
        )
        .unwrap_err();
        assert!(err.line.is_some(), "{err}");
    }
}
