//! What an npm dependency specifier asks for, and whether an installed version satisfies it —
//! with npm's range semantics (`^0.2.3`, `1.x`, `>=1 <2 || 3`, prereleases excluded unless the
//! range names them), not Cargo's.

use nodejs_semver::{Range, Version};

/// A specifier from a `dependencies` map.
#[derive(Debug)]
pub(crate) enum Spec {
    /// A semver range (`^1.2.0`, `~1`, `*`, `1.x`, `>=2 <3`).
    Range(Range),
    /// `npm:real-name@range`: installed under the alias, the package inside is `real-name`.
    Alias { name: String, range: Option<Range> },
    /// `file:`, `link:`, `workspace:`, git, tarball URLs, dist-tags: only presence can be
    /// checked without the network, so only presence is.
    Presence(&'static str),
}

impl Spec {
    pub(crate) fn parse(spec: &str) -> Spec {
        let s = spec.trim();
        if let Some(rest) = s.strip_prefix("npm:") {
            // `npm:@scope/name@^1` — the version separator is the last `@` after the first
            // character (a scope's `@` comes first).
            let (name, range) = match rest.get(1..).and_then(|r| r.rfind('@')) {
                Some(at) => (&rest[..=at], &rest[at + 2..]),
                None => (rest, ""),
            };
            let range = if range.is_empty() {
                None
            } else {
                Range::parse(range).ok()
            };
            return Spec::Alias {
                name: name.to_owned(),
                range,
            };
        }
        for (prefix, kind) in [
            ("file:", "file"),
            ("link:", "link"),
            ("workspace:", "workspace"),
            ("portal:", "link"),
            ("patch:", "patch"),
            ("catalog:", "catalog"),
            ("git+", "git"),
            ("git:", "git"),
            ("github:", "git"),
            ("gitlab:", "git"),
            ("bitbucket:", "git"),
            ("gist:", "git"),
            ("http:", "tarball"),
            ("https:", "tarball"),
        ] {
            if s.starts_with(prefix) {
                return Spec::Presence(kind);
            }
        }
        // `./lib`, `../x`, `/abs`, `~/x` are local paths; `user/repo` is a GitHub shorthand.
        if s.starts_with('.') || s.starts_with('/') || s.starts_with("~/") {
            return Spec::Presence("file");
        }
        if s.contains('/') && !s.starts_with('@') {
            return Spec::Presence("git");
        }
        if s.is_empty() || s == "latest" {
            return Spec::Range(Range::any());
        }
        match Range::parse(s) {
            Ok(range) => Spec::Range(range),
            // Anything else is a dist-tag (`next`, `beta`): which version it meant is only
            // known to the registry.
            Err(_) => Spec::Presence("tag"),
        }
    }

    /// Whether a package named `name` at `version` (as read from its package.json) satisfies
    /// this specifier. Presence-only specifiers are satisfied by any installed package.
    pub(crate) fn satisfied_by(&self, name: Option<&str>, version: Option<&str>) -> bool {
        match self {
            Spec::Presence(_) => true,
            Spec::Range(range) => version_satisfies(range, version),
            Spec::Alias { name: real, range } => {
                name.is_none_or(|n| n == real)
                    && range.as_ref().is_none_or(|r| version_satisfies(r, version))
            }
        }
    }
}

fn version_satisfies(range: &Range, version: Option<&str>) -> bool {
    version
        .and_then(|v| Version::parse(v.trim()).ok())
        .is_some_and(|v| range.satisfies(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(spec: &str, version: &str) -> bool {
        Spec::parse(spec).satisfied_by(None, Some(version))
    }

    #[test]
    fn npm_range_semantics() {
        assert!(ok("^18.2.0", "18.3.1"));
        assert!(!ok("^18.2.0", "16.0.0"));
        // Caret on 0.x pins the minor, unlike a naive reading.
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("1.x || >=2.5.0 <3", "2.6.0"));
        assert!(ok("~1.2", "1.2.9"));
        // Prereleases only match a range that names that version's tuple.
        assert!(!ok("^1.0.0", "1.1.0-beta.1"));
        assert!(ok(">=1.1.0-beta.0", "1.1.0-beta.1"));
        assert!(ok("*", "0.0.1"));
        assert!(ok("", "3.0.0"));
        assert!(!ok("^1.0.0", "not-a-version"));
    }

    #[test]
    fn aliases_and_non_registry_specifiers() {
        let alias = Spec::parse("npm:ms@^2.1.1");
        assert!(alias.satisfied_by(Some("ms"), Some("2.1.3")));
        assert!(!alias.satisfied_by(Some("other"), Some("2.1.3")));
        assert!(!alias.satisfied_by(Some("ms"), Some("2.0.0")));
        let scoped = Spec::parse("npm:@types/node@^20");
        assert!(scoped.satisfied_by(Some("@types/node"), Some("20.1.0")));
        for spec in [
            "file:./local-lib",
            "link:../x",
            "workspace:*",
            "git+https://git.example/a/b.git#v1",
            "github:a/b",
            "a/b",
            "https://example.com/x.tgz",
            "next",
        ] {
            assert!(
                matches!(Spec::parse(spec), Spec::Presence(_)),
                "{spec} should be presence-only"
            );
            assert!(Spec::parse(spec).satisfied_by(Some("x"), Some("0.0.0")));
        }
    }
}
