//! The assets a served or built HTML page loads (scripts, stylesheets, icons, module
//! preloads, images), and the Content-Type each one should be served with.

use html5gum::{Token, Tokenizer};

/// One asset an HTML page references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssetRef {
    /// The URL as written in the page.
    pub(crate) url: String,
    /// `script`, `stylesheet`, `icon`, `modulepreload`, `preload`, `image`.
    pub(crate) kind: &'static str,
    /// Line of the tag in the page.
    pub(crate) line: u64,
}

/// Every asset URL in `html`, in page order, without duplicates. `data:` URLs and fragments
/// are not requests and are left out.
pub(crate) fn asset_refs(html: &str) -> Vec<AssetRef> {
    let mut out: Vec<AssetRef> = Vec::new();
    let mut seen_bytes = 0usize;
    for token in Tokenizer::new(html).flatten() {
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
        let found = match name.as_str() {
            "script" => attr("src").map(|u| (u, "script")),
            "img" => attr("src").map(|u| (u, "image")),
            "link" => {
                let rel = attr("rel").unwrap_or_default().to_ascii_lowercase();
                let kind = rel.split_whitespace().find_map(|r| match r {
                    "stylesheet" => Some("stylesheet"),
                    "icon" | "apple-touch-icon" | "mask-icon" => Some("icon"),
                    "modulepreload" => Some("modulepreload"),
                    "preload" => Some("preload"),
                    "manifest" => Some("manifest"),
                    _ => None,
                });
                kind.and_then(|k| attr("href").map(|u| (u, k)))
            }
            _ => None,
        };
        let Some((url, kind)) = found else {
            continue;
        };
        if url.is_empty() || url.starts_with('#') || url.starts_with("data:") {
            continue;
        }
        // The tokenizer does not report offsets: find the URL in the text after the previous
        // one for a line number good enough to jump to.
        let line = html
            .get(seen_bytes..)
            .and_then(|rest| rest.find(url.as_str()))
            .map_or(0, |at| {
                seen_bytes += at;
                html.get(..seen_bytes)
                    .map_or(0, |b| b.matches('\n').count()) as u64
                    + 1
            });
        if !out.iter().any(|a| a.url == url) {
            out.push(AssetRef { url, kind, line });
        }
    }
    out
}

/// Whether a Content-Type is what a file with this URL should be served as. Unknown
/// extensions accept anything but HTML (the usual symptom of a missing file behind an SPA
/// fallback is `index.html` served as `text/html` for `app.js`).
pub(crate) fn type_matches(url: &str, content_type: &str) -> bool {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let accepted: &[&str] = match ext.as_str() {
        "js" | "mjs" | "cjs" => &[
            "text/javascript",
            "application/javascript",
            "application/x-javascript",
        ],
        "css" => &["text/css"],
        "svg" => &["image/svg+xml"],
        "png" => &["image/png"],
        "jpg" | "jpeg" => &["image/jpeg"],
        "gif" => &["image/gif"],
        "webp" => &["image/webp"],
        "avif" => &["image/avif"],
        "ico" => &["image/x-icon", "image/vnd.microsoft.icon"],
        "woff2" => &["font/woff2", "application/font-woff2"],
        "woff" => &["font/woff", "application/font-woff"],
        "json" | "webmanifest" => &["application/json", "application/manifest+json"],
        "html" | "htm" => &["text/html"],
        _ => return !ct.is_empty() && ct != "text/html",
    };
    accepted.contains(&ct.as_str())
}

/// The Content-Type a file should have, for messages.
pub(crate) fn expected_type(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    match path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("js" | "mjs" | "cjs") => "text/javascript",
        Some("css") => "text/css",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("json" | "webmanifest") => "application/manifest+json",
        _ => "a non-HTML type",
    }
}

/// Whether a file name carries a content hash (`app-8d9a33f5.js`, `main.3f2a9c1b.css`): such
/// files never change under the same name, so they should be cached for long.
pub(crate) fn is_hashed(url: &str) -> bool {
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    stem.rsplit(['-', '.', '_']).next().is_some_and(|h| {
        h.len() >= 8
            && h.len() < stem.len()
            && h.bytes().all(|b| b.is_ascii_alphanumeric())
            && h.bytes().any(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_scripts_styles_icons_and_images() {
        let html = "<!doctype html>\n<html><head>\n<link rel=\"icon\" href=\"/favicon.svg\">\n<link rel=stylesheet href=/assets/style-94dcec1c.css>\n<link rel=\"modulepreload\" href=\"/assets/vendor.js\">\n<link rel=\"canonical\" href=\"https://x.test/\">\n<script type=module src=\"/assets/app-8d9a33f5.js\"></script>\n</head><body><img src=\"data:image/png;base64,AA\"><img src=\"logo.png\"><script src=\"/assets/app-8d9a33f5.js\"></script></body></html>";
        let refs = asset_refs(html);
        let got: Vec<(&str, &str, u64)> = refs
            .iter()
            .map(|r| (r.url.as_str(), r.kind, r.line))
            .collect();
        assert_eq!(
            got,
            [
                ("/favicon.svg", "icon", 3),
                ("/assets/style-94dcec1c.css", "stylesheet", 4),
                ("/assets/vendor.js", "modulepreload", 5),
                ("/assets/app-8d9a33f5.js", "script", 7),
                ("logo.png", "image", 8),
            ]
        );
        assert!(asset_refs("<script src=").is_empty());
        assert!(asset_refs("\u{0}<<>>&&").is_empty());
    }

    #[test]
    fn content_types_match_extensions() {
        assert!(type_matches(
            "/a.js",
            "application/javascript; charset=utf-8"
        ));
        assert!(type_matches("/a.js?v=1", "text/javascript"));
        assert!(!type_matches("/a.js", "text/html; charset=utf-8"));
        assert!(type_matches("/x.css", "text/css"));
        assert!(!type_matches("/x.css", "text/plain"));
        assert!(type_matches("/data.bin", "application/octet-stream"));
        assert!(!type_matches("/data.bin", "text/html"));
        assert_eq!(expected_type("/a.css"), "text/css");
    }

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_hashed("/assets/app-8d9a33f5.js"));
        assert!(is_hashed("main.3f2a9c1b.css"));
        assert!(!is_hashed("/favicon.svg"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/assets/component-library.js"));
    }
}
