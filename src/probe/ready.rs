//! Readiness of a local app: is its port accepting, on `127.0.0.1` or `::1`, and does its
//! health endpoint answer 2xx. Built for tight polling on loopback: a bare TCP connect and a
//! minimal HTTP/1.1 GET that reads only the status line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Health paths tried, in order, when none is configured.
pub const HEALTH_CANDIDATES: &[&str] = &["/health", "/healthz", "/api/health", "/ready", "/"];

/// Connect to `port` on `127.0.0.1` and `::1` at once; the first address that accepts wins. A
/// server bound only to `::1` is ready too (the hang wait-on users hit when `localhost`
/// resolves to one family only).
pub async fn tcp_ready(port: u16, timeout: Duration) -> Option<SocketAddr> {
    let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port);
    let attempt = |addr| async move {
        tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|_| addr)
    };
    let (a, b) = (attempt(v4), attempt(v6));
    tokio::pin!(a, b);
    tokio::select! {
        r = &mut a => match r { Some(addr) => Some(addr), None => b.await },
        r = &mut b => match r { Some(addr) => Some(addr), None => a.await },
    }
}

/// GET `path` on `addr` and return the status code and the time to it. Reads only what it
/// needs: the status line.
pub async fn http_status(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Duration), String> {
    let started = Instant::now();
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
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
        let addr = tcp_ready(port, Duration::from_secs(1)).await.unwrap();
        assert!(addr.is_ipv6());
        let (status, _) = http_status(addr, "/health", Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(status, 204);
    }

    #[tokio::test]
    async fn closed_port_is_not_ready() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(tcp_ready(port, Duration::from_millis(200)).await.is_none());
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
