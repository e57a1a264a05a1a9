//! `integration.static_assets`: the frontend's index is served as `200 text/html`, every
//! asset it references on the same origin is `200` with a Content-Type matching its
//! extension, the compression the server negotiates is reported, and a client-side route
//! (SPA fallback) returns the index.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::client::{Client, media_type, outcome, round};
use super::gate::TargetEvidence;
use super::html::{asset_refs, expected_type, type_matches};
use super::nginx::{NginxError, Summary};
use super::targets::{Endpoint, Targets};
use crate::check::{CheckId, CheckResult, Finding, Severity, Status};

const ID: CheckId = CheckId::IntegrationStaticAssets;

/// What browsers send: the server should pick one of these.
const ACCEPT_ENCODING: &str = "gzip, br";

/// A route no application defines, so an SPA must answer it with its index.
const DEFAULT_SPA_ROUTE: &str = "/__devops_agent_spa_check";

/// Assets fetched at most, so a page referencing thousands cannot stall a run.
const MAX_ASSETS: usize = 200;

/// The absolute URL of an asset referenced by the page at `endpoint`'s root, or None when it
/// lives on another origin (the CDN check's business).
pub(crate) fn resolve(endpoint: &Endpoint, url: &str) -> Option<String> {
    if url.starts_with("//") {
        return None;
    }
    if url.contains("://") {
        return url
            .starts_with(&format!("{}/", endpoint.origin))
            .then(|| url.to_owned());
    }
    Some(endpoint.at(url.trim_start_matches("./")))
}

pub(crate) async fn check(
    client: &Client<'_>,
    targets: &Targets,
    nginx: &[Result<Summary, NginxError>],
) -> CheckResult {
    let Some(frontend) = &targets.frontend else {
        let reason = "no frontend to fetch an index from".to_owned();
        return CheckResult::new(
            ID,
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        );
    };
    let index_url = frontend.at("/");
    let index = client
        .send(
            &client
                .request("GET", &index_url)
                .header("Accept-Encoding", ACCEPT_ENCODING)
                .header("Accept", "text/html")
                .max_body(4 * 1024 * 1024),
        )
        .await;
    let index = match index {
        Ok(resp) if resp.status == 200 && media_type(&resp) == "text/html" => resp,
        // A lone API service serves no pages: nothing static to check.
        Ok(resp) if media_type(&resp) != "text/html" && targets.single_service().is_some() => {
            let reason = format!(
                "{} serves no HTML at / ({} {}): no frontend to check",
                frontend.name,
                resp.status,
                media_type(&resp)
            );
            return CheckResult::new(
                ID,
                Status::Skipped {
                    reason: reason.clone(),
                },
                reason,
            );
        }
        other => {
            let message = format!(
                "GET {} answered {}{}, not 200 text/html",
                client.clean(&index_url),
                client.clean(&outcome(&other)),
                other
                    .as_ref()
                    .ok()
                    .map(|r| format!(" ({})", media_type(r)))
                    .unwrap_or_default()
            );
            return CheckResult::new(ID, Status::Failed, message.clone())
                .with_findings(vec![Finding::new(Severity::Error, message)])
                .with_evidence(&StaticAssetsEvidence {
                    index: IndexEvidence {
                        url: client.clean(&index_url),
                        status: None,
                        content_type: None,
                        content_encoding: None,
                        ms: None,
                    },
                    assets: None,
                    compression: None,
                    other_origin_assets: None,
                    spa_fallback: None,
                    target: TargetEvidence::default(),
                });
        }
    };
    let index_encoding = index.header("content-encoding").map(str::to_owned);
    let html = match decode(&index.body, index_encoding.as_deref()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            let message = format!(
                "GET {} sent a body that does not decode as {}: {e}",
                client.clean(&index_url),
                index_encoding.as_deref().unwrap_or("identity")
            );
            return CheckResult::new(ID, Status::Failed, message.clone())
                .with_findings(vec![Finding::new(Severity::Error, message)]);
        }
    };
    let refs = asset_refs(&html);
    let mut findings = Vec::new();
    let mut assets = Vec::new();
    let mut encodings: BTreeMap<String, u32> = BTreeMap::new();
    let mut external = Vec::new();
    let mut broken = Vec::new();
    for asset in refs.iter().take(MAX_ASSETS) {
        let Some(url) = resolve(frontend, &asset.url) else {
            external.push(asset.url.clone());
            continue;
        };
        let result = client
            .send(
                &client
                    .request("GET", &url)
                    .header("Accept-Encoding", ACCEPT_ENCODING),
            )
            .await;
        let (status, content_type, encoding, size, ms) = match &result {
            Ok(r) => (
                Some(r.status),
                r.header("content-type").map(str::to_owned),
                r.header("content-encoding").map(str::to_owned),
                Some(r.body.len()),
                Some(round(r.timings.total_ms)),
            ),
            Err(_) => (None, None, None, None, None),
        };
        *encodings
            .entry(encoding.clone().unwrap_or_else(|| "identity".to_owned()))
            .or_default() += 1;
        let problem = match &result {
            Err(e) => Some(client.clean(&e.to_string())),
            Ok(r) if r.status != 200 => Some(format!("answered {}", outcome(&result))),
            Ok(r) if !type_matches(&asset.url, r.header("content-type").unwrap_or_default()) => {
                let ct = r.header("content-type").unwrap_or("no Content-Type");
                Some(if media_type(r) == "text/html" {
                    format!(
                        "answered 200 with {ct} instead of {}: the file is missing and the server fell back to the index page",
                        expected_type(&asset.url)
                    )
                } else {
                    format!(
                        "answered 200 with {ct}, expected {}",
                        expected_type(&asset.url)
                    )
                })
            }
            Ok(_) => None,
        };
        if let Some(p) = &problem {
            broken.push(asset.url.clone());
            findings.push(Finding::new(
                Severity::Error,
                format!("{} {} ({}): {p}", asset.kind, asset.url, client.clean(&url)),
            ));
        }
        assets.push(AssetEvidence {
            url: client.clean(&url),
            referenced_as: asset.url.clone(),
            kind: asset.kind,
            line: asset.line,
            status,
            content_type,
            content_encoding: encoding,
            bytes: size,
            ms,
            ok: problem.is_none(),
        });
    }
    if refs.len() > MAX_ASSETS {
        findings.push(Finding::new(
            Severity::Info,
            format!(
                "the index references {} assets; the first {MAX_ASSETS} were checked",
                refs.len()
            ),
        ));
    }

    // SPA fallback: a client-side route must come back as the index — when the app routes on
    // the client, or its nginx configuration says it falls back. A page without either (a
    // server-rendered site, a one-page app such as a socket.io chat) answers 404 for a path it
    // does not define, and is right to.
    let configured_route = client.ctx.project.config.integration.spa_fallback.clone();
    let router = client_router(
        &client.ctx.project,
        targets.frontend_dir.as_deref().unwrap_or("."),
    )
    .or_else(|| {
        nginx
            .iter()
            .flatten()
            .flat_map(|s| s.index_fallbacks.iter())
            .next()
            .map(|(file, line)| format!("{file}:{line} falls back to the index"))
    });
    let route = configured_route
        .clone()
        .unwrap_or_else(|| DEFAULT_SPA_ROUTE.to_owned());
    let spa_url = frontend.at(&route);
    let probe_spa = configured_route.is_some() || router.is_some();
    let spa = if probe_spa {
        Some(
            client
                .send(&client.request("GET", &spa_url).max_body(4 * 1024 * 1024))
                .await,
        )
    } else {
        None
    };
    let spa_ok = matches!(&spa, Some(Ok(r)) if r.status == 200 && media_type(r) == "text/html");
    if let Some(spa) = spa.as_ref().filter(|_| !spa_ok) {
        // Without configuration the router says it is an SPA, but not which paths it routes:
        // say so, and only block when the route was configured.
        let severity = if configured_route.is_some() {
            Severity::Error
        } else {
            Severity::Warning
        };
        findings.push(
            Finding::new(
                severity,
                format!(
                    "client-side route GET {} answered {}, not the index (200 text/html): deep links and reloads of SPA routes will fail{}",
                    client.clean(&spa_url),
                    client.clean(&outcome(spa)),
                    router
                        .as_deref()
                        .filter(|_| configured_route.is_none())
                        .map(|r| format!(" (it is an SPA: {r})"))
                        .unwrap_or_default()
                ),
            )
            .suggest("nginx: try_files $uri $uri/ /index.html;"),
        );
    }
    let compressed = encodings
        .iter()
        .filter(|(e, _)| e.as_str() != "identity")
        .map(|(_, n)| n)
        .sum::<u32>();
    if compressed == 0 && !assets.is_empty() {
        findings.push(
            Finding::new(
                Severity::Info,
                format!(
                    "no asset was compressed for Accept-Encoding: {ACCEPT_ENCODING}: scripts and stylesheets travel uncompressed"
                ),
            )
            .suggest("nginx: gzip on; gzip_types text/css application/javascript text/javascript;"),
        );
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let checked = assets.len();
    let (status, message) = if errors > 0 {
        let what = if broken.is_empty() {
            findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            format!(
                "{} of {checked} asset(s) referenced by {} are broken: {}",
                broken.len(),
                client.clean(&index_url),
                broken.join(", ")
            )
        };
        (Status::Failed, what)
    } else if warnings > 0 {
        (
            Status::Warning,
            format!(
                "index and {checked} asset(s) served correctly, but: {}",
                findings
                    .iter()
                    .filter(|f| f.severity == Severity::Warning)
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    } else {
        (
            Status::Passed,
            format!(
                "{} is 200 text/html and its {checked} asset(s) are 200 with matching types ({compressed} compressed){}",
                client.clean(&index_url),
                if probe_spa {
                    format!("; route {route} returns the index")
                } else {
                    String::new()
                }
            ),
        )
    };
    CheckResult::new(ID, status, message)
        .with_findings(findings)
        .with_evidence(&StaticAssetsEvidence {
            index: IndexEvidence {
                url: client.clean(&index_url),
                status: Some(index.status),
                content_type: index.header("content-type").map(str::to_owned),
                content_encoding: index_encoding,
                ms: Some(round(index.timings.total_ms)),
            },
            assets: Some(assets),
            compression: Some(encodings),
            other_origin_assets: Some(external),
            spa_fallback: Some(match &spa {
                Some(spa) => SpaFallback::Probed {
                    url: client.clean(&spa_url),
                    status: spa.as_ref().ok().map(|r| r.status),
                    content_type: spa
                        .as_ref()
                        .ok()
                        .and_then(|r| r.header("content-type").map(str::to_owned)),
                    returns_index: spa_ok,
                    because: router
                        .as_deref()
                        .filter(|_| configured_route.is_none())
                        .unwrap_or("devops-agent.toml [integration] spa_fallback")
                        .to_owned(),
                },
                None => SpaFallback::NotAnSpa {
                    skipped: format!(
                        "no client-side router among the frontend's dependencies ({}, …), no nginx fallback to the index and no [integration] spa_fallback: not an SPA, so a path it does not define may answer 404",
                        CLIENT_ROUTERS[..3].join(", ")
                    ),
                },
            }),
            target: TargetEvidence::default(),
        })
}

/// What `integration.static_assets` measured. When the index is not 200 text/html, only
/// `index.url` is known and the rest is null.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct StaticAssetsEvidence {
    /// The served index page.
    pub(crate) index: IndexEvidence,
    /// Each asset the index references on its own origin, as served (at most 200).
    pub(crate) assets: Option<Vec<AssetEvidence>>,
    /// How many assets came with each `Content-Encoding` (`identity` for none).
    pub(crate) compression: Option<BTreeMap<String, u32>>,
    /// Assets the index loads from another origin (not requested here; see `integration.cdn`).
    pub(crate) other_origin_assets: Option<Vec<String>>,
    /// Whether an unknown client-side route is answered with the index.
    pub(crate) spa_fallback: Option<SpaFallback>,
    /// Set by the gate.
    #[serde(flatten)]
    pub(crate) target: TargetEvidence,
}

/// The index page's answer.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct IndexEvidence {
    /// The URL requested.
    pub(crate) url: String,
    /// Its HTTP status.
    pub(crate) status: Option<u16>,
    pub(crate) content_type: Option<String>,
    pub(crate) content_encoding: Option<String>,
    /// Time to the whole answer, ms.
    pub(crate) ms: Option<f64>,
}

/// One asset the index references, as served. Null fields: the request failed.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct AssetEvidence {
    /// The URL requested.
    pub(crate) url: String,
    /// The URL as written in the page.
    pub(crate) referenced_as: String,
    /// `script`, `stylesheet`, `icon`, `modulepreload`, `preload`, `image`.
    pub(crate) kind: &'static str,
    /// Line of the tag in the page.
    pub(crate) line: u64,
    pub(crate) status: Option<u16>,
    pub(crate) content_type: Option<String>,
    pub(crate) content_encoding: Option<String>,
    /// Body size as received (compressed when encoded), bytes.
    pub(crate) bytes: Option<usize>,
    /// Time to the whole answer, ms.
    pub(crate) ms: Option<f64>,
    /// 200 with a Content-Type matching the file.
    pub(crate) ok: bool,
}

/// The SPA fallback probe: a client-side route the app does not serve as a file.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(deny_unknown_fields)]
pub(crate) enum SpaFallback {
    /// The route was requested.
    Probed {
        url: String,
        status: Option<u16>,
        content_type: Option<String>,
        /// 200 text/html: the server answers unknown routes with the index.
        returns_index: bool,
        /// Why the app is taken for an SPA (its router dependency, or the configuration).
        because: String,
    },
    /// Not an SPA: why the route was not requested.
    NotAnSpa { skipped: String },
}

/// Client-side routers: an app that uses one serves every route from its index, so its server
/// must answer unknown paths with the index.
const CLIENT_ROUTERS: &[&str] = &[
    "react-router-dom",
    "vue-router",
    "@angular/router",
    "react-router",
    "@tanstack/react-router",
    "@tanstack/vue-router",
    "@tanstack/solid-router",
    "@solidjs/router",
    "@reach/router",
    "wouter",
    "preact-router",
    "preact-iso",
    "svelte-spa-router",
    "svelte-routing",
    "@vaadin/router",
    "navigo",
];

/// The client-side router among the dependencies of the package.json in `dir`, said as
/// `vue-router in web/package.json`.
fn client_router(project: &crate::project::Project, dir: &str) -> Option<String> {
    let path = project.root.join(dir).join("package.json");
    let pkg = crate::project::package_json_read(&project.root, &path).ok()?;
    CLIENT_ROUTERS
        .iter()
        .find(|r| pkg.dependencies.contains(**r))
        .map(|r| format!("{r} in {}", project.relative(&path)))
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The bytes are not valid in the encoding the response named (the decoder's words).
    #[error(transparent)]
    Corrupt(std::io::Error),
    /// A Content-Encoding this tool does not decode.
    #[error("unknown content-encoding {0:?}")]
    Unknown(String),
}

/// The body with its Content-Encoding undone (gzip, deflate, br; identity passes through).
pub(crate) fn decode(body: &[u8], encoding: Option<&str>) -> Result<Vec<u8>, DecodeError> {
    use std::io::Read as _;
    let limit = u64::try_from(crate::probe::http::DEFAULT_MAX_BODY).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "identity") => return Ok(body.to_vec()),
        Some("gzip" | "x-gzip") => flate2::read::GzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(DecodeError::Corrupt)?,
        Some("deflate") => flate2::read::ZlibDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(DecodeError::Corrupt)?,
        Some("br") => brotli::Decompressor::new(body, 4096)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(DecodeError::Corrupt)?,
        Some(other) => return Err(DecodeError::Unknown(other.to_owned())),
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_bodies_are_decoded() {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"<html></html>").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decode(&gz, Some("gzip")).unwrap(), b"<html></html>");
        assert!(decode(b"not gzip", Some("gzip")).is_err());
        assert_eq!(decode(b"x", None).unwrap(), b"x");
        assert!(matches!(
            decode(b"x", Some("zstd")),
            Err(DecodeError::Unknown(e)) if e == "zstd"
        ));
    }

    #[test]
    fn assets_resolve_against_the_frontend() {
        let e = Endpoint::parse("f", "http://127.0.0.1:8080").unwrap();
        assert_eq!(
            resolve(&e, "/a.js").as_deref(),
            Some("http://127.0.0.1:8080/a.js")
        );
        assert_eq!(
            resolve(&e, "./a.js").as_deref(),
            Some("http://127.0.0.1:8080/a.js")
        );
        assert_eq!(resolve(&e, "https://cdn.test/a.js"), None);
        assert_eq!(resolve(&e, "//cdn.test/a.js"), None);
    }
}
