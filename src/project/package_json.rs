//! package.json files: the scripts a project runs, and the ports those scripts pin.
//!
//! Recognised in scripts: `--port N`, `--port=N`, `-p N` (numeric only), and environment
//! assignments such as `PORT=N` or `VITE_PORT=N` before a command (also after `cross-env`).
//! A value containing `$` (`--port ${PORT:-5173}`, `-p $PORT`) is taken from the environment.
//! Scripts that only run tests (`test`, `test:*`, `e2e`, `cypress`, `playwright`, `jest`,
//! `vitest`, and their `pre`/`post` hooks) start throwaway servers, not published ones; their
//! ports are marked so the checks list them without judging them.

use std::collections::BTreeMap;
use std::path::Path;

use super::FileError;
use super::compose::{read_text, relative};
use super::error::LineIndex;

const MAX_PACKAGE_JSON_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct PackageJson {
    /// Path relative to the project.
    pub path: String,
    /// Directory of the package relative to the project (`.` for the root).
    pub dir: String,
    /// The `name` field, when present.
    pub name: Option<String>,
    /// Script name → command line.
    pub scripts: BTreeMap<String, String>,
    /// Ports pinned by scripts.
    pub ports: Vec<ScriptPort>,
    /// Names of every declared dependency (`dependencies`, `devDependencies`,
    /// `optionalDependencies`, `peerDependencies`): what says which framework the app uses.
    pub dependencies: std::collections::BTreeSet<String>,
}

impl PackageJson {
    /// A service name for reports: the package directory's name, else the package name.
    pub fn service_name(&self) -> String {
        if self.dir != "."
            && let Some(last) = Path::new(&self.dir).file_name()
        {
            return last.to_string_lossy().into_owned();
        }
        self.name.clone().unwrap_or_else(|| "app".to_owned())
    }
}

/// A port set in an npm script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptPort {
    pub script: String,
    /// The flag or variable that sets it: `--port`, `-p`, `PORT=`.
    pub form: String,
    /// The value as written: `3000`, `${PORT:-3000}`, `$PORT`.
    pub value: String,
    /// Line of the script in package.json.
    pub line: u64,
    /// The whole command line, and the byte offset of `value` in it (for a fix that rewrites
    /// this one value and keeps the rest). Shared by every port of the script: a command
    /// pinning thousands of ports is not copied once per port.
    pub command: std::sync::Arc<str>,
    pub offset: usize,
    /// The script only runs tests.
    pub test_only: bool,
}

/// Whether a script, by its name, only runs tests.
pub(crate) fn is_test_script(name: &str) -> bool {
    let name = name
        .strip_prefix("pre")
        .or_else(|| name.strip_prefix("post"))
        .filter(|rest| is_test_script_name(rest))
        .unwrap_or(name);
    is_test_script_name(name)
}

fn is_test_script_name(name: &str) -> bool {
    const RUNNERS: [&str; 7] = [
        "test",
        "e2e",
        "cypress",
        "playwright",
        "jest",
        "vitest",
        "tests",
    ];
    let head = name.split(':').next().unwrap_or(name);
    RUNNERS.contains(&head)
}

pub fn read(root: &Path, path: &Path) -> Result<PackageJson, FileError> {
    let rel = relative(root, path);
    let text = read_text(&rel, path, MAX_PACKAGE_JSON_BYTES)?;
    let dir = path
        .parent()
        .map(|d| relative(root, d))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| ".".to_owned());
    parse(&rel, &dir, &text)
}

pub(crate) fn parse(rel: &str, dir: &str, text: &str) -> Result<PackageJson, FileError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| FileError {
        file: rel.to_owned(),
        line: Some(e.line() as u64),
        column: Some(e.column() as u64),
        message: format!("invalid JSON: {e}"),
    })?;
    let Some(object) = value.as_object() else {
        return Err(FileError::new(rel, "package.json must be a JSON object").at_line(1));
    };
    let name = object
        .get("name")
        .and_then(|n| n.as_str())
        .map(str::to_owned);
    let mut scripts = BTreeMap::new();
    if let Some(map) = object.get("scripts").and_then(|s| s.as_object()) {
        for (key, command) in map {
            if let Some(command) = command.as_str() {
                scripts.insert(key.clone(), command.to_owned());
            }
        }
    }
    let dependencies = [
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
    ]
    .iter()
    .filter_map(|k| object.get(*k).and_then(|d| d.as_object()))
    .flat_map(|d| d.keys().cloned())
    .collect();
    let scripts_at = text.find("\"scripts\"").unwrap_or(0);
    let index = LineIndex::new(text);
    let mut ports = Vec::new();
    for (script, command) in &scripts {
        let found = ports_in_command(command);
        if found.is_empty() {
            continue;
        }
        let line = script_line(text, &index, scripts_at, script);
        let shared: std::sync::Arc<str> = command.as_str().into();
        for (form, value, offset) in found {
            ports.push(ScriptPort {
                script: script.clone(),
                form,
                value,
                line,
                command: shared.clone(),
                offset,
                test_only: is_test_script(script),
            });
        }
    }
    Ok(PackageJson {
        path: rel.to_owned(),
        dir: dir.to_owned(),
        name,
        scripts,
        ports,
        dependencies,
    })
}

/// Line of `"script":` after the `"scripts"` key (1 when it cannot be found).
fn script_line(text: &str, index: &LineIndex, from: usize, script: &str) -> u64 {
    let needle = format!("\"{script}\"");
    let rest = text.get(from..).unwrap_or("");
    let mut search = 0;
    while let Some(pos) = rest.get(search..).and_then(|r| r.find(&needle)) {
        let at = search + pos;
        let after = rest.get(at + needle.len()..).unwrap_or("");
        if after.trim_start().starts_with(':') {
            return index.line(from + at);
        }
        search = at + needle.len();
    }
    1
}

/// The `(form, value, byte offset of value)` of every port a command line pins.
pub(crate) fn ports_in_command(command: &str) -> Vec<(String, String, usize)> {
    // Tokens with their byte offsets; separators are whitespace and `;`.
    let mut tokens: Vec<(usize, &str)> = Vec::new();
    let mut start = None;
    for (i, c) in command.char_indices() {
        if c.is_whitespace() || c == ';' {
            if let Some(s) = start.take() {
                tokens.push((s, &command[s..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        tokens.push((s, &command[s..]));
    }
    tokens.retain(|(_, t)| !matches!(*t, "&&" | "||" | "|" | "&"));
    let unquote = |(at, t): (usize, &str)| -> (usize, String) {
        let trimmed = t.trim_start_matches(['"', '\'']);
        let at = at + (t.len() - trimmed.len());
        (at, trimmed.trim_end_matches(['"', '\'']).to_owned())
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (at, token) = unquote(tokens[i]);
        if let Some(value) = token.strip_prefix("--port=") {
            found.push(("--port".to_owned(), value.to_owned(), at + "--port=".len()));
        } else if token == "--port" || token == "-p" {
            if let Some(next) = tokens.get(i + 1) {
                let (next_at, next) = unquote(*next);
                let is_port = next.contains('$') || next.parse::<u16>().is_ok();
                if is_port {
                    found.push((token.clone(), next, next_at));
                    i += 1;
                }
            }
        } else if let Some((name, value)) = token.split_once('=') {
            let is_port_var = name.ends_with("PORT")
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_port_var && (value.parse::<u16>().is_ok() || value.contains('$')) {
                found.push((format!("{name}="), value.to_owned(), at + name.len() + 1));
            }
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(command: &str) -> Vec<(String, String)> {
        ports_in_command(command)
            .into_iter()
            .map(|(form, value, at)| {
                assert_eq!(&command[at..at + value.len()], value, "offset of {value}");
                (form, value)
            })
            .collect()
    }

    #[test]
    fn script_port_forms() {
        assert_eq!(
            forms("vite --port 5173 --strictPort"),
            vec![("--port".to_owned(), "5173".to_owned())]
        );
        assert_eq!(
            forms("next dev -p 3000"),
            vec![("-p".to_owned(), "3000".to_owned())]
        );
        assert_eq!(
            forms("cross-env PORT=4000 node server.js && tsc -p tsconfig.json"),
            vec![("PORT=".to_owned(), "4000".to_owned())]
        );
        assert_eq!(
            forms("vite --port=${FRONTEND_PORT:-5173}"),
            vec![("--port".to_owned(), "${FRONTEND_PORT:-5173}".to_owned())]
        );
        assert_eq!(
            forms("serve -l 1 --port '8080'"),
            vec![("--port".to_owned(), "8080".to_owned())]
        );
        assert!(forms("mkdir -p dist && node build.js").is_empty());
    }

    #[test]
    fn test_scripts_by_name() {
        for name in [
            "test",
            "test:unit",
            "e2e",
            "e2e:ci",
            "cypress:run",
            "playwright",
            "jest",
            "vitest",
            "pretest",
            "posttest:e2e",
        ] {
            assert!(is_test_script(name), "{name}");
        }
        for name in [
            "dev",
            "start",
            "preview",
            "testing-server",
            "prestart",
            "serve:e2e",
        ] {
            assert!(!is_test_script(name), "{name}");
        }
    }

    #[test]
    fn lines_and_errors() {
        let text = "{\n  \"name\": \"web\",\n  \"scripts\": {\n    \"dev\": \"vite --port 5173\"\n  }\n}\n";
        let p = parse("web/package.json", "web", text).unwrap();
        assert_eq!(p.ports[0].line, 4);
        assert_eq!(p.service_name(), "web");
        let err = parse("package.json", ".", "{\n  \"name\": \n").unwrap_err();
        assert_eq!(err.line, Some(3));
    }
}
