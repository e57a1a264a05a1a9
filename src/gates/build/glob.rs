//! Minimal glob matching for budget paths: `*` (within a path segment), `**` (any number of
//! segments), `?` and `{a,b}` alternatives. Paths use `/`; a leading `./` is ignored.

/// Whether `path` matches `pattern`.
pub(crate) fn matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_start_matches("./");
    let path = path.trim_start_matches("./");
    expand_braces(pattern)
        .iter()
        .any(|p| match_bytes(p.as_bytes(), path.as_bytes()))
}

fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_owned()];
    };
    let Some(close) = pattern[open..].find('}').map(|c| c + open) else {
        return vec![pattern.to_owned()];
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    pattern[open + 1..close]
        .split(',')
        .flat_map(|alt| expand_braces(&format!("{head}{alt}{tail}")))
        .collect()
}

fn match_bytes(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            // `**/` matches zero or more whole segments; a trailing `**` matches the rest.
            let rest = if p.get(2) == Some(&b'/') {
                &p[3..]
            } else {
                &p[2..]
            };
            if rest.is_empty() {
                return true;
            }
            (0..=s.len()).any(|i| (i == 0 || s[i - 1] == b'/') && match_bytes(rest, &s[i..]))
                || match_bytes(rest, s)
        }
        Some(b'*') => {
            let rest = &p[1..];
            (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| match_bytes(rest, &s[i..]))
        }
        Some(b'?') => !s.is_empty() && s[0] != b'/' && match_bytes(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && match_bytes(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn glob_forms() {
        assert!(matches("dist/*.js", "dist/app.js"));
        assert!(!matches("dist/*.js", "dist/assets/app.js"));
        assert!(matches("dist/**/*.js", "dist/assets/app.js"));
        assert!(matches("dist/**/*.js", "dist/app.js"));
        assert!(matches("./dist/*.{js,css}", "dist/app.css"));
        assert!(matches("assets/app-?.js", "assets/app-1.js"));
        assert!(matches("**", "a/b/c"));
        assert!(matches("dist/**", "dist/assets/app.js"));
        assert!(!matches("*.js", "a.css"));
    }
}
