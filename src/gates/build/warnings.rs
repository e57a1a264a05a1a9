//! Diagnostics parsed from build output: cargo's JSON messages, tsc, eslint, vite/rollup,
//! webpack, and the generic `file:line:col: warning:` and `warning:` forms.

use std::collections::BTreeSet;

/// One diagnostic a build printed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Diagnostic {
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u64>,
    pub(crate) column: Option<u64>,
    pub(crate) level: Level,
    pub(crate) message: String,
    /// Which parser recognised it: `cargo`, `tsc`, `eslint`, `rollup`, `webpack`, `generic`.
    pub(crate) tool: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Error,
    Warning,
}

/// Parse every diagnostic in `output` (ANSI colours already removed), without duplicates.
pub(crate) fn parse(output: &str) -> Vec<Diagnostic> {
    let mut found = BTreeSet::new();
    let mut eslint_file: Option<String> = None;
    for raw in output.lines() {
        let line = raw.trim_end();
        if line.starts_with('{') {
            if let Some(d) = cargo_json(line) {
                found.insert(d);
            }
            continue;
        }
        if let Some(d) = tsc(line)
            .or_else(|| webpack(line))
            .or_else(|| located_generic(line))
        {
            found.insert(d);
            continue;
        }
        // eslint's stylish format: a file path line, then indented `line:col  level  message`.
        if !line.starts_with(char::is_whitespace) && looks_like_path(line) {
            eslint_file = Some(line.trim().to_owned());
            continue;
        }
        if let Some(file) = &eslint_file
            && let Some(d) = eslint_entry(file, line)
        {
            found.insert(d);
            continue;
        }
        if line.is_empty() {
            eslint_file = None;
        }
        if let Some(d) = rollup(line).or_else(|| bare_generic(line)) {
            found.insert(d);
        }
    }
    found.into_iter().collect()
}

fn diag(level: Level, message: &str, tool: &'static str) -> Diagnostic {
    Diagnostic {
        file: None,
        line: None,
        column: None,
        level,
        message: message.trim().to_owned(),
        tool,
    }
}

/// cargo `--message-format=json`: `compiler-message` with a primary span.
fn cargo_json(line: &str) -> Option<Diagnostic> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("reason")?.as_str()? != "compiler-message" {
        return None;
    }
    let message = value.get("message")?;
    let level = match message.get("level")?.as_str()? {
        "warning" => Level::Warning,
        "error" => Level::Error,
        _ => return None,
    };
    let text = message.get("message")?.as_str()?;
    let spans = message.get("spans")?.as_array()?;
    let primary = spans
        .iter()
        .find(|s| s.get("is_primary").and_then(serde_json::Value::as_bool) == Some(true));
    // Summary lines ("3 warnings emitted") have no span and repeat what was counted.
    let primary = primary?;
    // An error raised inside a macro (sqlx's `query!`) has its primary span in the macro's
    // source — the registry or a path dependency, an absolute path — and an `expansion` chain
    // back to the call site. Point at the first span of that chain in the workspace (cargo
    // writes workspace files relative to the workspace root); when none is, give no file
    // rather than one the user cannot edit.
    let mut span = primary;
    let mut steps = 0;
    let located = loop {
        if span_in_workspace(span) {
            break Some(span);
        }
        steps += 1;
        match span.get("expansion").and_then(|e| e.get("span")) {
            Some(outer) if steps < 64 => span = outer,
            _ => break None,
        }
    };
    let field = |key: &str| located.and_then(|s| s.get(key));
    Some(Diagnostic {
        file: field("file_name")
            .and_then(|f| f.as_str())
            .map(str::to_owned),
        line: field("line_start").and_then(serde_json::Value::as_u64),
        column: field("column_start").and_then(serde_json::Value::as_u64),
        level,
        message: text.to_owned(),
        tool: "cargo",
    })
}

/// Whether a cargo JSON span is in a file of the workspace: a relative path (cargo makes
/// workspace paths relative), not an absolute one (registry, git checkouts, the standard
/// library, path dependencies outside the workspace) nor a pseudo-file like `<macros>`.
fn span_in_workspace(span: &serde_json::Value) -> bool {
    span.get("file_name")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|f| !f.is_empty() && !f.starts_with('/') && !f.starts_with('<'))
}

/// tsc: `src/a.ts(3,7): error TS2322: …` or `src/a.ts:3:7 - error TS2322: …`.
fn tsc(line: &str) -> Option<Diagnostic> {
    let (location, rest) = if let Some(i) = line.find("): ") {
        let loc = &line[..=i];
        let open = loc.rfind('(')?;
        let (l, c) = loc[open + 1..loc.len() - 1].split_once(',')?;
        ((loc[..open].to_owned(), l, c), &line[i + 3..])
    } else {
        let (loc, rest) = line.split_once(" - ")?;
        let mut parts = loc.rsplitn(3, ':');
        let c = parts.next()?;
        let l = parts.next()?;
        let file = parts.next()?;
        ((file.to_owned(), l, c), rest)
    };
    let (level, message) = if let Some(m) = rest.strip_prefix("error ") {
        (Level::Error, m)
    } else if let Some(m) = rest.strip_prefix("warning ") {
        (Level::Warning, m)
    } else {
        return None;
    };
    if !message.starts_with("TS") {
        return None;
    }
    Some(Diagnostic {
        file: Some(location.0),
        line: location.1.trim().parse().ok(),
        column: location.2.trim().parse().ok(),
        level,
        message: message.to_owned(),
        tool: "tsc",
    })
}

/// webpack: `WARNING in ./src/x.js 3:7-12` / `ERROR in …`.
fn webpack(line: &str) -> Option<Diagnostic> {
    let (level, rest) = if let Some(r) = line.strip_prefix("WARNING in ") {
        (Level::Warning, r)
    } else if let Some(r) = line.strip_prefix("ERROR in ") {
        (Level::Error, r)
    } else {
        return None;
    };
    let mut words = rest.split_whitespace();
    let first = words.next().unwrap_or("");
    let position = words.next().and_then(|p| {
        let (l, c) = p.split_once(':')?;
        Some((
            l.parse::<u64>().ok()?,
            c.split('-').next()?.parse::<u64>().ok()?,
        ))
    });
    let mut d = diag(level, rest, "webpack");
    if looks_like_path(first) {
        d.file = Some(first.trim_start_matches("./").to_owned());
        if let Some((l, c)) = position {
            d.line = Some(l);
            d.column = Some(c);
        }
    }
    Some(d)
}

/// `file:line:col: warning: message` (gcc, clang, go vet, many linters).
fn located_generic(line: &str) -> Option<Diagnostic> {
    let (level, split) = if let Some(i) = line.find(": warning: ") {
        (Level::Warning, (i, ": warning: ".len()))
    } else if let Some(i) = line.find(": error: ") {
        (Level::Error, (i, ": error: ".len()))
    } else {
        return None;
    };
    let location = &line[..split.0];
    let message = &line[split.0 + split.1..];
    let mut parts = location.rsplitn(3, ':');
    let c = parts.next()?;
    let l = parts.next()?;
    let file = parts.next()?;
    let (Ok(line_no), Ok(col)) = (l.parse::<u64>(), c.parse::<u64>()) else {
        return None;
    };
    if file.is_empty() || file.contains(' ') {
        return None;
    }
    Some(Diagnostic {
        file: Some(file.to_owned()),
        line: Some(line_no),
        column: Some(col),
        level,
        message: message.to_owned(),
        tool: "generic",
    })
}

/// eslint stylish entry: `  3:7  warning  'x' is defined but never used  no-unused-vars`.
fn eslint_entry(file: &str, line: &str) -> Option<Diagnostic> {
    if !line.starts_with(char::is_whitespace) {
        return None;
    }
    let mut words = line.split_whitespace();
    let (l, c) = words.next()?.split_once(':')?;
    let level = match words.next()? {
        "warning" => Level::Warning,
        "error" => Level::Error,
        _ => return None,
    };
    let message: Vec<&str> = words.collect();
    Some(Diagnostic {
        file: Some(file.to_owned()),
        line: l.parse().ok(),
        column: c.parse().ok(),
        level,
        message: message.join(" "),
        tool: "eslint",
    })
}

/// vite/rollup: `(!) Some chunks are larger than 500 kB after minification.`
fn rollup(line: &str) -> Option<Diagnostic> {
    let message = line.trim_start().strip_prefix("(!) ")?;
    Some(diag(Level::Warning, message, "rollup"))
}

/// `warning: …`, `WARN …`, `[warn] …` without a location.
fn bare_generic(line: &str) -> Option<Diagnostic> {
    let t = line.trim_start();
    let lower = t.to_ascii_lowercase();
    for prefix in ["warning: ", "warn ", "[warn] ", "[warning] "] {
        if lower.starts_with(prefix) {
            // "warning: 3 warnings emitted" and npm's config chatter repeat or add noise;
            // cargo's status lines ("build failed, waiting for other jobs to finish...",
            // "`app` (bin \"app\") generated 2 warnings") report on the build, not a warning.
            let message = &t[prefix.len()..];
            if message.contains("warnings emitted")
                || message.contains("warning emitted")
                || cargo_status(message)
            {
                return None;
            }
            return Some(diag(Level::Warning, message, "generic"));
        }
    }
    for prefix in ["error: ", "error "] {
        if lower.starts_with(prefix) && !lower.starts_with("error: could not compile") {
            return Some(diag(Level::Error, &t[prefix.len()..], "generic"));
        }
    }
    None
}

/// cargo's own progress and summary lines, printed with a `warning:` prefix.
fn cargo_status(message: &str) -> bool {
    if message.starts_with("build failed, waiting for other jobs to finish") {
        return true;
    }
    // "`app` (bin "app") generated 1 warning (run `cargo fix …`)", also "… 1 duplicate".
    message.starts_with('`')
        && message.split_once(" generated ").is_some_and(|(_, rest)| {
            rest.split_whitespace()
                .next()
                .is_some_and(|n| n.parse::<u64>().is_ok())
                && rest.contains("warning")
        })
}

fn looks_like_path(text: &str) -> bool {
    let t = text.trim();
    !t.contains(' ')
        && (t.starts_with('/') || t.starts_with("./") || t.contains('/'))
        && t.rsplit('/').next().is_some_and(|name| name.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_json_warning_with_span() {
        let line = r#"{"reason":"compiler-message","message":{"level":"warning","message":"unused variable: `x`","spans":[{"file_name":"src/main.rs","line_start":2,"column_start":9,"is_primary":true}]}}"#;
        let d = parse(line);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].file.as_deref(), Some("src/main.rs"));
        assert_eq!((d[0].line, d[0].column), (Some(2), Some(9)));
        assert_eq!(d[0].level, Level::Warning);
    }

    /// A real cargo build: a workspace calling a macro of a dependency outside it, whose body
    /// fails to type-check. rustc puts the primary span in the dependency's file (an absolute
    /// path, as for a crate from the registry) and the call site in `expansion`.
    #[test]
    fn error_inside_a_dependency_macro_points_at_the_call_site() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            (
                "macros/Cargo.toml",
                "[package]\nname = \"macros\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            ),
            (
                "macros/src/lib.rs",
                "#[macro_export]\nmacro_rules! typed {\n    ($e:expr) => {{\n        let _ = $e;\n        let value: u32 = \"not a number\";\n        value\n    }};\n}\n",
            ),
            (
                "app/Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nmacros = { path = \"../macros\" }\n",
            ),
            (
                "app/src/main.rs",
                "fn main() {\n    let n = macros::typed!(\"text\");\n    let _ = n;\n}\n",
            ),
        ] {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        let out = std::process::Command::new(env!("CARGO"))
            .args(["build", "--offline", "--quiet", "--message-format=json"])
            .env("CARGO_TARGET_DIR", root.join("target"))
            .current_dir(root.join("app"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout);
        // The raw message does point into the dependency, so the test shows the difference.
        assert!(stdout.contains("macros/src/lib.rs"), "{stdout}");
        let errors: Vec<Diagnostic> = parse(&stdout)
            .into_iter()
            .filter(|d| d.level == Level::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].file.as_deref(), Some("src/main.rs"));
        assert_eq!((errors[0].line, errors[0].column), (Some(2), Some(13)));
    }

    #[test]
    fn a_span_only_outside_the_workspace_gives_no_file() {
        let line = r#"{"reason":"compiler-message","message":{"level":"error","message":"boom","spans":[{"file_name":"/home/dev/.cargo/registry/src/index.example-0/x-1.0.0/src/lib.rs","line_start":3,"column_start":1,"is_primary":true,"expansion":null}]}}"#;
        let d = parse(line);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].file.as_deref(), d[0].line), (None, None));
    }

    #[test]
    fn cargo_status_lines_are_not_warnings() {
        // As cargo prints them (the first when a parallel job failed, with -j above 1).
        let out = "warning: build failed, waiting for other jobs to finish...\n\
                   warning: `app` (bin \"app\") generated 1 warning (run `cargo fix --bin \"app\" -p app` to apply 1 suggestion)\n\
                   warning: `core-lib` (lib) generated 3 warnings\n\
                   warning: unused manifest key: package.foo\n";
        let d = parse(out);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_eq!(d[0].message, "unused manifest key: package.foo");
    }

    #[test]
    fn tool_formats() {
        let out = "src/a.ts(3,7): error TS2322: Type 'string' is not assignable\n\
                   src/b.ts:4:1 - error TS1005: ';' expected.\n\
                   /app/src/c.js\n  3:7  warning  'x' is defined but never used  no-unused-vars\n\n\
                   (!) Some chunks are larger than 500 kB after minification.\n\
                   WARNING in ./src/d.js 5:2-10\n\
                   main.c:10:5: warning: unused variable 'y'\n\
                   warning: unused manifest key: foo\n";
        let d = parse(out);
        let tools: Vec<_> = d.iter().map(|d| (d.tool, d.level, d.line)).collect();
        assert!(tools.contains(&("tsc", Level::Error, Some(3))), "{tools:?}");
        assert!(tools.contains(&("tsc", Level::Error, Some(4))));
        assert!(tools.contains(&("eslint", Level::Warning, Some(3))));
        assert!(tools.contains(&("rollup", Level::Warning, None)));
        assert!(tools.contains(&("webpack", Level::Warning, Some(5))));
        assert!(tools.contains(&("generic", Level::Warning, Some(10))));
        assert!(tools.contains(&("generic", Level::Warning, None)));
        assert_eq!(d.len(), 7);
    }
}
