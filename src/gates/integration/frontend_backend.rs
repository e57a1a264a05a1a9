//! `integration.frontend_backend`: the API base the frontend is configured with resolves to
//! the backend that is actually running, and a request carrying the frontend's `Origin`
//! reaches the backend's health endpoint there.

use schemars::JsonSchema;
use serde::Serialize;

use super::client::{Client, exchange, media_type, outcome};
use super::gate::TargetEvidence;
use super::targets::{ApiBase, Endpoint, Targets, api_base, same_host};
use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::probe::http::parse_target;

const ID: CheckId = CheckId::IntegrationFrontendBackend;

fn skipped(reason: &str) -> CheckResult {
    CheckResult::new(
        ID,
        Status::Skipped {
            reason: reason.to_owned(),
        },
        reason,
    )
}

/// The path under the proxy prefix that reaches the backend's health (`/api` + `/health`),
/// unless the health path already starts with the prefix.
pub(crate) fn proxied_health(prefix: &str, health: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if health.starts_with(&format!("{prefix}/")) || prefix.is_empty() {
        health.to_owned()
    } else {
        format!("{prefix}{health}")
    }
}

pub(crate) async fn check(client: &Client<'_>, targets: &Targets) -> CheckResult {
    let project = &client.ctx.project;
    let Some(backend) = &targets.backend else {
        return skipped("no backend to reach: no running service or --backend-url");
    };
    let Some(frontend) = &targets.frontend else {
        return skipped("no frontend: no running frontend service or --frontend-url/--base-url");
    };
    if let Some(name) = targets.single_service() {
        return skipped(&format!(
            "only one service runs ({name}): there is no frontend-to-backend hop to check (set [integration] frontend and backend when two services play these roles)"
        ));
    }
    let base = api_base(project, targets);
    let prefix = project
        .config
        .integration
        .proxy_prefix
        .clone()
        .unwrap_or_else(|| "/api".to_owned());
    let base_evidence = base.as_ref().map(|b| ApiBaseEvidence {
        variable: b.variable.clone(),
        value: client.clean(&b.value),
        source: b.source.clone(),
        line: b.line,
    });
    let absolute = base
        .as_ref()
        .filter(|b| b.value.contains("://"))
        .map(|b| (b, parse_target(b.value.trim(), "http", "https")));
    match absolute {
        Some((b, Ok(target))) => {
            absolute_base(
                client,
                frontend,
                backend,
                targets,
                b,
                &target,
                base_evidence,
            )
            .await
        }
        Some((b, Err(e))) => {
            let message = format!(
                "{} ({}) is not a usable URL: {}",
                b.variable,
                b.source,
                client.clean(&e.to_string())
            );
            CheckResult::new(ID, Status::Failed, message.clone())
                .with_findings(vec![located(Finding::new(Severity::Error, message), b)])
                .with_evidence(&FrontendBackendEvidence {
                    api_base: base_evidence,
                    ..FrontendBackendEvidence::default()
                })
        }
        None => {
            // A relative base (or none) means the browser calls the frontend's own origin,
            // which must forward to the backend: the same path integration.api_proxy checks.
            let path_prefix = base
                .as_ref()
                .map_or(prefix.as_str(), |b| b.value.trim())
                .trim_end_matches('/')
                .to_owned();
            let path = proxied_health(&path_prefix, &targets.backend_health);
            let url = frontend.at(&path);
            let request = client
                .request("GET", &url)
                .header("Origin", &frontend.origin)
                .max_body(super::client::SMALL_BODY);
            let result = client.send(&request).await;
            let how = match &base {
                Some(b) => format!("{} = {:?} ({}) is relative", b.variable, b.value, b.source),
                None => format!(
                    "no API base is configured ({}, [integration] api_url)",
                    super::targets::API_VARS.join(", ")
                ),
            };
            let reached = matches!(&result, Ok(r) if (200..300).contains(&r.status) && media_type(r) != "text/html");
            let evidence = exchange(client, "GET", &url, &result, &["content-type"]);
            let moved = (!reached)
                .then(|| super::targets::moved_proxy_target(project, targets, &path_prefix))
                .flatten();
            let (status, message, findings) = if let Some(reason) = moved {
                (
                    Status::Skipped {
                        reason: format!(
                            "{how}, so the frontend calls its own origin, and {reason}"
                        ),
                    },
                    format!("{how}, so the frontend calls its own origin, and {reason}"),
                    Vec::new(),
                )
            } else if reached {
                (
                    Status::Passed,
                    format!(
                        "{how}: the frontend calls its own origin, and GET {} answered {} from the backend (the proxy itself is judged by integration.api_proxy)",
                        client.clean(&url),
                        outcome(&result)
                    ),
                    Vec::new(),
                )
            } else {
                let why = match &result {
                    Ok(r) if media_type(r) == "text/html" => format!(
                        "answered {} with HTML: the frontend's server returned its own page instead of forwarding {path_prefix} to the backend",
                        outcome(&result)
                    ),
                    _ => format!("answered {}", client.clean(&outcome(&result))),
                };
                let message = format!(
                    "{how}, so the frontend calls its own origin, but GET {} {why}",
                    client.clean(&url)
                );
                let finding = Finding::new(Severity::Error, message.clone());
                let finding = match &base {
                    Some(b) => located(finding, b),
                    None => finding,
                };
                (
                    Status::Failed,
                    message,
                    vec![finding.suggest(format!(
                        "proxy {path_prefix} to the backend ({}), or set {} to the backend's URL",
                        client.clean(&backend.origin),
                        super::targets::API_VARS[0]
                    ))],
                )
            };
            CheckResult::new(ID, status, message)
                .with_findings(findings)
                .with_evidence(&FrontendBackendEvidence {
                    api_base: base_evidence,
                    mode: Some("same-origin"),
                    frontend_origin: Some(client.clean(&frontend.origin)),
                    backend_url: Some(client.clean(&backend.url)),
                    points_at_backend: None,
                    request: Some(evidence),
                    target: TargetEvidence::default(),
                })
        }
    }
}

fn located(finding: Finding, base: &ApiBase) -> Finding {
    if base.source.contains("environment") || base.source.contains("devops-agent.toml") {
        finding
    } else {
        finding.at(base.source.clone(), base.line, None)
    }
}

async fn absolute_base(
    client: &Client<'_>,
    frontend: &Endpoint,
    backend: &Endpoint,
    targets: &Targets,
    base: &ApiBase,
    target: &crate::probe::http::Target,
    base_evidence: Option<ApiBaseEvidence>,
) -> CheckResult {
    let points_at_backend = target.port == backend.port
        && target.secure == backend.secure
        && same_host(&target.host, &backend.host);
    // The frontend's own request: the API base's origin plus the backend's health path (when
    // the base carries a path such as `/api`, the backend's health lives beside it, not
    // under it, in every stack this tool has met).
    let scheme = if target.secure { "https" } else { "http" };
    let configured_origin = format!("{scheme}://{}", target.authority);
    let url = format!("{configured_origin}{}", targets.backend_health);
    let request = client
        .request("GET", &url)
        .header("Origin", &frontend.origin)
        .max_body(super::client::SMALL_BODY);
    let result = client.send(&request).await;
    let evidence = exchange(
        client,
        "GET",
        &url,
        &result,
        &["content-type", "access-control-allow-origin"],
    );
    let ok = matches!(&result, Ok(r) if (200..300).contains(&r.status));
    let shown = client.clean(&base.value);
    let (status, message, findings) = if !points_at_backend {
        let message = format!(
            "{} = {shown} ({}) points at {}:{}, but the backend ({}) listens on {}; GET {} answered {}",
            base.variable,
            base.source,
            target.host,
            target.port,
            backend.name,
            client.clean(&backend.origin),
            client.clean(&url),
            client.clean(&outcome(&result)),
        );
        (
            Status::Failed,
            message.clone(),
            vec![
                located(Finding::new(Severity::Error, message), base).suggest(format!(
                    "{}={}",
                    base.variable,
                    client.clean(&backend.origin)
                )),
            ],
        )
    } else if ok {
        (
            Status::Passed,
            format!(
                "{} = {shown} ({}) is the running backend; GET {} with Origin {} answered {}",
                base.variable,
                base.source,
                client.clean(&url),
                client.clean(&frontend.origin),
                outcome(&result)
            ),
            Vec::new(),
        )
    } else {
        let message = format!(
            "{} = {shown} ({}) is the backend's address, but GET {} with Origin {} answered {}",
            base.variable,
            base.source,
            client.clean(&url),
            client.clean(&frontend.origin),
            client.clean(&outcome(&result))
        );
        (
            Status::Failed,
            message.clone(),
            vec![Finding::new(Severity::Error, message)],
        )
    };
    CheckResult::new(ID, status, message)
        .with_findings(findings)
        .with_evidence(&FrontendBackendEvidence {
            api_base: base_evidence,
            mode: Some("cross-origin"),
            frontend_origin: Some(client.clean(&frontend.origin)),
            backend_url: Some(client.clean(&backend.url)),
            points_at_backend: Some(points_at_backend),
            request: Some(evidence),
            target: TargetEvidence::default(),
        })
}

/// What `integration.frontend_backend` measured. Fields after `api_base` are null when the API
/// base is not a usable URL (nothing was requested).
#[derive(Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct FrontendBackendEvidence {
    /// The frontend's configured API base; null when none is configured (the frontend then
    /// calls its own origin).
    pub(crate) api_base: Option<ApiBaseEvidence>,
    /// `same-origin` (a relative or no API base: the frontend's server must forward) or
    /// `cross-origin` (an absolute API base).
    pub(crate) mode: Option<&'static str>,
    /// The origin the frontend is served from (sent as `Origin`).
    pub(crate) frontend_origin: Option<String>,
    /// The running backend's URL.
    pub(crate) backend_url: Option<String>,
    /// Whether an absolute API base names the running backend's host and port; null for
    /// `same-origin`.
    pub(crate) points_at_backend: Option<bool>,
    /// The request made from the frontend's origin: method, URL, status or error, selected
    /// headers, latency in ms.
    pub(crate) request: Option<serde_json::Value>,
    /// Set by the gate.
    #[serde(flatten)]
    pub(crate) target: TargetEvidence,
}

/// Where the frontend's API base was found (its value with credentials removed).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ApiBaseEvidence {
    /// `VITE_API_URL`, … or `api_url` for the configuration key.
    pub(crate) variable: String,
    /// The value with `${VAR}` references resolved.
    pub(crate) value: String,
    /// Where it was set: `process environment`, `.env`, `frontend/.env.production`, ….
    pub(crate) source: String,
    /// The line in `source`, where it is a file.
    pub(crate) line: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::proxied_health;

    #[test]
    fn proxied_health_paths() {
        assert_eq!(proxied_health("/api", "/health"), "/api/health");
        assert_eq!(proxied_health("/api/", "/api/health"), "/api/health");
        assert_eq!(proxied_health("", "/health"), "/health");
    }
}
