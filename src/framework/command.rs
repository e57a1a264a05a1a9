//! Reading a start command the way a shell and the package runners would: split a script into
//! its `&&`/`;`/`|` segments, look past environment assignments and wrappers (`npx`,
//! `cross-env`, `poetry run`, `python -m`, …) to the program, and add a port the way the
//! program takes it.
//!
//! Hand-written rather than a shell parser crate: what matters is which program a segment runs
//! and what flags it already has, not full POSIX word expansion; quotes are honoured, and
//! anything unusual (subshells, `$(…)`) simply does not match a catalogue entry.

use super::model::PortStyle;

/// One command of a script, as words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// Every word of the segment, quotes removed.
    pub(crate) words: Vec<String>,
    /// Index of the program in `words` (after assignments and wrappers).
    pub(crate) program: usize,
    /// Whether this is the last segment of the script (arguments appended to the script reach
    /// it).
    pub(crate) last: bool,
}

impl Invocation {
    /// The program's basename (`vite`, `manage.py`, `gunicorn`).
    pub(crate) fn program(&self) -> &str {
        let word = self.words.get(self.program).map_or("", String::as_str);
        word.rsplit('/').next().unwrap_or(word)
    }

    /// The words after the program.
    pub(crate) fn args(&self) -> &[String] {
        self.words.get(self.program + 1..).unwrap_or(&[])
    }
}

/// Programs that run the next word as the command.
const WRAPPERS: &[&[&str]] = &[
    &["npx"],
    &["pnpx"],
    &["bunx"],
    &["exec"],
    &["env"],
    &["cross-env"],
    &["cross-env-shell"],
    &["dotenv", "--"],
    &["dotenv"],
    &["pnpm", "exec"],
    &["yarn", "exec"],
    &["npm", "exec"],
    &["poetry", "run"],
    &["uv", "run"],
    &["pipenv", "run"],
    &["pdm", "run"],
    &["hatch", "run"],
    &["bundle", "exec"],
    &["python", "-m"],
    &["python3", "-m"],
];

/// Split a script into its commands (`a && b; c | d` → a, b, c, d), respecting quotes.
pub(crate) fn segments(script: &str) -> Vec<Invocation> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = script.chars().peekable();
    let flush = |word: &mut String, in_word: &mut bool, out: &mut Vec<Vec<String>>| {
        if *in_word {
            if let Some(last) = out.last_mut() {
                last.push(std::mem::take(word));
            }
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                    in_word = true;
                }
            }
            (None, ';' | '&' | '|' | '\n') => {
                flush(&mut word, &mut in_word, &mut out);
                while chars.peek().is_some_and(|n| matches!(n, '&' | '|')) {
                    chars.next();
                }
                out.push(Vec::new());
            }
            (None, c) if c.is_whitespace() => flush(&mut word, &mut in_word, &mut out),
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    flush(&mut word, &mut in_word, &mut out);
    let segments: Vec<Vec<String>> = out.into_iter().filter(|s| !s.is_empty()).collect();
    let count = segments.len();
    segments
        .into_iter()
        .enumerate()
        .map(|(i, words)| {
            let program = program_index(&words);
            Invocation {
                words,
                program,
                last: i + 1 == count,
            }
        })
        .collect()
}

/// Skip `NAME=value` assignments and wrappers; `python app.py` counts `app.py` as the program.
fn program_index(words: &[String]) -> usize {
    let mut i = 0;
    loop {
        while words.get(i).is_some_and(|w| is_assignment(w)) {
            i += 1;
        }
        let rest: Vec<&str> = words
            .get(i..)
            .unwrap_or(&[])
            .iter()
            .map(String::as_str)
            .collect();
        let basename = |w: &str| w.rsplit('/').next().unwrap_or(w).to_owned();
        let first = rest.first().map(|w| basename(w));
        let Some(first) = first else {
            return i;
        };
        if let Some(wrapper) = WRAPPERS.iter().find(|w| {
            w.len() <= rest.len()
                && basename(rest[0]) == w[0]
                && w.iter()
                    .skip(1)
                    .zip(rest.iter().skip(1))
                    .all(|(a, b)| a == b)
        }) {
            i += wrapper.len();
            // Wrapper options (`npx --yes vite`, `env -i`) before the command.
            while words
                .get(i)
                .is_some_and(|w| w.starts_with('-') && w != "--")
            {
                i += 1;
            }
            if words.get(i).is_some_and(|w| w == "--") {
                i += 1;
            }
            continue;
        }
        // `python manage.py runserver`, `node server.js`: the script is what is recognised
        // (node keeps its own name: `node server.js` is Node's server command).
        if matches!(first.as_str(), "python" | "python3")
            && rest.len() > 1
            && !rest[1].starts_with('-')
        {
            return i + 1;
        }
        return i;
    }
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    })
}

/// The port a command line already pins with one of `pins` (`--port 3333`, `--port=3333`,
/// `-p 3000`, `--bind 0.0.0.0:8000`, `PORT=4000`, a `runserver 8001` positional). `None` when
/// none is written, or when it comes from a variable (`--port $PORT`: the value is then the one
/// given to the service).
pub(crate) fn pinned_port(invocation: &Invocation, style: PortStyle, pins: &[&str]) -> Option<u16> {
    let words = &invocation.words;
    let port_of = |value: &str| -> Option<u16> {
        if value.contains('$') {
            return None;
        }
        let value = value.rsplit(':').next().unwrap_or(value);
        value.parse().ok()
    };
    for (i, word) in words.iter().enumerate() {
        for pin in pins {
            if let Some(var) = pin.strip_suffix('=') {
                if i < invocation.program
                    && let Some(value) = word.strip_prefix(&format!("{var}="))
                {
                    return port_of(value);
                }
                continue;
            }
            if i <= invocation.program {
                continue;
            }
            if word == pin {
                return words.get(i + 1).and_then(|v| port_of(v));
            }
            if let Some(value) = word.strip_prefix(&format!("{pin}=")) {
                return port_of(value);
            }
        }
    }
    if style == PortStyle::Positional {
        // `runserver [addrport]`: the first non-flag argument after the subcommand.
        return invocation
            .args()
            .iter()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .and_then(|a| port_of(a));
    }
    None
}

/// The arguments that make the program listen on `port` (`--port N --strictPort`,
/// `--bind 127.0.0.1:N`, `127.0.0.1:N`); empty for a port taken from the environment.
pub(crate) fn with_port(style: PortStyle, port: u16) -> Vec<String> {
    match style {
        PortStyle::Flag { flag, extra } => {
            let mut args = vec![flag.to_owned(), port.to_string()];
            args.extend(extra.iter().map(|e| (*e).to_owned()));
            args
        }
        PortStyle::Bind(flag) => vec![flag.to_owned(), format!("127.0.0.1:{port}")],
        PortStyle::Positional => vec![format!("127.0.0.1:{port}")],
        PortStyle::Env(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(script: &str) -> Vec<(String, bool)> {
        segments(script)
            .iter()
            .map(|s| (s.program().to_owned(), s.last))
            .collect()
    }

    #[test]
    fn programs_behind_wrappers_and_assignments() {
        assert_eq!(program("vite"), [("vite".to_owned(), true)]);
        assert_eq!(
            program("cross-env NODE_ENV=production PORT=4000 node server.js"),
            [("node".to_owned(), true)]
        );
        assert_eq!(
            program("tsc -b && npx --yes vite preview"),
            [("tsc".to_owned(), false), ("vite".to_owned(), true)]
        );
        assert_eq!(
            program("poetry run python manage.py runserver"),
            [("manage.py".to_owned(), true)]
        );
        assert_eq!(
            program("python -m uvicorn app.main:app"),
            [("uvicorn".to_owned(), true)]
        );
        assert_eq!(
            program(".venv/bin/gunicorn app:app"),
            [("gunicorn".to_owned(), true)]
        );
        assert_eq!(
            program("echo 'a && b' ; ./node_modules/.bin/next start"),
            [("echo".to_owned(), false), ("next".to_owned(), true)]
        );
    }

    #[test]
    fn pinned_ports() {
        let flag = PortStyle::Flag {
            flag: "--port",
            extra: &[],
        };
        let pin = |s: &str, style, pins: &[&str]| pinned_port(&segments(s)[0], style, pins);
        assert_eq!(pin("vite --port 3333", flag, &["--port"]), Some(3333));
        assert_eq!(
            pin("vite --port=3333 --host", flag, &["--port"]),
            Some(3333)
        );
        assert_eq!(pin("vite --port $PORT", flag, &["--port"]), None);
        assert_eq!(pin("vite --host", flag, &["--port"]), None);
        assert_eq!(
            pin(
                "PORT=4000 node server.js",
                PortStyle::Env("PORT"),
                &["PORT="]
            ),
            Some(4000)
        );
        assert_eq!(
            pin(
                "gunicorn -b 0.0.0.0:8001 app:app",
                PortStyle::Bind("--bind"),
                &["-b", "--bind"]
            ),
            Some(8001)
        );
        assert_eq!(
            pin(
                "python manage.py runserver 8002",
                PortStyle::Positional,
                &[]
            ),
            Some(8002)
        );
        assert_eq!(
            pin("python manage.py runserver", PortStyle::Positional, &[]),
            None
        );
    }

    #[test]
    fn port_arguments() {
        let vite = PortStyle::Flag {
            flag: "--port",
            extra: &["--strictPort"],
        };
        assert_eq!(with_port(vite, 41000), ["--port", "41000", "--strictPort"]);
        assert_eq!(
            with_port(PortStyle::Bind("--bind"), 8),
            ["--bind", "127.0.0.1:8"]
        );
        assert!(with_port(PortStyle::Env("PORT"), 8).is_empty());
    }
}
