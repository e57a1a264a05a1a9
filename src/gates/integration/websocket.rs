//! `integration.websocket`: at every configured or detected WebSocket endpoint, the handshake
//! (101 with a valid `Sec-WebSocket-Accept`) and an echo round trip work directly against the
//! backend and through the frontend's proxy. nginx locations that proxy a WebSocket path
//! without `Upgrade`/`Connection` headers or HTTP/1.1 are pointed at by file and line.

use schemars::JsonSchema;
use serde::Serialize;

use super::client::{Client, round};
use super::gate::TargetEvidence;
use super::nginx::{Location, NginxError, Summary};
use super::targets::Targets;
use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::probe::engine_io;

const ID: CheckId = CheckId::IntegrationWebsocket;

/// The path a location matches, when it is a plain prefix or exact match.
fn location_path(location: &Location) -> Option<String> {
    let mut parts = location.path.split_whitespace();
    let first = parts.next()?;
    let path = match first {
        "=" | "^~" => parts.next()?,
        "~" | "~*" | "@" => return None,
        p if p.starts_with('@') => return None,
        p => p,
    };
    Some(path.trim_end_matches('/').to_owned()).filter(|p| !p.is_empty())
}

/// Whether a location looks like a WebSocket endpoint: it sets the upgrade headers, or its
/// path names one.
fn is_ws_location(location: &Location) -> bool {
    let path = location.path.to_ascii_lowercase();
    location.proxy_pass.is_some()
        && (location.upgrade
            || path.ends_with("/ws")
            || path.contains("/ws/")
            || path.contains("socket"))
}

/// Paths a Vite (or webpack) dev-server proxy forwards with `ws: true`: the quoted `'/path'`
/// key nearest before each `ws: true`. A text scan, not a JavaScript parser: good for the
/// object literals these configs are written as.
fn dev_server_ws_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text.get(from..).and_then(|rest| rest.find("ws")) {
        let pos = from + at;
        from = pos + 2;
        let before = text.get(..pos).unwrap_or_default();
        if before
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '/')
        {
            continue;
        }
        let after = text.get(pos + 2..).unwrap_or_default().trim_start();
        let Some(value) = after.strip_prefix(':') else {
            continue;
        };
        if !value.trim_start().starts_with("true") {
            continue;
        }
        // The nearest preceding quoted key that starts with `/` and is followed by `:`.
        let mut end = before.len();
        while let Some(open) = before.get(..end).and_then(|b| b.rfind(['\'', '"', '`'])) {
            end = open;
            let quote = before.get(open..=open).unwrap_or_default();
            let Some(rest) = before.get(open + 1..) else {
                break;
            };
            let Some(close) = rest.find(quote) else {
                continue;
            };
            let key = rest.get(..close).unwrap_or_default();
            let tail = rest.get(close + 1..).unwrap_or_default().trim_start();
            if key.starts_with('/') && tail.starts_with(':') {
                let path = key.trim_start_matches('^').to_owned();
                if !found.contains(&path) {
                    found.push(path);
                }
                break;
            }
        }
    }
    found
}

/// Dev-server configuration files of the frontend.
fn dev_server_paths(project: &crate::project::Project, frontend_dir: Option<&str>) -> Vec<String> {
    let mut dirs: Vec<&str> = frontend_dir.into_iter().collect();
    dirs.extend(["frontend", "client", "web", "."]);
    let mut found = Vec::new();
    for dir in dirs {
        for &name in crate::framework::VITE_CONFIGS
            .iter()
            .chain(&["webpack.config.js"])
        {
            let path = project.root.join(dir).join(name);
            if let Some(text) = super::targets::read_small(&path) {
                for p in dev_server_ws_paths(&text) {
                    if !found.contains(&p) {
                        found.push(p);
                    }
                }
            }
        }
    }
    found
}

/// Configured endpoints, else those detected in nginx configuration, else in the dev server's
/// proxy settings.
pub(crate) fn endpoints(
    configured: Option<&[String]>,
    nginx: &[Result<Summary, NginxError>],
) -> (Vec<String>, &'static str) {
    if let Some(list) = configured {
        return (list.to_vec(), "devops-agent.toml [integration] websocket");
    }
    let mut found: Vec<String> = Vec::new();
    for summary in nginx.iter().flatten() {
        for location in &summary.locations {
            if is_ws_location(location)
                && let Some(path) = location_path(location)
                && !found.contains(&path)
            {
                found.push(path);
            }
        }
    }
    (found, "nginx location")
}

/// The nginx location serving `path`, if any.
fn location_for<'a>(nginx: &'a [Result<Summary, NginxError>], path: &str) -> Option<&'a Location> {
    nginx
        .iter()
        .flatten()
        .flat_map(|s| s.locations.iter())
        .filter(|l| l.proxy_pass.is_some())
        .find(|l| location_path(l).as_deref() == Some(path.trim_end_matches('/')))
}

/// What a location lacks to pass WebSocket upgrades.
fn missing_headers(location: &Location) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !location.http11 {
        missing.push("proxy_http_version 1.1;");
    }
    if !location.upgrade {
        missing.push("proxy_set_header Upgrade $http_upgrade;");
    }
    if !location.connection_upgrade {
        missing.push("proxy_set_header Connection \"upgrade\";");
    }
    missing
}

/// Why the backend serves socket.io at its default path `/socket.io`: `socket.io` among its
/// package.json dependencies, or `python-socketio` / `flask-socketio` among its Python ones
/// (a word search of requirements*.txt, pyproject.toml, Pipfile).
fn socket_io_dependency(project: &crate::project::Project, dir: &str) -> Option<String> {
    let base = project.root.join(dir);
    let manifest = base.join("package.json");
    if let Ok(pkg) = crate::project::package_json_read(&project.root, &manifest)
        && pkg.dependencies.contains("socket.io")
    {
        return Some(format!(
            "socket.io among the dependencies in {}",
            project.relative(&manifest)
        ));
    }
    for name in ["requirements.txt", "pyproject.toml", "Pipfile"] {
        let path = base.join(name);
        let Some(text) = super::targets::read_small(&path) else {
            continue;
        };
        let text = text.to_ascii_lowercase();
        if let Some(package) = ["python-socketio", "flask-socketio"].into_iter().find(|p| {
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .any(|w| w == *p)
        }) {
            return Some(format!(
                "{package} among the dependencies in {}",
                project.relative(&path)
            ));
        }
    }
    None
}

pub(crate) async fn check(
    client: &Client<'_>,
    targets: &Targets,
    nginx: &[Result<Summary, NginxError>],
) -> CheckResult {
    let configured = client.ctx.project.config.integration.websocket.as_deref();
    let (mut paths, mut source) = endpoints(configured, nginx);
    if paths.is_empty() {
        paths = dev_server_paths(&client.ctx.project, targets.frontend_dir.as_deref());
        source = "dev server proxy (ws: true)";
    }
    let mut source = source.to_owned();
    // A socket.io backend serves `/socket.io` whether or not anything proxies it; found from
    // its dependencies, it is probed directly (a frontend that calls it cross-origin has no
    // proxy for it).
    let mut direct_only: Vec<String> = Vec::new();
    if configured.is_none()
        && !paths.iter().any(|p| engine_io::is_socket_io_path(p))
        && let Some(why) = targets
            .backend_dir
            .as_deref()
            .and_then(|d| socket_io_dependency(&client.ctx.project, d))
    {
        if paths.is_empty() {
            source = why;
        } else {
            source = format!("{source}; /socket.io: {why}");
        }
        paths.push("/socket.io".to_owned());
        direct_only.push("/socket.io".to_owned());
    }
    if paths.is_empty() {
        let reason = "no WebSocket endpoint configured or detected".to_owned();
        return CheckResult::new(
            ID,
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        );
    }
    let origin = targets
        .frontend
        .as_ref()
        .or(targets.backend.as_ref())
        .map(|e| e.origin.clone());
    let mut routes = Vec::new();
    if let Some(b) = &targets.backend {
        routes.push(("direct", b));
    }
    if let Some(f) = &targets.frontend
        && targets.backend.as_ref().is_none_or(|b| b.url != f.url)
    {
        routes.push(("through_proxy", f));
    }
    let mut findings = Vec::new();
    let mut evidence = Vec::new();
    let mut passed = 0;
    let mut failed_proxy_paths = Vec::new();
    let mut socket_io = false;
    // Paths taken for WebSocket endpoints from an nginx location's name alone (`/ws`,
    // `…socket…`, no Upgrade header): only the backend's answer can say they are one.
    let by_name: Vec<&String> = if source.starts_with("nginx location") {
        paths
            .iter()
            .filter(|p| location_for(nginx, p).is_some_and(|l| !l.upgrade))
            .collect()
    } else {
        Vec::new()
    };
    let mut not_websocket: Vec<String> = Vec::new();
    let integration = &client.ctx.project.config.integration;
    let mut options = crate::probe::ws::WsOptions {
        protocols: integration.websocket_protocols.clone().unwrap_or_default(),
        ..Default::default()
    };
    if let Some(ca) = &integration.websocket_ca {
        let path = client.ctx.project.root.join(ca);
        let loaded = crate::fsread::read(&path, 1 << 20)
            .map_err(|e| e.to_string())
            .and_then(|pem| {
                options
                    .tls
                    .clone()
                    .with_extra_roots_pem(&pem)
                    .map_err(|e| e.to_string())
            });
        match loaded {
            Ok(tls) => options.tls = tls,
            Err(e) => {
                let message = format!("[integration] websocket_ca {ca}: {e}");
                return CheckResult::new(ID, Status::Error, message);
            }
        }
    }
    'paths: for path in &paths {
        let mut direct_ok = false;
        let engine = engine_io::is_socket_io_path(path);
        socket_io |= engine;
        for (route, endpoint) in &routes {
            if *route == "through_proxy" && direct_only.contains(path) {
                continue;
            }
            let (url, out) = if engine {
                let url = endpoint.ws_at(&engine_io::websocket_path(path));
                let out = crate::probe::ws::engine_io_roundtrip(
                    &url,
                    origin.as_deref(),
                    client.timeout,
                    &options.tls,
                )
                .await;
                (url, out)
            } else {
                let url = endpoint.ws_at(path);
                let message = format!("devops-agent {}", std::process::id());
                let out = crate::probe::ws::roundtrip_opts(
                    &url,
                    origin.as_deref(),
                    &message,
                    client.timeout,
                    &options,
                )
                .await;
                (url, out)
            };
            // A round trip: the pong to a ping (or an echo), or the socket.io CONNECT answered.
            let ok = out.error.is_none()
                && (out.echoed || out.pong)
                && out.accept_valid
                && out.status == 101;
            client.record_ws(out.handshake_ms, ok);
            evidence.push(RoundTrip {
                path: path.clone(),
                route,
                url: client.clean(&url),
                status: out.status,
                accept_valid: out.accept_valid,
                echoed: out.echoed,
                pong: out.pong,
                protocol: out.protocol.clone(),
                subprotocol: out.subprotocol.clone(),
                handshake_ms: round(out.handshake_ms),
                roundtrip_ms: out.roundtrip_ms.map(round),
                error: out.error.as_deref().map(|e| client.clean(e)),
            });
            // Named like a WebSocket path, but the backend answers it as plain HTTP: not a
            // WebSocket endpoint, so nothing to fail (a name is not evidence).
            if !ok
                && *route == "direct"
                && by_name.contains(&path)
                && out.status != 0
                && out.status != 101
            {
                not_websocket.push(path.clone());
                continue 'paths;
            }
            if ok {
                passed += 1;
                direct_ok |= *route == "direct";
            } else {
                if *route == "through_proxy" {
                    failed_proxy_paths.push(path.clone());
                }
                let what = if *route == "direct" {
                    format!("the backend ({})", endpoint.name)
                } else {
                    format!("the proxy ({})", endpoint.name)
                };
                // The backend upgraded the same path directly: whatever the proxy's answer
                // says, the upgrade was lost on the way.
                let hint = if *route == "through_proxy" && direct_ok {
                    " (the backend upgrades this path when reached directly, so the proxy is not passing the Upgrade/Connection headers on)"
                } else {
                    ""
                };
                let mut finding = Finding::new(
                    Severity::Error,
                    format!(
                        "WebSocket {} via {what}: {}{hint}",
                        client.clean(&url),
                        client.clean(out.error.as_deref().unwrap_or("no echo came back"))
                    ),
                );
                if *route == "through_proxy"
                    && let Some(loc) = location_for(nginx, path)
                {
                    finding = finding.at(loc.file.clone(), Some(loc.line), None);
                }
                findings.push(finding);
            }
        }
        // Static: the nginx location for this path must pass the upgrade on.
        if let Some(loc) = location_for(nginx, path) {
            let missing = missing_headers(loc);
            if !missing.is_empty() {
                let runtime_failed = failed_proxy_paths.contains(path);
                let proxy_probed = routes.iter().any(|(r, _)| *r == "through_proxy");
                let severity = if runtime_failed || !proxy_probed {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                findings.push(
                    Finding::new(
                        severity,
                        format!(
                            "nginx location {} proxies WebSockets without {}",
                            loc.path,
                            missing.join(" ")
                        ),
                    )
                    .at(loc.file.clone(), Some(loc.line), None)
                    .suggest(missing.join(" ")),
                );
            }
        }
    }
    if !not_websocket.is_empty() && not_websocket.len() == paths.len() {
        let (locations, are) = if not_websocket.len() == 1 {
            ("location", "is")
        } else {
            ("locations", "are")
        };
        let reason = format!(
            "no WebSocket endpoint: nginx {locations} {} {are} named like a WebSocket path, but {are} set up with no Upgrade header and the backend answers as plain HTTP",
            not_websocket.join(", ")
        );
        return CheckResult::new(
            ID,
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        )
        .with_evidence(&WebsocketEvidence {
            endpoints: paths,
            detected_from: source,
            origin: origin.as_deref().map(|o| client.clean(o)),
            round_trips: evidence,
            target: TargetEvidence::default(),
        });
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let (status, message) = if routes.is_empty() {
        if errors > 0 {
            (
                Status::Failed,
                findings
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        } else {
            let reason = "no running service or URL to open a WebSocket to".to_owned();
            return CheckResult::new(
                ID,
                Status::Skipped {
                    reason: reason.clone(),
                },
                reason,
            )
            .with_evidence(&WebsocketEvidence {
                endpoints: paths,
                detected_from: source,
                origin: origin.as_deref().map(|o| client.clean(o)),
                round_trips: evidence,
                target: TargetEvidence::default(),
            });
        }
    } else if errors > 0 {
        let mut parts: Vec<String> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.message.clone())
            .collect();
        parts.truncate(3);
        (Status::Failed, parts.join("; "))
    } else if !findings.is_empty() {
        (
            Status::Warning,
            format!(
                "{passed} WebSocket round trip(s) succeeded, but: {}",
                findings
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    } else {
        let routes_text = routes
            .iter()
            .map(|(r, _)| r.replace('_', " "))
            .collect::<Vec<_>>()
            .join(" and ");
        let plain = paths.iter().any(|p| !engine_io::is_socket_io_path(p));
        let exchange = match (socket_io, plain) {
            (true, false) => {
                "a socket.io session (Engine.IO open packet, Socket.IO CONNECT answered)"
            }
            (true, true) => {
                "a message round trip (ping → pong, echo where the server echoes; a socket.io session at the socket.io paths)"
            }
            (false, _) => "a message round trip (ping → pong; echo where the server echoes)",
        };
        (
            Status::Passed,
            format!(
                "WebSocket handshake (101, valid accept) and {exchange} succeeded at {} ({routes_text}){}",
                paths
                    .iter()
                    .filter(|p| !not_websocket.contains(p))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if not_websocket.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; not WebSocket endpoints (named like one, answered as plain HTTP): {}",
                        not_websocket.join(", ")
                    )
                }
            ),
        )
    };
    CheckResult::new(ID, status, message)
        .with_findings(findings)
        .with_evidence(&WebsocketEvidence {
            endpoints: paths,
            detected_from: source,
            origin: origin.as_deref().map(|o| client.clean(o)),
            round_trips: evidence,
            target: TargetEvidence::default(),
        })
}

/// What `integration.websocket` measured.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct WebsocketEvidence {
    /// The WebSocket paths probed (`/ws`, `/socket.io`, …).
    pub(crate) endpoints: Vec<String>,
    /// Where the paths came from: configuration, an nginx location, the dev server's proxy, a
    /// socket.io dependency.
    pub(crate) detected_from: String,
    /// The `Origin` sent with each handshake (the frontend's, else the backend's); null when
    /// neither runs.
    pub(crate) origin: Option<String>,
    /// One entry per path and route tried; empty when nothing could be opened.
    pub(crate) round_trips: Vec<RoundTrip>,
    /// Set by the gate.
    #[serde(flatten)]
    pub(crate) target: TargetEvidence,
}

/// One WebSocket handshake and message round trip.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct RoundTrip {
    /// The path opened.
    pub(crate) path: String,
    /// `direct` (to the backend) or `through_proxy` (through the frontend's server).
    pub(crate) route: &'static str,
    /// The `ws://` or `wss://` URL opened.
    pub(crate) url: String,
    /// The handshake's HTTP status (`101` when upgraded; `0` when no answer came).
    pub(crate) status: u16,
    /// Whether `Sec-WebSocket-Accept` matched the key sent.
    pub(crate) accept_valid: bool,
    /// Whether the server echoed the message sent.
    pub(crate) echoed: bool,
    /// Whether the server answered the ping with a pong.
    pub(crate) pong: bool,
    /// What was spoken over the socket when it is not a plain echo, and what it showed
    /// (`Engine.IO open packet received; Socket.IO CONNECT answered`).
    pub(crate) protocol: Option<String>,
    /// The subprotocol the server chose (`Sec-WebSocket-Protocol`) from those offered
    /// (`[integration] websocket_protocols`); null when none was offered or the server chose
    /// none.
    pub(crate) subprotocol: Option<String>,
    /// Time to the handshake's answer, ms.
    pub(crate) handshake_ms: f64,
    /// Time from sending the message to its answer, ms; null when none came.
    pub(crate) roundtrip_ms: Option<f64>,
    /// Why it failed; null when it succeeded.
    pub(crate) error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_detected_from_nginx() {
        let conf = "server { location /api/ { proxy_pass http://b; } location = /ws { proxy_pass http://b; } location /live { proxy_pass http://b; proxy_set_header Upgrade $http_upgrade; } location ~ ^/socket { proxy_pass http://b; } }";
        let summary =
            super::super::nginx::summarize(&super::super::nginx::parse_str(conf, "n").unwrap());
        let (found, _) = endpoints(None, &[Ok(summary.clone())]);
        assert_eq!(found, ["/ws", "/live"]);
        let parsed = [Ok(summary)];
        let ws = location_for(&parsed, "/ws").unwrap();
        assert_eq!(missing_headers(ws).len(), 3);
        let vite = "export default defineConfig({\n  server: {\n    proxy: {\n      '/api': 'http://localhost:3000',\n      \"/socket.io\": { target: 'ws://localhost:3000', ws: true },\n      '/live': {\n        target: 'http://localhost:3000',\n        changeOrigin: true,\n        ws : true,\n      },\n      '/no': { ws: false },\n    },\n  },\n});\n";
        assert_eq!(dev_server_ws_paths(vite), ["/socket.io", "/live"]);
        assert!(dev_server_ws_paths("news: true; 'ws'").is_empty());
        let (found, source) = endpoints(Some(&["/x".to_owned()]), &[]);
        assert_eq!(
            (found, source),
            (
                vec!["/x".to_owned()],
                "devops-agent.toml [integration] websocket"
            )
        );
    }
}
