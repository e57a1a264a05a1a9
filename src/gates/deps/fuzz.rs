//! Entry points for the fuzz targets in `fuzz/` (and the regression tests of what they found):
//! each runs one parser of this gate on arbitrary input. They must never panic, hang or
//! overflow the stack, whatever they are given; results are thrown away.

use super::lines::{JsonKeyLines, TomlKeyLines};
use super::node_tree::Manifest;
use super::pep508::{Marker, MarkerEnv, Requirement};
use super::py_lock::PyLockKind;
use super::{gomod, node_lock, node_shape, py_lock, py_manifest};

/// A package.json: as the project's manifest and as an installed package's.
pub fn package_json(text: &str) {
    let _ = serde_json::from_str::<Manifest>(text).map(|m| m.deps(true));
    let _ = node_shape::check("package.json", text);
    let lines = JsonKeyLines::new(text);
    let _ = lines.get("dependencies", "react");
    let _ = crate::project::fuzz::package_json(text);
}

/// A lock file; the first byte picks which kind, the rest is the text.
pub fn lock(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match kind % 8 {
        0 => drop(node_lock::parse(
            "package-lock.json",
            text,
            "package-lock.json",
        )),
        1 => drop(node_lock::parse("yarn.lock", text, "yarn.lock")),
        2 => drop(node_lock::parse("pnpm-lock.yaml", text, "pnpm-lock.yaml")),
        3 => drop(py_lock::parse(
            "poetry.lock",
            text,
            PyLockKind::Poetry,
            None,
        )),
        4 => drop(py_lock::parse("uv.lock", text, PyLockKind::Uv, Some("app"))),
        5 => drop(py_lock::parse(
            "Pipfile.lock",
            text,
            PyLockKind::Pipenv,
            None,
        )),
        6 => drop(gomod::parse("go.mod", text)),
        _ => drop(gomod::parse_sum("go.sum", text)),
    }
}

/// A requirements.txt (written to a scratch directory, so `-r`/`-c` includes are followed
/// as they would be), and each of its lines as a PEP 508 requirement and marker.
pub fn requirements(text: &str, scratch: &std::path::Path) {
    let env = MarkerEnv::cpython("3.12.1");
    for line in text.lines() {
        if let Ok(req) = Requirement::parse(line) {
            let _ = req.applies(&env, "socks");
            let _ = req.allows("1.2.3");
        }
        if let Ok(marker) = Marker::parse(line) {
            let _ = marker.eval(&env, "");
        }
    }
    let path = scratch.join("requirements.txt");
    if std::fs::write(&path, text).is_ok() {
        let _ = py_manifest::requirements(scratch, &path);
    }
}

/// A pyproject.toml (PEP 621, PEP 735, Poetry) and the same text as a Pipfile.
pub fn pyproject(text: &str) {
    let _ = py_manifest::pyproject("pyproject.toml", text, "3.12.1");
    let _ = py_manifest::pipfile("Pipfile", text);
    let _ = TomlKeyLines::new(text).get("requests");
}
