//! `integration.cdn`: the CDN (`[integration] cdn_url`, or the absolute asset URLs of the built
//! HTML) serves every asset of the local build with `200`, the same bytes (size and SHA-256),
//! and long-lived cache headers on content-hashed files.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::client::{Client, outcome, round};
use super::gate::TargetEvidence;
use super::html::{asset_refs, is_hashed};
use super::static_assets::decode;
use super::targets::Targets;
use crate::check::{CheckId, CheckResult, Finding, Severity, Status};

const ID: CheckId = CheckId::IntegrationCdn;

/// Cache lifetimes below a day on a content-hashed file waste the hash.
const MIN_HASHED_MAX_AGE: u64 = 86_400;

/// Assets compared at most.
const MAX_ASSETS: usize = 200;

/// The build output directory holding `index.html`: `[integration] build_dir`, `[build]
/// output` (under `[build] dir`), else `dist`, `build`, `out` in the frontend's directory or
/// the project.
pub(crate) fn build_dir(client: &Client<'_>, targets: &Targets) -> Option<PathBuf> {
    let project = &client.ctx.project;
    let root = &project.root;
    if let Some(dir) = &project.config.integration.build_dir {
        return Some(root.join(dir));
    }
    let mut candidates = Vec::new();
    if let Some(out) = &project.config.build.output {
        let base = project.config.build.dir.as_deref().unwrap_or(".");
        candidates.push(root.join(base).join(out));
    }
    let mut dirs: Vec<String> = Vec::new();
    if let Some(d) = &targets.frontend_dir {
        dirs.push(d.clone());
    }
    if let Some(d) = &project.config.build.dir {
        dirs.push(d.clone());
    }
    for (name, service) in &project.config.services {
        if name.contains("front") || name.contains("web") {
            dirs.extend(service.dir.clone());
        }
    }
    dirs.push(".".to_owned());
    dirs.push("frontend".to_owned());
    for dir in dirs {
        for out in ["dist", "build", "out"] {
            candidates.push(root.join(&dir).join(out));
        }
    }
    candidates
        .into_iter()
        .find(|c| c.join("index.html").is_file())
}

/// Cache-Control `max-age` (or `s-maxage`) and whether `immutable` is set.
fn cache_policy(value: Option<&str>) -> (Option<u64>, bool) {
    let Some(value) = value else {
        return (None, false);
    };
    let mut max_age = None;
    let mut immutable = false;
    for directive in value.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "immutable" {
            immutable = true;
        } else if let Some(v) = directive
            .strip_prefix("s-maxage=")
            .or_else(|| directive.strip_prefix("max-age="))
            && let Ok(n) = v.trim_matches('"').parse::<u64>()
        {
            max_age = Some(max_age.map_or(n, |m: u64| m.max(n)));
        }
    }
    (max_age, immutable)
}

fn sha256(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The local file for an asset URL path: the path under the build directory, trying shorter
/// suffixes so `/static/app/assets/a.js` on a CDN finds `dist/assets/a.js`.
fn local_file(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = url_path
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect();
    (0..parts.len())
        .map(|skip| parts[skip..].iter().fold(dir.to_owned(), |p, c| p.join(c)))
        .find(|p| p.is_file())
}

pub(crate) async fn check(client: &Client<'_>, targets: &Targets) -> CheckResult {
    let cfg = &client.ctx.project.config.integration;
    let skipped = |reason: String| {
        CheckResult::new(
            ID,
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        )
    };
    let Some(dir) = build_dir(client, targets) else {
        return match &cfg.cdn_url {
            Some(_) => CheckResult::new(
                ID,
                Status::Error,
                "[integration] cdn_url is set but no built index.html was found to compare with (set [integration] build_dir, or build first)",
            ),
            None => skipped("no CDN configured ([integration] cdn_url) and no built index.html to find CDN URLs in".to_owned()),
        };
    };
    let index_path = dir.join("index.html");
    let shown_dir = client.ctx.project.relative(&dir);
    let html = super::targets::read_small(&index_path).unwrap_or_default();
    let refs = asset_refs(&html);
    // (URL to fetch, local path part, as written)
    let mut planned: Vec<(String, String, String)> = Vec::new();
    let cdn_base = cfg
        .cdn_url
        .as_ref()
        .map(|u| u.trim_end_matches('/').to_owned());
    for r in &refs {
        if r.url.starts_with("http://") || r.url.starts_with("https://") {
            let path = r
                .url
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
                .unwrap_or_default();
            planned.push((r.url.clone(), path, r.url.clone()));
        } else if r.url.starts_with("//") {
            let path = r.url[2..]
                .find('/')
                .map(|i| r.url[2 + i..].to_owned())
                .unwrap_or_default();
            planned.push((format!("https:{}", r.url), path, r.url.clone()));
        } else if let Some(base) = &cdn_base {
            let path = format!(
                "/{}",
                r.url.trim_start_matches("./").trim_start_matches('/')
            );
            planned.push((format!("{base}{path}"), path, r.url.clone()));
        }
    }
    if planned.is_empty() {
        return skipped(format!(
            "no CDN in use: no [integration] cdn_url, and {shown_dir}/index.html references no absolute asset URL"
        ));
    }
    let mut findings = Vec::new();
    let mut evidence = Vec::new();
    let mut stale = Vec::new();
    let mut missing = Vec::new();
    for (url, path, written) in planned.iter().take(MAX_ASSETS) {
        let local = local_file(&dir, path);
        let local_bytes = local
            .as_ref()
            .and_then(|p| crate::fsread::read(p, 64 * 1024 * 1024).ok());
        let local_rel = local.as_ref().map(|p| client.ctx.project.relative(p));
        let result = client.send(&client.request("GET", url)).await;
        let shown = client.clean(url);
        let mut entry = json!({
            "url": shown,
            "referenced_as": written,
            "local_file": local_rel,
            "local_bytes": local_bytes.as_ref().map(Vec::len),
            "local_sha256": local_bytes.as_ref().map(|b| sha256(b)),
        });
        match &result {
            Err(e) => {
                missing.push(written.clone());
                findings.push(Finding::new(
                    Severity::Error,
                    format!("CDN {shown}: {}", client.clean(&e.to_string())),
                ));
                entry["error"] = json!(client.clean(&e.to_string()));
            }
            Ok(resp) => {
                entry["status"] = json!(resp.status);
                entry["ms"] = json!(round(resp.timings.total_ms));
                let cache_control = resp.header("cache-control").map(str::to_owned);
                entry["cache_control"] = json!(cache_control);
                if resp.status == 200 {
                    let body = decode(&resp.body, resp.header("content-encoding"));
                    match (&body, &local_bytes) {
                        (Ok(remote), Some(local)) => {
                            let same = remote == local;
                            entry["cdn_bytes"] = json!(remote.len());
                            entry["cdn_sha256"] = json!(sha256(remote));
                            entry["matches_build"] = json!(same);
                            if !same {
                                stale.push(written.clone());
                                findings.push(
                                    Finding::new(
                                        Severity::Error,
                                        format!(
                                            "CDN {shown} serves {} bytes (sha256 {}), but the build has {} bytes (sha256 {}) in {}: the CDN copy is stale",
                                            remote.len(),
                                            &sha256(remote)[..12],
                                            local.len(),
                                            &sha256(local)[..12],
                                            local_rel.as_deref().unwrap_or_default(),
                                        ),
                                    )
                                    .suggest("upload the current build to the CDN and purge its cache"),
                                );
                            }
                        }
                        (Err(e), _) => findings.push(Finding::new(
                            Severity::Error,
                            format!("CDN {shown}: body does not decode: {e}"),
                        )),
                        (Ok(_), None) => findings.push(Finding::new(
                            Severity::Warning,
                            format!(
                                "{written} is not in the local build ({shown_dir}): nothing to compare the CDN copy with"
                            ),
                        )),
                    }
                    if is_hashed(path) {
                        let (max_age, immutable) = cache_policy(cache_control.as_deref());
                        if !immutable && max_age.is_none_or(|m| m < MIN_HASHED_MAX_AGE) {
                            findings.push(
                                Finding::new(
                                    Severity::Warning,
                                    format!(
                                        "CDN {shown} is content-hashed but Cache-Control is {}: it can be cached for a year",
                                        cache_control.as_deref().map_or_else(|| "absent".to_owned(), |c| format!("{c:?}"))
                                    ),
                                )
                                .suggest("Cache-Control: public, max-age=31536000, immutable"),
                            );
                        }
                    }
                } else {
                    missing.push(written.clone());
                    findings.push(Finding::new(
                        Severity::Error,
                        format!("CDN {shown} answered {}", outcome(&result)),
                    ));
                }
            }
        }
        evidence.push(entry);
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let checked = evidence.len();
    let (status, message) = if errors > 0 {
        let mut parts = Vec::new();
        if !stale.is_empty() {
            parts.push(format!(
                "{} asset(s) differ from the local build: {}",
                stale.len(),
                stale.join(", ")
            ));
        }
        if !missing.is_empty() {
            parts.push(format!(
                "{} asset(s) not served: {}",
                missing.len(),
                missing.join(", ")
            ));
        }
        if parts.is_empty() {
            parts.extend(findings.iter().map(|f| f.message.clone()));
        }
        (Status::Failed, parts.join("; "))
    } else if !findings.is_empty() {
        (
            Status::Warning,
            format!(
                "{checked} CDN asset(s) match the build, but: {}",
                findings
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    } else {
        (
            Status::Passed,
            format!(
                "{checked} asset(s) on the CDN are 200, byte-identical to {shown_dir}, and hashed ones are cached long-term"
            ),
        )
    };
    CheckResult::new(ID, status, message)
        .with_findings(findings)
        .with_evidence(&CdnEvidence {
            cdn_url: cdn_base.as_deref().map(|u| client.clean(u)),
            build_dir: shown_dir,
            assets: evidence,
            target: TargetEvidence::default(),
        })
}

/// What `integration.cdn` measured.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct CdnEvidence {
    /// `[integration] cdn_url`; null when the CDN URLs come from the built HTML alone.
    pub(crate) cdn_url: Option<String>,
    /// The local build directory the CDN copies are compared with.
    pub(crate) build_dir: String,
    /// One entry per asset fetched from the CDN (at most 50): `url`, `referenced_as`,
    /// `local_file`, `local_bytes`, `local_sha256`, then `status`, `ms`, `cache_control`,
    /// `cdn_bytes`, `cdn_sha256`, `matches_build` — or `error` when the request failed.
    pub(crate) assets: Vec<serde_json::Value>,
    /// Set by the gate.
    #[serde(flatten)]
    pub(crate) target: TargetEvidence,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_policies_are_read() {
        assert_eq!(
            cache_policy(Some("public, max-age=31536000, immutable")),
            (Some(31_536_000), true)
        );
        assert_eq!(cache_policy(Some("no-cache")), (None, false));
        assert_eq!(
            cache_policy(Some("max-age=60, s-maxage=600")),
            (Some(600), false)
        );
        assert_eq!(cache_policy(None), (None, false));
    }

    #[test]
    fn local_files_are_found_under_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("assets/a.js"), "x").unwrap();
        assert!(local_file(dir.path(), "/assets/a.js").is_some());
        assert!(local_file(dir.path(), "/static/v1/assets/a.js?x=1").is_some());
        assert!(local_file(dir.path(), "/../../etc/passwd").is_none());
        assert!(local_file(dir.path(), "").is_none());
    }
}
