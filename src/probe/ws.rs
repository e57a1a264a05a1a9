//! WebSocket round trip for the integration gate: open a `ws://` or `wss://` connection
//! (RFC 6455 handshake, optional `Origin`), check `101 Switching Protocols` and
//! `Sec-WebSocket-Accept`, send a ping and one masked text frame, wait for the pong (and the
//! echo, from an echo endpoint), close cleanly.
//!
//! Subprotocols (`Sec-WebSocket-Protocol`) are offered as configured ([`WsOptions`]); a server
//! that requires one and is offered none answers 400, and the finding says so instead of
//! blaming a proxy. The server's choice must be one that was offered (RFC 6455 §4.1), and it is
//! reported. `wss://` goes through the probes' one TLS client (`probe::tls`: the roots, verifier
//! and failure words of `https://`), with the system roots plus any CA the options add (the
//! integration gate's `[integration] websocket_ca`), for echo and socket.io paths alike; it
//! offers only `http/1.1` by ALPN, since the upgrade is an HTTP/1.1 request.
//!
//! The usual failure is a reverse proxy that drops the `Upgrade`/`Connection` headers, so the
//! app answers the handshake as a plain request (200 with the SPA shell, 400, 426). Every such
//! answer becomes a sentence saying so, and every wait is bounded by the one deadline, so a
//! proxy that never forwards the upgrade is a timeout, not a hang.

use std::fmt::Write as _;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use super::engine_io;
use super::h1::{Head, Wire, read_body};
use super::http::{HttpError, check_header, clip, deadline_after, find_header, ms, parse_target};
use super::resolve;
use super::tls::{self, TlsConfig};

/// The GUID RFC 6455 §1.3 appends to the key before hashing.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest message (all fragments together) accepted from the server.
const MAX_MESSAGE: usize = 1024 * 1024;

/// Messages other than the echo tolerated before giving up (greetings, broadcasts).
const MAX_OTHER_MESSAGES: usize = 64;

/// Payload of the ping sent with the message.
const PING_PAYLOAD: &[u8] = b"devops-agent";

/// How long an echo is waited for once the pong has proved the round trip.
const ECHO_GRACE: Duration = Duration::from_millis(500);

/// Longest refusal body quoted in the error (a sentence, not a page).
const SHORT_BODY: usize = 256;

/// How long to wait for the server's answer to our close frame: a courtesy, not a check.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Payload-length markers in a frame's second byte: a 16-bit or 64-bit length follows.
const LEN_16: u8 = 126;
const LEN_64: u8 = 127;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// What one WebSocket round trip showed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WsOutcome {
    /// Status of the handshake response (101 on success; 0 when none arrived).
    pub status: u16,
    /// `Sec-WebSocket-Accept` matched the key sent.
    pub accept_valid: bool,
    /// The message came back as a text frame.
    pub echoed: bool,
    /// A ping was answered by a pong: the connection carries frames both ways.
    pub pong: bool,
    /// Start (DNS included) to the handshake response; 0 when none arrived.
    pub handshake_ms: f64,
    /// Sending the message to receiving the echo.
    pub roundtrip_ms: Option<f64>,
    /// What went wrong, in a sentence; `None` when the echo came back.
    pub error: Option<String>,
    /// Headers of the handshake response, names lowercased.
    pub response_headers: Vec<(String, String)>,
    /// The protocol spoken over the WebSocket when it is not a plain echo, and what it showed
    /// (`Engine.IO open packet received; Socket.IO CONNECT answered`).
    pub protocol: Option<String>,
    /// The subprotocol the server chose from those offered (`Sec-WebSocket-Protocol`).
    pub subprotocol: Option<String>,
}

/// How to open the WebSocket: subprotocols to offer and trust roots for `wss://`.
#[derive(Debug, Clone, Default)]
pub struct WsOptions {
    /// Offered in `Sec-WebSocket-Protocol`, in order of preference; none when empty.
    pub protocols: Vec<String>,
    pub tls: TlsConfig,
}

/// Why a WebSocket round trip failed: one sentence a user can act on, which becomes
/// [`WsOutcome::error`] (the causes in `#[source]` written out after it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum WsError {
    /// The URL, the connection or TLS failed, or the handshake response was not HTTP.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The deadline passed while waiting for `waiting`.
    #[error("timed out after {budget:?} waiting for {waiting}")]
    Timeout {
        /// The round trip's whole budget.
        budget: Duration,
        /// What had not arrived (or been sent) yet.
        waiting: &'static str,
    },
    /// The deadline passed before the pong, with other messages received meanwhile.
    #[error(
        "timed out after {budget:?} waiting for the pong to a ping (or the echo); received {count} other message(s), first {first:?}"
    )]
    NoPongAmongOthers {
        budget: Duration,
        /// Messages received that were neither.
        count: usize,
        /// The first of them, clipped.
        first: String,
    },
    /// The system's random source failed (for the key or a frame mask).
    #[error("no randomness available for the {what}")]
    NoRandomness { what: &'static str },
    /// Writing to the connection failed.
    #[error("sending {what} failed")]
    Send {
        /// `the handshake` or `a frame`.
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The handshake was answered with another status than 101; `explanation` says what that
    /// status usually means (a proxy that dropped the upgrade, a redirect, …).
    #[error("{explanation}")]
    Refused { status: u16, explanation: String },
    /// The server chose a subprotocol that was not offered.
    #[error(
        "the server chose the subprotocol {chosen:?}, which was not offered: clients must close such a connection (RFC 6455 §4.1)"
    )]
    UnofferedSubprotocol { chosen: String },
    /// A 101 without `Upgrade: websocket`.
    #[error("101 response without `Upgrade: websocket`")]
    NoUpgradeHeader,
    /// `Sec-WebSocket-Accept` does not match the key sent.
    #[error(
        "Sec-WebSocket-Accept is {got:?}, expected {expected:?}: the server or a proxy does not implement RFC 6455 correctly"
    )]
    BadAccept { got: String, expected: String },
    /// The connection ended where a frame should start.
    #[error("the server closed the connection")]
    Closed,
    /// The connection ended inside a frame.
    #[error("the connection closed in the middle of a frame")]
    ClosedMidFrame,
    /// A frame larger than [`MAX_MESSAGE`].
    #[error("the server sent a {length}-byte frame, over the {MAX_MESSAGE}-byte limit")]
    FrameTooLarge { length: u64 },
    /// Fragments adding up to more than [`MAX_MESSAGE`].
    #[error("the server sent a message over the {MAX_MESSAGE}-byte limit")]
    MessageTooLarge,
    /// A close frame before the round trip was done.
    #[error(
        "the server closed the WebSocket before {before} (code {}{})",
        .code.map_or_else(|| "none".to_owned(), |c| c.to_string()),
        if .reason.is_empty() { String::new() } else { format!(", {}", .reason) }
    )]
    ClosedBefore {
        /// What the close interrupted.
        before: &'static str,
        /// The close code, when the frame had one.
        code: Option<u16>,
        /// The close reason, clipped; empty when none.
        reason: String,
    },
    /// A continuation frame with no message started.
    #[error("the server sent a continuation frame with no message to continue")]
    StrayContinuation,
    /// An opcode that does not belong here.
    #[error(
        "the server sent a frame with opcode {opcode:#x} (a fragmented message interrupted, or not a WebSocket)"
    )]
    Opcode { opcode: u8 },
    /// Too many other messages before the pong or the echo.
    #[error("received {count} messages, neither the pong nor the echo; first {first:?}")]
    Flood { count: usize, first: String },
    /// The first message was not an Engine.IO open packet.
    #[error(transparent)]
    OpenPacket(#[from] engine_io::OpenPacketError),
    /// The Engine.IO session ended before the Socket.IO CONNECT was answered.
    #[error("the Engine.IO server closed the session instead of answering the Socket.IO CONNECT")]
    EngineIoClosed,
    /// Too many other messages before the answer to the CONNECT.
    #[error("received {count} messages, none of them the answer to the Socket.IO CONNECT")]
    EngineIoFlood { count: usize },
}

/// What is spoken once the WebSocket is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Send a text message, expect it back (an echo endpoint, most WebSocket servers' demo).
    Echo,
    /// A socket.io session: Engine.IO open packet, Socket.IO CONNECT and its answer.
    EngineIo,
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub(crate) fn accept_key(key: &str) -> String {
    let mut input = String::with_capacity(key.len() + ACCEPT_GUID.len());
    input.push_str(key);
    input.push_str(ACCEPT_GUID);
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, input.as_bytes());
    data_encoding::BASE64.encode(digest.as_ref())
}

/// A client frame: FIN set, masked with `mask` as RFC 6455 §5.3 requires of clients.
pub(crate) fn encode_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | u8::try_from(len).unwrap_or(125)),
        len => {
            if let Ok(short) = u16::try_from(len) {
                frame.push(0x80 | LEN_16);
                frame.extend_from_slice(&short.to_be_bytes());
            } else {
                frame.push(0x80 | LEN_64);
                frame.extend_from_slice(&u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes());
            }
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

/// One frame as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) fin: bool,
    pub(crate) opcode: u8,
    pub(crate) payload: Vec<u8>,
}

/// Reads one frame, unmasking it if masked (servers must not mask; tolerated).
pub(crate) async fn read_frame<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &mut Wire<S>,
) -> Result<Frame, WsError> {
    if !wire.ensure(2).await? {
        return Err(WsError::Closed);
    }
    let Some(&[b0, b1]) = wire.peek(2) else {
        return Err(WsError::Closed);
    };
    let masked = b1 & 0x80 != 0;
    let (length, mut header) = match b1 & 0x7f {
        LEN_16 => (None, 4),
        LEN_64 => (None, 10),
        n => (Some(u64::from(n)), 2),
    };
    if !wire.ensure(header).await? {
        return Err(WsError::Closed);
    }
    // Extended lengths are big-endian, after the two fixed bytes.
    let length = length.unwrap_or_else(|| {
        wire.peek(header)
            .and_then(|h| h.get(2..))
            .unwrap_or_default()
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    });
    let mut mask = None;
    if masked {
        if !wire.ensure(header + 4).await? {
            return Err(WsError::Closed);
        }
        mask = wire
            .peek(header + 4)
            .and_then(|h| h.get(header..))
            .and_then(|m| <[u8; 4]>::try_from(m).ok());
        header += 4;
    }
    let length = usize::try_from(length)
        .ok()
        .filter(|&n| n <= MAX_MESSAGE)
        .ok_or(WsError::FrameTooLarge { length })?;
    wire.consume(header);
    let mut payload = Vec::with_capacity(length);
    if !wire.read_exact_into(length, &mut payload).await? {
        return Err(WsError::ClosedMidFrame);
    }
    if let Some(mask) = mask {
        for (byte, m) in payload.iter_mut().zip(mask.iter().cycle()) {
            *byte ^= m;
        }
    }
    Ok(Frame {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        payload,
    })
}

/// Explains a handshake answer other than 101. `offered` says whether subprotocols were
/// offered; `body` is the start of the answer's body, when there was one.
fn refused(
    status: u16,
    reason: &str,
    headers: &[(String, String)],
    offered: bool,
    body: Option<&str>,
) -> String {
    let answered =
        format!("the server answered {status} {reason} instead of 101 Switching Protocols");
    let names_subprotocol = body.is_some_and(|b| {
        let b = b.to_ascii_lowercase();
        b.contains("subprotocol") || b.contains("sec-websocket-protocol")
    });
    let why = match status {
        400 if names_subprotocol && !offered => "the server requires a WebSocket subprotocol (Sec-WebSocket-Protocol) and none was offered: set `websocket_protocols` under [integration] to the one the app's client uses".to_owned(),
        400 if names_subprotocol => "the server accepts none of the subprotocols offered (Sec-WebSocket-Protocol): check `websocket_protocols` under [integration]".to_owned(),
        200..=299 => "the upgrade never reached a WebSocket handler: a proxy dropped the Upgrade/Connection headers, or this path serves plain HTTP".to_owned(),
        426 => "the server wants a WebSocket upgrade but did not receive one: a proxy dropped the Upgrade/Connection headers".to_owned(),
        400 if !offered => "the handshake was rejected: the server may require a subprotocol (Sec-WebSocket-Protocol; none was offered, see `websocket_protocols` under [integration]), a proxy may have dropped the Upgrade/Connection headers, or the server wants another Sec-WebSocket-Version".to_owned(),
        400 => "the handshake was rejected: a proxy may have dropped the Upgrade/Connection headers, or the server wants another Sec-WebSocket-Version".to_owned(),
        401 | 403 => "the server refused the handshake: Origin not allowed, or authentication required".to_owned(),
        404 => "no WebSocket endpoint at this path".to_owned(),
        300..=399 => format!(
            "redirect to {}: WebSocket clients do not follow redirects",
            find_header(headers, "location").map_or_else(|| "(no Location)".to_owned(), clip)
        ),
        502..=504 => "the proxy could not reach the WebSocket backend".to_owned(),
        _ => "the upgrade was refused".to_owned(),
    };
    format!("{answered}: {why}")
}

/// Whether a comma-separated header value lists `token`.
fn lists(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// One round trip's state, filled in as it goes so a failure keeps what was learnt.
struct Trip<'a> {
    out: WsOutcome,
    started: Instant,
    deadline: Instant,
    budget: Duration,
    origin: Option<&'a str>,
    message: &'a str,
    dialect: Dialect,
    random: SystemRandom,
    protocols: &'a [String],
}

impl Trip<'_> {
    fn timed_out(&self, waiting: &'static str) -> WsError {
        WsError::Timeout {
            budget: self.budget,
            waiting,
        }
    }

    fn mask(&self) -> Result<[u8; 4], WsError> {
        let mut mask = [0u8; 4];
        self.random
            .fill(&mut mask)
            .map_err(|_| WsError::NoRandomness { what: "frame mask" })?;
        Ok(mask)
    }

    async fn send<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        wire: &mut Wire<S>,
        opcode: u8,
        payload: &[u8],
    ) -> Result<(), WsError> {
        let frame = encode_frame(opcode, payload, self.mask()?);
        timeout_at(self.deadline, async {
            wire.io().write_all(&frame).await?;
            wire.io().flush().await
        })
        .await
        .map_err(|_| self.timed_out("the frame to be sent"))?
        .map_err(|source| WsError::Send {
            what: "a frame",
            source,
        })
    }

    /// Handshake, echo and close on an open connection.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: S,
        host_header: &str,
        path: &str,
    ) -> Result<(), WsError> {
        let mut key_bytes = [0u8; 16];
        self.random
            .fill(&mut key_bytes)
            .map_err(|_| WsError::NoRandomness { what: "key" })?;
        let key = data_encoding::BASE64.encode(&key_bytes);
        let mut request = String::with_capacity(256);
        for part in [
            "GET ",
            path,
            " HTTP/1.1\r\nHost: ",
            host_header,
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
            &key,
            "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: devops-agent/",
            env!("CARGO_PKG_VERSION"),
            "\r\n",
        ] {
            request.push_str(part);
        }
        if let Some(origin) = self.origin {
            for part in ["Origin: ", origin, "\r\n"] {
                request.push_str(part);
            }
        }
        if !self.protocols.is_empty() {
            let offered = self.protocols.join(", ");
            check_header("Sec-WebSocket-Protocol", &offered)?;
            for part in ["Sec-WebSocket-Protocol: ", &offered, "\r\n"] {
                request.push_str(part);
            }
        }
        request.push_str("\r\n");

        let mut wire = Wire::new(io);
        timeout_at(self.deadline, async {
            wire.io().write_all(request.as_bytes()).await?;
            wire.io().flush().await
        })
        .await
        .map_err(|_| self.timed_out("the handshake to be sent"))?
        .map_err(|source| WsError::Send {
            what: "the handshake",
            source,
        })?;

        let head = loop {
            let head = timeout_at(self.deadline, wire.read_head())
                .await
                .map_err(|_| {
                    self.timed_out(
                        "the handshake response (a proxy that does not forward the upgrade?)",
                    )
                })??;
            if (100..200).contains(&head.status) && head.status != 101 {
                continue;
            }
            break head;
        };
        self.out.status = head.status;
        self.out.handshake_ms = ms(self.started.elapsed());
        self.out.response_headers.clone_from(&head.headers);
        if head.status != 101 {
            let body = self.short_body(&mut wire, &head).await;
            let mut why = refused(
                head.status,
                &head.reason,
                &head.headers,
                !self.protocols.is_empty(),
                body.as_deref(),
            );
            if let Some(body) = body {
                let hint = (self.dialect == Dialect::EngineIo)
                    .then(|| engine_io::refusal_hint(&body))
                    .flatten();
                match hint {
                    // The Engine.IO error names the cause; the generic guess would mislead.
                    Some(hint) => {
                        why = format!(
                            "the server answered {} {} instead of 101 Switching Protocols: {hint} (the server said {body:?})",
                            head.status, head.reason
                        );
                    }
                    None => {
                        let _ = write!(why, " (the server said {:?})", clip(&body));
                    }
                }
            }
            return Err(WsError::Refused {
                status: head.status,
                explanation: why,
            });
        }
        let expected = accept_key(&key);
        let accept = find_header(&head.headers, "sec-websocket-accept");
        self.out.accept_valid = accept == Some(expected.as_str());
        if !lists(find_header(&head.headers, "upgrade"), "websocket") {
            return Err(WsError::NoUpgradeHeader);
        }
        if !self.out.accept_valid {
            return Err(WsError::BadAccept {
                got: accept.map(clip).unwrap_or_default(),
                expected,
            });
        }
        if let Some(chosen) = find_header(&head.headers, "sec-websocket-protocol") {
            if !self.protocols.iter().any(|p| p == chosen.trim()) {
                return Err(WsError::UnofferedSubprotocol {
                    chosen: clip(chosen),
                });
            }
            self.out.subprotocol = Some(chosen.trim().to_owned());
        }

        match self.dialect {
            Dialect::Echo => self.echo(&mut wire).await?,
            Dialect::EngineIo => self.engine_io(&mut wire).await?,
        }

        // Close handshake (RFC 6455 §7): send 1000, give the server a moment to answer. The
        // echo already proved the path works; a sloppy close is not a failure.
        if self
            .send(&mut wire, OP_CLOSE, &1000u16.to_be_bytes())
            .await
            .is_ok()
        {
            let grace = (Instant::now() + CLOSE_GRACE).min(self.deadline);
            let _ = timeout_at(grace, async {
                while let Ok(frame) = read_frame(&mut wire).await {
                    if frame.opcode == OP_CLOSE {
                        break;
                    }
                }
            })
            .await;
            let _ = timeout_at(grace, wire.io().shutdown()).await;
        }
        Ok(())
    }

    /// The body of a refusal when it is a short sentence, or JSON with a `message` (Engine.IO's
    /// `{"code":0,"message":"Transport unknown"}`), not a page: it often says why better than
    /// the status does.
    async fn short_body<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        wire: &mut Wire<S>,
        head: &Head,
    ) -> Option<String> {
        let grace = (Instant::now() + CLOSE_GRACE).min(self.deadline);
        let body = timeout_at(grace, read_body(wire, head, false, SHORT_BODY))
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8(body).ok()?;
        let text = text.trim();
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
            return value
                .get("message")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
        }
        (!text.is_empty() && !text.contains('<')).then(|| text.to_owned())
    }

    /// The next complete text or binary message, or a pong (as `OP_PONG` and its payload),
    /// answering pings on the way; `None` when `until` passes first. `before` says what a close
    /// frame interrupted.
    async fn next_message<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        wire: &mut Wire<S>,
        before: &'static str,
        until: Instant,
    ) -> Result<Option<(u8, Vec<u8>)>, WsError> {
        let mut partial: Option<(u8, Vec<u8>)> = None;
        loop {
            let Ok(frame) = timeout_at(until, read_frame(wire)).await else {
                return Ok(None);
            };
            let frame = frame?;
            match frame.opcode {
                OP_PING => self.send(wire, OP_PONG, &frame.payload).await?,
                OP_PONG => return Ok(Some((OP_PONG, frame.payload))),
                OP_CLOSE => {
                    let code = frame
                        .payload
                        .get(..2)
                        .map(|c| c.iter().fold(0u16, |acc, &b| (acc << 8) | u16::from(b)));
                    let why = String::from_utf8_lossy(frame.payload.get(2..).unwrap_or_default())
                        .into_owned();
                    return Err(WsError::ClosedBefore {
                        before,
                        code,
                        reason: if why.is_empty() {
                            String::new()
                        } else {
                            clip(&why)
                        },
                    });
                }
                OP_TEXT | OP_BINARY if partial.is_none() => {
                    if frame.fin {
                        return Ok(Some((frame.opcode, frame.payload)));
                    }
                    partial = Some((frame.opcode, frame.payload));
                }
                OP_CONTINUATION => {
                    let Some((opcode, mut data)) = partial.take() else {
                        return Err(WsError::StrayContinuation);
                    };
                    if data.len() + frame.payload.len() > MAX_MESSAGE {
                        return Err(WsError::MessageTooLarge);
                    }
                    data.extend_from_slice(&frame.payload);
                    if frame.fin {
                        return Ok(Some((opcode, data)));
                    }
                    partial = Some((opcode, data));
                }
                other => {
                    return Err(WsError::Opcode { opcode: other });
                }
            }
        }
    }

    /// A message round trip every WebSocket server makes: a ping answered by a pong (RFC 6455
    /// §5.5.2 obliges it; every server library does it for the app). The text message sent
    /// with it is echoed by echo endpoints; a server that does something else with messages (a
    /// push feed, its own JSON protocol) is not broken for not echoing, so after the pong the
    /// echo is waited for only [`ECHO_GRACE`] and is evidence, not a requirement.
    async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        wire: &mut Wire<S>,
    ) -> Result<(), WsError> {
        let sent_at = Instant::now();
        self.send(wire, OP_PING, PING_PAYLOAD).await?;
        self.send(wire, OP_TEXT, self.message.as_bytes()).await?;
        let mut others: Vec<String> = Vec::new();
        let mut until = self.deadline;
        let mut pong = false;
        let after_pong = loop {
            let before = if pong {
                "echoing"
            } else {
                "answering the ping"
            };
            let next = match self.next_message(wire, before, until).await {
                Ok(next) => next,
                // The round trip is done; what the server does with a stray message is its
                // business (a JSON protocol may close on it).
                Err(e) if pong => break Some(crate::error_chain::chain(&e)),
                Err(e) => return Err(e),
            };
            let Some((opcode, data)) = next else {
                if pong {
                    break Some(format!(
                        "no echo within {} ms (not an echo endpoint)",
                        ECHO_GRACE.as_millis()
                    ));
                }
                return Err(match others.first() {
                    Some(first) => WsError::NoPongAmongOthers {
                        budget: self.budget,
                        count: others.len(),
                        first: first.clone(),
                    },
                    None => self.timed_out("the pong to a ping (or the echo)"),
                });
            };
            match opcode {
                OP_PONG if data == PING_PAYLOAD && !pong => {
                    pong = true;
                    self.out.roundtrip_ms = Some(ms(sent_at.elapsed()));
                    until = (Instant::now() + ECHO_GRACE).min(self.deadline);
                }
                OP_PONG => {}
                OP_TEXT if data == self.message.as_bytes() => {
                    self.out.echoed = true;
                    if self.out.roundtrip_ms.is_none() {
                        self.out.roundtrip_ms = Some(ms(sent_at.elapsed()));
                    }
                    break None;
                }
                _ => {
                    let kind = if opcode == OP_TEXT { "text" } else { "binary" };
                    others.push(format!("{kind}: {}", clip(&String::from_utf8_lossy(&data))));
                    if others.len() > MAX_OTHER_MESSAGES && !pong {
                        return Err(WsError::Flood {
                            count: others.len(),
                            first: others.first().cloned().unwrap_or_default(),
                        });
                    }
                }
            }
        };
        self.out.pong = pong;
        self.out.protocol = Some(match (pong, self.out.echoed, after_pong) {
            (true, true, _) => "ping answered by a pong; message echoed".to_owned(),
            (false, true, _) => "message echoed".to_owned(),
            (_, false, Some(why)) => format!("ping answered by a pong; {why}"),
            (_, false, None) => "ping answered by a pong".to_owned(),
        });
        Ok(())
    }

    /// The next text or binary message before the deadline (pongs skipped).
    async fn next_data<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        wire: &mut Wire<S>,
        before: &'static str,
    ) -> Result<Option<(u8, Vec<u8>)>, WsError> {
        loop {
            match self.next_message(wire, before, self.deadline).await? {
                Some((OP_PONG, _)) => {}
                other => return Ok(other),
            }
        }
    }

    /// A socket.io session: the server's open packet, then a Socket.IO CONNECT answered (see
    /// [`engine_io`]). The answer to the CONNECT is the round trip.
    async fn engine_io<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        wire: &mut Wire<S>,
    ) -> Result<(), WsError> {
        let open = "the Engine.IO open packet";
        let Some((_, data)) = self.next_data(wire, open).await? else {
            return Err(
                self.timed_out("the Engine.IO open packet `0{…}` (not a socket.io server?)")
            );
        };
        engine_io::open_packet(&String::from_utf8_lossy(&data))?;
        let sent_at = Instant::now();
        self.send(wire, OP_TEXT, engine_io::CONNECT).await?;
        let mut others = 0;
        let note = loop {
            let answer = "answering the Socket.IO CONNECT";
            let Some((_, data)) = self.next_data(wire, answer).await? else {
                return Err(self.timed_out("the answer to the Socket.IO CONNECT `40`"));
            };
            match engine_io::reply(&String::from_utf8_lossy(&data)) {
                engine_io::Reply::Connected => {
                    break "Engine.IO open packet received; Socket.IO CONNECT answered".to_owned();
                }
                engine_io::Reply::Refused(why) => {
                    break format!(
                        "Engine.IO open packet received; the app refused the Socket.IO CONNECT ({}): the WebSocket works, the app wants credentials",
                        clip(&why)
                    );
                }
                engine_io::Reply::Ping => self.send(wire, OP_TEXT, engine_io::PONG).await?,
                engine_io::Reply::Closed => {
                    return Err(WsError::EngineIoClosed);
                }
                engine_io::Reply::Other => {
                    others += 1;
                    if others > MAX_OTHER_MESSAGES {
                        return Err(WsError::EngineIoFlood { count: others });
                    }
                }
            }
        };
        self.out.echoed = true;
        self.out.roundtrip_ms = Some(ms(sent_at.elapsed()));
        self.out.protocol = Some(note);
        Ok(())
    }
}

/// Opens a WebSocket to `url` (`ws://` or `wss://`, system trust roots) with an optional
/// `Origin`, checks `101` and `Sec-WebSocket-Accept`, sends a ping and `message` as one masked
/// text frame, waits for the pong (or the echo) and briefly for the echo after the pong (other
/// messages are skipped, pings answered), and closes. Never fails: problems are in
/// [`WsOutcome::error`].
pub async fn roundtrip(
    url: &str,
    origin: Option<&str>,
    message: &str,
    timeout: Duration,
) -> WsOutcome {
    roundtrip_with(url, origin, message, timeout, &TlsConfig::default()).await
}

/// [`roundtrip`] with explicit trust roots for `wss://`.
pub async fn roundtrip_with(
    url: &str,
    origin: Option<&str>,
    message: &str,
    timeout: Duration,
    tls_config: &TlsConfig,
) -> WsOutcome {
    let options = WsOptions {
        protocols: Vec::new(),
        tls: tls_config.clone(),
    };
    session(url, origin, (Dialect::Echo, message), timeout, &options).await
}

/// [`roundtrip`] offering subprotocols and trusting extra roots, as `options` says.
pub async fn roundtrip_opts(
    url: &str,
    origin: Option<&str>,
    message: &str,
    timeout: Duration,
    options: &WsOptions,
) -> WsOutcome {
    session(url, origin, (Dialect::Echo, message), timeout, options).await
}

/// Opens a socket.io session over WebSocket at `url` (a path ending in
/// `/socket.io/?EIO=4&transport=websocket`): handshake, the server's Engine.IO open packet, a
/// Socket.IO CONNECT and its answer, close. `wss://` trusts the roots of `tls`; no subprotocol
/// is offered (socket.io clients offer none). Never fails: problems are in
/// [`WsOutcome::error`].
pub async fn engine_io_roundtrip(
    url: &str,
    origin: Option<&str>,
    timeout: Duration,
    tls: &TlsConfig,
) -> WsOutcome {
    let options = WsOptions {
        protocols: Vec::new(),
        tls: tls.clone(),
    };
    session(url, origin, (Dialect::EngineIo, ""), timeout, &options).await
}

async fn session(
    url: &str,
    origin: Option<&str>,
    (dialect, message): (Dialect, &str),
    timeout: Duration,
    options: &WsOptions,
) -> WsOutcome {
    let started = Instant::now();
    let mut trip = Trip {
        out: WsOutcome::default(),
        started,
        deadline: deadline_after(started, timeout),
        budget: timeout,
        origin,
        message,
        dialect,
        random: SystemRandom::new(),
        protocols: &options.protocols,
    };
    if let Err(error) = connect_and_run(&mut trip, url, &options.tls).await {
        trip.out.error = Some(crate::error_chain::chain(&error));
    }
    trip.out
}

async fn connect_and_run(
    trip: &mut Trip<'_>,
    url: &str,
    tls_config: &TlsConfig,
) -> Result<(), WsError> {
    let target = parse_target(url, "ws", "wss")?;
    if let Some(origin) = trip.origin {
        check_header("Origin", origin)?;
    }
    let addrs = resolve::resolve(&target.host, target.port, trip.deadline, trip.budget).await?;
    let (tcp, _) = resolve::connect(&addrs, trip.deadline, trip.budget).await?;
    tcp.set_nodelay(true).ok();
    if target.secure {
        let (stream, _) = tls::handshake(
            tcp,
            &target.host,
            tls_config,
            tls::Verify::Enforce,
            &[b"http/1.1"],
            trip.deadline,
            trip.budget,
        )
        .await?;
        trip.run(stream, &target.authority, &target.path).await
    } else {
        trip.run(tcp, &target.authority, &target.path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    const T: Duration = Duration::from_secs(5);

    #[derive(Clone, Copy)]
    enum Behaviour {
        Echo,
        /// A push server: answers pings, never echoes.
        PongOnly,
        GreetPingThenEcho,
        FragmentedEcho,
        Plain200,
        WrongAccept,
        Silent,
        CloseInstead,
    }

    /// Reads the client's handshake and returns its key and the request text.
    async fn read_handshake<S: AsyncRead + Unpin>(stream: &mut S) -> (String, String) {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1);
            buf.push(byte[0]);
        }
        let text = String::from_utf8(buf).unwrap();
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .to_owned();
        (key, text)
    }

    fn server_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut frame = encode_frame(opcode, payload, [0; 4]);
        // Servers send unmasked frames: clear the mask bit and drop the (zero) mask key.
        frame[0] = if fin { 0x80 | opcode } else { opcode };
        frame[1] &= 0x7f;
        let header = match frame[1] {
            LEN_16 => 4,
            LEN_64 => 10,
            _ => 2,
        };
        frame.drain(header..header + 4);
        frame
    }

    /// Serves one WebSocket connection on `stream` the way `behaviour` says; returns the
    /// client's handshake.
    async fn serve_ws<S: AsyncRead + AsyncWrite + Unpin>(
        mut stream: S,
        behaviour: Behaviour,
    ) -> String {
        let (key, request) = read_handshake(&mut stream).await;
        let accept = match behaviour {
            Behaviour::WrongAccept => accept_key("not-the-key"),
            _ => accept_key(&key),
        };
        match behaviour {
            Behaviour::Silent => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                return request;
            }
            Behaviour::Plain200 => {
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 15\r\n\r\n<html>app</html")
                    .await
                    .unwrap();
                return request;
            }
            _ => {}
        }
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        if let Behaviour::GreetPingThenEcho = behaviour {
            stream
                .write_all(&server_frame(OP_TEXT, true, b"welcome"))
                .await
                .unwrap();
            stream
                .write_all(&server_frame(OP_PING, true, b"p"))
                .await
                .unwrap();
        }
        let mut wire = Wire::new(stream);
        let Ok(mut frame) = read_frame(&mut wire).await else {
            return request;
        };
        if !matches!(behaviour, Behaviour::CloseInstead) {
            // Answer pings as every server library does, until a data frame arrives.
            while matches!(frame.opcode, OP_PING | OP_PONG) {
                if frame.opcode == OP_PING {
                    wire.io()
                        .write_all(&server_frame(OP_PONG, true, &frame.payload))
                        .await
                        .unwrap();
                }
                let Ok(next) = read_frame(&mut wire).await else {
                    return request;
                };
                frame = next;
            }
        }
        match behaviour {
            Behaviour::PongOnly => {}
            Behaviour::CloseInstead => {
                let mut payload = 1008u16.to_be_bytes().to_vec();
                payload.extend_from_slice(b"policy");
                let _ = wire
                    .io()
                    .write_all(&server_frame(OP_CLOSE, true, &payload))
                    .await;
                return request;
            }
            Behaviour::FragmentedEcho => {
                let (a, b) = frame.payload.split_at(frame.payload.len() / 2);
                wire.io()
                    .write_all(&server_frame(OP_TEXT, false, a))
                    .await
                    .unwrap();
                wire.io()
                    .write_all(&server_frame(OP_CONTINUATION, true, b))
                    .await
                    .unwrap();
            }
            _ => {
                wire.io()
                    .write_all(&server_frame(frame.opcode, true, &frame.payload))
                    .await
                    .unwrap();
            }
        }
        // Expect the client's close frame and answer it.
        if let Ok(frame) = read_frame(&mut wire).await
            && frame.opcode == OP_CLOSE
        {
            let _ = wire
                .io()
                .write_all(&server_frame(OP_CLOSE, true, &frame.payload))
                .await;
        }
        request
    }

    async fn server(
        behaviour: Behaviour,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            let (stream, _): (TcpStream, _) = listener.accept().await.unwrap();
            serve_ws(stream, behaviour).await
        });
        (addr, handle)
    }

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frame_lengths_use_the_right_encoding() {
        let mask = [1, 2, 3, 4];
        assert_eq!(encode_frame(OP_TEXT, &[0; 125], mask).len(), 2 + 4 + 125);
        let frame = encode_frame(OP_TEXT, &[0; 126], mask);
        assert_eq!((frame[1], &frame[2..4]), (0x80 | LEN_16, &[0u8, 126][..]));
        let frame = encode_frame(OP_BINARY, &vec![0; 65_536], mask);
        assert_eq!(frame[1], 0x80 | LEN_64);
        assert_eq!(&frame[2..10], &65_536u64.to_be_bytes());
        let frame = encode_frame(OP_TEXT, b"Hi", mask);
        assert_eq!(frame, vec![0x81, 0x82, 1, 2, 3, 4, b'H' ^ 1, b'i' ^ 2]);
    }

    #[test]
    fn refusals_are_explained() {
        let upgrade_required = refused(426, "Upgrade Required", &[], false, None);
        assert!(upgrade_required.contains("a proxy dropped the Upgrade/Connection headers"));
        assert!(refused(403, "Forbidden", &[], false, None).contains("Origin not allowed"));
        let headers = vec![("location".to_owned(), "/login".to_owned())];
        assert!(refused(302, "Found", &headers, false, None).contains("redirect to /login"));
        assert!(refused(502, "Bad Gateway", &[], false, None).contains("could not reach"));
    }

    #[tokio::test]
    async fn echo_round_trip() {
        let (addr, served) = server(Behaviour::Echo).await;
        let out = roundtrip(
            &format!("ws://{addr}/ws?room=1"),
            Some("http://app.test"),
            "hello ws",
            T,
        )
        .await;
        assert_eq!(out.error, None);
        assert_eq!(out.status, 101);
        assert!(out.accept_valid && out.echoed);
        assert!(out.roundtrip_ms.is_some() && out.handshake_ms > 0.0);
        assert!(
            out.response_headers
                .iter()
                .any(|(k, v)| k == "upgrade" && v == "websocket")
        );
        let request = served.await.unwrap();
        assert!(
            request.starts_with("GET /ws?room=1 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nOrigin: http://app.test\r\n"));
        assert!(request.contains("\r\nSec-WebSocket-Version: 13\r\n"));
    }

    #[tokio::test]
    async fn a_server_that_answers_pings_but_does_not_echo_works() {
        let (addr, _served) = server(Behaviour::PongOnly).await;
        let started = Instant::now();
        let out = roundtrip(&format!("ws://{addr}/feed"), None, "hi", T).await;
        assert_eq!(out.error, None);
        assert!(out.pong && !out.echoed && out.roundtrip_ms.is_some());
        assert_eq!(
            out.protocol.as_deref(),
            Some("ping answered by a pong; no echo within 500 ms (not an echo endpoint)")
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn greeting_and_ping_before_the_echo_are_handled() {
        let (addr, _served) = server(Behaviour::GreetPingThenEcho).await;
        let out = roundtrip(&format!("ws://{addr}/"), None, "ping me", T).await;
        assert_eq!(out.error, None);
        assert!(out.echoed);
    }

    #[tokio::test]
    async fn fragmented_echo_is_reassembled() {
        let (addr, _served) = server(Behaviour::FragmentedEcho).await;
        let message = "x".repeat(70_000);
        let out = roundtrip(&format!("ws://{addr}/"), None, &message, T).await;
        assert_eq!(out.error, None);
        assert!(out.echoed);
    }

    #[tokio::test]
    async fn plain_200_is_a_clear_error() {
        let (addr, _served) = server(Behaviour::Plain200).await;
        let started = Instant::now();
        let out = roundtrip(&format!("ws://{addr}/ws"), None, "hi", T).await;
        assert_eq!(out.status, 200);
        assert!(!out.accept_valid && !out.echoed);
        let error = out.error.unwrap();
        assert!(error.contains("200 OK instead of 101"), "{error}");
        assert!(error.contains("Upgrade/Connection"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn wrong_accept_key_is_flagged() {
        let (addr, _served) = server(Behaviour::WrongAccept).await;
        let out = roundtrip(&format!("ws://{addr}/"), None, "hi", T).await;
        assert_eq!(out.status, 101);
        assert!(!out.accept_valid && !out.echoed);
        assert!(out.error.unwrap().contains("Sec-WebSocket-Accept"));
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let (addr, _served) = server(Behaviour::Silent).await;
        let started = Instant::now();
        let out = roundtrip(
            &format!("ws://{addr}/"),
            None,
            "hi",
            Duration::from_millis(200),
        )
        .await;
        assert_eq!(out.status, 0);
        assert!(out.error.unwrap().contains("timed out"));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn close_instead_of_echo_is_reported() {
        let (addr, _served) = server(Behaviour::CloseInstead).await;
        let out = roundtrip(&format!("ws://{addr}/"), None, "hi", T).await;
        assert!(out.accept_valid && !out.echoed);
        let error = out.error.unwrap();
        assert!(error.contains("code 1008, policy"), "{error}");
    }

    /// A socket.io 4 server as the wire shows it: open packet, a heartbeat ping before the
    /// answer to the CONNECT.
    #[tokio::test]
    async fn engine_io_session_answers_the_heartbeat_and_reads_the_connect_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let (key, request) = read_handshake(&mut stream).await;
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                accept_key(&key)
            );
            stream.write_all(response.as_bytes()).await.unwrap();
            let open = br#"0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#;
            stream
                .write_all(&server_frame(OP_TEXT, true, open))
                .await
                .unwrap();
            let mut wire = Wire::new(stream);
            let connect = read_frame(&mut wire).await.unwrap().payload;
            wire.io()
                .write_all(&server_frame(OP_TEXT, true, b"2"))
                .await
                .unwrap();
            let pong = read_frame(&mut wire).await.unwrap().payload;
            wire.io()
                .write_all(&server_frame(OP_TEXT, true, br#"40{"sid":"n1"}"#))
                .await
                .unwrap();
            (request, connect, pong)
        });
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let out = engine_io_roundtrip(&url, None, T, &TlsConfig::default()).await;
        assert_eq!(out.error, None);
        assert!(out.echoed && out.accept_valid);
        assert_eq!(
            out.protocol.as_deref(),
            Some("Engine.IO open packet received; Socket.IO CONNECT answered")
        );
        let (request, connect, pong) = served.await.unwrap();
        assert!(request.starts_with("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"));
        assert_eq!(
            (connect.as_slice(), pong.as_slice()),
            (&b"40"[..], &b"3"[..])
        );
        // A plain echo server is not a socket.io server: said so, not a hang.
        let (addr, _served) = server(Behaviour::Echo).await;
        let out = engine_io_roundtrip(
            &format!("ws://{addr}/socket.io/"),
            None,
            Duration::from_millis(300),
            &TlsConfig::default(),
        )
        .await;
        assert!(
            out.error
                .as_deref()
                .unwrap_or_default()
                .contains("timed out"),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn refused_and_invalid_urls_are_errors_not_panics() {
        let out = roundtrip("http://127.0.0.1:1/", None, "hi", T).await;
        assert!(out.error.unwrap().contains("unsupported scheme"));
        let (port, _guard) = crate::probe::http::tests::refusing_port();
        let out = roundtrip(&format!("ws://127.0.0.1:{port}/"), None, "hi", T).await;
        assert!(out.error.unwrap().contains("connection refused"));
        let out = roundtrip("ws://127.0.0.1:1/", Some("a\r\nb"), "hi", T).await;
        assert!(out.error.unwrap().contains("invalid request"));
    }

    /// A real WebSocket server (the `websockets` package, installed by scripts/test.sh) that echoes
    /// and requires the subprotocol `chat.v1`; killed when dropped.
    struct PyWs {
        _child: tokio::process::Child,
        port: u16,
    }

    async fn python_websockets_server() -> PyWs {
        use tokio::io::AsyncBufReadExt as _;
        let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/fixture-cache/tools/ws/bin/python");
        assert!(
            python.is_file(),
            "this test needs the PyPI websockets package in {} (scripts/test.sh installs it)",
            python.display()
        );
        let script = "import asyncio\nfrom websockets.asyncio.server import serve\n\
            async def echo(ws):\n    async for m in ws:\n        await ws.send(m)\n\
            async def main():\n    async with serve(echo, '127.0.0.1', 0, subprotocols=['chat.v1']) as s:\n\
            \x20       print(s.sockets[0].getsockname()[1], flush=True)\n\
            \x20       await asyncio.get_running_loop().create_future()\n\
            asyncio.run(main())\n";
        let mut child = tokio::process::Command::new(python)
            .args(["-c", script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("python: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            tokio::io::BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .unwrap_or_else(|_| panic!("the websockets server did not start"))
        .unwrap_or_else(|e| panic!("{e}"));
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{line:?}: {e}"));
        PyWs {
            _child: child,
            port,
        }
    }

    #[tokio::test]
    async fn a_server_that_requires_a_subprotocol_is_named_not_the_proxy() {
        let server = python_websockets_server().await;
        let url = format!("ws://127.0.0.1:{}/", server.port);
        let out = roundtrip_opts(&url, None, "hi", T, &WsOptions::default()).await;
        let error = out.error.clone().unwrap_or_default();
        assert_eq!(out.status, 400, "{out:?}");
        assert!(
            error.contains("requires a WebSocket subprotocol") && !error.contains("proxy"),
            "{error}"
        );

        let offer = |p: &str| WsOptions {
            protocols: vec!["other".to_owned(), p.to_owned()],
            ..WsOptions::default()
        };
        let out = roundtrip_opts(&url, None, "hi", T, &offer("chat.v1")).await;
        assert!(
            out.error.is_none() && out.status == 101 && out.echoed,
            "{out:?}"
        );
        assert_eq!(out.subprotocol.as_deref(), Some("chat.v1"));

        let out = roundtrip_opts(&url, None, "hi", T, &offer("chat.v2")).await;
        let error = out.error.clone().unwrap_or_default();
        assert!(
            out.status == 400 && error.contains("none of the subprotocols offered"),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn wss_echo_through_tls() {
        use crate::probe::tls::test_support::{Ca, serve};
        let ca = Ca::root("Test Root");
        let addr = serve(ca.leaf(&["localhost"], None), |stream| async move {
            serve_ws(stream, Behaviour::Echo).await;
        })
        .await;
        let config = TlsConfig::without_system_roots()
            .with_extra_root_der(&ca.cert)
            .unwrap();
        let url = format!("wss://localhost:{}/socket", addr.port());
        let out = roundtrip_with(&url, None, "secure hello", T, &config).await;
        assert_eq!(out.error, None);
        assert!(out.echoed);
        // Untrusted with the system roots alone.
        let out = roundtrip(&url, None, "secure hello", T).await;
        assert!(out.error.unwrap().contains("unknown issuer"));
    }

    /// socket.io over `wss://` trusts the configured CA as the echo probe does (it used the
    /// system roots only, so `[integration] websocket_ca` did not reach socket.io paths).
    #[tokio::test]
    async fn wss_socket_io_trusts_the_configured_ca() {
        use crate::probe::tls::test_support::{Ca, serve};
        let ca = Ca::root("Test Root");
        let addr = serve(ca.leaf(&["localhost"], None), |mut stream| async move {
            let (key, _) = read_handshake(&mut stream).await;
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                accept_key(&key)
            );
            stream.write_all(response.as_bytes()).await.unwrap();
            let open = br#"0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#;
            stream
                .write_all(&server_frame(OP_TEXT, true, open))
                .await
                .unwrap();
            let mut wire = Wire::new(stream);
            let _connect = read_frame(&mut wire).await;
            let _ = wire
                .io()
                .write_all(&server_frame(OP_TEXT, true, br#"40{"sid":"n1"}"#))
                .await;
            let _ = read_frame(&mut wire).await;
        })
        .await;
        let config = TlsConfig::without_system_roots()
            .with_extra_root_der(&ca.cert)
            .unwrap();
        let url = format!(
            "wss://localhost:{}/socket.io/?EIO=4&transport=websocket",
            addr.port()
        );
        let out = engine_io_roundtrip(&url, None, T, &config).await;
        assert_eq!(out.error, None, "{out:?}");
        assert!(out.echoed && out.accept_valid, "{out:?}");
        let out = engine_io_roundtrip(&url, None, T, &TlsConfig::default()).await;
        assert!(
            out.error
                .as_deref()
                .is_some_and(|e| e.contains("unknown issuer")),
            "{out:?}"
        );
    }
}
