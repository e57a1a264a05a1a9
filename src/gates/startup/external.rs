//! `startup.external_services`: every external service the app depends on (`[[external]]` in
//! devops-agent.toml) resolves in DNS, accepts TCP, answers HTTP with the expected status, and
//! for HTTPS presents a certificate that is trusted, names the host and is not about to expire.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::gates::GateCtx;
use crate::probe::http::{self, Request};
use crate::probe::tls::{self, TlsConfig};
use crate::project::ExternalService;

/// Per-service deadline.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A certificate expiring sooner than this is a warning.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// The pieces of a `[[external]]` URL.
struct Target {
    scheme: Option<String>,
    host: String,
    port: u16,
}

fn target(url: &str) -> Result<Target, String> {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, url),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed `[` in the host")?;
        (h.to_owned(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    let port = match (port, scheme.as_deref()) {
        (Some(p), _) => p.parse().map_err(|_| format!("invalid port `{p}`"))?,
        (None, Some("https")) => 443,
        (None, Some("http")) => 80,
        (None, _) => return Err("a `host:port` or an http(s) URL is needed".to_owned()),
    };
    Ok(Target { scheme, host, port })
}

/// Probe one service; returns its evidence and its findings.
async fn probe(ctx: &GateCtx, svc: &ExternalService) -> (Value, Vec<Finding>) {
    let redactor = ctx.project.env.redactor();
    let lookup = |name: &str| ctx.project.env.get(name);
    let url = match crate::interp::interpolate(&svc.url, &lookup) {
        Ok(u) => u,
        Err(e) => {
            let f = Finding::new(Severity::Error, format!("{}: {e}", svc.name));
            return (json!({ "name": svc.name, "ok": false }), vec![f]);
        }
    };
    let shown = redactor.redact(&url);
    let mut findings = Vec::new();
    let fail =
        |msg: String| Finding::new(Severity::Error, format!("{} ({shown}): {msg}", svc.name));
    let t = match target(&url) {
        Ok(t) => t,
        Err(e) => {
            return (
                json!({ "name": svc.name, "url": shown, "ok": false }),
                vec![fail(e)],
            );
        }
    };
    let mut evidence = json!({ "name": svc.name, "url": shown, "host": t.host, "port": t.port });

    // DNS.
    let started = Instant::now();
    let resolved =
        tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((t.host.as_str(), t.port))).await;
    let addrs: Vec<String> = match resolved {
        Ok(Ok(addrs)) => addrs.map(|a| a.ip().to_string()).collect(),
        Ok(Err(e)) => {
            findings.push(fail(format!("DNS lookup failed: {e}")));
            return (evidence, findings);
        }
        Err(_) => {
            findings.push(fail("DNS lookup timed out".to_owned()));
            return (evidence, findings);
        }
    };
    evidence["dns_ms"] = json!(round(started.elapsed().as_secs_f64() * 1000.0));
    evidence["addresses"] = json!(addrs);

    // TCP.
    match http::tcp_connect(&t.host, t.port, TIMEOUT).await {
        Ok((addr, ms)) => {
            evidence["tcp"] = json!({ "address": addr.to_string(), "connect_ms": round(ms) });
        }
        Err(e) => {
            findings.push(fail(format!("TCP connect failed: {e}")));
            return (evidence, findings);
        }
    }

    let tls_config = match &svc.ca_file {
        Some(file) => match std::fs::read(ctx.project.root.join(file))
            .map_err(|e| e.to_string())
            .and_then(|pem| {
                TlsConfig::default()
                    .with_extra_roots_pem(&pem)
                    .map_err(|e| e.to_string())
            }) {
            Ok(c) => c,
            Err(e) => {
                findings.push(fail(format!("cannot use ca_file {file}: {e}")));
                return (evidence, findings);
            }
        },
        None => TlsConfig::default(),
    };

    // TLS certificate, described even when invalid.
    if t.scheme.as_deref() == Some("https") {
        match tls::inspect_with(&t.host, t.port, &t.host, TIMEOUT, &tls_config).await {
            Ok(info) => {
                if !info.verified {
                    findings.push(fail(format!(
                        "certificate not valid: {}",
                        info.problems.join("; ")
                    )));
                } else if info.days_left < EXPIRY_WARNING_DAYS {
                    findings.push(Finding::new(
                        Severity::Warning,
                        format!(
                            "{} ({shown}): certificate expires in {} day(s), on {}",
                            svc.name, info.days_left, info.not_after
                        ),
                    ));
                }
                evidence["tls"] = serde_json::to_value(&info).unwrap_or_default();
            }
            Err(e) => findings.push(fail(format!("TLS handshake failed: {e}"))),
        }
    }

    // HTTP status.
    if matches!(t.scheme.as_deref(), Some("http" | "https")) {
        let request = Request::get(&url, TIMEOUT).tls(tls_config);
        match http::send(&request).await {
            Ok(response) => {
                let ok = match svc.expect_status {
                    Some(want) => response.status == want,
                    None => (200..400).contains(&response.status),
                };
                ctx.record(|f| {
                    f.requests += 1;
                    if ok {
                        f.latencies_ms.push(response.timings.total_ms);
                    } else {
                        f.failed_requests += 1;
                    }
                });
                evidence["http"] = json!({
                    "status": response.status,
                    "timings": response.timings,
                });
                if !ok {
                    let want = svc
                        .expect_status
                        .map_or_else(|| "2xx or 3xx".to_owned(), |s| s.to_string());
                    findings.push(fail(format!("HTTP {} (expected {want})", response.status)));
                }
            }
            // A certificate problem was already reported with its details.
            Err(http::HttpError::Tls { .. }) if t.scheme.as_deref() == Some("https") => {}
            Err(e) => findings.push(fail(format!("HTTP request failed: {e}"))),
        }
    }
    evidence["ok"] = json!(!findings.iter().any(|f| f.severity == Severity::Error));
    (evidence, findings)
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub(crate) async fn check(ctx: &GateCtx) -> CheckResult {
    let started = Instant::now();
    let services = &ctx.project.config.external;
    if services.is_empty() {
        let reason =
            "no external service configured ([[external]] in devops-agent.toml)".to_owned();
        return CheckResult::new(
            CheckId::StartupExternalServices,
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        );
    }
    let mut evidence = Vec::new();
    let mut findings = Vec::new();
    for svc in services {
        let (e, f) = probe(ctx, svc).await;
        evidence.push(e);
        findings.extend(f);
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let (status, message) = if errors > 0 {
        (
            Status::Failed,
            format!(
                "{errors} problem(s) with {} external service(s): {}",
                services.len(),
                findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    } else if !findings.is_empty() {
        (
            Status::Warning,
            findings
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )
    } else {
        (
            Status::Passed,
            format!(
                "{} external service(s) resolve, accept, answer and present valid certificates",
                services.len()
            ),
        )
    };
    let mut result = CheckResult::new(CheckId::StartupExternalServices, status, message)
        .with_findings(findings)
        .evidence("services", evidence);
    result.duration = started.elapsed();
    result
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn targets() {
        let t = target("https://api.example.com/health").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("api.example.com", 443));
        let t = target("http://[::1]:8080/x").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        let t = target("redis.internal:6379").unwrap();
        assert_eq!((t.scheme, t.port), (None, 6379));
        assert!(target("no-port-host").is_err());
    }
}
