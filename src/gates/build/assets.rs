//! `build.assets_generated`: configured artifacts exist and are non-empty, every script,
//! stylesheet, image and icon the built HTML references exists in the output, and every file a
//! Vite manifest lists exists.

use std::fs;
use std::path::{Path, PathBuf};

use html5gum::{Token, Tokenizer};

/// A reference from built HTML or a manifest to a file that should be in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// The HTML file or manifest that refers to it, relative to the app.
    pub(crate) from: String,
    /// Line in `from`, when known.
    pub(crate) line: Option<u64>,
    /// The URL as written.
    pub(crate) url: String,
    /// Where it should be on disk.
    pub(crate) path: PathBuf,
}

/// Largest HTML file read.
const MAX_HTML_BYTES: u64 = 16 * 1024 * 1024;

/// Every local reference in the HTML files under `pages` (the output itself for most
/// frameworks; Next keeps its prerendered pages apart from the assets). A rooted URL under
/// `public_path` is looked up in `output`. Absolute URLs to other hosts, `data:` URLs and
/// fragments are not files of this build and are skipped. The second list names the HTML
/// files that could not be read (too large, unreadable): their references are unknown, which
/// the check must say rather than report "no built HTML". HTML under a directory of `others`
/// (another app's output inside this one: a frontend built into the backend's `dist/public`)
/// is that app's, checked against its own output and public path, and not read here.
pub(crate) fn html_references(
    app: &Path,
    pages: &Path,
    output: &Path,
    public_path: &str,
    others: &[PathBuf],
) -> (Vec<Reference>, Vec<String>) {
    let mut refs = Vec::new();
    let mut unread = Vec::new();
    for html in html_files(pages, others) {
        let from = html
            .strip_prefix(app)
            .unwrap_or(&html)
            .to_string_lossy()
            .into_owned();
        let bytes = match crate::fsread::read(&html, MAX_HTML_BYTES) {
            Ok(bytes) => bytes,
            Err(crate::fsread::ReadError::TooLarge { size, limit }) => {
                unread.push(format!(
                    "{from} is {size} bytes, more than the {limit} bytes devops-agent reads"
                ));
                continue;
            }
            Err(e) => {
                unread.push(format!("{from}: {e}"));
                continue;
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let html_dir = html.parent().unwrap_or(output);
        refs.extend(text_references(&from, &text, html_dir, output, public_path));
    }
    (refs, unread)
}

/// The local references of one HTML text, `from` naming it.
fn text_references(
    from: &str,
    text: &str,
    html_dir: &Path,
    output: &Path,
    public_path: &str,
) -> Vec<Reference> {
    let lines = crate::project::LineIndex::new(text);
    let mut base: Option<String> = None;
    let mut refs = Vec::new();
    for (url, offset) in urls_in_html(text, &mut base) {
        if let Some(path) = resolve(&url, base.as_deref(), html_dir, output, public_path) {
            refs.push(Reference {
                from: from.to_owned(),
                line: Some(lines.line(offset)),
                url,
                path,
            });
        }
    }
    refs
}

/// The references of HTML text as if it were `from` at the top of a `dist` output (fuzzing).
pub(crate) fn references_in(from: &str, text: &str) -> Vec<Reference> {
    let output = Path::new("/nonexistent/dist");
    text_references(from, text, output, output, "/")
}

fn html_files(output: &Path, others: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![output.to_owned()];
    while let Some(dir) = stack.pop() {
        if dir != output && fs::canonicalize(&dir).is_ok_and(|real| others.contains(&real)) {
            continue;
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() && entry.file_name() != "node_modules" {
                stack.push(path);
            } else if kind.is_file()
                && path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("html"))
                && found.len() < 1000
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The URLs an HTML document loads, with the byte offset of their tag. Updates `base` when a
/// `<base href>` is seen.
fn urls_in_html(text: &str, base: &mut Option<String>) -> Vec<(String, usize)> {
    let mut urls = Vec::new();
    let mut offset_hint = 0usize;
    for token in Tokenizer::new(text).flatten() {
        let Token::StartTag(tag) = token else {
            continue;
        };
        let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
        let attr = |key: &str| {
            tag.attributes
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes()))
                .map(|(_, v)| String::from_utf8_lossy(&v.value).trim().to_owned())
        };
        let mut found = Vec::new();
        match name.as_str() {
            "base" => {
                if let Some(href) = attr("href") {
                    *base = Some(href);
                }
            }
            "script" | "img" | "source" | "audio" | "video" | "track" | "embed" | "iframe" => {
                found.extend(attr("src"));
                if let Some(srcset) = attr("srcset") {
                    found.extend(srcset_urls(&srcset));
                }
            }
            "link" => {
                let rel = attr("rel").unwrap_or_default().to_ascii_lowercase();
                let loads = rel.split_whitespace().any(|r| {
                    matches!(
                        r,
                        "stylesheet"
                            | "icon"
                            | "modulepreload"
                            | "preload"
                            | "manifest"
                            | "apple-touch-icon"
                            | "mask-icon"
                    )
                });
                if loads {
                    found.extend(attr("href"));
                }
            }
            _ => {}
        }
        for url in found {
            // The tokenizer gives no positions here; find the URL text after the last one.
            let at = text
                .get(offset_hint..)
                .and_then(|t| t.find(&url))
                .map_or(offset_hint, |i| offset_hint + i);
            offset_hint = at;
            urls.push((url, at));
        }
    }
    urls
}

fn srcset_urls(srcset: &str) -> Vec<String> {
    srcset
        .split(',')
        .filter_map(|candidate| candidate.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Map a URL from built HTML to the file it names in the output, or None when it is not a
/// file of this build (another host, `data:`, a fragment, an empty URL).
fn resolve(
    url: &str,
    base: Option<&str>,
    html_dir: &Path,
    output: &Path,
    public_path: &str,
) -> Option<PathBuf> {
    let url = url.split(['?', '#']).next().unwrap_or("");
    if url.is_empty()
        || url.starts_with("data:")
        || url.starts_with("blob:")
        || url.starts_with("//")
        || url.contains("://")
        || url.starts_with("mailto:")
        || url.starts_with("javascript:")
    {
        return None;
    }
    let decoded = percent_decode(url);
    if let Some(rooted) = decoded.strip_prefix('/') {
        let public = public_path.trim_matches('/');
        let inside = if public.is_empty() {
            rooted
        } else {
            rooted.strip_prefix(public)?.trim_start_matches('/')
        };
        return Some(normalize(output, inside));
    }
    match base {
        Some(b) if b.contains("://") || b.starts_with("//") => None,
        Some(b) if b.starts_with('/') => {
            let joined = format!("{}/{decoded}", b.trim_end_matches('/'));
            resolve(&joined, None, html_dir, output, public_path)
        }
        Some(b) => Some(normalize(&html_dir.join(b.trim_end_matches('/')), &decoded)),
        None => Some(normalize(html_dir, &decoded)),
    }
}

/// Join and collapse `.`/`..` without touching the file system.
fn normalize(dir: &Path, rel: &str) -> PathBuf {
    let mut out = dir.to_owned();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Files a Vite manifest (`.vite/manifest.json` or `manifest.json` in the output) lists:
/// each entry's `file`, `css` and `assets`.
/// A Vite manifest that is not JSON, located by file and line.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}")]
pub(crate) struct ManifestError {
    /// The manifest, relative to the app.
    pub(crate) file: String,
    pub(crate) line: usize,
    #[source]
    pub(crate) source: serde_json::Error,
}

pub(crate) fn manifest_references(
    app: &Path,
    output: &Path,
) -> Result<Vec<Reference>, ManifestError> {
    let mut refs = Vec::new();
    for candidate in [
        output.join(".vite/manifest.json"),
        output.join("manifest.json"),
    ] {
        let Ok(text) = crate::fsread::read(&candidate, MAX_HTML_BYTES)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
        else {
            continue;
        };
        let from = candidate
            .strip_prefix(app)
            .unwrap_or(&candidate)
            .to_string_lossy()
            .into_owned();
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| ManifestError {
                file: from.clone(),
                line: source.line(),
                source,
            })?;
        let Some(entries) = value.as_object() else {
            continue;
        };
        // A web app manifest (PWA) is also called manifest.json; Vite's maps chunks to objects
        // with a `file`.
        if !entries.values().any(|e| e.get("file").is_some()) {
            continue;
        }
        for entry in entries.values() {
            let files = entry
                .get("file")
                .and_then(|f| f.as_str())
                .into_iter()
                .map(str::to_owned)
                .chain(
                    ["css", "assets"]
                        .iter()
                        .filter_map(|k| entry.get(*k).and_then(|v| v.as_array()))
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned)),
                );
            for file in files {
                refs.push(Reference {
                    from: from.clone(),
                    line: None,
                    path: normalize(output, &file),
                    url: file,
                });
            }
        }
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_refs_with_base_and_public_path() {
        let html = "<!doctype html><html><head><base href=\"/app/\">\n<link rel=\"stylesheet\" href=\"assets/a.css\">\n<link rel=\"preconnect\" href=\"https://fonts.example\"></head><body><script type=module src=\"/app/assets/b.js?v=1\"></script><img srcset=\"i1.png 1x, i2.png 2x\"><img src=\"data:image/png;base64,xx\"><script src=\"https://cdn.example.com/c.js\"></script></body></html>";
        let mut base = None;
        let urls: Vec<String> = urls_in_html(html, &mut base)
            .into_iter()
            .map(|(u, _)| u)
            .collect();
        assert_eq!(base.as_deref(), Some("/app/"));
        assert!(urls.contains(&"assets/a.css".to_owned()));
        let out = Path::new("/out");
        let r = |u: &str| resolve(u, base.as_deref(), out, out, "/app/");
        assert_eq!(r("assets/a.css"), Some(PathBuf::from("/out/assets/a.css")));
        assert_eq!(
            r("/app/assets/b.js?v=1"),
            Some(PathBuf::from("/out/assets/b.js"))
        );
        assert_eq!(r("https://cdn.example.com/c.js"), None);
        assert_eq!(r("data:image/png;base64,xx"), None);
        assert!(urls.contains(&"i2.png".to_owned()));
    }
}
