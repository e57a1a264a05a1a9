//! Python lock files: poetry.lock, uv.lock (TOML) and Pipfile.lock (JSON), read into the
//! versions they lock and, where the format records it, what the manifest declared at lock time.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::pep508::normalize;
use super::read;
use crate::project::FileError;

/// Which tool wrote the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PyLockKind {
    Poetry,
    Uv,
    Pipenv,
}

impl PyLockKind {
    pub(crate) fn file(self) -> &'static str {
        match self {
            PyLockKind::Poetry => "poetry.lock",
            PyLockKind::Uv => "uv.lock",
            PyLockKind::Pipenv => "Pipfile.lock",
        }
    }

    /// Installs exactly the lock.
    pub(crate) fn sync(self) -> &'static str {
        match self {
            PyLockKind::Poetry => "poetry sync",
            PyLockKind::Uv => "uv sync --locked",
            PyLockKind::Pipenv => "pipenv sync --dev",
        }
    }

    /// Rewrites the lock from the manifest.
    pub(crate) fn relock(self) -> &'static str {
        match self {
            PyLockKind::Poetry => "poetry lock",
            PyLockKind::Uv => "uv lock",
            PyLockKind::Pipenv => "pipenv lock",
        }
    }
}

/// A parsed Python lock.
#[derive(Debug)]
pub(crate) struct PyLock {
    /// Normalised name → versions locked (Poetry and uv may lock one per Python/platform).
    pub(crate) versions: HashMap<String, HashSet<String>>,
    /// uv: what the project declared at lock time, as (section, normalised name) → the
    /// specifiers it was declared with, each in [`normalize_specifier`] form. The section is
    /// `""` for `requires-dist` (dependencies and extras) and the group name for each group
    /// of `requires-dev`.
    pub(crate) declared: Option<BTreeMap<(String, String), BTreeSet<String>>>,
}

#[derive(Deserialize)]
struct TomlLock {
    #[serde(default)]
    package: Vec<TomlPackage>,
}

#[derive(Deserialize)]
struct TomlPackage {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    source: Option<toml::Value>,
    #[serde(default)]
    metadata: Option<UvMetadata>,
}

#[derive(Deserialize)]
struct UvMetadata {
    #[serde(default, rename = "requires-dist")]
    requires_dist: Vec<UvRequirement>,
    #[serde(default, rename = "requires-dev")]
    requires_dev: BTreeMap<String, Vec<UvRequirement>>,
}

#[derive(Deserialize)]
struct UvRequirement {
    name: String,
    #[serde(default)]
    specifier: Option<String>,
}

#[derive(Deserialize)]
struct PipfileLock {
    #[serde(default)]
    default: BTreeMap<String, PipfileLocked>,
    #[serde(default)]
    develop: BTreeMap<String, PipfileLocked>,
}

#[derive(Deserialize)]
struct PipfileLocked {
    #[serde(default)]
    version: Option<String>,
}

/// A PEP 440 specifier in one comparable form: its clauses as `pep440_rs` prints them
/// (uv writes them the same way), sorted; the text without spaces when it does not parse.
pub(crate) fn normalize_specifier(spec: &str) -> String {
    match spec.trim().parse::<pep440_rs::VersionSpecifiers>() {
        Ok(parsed) => {
            let mut clauses: Vec<String> = parsed.iter().map(ToString::to_string).collect();
            clauses.sort();
            clauses.join(",")
        }
        Err(_) => spec.split_whitespace().collect(),
    }
}

/// Read the lock of `kind` at `path`. `project_name` identifies uv's entry for the project
/// itself.
pub(crate) fn read(
    rel: &str,
    path: &Path,
    kind: PyLockKind,
    project_name: Option<&str>,
) -> Result<PyLock, FileError> {
    let text = read::text(rel, path, read::MAX_FILE_BYTES)?;
    parse(rel, &text, kind, project_name)
}

/// Parse lock text of `kind`.
pub(crate) fn parse(
    rel: &str,
    text: &str,
    kind: PyLockKind,
    project_name: Option<&str>,
) -> Result<PyLock, FileError> {
    let mut lock = PyLock {
        versions: HashMap::new(),
        declared: None,
    };
    match kind {
        PyLockKind::Poetry | PyLockKind::Uv => {
            let raw: TomlLock =
                toml::from_str(text).map_err(|e| read::toml_error(rel, text, &e))?;
            for package in raw.package {
                let is_project = kind == PyLockKind::Uv
                    && (project_name.is_some_and(|n| normalize(n) == normalize(&package.name))
                        || package.source.as_ref().is_some_and(|s| {
                            s.get("editable")
                                .or_else(|| s.get("virtual"))
                                .and_then(toml::Value::as_str)
                                == Some(".")
                        }));
                if is_project {
                    let mut declared: BTreeMap<(String, String), BTreeSet<String>> =
                        BTreeMap::new();
                    if let Some(meta) = &package.metadata {
                        let dist = meta.requires_dist.iter().map(|r| (String::new(), r));
                        let dev = meta
                            .requires_dev
                            .iter()
                            .flat_map(|(group, list)| list.iter().map(|r| (normalize(group), r)));
                        for (section, r) in dist.chain(dev) {
                            declared
                                .entry((section, normalize(&r.name)))
                                .or_default()
                                .insert(normalize_specifier(r.specifier.as_deref().unwrap_or("")));
                        }
                    }
                    lock.declared = Some(declared);
                    continue;
                }
                let versions = lock.versions.entry(normalize(&package.name)).or_default();
                if let Some(version) = package.version {
                    versions.insert(version);
                }
            }
        }
        PyLockKind::Pipenv => {
            let raw: PipfileLock =
                serde_json::from_str(text).map_err(|e| read::json_error(rel, &e))?;
            for (name, entry) in raw.default.iter().chain(&raw.develop) {
                let versions = lock.versions.entry(normalize(name)).or_default();
                if let Some(version) = &entry.version {
                    versions.insert(version.trim_start_matches("==").to_owned());
                }
            }
        }
    }
    Ok(lock)
}
