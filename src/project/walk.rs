//! Finding the files that describe how a project is built, configured and deployed.
//!
//! A bounded walk: it never follows symlinks (so symlink loops cannot trap it), never descends
//! into dependency or build directories (`node_modules`, virtualenvs, `target`, `dist`, …) or
//! hidden directories, stops at a fixed depth and file count, and reads no file contents except
//! to tell a Kubernetes manifest from other YAML.

use std::fs;
use std::path::{Path, PathBuf};

/// How deep below the project root detection looks (the root is depth 0).
const MAX_DEPTH: usize = 5;
/// An upper bound on directory entries visited, so a huge tree cannot stall a run.
const MAX_ENTRIES: usize = 20_000;
/// At most this many source files are listed.
pub(crate) const MAX_SOURCES: usize = 5_000;
/// Extensions of the source files listed.
const SOURCE_EXTENSIONS: &[&str] = &[
    "js", "mjs", "cjs", "jsx", "ts", "mts", "cts", "tsx", "svelte", "vue", "astro", "py", "go",
    "rs",
];

/// Directories never descended into: installed dependencies, build output, VCS metadata.
const SKIP_DIRS: &[&str] = &[
    "node_modules",
    "target",
    "dist",
    "out",
    "vendor",
    "venv",
    "env",
    "__pycache__",
    "site-packages",
    "bower_components",
    "coverage",
];

/// The project files detection found, as absolute paths, each list sorted.
#[derive(Debug, Default, Clone)]
pub struct Detected {
    /// Compose files at any depth: `compose.yaml`, `docker-compose.yml`, their overrides and
    /// variants such as `docker-compose.prod.yml`.
    pub compose: Vec<PathBuf>,
    /// YAML files that declare `apiVersion` and `kind` (Kubernetes manifests).
    pub k8s: Vec<PathBuf>,
    /// `Dockerfile`, `Dockerfile.*`, `*.Dockerfile`.
    pub dockerfiles: Vec<PathBuf>,
    pub package_json: Vec<PathBuf>,
    /// Source files (JavaScript/TypeScript, Python, Go, Rust), at most `MAX_SOURCES`, for
    /// the environment variables the code reads.
    pub sources: Vec<PathBuf>,
    /// True when the walk stopped early at its entry limit.
    pub truncated: bool,
}

impl Detected {
    /// Walk `root` and classify what is found.
    pub fn scan(root: &Path) -> Detected {
        let mut found = Detected::default();
        let mut budget = MAX_ENTRIES;
        walk(root, 0, &mut budget, &mut found);
        found.truncated = budget == 0;
        found.compose.sort();
        found.k8s.sort();
        found.dockerfiles.sort();
        found.package_json.sort();
        found.sources.sort();
        found
    }
}

fn walk(dir: &Path, depth: usize, budget: &mut usize, found: &mut Detected) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        // file_type() does not follow symlinks: a symlinked directory is not entered.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        // A name that is not UTF-8 is classified by its lossy form and still walked and read
        // (the path itself is used as is): skipping it would hide a manifest or a hard-coded
        // port. Reports show the lossy form (U+FFFD for the bad bytes).
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let name: &str = &name;
        let path = entry.path();
        if kind.is_dir() {
            if depth < MAX_DEPTH && !name.starts_with('.') && !SKIP_DIRS.contains(&name) {
                subdirs.push(path);
            }
        } else if kind.is_file() {
            classify(name, path, found);
        }
    }
    subdirs.sort();
    for sub in subdirs {
        walk(&sub, depth + 1, budget, found);
    }
}

fn classify(name: &str, path: PathBuf, found: &mut Detected) {
    let lower = name.to_ascii_lowercase();
    let is_yaml = Path::new(&lower)
        .extension()
        .is_some_and(|ext| ext == "yml" || ext == "yaml");
    if is_yaml && is_compose_name(&lower) {
        found.compose.push(path);
    } else if is_yaml {
        if looks_like_k8s(&path) {
            found.k8s.push(path);
        }
    } else if lower == "dockerfile"
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".dockerfile")
    {
        found.dockerfiles.push(path);
    } else if name == "package.json" {
        found.package_json.push(path);
    } else if found.sources.len() < MAX_SOURCES
        && Path::new(&lower)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SOURCE_EXTENSIONS.contains(&e))
        && !lower.ends_with(".min.js")
    {
        found.sources.push(path);
    }
}

/// `compose.yaml`, `docker-compose.yml`, `docker-compose.override.yml`, `compose.prod.yaml`, …
fn is_compose_name(lower: &str) -> bool {
    lower.starts_with("docker-compose.") || lower.starts_with("compose.")
}

/// Whether a YAML file is a Kubernetes manifest: some document in its first 64 KiB has both
/// `apiVersion:` and `kind:` at the start of a line. Helm templates are included; their reader
/// reports them as templates rather than failing on `{{ }}`.
fn looks_like_k8s(path: &Path) -> bool {
    use std::io::Read;
    let Ok((file, _)) = crate::fsread::open(path) else {
        return false;
    };
    let mut bytes = Vec::new();
    if file.take(64 * 1024).read_to_end(&mut bytes).is_err() {
        return false;
    }
    let head = String::from_utf8_lossy(&bytes);
    let has = |key: &str| head.lines().any(|l| l.starts_with(key));
    has("apiVersion:") && has("kind:")
}
