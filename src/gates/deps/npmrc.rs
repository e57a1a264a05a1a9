//! The project's `.npmrc` (the file next to the root package.json, which npm and pnpm both read
//! and which is committed with the project), for the settings that change what the package
//! manager accepts: `legacy-peer-deps` (npm), `strict-peer-dependencies` and
//! `auto-install-peers` (pnpm).
//!
//! The format is npm's ini: `key=value` lines, `;` and `#` comments, `[section]` headers (whose
//! keys apply elsewhere and are ignored here), values optionally quoted. A user's `~/.npmrc`
//! and `npm_config_*` variables are not read: they belong to one machine, not to the project
//! being deployed.

use std::collections::HashMap;
use std::path::Path;

use super::read;

/// The top-level settings of one `.npmrc`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Npmrc {
    values: HashMap<String, String>,
}

impl Npmrc {
    /// The `.npmrc` in `dir`, or no settings when there is none (or it cannot be read).
    pub(crate) fn load(dir: &Path) -> Npmrc {
        read::optional_text(&dir.join(".npmrc")).map_or_else(Npmrc::default, |t| Npmrc::parse(&t))
    }

    pub(crate) fn parse(text: &str) -> Npmrc {
        let mut values = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                // Keys after a section header are not top-level settings.
                break;
            }
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                // A bare key is `true` in ini.
                values.insert(line.to_ascii_lowercase(), "true".to_owned());
                continue;
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            values.insert(key.trim().to_ascii_lowercase(), value.to_owned());
        }
        Npmrc { values }
    }

    /// A boolean setting: `true`/`false` as npm and pnpm read them; None when unset (or not a
    /// boolean, which both tools also ignore).
    pub(crate) fn flag(&self, key: &str) -> Option<bool> {
        match self.values.get(key)?.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_comments_quotes_and_sections() {
        let rc = Npmrc::parse(
            "; project settings\n# pnpm\nstrict-peer-dependencies = true\nlegacy-peer-deps=\"false\"\n\
             auto-install-peers=maybe\nengine-strict\n[registry]\nlegacy-peer-deps=true\n",
        );
        assert_eq!(rc.flag("strict-peer-dependencies"), Some(true));
        assert_eq!(rc.flag("legacy-peer-deps"), Some(false));
        assert_eq!(rc.flag("auto-install-peers"), None);
        assert_eq!(rc.flag("engine-strict"), Some(true));
        assert_eq!(rc.flag("missing"), None);
    }
}
