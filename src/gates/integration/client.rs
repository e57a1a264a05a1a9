//! The integration gate's view of the network: every request goes through here so its latency
//! and outcome feed the report's `monitoring` section, and every URL or text quoted in a
//! report is redacted (passwords in URLs, secret values of the environment).

use std::time::Duration;

use serde_json::{Value, json};

use crate::gates::GateCtx;
use crate::probe::http::{HttpError, Request, Response, send};
use crate::redact::Redactor;

/// Bodies compared or parsed are capped: index pages and API answers are small, assets are
/// read in full up to the probe client's own limit.
pub(crate) const SMALL_BODY: usize = 64 * 1024;

/// Prefixes of variables that front-end build tools expose to the browser.
const PUBLIC_PREFIXES: [&str; 4] = ["VITE_", "REACT_APP_", "NEXT_PUBLIC_", "PUBLIC_"];

/// Requests with their run's deadline and recorder.
pub(crate) struct Client<'a> {
    pub(crate) ctx: &'a GateCtx,
    pub(crate) timeout: Duration,
    redactor: Redactor,
}

impl<'a> Client<'a> {
    pub(crate) fn new(ctx: &'a GateCtx, timeout: Duration) -> Client<'a> {
        // Variables a frontend toolchain inlines into the bundle are public by construction
        // (every browser downloads them); redacting them would hide the very URLs this gate
        // reports on. Everything else keeps the usual treatment.
        let redactor = Redactor::new(
            ctx.project
                .env
                .pairs()
                .filter(|(name, _)| !PUBLIC_PREFIXES.iter().any(|p| name.starts_with(p))),
        );
        Client {
            ctx,
            timeout,
            redactor,
        }
    }

    /// A request with this gate's deadline.
    pub(crate) fn request(&self, method: &str, url: &str) -> Request {
        Request::new(method, url, self.timeout)
    }

    /// Sends and records the latency (successes) or the failure (errors and 5xx).
    pub(crate) async fn send(&self, request: &Request) -> Result<Response, HttpError> {
        let result = send(request).await;
        let (latency, failed) = match &result {
            Ok(resp) => (Some(resp.timings.total_ms), resp.status >= 500),
            Err(_) => (None, true),
        };
        self.ctx.record(|f| {
            f.requests += 1;
            if failed {
                f.failed_requests += 1;
            }
            if let Some(ms) = latency {
                f.latencies_ms.push(ms);
            }
        });
        result
    }

    /// Records a WebSocket handshake as a request.
    pub(crate) fn record_ws(&self, handshake_ms: f64, ok: bool) {
        self.ctx.record(|f| {
            f.requests += 1;
            if ok {
                f.latencies_ms.push(handshake_ms);
            } else {
                f.failed_requests += 1;
            }
        });
    }

    /// Text safe for a report: passwords in URLs masked, secret values replaced.
    pub(crate) fn clean(&self, text: &str) -> String {
        self.redactor
            .redact(&crate::redact::mask_url_passwords(text))
    }
}

/// A short description of an exchange for evidence: method, URL, status or error, headers
/// that matter, time.
pub(crate) fn exchange(
    client: &Client<'_>,
    method: &str,
    url: &str,
    result: &Result<Response, HttpError>,
    headers: &[&str],
) -> Value {
    match result {
        Ok(resp) => {
            let mut seen = serde_json::Map::new();
            for name in headers {
                if let Some(v) = resp.header(name) {
                    seen.insert((*name).to_owned(), Value::String(client.clean(v)));
                }
            }
            json!({
                "method": method,
                "url": client.clean(url),
                "status": resp.status,
                "headers": seen,
                "ms": round(resp.timings.total_ms),
            })
        }
        Err(e) => json!({
            "method": method,
            "url": client.clean(url),
            "status": null,
            "error": client.clean(&e.to_string()),
        }),
    }
}

/// What a result was, in a few words: `200`, `connection refused`, ….
pub(crate) fn outcome(result: &Result<Response, HttpError>) -> String {
    match result {
        Ok(resp) => format!("{} {}", resp.status, resp.reason).trim().to_owned(),
        Err(e) => e.to_string(),
    }
}

pub(crate) fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The media type of a response, lowercased, without parameters.
pub(crate) fn media_type(resp: &Response) -> String {
    resp.header("content-type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}
