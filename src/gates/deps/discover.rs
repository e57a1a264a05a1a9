//! Finding every dependency manifest of a project, also in mixed repositories (`frontend/` +
//! `backend/`): package.json, requirements*.txt, pyproject.toml, Pipfile, Cargo.toml, go.mod.
//!
//! A bounded walk of its own (the project walk does not look for Python, Rust or Go files): it
//! never follows symlinks, never enters installed dependencies, virtualenvs, build output or
//! hidden directories, skips the simple directory entries of the root `.gitignore`, and stops at
//! a fixed depth and entry count.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const MAX_DEPTH: usize = 6;
const MAX_ENTRIES: usize = 50_000;

/// Never descended into: installed dependencies, virtualenvs, build output, caches.
const SKIP_DIRS: &[&str] = &[
    "node_modules",
    "venv",
    "env",
    "target",
    "vendor",
    "dist",
    "build",
    "__pycache__",
    "site-packages",
    "bower_components",
    "coverage",
    "__pypackages__",
];

/// The manifests found, as absolute paths, each list sorted.
#[derive(Debug, Default)]
pub(crate) struct Manifests {
    pub(crate) package_json: Vec<PathBuf>,
    /// `requirements*.txt` and `requirements/*.txt`.
    pub(crate) requirements: Vec<PathBuf>,
    pub(crate) pyproject: Vec<PathBuf>,
    pub(crate) pipfile: Vec<PathBuf>,
    pub(crate) cargo: Vec<PathBuf>,
    pub(crate) go_mod: Vec<PathBuf>,
    /// The walk stopped at its entry limit: some manifests may be missing.
    pub(crate) truncated: bool,
}

impl Manifests {
    pub(crate) fn is_empty(&self) -> bool {
        self.package_json.is_empty()
            && self.requirements.is_empty()
            && self.pyproject.is_empty()
            && self.pipfile.is_empty()
            && self.cargo.is_empty()
            && self.go_mod.is_empty()
    }
}

/// Walk `root` for manifests.
pub(crate) fn scan(root: &Path) -> Manifests {
    let ignored = gitignored_dirs(root);
    let mut found = Manifests::default();
    let mut budget = MAX_ENTRIES;
    walk(root, root, 0, &ignored, &mut budget, &mut found);
    found.truncated = budget == 0;
    for list in [
        &mut found.package_json,
        &mut found.requirements,
        &mut found.pyproject,
        &mut found.pipfile,
        &mut found.cargo,
        &mut found.go_mod,
    ] {
        list.sort();
    }
    found
}

fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    ignored: &BTreeSet<String>,
    budget: &mut usize,
    found: &mut Manifests,
) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        if *budget == 0 || crate::cancel::requested() {
            return;
        }
        *budget -= 1;
        // file_type() does not follow symlinks, so a symlinked directory is never entered.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        // Not UTF-8: classified by its lossy form, never skipped (it could hide a manifest).
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let name: &str = &name;
        let path = entry.path();
        if kind.is_dir() {
            if depth >= MAX_DEPTH || name.starts_with('.') || SKIP_DIRS.contains(&name) {
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            if ignored.contains(&rel) || ignored.contains(name) {
                continue;
            }
            // A directory holding pyvenv.cfg is a virtualenv whatever its name.
            if path.join("pyvenv.cfg").is_file() {
                continue;
            }
            subdirs.push(path);
        } else if kind.is_file() {
            classify(name, dir, path, found);
        }
    }
    subdirs.sort();
    for sub in subdirs {
        walk(root, &sub, depth + 1, ignored, budget, found);
    }
}

fn classify(name: &str, dir: &Path, path: PathBuf, found: &mut Manifests) {
    let in_requirements_dir = dir.file_name().is_some_and(|d| d == "requirements");
    match name {
        "package.json" => found.package_json.push(path),
        "pyproject.toml" => found.pyproject.push(path),
        "Pipfile" => found.pipfile.push(path),
        "Cargo.toml" => found.cargo.push(path),
        "go.mod" => found.go_mod.push(path),
        _ if Path::new(name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("txt"))
            && (name.starts_with("requirements") || in_requirements_dir) =>
        {
            found.requirements.push(path);
        }
        _ => {}
    }
}

/// Directory names and paths the root `.gitignore` excludes with simple entries (`build/`,
/// `/generated`, `tmp`): no globs, no negations — enough to keep the walk out of ignored trees
/// without a gitignore engine.
fn gitignored_dirs(root: &Path) -> BTreeSet<String> {
    let Some(text) = super::read::optional_text(&root.join(".gitignore")) else {
        return BTreeSet::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter(|l| !l.contains(['*', '?', '[', '\\']))
        .map(|l| l.trim_start_matches('/').trim_end_matches('/').to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_manifests_and_skips_installed_and_ignored_trees() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("frontend/package.json", "{}"),
            ("frontend/node_modules/x/package.json", "{}"),
            ("backend/requirements.txt", ""),
            ("backend/requirements-dev.txt", ""),
            ("backend/requirements/prod.txt", ""),
            ("backend/.venv/lib/requirements.txt", ""),
            ("backend/myenv/pyvenv.cfg", ""),
            ("backend/myenv/requirements.txt", ""),
            ("svc/Cargo.toml", ""),
            ("svc/target/x/Cargo.toml", ""),
            ("tool/go.mod", ""),
            ("generated/package.json", "{}"),
            (".gitignore", "/generated/\n*.log\n"),
        ] {
            let p = root.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        let found = scan(root);
        let rel = |v: &[PathBuf]| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(rel(&found.package_json), ["frontend/package.json"]);
        assert_eq!(
            rel(&found.requirements),
            [
                "backend/requirements/prod.txt",
                "backend/requirements-dev.txt",
                "backend/requirements.txt",
            ]
        );
        assert_eq!(rel(&found.cargo), ["svc/Cargo.toml"]);
        assert_eq!(rel(&found.go_mod), ["tool/go.mod"]);
    }
}
