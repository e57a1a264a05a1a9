//! Line numbers for findings, from an index built once per file (offsets to lines is
//! [`crate::project::LineIndex`]).
//!
//! Findings point at the line that declares a dependency. Searching the manifest from the top
//! for every dependency made the gate quadratic in their number (100k declared dependencies
//! took 88 s); these indexes are built in one pass over the text, on the first finding that
//! needs them, and answer in O(1) or O(log n).

use std::collections::HashMap;

use foldhash::HashMap as FastMap;

/// The line of every key of every top-level object of a JSON document (`"dependencies": {
/// "react": …}` → `("dependencies", "react")` → its line). A scan of the text, not a parse: the
/// document was already parsed by serde; this only puts a cursor on the line, and text it does
/// not understand just has no line. A key written twice keeps its last line, as `JSON.parse`
/// keeps the last value.
#[derive(Debug, Default)]
pub(crate) struct JsonKeyLines {
    lines: FastMap<(String, String), u64>,
}

impl JsonKeyLines {
    pub(crate) fn new(text: &str) -> JsonKeyLines {
        let bytes = text.as_bytes();
        let mut lines = FastMap::default();
        let mut line = 1u64;
        let mut depth = 0usize;
        // The key most recently read at depth 1 (the section being read at depth 2).
        let mut section: Option<String> = None;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => line += 1,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth = depth.saturating_sub(1),
                b'"' => {
                    let start = i + 1;
                    let key_line = line;
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        match bytes[i] {
                            b'\\' => i += 1,
                            b'\n' => line += 1,
                            _ => {}
                        }
                        i += 1;
                    }
                    let raw = text.get(start..i.min(bytes.len())).unwrap_or("");
                    let mut after = i + 1;
                    while after < bytes.len() && bytes[after].is_ascii_whitespace() {
                        after += 1;
                    }
                    if bytes.get(after) == Some(&b':') {
                        let key = unescape(raw);
                        match depth {
                            1 => section = Some(key),
                            2 => {
                                if let Some(section) = &section {
                                    lines.insert((section.clone(), key), key_line);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
        JsonKeyLines { lines }
    }

    /// The line of `key` inside the top-level object `section`.
    pub(crate) fn get(&self, section: &str, key: &str) -> Option<u64> {
        // A borrowed lookup would need a custom key type; findings are few and the clones cheap.
        self.lines
            .get(&(section.to_owned(), key.to_owned()))
            .copied()
    }
}

/// JSON string escapes, for keys (`"@scope\/name"` is `@scope/name`). Unknown escapes are kept.
fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_owned();
    }
    serde_json::from_str::<String>(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_owned())
}

/// The first line of every `key = …`, `"key" = …` and `key.field = …` assignment of a TOML
/// file (Cargo.toml, pyproject's Poetry tables, Pipfile), whatever table it is in.
#[derive(Debug, Default)]
pub(crate) struct TomlKeyLines {
    lines: HashMap<String, u64>,
}

impl TomlKeyLines {
    pub(crate) fn new(text: &str) -> TomlKeyLines {
        let mut lines = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim_start();
            let (key, rest) = if let Some(quoted) = t.strip_prefix('"') {
                match quoted.find('"') {
                    Some(end) => (&quoted[..end], &quoted[end + 1..]),
                    None => continue,
                }
            } else {
                let end = t
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .unwrap_or(t.len());
                (&t[..end], &t[end..])
            };
            if key.is_empty() {
                continue;
            }
            if rest.trim_start().starts_with('=') || rest.starts_with('.') {
                lines.entry(key.to_owned()).or_insert(i as u64 + 1);
            }
        }
        TomlKeyLines { lines }
    }

    /// The first line assigning `key`.
    pub(crate) fn get(&self, key: &str) -> Option<u64> {
        self.lines.get(key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_of_top_level_sections() {
        let text = r#"{
  "name": "app",
  "scripts": { "react": "not a dependency" },
  "dependencies": {
    "react": "^18",
    "nested": { "deep": "1" },
    "@scope\/pkg": "1",
    "multi": "a
b"
  },
  "devDependencies": {"vite": "5", "react": "18"}
}"#;
        let lines = JsonKeyLines::new(text);
        assert_eq!(lines.get("dependencies", "react"), Some(5));
        assert_eq!(lines.get("scripts", "react"), Some(3));
        assert_eq!(lines.get("dependencies", "nested"), Some(6));
        assert_eq!(lines.get("dependencies", "deep"), None);
        assert_eq!(lines.get("dependencies", "@scope/pkg"), Some(7));
        assert_eq!(lines.get("devDependencies", "vite"), Some(11));
        assert_eq!(lines.get("devDependencies", "react"), Some(11));
        assert_eq!(lines.get("peerDependencies", "react"), None);
        // Text that is not JSON never panics.
        for junk in ["", "\"", "{\"a\":", "}}}]]", "{\"a\\", "[{\"x\": {\"y\":"] {
            let _ = JsonKeyLines::new(junk);
        }
    }

    #[test]
    fn toml_keys() {
        let text = "[dependencies]\nserde = \"1\"\nserde_json = \"1\"\n  tokio.workspace = true\n\"quoted\" = \"2\"\n# serde = \"dup\"\n[dev-dependencies]\nserde = \"1\"\n";
        let lines = TomlKeyLines::new(text);
        assert_eq!(lines.get("serde"), Some(2));
        assert_eq!(lines.get("serde_json"), Some(3));
        assert_eq!(lines.get("tokio"), Some(4));
        assert_eq!(lines.get("quoted"), Some(5));
        assert_eq!(lines.get("dependencies"), None);
    }
}
