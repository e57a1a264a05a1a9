//! Go modules: go.mod's requirements have their go.sum lines (what `go build` needs to verify
//! downloads without asking the network), and a vendored module's `vendor/modules.txt` matches
//! go.mod (what `go build -mod=vendor` checks). Read from the files alone.

use super::in_dir;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::outcome::{Outcome, Problem};
use super::read;
use crate::check::Severity;
use crate::project::{FileError, Project};

/// One `require` line.
#[derive(Debug, Clone)]
struct Require {
    path: String,
    version: String,
    indirect: bool,
    line: u64,
}

/// A `replace` target: another module version, or a local directory (nothing to verify).
#[derive(Debug, Clone)]
enum Replacement {
    Module { path: String, version: String },
    Local,
}

#[derive(Debug, Default)]
pub(crate) struct GoMod {
    go: Option<String>,
    requires: Vec<Require>,
    /// `path` or `path version` → replacement.
    replaces: BTreeMap<String, Replacement>,
}

/// Check every go.mod among `manifests`.
pub(crate) fn check_all(project: &Project, manifests: &[PathBuf], out: &mut Outcome) {
    for path in manifests {
        let rel = project.relative(path);
        let parsed = read::text(&rel, path, read::MAX_FILE_BYTES).and_then(|t| parse(&rel, &t));
        match parsed {
            Ok(module) => check_module(project, path, &rel, &module, out),
            Err(e) => {
                out.installed.errors.push(e.clone());
                out.lockfile.errors.push(e);
            }
        }
    }
}

fn check_module(project: &Project, path: &Path, rel: &str, module: &GoMod, out: &mut Outcome) {
    let Some(dir) = path.parent() else { return };
    let dir_rel = project.relative(dir);
    let sum_path = dir.join("go.sum");
    let sum_rel = project.relative(&sum_path);
    let tidy = in_dir(&dir_rel, "go mod tidy");
    let i = out.installed.manifest(rel, "go", module.requires.len());
    out.installed
        .annotate(i, "go", serde_json::Value::from(module.go.clone()));
    let vendored = dir.join("vendor/modules.txt").is_file();
    let i = out.lockfile.manifest(rel, "go", module.requires.len());
    out.lockfile.annotate(
        i,
        "lockfile",
        serde_json::Value::from(sum_path.is_file().then(|| sum_rel.clone())),
    );
    out.lockfile
        .annotate(i, "vendored", serde_json::Value::from(vendored));

    // go.sum: `path version h1:…` (module zip) and `path version/go.mod h1:…`.
    let sums: Option<HashSet<(String, String)>> = if sum_path.is_file() {
        match read::text(&sum_rel, &sum_path, read::MAX_FILE_BYTES)
            .and_then(|t| parse_sum(&sum_rel, &t))
        {
            Ok(sums) => Some(sums),
            Err(e) => {
                out.installed.errors.push(e.clone());
                out.lockfile.errors.push(e);
                return;
            }
        }
    } else {
        None
    };
    let needs_sums = module
        .requires
        .iter()
        .any(|r| !matches!(replacement(module, r), Some(Replacement::Local)));
    match &sums {
        None if needs_sums => out.lockfile.push(
            Problem::new(
                Severity::Error,
                "no_lockfile",
                "",
                rel,
                format!(
                    "{rel} requires {} modules but there is no go.sum: builds cannot verify them",
                    module.requires.len()
                ),
            )
            .at(rel, None)
            .fix(&format!("{tidy} and commit go.sum")),
        ),
        _ => {}
    }
    if let Some(sums) = &sums {
        for r in &module.requires {
            let (mod_path, version) = match replacement(module, r) {
                Some(Replacement::Local) => continue,
                Some(Replacement::Module { path, version }) => (path, version),
                None => (r.path.clone(), r.version.clone()),
            };
            let has_mod = sums.contains(&(mod_path.clone(), format!("{version}/go.mod")));
            let has_zip = sums.contains(&(mod_path.clone(), version.clone()));
            // Every module in the graph needs its go.mod hash; direct requirements are built,
            // so they need the module hash too.
            let missing = if !has_mod {
                Some("go.mod")
            } else if !r.indirect && !has_zip {
                Some("module")
            } else {
                None
            };
            if let Some(what) = missing {
                out.installed.push(
                    Problem::new(
                        Severity::Error,
                        "missing",
                        &r.path,
                        rel,
                        format!(
                            "{mod_path} {version} has no {what} checksum in {sum_rel}: `go build` fails with \"missing go.sum entry\""
                        ),
                    )
                    .with("wanted", Some(&version))
                    .with("path", Some(&sum_rel))
                    .with("required_by", Some(rel))
                    .at(rel, Some(r.line))
                    .fix(&tidy),
                );
            }
        }
    }

    if vendored {
        vendor_check(
            project,
            dir,
            rel,
            module,
            &in_dir(&dir_rel, "go mod vendor"),
            out,
        );
    }
}

fn replacement(module: &GoMod, r: &Require) -> Option<Replacement> {
    module
        .replaces
        .get(&format!("{} {}", r.path, r.version))
        .or_else(|| module.replaces.get(&r.path))
        .cloned()
}

/// `vendor/modules.txt`: each required module listed at its go.mod version and marked
/// `## explicit`, and nothing marked explicit that go.mod does not require.
fn vendor_check(
    project: &Project,
    dir: &Path,
    rel: &str,
    module: &GoMod,
    fix: &str,
    out: &mut Outcome,
) {
    let path = dir.join("vendor/modules.txt");
    let vrel = project.relative(&path);
    let text = match read::text(&vrel, &path, read::MAX_FILE_BYTES) {
        Ok(t) => t,
        Err(e) => {
            out.lockfile.errors.push(e);
            return;
        }
    };
    // `# path version` or `# path version => replacement`, followed by `## explicit; go 1.x`.
    let mut listed: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("## ") {
            if let Some(path) = &current
                && rest.split(';').any(|p| p.trim() == "explicit")
                && let Some(entry) = listed.get_mut(path)
            {
                entry.1 = true;
            }
        } else if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.split_whitespace();
            let (Some(path), version) = (parts.next(), parts.next()) else {
                continue;
            };
            let version = version.filter(|v| *v != "=>").unwrap_or("").to_owned();
            listed.insert(path.to_owned(), (version, false));
            current = Some(path.to_owned());
        }
    }
    let mut mismatch = |package: &str, message: String, line: Option<u64>| {
        out.lockfile.push(
            Problem::new(Severity::Error, "vendor_out_of_sync", package, rel, message)
                .with("path", Some(&vrel))
                .at(if line.is_some() { rel } else { &vrel }, line)
                .fix(fix),
        );
    };
    let required: HashSet<&str> = module.requires.iter().map(|r| r.path.as_str()).collect();
    for r in &module.requires {
        match listed.get(&r.path) {
            None => mismatch(
                &r.path,
                format!(
                    "{} {} is required by {rel} but not in {vrel}",
                    r.path, r.version
                ),
                Some(r.line),
            ),
            Some((version, explicit)) => {
                if !version.is_empty() && *version != r.version {
                    mismatch(
                        &r.path,
                        format!(
                            "{rel} requires {} {}, {vrel} has {version}",
                            r.path, r.version
                        ),
                        Some(r.line),
                    );
                } else if !explicit && module.go.as_deref().is_some_and(go_at_least_1_14) {
                    mismatch(
                        &r.path,
                        format!(
                            "{} is required by {rel} but not marked explicit in {vrel}",
                            r.path
                        ),
                        Some(r.line),
                    );
                }
            }
        }
    }
    for (path, (_, explicit)) in &listed {
        if *explicit && !required.contains(path.as_str()) {
            mismatch(
                path,
                format!("{vrel} lists {path} as required, {rel} does not"),
                None,
            );
        }
    }
}

fn go_at_least_1_14(go: &str) -> bool {
    let mut parts = go.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    major > 1 || (major == 1 && minor >= 14)
}

pub(crate) fn parse_sum(rel: &str, text: &str) -> Result<HashSet<(String, String)>, FileError> {
    let mut out = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() != 3 || !parts[2].contains(':') {
            return Err(FileError::new(
                rel,
                "malformed go.sum line: expected `module version hash`",
            )
            .at_line(i as u64 + 1));
        }
        out.insert((parts[0].to_owned(), parts[1].to_owned()));
    }
    Ok(out)
}

/// Strip a `//` comment, returning the code and whether the comment says `indirect`.
fn split_comment(line: &str) -> (&str, bool) {
    match line.find("//") {
        Some(at) => (
            &line[..at],
            line[at + 2..].split(';').any(|p| p.trim() == "indirect"),
        ),
        None => (line, false),
    }
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').trim_matches('`').to_owned()
}

pub(crate) fn parse(rel: &str, text: &str) -> Result<GoMod, FileError> {
    let mut module = GoMod::default();
    let mut block: Option<String> = None;
    let mut saw_module = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        let (code, indirect) = split_comment(raw);
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        let error = |message: &str| FileError::new(rel, message.to_owned()).at_line(line_no);
        let (verb, rest) = if let Some(b) = &block {
            if code == ")" {
                block = None;
                continue;
            }
            (b.clone(), code.to_owned())
        } else {
            let (verb, rest) = code.split_once(char::is_whitespace).unwrap_or((code, ""));
            let rest = rest.trim();
            if rest == "(" {
                block = Some(verb.to_owned());
                continue;
            }
            (verb.to_owned(), rest.to_owned())
        };
        match verb.as_str() {
            "module" => saw_module = true,
            "go" => module.go = Some(rest.trim().to_owned()),
            "require" => {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                if parts.len() != 2 {
                    return Err(error("malformed require: expected `module version`"));
                }
                module.requires.push(Require {
                    path: unquote(parts[0]),
                    version: parts[1].to_owned(),
                    indirect,
                    line: line_no,
                });
            }
            "replace" => {
                let Some((from, to)) = rest.split_once("=>") else {
                    return Err(error("malformed replace: expected `=>`"));
                };
                let from: Vec<String> = from.split_whitespace().map(unquote).collect();
                let to: Vec<String> = to.split_whitespace().map(unquote).collect();
                let key = from.join(" ");
                let target = match to.as_slice() {
                    [path] if path.starts_with('.') || path.starts_with('/') => Replacement::Local,
                    [path, version] => Replacement::Module {
                        path: path.clone(),
                        version: version.clone(),
                    },
                    [_] => Replacement::Local,
                    _ => return Err(error("malformed replace target")),
                };
                module.replaces.insert(key, target);
            }
            "exclude" | "retract" | "toolchain" | "godebug" | "tool" | "ignore" => {}
            other => return Err(error(&format!("unknown go.mod directive {other:?}"))),
        }
    }
    if block.is_some() {
        return Err(FileError::new(rel, "unclosed ( block").at_line(text.lines().count() as u64));
    }
    if !saw_module {
        return Err(FileError::new(rel, "no module directive"));
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_mod_syntax() {
        let m = parse(
            "go.mod",
            "module example.com/app\n\ngo 1.21\n\nrequire (\n\tgithub.com/a/b v1.2.3\n\tgithub.com/c/d v0.1.0 // indirect\n)\n\
             require github.com/e/f v1.0.0\nreplace github.com/a/b => ../b\nreplace github.com/e/f v1.0.0 => github.com/x/f v1.0.1\n",
        )
        .unwrap();
        assert_eq!(m.go.as_deref(), Some("1.21"));
        assert_eq!(m.requires.len(), 3);
        assert!(m.requires[1].indirect);
        assert_eq!(m.requires[2].line, 9);
        assert!(matches!(
            replacement(&m, &m.requires[0]),
            Some(Replacement::Local)
        ));
        assert!(matches!(
            replacement(&m, &m.requires[2]),
            Some(Replacement::Module { ref version, .. }) if version == "v1.0.1"
        ));
        let err = parse("go.mod", "module x\nrequire (\n  a\n)\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(parse_sum("go.sum", "a v1 h1:x\nbroken\n").unwrap_err().line == Some(2));
    }
}
