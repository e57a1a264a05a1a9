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
    Some(Diagnostic {
        file: primary
            .get("file_name")
            .and_then(|f| f.as_str())
            .map(str::to_owned),
        line: primary
            .get("line_start")
            .and_then(serde_json::Value::as_u64),
        column: primary
            .get("column_start")
            .and_then(serde_json::Value::as_u64),
        level,
        message: text.to_owned(),
        tool: "cargo",
    })
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
            // "warning: 3 warnings emitted" and npm's config chatter repeat or add noise.
            let message = &t[prefix.len()..];
            if message.contains("warnings emitted") || message.contains("warning emitted") {
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
