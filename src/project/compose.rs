//! Docker Compose files: which services publish which ports, and where each is written.
//!
//! Reads the short (`"127.0.0.1:${WEB_PORT:-8080}:80/udp"`) and long (`published:`/`target:`)
//! port syntax, merge keys (`<<: *defaults`) and ranges. Interpolation is left to the caller:
//! the host side is kept as written so a check can tell `8080` from `${WEB_PORT:-8080}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::FileError;
use super::yaml::{self, MAX_YAML_BYTES, Scalar};

/// A base compose file and the override compose merges into it by default
/// (`docker-compose.yml` + `docker-compose.override.yml`), or a standalone variant
/// (`docker-compose.prod.yml`) that is deployed on its own.
#[derive(Debug, Clone)]
pub struct ComposeSet {
    /// Display name: the base file's path relative to the project.
    pub name: String,
    pub files: Vec<ComposeFile>,
}

/// One parsed compose file.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    /// Path relative to the project directory.
    pub path: String,
    /// Service name → its published ports, in file order.
    pub services: BTreeMap<String, Vec<ComposePort>>,
}

/// One entry of a service's `ports:` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposePort {
    /// The entry as written (short syntax), or rebuilt from the long syntax.
    pub raw: String,
    /// Host address, as written (may contain interpolation); None binds all addresses.
    pub host_ip: Option<String>,
    /// Host port or range as written (may contain interpolation); None means compose picks an
    /// ephemeral port, which cannot collide.
    pub published: Option<String>,
    /// Container port or range as written.
    pub target: String,
    /// `tcp` (default) or `udp`.
    pub protocol: String,
    /// Where the entry is written: for a merged entry, the line of its definition; for the long
    /// syntax, the line of `published:` when there is one.
    pub line: u64,
    pub column: u64,
    /// Written in the long syntax (`published:`/`target:`), so a fix rewrites `published:`.
    pub long: bool,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    services: Option<BTreeMap<String, Option<RawService>>>,
}

#[derive(Deserialize)]
struct RawService {
    #[serde(default)]
    ports: Option<Vec<Spanned<RawPort>>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPort {
    Short(Scalar),
    Long(LongPort),
}

#[derive(Deserialize)]
struct LongPort {
    target: Option<Scalar>,
    published: Option<Scalar>,
    host_ip: Option<String>,
    protocol: Option<String>,
}

/// Group detected compose files into sets: each base file with the `.override.` file beside it;
/// every other file on its own.
pub fn group(root: &Path, paths: &[PathBuf]) -> (Vec<ComposeSet>, Vec<FileError>) {
    let mut sets = Vec::new();
    let mut errors = Vec::new();
    let (overrides, bases): (Vec<&PathBuf>, Vec<&PathBuf>) = paths.iter().partition(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains(".override."))
    });
    for base in bases {
        let mut files = Vec::new();
        let mut members = vec![base.clone()];
        if let (Some(dir), Some(stem)) = (base.parent(), base.file_stem().and_then(|s| s.to_str()))
        {
            for ov in &overrides {
                let ov_stem = ov.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if ov.parent() == Some(dir) && ov_stem.starts_with(&format!("{stem}.override.")) {
                    members.push((*ov).clone());
                }
            }
        }
        for member in &members {
            match read(root, member) {
                Ok(file) => files.push(file),
                Err(e) => errors.push(e),
            }
        }
        sets.push(ComposeSet {
            name: relative(root, base),
            files,
        });
    }
    (sets, errors)
}

/// Path relative to `root` for display, falling back to the full path.
pub(crate) fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Read and parse one compose file.
pub fn read(root: &Path, path: &Path) -> Result<ComposeFile, FileError> {
    let rel = relative(root, path);
    let text = read_text(&rel, path, MAX_YAML_BYTES)?;
    parse(&rel, &text)
}

/// Read a whole file as UTF-8 text, refusing huge files.
pub(crate) fn read_text(rel: &str, path: &Path, limit: u64) -> Result<String, FileError> {
    let bytes = crate::fsread::read(path, limit).map_err(|e| FileError::new(rel, e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| {
        let (line, _) = super::error::line_col(
            &String::from_utf8_lossy(e.as_bytes()),
            e.utf8_error().valid_up_to(),
        );
        FileError::new(rel, "file is not valid UTF-8").at_line(line)
    })
}

/// Parse compose YAML text; `rel` names the file in errors.
pub(crate) fn parse(rel: &str, text: &str) -> Result<ComposeFile, FileError> {
    let raw: RawFile = if text.trim().is_empty() {
        RawFile { services: None }
    } else {
        serde_saphyr::from_str_with_options(text, yaml::options())
            .map_err(|e| yaml::error(rel, &e))?
    };
    let mut services = BTreeMap::new();
    let mut lines: Option<Vec<&str>> = None;
    for (name, service) in raw.services.unwrap_or_default() {
        let mut ports = Vec::new();
        for entry in service.and_then(|s| s.ports).unwrap_or_default() {
            let line = entry.defined.line();
            let column = entry.defined.column();
            let port = match entry.value {
                RawPort::Short(Scalar(text)) => {
                    parse_short(&text).map_err(|message| FileError {
                        file: rel.to_owned(),
                        line: Some(line),
                        column: Some(column),
                        message: format!("service {name}: {message}"),
                    })?
                }
                RawPort::Long(long) => from_long(long, line).map_err(|message| FileError {
                    file: rel.to_owned(),
                    line: Some(line),
                    column: Some(column),
                    message: format!("service {name}: {message}"),
                })?,
            };
            // The untagged port enum buffers its content, so spans inside a long-syntax entry are
            // lost: find its `published:` line in the text (lines split once per file).
            let (line, column) = if port.long && port.published.is_some() {
                let lines = lines.get_or_insert_with(|| text.lines().collect());
                (published_line(lines, line), 0)
            } else {
                (line, column)
            };
            ports.push(ComposePort {
                line,
                column,
                ..port
            });
        }
        services.insert(name, ports);
    }
    Ok(ComposeFile {
        path: rel.to_owned(),
        services,
    })
}

/// The line of `published:` in the long-syntax entry starting at `entry` (1-based), else
/// `entry`.
fn published_line(lines: &[&str], entry: u64) -> u64 {
    let Ok(start) = usize::try_from(entry.saturating_sub(1)) else {
        return entry;
    };
    for (i, line) in lines.iter().enumerate().skip(start).take(16) {
        let body = line.trim_start();
        if i > start && body.starts_with("- ") {
            break;
        }
        let body = body.strip_prefix("- ").unwrap_or(body).trim_start();
        if body.starts_with("published:") {
            return i as u64 + 1;
        }
    }
    entry
}

fn from_long(long: LongPort, entry_line: u64) -> Result<ComposePort, String> {
    let target = long
        .target
        .map(|s| s.0)
        .ok_or_else(|| "a long-syntax port needs `target`".to_owned())?;
    let protocol = long.protocol.unwrap_or_else(|| "tcp".to_owned());
    let line = entry_line;
    let published = long.published.map(|s| s.0).filter(|p| !p.is_empty());
    let mut raw = String::new();
    if let Some(ip) = &long.host_ip {
        raw.push_str(ip);
        raw.push(':');
    }
    if let Some(p) = &published {
        raw.push_str(p);
        raw.push(':');
    }
    raw.push_str(&target);
    if protocol != "tcp" {
        raw.push('/');
        raw.push_str(&protocol);
    }
    Ok(ComposePort {
        raw,
        host_ip: long.host_ip,
        published,
        target,
        protocol,
        line,
        column: 0,
        long: true,
    })
}

/// Parse the short syntax `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`, splitting on `:`
/// only outside `${…}` and `[…]` so `${WEB_PORT:-8080}` and `[::1]` stay whole.
pub(crate) fn parse_short(text: &str) -> Result<ComposePort, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty port entry".to_owned());
    }
    let (body, protocol) = match split_top_level(text, '/').as_slice() {
        [body] => ((*body).to_owned(), "tcp".to_owned()),
        [body, proto] => ((*body).to_owned(), (*proto).to_ascii_lowercase()),
        _ => return Err(format!("cannot read port entry `{text}`")),
    };
    let parts = split_top_level(&body, ':');
    let (host_ip, published, target) = match parts.as_slice() {
        [target] => (None, None, *target),
        [published, target] => (None, Some(*published), *target),
        [ip, published, target] => (Some(*ip), Some(*published), *target),
        _ => return Err(format!("cannot read port entry `{text}`")),
    };
    if target.is_empty() {
        return Err(format!("port entry `{text}` has no container port"));
    }
    let host_ip = host_ip
        .map(|ip| ip.trim_start_matches('[').trim_end_matches(']').to_owned())
        .filter(|ip| !ip.is_empty());
    Ok(ComposePort {
        raw: text.to_owned(),
        host_ip,
        published: published.filter(|p| !p.is_empty()).map(str::to_owned),
        target: target.to_owned(),
        protocol,
        line: 0,
        column: 0,
        long: false,
    })
}

/// Split on `sep` outside `${…}` (nesting counted) and `[…]`.
fn split_top_level(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut bracket = false;
    let mut start = 0;
    let mut prev = '\0';
    for (i, c) in text.char_indices() {
        match c {
            '{' if prev == '$' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            '[' => bracket = true,
            ']' => bracket = false,
            c if c == sep && depth == 0 && !bracket => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
        prev = c;
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_syntax_forms() {
        let p = parse_short("3000").unwrap();
        assert_eq!((p.published, p.target.as_str()), (None, "3000"));
        let p = parse_short("8080:80").unwrap();
        assert_eq!(p.published.as_deref(), Some("8080"));
        let p = parse_short("127.0.0.1:8080:80").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        let p = parse_short("[::1]:6000:6000").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("::1"));
        let p = parse_short("6060:6060/udp").unwrap();
        assert_eq!(p.protocol, "udp");
        let p = parse_short("${FRONTEND_PORT:-5173}:5173").unwrap();
        assert_eq!(p.published.as_deref(), Some("${FRONTEND_PORT:-5173}"));
        let p = parse_short("127.0.0.1:${P:-${Q:-80}}:80").unwrap();
        assert_eq!(p.published.as_deref(), Some("${P:-${Q:-80}}"));
        let p = parse_short("127.0.0.1::80").unwrap();
        assert_eq!(p.published, None);
        let p = parse_short("8000-8010:8000-8010").unwrap();
        assert_eq!(p.published.as_deref(), Some("8000-8010"));
        assert!(parse_short("1:2:3:4").is_err());
    }

    #[test]
    fn merge_keys_and_long_syntax_with_lines() {
        let yaml = "x-web: &web\n  ports:\n    - \"8080:80\"\nservices:\n  web:\n    <<: *web\n  api:\n    ports:\n      - target: 3000\n        published: \"${API_PORT:-3000}\"\n        protocol: tcp\n";
        let file = parse("compose.yaml", yaml).unwrap();
        let web = &file.services["web"];
        assert_eq!(web[0].published.as_deref(), Some("8080"));
        assert_eq!(web[0].line, 3, "merged entries point at their definition");
        let api = &file.services["api"];
        assert_eq!(api[0].published.as_deref(), Some("${API_PORT:-3000}"));
        assert_eq!(api[0].line, 10, "the long syntax points at `published:`");
    }

    #[test]
    fn malformed_yaml_names_line() {
        let err = parse("compose.yaml", "services:\n  web:\n    ports: [\n").unwrap_err();
        assert_eq!(err.file, "compose.yaml");
        assert!(err.line.is_some(), "{err}");
    }
}
