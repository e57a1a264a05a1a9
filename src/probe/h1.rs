//! HTTP/1.1 response reading on a raw connection, for the one exchange that cannot go through
//! the HTTP client: the WebSocket upgrade (`probe/ws.rs`), which needs the connection itself
//! after the `101`. Every read is bounded in size ([`MAX_HEAD`] for headers, a caller's limit
//! for bodies); no panics on any peer input.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::http::{HttpError, clip, is_token};

/// Cap on the status line plus headers of one response.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Cap on one chunk-size or trailer line.
const MAX_LINE: usize = 4 * 1024;

/// How much buffer each socket read may fill.
const READ_CHUNK: usize = 16 * 1024;

/// Largest up-front allocation for a body whose `Content-Length` was announced: the header is
/// the peer's word, so memory is committed only as bytes arrive.
const MAX_PREALLOC: usize = 1024 * 1024;

/// Status line and headers of one response.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<(String, String)>,
}

/// Finds the blank line ending a response head, searching from `from`. Returns where the head's
/// text ends and where the body starts. Accepts bare `\n` line ends, as lenient clients do.
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
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
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    pub(crate) fn new(io: S) -> Self {
        Wire {
            io,
            buf: Vec::new(),
        }
    }

    /// The connection, for writing.
    pub(crate) fn io(&mut self) -> &mut S {
        &mut self.io
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

#[cfg(test)]
mod tests {
    use super::*;

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
