//! Readiness of a local app: is its port accepting, on `127.0.0.1` or `::1`, and does its
//! health endpoint answer 2xx. Built for tight polling on loopback: a bare TCP connect, kept
//! for a minimal HTTP/1.1 GET that reads only the status line. Nothing here reads `/proc`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Health paths tried, in order, when none is configured.
pub const HEALTH_CANDIDATES: &[&str] = &["/health", "/healthz", "/api/health", "/ready", "/"];

/// Connect to `port` on `127.0.0.1`, then `::1` when that is refused, and keep the connection:
/// the readiness poll sends its first health request on it, so a just-started server has one
/// connection to accept instead of three (both families, then the request) — under load, each
/// accept is a turn of its event loop. A refused connect on loopback returns at once, so the
/// second family costs microseconds; a server bound only to `::1` is found too.
pub async fn tcp_connect(port: u16, timeout: Duration) -> Option<(SocketAddr, TcpStream)> {
    for ip in [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ] {
        let addr = SocketAddr::new(ip, port);
        if let Ok(Ok(stream)) = tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            return Some((addr, stream));
        }
    }
    None
}

/// GET `path` on `addr` and return the status code and the time to it. Reads only what it
/// needs: the status line.
pub async fn http_status(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Duration), String> {
    http_status_on(None, addr, path, timeout).await
}

/// The same on an already connected `stream` (from [`tcp_connect`]), else a new connection.
pub async fn http_status_on(
    stream: Option<TcpStream>,
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Duration), String> {
    let started = Instant::now();
    let exchange = async {
        let mut stream = match stream {
            Some(s) => s,
            None => TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect {addr}: {e}"))?,
        };
        let _ = stream.set_nodelay(true);
        let host = match addr.ip() {
            IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
            IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: devops-agent/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut head = Vec::with_capacity(256);
        let mut buf = [0u8; 512];
        while !head.windows(2).any(|w| w == b"\r\n") {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed before a status line".to_owned());
            }
            head.extend_from_slice(&buf[..n]);
            if head.len() > 8192 {
                return Err("no HTTP status line in the first 8 KiB".to_owned());
            }
        }
        parse_status(&head).ok_or_else(|| "the answer is not HTTP".to_owned())
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(status)) => Ok((status, started.elapsed())),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        )),
    }
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Polling back-off for readiness: the first attempt at once, then a pause of 2 ms growing by
/// half each time to 5 ms while the app is young, and to at most 250 ms once it has been
/// starting for 30 s. A refused connect on loopback costs microseconds, so polling tightly is
/// cheap and is what lets readiness be seen within milliseconds of `listen()`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
    started: Instant,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Duration::from_millis(2),
            started: Instant::now(),
        }
    }
}

/// Cap on the pause while an app has been starting for less than [`PATIENT_AFTER`].
const EAGER_CAP: Duration = Duration::from_millis(5);
/// After this long, polling slows to [`PATIENT_CAP`].
const PATIENT_AFTER: Duration = Duration::from_secs(30);
const PATIENT_CAP: Duration = Duration::from_millis(250);

impl Backoff {
    /// The pause before the next attempt.
    pub fn step(&mut self) -> Duration {
        let cap = if self.started.elapsed() < PATIENT_AFTER {
            EAGER_CAP
        } else {
            PATIENT_CAP
        };
        let now = self.next.min(cap);
        self.next = (self.next * 3 / 2).min(cap);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ipv6_only_server_is_ready_and_answers() {
        let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
            return;
        };
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
            }
        });
        let (addr, _) = tcp_connect(port, Duration::from_secs(1)).await.unwrap();
        assert!(addr.is_ipv6());
        let (status, _) = http_status(addr, "/health", Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(status, 204);
    }

    #[tokio::test]
    async fn ipv6_only_server_answers_on_the_kept_connection() {
        let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
            return;
        };
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
            // Only this one connection was made.
            tokio::time::timeout(Duration::from_millis(100), listener.accept())
                .await
                .is_err()
        });
        let (addr, stream) = tcp_connect(port, Duration::from_secs(1)).await.unwrap();
        assert!(addr.is_ipv6());
        let (status, _) = http_status_on(Some(stream), addr, "/health", Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert!(accepted.await.unwrap(), "a second connection was made");
    }

    #[tokio::test]
    async fn closed_port_is_not_ready() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(
            tcp_connect(port, Duration::from_millis(200))
                .await
                .is_none()
        );
    }

    #[test]
    fn backoff_grows_to_a_cap() {
        let mut b = Backoff::default();
        let steps: Vec<u128> = (0..12).map(|_| b.step().as_millis()).collect();
        assert_eq!(steps[0], 2);
        assert_eq!(*steps.last().unwrap(), 5);
        b.started -= PATIENT_AFTER;
        let later: Vec<u128> = (0..12).map(|_| b.step().as_millis()).collect();
        assert_eq!(*later.last().unwrap(), 250);
    }
}
