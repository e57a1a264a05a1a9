//! Name resolution and TCP connection for the network probes: turns `host:port` into socket
//! addresses and races connections to them (Happy Eyeballs, RFC 8305), so a server reachable on
//! any of a name's addresses is found.
//!
//! `localhost` (and `*.localhost`, RFC 6761) always means both `127.0.0.1` and `::1`, whatever
//! `/etc/hosts` says: many hosts map it to only one family while dev servers (Vite, Node ≥ 17)
//! bind to `::1` only or to `127.0.0.1` only, and a readiness poll that tries just one of them
//! waits forever on a server that is up.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::http::HttpError;

/// Head start given to one connection attempt before the next address is tried in parallel
/// (RFC 8305 recommends 250 ms). A refused attempt starts the next one at once, so on loopback
/// the addresses are tried back to back with no delay.
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Whether `host` is a loopback name that must resolve to both address families.
fn is_localhost(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .len()
            .checked_sub(".localhost".len())
            .and_then(|at| host.get(at..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(".localhost"))
}

/// Resolves `host` (a name or an IP literal without brackets) to the addresses to try, in the
/// order to try them: families interleaved, the resolver's first family first.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    deadline: Instant,
    budget: Duration,
) -> Result<Vec<SocketAddr>, HttpError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if is_localhost(host) {
        // IPv4 first: most servers that bind one family bind 0.0.0.0 or 127.0.0.1, and a refused
        // loopback connect costs microseconds, so the order only matters for which one wins.
        return Ok(vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        ]);
    }
    let found = timeout_at(deadline, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| HttpError::Timeout {
            after: budget,
            stage: "dns",
        })?
        .map_err(|source| HttpError::Dns {
            host: host.to_owned(),
            source,
        })?;
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut first_is_v6 = None;
    for addr in found {
        first_is_v6.get_or_insert(addr.is_ipv6());
        let list = if addr.is_ipv6() { &mut v6 } else { &mut v4 };
        if !list.contains(&addr) {
            list.push(addr);
        }
    }
    let (first, second) = if first_is_v6 == Some(true) {
        (v6, v4)
    } else {
        (v4, v6)
    };
    let mut ordered = Vec::with_capacity(first.len() + second.len());
    let mut first = first.into_iter();
    let mut second = second.into_iter();
    loop {
        match (first.next(), second.next()) {
            (None, None) => break,
            (a, b) => ordered.extend(a.into_iter().chain(b)),
        }
    }
    if ordered.is_empty() {
        return Err(HttpError::Dns {
            host: host.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "the name has no addresses"),
        });
    }
    Ok(ordered)
}

/// Describes a failed connection attempt in the words an operator searches for.
fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused (nothing listening)".to_owned(),
        io::ErrorKind::AddrNotAvailable => "address not available on this host".to_owned(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".to_owned(),
        io::ErrorKind::HostUnreachable => "host unreachable".to_owned(),
        _ => err.to_string(),
    }
}

/// Connects to the first of `addrs` that accepts. Attempts are staggered by [`ATTEMPT_DELAY`]
/// and run in parallel once started; a failed attempt starts the next one immediately. The
/// losing attempts are aborted when a winner is found.
pub(crate) async fn connect(
    addrs: &[SocketAddr],
    deadline: Instant,
    budget: Duration,
) -> Result<(TcpStream, SocketAddr), HttpError> {
    let mut pending = addrs.iter().copied();
    let mut attempts: JoinSet<(SocketAddr, io::Result<TcpStream>)> = JoinSet::new();
    let mut failures: Vec<String> = Vec::new();
    let mut exhausted = false;
    loop {
        if attempts.is_empty() {
            match pending.next() {
                Some(addr) => {
                    attempts.spawn(async move { (addr, TcpStream::connect(addr).await) });
                }
                None => exhausted = true,
            }
        }
        if attempts.is_empty() && exhausted {
            return Err(HttpError::Connect {
                addrs: addrs.to_vec(),
                reason: if failures.is_empty() {
                    "no address to connect to".to_owned()
                } else {
                    failures.join("; ")
                },
            });
        }
        let next_attempt_at = (Instant::now() + ATTEMPT_DELAY).min(deadline);
        tokio::select! {
            joined = attempts.join_next() => match joined {
                Some(Ok((addr, Ok(stream)))) => return Ok((stream, addr)),
                Some(Ok((addr, Err(err)))) => failures.push(format!("{addr}: {}", describe(&err))),
                Some(Err(err)) => failures.push(format!("connect task failed: {err}")),
                None => {}
            },
            () = sleep_until(next_attempt_at) => {
                if Instant::now() >= deadline {
                    return Err(HttpError::Timeout { after: budget, stage: "connect" });
                }
                if let Some(addr) = pending.next() {
                    attempts.spawn(async move { (addr, TcpStream::connect(addr).await) });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_names_are_recognised() {
        assert!(is_localhost("localhost"));
        assert!(is_localhost("LOCALHOST."));
        assert!(is_localhost("app.localhost"));
        assert!(!is_localhost("notlocalhost"));
        assert!(!is_localhost("localhost.example.com"));
        assert!(!is_localhost("host"));
    }

    #[tokio::test]
    async fn localhost_resolves_to_both_families() {
        let deadline = Instant::now() + Duration::from_secs(1);
        let addrs = resolve("localhost", 8080, deadline, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            addrs,
            vec![
                "127.0.0.1:8080".parse().unwrap(),
                "[::1]:8080".parse().unwrap()
            ]
        );
    }

    #[tokio::test]
    async fn ip_literals_skip_the_resolver() {
        let deadline = Instant::now() + Duration::from_secs(1);
        let addrs = resolve("::1", 1, deadline, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(addrs, vec!["[::1]:1".parse().unwrap()]);
    }
}
