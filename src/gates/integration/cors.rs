//! `integration.cors`: the backend allows the frontend's cross-origin calls — a preflight
//! `OPTIONS` for every method and header the frontend uses, and the actual request — without
//! opening itself to everyone: `*` with credentials, reflecting an unrelated origin and
//! allowing the `null` origin are flagged.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::client::{Client, exchange, outcome};
use super::gate::TargetEvidence;
use super::targets::{Targets, api_base};
use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::probe::http::{HttpError, Response};

const ID: CheckId = CheckId::IntegrationCors;

/// An origin no application should trust: if it is echoed back, any site can call the API.
const EVIL_ORIGIN: &str = "https://evil.example";

const DEFAULT_METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const DEFAULT_HEADERS: [&str; 2] = ["Content-Type", "Authorization"];

fn skipped(reason: String) -> CheckResult {
    CheckResult::new(
        ID,
        Status::Skipped {
            reason: reason.clone(),
        },
        reason,
    )
}

/// Whether a comma-separated header value lists `token` (case-insensitively).
fn lists(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Why a preflight for `method` with `headers` from `origin` is refused; None when allowed.
pub(crate) fn preflight_refusal(
    resp: &Response,
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<String> {
    if !(200..300).contains(&resp.status) {
        return Some(format!("the preflight answered {}", resp.status));
    }
    let allow_origin = resp.header("access-control-allow-origin");
    let credentials = resp
        .header("access-control-allow-credentials")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    match allow_origin.map(str::trim) {
        None => return Some("no Access-Control-Allow-Origin header".to_owned()),
        Some("*") if credentials => {
            return Some(
                "Access-Control-Allow-Origin is * with credentials, which browsers refuse"
                    .to_owned(),
            );
        }
        Some("*") => {}
        Some(o) if o == origin => {}
        Some(other) => {
            return Some(format!(
                "Access-Control-Allow-Origin is {other:?}, not {origin:?}"
            ));
        }
    }
    let methods = resp.header("access-control-allow-methods");
    // GET, HEAD and POST are CORS-safelisted methods: browsers allow them without listing.
    let safelisted = matches!(method, "GET" | "HEAD" | "POST");
    let wildcard = lists(methods, "*") && !credentials;
    if !safelisted && !wildcard && !lists(methods, method) {
        return Some(format!(
            "{method} is not in Access-Control-Allow-Methods ({})",
            methods.unwrap_or("absent")
        ));
    }
    let allowed_headers = resp.header("access-control-allow-headers");
    for header in headers {
        // `*` covers every header except Authorization, and nothing with credentials.
        let wildcard = lists(allowed_headers, "*")
            && !credentials
            && !header.eq_ignore_ascii_case("authorization");
        if !wildcard && !lists(allowed_headers, header) {
            return Some(format!(
                "{header} is not in Access-Control-Allow-Headers ({})",
                allowed_headers.unwrap_or("absent")
            ));
        }
    }
    None
}

pub(crate) async fn check(client: &Client<'_>, targets: &Targets) -> CheckResult {
    let cfg = &client.ctx.project.config.integration;
    let Some(backend) = &targets.backend else {
        return skipped("no backend to send a preflight to".to_owned());
    };
    let Some(frontend) = &targets.frontend else {
        return skipped("no frontend origin to send a preflight from".to_owned());
    };
    let base = api_base(&client.ctx.project, targets);
    let cross_origin_base = base.as_ref().is_some_and(|b| b.value.contains("://"));
    if let Some(name) = targets.single_service()
        && cross_origin_base
    {
        // An absolute base with one service running: the API it names was not started here
        // (it is not "relative", and the frontend does not call its own origin).
        let base = base.as_ref().map_or_else(String::new, |b| {
            format!(
                " ({} = {:?} names an API this run did not start)",
                b.variable,
                client.clean(&b.value)
            )
        });
        return skipped(format!(
            "only one service runs ({name}): there is no backend on another origin to send a preflight to{base}; set [integration] frontend and backend when two services play these roles"
        ));
    }
    if frontend.origin == backend.origin || !cross_origin_base {
        let why = match &base {
            Some(b) if !b.value.contains("://") => {
                format!("{} = {:?} is relative", b.variable, b.value)
            }
            _ if frontend.origin == backend.origin => {
                "the frontend and the backend share one origin".to_owned()
            }
            _ => "no absolute API base is configured".to_owned(),
        };
        return skipped(format!(
            "{why}: the frontend calls the API on its own origin ({}), so no cross-origin request needs CORS",
            client.clean(&frontend.origin)
        ));
    }
    let methods: Vec<String> = cfg
        .cors_methods
        .clone()
        .unwrap_or_else(|| DEFAULT_METHODS.iter().map(|m| (*m).to_owned()).collect());
    let headers: Vec<String> = cfg
        .cors_headers
        .clone()
        .unwrap_or_else(|| DEFAULT_HEADERS.iter().map(|h| (*h).to_owned()).collect());
    let url = backend.at(&targets.backend_health);
    let request_headers = headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(", ");
    let shown = [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-allow-credentials",
    ];
    let preflight = |origin: &str, method: &str| {
        let mut request = client
            .request("OPTIONS", &url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method)
            .max_body(super::client::SMALL_BODY);
        if !request_headers.is_empty() {
            request = request.header("Access-Control-Request-Headers", &request_headers);
        }
        request
    };

    // The origin the frontend is really used at: the one the project configures, else what
    // the dev server prints (localhost), else the loopback addresses. The first one the
    // backend allows is the one the browser will send.
    let candidates = origins(client, targets, frontend);
    let mut tried = Vec::new();
    let mut chosen: Option<String> = None;
    for (candidate, why) in &candidates {
        let result = client.send(&preflight(candidate, "GET")).await;
        let problem = match &result {
            Ok(resp) => preflight_refusal(resp, candidate, "GET", &headers),
            Err(e) => Some(client.clean(&e.to_string())),
        };
        tried.push(OriginTried {
            origin: candidate.clone(),
            why: why.clone(),
            allowed: problem.is_none(),
            problem: problem.clone(),
        });
        if problem.is_none() {
            chosen = Some(candidate.clone());
            break;
        }
    }
    let all_refused = chosen.is_none();
    let origin_owned = chosen.unwrap_or_else(|| {
        candidates
            .first()
            .map_or_else(|| frontend.origin.clone(), |(o, _)| o.clone())
    });
    let origin = origin_owned.as_str();
    let mut findings = Vec::new();
    let mut evidence = Vec::new();
    let mut refused = Vec::new();
    if all_refused && candidates.len() > 1 {
        findings.push(Finding::new(
            Severity::Error,
            format!(
                "the backend allows none of the origins the frontend is served at: {}",
                tried
                    .iter()
                    .map(|t| format!(
                        "{} ({})",
                        t.origin,
                        t.problem.as_deref().unwrap_or("refused")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    for method in &methods {
        let method = method.to_ascii_uppercase();
        let result = client.send(&preflight(origin, &method)).await;
        let problem = match &result {
            Ok(resp) => preflight_refusal(resp, origin, &method, &headers),
            Err(e) => Some(client.clean(&e.to_string())),
        };
        let mut entry = exchange(client, "OPTIONS", &url, &result, &shown);
        entry["request_method"] = json!(method);
        entry["allowed"] = json!(problem.is_none());
        if let Some(p) = &problem {
            entry["problem"] = json!(p);
            refused.push(method.clone());
            findings.push(Finding::new(
                Severity::Error,
                format!(
                    "preflight OPTIONS {} for {method} with {request_headers} from {origin}: {p}",
                    client.clean(&url)
                ),
            ).suggest(format!(
                "answer OPTIONS with Access-Control-Allow-Origin: {origin}, Access-Control-Allow-Methods: {}, Access-Control-Allow-Headers: {}",
                methods.join(", "),
                headers.join(", ")
            )));
        }
        evidence.push(entry);
    }

    // The actual request needs the header too, or the browser hides the answer.
    let actual = client
        .send(
            &client
                .request("GET", &url)
                .header("Origin", origin)
                .max_body(super::client::SMALL_BODY),
        )
        .await;
    let actual_allowed = matches!(&actual, Ok(r) if r.header("access-control-allow-origin").is_some_and(|o| o.trim() == origin || o.trim() == "*"));
    if !actual_allowed {
        findings.push(Finding::new(
            Severity::Error,
            format!(
                "GET {} with Origin {origin} answered {} without Access-Control-Allow-Origin for that origin: the browser will hide the response",
                client.clean(&url),
                client.clean(&outcome(&actual))
            ),
        ));
    }

    // Too permissive: an unrelated origin reflected, the null origin allowed.
    let evil = client.send(&preflight(EVIL_ORIGIN, "GET")).await;
    let evil_acao = evil
        .as_ref()
        .ok()
        .and_then(|r| r.header("access-control-allow-origin").map(str::to_owned));
    let evil_credentials = credentials(&evil);
    if evil_acao.as_deref().map(str::trim) == Some(EVIL_ORIGIN) {
        findings.push(Finding::new(
            Severity::Error,
            format!(
                "the backend reflects any Origin: a preflight from {EVIL_ORIGIN} was answered Access-Control-Allow-Origin: {EVIL_ORIGIN}{}",
                if evil_credentials { " with credentials, so any site can act as the logged-in user" } else { "" }
            ),
        ).suggest(format!("allow only the frontend's origin ({origin})")));
    }
    let wildcard_credentials = [&actual, &evil].iter().any(|r| {
        matches!(r, Ok(resp) if resp.header("access-control-allow-origin").map(str::trim) == Some("*"))
            && credentials(r)
    });
    if wildcard_credentials {
        findings.push(Finding::new(
            Severity::Error,
            "Access-Control-Allow-Origin: * is sent with Access-Control-Allow-Credentials: true: browsers refuse it, and it signals a policy that means to allow everyone".to_owned(),
        ));
    }
    let null = client.send(&preflight("null", "GET")).await;
    let null_allowed = matches!(&null, Ok(r) if r.header("access-control-allow-origin").map(str::trim) == Some("null"));
    if null_allowed {
        findings.push(Finding::new(
            Severity::Warning,
            "the backend allows the null Origin (sandboxed iframes, file:// pages, redirects): any site can obtain it".to_owned(),
        ));
    }

    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let (status, message) = if errors > 0 {
        let mut what = Vec::new();
        if !refused.is_empty() {
            what.push(format!(
                "preflight from {origin} refused for {}",
                refused.join(", ")
            ));
        }
        what.extend(
            findings
                .iter()
                .filter(|f| f.severity == Severity::Error && !f.message.starts_with("preflight"))
                .map(|f| f.message.clone()),
        );
        (Status::Failed, what.join("; "))
    } else if !findings.is_empty() {
        (
            Status::Warning,
            format!(
                "{} allowed from {origin}, but: {}",
                methods.join(", "),
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
                "preflights for {} with {} from {origin} are allowed at {}; unrelated and null origins are not",
                methods.join(", "),
                headers.join(", "),
                client.clean(&url)
            ),
        )
    };
    CheckResult::new(ID, status, message)
        .with_findings(findings)
        .with_evidence(&CorsEvidence {
            origin: origin.to_owned(),
            origins_tried: tried,
            url: client.clean(&url),
            preflights: evidence,
            actual_request: exchange(client, "GET", &url, &actual, &shown),
            unrelated_origin: UnrelatedOrigin {
                origin: EVIL_ORIGIN,
                reflected: evil_acao.as_deref().map(str::trim) == Some(EVIL_ORIGIN),
                access_control_allow_origin: evil_acao,
            },
            null_origin_allowed: null_allowed,
            target: TargetEvidence::default(),
        })
}

/// What `integration.cors` measured: preflights from the frontend's origin to the backend.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct CorsEvidence {
    /// The frontend origin judged: the first candidate the backend allows, else the first
    /// candidate.
    pub(crate) origin: String,
    /// Each candidate origin preflighted (with `GET`) until one was allowed.
    pub(crate) origins_tried: Vec<OriginTried>,
    /// The backend URL preflighted.
    pub(crate) url: String,
    /// One preflight per method the frontend uses: the exchange (`method`, `url`, `status`,
    /// CORS `headers`, `ms`, or `error`) plus `request_method`, `allowed` and `problem`.
    pub(crate) preflights: Vec<serde_json::Value>,
    /// The actual `GET` with `Origin` (its answer must carry the allow-origin header too).
    pub(crate) actual_request: serde_json::Value,
    /// A preflight from an unrelated origin, which must not be allowed.
    pub(crate) unrelated_origin: UnrelatedOrigin,
    /// Whether the backend allows the `null` origin (sandboxed iframes, `file:` pages).
    pub(crate) null_origin_allowed: bool,
    /// Set by the gate.
    #[serde(flatten)]
    pub(crate) target: TargetEvidence,
}

/// One candidate frontend origin.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct OriginTried {
    pub(crate) origin: String,
    /// Why it is a candidate (configured, printed by the dev server, loopback).
    pub(crate) why: String,
    pub(crate) allowed: bool,
    /// Why it was refused; null when allowed.
    pub(crate) problem: Option<String>,
}

/// The answer to an unrelated origin's preflight.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct UnrelatedOrigin {
    /// The origin sent.
    pub(crate) origin: &'static str,
    /// Whether the backend echoed it back in `Access-Control-Allow-Origin`.
    pub(crate) reflected: bool,
    /// The header as answered; null when absent.
    pub(crate) access_control_allow_origin: Option<String>,
}

/// Variables in which projects write where their frontend is served, or which origins the
/// backend allows (`FastAPI`'s template `BACKEND_CORS_ORIGINS`, Express apps' `CORS_ORIGIN`).
const ORIGIN_VARS: [&str; 11] = [
    "FRONTEND_URL",
    "FRONTEND_HOST",
    "FRONTEND_ORIGIN",
    "CLIENT_URL",
    "CLIENT_ORIGIN",
    "APP_URL",
    "CORS_ORIGIN",
    "CORS_ORIGINS",
    "BACKEND_CORS_ORIGINS",
    "ALLOWED_ORIGINS",
    "CORS_ALLOWED_ORIGINS",
];

/// The origins to send, in order, each with why: configured URLs that are where the frontend
/// runs (same port locally), then `http://localhost:PORT`, `http://127.0.0.1:PORT`,
/// `http://[::1]:PORT` (locally), or the frontend's own origin (remotely).
fn origins(
    client: &Client<'_>,
    targets: &Targets,
    frontend: &super::targets::Endpoint,
) -> Vec<(String, String)> {
    let project = &client.ctx.project;
    let lookup = |name: &str| {
        targets
            .port_vars
            .get(name)
            .map(u16::to_string)
            .or_else(|| project.env.get(name))
    };
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |origin: String, why: String| {
        if !out.iter().any(|(o, _)| *o == origin) {
            out.push((origin, why));
        }
    };
    for var in ORIGIN_VARS {
        let Some(value) = project.env.get(var) else {
            continue;
        };
        let value = crate::interp::interpolate(&value, &lookup).unwrap_or(value);
        for item in value.split(|c: char| c == ',' || c.is_whitespace()) {
            let item = item.trim_matches(|c: char| matches!(c, '[' | ']' | '"' | '\''));
            if !item.contains("://") {
                continue;
            }
            let Ok(e) = super::targets::Endpoint::parse("configured", item) else {
                continue;
            };
            let here = targets.remote
                || (super::targets::same_host(&e.host, "127.0.0.1") && e.port == frontend.port);
            if here {
                add(e.origin, format!("{var} (configured)"));
            }
        }
    }
    if targets.remote {
        add(frontend.origin.clone(), "the frontend's URL".to_owned());
    } else {
        let p = frontend.port;
        add(
            format!("http://localhost:{p}"),
            "what dev servers print (Vite's Local:)".to_owned(),
        );
        add(format!("http://127.0.0.1:{p}"), "loopback IPv4".to_owned());
        add(format!("http://[::1]:{p}"), "loopback IPv6".to_owned());
    }
    out
}

fn credentials(result: &Result<Response, HttpError>) -> bool {
    result.as_ref().is_ok_and(|r| {
        r.header("access-control-allow-credentials")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    })
}
