//! Dockerfiles: the ports an image declares with `EXPOSE`, and the values Docker substitutes
//! into them from the `ARG` and `ENV` instructions in scope (`ARG PORT=3000` … `EXPOSE ${PORT}`).
//!
//! Scope follows Docker's rules: an `ARG` before the first `FROM` is global and visible in a
//! stage only once the stage declares it again (`ARG PORT`, which inherits the global default);
//! `ARG` and `ENV` inside a stage are visible from the next line to the end of the stage; a
//! stage built `FROM` an earlier stage inherits that stage's `ENV`. Substitution itself is the
//! crate's one interpolation grammar ([`crate::interp`]), whose `${VAR}`, `${VAR:-d}` and
//! `${VAR:+x}` mean what Docker's mean.

use std::collections::BTreeMap;
use std::path::Path;

use super::FileError;
use super::compose::{read_text, relative};
use crate::interp::Template;

const MAX_DOCKERFILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// Path relative to the project.
    pub path: String,
    pub exposes: Vec<Expose>,
}

/// One port of an `EXPOSE` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expose {
    /// As written, e.g. `3000/tcp` or `${PORT}`.
    pub value: String,
    pub line: u64,
    /// Every word of the instruction, as written, and this port's index among them (so a fix
    /// can rewrite this one word and keep the others).
    pub words: Vec<String>,
    pub index: usize,
    /// Whether the instruction continues on further lines (`\`), where a one-line fix does not
    /// apply.
    pub continued: bool,
    /// Variables with a value at this instruction (`ARG NAME=default`, `ENV NAME=value`), as
    /// Docker would substitute them when no `--build-arg` is given.
    pub defaults: BTreeMap<String, String>,
}

pub fn read(root: &Path, path: &Path) -> Result<Dockerfile, FileError> {
    let rel = relative(root, path);
    let text = read_text(&rel, path, MAX_DOCKERFILE_BYTES)?;
    Ok(parse(&rel, &text))
}

/// Variables of one build stage.
#[derive(Debug, Clone, Default)]
struct Stage {
    name: Option<String>,
    vars: BTreeMap<String, String>,
    /// `ENV` values only: what a stage built `FROM` this one inherits.
    env: BTreeMap<String, String>,
}

/// Collect `EXPOSE` arguments, honouring `\` line continuations, `#` comment lines and the
/// `ARG`/`ENV` values in scope.
pub(crate) fn parse(rel: &str, text: &str) -> Dockerfile {
    let mut exposes = Vec::new();
    let mut global: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut current: Option<Stage> = None;
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        let mut instruction = trimmed.to_owned();
        let mut continued = false;
        while instruction.trim_end().ends_with('\\') {
            continued = true;
            let cut = instruction.trim_end().len() - 1;
            instruction.truncate(cut);
            match lines.next() {
                Some((_, next)) if next.trim_start().starts_with('#') => {}
                Some((_, next)) => {
                    instruction.push(' ');
                    instruction.push_str(next.trim());
                }
                None => break,
            }
        }
        let mut words = instruction.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        let rest: Vec<&str> = words.collect();
        match keyword.to_ascii_uppercase().as_str() {
            "FROM" => {
                if let Some(done) = current.take() {
                    stages.push(done);
                }
                let args: Vec<&str> = rest
                    .iter()
                    .copied()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let base = args.first().copied().unwrap_or("");
                let name = match args.as_slice() {
                    [_, as_kw, name, ..] if as_kw.eq_ignore_ascii_case("AS") => {
                        Some((*name).to_ascii_lowercase())
                    }
                    _ => None,
                };
                let base = base.to_ascii_lowercase();
                let inherited = stages
                    .iter()
                    .rev()
                    .find(|s| s.name.as_deref() == Some(base.as_str()))
                    .map(|s| s.env.clone())
                    .unwrap_or_default();
                current = Some(Stage {
                    name,
                    vars: inherited.clone(),
                    env: inherited,
                });
            }
            "ARG" => {
                for word in &rest {
                    let (name, value) = match word.split_once('=') {
                        Some((n, v)) => (n, Some(unquote(v))),
                        None => (*word, None),
                    };
                    match current.as_mut() {
                        None => {
                            if let Some(v) = value {
                                global.insert(name.to_owned(), v);
                            }
                        }
                        Some(stage) => {
                            // An ENV of the same name wins over an ARG, as in Docker.
                            if stage.env.contains_key(name) {
                                continue;
                            }
                            let value = value
                                .map(|v| substitute(&v, &stage.vars))
                                .or_else(|| global.get(name).cloned());
                            if let Some(v) = value {
                                stage.vars.insert(name.to_owned(), v);
                            }
                        }
                    }
                }
            }
            "ENV" => {
                let Some(stage) = current.as_mut() else {
                    continue;
                };
                for (name, value) in env_pairs(&rest) {
                    let value = substitute(&value, &stage.vars);
                    stage.vars.insert(name.clone(), value.clone());
                    stage.env.insert(name, value);
                }
            }
            "EXPOSE" => {
                let defaults = current.as_ref().map(|s| s.vars.clone()).unwrap_or_default();
                let words: Vec<String> = rest.iter().map(|w| (*w).to_owned()).collect();
                for (i, word) in rest.iter().enumerate() {
                    exposes.push(Expose {
                        value: (*word).to_owned(),
                        line: index as u64 + 1,
                        words: words.clone(),
                        index: i,
                        continued,
                        defaults: defaults.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    Dockerfile {
        path: rel.to_owned(),
        exposes,
    }
}

/// `ENV A=1 B="2"` or the legacy `ENV A 1`.
fn env_pairs(words: &[&str]) -> Vec<(String, String)> {
    match words {
        [] => Vec::new(),
        [first, rest @ ..] if !first.contains('=') => {
            vec![((*first).to_owned(), unquote(&rest.join(" ")))]
        }
        _ => words
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(n, v)| (n.to_owned(), unquote(v)))
            .collect(),
    }
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    v.to_owned()
}

/// A value with the variables in scope substituted; left as written when it cannot be.
fn substitute(value: &str, vars: &BTreeMap<String, String>) -> String {
    Template::parse(value)
        .and_then(|t| t.render(&|name| vars.get(name).cloned()))
        .unwrap_or_else(|_| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_forms() {
        let d = parse(
            "Dockerfile",
            "FROM node\n# EXPOSE 1\nARG PORT=3000\nexpose ${PORT} \\\n  9229/tcp\n",
        );
        let got: Vec<_> = d
            .exposes
            .iter()
            .map(|e| (e.value.as_str(), e.line))
            .collect();
        assert_eq!(got, vec![("${PORT}", 4), ("9229/tcp", 4)]);
        assert_eq!(d.exposes[0].defaults["PORT"], "3000");
        assert!(d.exposes[0].continued);
    }

    #[test]
    fn arg_and_env_scope_follow_docker() {
        let text = "ARG PORT=4000\nARG OTHER=1\nFROM node AS build\nARG PORT\nENV API_PORT=${PORT}\nEXPOSE $API_PORT $OTHER\nFROM build\nEXPOSE ${API_PORT}\nFROM alpine\nEXPOSE ${API_PORT}\n";
        let d = parse("Dockerfile", text);
        let seen: Vec<(&str, Option<&str>)> = d
            .exposes
            .iter()
            .map(|e| {
                let name = e.value.trim_start_matches("${").trim_start_matches('$');
                let name = name.trim_end_matches('}');
                (e.value.as_str(), e.defaults.get(name).map(String::as_str))
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("$API_PORT", Some("4000")),
                // A global ARG not declared again in the stage is not visible.
                ("$OTHER", None),
                // ENV is inherited by a stage built FROM the earlier one.
                ("${API_PORT}", Some("4000")),
                ("${API_PORT}", None),
            ]
        );
    }
}
