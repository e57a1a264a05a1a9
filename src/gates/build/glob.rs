//! Glob matching for budget paths (`dist/**/*.js`, `assets/app-?.{js,css}`): `*` and `?` stay
//! within a path segment, `**` spans segments, `{a,b}` alternates. Paths use `/`; a leading `./`
//! is ignored. Matching is `globset`'s (compiled to a regex, linear in the path): the
//! hand-written backtracking matcher this replaces was exponential in repeated `**`.

use globset::{GlobBuilder, GlobMatcher};

/// A budget pattern globset refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid glob `{pattern}`: {kind}")]
pub(crate) struct GlobError {
    /// The pattern, without a leading `./`.
    pub(crate) pattern: String,
    /// What globset found wrong (unclosed class, nested alternates, …).
    pub(crate) kind: globset::ErrorKind,
}

/// A compiled budget pattern.
#[derive(Debug, Clone)]
pub(crate) struct Glob(GlobMatcher);

impl Glob {
    /// Compile `pattern`; the error says what is wrong with it.
    pub(crate) fn new(pattern: &str) -> Result<Glob, GlobError> {
        let pattern = pattern.trim_start_matches("./");
        GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map(|g| Glob(g.compile_matcher()))
            .map_err(|e| GlobError {
                pattern: pattern.to_owned(),
                kind: e.kind().clone(),
            })
    }

    /// Whether `path` (relative, `/`-separated) matches.
    pub(crate) fn is_match(&self, path: &str) -> bool {
        self.0.is_match(path.trim_start_matches("./"))
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn matches(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).unwrap().is_match(path)
    }

    #[test]
    fn glob_forms() {
        assert!(matches("dist/*.js", "dist/app.js"));
        assert!(!matches("dist/*.js", "dist/assets/app.js"));
        assert!(matches("dist/**/*.js", "dist/assets/app.js"));
        assert!(matches("dist/**/*.js", "dist/app.js"));
        assert!(matches("./dist/*.{js,css}", "dist/app.css"));
        assert!(matches("assets/app-?.js", "assets/app-1.js"));
        assert!(!matches("assets/app-?.js", "assets/app-/.js"));
        assert!(matches("**", "a/b/c"));
        assert!(matches("dist/**", "dist/assets/app.js"));
        assert!(!matches("*.js", "a.css"));
        assert!(matches("dist/**/*.{js,mjs,cjs}", "./dist/a/b/c.mjs"));
    }

    #[test]
    fn invalid_patterns_are_errors() {
        let e = Glob::new("dist/{a,b").unwrap_err();
        assert_eq!(e.pattern, "dist/{a,b");
        assert!(
            e.to_string().starts_with("invalid glob `dist/{a,b`: "),
            "{e}"
        );
        assert!(Glob::new("dist/[z-a].js").is_err());
    }

    #[test]
    fn repeated_double_star_is_not_exponential() {
        // Eight `**/` took 51 s with the backtracking matcher (twelve would take hours); a
        // compiled glob answers at once. Not timed: a hang here is the failure.
        let glob = Glob::new(&("**/".repeat(12) + "*.js")).unwrap();
        assert!(!glob.is_match(&("a/".repeat(40) + "x.css")));
        assert!(glob.is_match(&("a/".repeat(40) + "x.js")));
    }
}
