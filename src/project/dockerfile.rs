//! Dockerfiles: the ports an image declares with `EXPOSE`, and the values Docker substitutes
//! into them from the `ARG` and `ENV` instructions in scope (`ARG PORT=3000` … `EXPOSE ${PORT}`);
//! and the command the image runs (the final stage's `ENTRYPOINT` and `CMD`), which the startup
//! gate takes as a hint when nothing else says how the app starts.
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
    /// The final stage's `ENTRYPOINT` (inherited from the stage it is built `FROM`).
    pub entrypoint: Option<Form>,
    /// The final stage's `CMD` (inherited likewise).
    pub cmd: Option<Form>,
    /// The final stage's `WORKDIR` (`/` without one): where the command runs in the image.
    pub workdir: String,
    /// The final stage's copies from the build context (`COPY`/`ADD` without `--from`, one
    /// source each), in order: how a path of the image maps back to the project's.
    pub copies: Vec<Copied>,
}

/// One `COPY dist/api api/` of the build context into the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// As written, relative to the build context (the project root).
    pub source: String,
    /// Absolute in the image, `WORKDIR` applied; a trailing `/` kept (a file source lands
    /// inside it under its own name).
    pub dest: String,
}

/// How an `ENTRYPOINT` or `CMD` is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// `CMD ["node", "server.js"]`: the words, run without a shell.
    Exec(Vec<String>),
    /// `CMD node server.js`: a line run with `/bin/sh -c`.
    Shell(String),
}

impl Form {
    fn parse(args: &str) -> Option<Form> {
        let args = args.trim();
        if args.is_empty() {
            return None;
        }
        // Docker reads a JSON array as the exec form; anything else (also a broken array) is
        // the shell form.
        if args.starts_with('[')
            && let Ok(words) = serde_json::from_str::<Vec<String>>(args)
        {
            return Some(Form::Exec(words));
        }
        Some(Form::Shell(args.to_owned()))
    }
}

/// Entry points that only set the stage and then run the `CMD` (`exec "$@"`): the init shims and
/// the customary `docker-entrypoint.sh` scripts.
fn is_wrapper(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    matches!(name, "tini" | "dumb-init" | "catatonit")
        || Path::new(name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("sh"))
}

impl Dockerfile {
    /// The command the image runs, as the words of an exec form or one shell line: `ENTRYPOINT`
    /// followed by `CMD` as Docker joins them, except that an entry point which only wraps what
    /// follows (tini, dumb-init, a `*-entrypoint.sh` ending in `exec "$@"`) is left out, with its
    /// options: what it runs is the server.
    pub fn command(&self) -> Option<Form> {
        match (&self.entrypoint, &self.cmd) {
            // A shell-form entry point ignores CMD.
            (Some(Form::Shell(line)), _) => Some(Form::Shell(line.clone())),
            (Some(Form::Exec(entry)), cmd) => {
                let entry: Vec<String> = match entry.split_first() {
                    Some((program, rest)) if is_wrapper(program) => rest
                        .iter()
                        .skip_while(|w| w.starts_with('-'))
                        .cloned()
                        .collect(),
                    _ => entry.clone(),
                };
                match cmd {
                    Some(Form::Exec(args)) => {
                        Some(Form::Exec(entry.iter().chain(args).cloned().collect()))
                    }
                    Some(Form::Shell(line)) if entry.is_empty() => Some(Form::Shell(line.clone())),
                    Some(Form::Shell(line)) => {
                        let mut words = entry;
                        words.extend(["/bin/sh".to_owned(), "-c".to_owned(), line.clone()]);
                        Some(Form::Exec(words))
                    }
                    None => (!entry.is_empty()).then_some(Form::Exec(entry)),
                }
            }
            (None, cmd) => cmd.clone(),
        }
    }

    /// The project path that a path of the image's command (`api`, `/app/dist/main.js`,
    /// relative to the final `WORKDIR`) was copied from, by the last copy that covers it:
    /// `COPY dist/api api/` makes `api` the project's `dist/api`, `COPY . .` every path the
    /// project's own. `is_file` says whether a project path is a file (a file copied into a
    /// directory keeps its name). None when no copy covers it, or it maps outside the project.
    pub fn project_path(&self, image_path: &str, is_file: impl Fn(&str) -> bool) -> Option<String> {
        let wanted = absolute(&self.workdir, image_path);
        for copy in self.copies.iter().rev() {
            let source = normal(&copy.source)?;
            let dest = if copy.dest.ends_with('/') && is_file(&source) {
                let name = source.rsplit('/').next().unwrap_or(&source);
                absolute(&copy.dest, name)
            } else {
                absolute(&copy.dest, ".")
            };
            let rest = if wanted == dest {
                Some("")
            } else {
                wanted
                    .strip_prefix(dest.as_str())
                    .and_then(|r| r.strip_prefix('/').or((dest == "/").then_some(r)))
            };
            if let Some(rest) = rest {
                return normal(&format!("{source}/{rest}"));
            }
        }
        None
    }
}

/// `path` made absolute against `dir` (an absolute image directory), `.` and `..` resolved.
fn absolute(dir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{dir}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A build-context path made plain (`./dist/api/` → `dist/api`, `.` → `.`); None when it
/// leaves the context or is absolute.
fn normal(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
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
    entrypoint: Option<Form>,
    cmd: Option<Form>,
    workdir: String,
    copies: Vec<Copied>,
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
            let cut = instruction.trim_end().len();
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
                let parent = stages
                    .iter()
                    .rev()
                    .find(|s| s.name.as_deref() == Some(base.as_str()));
                let inherited = parent.map(|s| s.env.clone()).unwrap_or_default();
                current = Some(Stage {
                    name,
                    vars: inherited.clone(),
                    env: inherited,
                    entrypoint: parent.and_then(|s| s.entrypoint.clone()),
                    cmd: parent.and_then(|s| s.cmd.clone()),
                    workdir: parent.map_or_else(|| "/".to_owned(), |s| s.workdir.clone()),
                    copies: parent.map(|s| s.copies.clone()).unwrap_or_default(),
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
            "WORKDIR" => {
                let Some(stage) = current.as_mut() else {
                    continue;
                };
                let dir = substitute(&unquote(&rest.join(" ")), &stage.vars);
                stage.workdir = absolute(&stage.workdir, &dir);
            }
            "COPY" | "ADD" => {
                let Some(stage) = current.as_mut() else {
                    continue;
                };
                // `--from=builder` copies another stage's files, not the project's.
                if rest.iter().any(|w| w.starts_with("--from")) {
                    continue;
                }
                let args: Vec<String> = rest
                    .iter()
                    .filter(|w| !w.starts_with("--"))
                    .map(|w| substitute(w, &stage.vars))
                    .collect();
                if let [source, dest] = args.as_slice()
                    && !source.contains("://")
                    && !source.contains(['*', '?', '['])
                {
                    let trailing = if dest.ends_with('/') { "/" } else { "" };
                    let dest = absolute(&stage.workdir, dest);
                    stage.copies.push(Copied {
                        source: source.clone(),
                        dest: format!("{}{trailing}", dest.trim_end_matches('/')),
                    });
                }
            }
            "CMD" | "ENTRYPOINT" => {
                let Some(stage) = current.as_mut() else {
                    continue;
                };
                let args = instruction.trim_start().get(keyword.len()..).unwrap_or("");
                let form = Form::parse(args);
                if keyword.eq_ignore_ascii_case("CMD") {
                    stage.cmd = form;
                } else {
                    stage.entrypoint = form;
                }
            }
            _ => {}
        }
    }
    let last = current.or_else(|| stages.pop());
    Dockerfile {
        path: rel.to_owned(),
        exposes,
        entrypoint: last.as_ref().and_then(|s| s.entrypoint.clone()),
        workdir: last
            .as_ref()
            .map_or_else(|| "/".to_owned(), |s| s.workdir.clone()),
        copies: last.as_ref().map(|s| s.copies.clone()).unwrap_or_default(),
        cmd: last.and_then(|s| s.cmd),
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
    fn image_paths_map_back_to_the_copies_they_came_from() {
        let d = parse(
            "Dockerfile",
            "FROM node AS build\nWORKDIR /src\nCOPY . .\nFROM node\nARG OUT=dist\nWORKDIR /app\nCOPY --from=build /src/dist ./dist\nCOPY ${OUT}/api api/\nCOPY package.json ./\nCOPY ./config/prod.json /etc/app/config.json\nWORKDIR api\nCMD [\"node\", \".\"]\n",
        );
        assert_eq!(d.workdir, "/app/api");
        let file = |p: &str| ["package.json", "config/prod.json"].contains(&p);
        let map = |p: &str| d.project_path(p, file);
        assert_eq!(map(".").as_deref(), Some("dist/api"));
        assert_eq!(map("main.js").as_deref(), Some("dist/api/main.js"));
        assert_eq!(
            map("/app/api/assets/x.css").as_deref(),
            Some("dist/api/assets/x.css")
        );
        // A file copied into a directory keeps its name.
        assert_eq!(map("../package.json").as_deref(), Some("package.json"));
        assert_eq!(
            map("/etc/app/config.json").as_deref(),
            Some("config/prod.json")
        );
        // What another stage produced, or nothing copied, is not the project's.
        assert_eq!(map("/app/dist/main.js"), None);
        assert_eq!(map("/usr/bin/node"), None);
        // `COPY . .` makes every path below the work directory the project's own.
        let d = parse(
            "Dockerfile",
            "FROM node\nWORKDIR /app\nCOPY . .\nCMD node server.js\n",
        );
        assert_eq!(
            d.project_path("server.js", file).as_deref(),
            Some("server.js")
        );
        assert_eq!(d.project_path("/app", file).as_deref(), Some("."));
        assert_eq!(d.project_path("/etc/passwd", file), None);
        // Leaving the build context is never a project path.
        let d = parse("Dockerfile", "FROM node\nCOPY ../secret /s\n");
        assert_eq!(d.project_path("/s", file), None);
    }

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
    fn the_command_is_the_final_stage_entrypoint_and_cmd_as_docker_joins_them() {
        let command = |text: &str| parse("Dockerfile", text).command();
        let exec = |w: &[&str]| Some(Form::Exec(w.iter().map(|s| (*s).to_owned()).collect()));
        assert_eq!(
            command("FROM node\nENTRYPOINT [\"node\"]\nCMD [\"index.js\"]\n"),
            exec(&["node", "index.js"])
        );
        assert_eq!(
            command("FROM python\nCMD uvicorn main:app \\\n  --host 0.0.0.0\n"),
            Some(Form::Shell("uvicorn main:app --host 0.0.0.0".to_owned()))
        );
        // Init shims and entrypoint scripts run what follows them: that is the server.
        assert_eq!(
            command(
                "FROM node\nENTRYPOINT [\"tini\", \"-g\", \"--\", \"node\"]\nCMD [\"app.js\"]\n"
            ),
            exec(&["node", "app.js"])
        );
        assert_eq!(
            command("FROM node\nENTRYPOINT [\"/sbin/tini\", \"--\"]\nCMD [\"node\", \"app.js\"]\n"),
            exec(&["node", "app.js"])
        );
        assert_eq!(
            command(
                "FROM python\nENTRYPOINT [\"/docker-entrypoint.sh\"]\nCMD [\"gunicorn\", \"app:app\"]\n"
            ),
            exec(&["gunicorn", "app:app"])
        );
        // A shell-form entry point ignores CMD; the build stage's CMD is not the image's.
        assert_eq!(
            command(
                "FROM node AS build\nCMD [\"npm\", \"test\"]\nFROM nginx\nENTRYPOINT nginx -g 'daemon off;'\nCMD [\"x\"]\n"
            ),
            Some(Form::Shell("nginx -g 'daemon off;'".to_owned()))
        );
        assert_eq!(
            command("FROM node AS build\nCMD [\"npm\", \"test\"]\nFROM nginx\n"),
            None
        );
        // A stage built FROM an earlier one inherits its command.
        assert_eq!(
            command("FROM node AS base\nCMD [\"node\", \"s.js\"]\nFROM base\nENV A=1\n"),
            exec(&["node", "s.js"])
        );
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
