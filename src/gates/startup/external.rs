//! `startup.external_services`: every external service the app depends on (`[[external]]` in
//! devops-agent.toml) resolves in DNS, accepts TCP, answers HTTP with the expected status, and
//! for HTTPS presents a certificate that is trusted, names the host and is not about to expire.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::gates::GateCtx;
use crate::probe::http::{self, Request};
use crate::probe::tls::{self, TlsConfig};
use crate::project::ExternalService;

/// Deadline of each step of a service's probe when neither `[[external]] timeout` nor
/// `[integration] request_timeout` is set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Body bytes read from an HTTP answer: the status decides, so a large body (a download, a
/// 16 MiB page) is cut here instead of failing the check.
const BODY_PREFIX: usize = 64 * 1024;
/// Redirects followed before the chain is judged broken (browsers stop at 20, curl at 50; a
/// health or API URL needing more than a handful is misconfigured).
const MAX_REDIRECTS: usize = 10;
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
    let timeout = svc
        .timeout
        .or(ctx.project.config.integration.request_timeout)
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(ctx.timeout);
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
        tokio::time::timeout(timeout, tokio::net::lookup_host((t.host.as_str(), t.port))).await;
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
    match http::tcp_connect(&t.host, t.port, timeout).await {
        Ok((addr, ms)) => {
            evidence["tcp"] = json!({ "address": addr.to_string(), "connect_ms": round(ms) });
        }
        Err(e) => {
            findings.push(fail(format!("TCP connect failed: {e}")));
            return (evidence, findings);
        }
    }

    let tls_config = match &svc.ca_file {
        Some(file) => match crate::fsread::read(&ctx.project.root.join(file), 1024 * 1024)
            .map_err(|e| format!("{file}: {e}"))
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
        match tls::inspect_with(&t.host, t.port, &t.host, timeout, &tls_config).await {
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
            // rustls cannot speak to this server (only CBC or RSA key-exchange suites, or an old
            // protocol version); OpenSSL-based clients may, so the probe cannot tell: a warning
            // naming the cause, never a failure the app would not see.
            Err(e @ http::HttpError::TlsIncompatible { .. }) => {
                findings.push(Finding::new(
                    Severity::Warning,
                    format!(
                        "{} ({shown}): not verified: {e}; clients built on OpenSSL may still connect, and the HTTP status was not checked",
                        svc.name
                    ),
                ));
                evidence["ok"] = json!(null);
                return (evidence, findings);
            }
            Err(e) => findings.push(fail(format!("TLS handshake failed: {e}"))),
        }
    }

    // HTTP status, following redirects as the app's HTTP client (and `curl -L`) would: every
    // hop is recorded, and every `https://` hop must verify, so a redirect to a broken or
    // expired endpoint fails instead of passing on the first answer.
    if matches!(t.scheme.as_deref(), Some("http" | "https")) {
        // A configured 3xx means the redirect itself is what is checked.
        let follow = !svc.expect_status.is_some_and(|s| (300..400).contains(&s));
        let mut current = url.clone();
        let mut hops = Vec::new();
        let mut total_ms = 0.0;
        loop {
            let request = Request::get(&current, timeout)
                .tls(tls_config.clone())
                .body_prefix(BODY_PREFIX);
            let at = if hops.is_empty() {
                String::new()
            } else {
                format!(" at redirect target {}", redactor.redact(&current))
            };
            match http::send(&request).await {
                Ok(response) => {
                    total_ms += response.timings.total_ms;
                    if let Some(info) = response.tls.as_ref().filter(|_| !hops.is_empty())
                        && info.days_left < EXPIRY_WARNING_DAYS
                    {
                        findings.push(Finding::new(
                            Severity::Warning,
                            format!(
                                "{} ({shown}): certificate{at} expires in {} day(s), on {}",
                                svc.name, info.days_left, info.not_after
                            ),
                        ));
                    }
                    let location = response
                        .header("location")
                        .filter(|_| follow && is_redirect(response.status))
                        .and_then(|loc| resolve_location(&current, loc));
                    if let Some(next) = location {
                        hops.push(json!({
                            "url": redactor.redact(&current),
                            "status": response.status,
                            "location": redactor.redact(&next),
                            "version": response.version,
                        }));
                        if hops.len() > MAX_REDIRECTS {
                            findings.push(fail(format!(
                                "more than {MAX_REDIRECTS} redirects; stopped at {}",
                                redactor.redact(&next)
                            )));
                            break;
                        }
                        if current.starts_with("https:") && next.starts_with("http:") {
                            findings.push(Finding::new(
                                Severity::Warning,
                                format!(
                                    "{} ({shown}): redirects from HTTPS to plain HTTP ({})",
                                    svc.name,
                                    redactor.redact(&next)
                                ),
                            ));
                        }
                        current = next;
                        continue;
                    }
                    let ok = match svc.expect_status {
                        Some(want) => response.status == want,
                        None => (200..400).contains(&response.status),
                    };
                    ctx.record(|f| {
                        f.requests += 1;
                        if ok {
                            f.latencies_ms.push(total_ms);
                        } else {
                            f.failed_requests += 1;
                        }
                    });
                    evidence["http"] = json!({
                        "status": response.status,
                        "version": response.version,
                        "proxy": response.proxy,
                        "timings": response.timings,
                        "final_url": redactor.redact(&current),
                        "redirects": hops,
                        "total_ms": round(total_ms),
                    });
                    if !ok {
                        let want = svc
                            .expect_status
                            .map_or_else(|| "2xx or 3xx".to_owned(), |s| s.to_string());
                        findings.push(fail(format!(
                            "HTTP {}{at} (expected {want})",
                            response.status
                        )));
                    }
                }
                // A certificate problem of the first URL was already reported with its details.
                Err(http::HttpError::Tls { .. })
                    if hops.is_empty() && t.scheme.as_deref() == Some("https") => {}
                Err(e @ http::HttpError::TlsIncompatible { .. }) => {
                    evidence["http"] = json!({ "redirects": hops });
                    findings.push(Finding::new(
                        Severity::Warning,
                        format!(
                            "{} ({shown}): not verified{at}: {e}; clients built on OpenSSL may still connect",
                            svc.name
                        ),
                    ));
                }
                Err(e) => {
                    evidence["http"] = json!({ "redirects": hops });
                    findings.push(fail(format!("HTTP request failed{at}: {e}")));
                }
            }
            break;
        }
    }
    evidence["ok"] = json!(!findings.iter().any(|f| f.severity == Severity::Error));
    (evidence, findings)
}

/// Statuses whose `Location` a client follows (304 Not Modified is not a redirect).
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// `Location` resolved against the URL that sent it (RFC 3986 §5.2, the cases servers send:
/// absolute, scheme-relative, absolute path, query-only and relative path). `None` for a
/// scheme no HTTP client would follow.
fn resolve_location(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if let Some((scheme, _)) = location.split_once("://")
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        let scheme = scheme.to_ascii_lowercase();
        return matches!(scheme.as_str(), "http" | "https").then(|| location.to_owned());
    }
    let (scheme, rest) = base.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path_query) = rest.split_at(authority_end);
    if let Some(net) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{net}"));
    }
    let origin = format!("{scheme}://{authority}");
    if location.starts_with('/') {
        return Some(format!("{origin}{location}"));
    }
    let path = path_query.split(['?', '#']).next().unwrap_or("");
    if location.starts_with('?') {
        return Some(format!(
            "{origin}{}{location}",
            if path.is_empty() { "/" } else { path }
        ));
    }
    let dir = path
        .rfind('/')
        .map_or("/", |i| path.get(..=i).unwrap_or("/"));
    // Remove `.` and `..` segments, as the client does before sending.
    let mut segments: Vec<&str> = Vec::new();
    let joined = format!("{dir}{location}");
    let (joined_path, query) = match joined.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (joined.clone(), None),
    };
    for seg in joined_path.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("{origin}/{}", segments.join("/"));
    if let Some(q) = query {
        out.push('?');
        out.push_str(&q);
    }
    Some(out)
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// What `startup.external_services` measured.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ExternalEvidence {
    /// One entry per `[[external]]` service, in config order: its name and URL (credentials
    /// removed), then each step reached — `dns_ms` and `addresses`, `tcp` (`address`,
    /// `connect_ms`), `tls` (certificate validity and days to expiry), `http` (status, latency
    /// in ms, redirects) — and `ok`.
    pub(crate) services: Vec<serde_json::Value>,
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
        .with_evidence(&ExternalEvidence { services: evidence });
    result.duration = started.elapsed();
    result.started = Some(started);
    result
}

#[cfg(test)]
mod tests {
    use super::{resolve_location, target};

    #[test]
    fn locations_resolve_against_the_url_that_sent_them() {
        let base = "https://api.example/v1/users/list?x=1";
        let r = |loc: &str| resolve_location(base, loc);
        assert_eq!(
            r("https://other.example/a").as_deref(),
            Some("https://other.example/a")
        );
        assert_eq!(
            r("//cdn.example/b").as_deref(),
            Some("https://cdn.example/b")
        );
        assert_eq!(r("/login").as_deref(), Some("https://api.example/login"));
        assert_eq!(
            r("detail?id=2").as_deref(),
            Some("https://api.example/v1/users/detail?id=2")
        );
        assert_eq!(
            r("../groups").as_deref(),
            Some("https://api.example/v1/groups")
        );
        assert_eq!(
            r("?page=2").as_deref(),
            Some("https://api.example/v1/users/list?page=2")
        );
        assert_eq!(r("ftp://files.example/x"), None);
        assert_eq!(
            resolve_location("http://h:8080", "next").as_deref(),
            Some("http://h:8080/next")
        );
    }

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
