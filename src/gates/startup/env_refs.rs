//! Which environment variables the application's code reads, and whether each read has a
//! fallback. Simple line patterns, not a parser: enough to tell `process.env.X ?? "a"` from
//! `process.env.X`, `os.getenv("X", "a")` from `os.environ["X"]`, `env("X", default=…)` from
//! `env("X")`, `std::env::var("X").unwrap_or(…)` from `std::env::var("X")?`. A key of
//! `.env.example` is required only when some read has no fallback.

use std::collections::BTreeMap;
use std::path::Path;

use crate::project::Project;

/// Largest source file read.
const MAX_SOURCE_BYTES: u64 = 1024 * 1024;

/// How the code reads one variable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    /// `file:line` of the first read without a fallback.
    pub(crate) without_default: Option<String>,
    /// `file:line` of the first read with one.
    pub(crate) with_default: Option<String>,
}

/// Every variable read by the project's sources, for the names in `wanted`.
pub(crate) fn scan(project: &Project, wanted: &[&str]) -> BTreeMap<String, Reads> {
    let mut out: BTreeMap<String, Reads> = BTreeMap::new();
    if wanted.is_empty() {
        return out;
    }
    for path in &project.detected.sources {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if meta.len() > MAX_SOURCE_BYTES {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if !wanted.iter().any(|w| text.contains(w)) {
            continue;
        }
        let lang = Lang::of(path);
        let rel = project.relative(path);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            // Go checks for the empty string on the next lines: `if v == "" { v = … }`.
            let next = lines.get(i + 1..(i + 3).min(lines.len())).unwrap_or(&[]);
            for (name, defaulted) in reads(lang, line, next) {
                if !wanted.contains(&name.as_str()) {
                    continue;
                }
                let at = format!("{rel}:{}", i + 1);
                let entry = out.entry(name).or_default();
                let slot = if defaulted {
                    &mut entry.with_default
                } else {
                    &mut entry.without_default
                };
                slot.get_or_insert(at);
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Js,
    Python,
    Go,
    Rust,
}

impl Lang {
    fn of(path: &Path) -> Lang {
        match path.extension().and_then(|e| e.to_str()) {
            Some("py") => Lang::Python,
            Some("go") => Lang::Go,
            Some("rs") => Lang::Rust,
            _ => Lang::Js,
        }
    }
}

/// The variables `line` reads, each with whether the read has a fallback.
fn reads(lang: Lang, line: &str, next: &[&str]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    match lang {
        Lang::Js => {
            for prefix in ["process.env.", "import.meta.env."] {
                for (name, rest) in dotted(line, prefix) {
                    out.push((name, js_fallback(rest)));
                }
            }
            for prefix in ["process.env[", "import.meta.env["] {
                for (name, rest) in called(line, prefix) {
                    out.push((name, js_fallback(rest.trim_start_matches(']'))));
                }
            }
        }
        Lang::Python => {
            for (name, rest) in called(line, "os.environ[") {
                let _ = rest;
                out.push((name, false));
            }
            for prefix in ["os.environ.get(", "os.getenv(", "getenv("] {
                for (name, rest) in called(line, prefix) {
                    out.push((name, second_argument(rest)));
                }
            }
            // django-environ / environs: `env("X")`, `env.bool("X", default=False)`;
            // python-decouple: `config("X", default=…)`.
            for prefix in ["env(", "config("] {
                for (name, rest) in called(line, prefix) {
                    out.push((name, second_argument(rest)));
                }
            }
            for (name, rest) in typed_env_calls(line) {
                out.push((name, second_argument(rest)));
            }
        }
        Lang::Go => {
            for (name, _) in called(line, "os.Getenv(") {
                let checked = next
                    .iter()
                    .chain(std::iter::once(&line))
                    .any(|l| l.contains("== \"\""));
                out.push((name, checked));
            }
            for (name, _) in called(line, "os.LookupEnv(") {
                out.push((name, true));
            }
        }
        Lang::Rust => {
            for prefix in ["env::var(", "env::var_os("] {
                for (name, rest) in called(line, prefix) {
                    let defaulted = [".unwrap_or", ".ok()", ".is_ok()", ".is_err()", "if let Ok"]
                        .iter()
                        .any(|f| rest.contains(f) || line.contains("if let Ok"));
                    out.push((name, defaulted));
                }
            }
            for (name, _) in called(line, "option_env!(") {
                out.push((name, true));
            }
            for (name, _) in called(line, "env!(") {
                out.push((name, false));
            }
        }
    }
    out
}

/// `prefix` immediately followed by an identifier: `process.env.NAME`.
fn dotted<'a>(line: &'a str, prefix: &str) -> Vec<(String, &'a str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = line[from..].find(prefix) {
        let start = from + at + prefix.len();
        let end = line[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(line.len(), |e| start + e);
        if end > start {
            out.push((line[start..end].to_owned(), &line[end..]));
        }
        from = end.max(start);
    }
    out
}

/// `prefix` followed by a quoted name: `os.getenv("NAME"`, `process.env["NAME"]`. Returns the
/// text after the closing quote.
fn called<'a>(line: &'a str, prefix: &str) -> Vec<(String, &'a str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = line[from..].find(prefix) {
        let pos = from + at;
        let start = pos + prefix.len();
        from = start;
        // `getenv(` inside `os.getenv(`, `env(` inside `getenv(`: only a whole word counts.
        let before = line[..pos].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            || (!prefix.contains(['.', ':']) && before == Some('.'))
        {
            continue;
        }
        let rest = line[start..].trim_start();
        let Some(quote) = rest
            .chars()
            .next()
            .filter(|c| matches!(c, '"' | '\'' | '`'))
        else {
            continue;
        };
        let body = &rest[1..];
        let Some(close) = body.find(quote) else {
            continue;
        };
        let name = &body[..close];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push((name.to_owned(), &body[close + 1..]));
        }
    }
    out
}

/// environs / django-environ typed readers: `env.str("X"`, `env.int("X"`, `env.bool("X"`, …
fn typed_env_calls(line: &str) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    for ty in [
        "str", "int", "bool", "float", "list", "dict", "json", "url", "db", "db_url", "cache",
        "email", "path", "decimal",
    ] {
        out.extend(called(line, &format!("env.{ty}(")));
    }
    out
}

/// After `process.env.X`: `?? d`, `|| d`, or a comparison (`=== "production"`) that works with
/// the variable unset.
fn js_fallback(rest: &str) -> bool {
    let rest = rest.trim_start();
    ["??", "||", "===", "!==", "==", "!="]
        .iter()
        .any(|op| rest.starts_with(op))
}

/// After the name in `f("X"`: a second argument (`, "d"`, `, default=…`) before the `)`.
fn second_argument(rest: &str) -> bool {
    rest.trim_start().starts_with(',')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(lang: Lang, line: &str) -> Vec<(String, bool)> {
        reads(lang, line, &[])
    }

    fn one(name: &str, defaulted: bool) -> Vec<(String, bool)> {
        vec![(name.to_owned(), defaulted)]
    }

    #[test]
    fn javascript_reads() {
        assert_eq!(
            r(Lang::Js, "const port = Number(process.env.PORT ?? 4000);"),
            one("PORT", true)
        );
        assert_eq!(
            r(Lang::Js, "const u = process.env.DATABASE_URL;"),
            one("DATABASE_URL", false)
        );
        assert_eq!(
            r(Lang::Js, "x(process.env['API_KEY'] || 'dev')"),
            one("API_KEY", true)
        );
        assert_eq!(
            r(Lang::Js, "if (process.env.NODE_ENV === 'production')"),
            one("NODE_ENV", true)
        );
        assert_eq!(
            r(Lang::Js, "fetch(import.meta.env.VITE_API_URL)"),
            one("VITE_API_URL", false)
        );
    }

    #[test]
    fn python_reads() {
        assert_eq!(
            r(
                Lang::Python,
                "SECRET_KEY = env(\"SECRET_KEY\", default=\"dev\")"
            ),
            one("SECRET_KEY", true)
        );
        assert_eq!(
            r(Lang::Python, "DEBUG = env.bool('DEBUG', default=False)"),
            one("DEBUG", true)
        );
        assert_eq!(
            r(Lang::Python, "KEY = env('SECRET_KEY')"),
            one("SECRET_KEY", false)
        );
        assert_eq!(
            r(Lang::Python, "h = os.getenv(\"HOST\", \"0.0.0.0\")"),
            one("HOST", true)
        );
        assert_eq!(
            r(Lang::Python, "h = os.getenv(\"HOST\")"),
            one("HOST", false)
        );
        assert_eq!(
            r(Lang::Python, "u = os.environ[\"DATABASE_URL\"]"),
            one("DATABASE_URL", false)
        );
        assert_eq!(
            r(Lang::Python, "u = os.environ.get('REDIS_URL', 'redis://')"),
            one("REDIS_URL", true)
        );
        assert_eq!(
            r(
                Lang::Python,
                "x = config('EMAIL_HOST', default='localhost')"
            ),
            one("EMAIL_HOST", true)
        );
    }

    #[test]
    fn go_and_rust_reads() {
        assert_eq!(
            reads(
                Lang::Go,
                "port := os.Getenv(\"PORT\")",
                &["if port == \"\" {"]
            ),
            one("PORT", true)
        );
        assert_eq!(r(Lang::Go, "dsn := os.Getenv(\"DSN\")"), one("DSN", false));
        assert_eq!(
            r(
                Lang::Rust,
                "let p = std::env::var(\"PORT\").unwrap_or_else(|_| \"80\".into());"
            ),
            one("PORT", true)
        );
        assert_eq!(
            r(Lang::Rust, "let k = std::env::var(\"API_KEY\")?;"),
            one("API_KEY", false)
        );
    }
}
