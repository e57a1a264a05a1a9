//! The plumbing every protocol probe shares: connecting to each address a host resolves to, a
//! buffered byte pipe whose every read is bounded in size, a cursor for parsing received bytes
//! without panicking, the record of how far a probe got (kept outside the probe's future so a
//! timeout can still report it), and the failure vocabulary the protocol modules return.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A byte stream, plain TCP or TLS over it.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why a probe stopped. Turned into words by `outcome.rs`, which knows the port and protocol.
#[derive(Debug)]
pub(crate) enum Fail {
    /// A socket error after connecting.
    Io(io::Error),
    /// The peer closed the connection.
    Closed,
    /// The peer sent bytes that do not fit the protocol; the text says how.
    Garbled(String),
    /// A final verdict in words, usually the server's own error, with its code if it has one.
    Said {
        message: String,
        code: Option<String>,
    },
}

impl Fail {
    /// A verdict without a server error code.
    pub(crate) fn said(message: impl Into<String>) -> Self {
        Self::Said {
            message: message.into(),
            code: None,
        }
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::Closed
        } else {
            Self::Io(e)
        }
    }
}

/// How far a probe got. Lives outside the probe's future so a timeout can still report it.
#[derive(Debug, Default, Clone)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent facts about how far a probe got, not states of one machine"
)]
pub(super) struct Partial {
    /// What the probe is waiting for now, for "timed out … waiting for …".
    pub(super) waiting_for: &'static str,
    pub(super) connected: bool,
    /// The server has said something valid in the protocol.
    pub(super) spoken: bool,
    /// The first bytes received, to show what a non-speaker said.
    pub(super) first_bytes: Vec<u8>,
    pub(super) connect_ms: Option<f64>,
    /// Set when the round trip after authentication succeeded, which is the verdict: what
    /// follows (QUIT, Close, INFO for the version) cannot turn it into a failure.
    pub(super) latency_ms: Option<f64>,
    pub(super) server_version: Option<String>,
    pub(super) tls: bool,
    /// A TLS handshake was started (`PostgreSQL`'s `prefer` falls back to plain if it fails).
    pub(super) tls_attempted: bool,
    /// Something worth a warning on a connection that works.
    pub(super) warning: Option<String>,
    /// A TLS handshake failed because the server and rustls share no protocol version or
    /// cipher suite (e.g. TLS 1.2 with only CBC suites), which OpenSSL-based clients may still
    /// negotiate: a failure after it is no verdict on what the app would see.
    pub(super) tls_incompatible: bool,
}

/// Shared record of a probe's progress (see [`Partial`]).
/// Cloning shares the record (the `PostgreSQL` probe's socket wrapper keeps a handle).
#[derive(Debug, Default, Clone)]
pub(crate) struct Progress(std::sync::Arc<Mutex<Partial>>);

impl Progress {
    /// Changes the record; the lock is never held across an await.
    pub(super) fn update(&self, f: impl FnOnce(&mut Partial)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub(super) fn snapshot(&self) -> Partial {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn waiting_for(&self, what: &'static str) {
        self.update(|p| p.waiting_for = what);
    }

    /// Marks that a handshake failed for want of a TLS version or cipher suite rustls
    /// implements (see [`Partial::tls_incompatible`]).
    pub(crate) fn tls_incompatible(&self) {
        self.update(|p| p.tls_incompatible = true);
    }

    /// Marks that the connection is encrypted from here on.
    pub(crate) fn tls_established(&self) {
        self.update(|p| p.tls = true);
    }

    /// Whether the server has answered in its protocol yet.
    pub(super) fn has_spoken(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).spoken
    }

    /// Marks that the server answered in its protocol.
    pub(super) fn spoken(&self) {
        self.update(|p| p.spoken = true);
    }

    pub(super) fn version(&self, version: impl Into<String>) {
        let v = version.into();
        self.update(|p| p.server_version = Some(v));
    }

    pub(super) fn latency(&self, since: Instant) {
        self.update(|p| p.latency_ms = Some(ms(since)));
    }
}

/// Milliseconds since `since`, rounded to microseconds.
pub(super) fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0
}

const FIRST_BYTES: usize = 48;
const CHUNK: usize = 8192;

/// A buffered connection. Reads never return more than the caller asked for, and callers bound
/// what they ask for, so a hostile peer cannot make the probe buffer without limit.
pub(super) struct Wire<'a> {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    pos: usize,
    progress: &'a Progress,
}

impl<'a> Wire<'a> {
    pub(super) fn new(io: Box<dyn Io>, progress: &'a Progress) -> Self {
        Self {
            io,
            buf: Vec::new(),
            pos: 0,
            progress,
        }
    }

    fn available(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Reads at least one more byte into the buffer.
    async fn fill(&mut self) -> Result<(), Fail> {
        if self.pos > 0 {
            self.buf.drain(..self.pos.min(self.buf.len()));
            self.pos = 0;
        }
        let mut chunk = [0u8; CHUNK];
        let n = self.io.read(&mut chunk).await?;
        let got = chunk.get(..n).unwrap_or_default();
        if got.is_empty() {
            return Err(Fail::Closed);
        }
        self.progress.update(|p| {
            let room = FIRST_BYTES.saturating_sub(p.first_bytes.len());
            p.first_bytes
                .extend_from_slice(got.get(..room.min(got.len())).unwrap_or_default());
        });
        self.buf.extend_from_slice(got);
        Ok(())
    }

    /// Reads exactly `n` bytes; callers check `n` against a protocol limit first.
    pub(super) async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, Fail> {
        while self.available().len() < n {
            self.fill().await?;
        }
        let out = self.available().get(..n).unwrap_or_default().to_vec();
        self.pos += n;
        Ok(out)
    }

    pub(super) async fn read_u8(&mut self) -> Result<u8, Fail> {
        if self.available().is_empty() {
            self.fill().await?;
        }
        let b = self.available().first().copied().ok_or(Fail::Closed)?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads one line of at most `max` bytes and returns it without its `\r\n` or `\n`.
    pub(super) async fn read_line(&mut self, max: usize) -> Result<Vec<u8>, Fail> {
        loop {
            if let Some(i) = self.available().iter().position(|&b| b == b'\n') {
                let mut line = self.available().get(..i).unwrap_or_default().to_vec();
                self.pos += i + 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.available().len() > max {
                return Err(Fail::Garbled(format!("a line longer than {max} bytes")));
            }
            self.fill().await?;
        }
    }

    pub(super) async fn send(&mut self, data: &[u8]) -> Result<(), Fail> {
        self.io.write_all(data).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Bytes received but not read yet.
    pub(super) fn buffered(&self) -> usize {
        self.available().len()
    }

    /// The stream, for a TLS upgrade. Callers check `buffered() == 0` first: bytes sent before
    /// the handshake must not be taken as if they came over TLS.
    pub(super) fn into_io(self) -> Box<dyn Io> {
        self.io
    }

    /// Closes politely; a failure here changes nothing about the verdict.
    pub(super) async fn close(mut self) {
        let _ = self.io.shutdown().await;
    }
}

/// Resolves `host` and connects to each address in turn until one accepts.
pub(super) async fn connect(host: &str, port: u16, progress: &Progress) -> Result<TcpStream, Fail> {
    progress.waiting_for("the host name to resolve");
    let resolved = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Fail::said(format!("could not resolve host {host:?}: {e}")))?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for a in resolved {
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    if addrs.is_empty() {
        return Err(Fail::said(format!("host {host:?} resolved to no address")));
    }
    progress.waiting_for("the TCP connection");
    let mut errors = Vec::new();
    for addr in addrs {
        let start = Instant::now();
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Probes send small messages and wait for each answer; Nagle would only delay.
                let _ = stream.set_nodelay(true);
                progress.update(|p| {
                    p.connect_ms = Some(ms(start));
                    p.connected = true;
                });
                return Ok(stream);
            }
            Err(e) => errors.push((addr, e)),
        }
    }
    Err(Fail::said(connect_errors(&errors)))
}

/// "connection refused (127.0.0.1:5432)", or one reason per address when they differ.
fn connect_errors(errors: &[(SocketAddr, io::Error)]) -> String {
    let words: Vec<String> = errors.iter().map(|(_, e)| io_words(e)).collect();
    let addrs: Vec<String> = errors.iter().map(|(a, _)| a.to_string()).collect();
    match words.first() {
        Some(first) if words.iter().all(|w| w == first) => {
            format!("{first} ({})", addrs.join(", "))
        }
        _ => errors
            .iter()
            .map(|(a, e)| format!("{a}: {}", io_words(e)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A socket error in plain words, without the "(os error N)" noise.
pub(super) fn io_words(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".to_owned(),
        K::ConnectionReset => "connection reset by peer".to_owned(),
        K::ConnectionAborted => "connection aborted".to_owned(),
        K::TimedOut => "connection timed out".to_owned(),
        K::HostUnreachable => "host unreachable".to_owned(),
        K::NetworkUnreachable => "network unreachable".to_owned(),
        K::AddrNotAvailable => "address not available".to_owned(),
        K::BrokenPipe => "connection closed by peer (broken pipe)".to_owned(),
        _ => e.to_string(),
    }
}

/// Reads fields out of a received message; running past the end is a `Fail::Garbled`, never a
/// panic.
pub(super) struct Cursor<'b> {
    buf: &'b [u8],
}

impl<'b> Cursor<'b> {
    pub(super) fn new(buf: &'b [u8]) -> Self {
        Self { buf }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'b [u8], Fail> {
        if n > self.buf.len() {
            return Err(Fail::Garbled("a truncated message".to_owned()));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], Fail> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> Result<u8, Fail> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub(super) fn u16_be(&mut self) -> Result<u16, Fail> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(super) fn u16_le(&mut self) -> Result<u16, Fail> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(super) fn u32_be(&mut self) -> Result<u32, Fail> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Bytes up to a NUL, which is consumed; all the rest when there is none.
    pub(super) fn cstr(&mut self) -> &'b [u8] {
        let end = self.buf.iter().position(|&b| b == 0);
        let (s, rest) = self.buf.split_at(end.unwrap_or(self.buf.len()));
        self.buf = rest.get(1..).unwrap_or_default();
        s
    }

    pub(super) fn rest(&mut self) -> &'b [u8] {
        std::mem::take(&mut self.buf)
    }
}

/// Lossy text of received bytes, for messages.
pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Received bytes as a short printable snippet, for "it sent …" in messages.
pub(super) fn snippet(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(FIRST_BYTES) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}
