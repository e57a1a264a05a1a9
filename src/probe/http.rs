//! The probes' HTTP client: HTTP/1.1 and HTTP/2 (negotiated by ALPN) on reqwest, with rustls on
//! *ring* and the probes' own certificate verifier, so the verdict is the one an ecosystem
//! client (curl, a browser, the app's HTTP library) reaches on the same server.
//!
//! What a probe needs on top of a plain client, and why each part is here:
//! * per-phase timings (DNS, TCP connect, TLS, first byte) measured by hooks in the client
//!   (`probe/trace.rs`), `None` when a phase did not happen (a reused connection);
//! * certificate evidence: the chain and the verifier's verdict, so a certificate that does not
//!   verify is described (expired on …, self-signed, wrong name) instead of a bare handshake
//!   error, and a refused cipher suite, protocol version or ALPN protocol is named;
//! * one long-lived client per trust configuration, so readiness polls and repeated probes reuse
//!   kept-alive connections;
//! * loopback never through a proxy, other hosts through `HTTP(S)_PROXY`/`NO_PROXY`, and the
//!   proxy named in the response;
//! * bounded reads: a head larger than curl accepts is refused as curl does, a body past the
//!   request's limit either fails or (for status checks) is cut there;
//! * one deadline per request, naming the stage it expired in; redirects returned, not
//!   followed, so callers record and judge every hop.
//!
//! `localhost` reaches servers bound to either `127.0.0.1` or `::1`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use tokio::time::{Instant, timeout_at};

use super::resolve;
use super::tls::{self, TlsConfig, TlsInfo};
use super::trace::{self, Trace};

/// Default cap on a response body: large enough for any static asset worth checking, small
/// enough that a misbehaving server cannot exhaust memory.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;

/// One HTTP request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method, sent as given (`GET`, `HEAD`, `OPTIONS`, …).
    pub method: String,
    /// `http://` or `https://` URL; IPv6 literals in brackets.
    pub url: String,
    /// Extra headers, sent in order. `Host`, `User-Agent` and `Accept` replace the defaults;
    /// `Content-Length`, `Transfer-Encoding` and `Connection` are managed by the client and
    /// ignored here.
    pub headers: Vec<(String, String)>,
    /// Request body; sent with a `Content-Length`.
    pub body: Option<Vec<u8>>,
    /// Deadline for the whole exchange, from DNS to the last body byte.
    pub timeout: Duration,
    /// Largest response body accepted, in bytes ([`DEFAULT_MAX_BODY`] by default).
    pub max_body: usize,
    /// Past `max_body`, stop reading and mark the response truncated instead of failing: for
    /// checks where only the status (and the start of the body) matters.
    pub truncate_body: bool,
    /// Trust roots for `https://` (the system roots by default).
    pub tls: TlsConfig,
}

impl Request {
    /// A request with the given method and no headers or body.
    pub fn new(method: &str, url: &str, timeout: Duration) -> Request {
        Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: None,
            timeout,
            max_body: DEFAULT_MAX_BODY,
            truncate_body: false,
            tls: TlsConfig::default(),
        }
    }

    /// A `GET` request.
    pub fn get(url: &str, timeout: Duration) -> Request {
        Request::new("GET", url, timeout)
    }

    /// Adds a header (repeating a name sends it twice).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Some(body.into());
        self
    }

    /// Sets the largest accepted response body.
    #[must_use]
    pub fn max_body(mut self, limit: usize) -> Request {
        self.max_body = limit;
        self
    }

    /// Reads at most `limit` bytes of the body and stops there, marking the response
    /// [`Response::body_truncated`], instead of failing on a larger body: what a check needs
    /// when only the status matters (a 1 GiB download is a fine health answer).
    #[must_use]
    pub fn body_prefix(mut self, limit: usize) -> Request {
        self.max_body = limit;
        self.truncate_body = true;
        self
    }

    /// Sets the TLS trust configuration (e.g. a private CA).
    #[must_use]
    pub fn tls(mut self, tls: TlsConfig) -> Request {
        self.tls = tls;
        self
    }
}

/// Where the time of one exchange went, in milliseconds. Each field is the duration of its own
/// stage, except `total_ms`. A stage that did not happen for this request (DNS, connect and TLS
/// on a reused connection; TLS for `http://`) is `None`: measured or null, never estimated.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Name resolution (zero for IP literals and `localhost`, which need none).
    pub dns_ms: Option<f64>,
    /// TCP connect, including attempts at addresses that failed (through a proxy: to the
    /// proxy, with the tunnel).
    pub connect_ms: Option<f64>,
    /// TLS handshake, for `https://` on a new connection.
    pub tls_ms: Option<f64>,
    /// From the connection being ready (the request's start, on a reused connection) to the
    /// response head: the server's think time plus one round trip.
    pub ttfb_ms: f64,
    /// Start to last body byte read.
    pub total_ms: f64,
    /// The request went over a kept-alive connection of an earlier request.
    pub reused_connection: bool,
}

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code of the final response (interim 1xx responses are skipped, except 101).
    pub status: u16,
    /// Reason phrase, possibly empty.
    pub reason: String,
    /// Headers with names lowercased, in received order, repeats kept.
    pub headers: Vec<(String, String)>,
    /// Body, de-chunked but not decompressed (see the `content-encoding` header, and
    /// [`Response::decoded`]).
    pub body: Vec<u8>,
    /// The body was cut at the request's `body_prefix` limit.
    pub body_truncated: bool,
    /// The address that accepted the connection (the proxy's, through a proxy), when known.
    pub remote: Option<SocketAddr>,
    /// `HTTP/1.1`, `HTTP/2`, …
    pub version: &'static str,
    /// The proxy the request went through (`HTTP(S)_PROXY`, without credentials), if any.
    pub proxy: Option<String>,
    /// Stage timings.
    pub timings: Timings,
    /// The server's certificate, for `https://` (verified, or the request would have failed).
    pub tls: Option<TlsInfo>,
}

impl Response {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Every value of a header, in order.
    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text, decompressed per `Content-Encoding` when it can be, invalid UTF-8
    /// replaced.
    pub fn text(&self) -> Cow<'_, str> {
        match self.decoded() {
            Ok(Cow::Borrowed(body)) => String::from_utf8_lossy(body),
            Ok(Cow::Owned(body)) => Cow::Owned(String::from_utf8_lossy(&body).into_owned()),
            Err(_) => String::from_utf8_lossy(&self.body),
        }
    }

    /// The body decompressed per `Content-Encoding` (`gzip`, `x-gzip`, `deflate`, `br`,
    /// `identity`, in the order applied), at most [`DEFAULT_MAX_BODY`] bytes of output.
    pub fn decoded(&self) -> Result<Cow<'_, [u8]>, String> {
        decode(&self.body, self.header("content-encoding"))
    }
}

/// Why a probe request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL cannot be used (scheme, host, port, characters).
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The method or a header cannot be sent as given.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Dns {
        /// The name looked up.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// No address accepted a TCP connection.
    #[error("cannot connect: {reason}")]
    Connect {
        /// Every address tried.
        addrs: Vec<SocketAddr>,
        /// Each address's failure, `; `-separated.
        reason: String,
    },
    /// The TLS handshake failed, or the certificate did not verify.
    #[error("TLS: {reason}")]
    Tls {
        /// What went wrong, e.g. `certificate expired …`, `self-signed certificate …`.
        reason: String,
        /// The certificate, when the failure was its verification.
        cert: Option<Box<TlsInfo>>,
    },
    /// The server and the probe have no TLS version or cipher suite in common that rustls
    /// implements (a TLS 1.2 server with only CBC or RSA key-exchange suites): clients built
    /// on OpenSSL may still connect, so this is not proof that the app cannot.
    #[error("TLS: {reason}")]
    TlsIncompatible {
        /// Which of version or suite, and what the probe offered.
        reason: String,
    },
    /// The deadline passed.
    #[error("timed out after {after:?} ({stage})")]
    Timeout {
        /// The request's whole timeout.
        after: Duration,
        /// The stage that was running: `dns`, `connect`, `tls handshake`, `sending request`,
        /// `response headers`, `response body`.
        stage: &'static str,
    },
    /// The peer broke HTTP: malformed response, connection closed early.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A size limit was exceeded.
    #[error("response {what} larger than the {limit}-byte limit")]
    TooLarge {
        /// `headers`, `body` or `trailers`.
        what: &'static str,
        /// The limit, in bytes.
        limit: usize,
    },
}

impl HttpError {
    /// A stable one-word category for reports: `invalid`, `dns`, `refused`, `connect`, `tls`,
    /// `timeout`, `protocol`, `too_large`.
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::InvalidUrl(_) | HttpError::InvalidRequest(_) => "invalid",
            HttpError::Dns { .. } => "dns",
            HttpError::Connect { reason, .. } if reason.contains("connection refused") => "refused",
            HttpError::Connect { .. } => "connect",
            HttpError::Tls { .. } | HttpError::TlsIncompatible { .. } => "tls",
            HttpError::Timeout { .. } => "timeout",
            HttpError::Protocol(_) => "protocol",
            HttpError::TooLarge { .. } => "too_large",
        }
    }
}

/// Milliseconds as a float, the unit of every timing in reports.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `start + timeout`, saturating instead of panicking on absurd timeouts.
pub(crate) fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    start
        .checked_add(timeout)
        .unwrap_or_else(|| start + Duration::from_secs(365 * 24 * 3600))
}

/// First value of a header in a lowercased header list.
pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Shortens peer-supplied text quoted in an error message.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// A parsed URL, as much of it as a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `https`/`wss`.
    pub(crate) secure: bool,
    /// Host name (lowercase) or IP literal, without brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path and query, starting with `/`, safe to put on the request line.
    pub(crate) path: String,
    /// `Host` header value: brackets for IPv6, port when not the default.
    pub(crate) authority: String,
}

fn invalid_url(why: impl Into<String>) -> HttpError {
    HttpError::InvalidUrl(why.into())
}

/// Parses `url` with `plain` (port 80) or `secure` (port 443) as its scheme.
pub(crate) fn parse_target(url: &str, plain: &str, secure: &str) -> Result<Target, HttpError> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        invalid_url(format!(
            "{:?} has no scheme (expected {plain}:// or {secure}://)",
            clip(url)
        ))
    })?;
    let secure_scheme = if scheme.eq_ignore_ascii_case(plain) {
        false
    } else if scheme.eq_ignore_ascii_case(secure) {
        true
    } else {
        return Err(invalid_url(format!(
            "unsupported scheme {:?} (expected {plain} or {secure})",
            clip(scheme)
        )));
    };
    let default_port = if secure_scheme { 443 } else { 80 };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest
        .split_at_checked(authority_end)
        .ok_or_else(|| invalid_url("malformed authority"))?;
    let tail = tail.split('#').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(invalid_url(
            "credentials in the URL are not supported; send an Authorization header",
        ));
    }

    let (host, port_text, ipv6) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (inside, after) = bracketed
            .split_once(']')
            .ok_or_else(|| invalid_url("unclosed '[' in the host"))?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| invalid_url(format!("{:?} is not an IPv6 address", clip(inside))))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| invalid_url("unexpected text after the IPv6 address"))?,
            ),
        };
        (ip.to_string(), port, true)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(invalid_url("the URL has no host"));
        }
        if !host.is_ascii() {
            return Err(invalid_url(format!(
                "host {:?} is not ASCII: give internationalized names in punycode (xn--…)",
                clip(host)
            )));
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(invalid_url(format!(
                "host {:?} has characters a host name cannot have (an IPv6 address needs brackets)",
                clip(host)
            )));
        }
        (host.to_ascii_lowercase(), port, false)
    };

    let port = match port_text {
        None | Some("") => default_port,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(invalid_url(format!("invalid port {:?}", clip(text)))),
        },
    };

    // The path goes on the request line verbatim, so whitespace and control characters (request
    // splitting) are refused; non-ASCII is percent-encoded as browsers do.
    let mut path = String::with_capacity(tail.len() + 1);
    if !tail.starts_with('/') {
        path.push('/');
    }
    for byte in tail.bytes() {
        match byte {
            0..=0x20 | 0x7f => {
                return Err(invalid_url(
                    "the path has whitespace or control characters; percent-encode them",
                ));
            }
            0x80..=0xff => {
                let _ = write!(path, "%{byte:02X}");
            }
            _ => path.push(char::from(byte)),
        }
    }

    let mut authority = if ipv6 {
        format!("[{host}]")
    } else {
        host.clone()
    };
    if port != default_port {
        let _ = write!(authority, ":{port}");
    }
    Ok(Target {
        secure: secure_scheme,
        host,
        port,
        path,
        authority,
    })
}

/// RFC 9110 `tchar`: what a method or header name may contain.
pub(crate) fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Checks one header for anything that would split the request.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), HttpError> {
    if !is_token(name) {
        return Err(HttpError::InvalidRequest(format!(
            "header name {:?} is not a token",
            clip(name)
        )));
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(HttpError::InvalidRequest(format!(
            "header {name} has a line break or NUL in its value"
        )));
    }
    Ok(())
}

/// Largest total size of a response head accepted, and of one header line: curl's limits
/// (300 KiB and 100 KiB), so a head curl refuses is refused here too and one it accepts is
/// accepted.
pub const MAX_HEAD: usize = 300 * 1024;
const MAX_HEADER_LINE: usize = 100 * 1024;

/// Whether `host` (lowercase, no brackets) is this machine: such requests never go through a
/// proxy, whatever `NO_PROXY` says (a proxy elsewhere cannot reach our loopback).
fn is_loopback(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The proxy `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` choose for `url` (the rules
/// reqwest applies), shown without credentials; `None` for loopback targets.
fn proxy_for(target: &Target, url: &str) -> Option<String> {
    static MATCHER: OnceLock<hyper_util::client::proxy::matcher::Matcher> = OnceLock::new();
    if is_loopback(&target.host) {
        return None;
    }
    let uri: http::Uri = url.trim().parse().ok()?;
    let intercept = MATCHER
        .get_or_init(hyper_util::client::proxy::matcher::Matcher::from_env)
        .intercept(&uri)?;
    let proxy = intercept.uri();
    Some(format!(
        "{}://{}",
        proxy.scheme_str().unwrap_or("http"),
        proxy
            .authority()
            .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or(""))
    ))
}

/// The DNS hook: the probes' own resolution (both loopback families for `localhost`), timed
/// into the request's trace.
struct TracedResolver;

impl reqwest::dns::Resolve for TracedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let trace = trace::current();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            trace::update(trace.as_ref(), |t| t.dns_started = Some(Instant::now()));
            // The request's own deadline bounds the lookup; this one only satisfies the API.
            let budget = Duration::from_secs(3600);
            let addrs = resolve::resolve(&host, 0, deadline_after(Instant::now(), budget), budget)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            trace::update(trace.as_ref(), |t| {
                t.dns_done = Some(Instant::now());
                t.addrs.clone_from(&addrs);
            });
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The connector hook: when a new connection starts and when it is ready (TCP, and TLS for
/// `https://`), into the request's trace.
#[derive(Clone)]
struct TraceLayer;

impl<S> tower_layer::Layer<S> for TraceLayer {
    type Service = TracedConnector<S>;

    fn layer(&self, inner: S) -> TracedConnector<S> {
        TracedConnector(inner)
    }
}

#[derive(Clone)]
struct TracedConnector<S>(S);

impl<S, R> tower_service::Service<R> for TracedConnector<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let trace = trace::current();
        trace::update(trace.as_ref(), |t| t.connect_started = Some(Instant::now()));
        let connecting = self.0.call(request);
        Box::pin(async move {
            let connected = connecting.await;
            if connected.is_ok() {
                trace::update(trace.as_ref(), |t| t.connected = Some(Instant::now()));
            }
            connected
        })
    }
}

/// The long-lived clients of one trust configuration: kept for the process, so polling and
/// repeated probes reuse their keep-alive connections (HTTP/1.1) and streams (HTTP/2).
struct Clients {
    roots: Arc<RootCertStore>,
    direct: reqwest::Client,
    proxied: OnceLock<Result<reqwest::Client, String>>,
    /// The certificate last seen per `host:port`, for responses on a reused connection.
    certs: Mutex<HashMap<String, TlsInfo>>,
}

fn build_client(roots: &Arc<RootCertStore>, proxied: bool) -> Result<reqwest::Client, String> {
    let tls = tls::request_config(Arc::clone(roots)).map_err(|e| e.to_string())?;
    let max_head = u32::try_from(MAX_HEAD).unwrap_or(u32::MAX);
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .dns_resolver(Arc::new(TracedResolver))
        .connector_layer(TraceLayer)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .user_agent(concat!("devops-agent/", env!("CARGO_PKG_VERSION")))
        // Header names as curl writes them: a few old servers match them case-sensitively.
        .http1_title_case_headers()
        .http1_allow_obsolete_multiline_headers_in_responses(true)
        .http1_max_headers(4096)
        .http2_max_header_list_size(max_head)
        // No idle connection is kept: a server that closes gracefully on SIGTERM (Node's
        // `server.close()`) waits for every open keep-alive connection, so one held by the
        // probe made a healthy app ignore SIGTERM for the whole grace period.
        .pool_max_idle_per_host(0);
    let builder = if proxied { builder } else { builder.no_proxy() };
    builder.build().map_err(|e| error_chain(&e))
}

/// The clients for `config`, built on first use; plain `http://` needs no trust roots, so its
/// clients skip reading the system's (tens of milliseconds, once, that a readiness poll would
/// otherwise pay).
async fn clients(config: &TlsConfig, secure: bool) -> Result<Arc<Clients>, HttpError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Clients>>>> = OnceLock::new();
    let key = if secure {
        config.key()
    } else {
        "plain".to_owned()
    };
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(found) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(Arc::clone(found));
    }
    let roots = if secure {
        config.roots().await
    } else {
        Arc::new(RootCertStore::empty())
    };
    let direct = build_client(&roots, false).map_err(|reason| HttpError::Tls {
        reason: format!("cannot set up the HTTP client: {reason}"),
        cert: None,
    })?;
    let built = Arc::new(Clients {
        roots,
        direct,
        proxied: OnceLock::new(),
        certs: Mutex::default(),
    });
    Ok(Arc::clone(
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert(built),
    ))
}

/// An error and its causes, `: `-joined, repeats dropped (hyper and reqwest often repeat the
/// inner message).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The first cause of `err` of type `T`.
fn find_cause<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// Puts a failed exchange in the probe's terms, using what the trace saw.
fn classify(
    err: &reqwest::Error,
    seen: &Trace,
    target: &Target,
    roots: &RootCertStore,
) -> HttpError {
    let chain = error_chain(err);
    // A certificate that did not verify: described, as `tls::inspect` would.
    if matches!(seen.verdict, Some(Err(_)))
        && let Ok(name) = ServerName::try_from(target.host.clone())
    {
        let info = tls::describe(
            &tls::Seen {
                chain: seen.chain.clone(),
                verdict: seen.verdict.clone(),
                rejected: false,
            },
            roots,
            &name,
        );
        return HttpError::Tls {
            reason: info.verify_error.clone().unwrap_or(chain),
            cert: Some(Box::new(info)),
        };
    }
    if let Some(found) = find_cause::<HttpError>(err) {
        return match found {
            HttpError::Dns { host, source } => HttpError::Dns {
                host: host.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            other => HttpError::Protocol(other.to_string()),
        };
    }
    if let Some(tls_err) = find_cause::<rustls::Error>(err) {
        return tls::failure_error(tls::explain_failure(tls_err));
    }
    if err.is_connect() {
        if seen.tls_started.is_some() {
            let reason = find_cause::<io::Error>(err).map_or_else(
                || format!("handshake failed: {chain}"),
                |io| tls::explain_io_failure(io).reason,
            );
            return HttpError::Tls { reason, cert: None };
        }
        let addrs = if seen.addrs.is_empty() {
            target
                .host
                .parse::<IpAddr>()
                .map(|ip| vec![SocketAddr::new(ip, target.port)])
                .unwrap_or_default()
        } else {
            seen.addrs
                .iter()
                .map(|a| SocketAddr::new(a.ip(), target.port))
                .collect()
        };
        let cause = match find_cause::<io::Error>(err) {
            Some(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
                "connection refused".to_owned()
            }
            Some(io) => io.to_string(),
            None => chain,
        };
        let tried = addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        return HttpError::Connect {
            reason: if tried.is_empty() {
                cause
            } else {
                format!("{cause} (tried {tried})")
            },
            addrs,
        };
    }
    // The response could not be read as HTTP: a TLS record on a plain port is the usual cause.
    if !target.secure && chain.contains("invalid HTTP version") {
        return HttpError::Protocol(format!(
            "not an HTTP/1.x response ({chain}); if the port serves TLS, use https:// (or wss://)"
        ));
    }
    if chain.contains("connection closed before message completed") && seen.headers.is_none() {
        return HttpError::Protocol(format!(
            "the server closed the connection without answering ({chain})"
        ));
    }
    if chain.contains("message head is too large") {
        return HttpError::TooLarge {
            what: "headers",
            limit: MAX_HEAD,
        };
    }
    HttpError::Protocol(chain)
}

/// The stage a request was in when its deadline passed.
fn stage(seen: &Trace) -> &'static str {
    if seen.headers.is_some() {
        "response body"
    } else if seen.connected.is_some() || seen.connect_started.is_none() {
        "response headers"
    } else if seen.tls_started.is_some() {
        "tls handshake"
    } else if seen.dns_started.is_some() && seen.dns_done.is_none() {
        "dns"
    } else {
        "connect"
    }
}

/// Refuses a head larger than curl accepts.
fn check_head_size(headers: &reqwest::header::HeaderMap) -> Result<(), HttpError> {
    let mut total = 0usize;
    for (name, value) in headers {
        let line = name.as_str().len() + value.len() + 4;
        if line > MAX_HEADER_LINE {
            return Err(HttpError::TooLarge {
                what: "header line",
                limit: MAX_HEADER_LINE,
            });
        }
        total += line;
    }
    if total > MAX_HEAD {
        return Err(HttpError::TooLarge {
            what: "headers",
            limit: MAX_HEAD,
        });
    }
    Ok(())
}

/// The request as reqwest builds it; the method, headers and body checked first.
fn build_request(
    client: &reqwest::Client,
    req: &Request,
) -> Result<reqwest::RequestBuilder, HttpError> {
    if !is_token(&req.method) {
        return Err(HttpError::InvalidRequest(format!(
            "method {:?} is not a token",
            clip(&req.method)
        )));
    }
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|e| HttpError::InvalidRequest(format!("method {:?}: {e}", clip(&req.method))))?;
    let url = reqwest::Url::parse(req.url.trim())
        .map_err(|e| HttpError::InvalidUrl(format!("{:?}: {e}", clip(&req.url))))?;
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &req.headers {
        check_header(name, value)?;
        // Framing and connection handling are the client's: a caller's value could contradict
        // the body actually sent and leave the server waiting.
        if ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|managed| name.eq_ignore_ascii_case(managed))
        {
            continue;
        }
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| HttpError::InvalidRequest(format!("header {}: {e}", clip(name))))?;
        let value = reqwest::header::HeaderValue::from_str(value)
            .map_err(|e| HttpError::InvalidRequest(format!("header {name}: {e}")))?;
        headers.append(name, value);
    }
    let mut builder = client.request(method, url).headers(headers);
    match &req.body {
        Some(body) => builder = builder.body(body.clone()),
        // Servers may wait for a body on these methods unless told there is none.
        None if ["POST", "PUT", "PATCH"]
            .iter()
            .any(|m| req.method.eq_ignore_ascii_case(m)) =>
        {
            builder = builder.body(Vec::new());
        }
        None => {}
    }
    Ok(builder)
}

/// Reads the body up to the request's limit.
async fn read_body(
    response: &mut reqwest::Response,
    req: &Request,
) -> Result<(Vec<u8>, bool), HttpError> {
    let announced = response.content_length();
    if !req.truncate_body
        && announced.is_some_and(|n| usize::try_from(n).map_or(true, |n| n > req.max_body))
    {
        return Err(HttpError::TooLarge {
            what: "body",
            limit: req.max_body,
        });
    }
    let chunked = response
        .headers()
        .get(reqwest::header::TRANSFER_ENCODING)
        .is_some();
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            let got = body.len();
            HttpError::Protocol(match announced {
                Some(length) if !chunked => format!(
                    "the connection closed after {got} of {length} body bytes: {}",
                    error_chain(&e)
                ),
                _ if chunked => format!(
                    "the body broke off after {got} bytes, before its last chunk: {}",
                    error_chain(&e)
                ),
                _ => format!("the body broke off after {got} bytes: {}", error_chain(&e)),
            })
        })?;
        let Some(chunk) = chunk else {
            return Ok((body, false));
        };
        if chunk.len() > req.max_body.saturating_sub(body.len()) {
            if req.truncate_body {
                let room = req.max_body.saturating_sub(body.len());
                body.extend_from_slice(chunk.get(..room).unwrap_or_default());
                return Ok((body, true));
            }
            return Err(HttpError::TooLarge {
                what: "body",
                limit: req.max_body,
            });
        }
        body.extend_from_slice(&chunk);
    }
}

/// Sends one request and reads the response, over HTTP/1.1 or HTTP/2 (ALPN), on a kept-alive
/// connection when one is open. `https://` verifies the certificate against the request's trust
/// roots and fails with [`HttpError::Tls`] (carrying the certificate) when it does not verify.
/// Redirects are returned, not followed (callers judge and follow them, recording every hop).
/// Loopback URLs never go through a proxy; others follow `HTTP(S)_PROXY`/`NO_PROXY`, and the
/// response names the proxy used.
pub async fn send(req: &Request) -> Result<Response, HttpError> {
    let started = Instant::now();
    let deadline = deadline_after(started, req.timeout);
    let target = parse_target(&req.url, "http", "https")?;
    let clients = clients(&req.tls, target.secure).await?;
    let proxy = proxy_for(&target, &req.url);
    let client = match &proxy {
        None => &clients.direct,
        Some(_) => clients
            .proxied
            .get_or_init(|| build_client(&clients.roots, true))
            .as_ref()
            .map_err(|reason| {
                HttpError::InvalidRequest(format!(
                    "cannot use the proxy from the environment: {reason}"
                ))
            })?,
    };
    let request = build_request(client, req)?;

    let traced: trace::Shared = Arc::default();
    let exchange = async {
        let response = request.send().await?;
        trace::update_current(|t| t.headers = Some(Instant::now()));
        Ok::<_, reqwest::Error>(response)
    };
    let result = trace::scope(Arc::clone(&traced), timeout_at(deadline, exchange)).await;
    let timeout = |seen: &Trace| HttpError::Timeout {
        after: req.timeout,
        stage: stage(seen),
    };
    let mut response = match result {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            return Err(classify(
                &err,
                &trace::take(&traced),
                &target,
                &clients.roots,
            ));
        }
        Err(_) => return Err(timeout(&trace::take(&traced))),
    };
    check_head_size(response.headers())?;
    let (body, body_truncated) = match timeout_at(deadline, read_body(&mut response, req)).await {
        Ok(read) => read?,
        Err(_) => return Err(timeout(&trace::take(&traced))),
    };
    let seen = trace::take(&traced);
    let finished = Instant::now();
    let headers_at = seen.headers.unwrap_or(finished);
    let reused = seen.connected.is_none();
    let authority = format!("{}:{}", target.host, target.port);
    let version = match response.version() {
        reqwest::Version::HTTP_09 => "HTTP/0.9",
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        reqwest::Version::HTTP_2 => "HTTP/2",
        reqwest::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    };
    let tls = if target.secure {
        if reused {
            clients
                .certs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&authority)
                .cloned()
        } else {
            ServerName::try_from(target.host.clone()).ok().map(|name| {
                let mut info = tls::describe(
                    &tls::Seen {
                        chain: seen.chain.clone(),
                        verdict: seen.verdict.clone(),
                        rejected: false,
                    },
                    &clients.roots,
                    &name,
                );
                info.protocol = seen.protocol.map(str::to_owned);
                info.cipher_suite = seen.cipher_suite.map(|s| format!("{s:?}"));
                // Through the client only HTTP/2 is visible: `http/1.1` and no ALPN at all
                // look the same, so the field stays null for them.
                info.alpn = (version == "HTTP/2").then(|| "h2".to_owned());
                clients
                    .certs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(authority.clone(), info.clone());
                info
            })
        }
    } else {
        None
    };
    let ms_between = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
        (Some(from), Some(to)) => Some(ms(to.saturating_duration_since(from))),
        _ => None,
    };
    let timings = if reused {
        Timings {
            dns_ms: None,
            connect_ms: None,
            tls_ms: None,
            ttfb_ms: ms(headers_at.saturating_duration_since(started)),
            total_ms: ms(finished.saturating_duration_since(started)),
            reused_connection: true,
        }
    } else {
        let dns_ms = if seen.dns_started.is_some() {
            ms_between(seen.dns_started, seen.dns_done)
        } else {
            // No lookup for an IP literal.
            Some(0.0)
        };
        let tcp_from = seen.dns_done.or(seen.connect_started);
        let tcp_to = if target.secure {
            seen.tls_started
        } else {
            seen.connected
        };
        Timings {
            dns_ms,
            connect_ms: ms_between(tcp_from, tcp_to),
            tls_ms: if target.secure {
                ms_between(seen.tls_started, seen.connected)
            } else {
                None
            },
            ttfb_ms: ms(headers_at.saturating_duration_since(seen.connected.unwrap_or(started))),
            total_ms: ms(finished.saturating_duration_since(started)),
            reused_connection: false,
        }
    };
    let status = response.status();
    Ok(Response {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or_default().to_owned(),
        headers: response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        body_truncated,
        remote: response.remote_addr(),
        version,
        proxy,
        timings,
        tls,
    })
}

/// Decompresses `body` per a `Content-Encoding` value (codings in the order applied), with the
/// output capped at [`DEFAULT_MAX_BODY`].
pub(crate) fn decode<'a>(body: &'a [u8], encoding: Option<&str>) -> Result<Cow<'a, [u8]>, String> {
    use std::io::Read as _;
    let mut data = Cow::Borrowed(body);
    let codings: Vec<String> = encoding
        .unwrap_or_default()
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    let limit = u64::try_from(DEFAULT_MAX_BODY).unwrap_or(u64::MAX);
    for coding in codings.iter().rev() {
        let mut out = Vec::new();
        let read = match coding.as_str() {
            "identity" => continue,
            "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(data.as_ref())
                .take(limit)
                .read_to_end(&mut out),
            "deflate" => {
                // RFC 9110 says zlib-wrapped; some servers send raw deflate.
                let zlib = flate2::read::ZlibDecoder::new(data.as_ref())
                    .take(limit)
                    .read_to_end(&mut out);
                if zlib.is_err() {
                    out.clear();
                    flate2::read::DeflateDecoder::new(data.as_ref())
                        .take(limit)
                        .read_to_end(&mut out)
                } else {
                    zlib
                }
            }
            "br" => brotli::Decompressor::new(data.as_ref(), 4096)
                .take(limit)
                .read_to_end(&mut out),
            other => return Err(format!("unsupported content-encoding {:?}", clip(other))),
        };
        read.map_err(|e| format!("{coding} body does not decompress: {e}"))?;
        data = Cow::Owned(out);
    }
    Ok(data)
}

/// Cheap readiness probe: TCP connect to `host:port`, trying every resolved address (both
/// `127.0.0.1` and `::1` for `localhost`) in quick succession, and returning the first address
/// that accepted with the milliseconds it took (resolution included). The connection is closed
/// at once, without sending anything. `host` may be an IPv6 literal, with or without brackets.
pub async fn tcp_connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(SocketAddr, f64), HttpError> {
    let started = Instant::now();
    let deadline = deadline_after(started, timeout);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(invalid_url("empty host"));
    }
    let addrs = resolve::resolve(host, port, deadline, timeout).await?;
    let (_stream, addr) = resolve::connect(&addrs, deadline, timeout).await?;
    Ok((addr, ms(started.elapsed())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probe::h1::find_head_end;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    const T: Duration = Duration::from_secs(5);

    /// Reads a request head (and a body of `Content-Length` bytes) from a test client.
    async fn read_request(stream: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = find_head_end(&buf, 0) {
                let head = String::from_utf8_lossy(&buf[..end.0]).to_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                if buf.len() >= end.1 + length {
                    return String::from_utf8_lossy(&buf).into_owned();
                }
            }
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                return String::from_utf8_lossy(&buf).into_owned();
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Serves one connection: reads the request, writes `parts` (with a flush between them, so
    /// the client sees them split), then closes. Returns the request text.
    async fn serve_once(listener: TcpListener, parts: Vec<Vec<u8>>) -> String {
        let (mut stream, _) = listener.accept().await.unwrap();
        let request = read_request(&mut stream).await;
        for part in parts {
            stream.write_all(&part).await.unwrap();
            stream.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        request
    }

    async fn server(parts: &[&[u8]]) -> (SocketAddr, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let parts = parts.iter().map(|p| p.to_vec()).collect();
        (addr, tokio::spawn(serve_once(listener, parts)))
    }

    #[tokio::test]
    async fn content_length_body_and_headers() {
        let (addr, served) = server(&[
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\nhe",
            b"llo",
        ])
        .await;
        let url = format!("http://{addr}/health?x=1");
        let resp = send(&Request::get(&url, T).header("X-Probe", "yes"))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.reason, "OK");
        assert_eq!(resp.body, b"hello");
        assert_eq!(resp.header("CONTENT-TYPE"), Some("text/plain"));
        assert_eq!(resp.headers_all("set-cookie"), vec!["a=1", "b=2"]);
        assert_eq!(resp.headers[0].0, "content-type");
        assert_eq!(resp.remote, Some(addr));
        assert_eq!(resp.version, "HTTP/1.1");
        assert!(!resp.timings.reused_connection);
        assert!(resp.timings.connect_ms.is_some() && resp.timings.dns_ms == Some(0.0));
        assert!(resp.tls.is_none() && resp.timings.tls_ms.is_none());
        assert!(resp.timings.total_ms >= resp.timings.ttfb_ms);
        let request = served.await.unwrap();
        assert!(
            request.starts_with("GET /health?x=1 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("\r\nHost: {addr}\r\n")),
            "{request}"
        );
        assert!(request.contains("\r\nX-Probe: yes\r\n"));
        assert!(!request.to_lowercase().contains("content-length"));
    }

    #[tokio::test]
    async fn chunked_body_is_decoded() {
        let (addr, _served) = server(&[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 999\r\n\r\n",
            b"5;ext=1\r\nhello\r\n",
            b"7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
        ])
        .await;
        let resp = send(&Request::get(&format!("http://{addr}/"), T))
            .await
            .unwrap();
        assert_eq!(resp.text(), "hello, world");
    }

    #[tokio::test]
    async fn read_to_close_body() {
        let (addr, _served) =
            server(&[b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of ", b"this"]).await;
        let resp = send(&Request::get(&format!("http://{addr}/"), T))
            .await
            .unwrap();
        assert_eq!(resp.text(), "all of this");
    }

    /// A server that writes its response and keeps the connection open: a client that expected
    /// a body would hang until the deadline.
    async fn server_holding_open(response: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            stream.write_all(response).await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        addr
    }

    #[tokio::test]
    async fn no_body_for_204_304_and_head() {
        let started = Instant::now();
        let addr = server_holding_open(b"HTTP/1.1 204 No Content\r\n\r\n").await;
        let resp = send(&Request::get(&format!("http://{addr}/"), T))
            .await
            .unwrap();
        assert_eq!((resp.status, resp.body.len()), (204, 0));

        let addr =
            server_holding_open(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n").await;
        let resp = send(&Request::get(&format!("http://{addr}/"), T))
            .await
            .unwrap();
        assert_eq!((resp.status, resp.body.len()), (304, 0));

        let addr = server_holding_open(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n").await;
        let resp = send(&Request::new("HEAD", &format!("http://{addr}/"), T))
            .await
            .unwrap();
        assert_eq!(
            (resp.status, resp.header("content-length")),
            (200, Some("1000"))
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn redirect_is_reported_not_followed() {
        let (addr, _served) = server(&[
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://example.test/\r\nContent-Length: 0\r\n\r\n",
        ])
        .await;
        let resp = send(&Request::get(&format!("http://{addr}/old"), T))
            .await
            .unwrap();
        assert_eq!(resp.status, 301);
        assert_eq!(resp.header("location"), Some("https://example.test/"));
    }

    #[tokio::test]
    async fn interim_responses_are_skipped() {
        let (addr, _served) = server(&[
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n",
            b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        ])
        .await;
        let resp = send(&Request::new("POST", &format!("http://{addr}/"), T).body("x"))
            .await
            .unwrap();
        assert_eq!((resp.status, resp.text().as_ref()), (201, "ok"));
    }

    #[tokio::test]
    async fn post_body_is_sent_with_content_length() {
        let (addr, served) = server(&[b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]).await;
        let req = Request::new("POST", &format!("http://{addr}/api"), T)
            .header("Content-Type", "application/json")
            .header("Content-Length", "999")
            .body(&b"{\"a\":1}"[..]);
        send(&req).await.unwrap();
        let request = served.await.unwrap();
        assert!(request.contains("\r\nContent-Length: 7\r\n"), "{request}");
        assert!(!request.contains("999"));
        assert!(request.ends_with("\r\n\r\n{\"a\":1}"), "{request}");
    }

    #[tokio::test]
    async fn cors_preflight_headers_are_sent_verbatim() {
        let (addr, served) = server(&[
            b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: http://app.test\r\nAccess-Control-Allow-Headers: x-custom\r\n\r\n",
        ])
        .await;
        let req = Request::new("OPTIONS", &format!("http://{addr}/api"), T)
            .header("Origin", "http://app.test")
            .header("Access-Control-Request-Method", "PUT")
            .header("Access-Control-Request-Headers", "x-custom");
        let resp = send(&req).await.unwrap();
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("http://app.test")
        );
        let request = served.await.unwrap();
        assert!(request.starts_with("OPTIONS /api HTTP/1.1\r\n"));
        assert!(request.contains("\r\nAccess-Control-Request-Headers: x-custom\r\n"));
    }

    #[tokio::test]
    async fn server_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let started = Instant::now();
        let err = send(&Request::get(
            &format!("http://{addr}/"),
            Duration::from_millis(200),
        ))
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                HttpError::Timeout {
                    stage: "response headers",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.kind(), "timeout");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    /// A listener on `[::1]`, port 0. A machine without IPv6 loopback cannot run the test, and
    /// a test that ran nothing must not pass: it fails naming what is missing (as
    /// `probe::db::testutil::absent` does for services).
    pub(crate) async fn ipv6_loopback_listener() -> TcpListener {
        TcpListener::bind("[::1]:0").await.unwrap_or_else(|e| {
            panic!("this test cannot run here: IPv6 loopback [::1] cannot be bound ({e})")
        })
    }

    #[tokio::test]
    async fn localhost_reaches_a_server_on_ipv6_loopback_only() {
        let listener = ipv6_loopback_listener().await;
        let port = listener.local_addr().unwrap().port();
        let served = tokio::spawn(serve_once(
            listener,
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6".to_vec()],
        ));
        let resp = send(&Request::get(&format!("http://localhost:{port}/"), T))
            .await
            .unwrap();
        assert_eq!(resp.text(), "v6");
        assert_eq!(
            resp.remote,
            Some(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
        );
        let request = served.await.unwrap();
        assert!(request.contains(&format!("\r\nHost: localhost:{port}\r\n")));
    }

    #[tokio::test]
    async fn tcp_connect_finds_either_loopback_family() {
        let v6 = ipv6_loopback_listener().await;
        let port = v6.local_addr().unwrap().port();
        let (addr, ms) = tcp_connect("localhost", port, T).await.unwrap();
        assert_eq!(addr, SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
        assert!(ms < 1000.0);
        let (addr, _) = tcp_connect("[::1]", port, T).await.unwrap();
        assert!(addr.is_ipv6());
        let v4 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = v4.local_addr().unwrap().port();
        let (addr, _) = tcp_connect("localhost", port, T).await.unwrap();
        assert_eq!(addr, v4.local_addr().unwrap());
    }

    #[tokio::test]
    async fn ipv6_literal_url() {
        let listener = ipv6_loopback_listener().await;
        let addr = listener.local_addr().unwrap();
        let served = tokio::spawn(serve_once(
            listener,
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()],
        ));
        let resp = send(&Request::get(&format!("http://[::1]:{}/", addr.port()), T))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        let request = served.await.unwrap();
        assert!(request.contains(&format!("\r\nHost: [::1]:{}\r\n", addr.port())));
    }

    /// A loopback port that refuses connections on both families. The sockets stay bound (but
    /// not listening) while the guard lives, so no parallel test can be handed the port.
    pub(crate) fn refusing_port() -> (u16, Vec<tokio::net::TcpSocket>) {
        loop {
            let v4 = tokio::net::TcpSocket::new_v4().unwrap();
            v4.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let port = v4.local_addr().unwrap().port();
            let Ok(v6) = tokio::net::TcpSocket::new_v6() else {
                return (port, vec![v4]);
            };
            if v6
                .bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
                .is_ok()
            {
                return (port, vec![v4, v6]);
            }
            if v6.bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).is_err() {
                return (port, vec![v4]); // No IPv6 loopback: ::1 refuses anyway.
            }
        }
    }

    #[tokio::test]
    async fn closed_port_is_connection_refused_on_every_address() {
        let (port, _guard) = refusing_port();
        let started = Instant::now();
        let err = send(&Request::get(&format!("http://localhost:{port}/"), T))
            .await
            .unwrap_err();
        let HttpError::Connect { addrs, reason } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(addrs.len(), 2);
        assert!(
            reason.contains("127.0.0.1") && reason.contains("[::1]"),
            "{reason}"
        );
        assert_eq!(err.kind(), "refused");
        let err = tcp_connect("127.0.0.1", port, T).await.unwrap_err();
        assert_eq!(err.kind(), "refused");
        // Refusals start the next attempt at once: no Happy Eyeballs delay on loopback.
        assert!(started.elapsed() < Duration::from_millis(200));
    }

    #[tokio::test]
    async fn body_limits_are_enforced() {
        let (addr, _s) = server(&[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"]).await;
        let err = send(&Request::get(&format!("http://{addr}/"), T).max_body(10))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                HttpError::TooLarge {
                    what: "body",
                    limit: 10
                }
            ),
            "{err:?}"
        );

        let (addr, _s) = server(&[b"HTTP/1.1 200 OK\r\n\r\n", &[b'x'; 64]]).await;
        let err = send(&Request::get(&format!("http://{addr}/"), T).max_body(10))
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::TooLarge { .. }), "{err:?}");

        let (addr, _s) = server(&[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
        ])
        .await;
        let err = send(&Request::get(&format!("http://{addr}/"), T).max_body(10))
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::TooLarge { .. }), "{err:?}");

        let huge_head = format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n",
            "a".repeat(MAX_HEADER_LINE + 10)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_once(listener, vec![huge_head.into_bytes()]));
        let err = send(&Request::get(&format!("http://{addr}/"), T))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                HttpError::TooLarge {
                    what: "header line",
                    ..
                }
            ),
            "{err:?}"
        );

        // An 80 KiB header is within what curl accepts: the status is read.
        let big_head = format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 0\r\n\r\n",
            "a".repeat(80 * 1024)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_once(listener, vec![big_head.into_bytes()]));
        let resp = send(&Request::get(&format!("http://{addr}/"), T))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);

        // A body past the limit is cut, not failed, when only a prefix was asked for.
        let (addr, _s) = server(&[
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            &[b'x'; 100],
        ])
        .await;
        let resp = send(&Request::get(&format!("http://{addr}/"), T).body_prefix(10))
            .await
            .unwrap();
        assert_eq!(
            (resp.status, resp.body.len(), resp.body_truncated),
            (200, 10, true)
        );
    }

    #[tokio::test]
    async fn truncated_and_malformed_responses_are_protocol_errors() {
        let cases: [(&[u8], &str); 6] = [
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                "after 3 of 10",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                "last chunk",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "chunk size",
            ),
            (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.x response"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab",
                "content-length",
            ),
            (b"", "without answering"),
        ];
        for (response, expected) in cases {
            let (addr, _s) = server(&[response]).await;
            let err = send(&Request::get(&format!("http://{addr}/"), T))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, HttpError::Protocol(m) if m.to_lowercase().contains(&expected.to_lowercase())),
                "{expected}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn tls_reply_on_plain_http_is_explained() {
        // What a TLS server sends to a plaintext ClientHello-less request: an alert record.
        let (addr, _s) = server(&[&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]]).await;
        let err = send(&Request::get(&format!("http://{addr}/"), T))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("https://"), "{err}");
    }

    #[tokio::test]
    async fn local_get_is_fast() {
        // Best of three, so one scheduling hiccup on a loaded 2-core CI machine is not a failure;
        // a real slowness (a resolver call, a Happy Eyeballs delay) shows in every attempt.
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let (addr, _s) = server(&[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]).await;
            let started = std::time::Instant::now();
            let resp = send(&Request::get(
                &format!("http://localhost:{}/healthz", addr.port()),
                T,
            ))
            .await
            .unwrap();
            best = best.min(started.elapsed());
            assert_eq!(resp.status, 200);
        }
        assert!(best < Duration::from_millis(50), "{best:?}");
    }

    #[tokio::test]
    async fn content_encoding_is_reported_not_decoded() {
        let gzip_magic: &[u8] = &[0x1f, 0x8b, 0x08, 0x00, 0x00];
        let mut response =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/css\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\n"
                .to_vec();
        response.extend_from_slice(gzip_magic);
        let (addr, served) = server(&[&response]).await;
        let req =
            Request::get(&format!("http://{addr}/app.css"), T).header("Accept-Encoding", "gzip");
        let resp = send(&req).await.unwrap();
        assert_eq!(resp.header("content-encoding"), Some("gzip"));
        assert_eq!(resp.body, gzip_magic);
        assert!(
            served
                .await
                .unwrap()
                .contains("\r\nAccept-Encoding: gzip\r\n")
        );
    }

    #[test]
    fn urls_are_parsed() {
        let t = parse_target("http://Example.COM", "http", "https").unwrap();
        assert_eq!(
            (
                t.secure,
                t.host.as_str(),
                t.port,
                t.path.as_str(),
                t.authority.as_str()
            ),
            (false, "example.com", 80, "/", "example.com")
        );
        let t = parse_target("https://a.test:8443/p/q?x=1#frag", "http", "https").unwrap();
        assert_eq!((t.port, t.path.as_str()), (8443, "/p/q?x=1"));
        assert_eq!(t.authority, "a.test:8443");
        let t = parse_target("https://a.test:443?q", "http", "https").unwrap();
        assert_eq!((t.path.as_str(), t.authority.as_str()), ("/?q", "a.test"));
        let t = parse_target("http://[::1]:3000/x", "http", "https").unwrap();
        assert_eq!(
            (t.host.as_str(), t.authority.as_str()),
            ("::1", "[::1]:3000")
        );
        let t = parse_target("ws://h/é", "ws", "wss").unwrap();
        assert_eq!(t.path, "/%C3%A9");
        for bad in [
            "ftp://a",
            "a.test/x",
            "http://",
            "http://a:0/",
            "http://a:99999/",
            "http://a:x/",
            "http://u:p@a/",
            "http://::1/",
            "http://[::1/",
            "http://[zz]/",
            "http://a b/",
            "http://a/b c",
            "http://a/b\r\nX-Injected: 1",
            "http://bücher.example/",
        ] {
            assert!(
                matches!(
                    parse_target(bad, "http", "https"),
                    Err(HttpError::InvalidUrl(_))
                ),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn header_injection_is_refused_before_connecting() {
        let req = Request::get("http://127.0.0.1:9/", T).header("X-A", "1\r\nX-B: 2");
        assert!(matches!(
            send(&req).await,
            Err(HttpError::InvalidRequest(_))
        ));
        let req = Request::get("http://127.0.0.1:9/", T).header("Bad Name", "1");
        assert!(matches!(
            send(&req).await,
            Err(HttpError::InvalidRequest(_))
        ));
        let req = Request::new("GET /x", "http://127.0.0.1:9/", T);
        assert!(matches!(
            send(&req).await,
            Err(HttpError::InvalidRequest(_))
        ));
    }
}
