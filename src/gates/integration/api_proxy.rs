//! `integration.api_proxy`: statically, every nginx `proxy_pass` (directly or through an
//! `upstream`) targets a port a real service listens on (compose service names map to their
//! container ports); at run time, a request through the proxy prefix on the frontend's origin
//! reaches the backend and answers like a direct request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use super::client::{Client, exchange, media_type, outcome};
use super::frontend_backend::proxied_health;
use super::gate::TargetEvidence;
use super::nginx::{self, Location, NginxError, Summary, host_port, proxy_target};
use super::targets::{Targets, Unavailable, same_host};
use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::project::Project;

const ID: CheckId = CheckId::IntegrationApiProxy;

/// The nginx configuration files of the project: `[integration] nginx`, else `nginx.conf`
/// at the root, `nginx/*.conf`, or `nginx.conf` one directory down.
pub(crate) fn nginx_files(project: &Project) -> Vec<PathBuf> {
    if let Some(path) = &project.config.integration.nginx {
        return vec![project.root.join(path)];
    }
    let root = &project.root;
    if root.join("nginx.conf").is_file() {
        return vec![root.join("nginx.conf")];
    }
    let mut found = Vec::new();
    let list = |dir: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    for p in list(&root.join("nginx")) {
        if p.extension().is_some_and(|e| e == "conf") && p.is_file() {
            found.push(p);
        }
    }
    if found.is_empty() {
        for dir in list(root) {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            if dir.is_dir() && !name.starts_with('.') && name != "node_modules" {
                let candidate = dir.join("nginx.conf");
                if candidate.is_file() {
                    found.push(candidate);
                }
            }
        }
    }
    found
}

/// Every nginx configuration, parsed.
pub(crate) fn load_nginx(project: &Project) -> Vec<Result<Summary, NginxError>> {
    nginx_files(project)
        .iter()
        .map(|p| nginx::load(&project.root, p).map(|d| nginx::summarize(&d)))
        .collect()
}

/// Container ports of each compose service (`backend` → 3000).
fn compose_targets(project: &Project) -> BTreeMap<String, Vec<u16>> {
    let mut map: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    let compose_files: Vec<String> = project
        .detected
        .compose
        .iter()
        .map(|p| project.relative(p))
        .collect();
    for decl in &crate::gates::ports::collect(project).ports {
        if !compose_files.contains(&decl.file) {
            continue;
        }
        if let Some(port) = decl
            .target
            .as_deref()
            .and_then(|t| t.trim().parse::<u16>().ok())
        {
            map.entry(decl.service.clone()).or_default().push(port);
        }
    }
    map
}

/// What a proxy target is checked against.
struct Known<'a> {
    compose: BTreeMap<String, Vec<u16>>,
    targets: Option<&'a Targets>,
}

impl Known<'_> {
    /// `Ok(description)` when `host:port` is a real service, `Err(expected)` with what it should
    /// be, `None` when nothing known says.
    fn judge(&self, host: &str, port: u16) -> Option<Result<String, (String, Option<u16>)>> {
        if let Some(ports) = self.compose.get(host) {
            return Some(if ports.contains(&port) {
                Ok(format!("compose service {host} listens on {port}"))
            } else {
                Err((
                    format!("compose service {host} listens on {}", join(ports)),
                    ports.first().copied(),
                ))
            });
        }
        let targets = self.targets?;
        // Remote ports are the public ones, not what a service name means inside a network.
        if let Some((name, p)) = targets
            .ports
            .iter()
            .filter(|_| !targets.remote)
            .find(|(n, _)| n == host)
        {
            return Some(if *p == port {
                Ok(format!("service {name} listens on {p}"))
            } else {
                Err((format!("service {name} listens on {p}"), Some(*p)))
            });
        }
        let loopback = same_host(host, "127.0.0.1");
        if loopback {
            let local: Vec<(String, u16)> = if targets.remote {
                targets
                    .backend
                    .iter()
                    .filter(|b| same_host(&b.host, "127.0.0.1"))
                    .map(|b| ("the backend".to_owned(), b.port))
                    .collect()
            } else {
                targets.ports.clone()
            };
            if local.is_empty() {
                return None;
            }
            return Some(match local.iter().find(|(_, p)| *p == port) {
                Some((name, p)) => Ok(format!("{name} listens on {p}")),
                None => Err((
                    local
                        .iter()
                        .map(|(n, p)| format!("{n} listens on {p}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    // With several services the backend is the likely target.
                    targets
                        .backend
                        .as_ref()
                        .filter(|b| local.iter().any(|(_, p)| *p == b.port))
                        .map(|b| b.port)
                        .or_else(|| local.first().map(|(_, p)| *p)),
                )),
            });
        }
        None
    }
}

fn join(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Static findings for one parsed configuration.
fn static_findings(summary: &Summary, known: &Known<'_>, out: &mut Vec<Finding>) -> Vec<Value> {
    let mut evidence = Vec::new();
    for location in &summary.locations {
        let Some((written, line)) = &location.proxy_pass else {
            continue;
        };
        let Some(target) = proxy_target(written) else {
            continue;
        };
        let url = &crate::redact::mask_url_passwords(written);
        let mut addresses: Vec<(String, Option<u16>, String, u64)> = Vec::new();
        if let Some(servers) = summary.upstreams.get(&target.host) {
            for s in servers {
                let (h, p) = host_port(&s.address);
                addresses.push((h, p.or(Some(80)), s.file.clone(), s.line));
            }
        } else if !target.dynamic {
            let default = if target.scheme == "https" { 443 } else { 80 };
            addresses.push((
                target.host.clone(),
                target.port.or(Some(default)),
                location.file.clone(),
                *line,
            ));
        }
        for (host, port, file, line) in addresses {
            let Some(port) = port else { continue };
            let verdict = known.judge(&host, port);
            let state = match &verdict {
                Some(Ok(_)) => "matches",
                Some(Err(_)) => "mismatch",
                None => "unknown",
            };
            evidence.push(json!({
                "location": location.path,
                "proxy_pass": url,
                "target": format!("{host}:{port}"),
                "file": file,
                "line": line,
                "state": state,
                "why": match &verdict { Some(Ok(w) | Err((w, _))) => Some(w.clone()), None => None },
            }));
            if let Some(Err((expected, right))) = verdict {
                let mut finding = Finding::new(
                    Severity::Error,
                    format!(
                        "location {} proxies to {host}:{port} (proxy_pass {url}), but {expected}",
                        location.path
                    ),
                )
                .at(file, Some(line), None);
                if let Some(right) = right {
                    finding = finding.suggest(format!("{host}:{right}"));
                }
                out.push(finding);
            }
        }
    }
    evidence
}

/// The locations that look like the API prefix (for messages).
fn api_location<'a>(summary: &'a [Summary], prefix: &str) -> Option<&'a Location> {
    summary.iter().flat_map(|s| s.locations.iter()).find(|l| {
        l.proxy_pass.is_some()
            && l.path
                .rsplit(' ')
                .next()
                .is_some_and(|p| p.trim_end_matches('/') == prefix.trim_end_matches('/'))
    })
}

pub(crate) async fn check(
    client: &Client<'_>,
    targets: Result<&Targets, &Unavailable>,
    nginx: &[Result<Summary, NginxError>],
) -> CheckResult {
    let project = &client.ctx.project;
    let prefix = project
        .config
        .integration
        .proxy_prefix
        .clone()
        .unwrap_or_else(|| "/api".to_owned());
    let known = Known {
        compose: compose_targets(project),
        targets: targets.ok(),
    };
    let mut findings = Vec::new();
    let mut static_evidence = Vec::new();
    let mut parsed = Vec::new();
    for config in nginx {
        match config {
            Ok(summary) => {
                static_evidence.extend(static_findings(summary, &known, &mut findings));
                parsed.push(summary.clone());
            }
            Err(e) => findings.push(
                Finding::new(
                    Severity::Error,
                    format!("cannot parse nginx configuration: {}", e.message),
                )
                .at(e.file.clone(), (e.line > 0).then_some(e.line), None),
            ),
        }
    }
    let static_errors = findings.len();

    // No proxy configured and an absolute API base: the browser calls the API directly. When
    // the frontend's origin does not forward the prefix either, there is no proxy to judge
    // (integration.frontend_backend and integration.cors judge the direct call).
    let direct_api = match targets {
        Ok(t)
            if nginx.is_empty()
                && t.frontend_dir
                    .as_deref()
                    .is_none_or(|d| super::targets::dev_proxy(project, d).is_none()) =>
        {
            super::targets::api_base(project, t)
                .filter(|b| b.value.contains("://"))
                .map(|base| {
                    format!(
                        "the frontend calls the API directly ({} = {} in {}): no proxy is in use (no nginx proxy_pass, no dev-server proxy, and {prefix} on the frontend's origin does not reach the backend)",
                        base.variable,
                        client.clean(&base.value),
                        base.source
                    )
                })
        }
        _ => None,
    };

    // Run time: through the frontend's origin, and directly.
    let mut runtime: Option<ProxyRuntime> = None;
    let mut runtime_problem: Option<String> = None;
    let mut runtime_ok: Option<String> = None;
    if let Ok(t) = targets
        && let (Some(front), Some(back)) = (&t.frontend, &t.backend)
        // Locally, one service as both ends has no proxy in front of it to probe.
        && (front.url != back.url || t.remote)
    {
        let path = proxied_health(&prefix, &t.backend_health);
        let via = front.at(&path);
        let request = client
            .request("GET", &via)
            .max_body(super::client::SMALL_BODY);
        let proxied = client.send(&request).await;
        let distinct = front.url != back.url;
        let mut direct = None;
        if distinct {
            let mut url = back.at(&path);
            let mut result = client
                .send(
                    &client
                        .request("GET", &url)
                        .max_body(super::client::SMALL_BODY),
                )
                .await;
            // A proxy that strips the prefix (`proxy_pass http://backend/;`) means the backend
            // serves the health path without it.
            if matches!(&result, Ok(r) if r.status == 404) && path != t.backend_health {
                url = back.at(&t.backend_health);
                result = client
                    .send(
                        &client
                            .request("GET", &url)
                            .max_body(super::client::SMALL_BODY),
                    )
                    .await;
            }
            direct = Some((url, result));
        }
        runtime = Some(ProxyRuntime {
            through_proxy: exchange(client, "GET", &via, &proxied, &["content-type", "server"]),
            direct: direct
                .as_ref()
                .map(|(u, r)| exchange(client, "GET", u, r, &["content-type"])),
        });
        let through = client.clean(&via);
        match (&proxied, &direct) {
            (Ok(p), _) if !(200..300).contains(&p.status) => {
                let hint = if (502..=504).contains(&p.status) {
                    ": the proxy could not reach its upstream (wrong host or port in proxy_pass?)"
                } else {
                    ""
                };
                runtime_problem = Some(format!(
                    "GET {through} through the proxy answered {}{hint}",
                    outcome(&proxied)
                ));
            }
            (Ok(p), Some((_, Ok(d))))
                if media_type(p) == "text/html" && media_type(d) != "text/html" =>
            {
                runtime_problem = Some(format!(
                    "GET {through} answered {} with the frontend's HTML page instead of the backend's {}: {prefix} is not proxied",
                    outcome(&proxied),
                    media_type(d)
                ));
            }
            (Ok(p), Some((direct_url, Ok(d)))) => {
                if p.status != d.status {
                    runtime_problem = Some(format!(
                        "GET {through} answered {} but the backend directly ({}) answered {}",
                        outcome(&proxied),
                        client.clean(direct_url),
                        d.status
                    ));
                } else if p.body.len() <= 4096 && d.body.len() <= 4096 && p.body != d.body {
                    runtime_problem = Some(format!(
                        "GET {through} answered {} but with a different body than the backend directly ({}): {:?} vs {:?}",
                        p.status,
                        client.clean(direct_url),
                        client.clean(&crate::probe::http::clip(&p.text())),
                        client.clean(&crate::probe::http::clip(&d.text()))
                    ));
                } else {
                    runtime_ok = Some(format!(
                        "GET {through} reached the backend ({} like {})",
                        p.status,
                        client.clean(direct_url)
                    ));
                }
            }
            (Ok(p), Some((direct_url, Err(e)))) => {
                runtime_problem = Some(format!(
                    "GET {through} answered {} but the backend is not reachable directly at {}: {}",
                    p.status,
                    client.clean(direct_url),
                    client.clean(&e.to_string())
                ));
            }
            (Ok(p), None) if media_type(p) == "text/html" => {
                runtime_problem = Some(format!(
                    "GET {through} answered {} with an HTML page, not the backend's health",
                    p.status
                ));
            }
            (Ok(p), None) => {
                runtime_ok = Some(format!("GET {through} answered {}", p.status));
            }
            (Err(e), _) => {
                runtime_problem = Some(format!(
                    "GET {through} through the proxy failed: {}",
                    client.clean(&e.to_string())
                ));
            }
        }
        if runtime_problem.is_some()
            && let Some(reason) = super::targets::moved_proxy_target(project, t, &prefix)
        {
            return skipped_with_runtime(reason, prefix, runtime);
        }
        if let Some(problem) = &runtime_problem {
            let mut finding = Finding::new(Severity::Error, problem.clone());
            if let Some(loc) = api_location(&parsed, &prefix) {
                finding = finding.at(loc.file.clone(), Some(loc.line), None);
            }
            findings.push(finding);
        }
    }

    if let Some(reason) = direct_api
        && runtime_ok.is_none()
    {
        return skipped_with_runtime(reason, prefix, runtime);
    }
    let checked_static = !static_evidence.is_empty() || static_errors > 0;
    let unavailable = targets.err();
    let (status, message) = if !findings.is_empty() {
        let mut parts: Vec<String> = findings
            .iter()
            .map(|f| match (&f.file, f.line) {
                (Some(file), Some(line)) => format!("{}:{line}: {}", file.display(), f.message),
                _ => f.message.clone(),
            })
            .collect();
        parts.truncate(3);
        (Status::Failed, parts.join("; "))
    } else if let Some(ok) = runtime_ok {
        let statics = if checked_static {
            format!(
                "; {} nginx proxy target(s) checked against the real ports",
                static_evidence.len()
            )
        } else {
            String::new()
        };
        (Status::Passed, format!("{ok}{statics}"))
    } else if checked_static {
        match unavailable {
            Some(u) if !u.skip => (
                Status::Error,
                format!(
                    "nginx proxy targets match the known ports, but the proxy could not be probed: {}",
                    u.reason
                ),
            ),
            _ => (
                Status::Passed,
                format!(
                    "{} nginx proxy target(s) match the real service ports (no running proxy to probe)",
                    static_evidence.len()
                ),
            ),
        }
    } else {
        let reason = match unavailable {
            Some(u) => u.reason.clone(),
            None => "no proxy to check: no nginx configuration with proxy_pass and no separate frontend origin".to_owned(),
        };
        return match unavailable {
            Some(u) if !u.skip => CheckResult::new(ID, Status::Error, reason),
            _ => CheckResult::new(
                ID,
                Status::Skipped {
                    reason: reason.clone(),
                },
                reason,
            ),
        };
    };
    let configs: Vec<String> = nginx_files(project)
        .iter()
        .map(|p| project.relative(p))
        .collect();
    let listens: Vec<String> = parsed.iter().flat_map(|s| s.listens.clone()).collect();
    CheckResult::new(ID, status, message)
        .with_findings(findings)
        .with_evidence(&ApiProxyEvidence {
            nginx_configs: Some(configs),
            nginx_listens: Some(listens),
            proxy_prefix: prefix,
            nginx_targets: Some(static_evidence),
            runtime,
            target: TargetEvidence::default(),
        })
}

/// What `integration.api_proxy` measured. When no proxy is in use (the frontend calls the API
/// directly), the nginx fields are null.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ApiProxyEvidence {
    /// The nginx configuration files read, relative to the project.
    pub(crate) nginx_configs: Option<Vec<String>>,
    /// Their `listen` directives.
    pub(crate) nginx_listens: Option<Vec<String>>,
    /// The path prefix that must reach the backend (`[integration] proxy_prefix`, default
    /// `/api`).
    pub(crate) proxy_prefix: String,
    /// Each nginx `proxy_pass` / `upstream` target compared with the real service ports.
    pub(crate) nginx_targets: Option<Vec<Value>>,
    /// The request through the frontend's origin and the same request to the backend
    /// directly; null when nothing runs to probe.
    pub(crate) runtime: Option<ProxyRuntime>,
    /// Set by the gate.
    #[serde(flatten)]
    pub(crate) target: TargetEvidence,
}

/// Skipped for `reason`, with what the run's requests through the proxy saw as evidence.
fn skipped_with_runtime(
    reason: String,
    proxy_prefix: String,
    runtime: Option<ProxyRuntime>,
) -> CheckResult {
    CheckResult::new(
        ID,
        Status::Skipped {
            reason: reason.clone(),
        },
        reason,
    )
    .with_evidence(&ApiProxyEvidence {
        nginx_configs: None,
        nginx_listens: None,
        proxy_prefix,
        nginx_targets: None,
        runtime,
        target: TargetEvidence::default(),
    })
}

/// The proxied request and the direct one it is compared with.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ProxyRuntime {
    /// `GET` of the backend's health through the proxy: method, URL, status or error,
    /// `content-type` and `server` headers, ms.
    pub(crate) through_proxy: Value,
    /// The same path from the backend directly; null when there was no backend to ask.
    pub(crate) direct: Option<Value>,
}
