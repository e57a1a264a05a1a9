//! A small HTTP/1.1 client for the readiness and integration probes: one request per connection
//! (`Connection: close`) over plain TCP or TLS, and a bare TCP connect for the cheapest
//! "is it listening yet" poll.
//!
//! It is deliberately not a general client. Redirects are reported, not followed (the gate
//! judges them); `Content-Encoding` is reported, not decoded (the gate checks that compression is
//! on). What it does guarantee is what a probe needs: no panics on any peer input, every read
//! bounded in size ([`MAX_HEAD`] for headers, [`Request::max_body`] for bodies) and every stage
//! bounded by the request's one deadline, timings per stage, and `localhost` reaching servers
//! bound to either `127.0.0.1` or `::1`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use super::resolve;
use super::tls::{self, TlsConfig, TlsInfo};

/// Default cap on a response body: large enough for any static asset worth checking, small
/// enough that a misbehaving server cannot exhaust memory.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;

/// Cap on the status line plus headers of one response (what most servers accept for requests).
pub const MAX_HEAD: usize = 64 * 1024;

/// Cap on one chunk-size or trailer line.
const MAX_LINE: usize = 4 * 1024;

/// How much buffer each socket read may fill.
const READ_CHUNK: usize = 16 * 1024;

/// Largest up-front allocation for a body whose `Content-Length` was announced: the header is
/// the peer's word, so memory is committed only as bytes arrive.
const MAX_PREALLOC: usize = 1024 * 1024;

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

    /// Sets the TLS trust configuration (e.g. a private CA).
    #[must_use]
    pub fn tls(mut self, tls: TlsConfig) -> Request {
        self.tls = tls;
        self
    }
}

/// Where the time of one exchange went, in milliseconds. Each field is the duration of its own
/// stage, except `total_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Name resolution (zero for IP literals and `localhost`).
    pub dns_ms: f64,
    /// TCP connect, including attempts at addresses that failed.
    pub connect_ms: f64,
    /// TLS handshake, for `https://`.
    pub tls_ms: Option<f64>,
    /// From sending the request to the first response byte: the server's think time.
    pub ttfb_ms: f64,
    /// Start to last body byte.
    pub total_ms: f64,
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
    /// Body, de-chunked but not decompressed (see the `content-encoding` header).
    pub body: Vec<u8>,
    /// The address that accepted the connection.
    pub remote: SocketAddr,
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

    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
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
            HttpError::Tls { .. } => "tls",
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

/// The request bytes: request line, headers, body.
fn encode_request(req: &Request, target: &Target) -> Result<Vec<u8>, HttpError> {
    if !is_token(&req.method) {
        return Err(HttpError::InvalidRequest(format!(
            "method {:?} is not a token",
            clip(&req.method)
        )));
    }
    let has = |name: &str| {
        req.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    let mut head = String::with_capacity(256);
    for part in [req.method.as_str(), " ", &target.path, " HTTP/1.1\r\n"] {
        head.push_str(part);
    }
    let mut line = |name: &str, value: &str| {
        for part in [name, ": ", value, "\r\n"] {
            head.push_str(part);
        }
    };
    if !has("host") {
        line("Host", &target.authority);
    }
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
        line(name, value);
    }
    if !has("user-agent") {
        line(
            "User-Agent",
            concat!("devops-agent/", env!("CARGO_PKG_VERSION")),
        );
    }
    if !has("accept") {
        line("Accept", "*/*");
    }
    line("Connection", "close");
    match &req.body {
        Some(body) => line("Content-Length", &body.len().to_string()),
        // Servers may wait for a body on these methods unless told there is none.
        None if ["POST", "PUT", "PATCH"]
            .iter()
            .any(|m| req.method.eq_ignore_ascii_case(m)) =>
        {
            line("Content-Length", "0");
        }
        None => {}
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if let Some(body) = &req.body {
        bytes.extend_from_slice(body);
    }
    Ok(bytes)
}

/// Status line and headers of one response.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<(String, String)>,
}

/// Finds the blank line ending a response head, searching from `from`. Returns where the head's
/// text ends and where the body starts. Accepts bare `\n` line ends, as lenient clients do.
fn find_head_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    loop {
        let newline = at + buf.get(at..)?.iter().position(|&b| b == b'\n')?;
        match (buf.get(newline + 1), buf.get(newline + 2)) {
            (Some(b'\n'), _) => return Some((newline, newline + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((newline, newline + 3)),
            _ => at = newline + 1,
        }
    }
}

/// Explains a first line that is not an HTTP/1.x status line.
fn not_http(first_line: &str) -> HttpError {
    if first_line.starts_with(['\u{15}', '\u{16}']) {
        return HttpError::Protocol(
            "the server answered with TLS: use https:// (or wss://)".to_owned(),
        );
    }
    HttpError::Protocol(format!("not an HTTP/1.x response: {:?}", clip(first_line)))
}

/// Parses a status line and header block (without the blank line).
fn parse_head(bytes: &[u8]) -> Result<Head, HttpError> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let rest = status_line
        .strip_prefix("HTTP/1.")
        .ok_or_else(|| not_http(status_line))?;
    let mut parts = rest.splitn(3, ' ');
    let _minor = parts.next();
    let code = parts.next().unwrap_or_default();
    let reason = parts.next().unwrap_or_default().trim().to_owned();
    let status = match code.parse::<u16>() {
        Ok(status) if code.len() == 3 && (100..=999).contains(&status) => status,
        _ => return Err(not_http(status_line)),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding (RFC 9112 §5.2): the line continues the previous value.
            let Some((_, value)) = headers.last_mut() else {
                return Err(HttpError::Protocol(
                    "header block starts with a continuation line".to_owned(),
                ));
            };
            value.push(' ');
            value.push_str(line.trim_matches([' ', '\t']));
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            HttpError::Protocol(format!("malformed header line {:?}", clip(line)))
        })?;
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(HttpError::Protocol(format!(
                "malformed header name {:?}",
                clip(name)
            )));
        }
        headers.push((
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_owned(),
        ));
    }
    Ok(Head {
        status,
        reason,
        headers,
    })
}

/// A connection's read side with its buffer: bytes read past the current parse position stay
/// here for the next one (a body after its head, a frame after a handshake).
pub(crate) struct Wire<S> {
    io: S,
    buf: Vec<u8>,
    first_byte: Option<Instant>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    pub(crate) fn new(io: S) -> Self {
        Wire {
            io,
            buf: Vec::new(),
            first_byte: None,
        }
    }

    /// The connection, for writing.
    pub(crate) fn io(&mut self) -> &mut S {
        &mut self.io
    }

    /// When the first response byte arrived.
    pub(crate) fn first_byte(&self) -> Option<Instant> {
        self.first_byte
    }

    /// Reads once more into the buffer; 0 means end of stream. A TLS peer that closes without
    /// `close_notify` (most servers, after `Connection: close`) counts as end of stream; a body cut
    /// short is caught by its framing instead.
    async fn fill(&mut self) -> Result<usize, HttpError> {
        self.buf.reserve(READ_CHUNK);
        let read = match self.io.read_buf(&mut self.buf).await {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(err) => {
                return Err(HttpError::Protocol(format!(
                    "connection error while reading: {err}"
                )));
            }
        };
        if read > 0 && self.first_byte.is_none() {
            self.first_byte = Some(Instant::now());
        }
        Ok(read)
    }

    /// Buffers at least `n` bytes; false when the stream ended first.
    pub(crate) async fn ensure(&mut self, n: usize) -> Result<bool, HttpError> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The first `n` buffered bytes, if buffered.
    pub(crate) fn peek(&self, n: usize) -> Option<&[u8]> {
        self.buf.get(..n)
    }

    /// Drops the first `n` buffered bytes.
    pub(crate) fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
    }

    /// Reads one response head (status line and headers), leaving what follows buffered.
    pub(crate) async fn read_head(&mut self) -> Result<Head, HttpError> {
        let mut scanned = 0;
        loop {
            // Tolerate blank lines before the status line (RFC 9112 §2.2).
            let blank = self
                .buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blank > 0 {
                self.consume(blank);
                scanned = 0;
            }
            if let Some((head_end, body_start)) = find_head_end(&self.buf, scanned) {
                if head_end > MAX_HEAD {
                    return Err(HttpError::TooLarge {
                        what: "headers",
                        limit: MAX_HEAD,
                    });
                }
                let head = parse_head(self.buf.get(..head_end).unwrap_or_default())?;
                self.consume(body_start);
                return Ok(head);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(HttpError::TooLarge {
                    what: "headers",
                    limit: MAX_HEAD,
                });
            }
            scanned = self.buf.len().saturating_sub(3);
            if self.fill().await? == 0 {
                return Err(match self.buf.first() {
                    None => HttpError::Protocol(
                        "the server closed the connection without answering".to_owned(),
                    ),
                    Some(0x15 | 0x16) => not_http("\u{16}"),
                    Some(_) => HttpError::Protocol(
                        "the connection closed in the middle of the response headers".to_owned(),
                    ),
                });
            }
        }
    }

    /// Reads one line (without its line end), at most `max` bytes; `None` at end of stream.
    async fn read_line(&mut self, max: usize) -> Result<Option<String>, HttpError> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = self
                .buf
                .get(scanned..)
                .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            {
                let end = scanned + pos;
                let line = self.buf.get(..end).unwrap_or_default();
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let line = String::from_utf8_lossy(line).into_owned();
                self.consume(end + 1);
                return Ok(Some(line));
            }
            if self.buf.len() > max {
                return Err(HttpError::Protocol(format!(
                    "a chunked-encoding line is longer than {max} bytes"
                )));
            }
            scanned = self.buf.len();
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Moves exactly `n` bytes to `out`; false when the stream ended first.
    pub(crate) async fn read_exact_into(
        &mut self,
        n: usize,
        out: &mut Vec<u8>,
    ) -> Result<bool, HttpError> {
        let mut left = n;
        loop {
            let take = left.min(self.buf.len());
            out.extend(self.buf.drain(..take));
            left -= take;
            if left == 0 {
                return Ok(true);
            }
            if self.fill().await? == 0 {
                return Ok(false);
            }
        }
    }

    /// Everything until the peer closes, at most `max` bytes.
    async fn read_to_close(&mut self, max: usize) -> Result<Vec<u8>, HttpError> {
        loop {
            if self.buf.len() > max {
                return Err(HttpError::TooLarge {
                    what: "body",
                    limit: max,
                });
            }
            if self.fill().await? == 0 {
                return Ok(std::mem::take(&mut self.buf));
            }
        }
    }

    /// A chunked body (RFC 9112 §7.1), at most `max` bytes of data; trailers are discarded.
    async fn read_chunked(&mut self, max: usize) -> Result<Vec<u8>, HttpError> {
        let closed = || HttpError::Protocol("the connection closed before the last chunk".into());
        let mut body = Vec::new();
        loop {
            let line = self.read_line(MAX_LINE).await?.ok_or_else(closed)?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = if size_text.bytes().all(|b| b.is_ascii_hexdigit()) {
                usize::from_str_radix(size_text, 16).ok()
            } else {
                None
            }
            .ok_or_else(|| {
                HttpError::Protocol(format!("invalid chunk size {:?}", clip(size_text)))
            })?;
            if size == 0 {
                break;
            }
            if size > max.saturating_sub(body.len()) {
                return Err(HttpError::TooLarge {
                    what: "body",
                    limit: max,
                });
            }
            if !self.read_exact_into(size, &mut body).await? {
                return Err(closed());
            }
            match self.read_line(MAX_LINE).await? {
                Some(rest) if rest.is_empty() => {}
                Some(_) => {
                    return Err(HttpError::Protocol(
                        "chunk data longer than its declared size".to_owned(),
                    ));
                }
                None => return Err(closed()),
            }
        }
        let mut trailers = 0usize;
        // A peer that closes right after the last chunk has still sent the whole body.
        while let Some(line) = self.read_line(MAX_LINE).await? {
            if line.is_empty() {
                break;
            }
            trailers += line.len();
            if trailers > MAX_HEAD {
                return Err(HttpError::TooLarge {
                    what: "trailers",
                    limit: MAX_HEAD,
                });
            }
        }
        Ok(body)
    }
}

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Chunked,
    Length(u64),
    UntilClose,
}

fn framing(head: &Head, head_request: bool) -> Result<Framing, HttpError> {
    if head_request || head.status < 200 || head.status == 204 || head.status == 304 {
        return Ok(Framing::Empty);
    }
    let codings: Vec<String> = head
        .headers
        .iter()
        .filter(|(k, _)| k == "transfer-encoding")
        .flat_map(|(_, v)| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    if let Some(last) = codings.last() {
        // Transfer-Encoding overrides Content-Length; without a final `chunked` only the close
        // marks the end.
        return Ok(if last == "chunked" {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    let mut length: Option<u64> = None;
    for value in head
        .headers
        .iter()
        .filter(|(k, _)| k == "content-length")
        .flat_map(|(_, v)| v.split(','))
    {
        let value = value.trim();
        let parsed = value
            .parse::<u64>()
            .ok()
            .filter(|_| value.bytes().all(|b| b.is_ascii_digit()));
        match (parsed, length) {
            (Some(n), None) => length = Some(n),
            (Some(n), Some(seen)) if n == seen => {}
            _ => {
                return Err(HttpError::Protocol(format!(
                    "invalid or conflicting Content-Length {:?}",
                    clip(value)
                )));
            }
        }
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// Reads the body `head` announces.
pub(crate) async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &mut Wire<S>,
    head: &Head,
    head_request: bool,
    max: usize,
) -> Result<Vec<u8>, HttpError> {
    match framing(head, head_request)? {
        Framing::Empty => Ok(Vec::new()),
        Framing::Chunked => wire.read_chunked(max).await,
        Framing::UntilClose => wire.read_to_close(max).await,
        Framing::Length(length) => {
            let too_large = HttpError::TooLarge {
                what: "body",
                limit: max,
            };
            let n = usize::try_from(length).map_err(|_| HttpError::TooLarge {
                what: "body",
                limit: max,
            })?;
            if n > max {
                return Err(too_large);
            }
            let mut body = Vec::with_capacity(n.min(MAX_PREALLOC));
            if wire.read_exact_into(n, &mut body).await? {
                Ok(body)
            } else {
                Err(HttpError::Protocol(format!(
                    "the connection closed after {} of {n} body bytes",
                    body.len()
                )))
            }
        }
    }
}

/// What one exchange on an open connection produced.
struct Exchanged {
    head: Head,
    body: Vec<u8>,
    sent_at: Instant,
    first_byte: Instant,
}

/// Writes the request and reads the response on an open connection.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    request: &[u8],
    req: &Request,
    deadline: Instant,
) -> Result<Exchanged, HttpError> {
    let timeout = |stage| {
        move |_| HttpError::Timeout {
            after: req.timeout,
            stage,
        }
    };
    let mut wire = Wire::new(io);
    let sent_at = Instant::now();
    let write = timeout_at(deadline, async {
        wire.io().write_all(request).await?;
        wire.io().flush().await
    })
    .await
    .map_err(timeout("sending request"))?;
    let head = loop {
        let head = timeout_at(deadline, wire.read_head())
            .await
            .map_err(timeout("response headers"))
            .and_then(|read| read);
        let head = match (head, &write) {
            (Ok(head), _) => head,
            // A server may answer (413, 401) and close before reading a whole body; its answer
            // is worth more than the write error, so it is read first.
            (Err(_), Err(err)) => {
                return Err(HttpError::Protocol(format!(
                    "sending the request failed: {err}"
                )));
            }
            (Err(err), Ok(())) => return Err(err),
        };
        // Interim responses (100 Continue, 103 Early Hints) precede the real one.
        if (100..200).contains(&head.status) && head.status != 101 {
            continue;
        }
        break head;
    };
    let first_byte = wire.first_byte().unwrap_or(sent_at);
    let head_request = req.method.eq_ignore_ascii_case("HEAD");
    let body = timeout_at(
        deadline,
        read_body(&mut wire, &head, head_request, req.max_body),
    )
    .await
    .map_err(timeout("response body"))??;
    Ok(Exchanged {
        head,
        body,
        sent_at,
        first_byte,
    })
}

/// Sends one request and reads the whole response. `https://` verifies the certificate against
/// the request's trust roots and fails with [`HttpError::Tls`] (carrying the certificate) when
/// it does not verify. Redirects are returned, not followed.
pub async fn send(req: &Request) -> Result<Response, HttpError> {
    let started = Instant::now();
    let deadline = deadline_after(started, req.timeout);
    let target = parse_target(&req.url, "http", "https")?;
    let request = encode_request(req, &target)?;

    let addrs = resolve::resolve(&target.host, target.port, deadline, req.timeout).await?;
    let resolved = Instant::now();
    let (tcp, remote) = resolve::connect(&addrs, deadline, req.timeout).await?;
    // The request goes out in one write; don't let Nagle hold back a TLS record behind it.
    tcp.set_nodelay(true).ok();
    let connected = Instant::now();

    let (exchanged, tls, tls_ms) = if target.secure {
        let (stream, info) = tls::handshake(
            tcp,
            &target.host,
            &req.tls,
            tls::Verify::Enforce,
            &[b"http/1.1"],
            deadline,
            req.timeout,
        )
        .await?;
        let tls_ms = ms(connected.elapsed());
        (
            exchange(stream, &request, req, deadline).await?,
            Some(info),
            Some(tls_ms),
        )
    } else {
        (exchange(tcp, &request, req, deadline).await?, None, None)
    };
    let Exchanged {
        head,
        body,
        sent_at,
        first_byte,
    } = exchanged;
    Ok(Response {
        status: head.status,
        reason: head.reason,
        headers: head.headers,
        body,
        remote,
        timings: Timings {
            dns_ms: ms(resolved - started),
            connect_ms: ms(connected - resolved),
            tls_ms,
            ttfb_ms: ms(first_byte.saturating_duration_since(sent_at)),
            total_ms: ms(started.elapsed()),
        },
        tls,
    })
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
    use tokio::io::AsyncReadExt;
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
        assert_eq!(resp.remote, addr);
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
        assert!(request.contains("\r\nConnection: close\r\n"));
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

    #[tokio::test]
    async fn localhost_reaches_a_server_on_ipv6_loopback_only() {
        let Ok(listener) = TcpListener::bind("[::1]:0").await else {
            return; // No IPv6 loopback on this machine: nothing to prove.
        };
        let port = listener.local_addr().unwrap().port();
        let served = tokio::spawn(serve_once(
            listener,
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6".to_vec()],
        ));
        let resp = send(&Request::get(&format!("http://localhost:{port}/"), T))
            .await
            .unwrap();
        assert_eq!(resp.text(), "v6");
        assert_eq!(resp.remote, SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
        let request = served.await.unwrap();
        assert!(request.contains(&format!("\r\nHost: localhost:{port}\r\n")));
    }

    #[tokio::test]
    async fn tcp_connect_finds_either_loopback_family() {
        if let Ok(v6) = TcpListener::bind("[::1]:0").await {
            let port = v6.local_addr().unwrap().port();
            let (addr, ms) = tcp_connect("localhost", port, T).await.unwrap();
            assert_eq!(addr, SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
            assert!(ms < 1000.0);
            let (addr, _) = tcp_connect("[::1]", port, T).await.unwrap();
            assert!(addr.is_ipv6());
        }
        let v4 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = v4.local_addr().unwrap().port();
        let (addr, _) = tcp_connect("localhost", port, T).await.unwrap();
        assert_eq!(addr, v4.local_addr().unwrap());
    }

    #[tokio::test]
    async fn ipv6_literal_url() {
        let Ok(listener) = TcpListener::bind("[::1]:0").await else {
            return;
        };
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
            "a".repeat(MAX_HEAD + 10)
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
                    what: "headers",
                    ..
                }
            ),
            "{err:?}"
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
                "Content-Length",
            ),
            (b"", "without answering"),
        ];
        for (response, expected) in cases {
            let (addr, _s) = server(&[response]).await;
            let err = send(&Request::get(&format!("http://{addr}/"), T))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, HttpError::Protocol(m) if m.contains(expected)),
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

    #[test]
    fn head_parsing_is_lenient_where_clients_are() {
        let head = parse_head(b"HTTP/1.1 200\nA:1\nB:  x\n  folded\r\nC:").unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.reason, "");
        assert_eq!(
            head.headers,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x folded".into()),
                ("c".into(), String::new())
            ]
        );
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\n\nbody", 0), Some((15, 17)));
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\n\r\n", 0), Some((16, 19)));
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\n\r", 0), None);
        assert!(parse_head(b"HTTP/1.1 20x OK").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nno colon").is_err());
    }
}
