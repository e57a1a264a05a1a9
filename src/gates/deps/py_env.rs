//! The Python environment an application loads its packages from, and what is installed in
//! it — read from `*.dist-info/METADATA` (and legacy `*.egg-info`) headers without starting
//! Python.
//!
//! Located as the app would load it: `$VIRTUAL_ENV` when set (an activated environment), else
//! `.venv` or `venv` in the manifest's directory or a parent up to the project root.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::pep508::{MarkerEnv, normalize};
use super::read;
use crate::project::Project;

/// An installed distribution.
#[derive(Debug, Clone)]
pub(crate) struct Dist {
    pub(crate) name: String,
    pub(crate) version: String,
    /// `Requires-Dist` values as written.
    pub(crate) requires: Vec<String>,
    /// Its metadata directory, for people (`.venv/lib/python3.11/site-packages/x.dist-info`).
    pub(crate) path: String,
}

/// A located virtualenv and its installed distributions (by normalised name).
#[derive(Debug)]
pub(crate) struct Venv {
    /// How it was found, for evidence: `$VIRTUAL_ENV` or its path relative to the project.
    pub(crate) label: String,
    pub(crate) markers: MarkerEnv,
    pub(crate) python: String,
    pub(crate) dists: HashMap<String, Dist>,
    /// Metadata files that could not be read (a broken install).
    pub(crate) broken: Vec<String>,
}

/// Where to look, in order, for the environment of a manifest in `dir`.
pub(crate) fn locate(project: &Project, dir: &Path) -> Option<(PathBuf, String)> {
    if let Some(active) = project.env.get("VIRTUAL_ENV") {
        let path = PathBuf::from(active);
        if path.join("pyvenv.cfg").is_file() {
            // The variable's value is never printed; a path inside the project is.
            let label = if path.starts_with(&project.root) {
                format!("{} ($VIRTUAL_ENV)", project.relative(&path))
            } else {
                "$VIRTUAL_ENV".to_owned()
            };
            // The activated environment is where the app loads its packages from: a named
            // exception to the project confinement, as the state directory is.
            crate::fsread::allow(&path);
            return Some((path, label));
        }
    }
    let mut current = Some(dir);
    while let Some(d) = current {
        for name in [".venv", "venv"] {
            let candidate = d.join(name);
            if candidate.join("pyvenv.cfg").is_file() {
                return Some((candidate.clone(), project.relative(&candidate)));
            }
        }
        if d == project.root {
            break;
        }
        current = d.parent().filter(|p| p.starts_with(&project.root));
    }
    None
}

/// Read the environment at `dir`.
pub(crate) fn load(project: &Project, dir: &Path, label: String) -> Venv {
    let cfg = read::optional_text(&dir.join("pyvenv.cfg")).unwrap_or_default();
    let mut python = None;
    let mut implementation = "cpython".to_owned();
    for line in cfg.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            // `version = 3.11.7` (venv, virtualenv), `version_info = 3.12.1.final.0` (uv).
            "version" | "version_info" if python.is_none() => {
                python = Some(value.split('.').take(3).collect::<Vec<_>>().join("."));
            }
            "implementation" => implementation = value.to_ascii_lowercase(),
            _ => {}
        }
    }
    let mut sites = site_packages(dir);
    if python.is_none() {
        // Fall back to the `lib/pythonX.Y` directory name.
        python = sites.iter().find_map(|s| {
            s.parent()?
                .file_name()?
                .to_str()?
                .strip_prefix("python")
                .map(str::to_owned)
        });
    }
    let python = python.unwrap_or_else(|| "3".to_owned());
    let mut markers = MarkerEnv::cpython(&python);
    markers.implementation_name = implementation;
    let mut venv = Venv {
        label,
        markers,
        python,
        dists: HashMap::new(),
        broken: Vec::new(),
    };
    sites.sort();
    for site in sites {
        read_site(project, &site, &mut venv);
    }
    venv
}

/// `lib/python3.X/site-packages` (and `lib64`, `PyPy`'s `lib/pypy3.X`), deduplicated when `lib64`
/// is a symlink to `lib`.
fn site_packages(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(entries) = fs::read_dir(dir.join(lib)) else {
            continue;
        };
        for entry in entries.flatten() {
            let site = entry.path().join("site-packages");
            if site.is_dir() {
                let real = fs::canonicalize(&site).unwrap_or(site);
                if !out.contains(&real) {
                    out.push(real);
                }
            }
        }
    }
    out
}

fn read_site(project: &Project, site: &Path, venv: &mut Venv) {
    let Ok(entries) = fs::read_dir(site) else {
        return;
    };
    let mut names: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .filter(|(n, _)| n.ends_with(".dist-info") || n.ends_with(".egg-info"))
        .collect();
    names.sort();
    for (name, path) in names {
        let display = project.relative(&path);
        let parsed = if name.ends_with(".dist-info") {
            headers(&path.join("METADATA"))
        } else if path.is_dir() {
            headers(&path.join("PKG-INFO")).map(|mut d| {
                d.requires = egg_requires(&path.join("requires.txt"));
                d
            })
        } else {
            headers(&path)
        };
        match parsed {
            Some(mut dist) => {
                dist.path = display;
                // The first of two metadata directories for one name wins, as in
                // importlib.metadata's path order.
                venv.dists.entry(normalize(&dist.name)).or_insert(dist);
            }
            None => venv.broken.push(display),
        }
    }
}

/// `Name`, `Version` and `Requires-Dist` from an RFC 822-style metadata file, reading only the
/// header block (long descriptions follow the first blank line).
fn headers(path: &Path) -> Option<Dist> {
    let (file, _) = crate::fsread::open(path).ok()?;
    let reader = BufReader::new(file.take(read::MAX_INSTALLED_BYTES));
    let mut name = None;
    let mut version = None;
    let mut requires = Vec::new();
    for line in reader.lines() {
        let line = line.ok()?;
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("Requires-Dist:") {
            requires.push(v.trim().to_owned());
        }
    }
    Some(Dist {
        name: name?,
        version: version?,
        requires,
        path: String::new(),
    })
}

/// The unconditional requirements of an egg-info `requires.txt` (lines before the first
/// `[extra]` or `[:marker]` section).
fn egg_requires(path: &Path) -> Vec<String> {
    let Some(text) = read::optional_text(path) else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
