//! Readiness of a local app: is its port accepting, on `127.0.0.1` or `::1`, and does its
//! health endpoint answer 2xx. Built for tight polling on loopback: a bare TCP connect (the
//! cheapest "is it listening yet"), then a GET through the probes' HTTP client, which keeps its
//! connection for the next poll and the health samples. Nothing here reads `/proc`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::http::{self, HttpError, Request};

/// Health paths tried, in order, when none is configured.
pub const HEALTH_CANDIDATES: &[&str] = &["/health", "/healthz", "/api/health", "/ready", "/"];

/// Connect to `port` on `127.0.0.1`, then `::1` when that is refused, and return the connection
/// (the caller closes it before asking over HTTP: a server with one synchronous worker would
/// otherwise serve the idle probe and never the request). A refused connect on loopback
/// returns at once, so the second family costs microseconds; a server bound only to `::1` is
/// found too.
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

/// GET `path` on `addr` and return the status code and the time to it, through the probes' one
/// HTTP client ([`super::http`]): HTTP/1.1 with keep-alive, so a poll or a run of health samples
/// after the first reuses one connection instead of opening one per request. Only the start of
/// the body is read (64 KiB): the status decides.
pub async fn http_status(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Duration), String> {
    let started = Instant::now();
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let url = format!("http://{addr}{path}");
    let request = Request::get(&url, timeout).body_prefix(STATUS_BODY);
    match http::send(&request).await {
        Ok(response) => Ok((response.status, started.elapsed())),
        Err(HttpError::Timeout { .. }) => Err(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Body bytes a status poll reads: small answers are read whole (so the connection goes back to
/// the pool), large ones are cut.
const STATUS_BODY: usize = 64 * 1024;

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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn ipv6_only_server_is_ready_and_answers() {
        let listener = crate::probe::http::tests::ipv6_loopback_listener().await;
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
