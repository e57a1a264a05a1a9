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
    /// Service name → the services its `depends_on` names, with the line of that key.
    pub depends_on: BTreeMap<String, DependsOn>,
}

/// One service's `depends_on`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependsOn {
    /// Services it names; `false` when the long syntax says `required: false` (compose then
    /// accepts a service that does not exist).
    pub services: Vec<(String, bool)>,
    pub line: u64,
    pub column: u64,
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
    #[serde(default)]
    depends_on: Option<Spanned<RawDependsOn>>,
}

/// `depends_on: [db]` or `depends_on: {db: {condition: service_healthy, required: false}}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDependsOn {
    List(Vec<String>),
    Map(BTreeMap<String, Option<RawDependency>>),
}

#[derive(Deserialize)]
struct RawDependency {
    #[serde(default)]
    required: Option<bool>,
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
        errors.extend(dependency_errors(&files));
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
    let mut depends_on = BTreeMap::new();
    for (name, service) in raw.services.unwrap_or_default() {
        let mut ports = Vec::new();
        let (raw_ports, raw_depends) = service.map_or((None, None), |s| (s.ports, s.depends_on));
        if let Some(deps) = raw_depends {
            let services = match deps.value {
                RawDependsOn::List(names) => names.into_iter().map(|n| (n, true)).collect(),
                RawDependsOn::Map(map) => map
                    .into_iter()
                    .map(|(n, d)| {
                        let required = d.and_then(|d| d.required).unwrap_or(true);
                        (n, required)
                    })
                    .collect(),
            };
            depends_on.insert(
                name.clone(),
                DependsOn {
                    services,
                    line: deps.defined.line(),
                    column: deps.defined.column(),
                },
            );
        }
        for entry in raw_ports.unwrap_or_default() {
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
        depends_on,
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

/// What `docker compose config` refuses in a set's `depends_on`: a service depending on
/// itself, on a service the set does not define (unless `required: false`), or a cycle. Each
/// is located at the `depends_on` that causes it. Kahn's algorithm: linear in services and
/// edges.
pub(crate) fn dependency_errors(files: &[ComposeFile]) -> Vec<FileError> {
    let mut errors = Vec::new();
    let defined: std::collections::BTreeSet<&str> = files
        .iter()
        .flat_map(|f| f.services.keys().map(String::as_str))
        .collect();
    // A later file (the override) replaces an earlier one's list for the same service.
    let mut edges: BTreeMap<&str, (&ComposeFile, &DependsOn)> = BTreeMap::new();
    for file in files {
        for (name, deps) in &file.depends_on {
            edges.insert(name.as_str(), (file, deps));
        }
    }
    let at = |file: &ComposeFile, deps: &DependsOn, message: String| FileError {
        file: file.path.clone(),
        line: Some(deps.line),
        column: Some(deps.column),
        message,
    };
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (&name, &(file, deps)) in &edges {
        for (dep, required) in &deps.services {
            if dep == name {
                errors.push(at(file, deps, format!("service {name} depends on itself")));
            } else if !defined.contains(dep.as_str()) {
                if *required {
                    errors.push(at(
                        file,
                        deps,
                        format!("service {name} depends on undefined service {dep}"),
                    ));
                }
            } else {
                graph.entry(name).or_default().push(dep.as_str());
            }
        }
    }
    let mut indegree: BTreeMap<&str, usize> = defined.iter().map(|&n| (n, 0)).collect();
    for targets in graph.values() {
        for &t in targets {
            *indegree.entry(t).or_default() += 1;
        }
    }
    let mut queue: Vec<&str> = indegree
        .iter()
        .filter(|&(_, &d)| d == 0)
        .map(|(&n, _)| n)
        .collect();
    while let Some(n) = queue.pop() {
        for &t in graph.get(n).into_iter().flatten() {
            if let Some(d) = indegree.get_mut(t) {
                *d -= 1;
                if *d == 0 {
                    queue.push(t);
                }
            }
        }
    }
    let in_cycle: std::collections::BTreeSet<&str> = indegree
        .iter()
        .filter(|&(_, &d)| d > 0)
        .map(|(&n, _)| n)
        .collect();
    // Every service left depends on a cycle or is on one; walk from the first along edges that
    // stay among them until a service repeats, and report that cycle once.
    if let Some(&start) = in_cycle.iter().next() {
        let mut path = vec![start];
        let mut position: BTreeMap<&str, usize> = BTreeMap::from([(start, 0)]);
        let mut current = start;
        while let Some(&next) = graph
            .get(current)
            .into_iter()
            .flatten()
            .find(|t| in_cycle.contains(*t))
        {
            if let Some(&pos) = position.get(next) {
                let cycle = &path[pos..];
                let (file, deps) = edges[cycle[0]];
                let mut names: Vec<&str> = cycle.to_vec();
                names.push(cycle[0]);
                errors.push(at(
                    file,
                    deps,
                    format!("depends_on cycle: {}", names.join(" -> ")),
                ));
                break;
            }
            position.insert(next, path.len());
            path.push(next);
            current = next;
        }
    }
    errors
}

/// Why one `ports:` entry of a compose service cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PortError {
    #[error("a long-syntax port needs `target`")]
    NoTarget,
    #[error("empty port entry")]
    Empty,
    #[error("cannot read port entry `{entry}`")]
    Unreadable { entry: String },
    #[error("port entry `{entry}` has no container port")]
    NoContainerPort { entry: String },
}

fn from_long(long: LongPort, entry_line: u64) -> Result<ComposePort, PortError> {
    let target = long.target.map(|s| s.0).ok_or(PortError::NoTarget)?;
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
pub(crate) fn parse_short(text: &str) -> Result<ComposePort, PortError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(PortError::Empty);
    }
    let (body, protocol) = match split_top_level(text, '/').as_slice() {
        [body] => ((*body).to_owned(), "tcp".to_owned()),
        [body, proto] => ((*body).to_owned(), (*proto).to_ascii_lowercase()),
        _ => {
            return Err(PortError::Unreadable {
                entry: text.to_owned(),
            });
        }
    };
    let parts = split_top_level(&body, ':');
    let (host_ip, published, target) = match parts.as_slice() {
        [target] => (None, None, *target),
        [published, target] => (None, Some(*published), *target),
        [ip, published, target] => (Some(*ip), Some(*published), *target),
        _ => {
            return Err(PortError::Unreadable {
                entry: text.to_owned(),
            });
        }
    };
    if target.is_empty() {
        return Err(PortError::NoContainerPort {
            entry: text.to_owned(),
        });
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
        assert_eq!(
            parse_short("1:2:3:4").unwrap_err(),
            PortError::Unreadable {
                entry: "1:2:3:4".into()
            }
        );
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
    fn depends_on_cycles_self_and_unknown_services_are_located() {
        use std::fmt::Write as _;
        let set = |yaml: &str| {
            let file = parse("compose.yaml", yaml).unwrap();
            dependency_errors(&[file])
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        };
        assert!(
            set("services:\n  db: {}\n  api:\n    depends_on: [db]\n  web:\n    depends_on:\n      api: {condition: service_started}\n      cache: {required: false}\n").is_empty()
        );
        assert_eq!(
            set("services:\n  api:\n    depends_on: [api]\n"),
            ["compose.yaml:3:17: service api depends on itself"]
        );
        assert_eq!(
            set("services:\n  api:\n    depends_on:\n      - db\n"),
            ["compose.yaml:4:7: service api depends on undefined service db"]
        );
        assert_eq!(
            set(
                "services:\n  a:\n    depends_on: [b]\n  b:\n    depends_on: [c]\n  c:\n    depends_on: [a]\n  d:\n    depends_on: [a]\n"
            ),
            ["compose.yaml:3:17: depends_on cycle: a -> b -> c -> a"]
        );
        // A long chain is no cycle, and checking it is linear.
        let mut chain = String::from("services:\n  s0: {}\n");
        for i in 1..5_000 {
            let _ = write!(chain, "  s{i}:\n    depends_on: [s{}]\n", i - 1);
        }
        assert!(set(&chain).is_empty());
    }

    #[test]
    fn malformed_yaml_names_line() {
        let err = parse("compose.yaml", "services:\n  web:\n    ports: [\n").unwrap_err();
        assert_eq!(err.file, "compose.yaml");
        assert!(err.line.is_some(), "{err}");
    }
}
