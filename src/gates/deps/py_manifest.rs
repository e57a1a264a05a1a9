//! Python manifests: requirements files (with `-r` includes, `-c` constraints, `-e` editables,
//! `--hash` options, markers and extras), pyproject.toml (`[project]`, `[dependency-groups]`,
//! Poetry) and Pipfile — read into one list of declared requirements with their file and line.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::lines::TomlKeyLines;
use super::pep508::{Requirement, normalize};
use super::read;
use crate::project::{FileError, LineIndex};

/// `-r` nesting deeper than this is a loop or a mistake.
const MAX_INCLUDE_DEPTH: usize = 10;

/// One declared requirement and where it is written.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    pub(crate) req: Requirement,
    /// Display path of the file that declares it.
    pub(crate) file: String,
    pub(crate) line: Option<u64>,
    /// Only presence can be checked (editable installs, URLs, VCS, local paths).
    pub(crate) presence_only: bool,
}

/// What a requirements file (with its includes) declares.
#[derive(Debug, Default)]
pub(crate) struct Requirements {
    pub(crate) reqs: Vec<Declared>,
    pub(crate) constraints: Vec<Declared>,
    /// Files pulled in with `-r` or `-c` (absolute), so they are not checked again as roots.
    pub(crate) included: Vec<PathBuf>,
    pub(crate) errors: Vec<FileError>,
    /// Entries whose package name cannot be known without building them.
    pub(crate) unnamed: Vec<String>,
}

/// Read a requirements file and everything it includes.
pub(crate) fn requirements(root: &Path, path: &Path) -> Requirements {
    let mut out = Requirements::default();
    // The file itself counts as read, so `-r` of itself (or a cycle back) is not read again,
    // however the include spells it (`../app/requirements.txt`, a symlink to it).
    let mut seen = HashSet::from([identity(path)]);
    read_requirements(root, path, false, 0, &mut seen, &mut out);
    out
}

/// What makes two spellings of an include the same file: its resolved path when it exists.
fn identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// `a/b/../c` as `a/c`, without touching the file system (the file may not exist; a symlink is
/// caught by [`identity`]).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn read_requirements(
    root: &Path,
    path: &Path,
    constraint: bool,
    depth: usize,
    seen: &mut HashSet<PathBuf>,
    out: &mut Requirements,
) {
    let file = rel(root, path);
    if depth > MAX_INCLUDE_DEPTH {
        out.errors.push(FileError::new(
            &file,
            "requirements includes nest too deep (a loop?)",
        ));
        return;
    }
    let text = match read::text(&file, path, read::MAX_FILE_BYTES) {
        Ok(text) => text,
        Err(e) => {
            out.errors.push(e);
            return;
        }
    };
    let base = path.parent().unwrap_or(root);
    for (line_no, line) in logical_lines(&text) {
        let line = strip_comment(&line);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let located = |message: String| FileError::new(&file, message).at_line(line_no);
        if line.starts_with('-') {
            let (option, value) = split_option(line);
            match option {
                "-r" | "--requirement" | "-c" | "--constraint" => {
                    let Some(value) = value else {
                        out.errors
                            .push(located(format!("{option} needs a file name")));
                        continue;
                    };
                    let target = lexical(&base.join(value));
                    let real = identity(&target);
                    if !seen.insert(real.clone()) {
                        continue;
                    }
                    out.included.push(target.clone());
                    if real != target {
                        out.included.push(real);
                    }
                    let is_constraint = constraint || option == "-c" || option == "--constraint";
                    read_requirements(root, &target, is_constraint, depth + 1, seen, out);
                }
                "-e" | "--editable" => {
                    let Some(value) = value else {
                        out.errors
                            .push(located("-e needs a path or URL".to_owned()));
                        continue;
                    };
                    match local_name(base, value) {
                        Some(name) => out.reqs.push(Declared {
                            req: Requirement {
                                name,
                                extras: Vec::new(),
                                specifier: String::new(),
                                url: Some(value.to_owned()),
                                marker: None,
                            },
                            file: file.clone(),
                            line: Some(line_no),
                            presence_only: true,
                        }),
                        None => out.unnamed.push(format!("{file}:{line_no}: -e {value}")),
                    }
                }
                // Index, build and hash-mode options do not declare anything.
                _ => {}
            }
            continue;
        }
        // Per-requirement options (`--hash=sha256:…`, `--config-settings`) follow the
        // requirement after whitespace.
        let spec = match line.find(" --").or_else(|| line.find("\t--")) {
            Some(at) => line[..at].trim(),
            None => line,
        };
        let looks_local = spec.starts_with('.')
            || spec.starts_with('/')
            || spec.contains("://")
            || has_ext(spec, ".whl")
            || has_ext(spec, ".tar.gz")
            || has_ext(spec, ".zip");
        if looks_local && !spec.contains(" @ ") && !spec.contains("@ ") {
            match local_name(base, spec) {
                Some(name) => out.reqs.push(Declared {
                    req: Requirement {
                        name,
                        extras: Vec::new(),
                        specifier: String::new(),
                        url: Some(spec.to_owned()),
                        marker: None,
                    },
                    file: file.clone(),
                    line: Some(line_no),
                    presence_only: true,
                }),
                None => out.unnamed.push(format!("{file}:{line_no}: {spec}")),
            }
            continue;
        }
        match Requirement::parse(spec) {
            Ok(req) => {
                let presence_only = req.url.is_some();
                let declared = Declared {
                    req,
                    file: file.clone(),
                    line: Some(line_no),
                    presence_only,
                };
                if constraint {
                    out.constraints.push(declared);
                } else {
                    out.reqs.push(declared);
                }
            }
            Err(e) => out.errors.push(located(crate::error_chain::chain(&e))),
        }
    }
}

fn has_ext(name: &str, ext: &str) -> bool {
    name.len() >= ext.len()
        && name
            .get(name.len() - ext.len()..)
            .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Lines joined over trailing-backslash continuations, with the number of their first line.
fn logical_lines(text: &str) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0u64;
    for (i, line) in text.lines().enumerate() {
        if current.is_empty() {
            start = i as u64 + 1;
        }
        if let Some(body) = line.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
        } else {
            current.push_str(line);
            out.push((start, std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        out.push((start, current));
    }
    out
}

/// A `#` at the start or after whitespace starts a comment (a URL fragment `#egg=` does not).
fn strip_comment(line: &str) -> String {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return line[..i].to_owned();
        }
    }
    line.to_owned()
}

/// `-r file`, `-rfile`, `--requirement=file`, `--requirement file`.
fn split_option(line: &str) -> (&str, Option<&str>) {
    if let Some((opt, value)) = line.split_once('=')
        && opt.starts_with("--")
        && !opt.contains(' ')
    {
        return (opt, Some(value.trim()));
    }
    let (opt, value) = match line.split_once(char::is_whitespace) {
        Some((o, v)) => (o, Some(v.trim())),
        None => (line, None),
    };
    // Short options may carry their value attached: `-rbase.txt`.
    if !opt.starts_with("--")
        && value.is_none()
        && let (Some(short), Some(attached)) = (opt.get(..2), opt.get(2..))
        && !attached.is_empty()
    {
        return (short, Some(attached));
    }
    (opt, value.filter(|v| !v.is_empty()))
}

/// The package name of a local path, VCS URL or archive: `#egg=name`, the `name` of a local
/// pyproject.toml, or the wheel/sdist file name.
fn local_name(base: &Path, spec: &str) -> Option<String> {
    if let Some(egg) = spec.split("#egg=").nth(1) {
        return Some(egg.split('&').next().unwrap_or(egg).to_owned());
    }
    let file = spec.rsplit('/').next().unwrap_or(spec);
    if let Some(stem) = file.strip_suffix(".whl") {
        return stem.split('-').next().map(str::to_owned);
    }
    for ext in [".tar.gz", ".zip"] {
        if let Some(stem) = file.strip_suffix(ext) {
            return stem.rsplit_once('-').map(|(name, _)| name.to_owned());
        }
    }
    if spec.contains("://") {
        return None;
    }
    let dir = base.join(spec.split('[').next().unwrap_or(spec));
    let text = read::optional_text(&dir.join("pyproject.toml"))?;
    let parsed: Pyproject = toml::from_str(&text).ok()?;
    parsed
        .project
        .and_then(|p| p.name)
        .or_else(|| parsed.tool.and_then(|t| t.poetry).and_then(|p| p.name))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Pyproject {
    pub(crate) project: Option<ProjectTable>,
    pub(crate) tool: Option<Tool>,
    #[serde(rename = "dependency-groups")]
    pub(crate) dependency_groups: Option<BTreeMap<String, Vec<toml::Value>>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProjectTable {
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) dependencies: Vec<String>,
    /// Extras: locked by uv and Poetry, installed only when asked for.
    #[serde(default, rename = "optional-dependencies")]
    pub(crate) optional_dependencies: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Tool {
    pub(crate) poetry: Option<Poetry>,
    pub(crate) uv: Option<UvTool>,
}

/// `[tool.uv]`: the legacy `dev-dependencies` (uv reads them as the `dev` group, and still
/// writes them to uv.lock that way) and which groups `uv sync` installs.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UvTool {
    #[serde(default, rename = "dev-dependencies")]
    pub(crate) dev_dependencies: Vec<String>,
    #[serde(default, rename = "default-groups")]
    pub(crate) default_groups: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Poetry {
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) dependencies: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "dev-dependencies")]
    pub(crate) dev_dependencies: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub(crate) group: BTreeMap<String, PoetryGroup>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PoetryGroup {
    #[serde(default)]
    pub(crate) optional: bool,
    #[serde(default)]
    pub(crate) dependencies: BTreeMap<String, toml::Value>,
}

/// What a pyproject.toml declares.
#[derive(Debug, Default)]
pub(crate) struct PyprojectDeps {
    /// What a plain install or `uv sync` / `poetry sync` puts in the environment.
    pub(crate) reqs: Vec<Declared>,
    /// Declared and locked, but installed only on request: extras and dependency groups
    /// outside uv's default groups.
    pub(crate) locked_only: Vec<Declared>,
    /// Every PEP 621 / PEP 735 declaration with the section uv records it under: `""` for
    /// dependencies and extras, the normalised group name for groups (the legacy
    /// `[tool.uv] dev-dependencies` are `dev`).
    pub(crate) sections: Vec<(String, Declared)>,
    pub(crate) poetry: bool,
    /// `[project] name`: the project itself, installed editable, is not a dependency.
    pub(crate) name: Option<String>,
}

/// Lines of PEP 508 strings in pyproject.toml. Dependencies are searched for in the order they
/// are written, each from where the previous one was found, so finding them all is one pass
/// over the text rather than one search from the top per dependency.
struct SpecLocator<'a> {
    text: &'a str,
    index: LineIndex,
    cursor: Cell<usize>,
}

impl<'a> SpecLocator<'a> {
    fn new(text: &'a str) -> SpecLocator<'a> {
        SpecLocator {
            text,
            index: LineIndex::new(text),
            cursor: Cell::new(0),
        }
    }

    fn line(&self, needle: &str) -> Option<u64> {
        let from = self.cursor.get();
        let at = match self.text.get(from..).and_then(|rest| rest.find(needle)) {
            Some(at) => from + at,
            // Out of order (another table, a repeat): one search from the top.
            None => self.text.find(needle)?,
        };
        self.cursor.set(at + needle.len());
        Some(self.index.line(at))
    }
}

/// Parse pyproject.toml text.
pub(crate) fn pyproject(file: &str, text: &str, python: &str) -> Result<PyprojectDeps, FileError> {
    let parsed: Pyproject = toml::from_str(text).map_err(|e| read::toml_error(file, text, &e))?;
    let mut out = PyprojectDeps::default();
    let locator = SpecLocator::new(text);
    let line_of = |needle: &str| locator.line(needle);
    let parse_pep508 = |spec: &str| -> Result<Declared, FileError> {
        let req = Requirement::parse(spec).map_err(|e| {
            let mut err = FileError::new(file, crate::error_chain::chain(&e));
            err.line = line_of(spec);
            err
        })?;
        let presence_only = req.url.is_some();
        Ok(Declared {
            req,
            file: file.to_owned(),
            line: line_of(spec),
            presence_only,
        })
    };
    if let Some(project) = &parsed.project {
        out.name.clone_from(&project.name);
        for spec in &project.dependencies {
            let declared = parse_pep508(spec)?;
            out.sections.push((String::new(), declared.clone()));
            out.reqs.push(declared);
        }
        for spec in project.optional_dependencies.values().flatten() {
            let declared = parse_pep508(spec)?;
            out.sections.push((String::new(), declared.clone()));
            out.locked_only.push(declared);
        }
    }
    // PEP 735 groups (with `include-group`), and uv's legacy `[tool.uv] dev-dependencies`,
    // which uv reads as part of `dev`. `uv sync` installs its default groups: `dev`, unless
    // `[tool.uv] default-groups` says otherwise.
    let uv = parsed.tool.as_ref().and_then(|t| t.uv.as_ref());
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(declared) = &parsed.dependency_groups {
        for name in declared.keys() {
            let mut specs = Vec::new();
            group_specs(declared, name, 0, &mut specs);
            groups.insert(normalize(name), specs);
        }
    }
    if let Some(uv) = uv {
        groups
            .entry("dev".to_owned())
            .or_default()
            .extend(uv.dev_dependencies.iter().cloned());
    }
    let default_groups: Option<Vec<String>> = match uv.and_then(|u| u.default_groups.as_ref()) {
        Some(toml::Value::String(all)) if all == "all" => None,
        Some(toml::Value::Array(list)) => Some(
            list.iter()
                .filter_map(toml::Value::as_str)
                .map(normalize)
                .collect(),
        ),
        _ => Some(vec!["dev".to_owned()]),
    };
    for (name, specs) in &groups {
        let installed = default_groups
            .as_ref()
            .is_none_or(|defaults| defaults.contains(name));
        for spec in specs {
            let declared = parse_pep508(spec)?;
            out.sections.push((name.clone(), declared.clone()));
            if installed {
                out.reqs.push(declared);
            } else {
                out.locked_only.push(declared);
            }
        }
    }
    if let Some(poetry) = parsed.tool.as_ref().and_then(|t| t.poetry.as_ref()) {
        out.poetry = true;
        let key_lines = TomlKeyLines::new(text);
        if out.name.is_none() {
            out.name.clone_from(&poetry.name);
        }
        let mut tables: Vec<&BTreeMap<String, toml::Value>> =
            vec![&poetry.dependencies, &poetry.dev_dependencies];
        tables.extend(
            poetry
                .group
                .values()
                .filter(|g| !g.optional)
                .map(|g| &g.dependencies),
        );
        for table in tables {
            for (name, value) in table {
                if name == "python" {
                    continue;
                }
                if let Some(declared) = poetry_dep(file, &key_lines, name, value, python) {
                    out.reqs.push(declared);
                }
            }
        }
    }
    Ok(out)
}

/// The requirement strings of dependency group `name`, with the groups it includes (PEP 735
/// `{include-group = "…"}`), bounded against include cycles.
fn group_specs(
    groups: &BTreeMap<String, Vec<toml::Value>>,
    name: &str,
    depth: usize,
    out: &mut Vec<String>,
) {
    if depth > MAX_INCLUDE_DEPTH {
        return;
    }
    let Some(items) = groups
        .iter()
        .find(|(k, _)| normalize(k) == normalize(name))
        .map(|(_, v)| v)
    else {
        return;
    };
    for item in items {
        match item {
            toml::Value::String(spec) => out.push(spec.clone()),
            toml::Value::Table(table) => {
                if let Some(included) = table.get("include-group").and_then(toml::Value::as_str) {
                    group_specs(groups, included, depth + 1, out);
                }
            }
            _ => {}
        }
    }
}

/// One Poetry dependency (`name = "^1.2"` or a table), None when it does not apply here
/// (optional, or for another Python).
fn poetry_dep(
    file: &str,
    key_lines: &TomlKeyLines,
    name: &str,
    value: &toml::Value,
    python: &str,
) -> Option<Declared> {
    let line = key_lines.get(name);
    let (constraint, presence_only, marker) = match value {
        toml::Value::String(s) => (s.clone(), false, None),
        toml::Value::Table(t) => {
            if t.get("optional").and_then(toml::Value::as_bool) == Some(true) {
                return None;
            }
            if let Some(py) = t.get("python").and_then(toml::Value::as_str)
                && let Some(spec) = poetry_to_pep440(py)
                && !super::pep508::satisfies(&spec, python)
            {
                return None;
            }
            let presence = ["git", "path", "url", "file"]
                .iter()
                .any(|k| t.contains_key(*k));
            let version = t
                .get("version")
                .and_then(toml::Value::as_str)
                .unwrap_or("*")
                .to_owned();
            let marker = t
                .get("markers")
                .and_then(toml::Value::as_str)
                .and_then(|m| super::pep508::Marker::parse(m).ok());
            (version, presence, marker)
        }
        // Several constraints for different Pythons: presence is what can be checked simply.
        _ => ("*".to_owned(), true, None),
    };
    let specifier = poetry_to_pep440(&constraint).unwrap_or_default();
    Some(Declared {
        req: Requirement {
            name: name.to_owned(),
            extras: Vec::new(),
            specifier,
            url: None,
            marker,
        },
        file: file.to_owned(),
        line,
        presence_only,
    })
}

/// A Poetry version constraint as a PEP 440 specifier: `^1.2.3` → `>=1.2.3,<2.0.0`,
/// `~1.2` → `>=1.2,<1.3`, `1.2.*` → `==1.2.*`, `*` → any (empty), `1.2.3` → `==1.2.3`.
/// Alternatives (`||`) are approximated by their first branch's lower bound only when they
/// cannot be expressed; None means "any version".
pub(crate) fn poetry_to_pep440(constraint: &str) -> Option<String> {
    let c = constraint.trim();
    if c.is_empty() || c == "*" {
        return None;
    }
    if c.contains("||") {
        // PEP 440 has no "or": check presence only rather than guess.
        return None;
    }
    let parts: Vec<String> = c
        .split(',')
        .flat_map(|p| p.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|p| !p.is_empty())
        .filter_map(|p| poetry_one(&p))
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

fn poetry_one(part: &str) -> Option<String> {
    let bump = |v: &str, caret: bool| -> Option<String> {
        let nums: Vec<u64> = v
            .split('.')
            .map(|n| n.parse::<u64>().ok())
            .collect::<Option<Vec<_>>>()?;
        let upper = if caret {
            // First non-zero component is bumped (for `^0.0` the last given one).
            let idx = nums
                .iter()
                .position(|&n| n != 0)
                .unwrap_or(nums.len().saturating_sub(1));
            bump_at(&nums, idx)
        } else {
            // Tilde: bump the minor when given, else the major.
            bump_at(&nums, usize::from(nums.len() >= 2))
        };
        Some(format!(">={v},<{upper}"))
    };
    if let Some(v) = part.strip_prefix('^') {
        return bump(v.trim(), true);
    }
    if let Some(v) = part.strip_prefix("~=") {
        return Some(format!("~={}", v.trim()));
    }
    if let Some(v) = part.strip_prefix('~') {
        return bump(v.trim(), false);
    }
    if part.starts_with(['<', '>', '=', '!']) {
        return Some(part.to_owned());
    }
    if part == "*" {
        return None;
    }
    Some(format!("=={part}"))
}

fn bump_at(nums: &[u64], idx: usize) -> String {
    let mut out: Vec<u64> = nums.iter().take(idx + 1).copied().collect();
    if let Some(last) = out.last_mut() {
        *last += 1;
    }
    while out.len() < nums.len().max(2) {
        out.push(0);
    }
    out.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

#[derive(Debug, Default, Deserialize)]
struct Pipfile {
    #[serde(default)]
    packages: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "dev-packages")]
    dev_packages: BTreeMap<String, toml::Value>,
}

/// Parse a Pipfile's `[packages]` and `[dev-packages]`.
pub(crate) fn pipfile(file: &str, text: &str) -> Result<Vec<Declared>, FileError> {
    let parsed: Pipfile = toml::from_str(text).map_err(|e| read::toml_error(file, text, &e))?;
    let mut out = Vec::new();
    let key_lines = TomlKeyLines::new(text);
    for (name, value) in parsed.packages.iter().chain(&parsed.dev_packages) {
        let line = key_lines.get(name);
        let (version, presence_only, marker) = match value {
            toml::Value::String(s) => (s.clone(), false, None),
            toml::Value::Table(t) => (
                t.get("version")
                    .and_then(toml::Value::as_str)
                    .unwrap_or("*")
                    .to_owned(),
                ["git", "path", "file", "editable"]
                    .iter()
                    .any(|k| t.contains_key(*k)),
                t.get("markers")
                    .and_then(toml::Value::as_str)
                    .and_then(|m| super::pep508::Marker::parse(m).ok()),
            ),
            _ => ("*".to_owned(), true, None),
        };
        let specifier = if version.trim() == "*" {
            String::new()
        } else {
            version.split_whitespace().collect()
        };
        if !specifier.is_empty()
            && <pep440_rs::VersionSpecifiers as std::str::FromStr>::from_str(&specifier).is_err()
        {
            let mut err = FileError::new(
                file,
                format!("invalid version specifier {version:?} for {name}"),
            );
            err.line = line;
            return Err(err);
        }
        out.push(Declared {
            req: Requirement {
                name: name.clone(),
                extras: Vec::new(),
                specifier,
                url: None,
                marker,
            },
            file: file.to_owned(),
            line,
            presence_only,
        });
    }
    Ok(out)
}

/// Whether a requirement pins one exact version (`==1.2.3`, `===1.2.3`, not `==1.*`).
pub(crate) fn pinned(declared: &Declared) -> bool {
    declared.presence_only
        || ((declared.req.specifier.starts_with("==") || declared.req.specifier.starts_with("==="))
            && !declared.req.specifier.contains(',')
            && !declared.req.specifier.contains('*'))
}

/// Normalised name of a declared requirement.
pub(crate) fn key(declared: &Declared) -> String {
    normalize(&declared.req.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uv_groups_legacy_dev_and_extras() {
        let text = "[project]\nname = \"app\"\ndependencies = [\"six>=1\"]\n\
                    [project.optional-dependencies]\nidn = [\"idna\"]\n\
                    [dependency-groups]\nlint = [\"ruff\"]\nTest = [{include-group = \"lint\"}, \"pytest\"]\n\
                    [tool.uv]\ndev-dependencies = [\"mypy\"]\n";
        let names = |list: &[Declared]| -> Vec<String> {
            list.iter().map(|d| d.req.name.clone()).collect()
        };
        let deps = pyproject("pyproject.toml", text, "3.11").unwrap();
        assert_eq!(names(&deps.reqs), ["six", "mypy"]);
        assert_eq!(names(&deps.locked_only), ["idna", "ruff", "ruff", "pytest"]);
        let sections: Vec<(&str, &str)> = deps
            .sections
            .iter()
            .map(|(s, d)| (s.as_str(), d.req.name.as_str()))
            .collect();
        assert_eq!(
            sections,
            [
                ("", "six"),
                ("", "idna"),
                ("dev", "mypy"),
                ("lint", "ruff"),
                ("test", "ruff"),
                ("test", "pytest")
            ]
        );
        // `default-groups` decides what `uv sync` installs.
        let all = format!("{text}default-groups = \"all\"\n");
        let deps = pyproject("pyproject.toml", &all, "3.11").unwrap();
        assert_eq!(names(&deps.reqs), ["six", "mypy", "ruff", "ruff", "pytest"]);
    }

    #[test]
    fn include_loops_read_each_file_once_however_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(
            root.join("requirements.txt"),
            "-r sub/requirements.txt\n-r ./requirements.txt\n-r link.txt\nroot-pkg\n",
        )
        .unwrap();
        std::fs::write(
            root.join("sub/requirements.txt"),
            "-r ../requirements.txt\n-r ../sub/../sub/requirements.txt\nsub-pkg\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("requirements.txt", root.join("link.txt")).unwrap();
        let out = requirements(root, &root.join("requirements.txt"));
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let found: Vec<(&str, &str, Option<u64>)> = out
            .reqs
            .iter()
            .map(|d| (d.req.name.as_str(), d.file.as_str(), d.line))
            .collect();
        assert_eq!(
            found,
            [
                ("sub-pkg", "sub/requirements.txt", Some(3)),
                ("root-pkg", "requirements.txt", Some(4)),
            ]
        );
        // The root is never recorded as included (it must stay a root), the others are.
        assert!(!out.included.contains(&root.join("requirements.txt")));
        assert!(out.included.contains(&root.join("sub/requirements.txt")));
    }

    #[test]
    fn requirements_syntax() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("requirements.txt"),
            "# comment\n-r base.txt\n--constraint=constraints.txt\n--index-url https://index.example/simple\n\
             requests[socks]>=2.31 ; python_version >= \"3.8\"  # trailing comment\n\
             six==1.16.0 \\\n    --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254 \\\n    --hash=sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926\n\
             -e ./localpkg\n-e git+https://git.example/a/b.git#egg=bee\n./dist/tool-1.0-py3-none-any.whl\n\
             broken >=>1\n",
        )
        .unwrap();
        std::fs::write(root.join("base.txt"), "idna==3.7\n").unwrap();
        std::fs::write(root.join("constraints.txt"), "urllib3<3\n").unwrap();
        std::fs::create_dir_all(root.join("localpkg")).unwrap();
        std::fs::write(
            root.join("localpkg/pyproject.toml"),
            "[project]\nname = \"local-pkg\"\n",
        )
        .unwrap();
        let out = requirements(root, &root.join("requirements.txt"));
        let names: Vec<(&str, Option<u64>)> = out
            .reqs
            .iter()
            .map(|d| (d.req.name.as_str(), d.line))
            .collect();
        assert_eq!(
            names,
            [
                ("idna", Some(1)),
                ("requests", Some(5)),
                ("six", Some(6)),
                ("local-pkg", Some(9)),
                ("bee", Some(10)),
                ("tool", Some(11)),
            ]
        );
        assert_eq!(out.reqs[2].req.specifier, "==1.16.0");
        assert_eq!(out.constraints.len(), 1);
        assert_eq!(out.included.len(), 2);
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].line, Some(12));
    }

    #[test]
    fn poetry_constraints() {
        assert_eq!(poetry_to_pep440("^1.2.3").unwrap(), ">=1.2.3,<2.0.0");
        assert_eq!(poetry_to_pep440("^0.2.3").unwrap(), ">=0.2.3,<0.3.0");
        assert_eq!(poetry_to_pep440("^0.0.3").unwrap(), ">=0.0.3,<0.0.4");
        assert_eq!(poetry_to_pep440("~1.2.3").unwrap(), ">=1.2.3,<1.3.0");
        assert_eq!(poetry_to_pep440("~1").unwrap(), ">=1,<2.0");
        assert_eq!(poetry_to_pep440(">=1.0,<2").unwrap(), ">=1.0,<2");
        assert_eq!(poetry_to_pep440("2.1").unwrap(), "==2.1");
        assert!(poetry_to_pep440("*").is_none());
        assert!(poetry_to_pep440("^1 || ^2").is_none());
    }

    #[test]
    fn pyproject_sections() {
        let text = "[project]\nname = \"app\"\ndependencies = [\n  \"requests>=2\",\n  \"tomli; python_version < '3.11'\",\n]\n\
                    [dependency-groups]\ndev = [\"pytest>=8\"]\n\
                    [tool.poetry.dependencies]\npython = \"^3.9\"\nsix = \"^1.16\"\nold = { version = \"^1\", python = \"<3.8\" }\n\
                    [tool.poetry.group.docs]\noptional = true\n[tool.poetry.group.docs.dependencies]\nsphinx = \"*\"\n";
        let out = pyproject("pyproject.toml", text, "3.11.7").unwrap();
        let names: Vec<(&str, Option<u64>)> = out
            .reqs
            .iter()
            .map(|d| (d.req.name.as_str(), d.line))
            .collect();
        assert_eq!(
            names,
            [
                ("requests", Some(4)),
                ("tomli", Some(5)),
                ("pytest", Some(8)),
                ("six", Some(11))
            ]
        );
        assert!(out.poetry);
        let err = pyproject(
            "pyproject.toml",
            "[project]\ndependencies = [\"ok\",\n",
            "3.11.7",
        )
        .unwrap_err();
        assert!(err.line.is_some(), "{err}");
    }
}
