//! Reading nginx configuration: a tokenizer for nginx's syntax (comments, single and double
//! quotes with escapes, `$variables`, nested blocks), `include` (relative paths and `*` globs,
//! bounded in depth and count), and the facts the integration gate needs from it: `upstream`
//! blocks and every `location` with its `proxy_pass` target and WebSocket headers.
//!
//! Errors carry the file and line, as `nginx -t` reports them, so a person can jump there.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Largest configuration file read.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// `include` nesting beyond this is treated as a loop.
const MAX_INCLUDE_DEPTH: usize = 10;
/// Blocks nest at most this deep in one file (`http { server { location { if {` is four). The
/// parser and the summary walk recurse once per level, so a 50,000-deep file must stop here as
/// a located error instead of overflowing the stack.
const MAX_BLOCK_DEPTH: usize = 64;
/// Total files read through `include`, so a glob over a huge directory cannot stall a run.
const MAX_FILES: usize = 200;

/// One directive: `name args…;` or `name args… { block }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    pub(crate) name: String,
    pub(crate) args: Vec<String>,
    /// File (relative to the project where possible) and line of the directive's name.
    pub(crate) file: String,
    pub(crate) line: u64,
    pub(crate) block: Option<Vec<Directive>>,
}

/// A syntax or read error, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub(crate) struct NginxError {
    pub(crate) file: String,
    pub(crate) line: u64,
    pub(crate) message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Semi,
    Open,
    Close,
}

/// Splits nginx configuration text into tokens with their line numbers.
fn tokenize(text: &str, file: &str) -> Result<Vec<(Tok, u64)>, NginxError> {
    let err = |line: u64, message: &str| NginxError {
        file: file.to_owned(),
        line,
        message: message.to_owned(),
    };
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1u64;
    let mut word = String::new();
    let mut word_line = 1u64;
    // A word may be built from quoted and unquoted parts (`"a"b` is one token, as in nginx).
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match c {
            '\n' | ' ' | '\t' | '\r' | ';' | '{' | '}' => {
                if in_word {
                    out.push((Tok::Word(std::mem::take(&mut word)), word_line));
                    in_word = false;
                }
                match c {
                    ';' => out.push((Tok::Semi, line)),
                    '{' => out.push((Tok::Open, line)),
                    '}' => out.push((Tok::Close, line)),
                    '\n' => line += 1,
                    _ => {}
                }
            }
            '#' if !in_word => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            // Quotes open a string only at the start of a word, as in nginx.
            '"' | '\'' if !in_word => {
                word_line = line;
                in_word = true;
                let quote = c;
                let start = line;
                let mut closed = false;
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                if escaped == '\n' {
                                    line += 1;
                                }
                                if escaped != quote && escaped != '\\' {
                                    word.push('\\');
                                }
                                word.push(escaped);
                            }
                        }
                        q if q == quote => {
                            closed = true;
                            break;
                        }
                        q => {
                            if q == '\n' {
                                line += 1;
                            }
                            word.push(q);
                        }
                    }
                }
                if !closed {
                    return Err(err(start, &format!("unterminated {quote} string")));
                }
            }
            '\\' => {
                if !in_word {
                    word_line = line;
                    in_word = true;
                }
                if let Some(escaped) = chars.next() {
                    word.push(escaped);
                }
            }
            // `${name}` keeps its braces inside the word instead of opening a block.
            '$' if chars.peek() == Some(&'{') => {
                if !in_word {
                    word_line = line;
                    in_word = true;
                }
                word.push('$');
                for v in chars.by_ref() {
                    word.push(v);
                    if v == '}' {
                        break;
                    }
                }
            }
            other => {
                if !in_word {
                    word_line = line;
                    in_word = true;
                }
                word.push(other);
            }
        }
    }
    if in_word {
        out.push((Tok::Word(word), word_line));
    }
    Ok(out)
}

/// Parses tokens into directives.
fn parse_tokens(tokens: &[(Tok, u64)], file: &str) -> Result<Vec<Directive>, NginxError> {
    let mut pos = 0;
    let list = parse_block(tokens, &mut pos, file, None, 0)?;
    Ok(list)
}

fn parse_block(
    tokens: &[(Tok, u64)],
    pos: &mut usize,
    file: &str,
    opened_at: Option<u64>,
    depth: usize,
) -> Result<Vec<Directive>, NginxError> {
    let err = |line: u64, message: String| NginxError {
        file: file.to_owned(),
        line,
        message,
    };
    let mut list = Vec::new();
    loop {
        let Some((tok, line)) = tokens.get(*pos) else {
            return match opened_at {
                Some(open) => Err(err(
                    open,
                    "unexpected end of file: this block is never closed with \"}\"".to_owned(),
                )),
                None => Ok(list),
            };
        };
        *pos += 1;
        match tok {
            Tok::Close => {
                return if opened_at.is_some() {
                    Ok(list)
                } else {
                    Err(err(*line, "unexpected \"}\"".to_owned()))
                };
            }
            Tok::Semi => return Err(err(*line, "unexpected \";\"".to_owned())),
            Tok::Open => return Err(err(*line, "unexpected \"{\"".to_owned())),
            Tok::Word(name) => {
                let mut args = Vec::new();
                loop {
                    match tokens.get(*pos) {
                        None => {
                            return Err(err(
                                *line,
                                format!(
                                    "unexpected end of file: directive \"{name}\" is not terminated by \";\""
                                ),
                            ));
                        }
                        Some((Tok::Word(arg), _)) => {
                            args.push(arg.clone());
                            *pos += 1;
                        }
                        Some((Tok::Semi, _)) => {
                            *pos += 1;
                            list.push(Directive {
                                name: name.clone(),
                                args,
                                file: file.to_owned(),
                                line: *line,
                                block: None,
                            });
                            break;
                        }
                        Some((Tok::Open, open_line)) => {
                            let open_line = *open_line;
                            if depth >= MAX_BLOCK_DEPTH {
                                return Err(err(
                                    open_line,
                                    format!(
                                        "blocks nested more than {MAX_BLOCK_DEPTH} levels deep"
                                    ),
                                ));
                            }
                            *pos += 1;
                            let block = parse_block(tokens, pos, file, Some(open_line), depth + 1)?;
                            list.push(Directive {
                                name: name.clone(),
                                args,
                                file: file.to_owned(),
                                line: *line,
                                block: Some(block),
                            });
                            break;
                        }
                        Some((Tok::Close, close_line)) => {
                            return Err(err(
                                *close_line,
                                format!(
                                    "unexpected \"}}\": directive \"{name}\" is not terminated by \";\""
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// Parses configuration text (no includes resolved); `file` names it in errors.
pub(crate) fn parse_str(text: &str, file: &str) -> Result<Vec<Directive>, NginxError> {
    parse_tokens(&tokenize(text, file)?, file)
}

/// Reads and parses `path` and everything it includes. `root` is the project, for display
/// names.
pub(crate) fn load(root: &Path, path: &Path) -> Result<Vec<Directive>, NginxError> {
    let mut budget = MAX_FILES;
    load_file(root, path, 0, &mut budget)
}

fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn load_file(
    root: &Path,
    path: &Path,
    depth: usize,
    budget: &mut usize,
) -> Result<Vec<Directive>, NginxError> {
    let name = display(root, path);
    let read_err = |message: String| NginxError {
        file: name.clone(),
        line: 0,
        message,
    };
    let bytes = crate::fsread::read(path, MAX_FILE_BYTES)
        .map_err(|e| read_err(format!("cannot read: {e}")))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut list = parse_str(&text, &name)?;
    resolve_includes(root, path, &mut list, depth, budget)?;
    Ok(list)
}

fn resolve_includes(
    root: &Path,
    path: &Path,
    list: &mut Vec<Directive>,
    depth: usize,
    budget: &mut usize,
) -> Result<(), NginxError> {
    let mut out = Vec::with_capacity(list.len());
    for mut d in std::mem::take(list) {
        if d.name == "include" && d.block.is_none() {
            let Some(pattern) = d.args.first() else {
                out.push(d);
                continue;
            };
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(NginxError {
                    file: d.file.clone(),
                    line: d.line,
                    message: format!(
                        "include nested more than {MAX_INCLUDE_DEPTH} deep (an include loop?)"
                    ),
                });
            }
            for file in include_targets(root, path, pattern) {
                if *budget == 0 {
                    break;
                }
                *budget -= 1;
                out.extend(load_file(root, &file, depth + 1, budget)?);
            }
        } else {
            if let Some(block) = &mut d.block {
                resolve_includes(root, path, block, depth, budget)?;
            }
            out.push(d);
        }
    }
    *list = out;
    Ok(())
}

/// Files an `include` names: relative to the including file's directory (or the project),
/// with a `*` glob in the last component. Files that do not exist (the system's
/// `/etc/nginx/mime.types` when the project is checked elsewhere) are left out.
fn include_targets(root: &Path, from: &Path, pattern: &str) -> Vec<PathBuf> {
    let pattern_path = Path::new(pattern);
    let candidates: Vec<PathBuf> = if pattern_path.is_absolute() {
        // An absolute include names the deploy target's filesystem (an image's
        // /etc/nginx/conf.d), not this machine's: only files inside the project are read.
        if pattern_path.starts_with(root) {
            vec![pattern_path.to_owned()]
        } else {
            Vec::new()
        }
    } else {
        let dir = from.parent().unwrap_or(root);
        vec![dir.join(pattern_path), root.join(pattern_path)]
    };
    for candidate in candidates {
        let Some(last) = candidate.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if last.contains('*') {
            let Some(dir) = candidate.parent() else {
                continue;
            };
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| glob_match(last, n))
                })
                .collect();
            if !found.is_empty() {
                found.sort();
                return found;
            }
        } else if candidate.is_file() {
            return vec![candidate];
        }
    }
    Vec::new()
}

/// `*` matches any run of characters; everything else literally.
fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if parts.len() == 1 {
        return pattern == name;
    }
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// An `upstream` server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpstreamServer {
    pub(crate) address: String,
    pub(crate) file: String,
    pub(crate) line: u64,
}

/// A `location` (possibly nested) of a `server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// The location's match as written (`/api/`, `= /ws`, `~ ^/socket`).
    pub(crate) path: String,
    pub(crate) file: String,
    pub(crate) line: u64,
    /// `proxy_pass` URL as written, with its line.
    pub(crate) proxy_pass: Option<(String, u64)>,
    /// `proxy_set_header Upgrade $http_upgrade` is in effect (set here or inherited).
    pub(crate) upgrade: bool,
    /// `proxy_set_header Connection` with `upgrade` (or a `map` variable) is in effect.
    pub(crate) connection_upgrade: bool,
    /// `proxy_http_version 1.1` is in effect (nginx speaks HTTP/1.0 upstream by default, which
    /// cannot upgrade).
    pub(crate) http11: bool,
}

/// What the integration gate uses from a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) upstreams: BTreeMap<String, Vec<UpstreamServer>>,
    pub(crate) locations: Vec<Location>,
    /// `listen` values of every server block.
    pub(crate) listens: Vec<String>,
    /// Where the configuration answers unknown paths with the index, as an SPA needs
    /// (`try_files $uri /index.html`, `error_page 404 =200 /index.html`): file and line.
    pub(crate) index_fallbacks: Vec<(String, u64)>,
}

/// Inherited proxy settings: nginx replaces the whole inherited `proxy_set_header` list when
/// a level sets any, and inherits `proxy_http_version` unless set.
#[derive(Debug, Clone, Default)]
struct Inherited {
    headers: Option<Vec<(String, String)>>,
    http11: bool,
}

fn level_settings(block: &[Directive], parent: &Inherited) -> Inherited {
    let own: Vec<(String, String)> = block
        .iter()
        .filter(|d| d.name == "proxy_set_header" && d.args.len() >= 2)
        .map(|d| {
            (
                d.args[0].to_ascii_lowercase(),
                d.args[1].to_ascii_lowercase(),
            )
        })
        .collect();
    let http11 = block
        .iter()
        .rev()
        .find(|d| d.name == "proxy_http_version")
        .map_or(parent.http11, |d| {
            d.args.first().map(String::as_str) == Some("1.1")
        });
    Inherited {
        headers: if own.is_empty() {
            parent.headers.clone()
        } else {
            Some(own)
        },
        http11,
    }
}

/// Collects upstreams, listens and locations.
pub(crate) fn summarize(config: &[Directive]) -> Summary {
    let mut summary = Summary::default();
    walk(config, &Inherited::default(), &mut summary);
    summary
}

fn walk(block: &[Directive], parent: &Inherited, summary: &mut Summary) {
    let here = level_settings(block, parent);
    for d in block {
        let Some(inner) = &d.block else {
            if d.name == "listen"
                && let Some(a) = d.args.first()
            {
                summary.listens.push(a.clone());
            }
            let falls_back = match d.name.as_str() {
                "try_files" => d.args.len() >= 2,
                "error_page" => d.args.iter().any(|a| a == "404"),
                _ => false,
            } && d.args.last().is_some_and(|a| a.ends_with("index.html"));
            if falls_back {
                summary.index_fallbacks.push((d.file.clone(), d.line));
            }
            continue;
        };
        match d.name.as_str() {
            "upstream" => {
                let name = d.args.first().cloned().unwrap_or_default();
                let servers = inner
                    .iter()
                    .filter(|s| s.name == "server")
                    .filter_map(|s| {
                        s.args.first().map(|a| UpstreamServer {
                            address: a.clone(),
                            file: s.file.clone(),
                            line: s.line,
                        })
                    })
                    .collect();
                summary.upstreams.insert(name, servers);
            }
            "location" => {
                let settings = level_settings(inner, &here);
                let headers = settings.headers.clone().unwrap_or_default();
                let proxy_pass = inner
                    .iter()
                    .find(|p| p.name == "proxy_pass")
                    .and_then(|p| p.args.first().map(|a| (a.clone(), p.line)));
                summary.locations.push(Location {
                    path: d.args.join(" "),
                    file: d.file.clone(),
                    line: d.line,
                    proxy_pass,
                    upgrade: headers.iter().any(|(k, v)| {
                        k == "upgrade" && (v.contains("upgrade") || v == "websocket")
                    }),
                    connection_upgrade: headers.iter().any(|(k, v)| {
                        k == "connection" && (v.contains("upgrade") || v.starts_with('$'))
                    }),
                    http11: settings.http11,
                });
                walk(inner, &here, summary);
            }
            _ => walk(inner, &here, summary),
        }
    }
}

/// A `proxy_pass` target split up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxyTarget {
    pub(crate) scheme: String,
    pub(crate) host: String,
    /// None when the URL names an upstream (no port) or uses variables.
    pub(crate) port: Option<u16>,
    /// The URI part after the host (`/` in `http://backend/`): nginx then replaces the
    /// matched location prefix with it.
    pub(crate) uri: Option<String>,
    /// The URL uses `$variables`: resolved per request, not checkable statically.
    pub(crate) dynamic: bool,
}

/// Splits `http://host:port/uri`; `unix:` sockets and malformed URLs give None.
pub(crate) fn proxy_target(url: &str) -> Option<ProxyTarget> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, uri) = rest.split_at(end);
    if authority.starts_with("unix:") {
        return None;
    }
    let dynamic = url.contains('$');
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (
            h.to_owned(),
            after.strip_prefix(':').and_then(|p| p.parse().ok()),
        )
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()),
            None => (authority.to_owned(), None),
        }
    };
    Some(ProxyTarget {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
        port,
        uri: (!uri.is_empty()).then(|| uri.to_owned()),
        dynamic,
    })
}

/// Splits an upstream `server` address (`backend:3000`, `127.0.0.1`, `[::1]:80`).
pub(crate) fn host_port(address: &str) -> (String, Option<u16>) {
    if let Some(v6) = address.strip_prefix('[')
        && let Some((h, after)) = v6.split_once(']')
    {
        return (
            h.to_owned(),
            after.strip_prefix(':').and_then(|p| p.parse().ok()),
        );
    }
    match address.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_ascii_lowercase(), p.parse().ok()),
        _ => (address.to_ascii_lowercase(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = r#"
# comment with { braces } and "quotes
upstream backend {
    server backend:3000;   # trailing comment
}
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
server {
    listen 127.0.0.1:8080;
    proxy_set_header Host $host;
    location /api/ {
        proxy_pass http://backend;
    }
    location = /ws {
        proxy_pass http://127.0.0.1:4000/;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
    }
    location / {
        add_header X-Note "a \"quoted\" ; value";
        try_files $uri ${uri}/ /index.html;
        location /nested { proxy_pass http://[::1]:5000; }
    }
}
"#;

    #[test]
    fn parses_blocks_comments_quotes_and_variables() {
        let parsed = parse_str(DEMO, "nginx.conf").unwrap();
        let summary = summarize(&parsed);
        assert_eq!(summary.upstreams["backend"][0].address, "backend:3000");
        assert_eq!(summary.upstreams["backend"][0].line, 4);
        assert_eq!(summary.listens, ["127.0.0.1:8080"]);
        let fallback_line = DEMO
            .lines()
            .position(|l| l.contains("try_files"))
            .map(|i| i as u64 + 1);
        assert_eq!(
            summary.index_fallbacks,
            [("nginx.conf".to_owned(), fallback_line.unwrap())]
        );
        let paths: Vec<&str> = summary.locations.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths, ["/api/", "= /ws", "/", "/nested"]);
        let api = &summary.locations[0];
        assert_eq!(api.proxy_pass, Some(("http://backend".to_owned(), 11)));
        assert!(!api.upgrade && !api.http11);
        let ws = &summary.locations[1];
        assert!(ws.upgrade && ws.connection_upgrade && ws.http11);
        assert_eq!(ws.line, 13);
        let add = parsed
            .iter()
            .find(|d| d.name == "server")
            .and_then(|s| s.block.as_ref())
            .and_then(|b| b.iter().find(|d| d.name == "location" && d.args == ["/"]))
            .and_then(|l| l.block.as_ref())
            .unwrap();
        assert_eq!(add[0].args, ["X-Note", "a \"quoted\" ; value"]);
        assert_eq!(add[1].args, ["$uri", "${uri}/", "/index.html"]);
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let e = parse_str("server {\n  listen 80;\n", "a.conf").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("a.conf", 1));
        assert!(e.message.contains("never closed"), "{e}");
        let e = parse_str("server {\n  listen 80\n}\n", "a.conf").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("\"listen\""), "{e}");
        let e = parse_str("}\n", "a.conf").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse_str("a \"b;\n\n", "a.conf").unwrap_err();
        assert!(e.message.contains("unterminated"), "{e}");
        let e = parse_str("listen 80", "a.conf").unwrap_err();
        assert!(e.message.contains("not terminated"), "{e}");
        assert!(parse_str("", "a.conf").unwrap().is_empty());
        // Deep nesting is a located error, not a stack overflow (50,000 levels was exit 134).
        let deep = |n: usize| format!("{}listen 80;{}", "a {\n".repeat(n), "}".repeat(n));
        assert!(parse_str(&deep(MAX_BLOCK_DEPTH), "a.conf").is_ok());
        let e = parse_str(&deep(MAX_BLOCK_DEPTH + 1), "a.conf").unwrap_err();
        assert_eq!(e.line, MAX_BLOCK_DEPTH as u64 + 1);
        assert!(e.message.contains("nested more than 64 levels"), "{e}");
        assert!(parse_str(&deep(50_000), "a.conf").is_err());
        // Arbitrary bytes never panic.
        for text in ["{{{{", ";;", "'", "\\", "${", "a $", "\"\\", "#"] {
            let _ = parse_str(text, "x");
        }
    }

    #[test]
    fn includes_are_followed_with_globs_and_loops_stop() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("conf.d")).unwrap();
        fs::write(
            dir.path().join("nginx.conf"),
            "http {\n  include conf.d/*.conf;\n  include /nonexistent/mime.types;\n}\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("conf.d/app.conf"),
            "server {\n location /api { proxy_pass http://127.0.0.1:3000; }\n}\n",
        )
        .unwrap();
        let parsed = load(dir.path(), &dir.path().join("nginx.conf")).unwrap();
        let summary = summarize(&parsed);
        assert_eq!(summary.locations.len(), 1);
        assert_eq!(summary.locations[0].file, "conf.d/app.conf");
        assert_eq!(summary.locations[0].line, 2);

        fs::write(dir.path().join("loop.conf"), "include loop.conf;\n").unwrap();
        let e = load(dir.path(), &dir.path().join("loop.conf")).unwrap_err();
        assert!(e.message.contains("include"), "{e}");
    }

    #[test]
    fn proxy_targets_are_split() {
        let t = proxy_target("http://backend:3000/api/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.uri.as_deref()),
            ("backend", Some(3000), Some("/api/"))
        );
        let t = proxy_target("http://backend").unwrap();
        assert_eq!((t.port, t.uri), (None, None));
        let t = proxy_target("http://[::1]:5000").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", Some(5000)));
        assert!(proxy_target("http://$upstream_host").unwrap().dynamic);
        assert!(proxy_target("http://unix:/tmp/s.sock").is_none());
        assert!(proxy_target("garbage").is_none());
        assert_eq!(
            host_port("backend:3000"),
            ("backend".to_owned(), Some(3000))
        );
        assert_eq!(host_port("[::1]:80"), ("::1".to_owned(), Some(80)));
        assert_eq!(host_port("10.0.0.1"), ("10.0.0.1".to_owned(), None));
        assert!(glob_match("*.conf", "a.conf") && !glob_match("*.conf", "a.txt"));
    }
}
