//! The probe entry point and its result: connects, hands the stream to the protocol module for
//! the URL's kind, enforces the one deadline around all of it, and turns whatever happened into
//! a [`DbOutcome`] whose words a person can act on and which never holds a secret.

use std::time::Duration;

use super::url::{DbKind, DbUrl, TlsMode};
use super::wire::{Fail, Io, Partial, Progress, connect, io_words, snippet};
use super::{amqp, mqtt, mysql, nats, postgres, redis, tls};

/// The result of one probe. Serializable as evidence; contains no secret.
#[derive(Debug, Clone, serde::Serialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent facts about one probe, serialized as the report's evidence"
)]
pub struct DbOutcome {
    pub kind: DbKind,
    /// The URL, redacted.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub ok: bool,
    /// What failed, in words a person can act on: "password authentication failed for user
    /// \"app\"", "database \"nope\" does not exist", "connection refused", "port 6379 accepted
    /// TCP but did not speak the `PostgreSQL` protocol", "timed out after 5s waiting for …".
    /// Never contains the password.
    pub error: Option<String>,
    /// Server-side error code when the protocol gives one (SQLSTATE 28P01, `MySQL` 1045, …).
    pub code: Option<String>,
    /// TCP connect time.
    pub connect_ms: Option<f64>,
    /// The protocol round trip after auth (SELECT 1 / PING …); null if not reached.
    pub latency_ms: Option<f64>,
    pub server_version: Option<String>,
    /// True when the protocol was spoken end to end; false for `DbKind::Tcp` (TCP connect
    /// only) — the check labels those.
    pub protocol_verified: bool,
    /// Whether the exchange ran over TLS.
    pub tls: bool,
    /// On a connection that works: what the app's configuration says that the server does not
    /// (a Redis password for a server without one).
    pub warning: Option<String>,
    /// The probe failed after a TLS handshake found no protocol version or cipher suite in
    /// common that rustls implements (a TLS 1.2 server with only CBC or RSA key-exchange
    /// suites): libpq, libmysqlclient and other OpenSSL-based clients may still connect, so
    /// `ok: false` here is no verdict on what the app would see.
    pub inconclusive: bool,
}

/// Proves that what `url` names answers in its protocol and accepts its credentials, within
/// `timeout` for the whole exchange (resolving, connecting, TLS, authentication, round trip).
pub async fn probe(url: &DbUrl, timeout: Duration) -> DbOutcome {
    let progress = Progress::default();
    let result = tokio::time::timeout(timeout, exchange(url, &progress)).await;
    let part = progress.snapshot();
    let (error, code) = match result {
        Ok(Ok(())) => (None, None),
        // The round trip after authentication succeeded; only the goodbye failed or ran late.
        _ if part.latency_ms.is_some() => (None, None),
        Ok(Err(fail)) => {
            let (message, code) = describe(fail, url, &part);
            (Some(message), code)
        }
        Err(_elapsed) => (Some(describe_timeout(url, &part, timeout)), None),
    };
    let ok = error.is_none();
    DbOutcome {
        kind: url.kind,
        url: url.redacted(),
        host: url.host.clone(),
        port: url.port,
        ok,
        error: error.map(|e| scrub(&e, url)),
        code,
        connect_ms: part.connect_ms,
        latency_ms: part.latency_ms,
        server_version: part.server_version.map(|v| scrub(&v, url)),
        protocol_verified: ok && url.kind != DbKind::Tcp,
        tls: part.tls,
        warning: part.warning.filter(|_| ok),
        inconclusive: !ok && part.tls_incompatible,
    }
}

async fn exchange(url: &DbUrl, progress: &Progress) -> Result<(), Fail> {
    // PostgreSQL may have several hosts and Unix sockets; it opens its own connections.
    if url.kind == DbKind::Postgres {
        return postgres::run(url, progress).await;
    }
    if url.kind == DbKind::Mysql
        && let Some(path) = mysql::socket_path(url)
    {
        let io = mysql::connect_socket(path, progress).await?;
        return mysql::run(url, Box::new(io), true, progress).await;
    }
    let mut io: Box<dyn Io> = Box::new(connect(&url.host, url.port, progress).await?);
    // These protocols negotiate TLS inside the conversation, so they upgrade by themselves.
    match url.kind {
        DbKind::Tcp => return Ok(()),
        DbKind::Mysql => return mysql::run(url, io, false, progress).await,
        DbKind::Nats => return nats::run(url, io, progress).await,
        DbKind::Postgres | DbKind::Redis | DbKind::Amqp | DbKind::Mqtt => {}
    }
    // The others have no in-band negotiation: TLS starts with the first byte or not at all.
    if url.tls != TlsMode::Disable {
        io = tls::upgrade(io, url, url.tls, progress).await?;
    }
    match url.kind {
        DbKind::Redis => redis::run(url, io, progress).await,
        DbKind::Amqp => amqp::run(url, io, progress).await,
        _ => mqtt::run(url, io, progress).await,
    }
}

fn not_spoken(url: &DbUrl, why: &str) -> String {
    format!(
        "port {} accepted TCP but did not speak the {} protocol ({why})",
        url.port,
        url.kind.protocol_name()
    )
}

/// [`describe`] for one of several hosts a URL names.
pub(super) fn describe_attempt(
    fail: Fail,
    url: &DbUrl,
    part: &Partial,
    host_port: u16,
) -> (String, Option<String>) {
    let mut one = url.clone();
    one.port = host_port;
    describe(fail, &one, part)
}

fn describe(fail: Fail, url: &DbUrl, part: &Partial) -> (String, Option<String>) {
    let sent = format!("it sent \"{}\"", snippet(&part.first_bytes));
    let waiting = part.waiting_for;
    let message = match fail {
        Fail::Said { message, code } => return (message, code),
        Fail::Closed if !part.spoken && part.first_bytes.is_empty() => {
            not_spoken(url, "it closed the connection without answering")
        }
        Fail::Closed if !part.spoken => {
            not_spoken(url, &format!("{sent}, then closed the connection"))
        }
        Fail::Closed => {
            format!("the server closed the connection while the probe waited for {waiting}")
        }
        Fail::Garbled(why) if !part.spoken && part.first_bytes.is_empty() => not_spoken(url, &why),
        Fail::Garbled(_) if !part.spoken => not_spoken(url, &sent),
        Fail::Garbled(why) => format!(
            "unexpected {} reply while waiting for {waiting}: {why}",
            url.kind.protocol_name()
        ),
        Fail::Io(e) if !part.spoken => not_spoken(url, &io_words(&e)),
        Fail::Io(e) => format!("{} while waiting for {waiting}", io_words(&e)),
    };
    (message, None)
}

fn describe_timeout(url: &DbUrl, part: &Partial, timeout: Duration) -> String {
    let t = human(timeout);
    if !part.connected {
        return format!(
            "timed out after {t} waiting for {} ({}:{})",
            part.waiting_for, url.host, url.port
        );
    }
    if part.spoken {
        return format!("timed out after {t} waiting for {}", part.waiting_for);
    }
    if part.waiting_for == "the TLS handshake" {
        return format!(
            "port {} accepted TCP but did not complete a TLS handshake within {t}",
            url.port
        );
    }
    if part.first_bytes.is_empty() {
        not_spoken(url, &format!("no answer within {t}"))
    } else {
        not_spoken(
            url,
            &format!(
                "it sent \"{}\" and nothing valid within {t}",
                snippet(&part.first_bytes)
            ),
        )
    }
}

/// "5s", "1.5s", "250ms".
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Removes the URL's secrets from text that came partly from the server, which may echo what
/// it was sent (Redis's "unknown command … with args beginning with: …" does).
fn scrub(text: &str, url: &DbUrl) -> String {
    let token = (url.kind == DbKind::Nats && url.password.is_none())
        .then_some(url.user.as_deref())
        .flatten();
    [url.password.as_deref(), token]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |t, secret| t.replace(secret, "***"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::db::testutil::{closed_port, err, garbage_port, have_service, run_within};

    /// Each protocol's probe pointed at a real server of another protocol fails, saying the
    /// peer did not speak its protocol: not a pass, not a hang past the deadline. One row per
    /// protocol (each was a test of its own); every failing row is reported by name.
    #[tokio::test]
    async fn each_protocol_at_another_servers_port_says_it_was_not_spoken() {
        // (URL, the server really listening on its port, the port, the probe's deadline, what
        // the error must say). Redis waits for a command, MQTT for CONNECT, RabbitMQ answers a
        // non-AMQP greeting with its own header and closes.
        let cases: [(&str, &str, u16, u64, &str); 6] = [
            (
                "postgres://u@127.0.0.1:6379/db?sslmode=disable",
                "Redis",
                6379,
                800,
                "did not speak the PostgreSQL protocol",
            ),
            (
                "mysql://root@127.0.0.1:5432/",
                "PostgreSQL",
                5432,
                800,
                "did not speak the MySQL protocol",
            ),
            (
                "redis://127.0.0.1:5432",
                "PostgreSQL",
                5432,
                2000,
                "did not speak the Redis protocol",
            ),
            (
                "amqp://127.0.0.1:6379",
                "Redis",
                6379,
                800,
                "did not speak the AMQP 0-9-1 protocol",
            ),
            (
                "mqtt://127.0.0.1:5672",
                "RabbitMQ",
                5672,
                2000,
                "did not speak the MQTT protocol",
            ),
            (
                "nats://127.0.0.1:1883",
                "Mosquitto",
                1883,
                600,
                "did not speak the NATS protocol",
            ),
        ];
        let mut failed = Vec::new();
        for (url, server, port, deadline_ms, want) in cases {
            let name = format!("{url} (at {server})");
            // A task per row, so a row that panics (its server is absent) fails by name and
            // the other rows still run.
            let row = tokio::spawn(async move {
                if !have_service(port, server).await {
                    return Err(format!("{server} is not listening on {port}"));
                }
                let out = run_within(url, Duration::from_millis(deadline_ms)).await;
                if !out.ok && err(&out).contains(want) {
                    Ok(())
                } else {
                    Err(format!("expected a failure saying {want:?}, got {out:?}"))
                }
            })
            .await;
            match row {
                Ok(Ok(())) => {}
                Ok(Err(why)) => failed.push(format!("{name}: {why}")),
                Err(e) => failed.push(format!("{name}: panicked ({e})")),
            }
        }
        assert!(failed.is_empty(), "failing rows:\n{}", failed.join("\n"));
    }

    #[test]
    fn probe_future_is_send() {
        // The check runs probes concurrently on spawned tasks.
        fn assert_send<T: Send>(_: &T) {}
        let url = DbUrl::parse("postgres://h/db").unwrap_or_else(|e| panic!("{e}"));
        assert_send(&probe(&url, Duration::from_secs(1)));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(5)), "5s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn secrets_are_scrubbed_from_server_text() {
        let url = DbUrl::parse("redis://:hunter2@h").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            scrub("unknown command, args: 'hunter2'", &url),
            "unknown command, args: '***'"
        );
        let url = DbUrl::parse("nats://tok3n@h").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scrub("bad tok3n", &url), "bad ***");
    }

    #[tokio::test]
    async fn tcp_kind_connects_only() {
        let (port, _server) = garbage_port(b"").await;
        let url =
            DbUrl::parse(&format!("tcp://127.0.0.1:{port}")).unwrap_or_else(|e| panic!("{e}"));
        let out = probe(&url, Duration::from_secs(2)).await;
        assert!(out.ok, "{out:?}");
        assert!(!out.protocol_verified);
        assert!(out.connect_ms.is_some());
        let json = serde_json::to_value(&out).unwrap_or_default();
        assert_eq!(json["kind"], "tcp");

        let port = closed_port();
        let url =
            DbUrl::parse(&format!("tcp://127.0.0.1:{port}")).unwrap_or_else(|e| panic!("{e}"));
        let out = probe(&url, Duration::from_secs(2)).await;
        assert!(!out.ok);
        assert!(
            out.error
                .as_deref()
                .unwrap_or_default()
                .contains("connection refused"),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn ipv6_literal_hosts() {
        let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
            crate::probe::db::testutil::absent("IPv6 loopback is not available");
            return;
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let url = DbUrl::parse(&format!("tcp://[::1]:{port}")).unwrap_or_else(|e| panic!("{e}"));
        let out = probe(&url, Duration::from_secs(2)).await;
        assert!(out.ok && out.host == "::1", "{out:?}");
        assert_eq!(out.url, format!("tcp://[::1]:{port}"));
    }

    #[tokio::test]
    async fn localhost_tries_every_address() {
        // Only 127.0.0.1 listens; if localhost resolves to ::1 first, that refusal must not end
        // the probe.
        let (port, _server) = garbage_port(b"").await;
        let url =
            DbUrl::parse(&format!("tcp://localhost:{port}")).unwrap_or_else(|e| panic!("{e}"));
        let out = probe(&url, Duration::from_secs(2)).await;
        assert!(out.ok, "{out:?}");
    }
}
