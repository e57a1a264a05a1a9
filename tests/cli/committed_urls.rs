//! No committed file names a package registry's host, and the URLs in fixtures, package
//! manifests and lock files, README examples and test strings use only reserved hosts.
//!
//! Machines that use the project reach registries through their own configuration (a mirror, a
//! proxy, a private index), so nothing here may depend on one host: lock formats that record
//! download URLs (uv.lock, Pipfile.lock, Cargo.lock) are written by the real tools at test time
//! under `target/fixture-cache/`, and the committed ones carry no URL fields. The project's own
//! `Cargo.lock` is the one exception: cargo writes it, and it is committed for `--locked` builds.
//!
//! This file names no real host either: the registry names are assembled from their labels.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::skip;

/// Package registries' hosts (and their download hosts), as labels joined with dots at run
/// time, so that this file does not contain them.
const REGISTRY_LABELS: &[&[&str]] = &[
    &["npmjs", "org"],
    &["npmjs", "com"],
    &["yarnpkg", "com"],
    &["pypi", "org"],
    &["pythonhosted", "org"],
    &["pypi", "python", "org"],
    &["crates", "io"],
    &["proxy", "golang", "org"],
    &["sum", "golang", "org"],
    &["rubygems", "org"],
    &["nuget", "org"],
    &["packagist", "org"],
    &["maven", "org"],
];

fn registry_hosts() -> Vec<String> {
    REGISTRY_LABELS
        .iter()
        .map(|labels| labels.join("."))
        .collect()
}

/// Domains reserved for examples and tests (RFC 2606, RFC 6761), which never resolve to
/// anyone's server.
const RESERVED_SUFFIXES: &[&str] = &[".example", ".test", ".invalid", ".localhost"];
const RESERVED_DOMAINS: &[&str] = &["example.com", "example.net", "example.org"];

/// Whether a URL's host is allowed in a committed file: reserved example domains, loopback, a
/// single label (a compose service or nginx upstream name, which only resolves on a private
/// network), or a placeholder filled in at run time (`{addr}`, `$host`, `${PORT}`).
fn allowed_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.contains(['{', '$', '%']) || !host.contains('.') {
        return true;
    }
    // Addresses no public server has: loopback, private networks (a dev server's "Network:"
    // banner), link-local, unspecified, and the documentation ranges (RFC 5737).
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        let [a, b, c, _] = ip.octets();
        return ip.is_loopback()
            || ip.is_private()
            || ip.is_link_local()
            || ip.is_unspecified()
            || matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113));
    }
    RESERVED_SUFFIXES.iter().any(|s| host.ends_with(s))
        || RESERVED_DOMAINS
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// The host of every `http://` / `https://` URL in `text` that is not a namespace name
/// (`xmlns="…"`, which formats define as an identifier, never fetched).
fn url_hosts(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut hosts = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("http").map(|i| from + i) {
        from = at + 4;
        let rest = &lower[at + 4..];
        let Some(authority) = rest
            .strip_prefix("s://")
            .or_else(|| rest.strip_prefix("://"))
        else {
            continue;
        };
        let before = lower[..at].trim_end_matches(['"', '\'']);
        let namespace = before
            .rsplit(|c: char| c.is_whitespace() || c == '<')
            .next()
            .is_some_and(|attr| attr.starts_with("xmlns") && attr.ends_with('='));
        if namespace {
            continue;
        }
        let end = authority
            .find(|c: char| c.is_whitespace() || "/?#\"'`<>();,\\".contains(c))
            .unwrap_or(authority.len());
        let authority = &authority[..end];
        // IPv6 literals (`[::1]:3000`) are loopback or documentation addresses in this tree.
        if authority.starts_with('[') || authority.is_empty() {
            continue;
        }
        let host = authority.rsplit('@').next().unwrap_or(authority);
        let host = host.split(':').next().unwrap_or(host);
        hosts.push(host.to_owned());
    }
    hosts
}

/// Tracked files, or None (after `skip`) outside a git checkout.
fn tracked_files(repo: &Path) -> Option<Vec<PathBuf>> {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(repo)
        .output();
    match out {
        Ok(out) if out.status.success() => Some(
            out.stdout
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
                .collect(),
        ),
        _ => {
            skip("not a git checkout (git ls-files failed)");
            None
        }
    }
}

fn has_extension(name: &str, ext: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Package manifests, lock files and package-manager settings, wherever they are.
fn is_package_file(name: &str) -> bool {
    matches!(
        name,
        "package.json"
            | "package-lock.json"
            | "npm-shrinkwrap.json"
            | "yarn.lock"
            | "pnpm-lock.yaml"
            | "pnpm-workspace.yaml"
            | ".npmrc"
            | ".yarnrc"
            | ".yarnrc.yml"
            | "pyproject.toml"
            | "Pipfile"
            | "Pipfile.lock"
            | "poetry.lock"
            | "uv.lock"
            | "uv.toml"
            | "pip.conf"
            | "Cargo.toml"
            | "Cargo.lock"
            | "go.mod"
            | "go.sum"
    ) || (has_extension(name, "txt")
        && (name.starts_with("requirements") || name.starts_with("constraints")))
}

/// The text of `path` whose URLs must use reserved hosts: all of a fixture, manifest, lock
/// file or test; the code (fenced blocks and inline spans) of Markdown; the non-comment lines
/// of Rust sources (their strings, where test data lives). None when not in scope.
fn url_scope(rel: &Path, text: &str) -> Option<String> {
    let name = rel.file_name()?.to_str()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    if first == "fixtures" || first == "tests" || is_package_file(name) {
        return Some(text.to_owned());
    }
    if has_extension(name, "md") {
        let mut code = String::new();
        let mut fenced = false;
        for line in text.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
                fenced = !fenced;
                continue;
            }
            if fenced {
                code.push_str(line);
                code.push('\n');
            } else {
                for span in line.split('`').skip(1).step_by(2) {
                    code.push_str(span);
                    code.push('\n');
                }
            }
        }
        return Some(code);
    }
    if first == "src" && has_extension(name, "rs") {
        let code: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        return Some(code.join("\n"));
    }
    None
}

#[test]
fn host_rules_tell_reserved_from_real() {
    for host in [
        "index.example",
        "cdn.example.com",
        "a.test",
        "127.0.0.1",
        "10.0.0.2",
        "192.0.2.7",
        "localhost",
        "backend",
        "{addr}",
        "Example.COM",
    ] {
        assert!(allowed_host(host), "{host} is reserved");
    }
    let real = ["pkgs", "acme", "io"].join(".");
    assert!(!allowed_host(&real));
    assert!(!allowed_host("8.8.4.4"));
    assert!(!allowed_host(&format!("example.com.{real}")));
    for registry in registry_hosts() {
        assert!(!allowed_host(&registry), "{registry}");
    }
    let text = format!(
        "--index-url https://{real}/simple\nresolved \"HTTPS://user:pw@{real}:8443/x.tgz\"\n\
         <svg xmlns=\"http://{real}/2000/svg\"> http://[::1]:3000/ 'https://' http://a.test:80/"
    );
    assert_eq!(
        url_hosts(&text),
        [real.clone(), real.clone(), "a.test".into()]
    );
    let md =
        format!("see [it](https://{real}/docs)\n```\ncurl https://{real}/\n```\n`http://{real}`\n");
    assert_eq!(
        url_hosts(&url_scope(Path::new("README.md"), &md).unwrap()).len(),
        2
    );
    let rs = format!("// https://{real}\nlet u = \"https://{real}\";\n");
    assert_eq!(
        url_hosts(&url_scope(Path::new("src/x.rs"), &rs).unwrap()).len(),
        1
    );
}

#[test]
fn committed_files_name_no_registry_and_only_reserved_hosts() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(files) = tracked_files(repo) else {
        return;
    };
    let registries = registry_hosts();
    let mut offences = Vec::new();
    let mut scanned = 0;
    for rel in &files {
        // The project's own lock: cargo writes it, with the registry's index in every `source`.
        if rel == Path::new("Cargo.lock") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(repo.join(rel)) else {
            continue;
        };
        scanned += 1;
        let lower = text.to_ascii_lowercase();
        for registry in &registries {
            if let Some(at) = lower.find(registry.as_str()) {
                let line = lower[..at].lines().count().max(1);
                offences.push(format!(
                    "{}:{line}: names a package registry",
                    rel.display()
                ));
            }
        }
        if let Some(scope) = url_scope(rel, &text) {
            for host in url_hosts(&scope) {
                if !allowed_host(&host) {
                    offences.push(format!(
                        "{}: URL host {host} is not a reserved example host (use https://index.example/simple)",
                        rel.display()
                    ));
                }
            }
        }
    }
    assert!(scanned > 100, "only {scanned} tracked files read");
    assert!(offences.is_empty(), "{offences:#?}");
}
