//! `PostgreSQL` probe: libpq's rules for what to connect to (`pgconf.rs`: socket directories,
//! several hosts, `target_session_attrs`, `sslmode` including `allow`/`prefer` fallback), and
//! tokio-postgres for the conversation itself (startup, `options`, trust/cleartext/MD5/SCRAM
//! authentication with `SASLprep`, SCRAM-SHA-256-PLUS and `channel_binding`), then `SELECT 1`.
//! Server errors keep their SQLSTATE as the outcome's code.
//!
//! The socket is opened here rather than by tokio-postgres so that the probe keeps what the
//! report needs and the crate does not expose: the TCP connect time, the first bytes a
//! non-`PostgreSQL` peer sent, and which stage a timeout interrupted.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::config::{ChannelBinding, SslMode};
use tokio_postgres::tls::TlsConnect;

use super::outcome::describe_attempt;
use super::pgconf::{PgConf, PgHost};
use super::tls::PgTls;
use super::url::{DbUrl, TlsMode};
use super::wire::{Fail, Io, Partial, Progress, connect, io_words};

/// The role libpq would use when the URL names none: the operating-system user.
pub(super) fn default_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "postgres".to_owned())
}

pub(super) async fn run(url: &DbUrl, progress: &Progress) -> Result<(), Fail> {
    let Some(conf) = &url.pg else {
        return Err(Fail::said("not a PostgreSQL connection string"));
    };
    let attrs = conf
        .params
        .get("target_session_attrs")
        .map_or("any", String::as_str);
    // libpq's prefer-standby: a first pass over every host for a standby, then any server.
    let passes: &[&str] = if attrs == "prefer-standby" {
        &["standby", "any"]
    } else {
        std::slice::from_ref(&attrs)
    };
    let attempts = passes.len() * conf.hosts.len();
    let mut failures = Vec::new();
    for want in passes {
        for host in &conf.hosts {
            progress.update(|p| *p = Partial::default());
            match attempt(url, conf, host, want, progress).await {
                Ok(()) => return Ok(()),
                Err(fail) if attempts == 1 => return Err(fail),
                Err(fail) => {
                    let (words, _) = describe_attempt(fail, url, &progress.snapshot(), host.port);
                    failures.push(format!("{}: {words}", host_words(host)));
                }
            }
        }
    }
    Err(Fail::said(format!(
        "no host accepted the connection{}: {}",
        if attrs == "any" {
            String::new()
        } else {
            format!(" with target_session_attrs={attrs}")
        },
        failures.join("; ")
    )))
}

fn host_words(host: &PgHost) -> String {
    if host.is_socket() {
        format!("socket {}", host.socket_path())
    } else {
        format!("{}:{}", host.host, host.port)
    }
}

/// One host, with libpq's `sslmode` fallbacks: `allow` tries plain then TLS, `prefer` TLS then
/// plain, each only when the first try was refused.
async fn attempt(
    url: &DbUrl,
    conf: &PgConf,
    host: &PgHost,
    want: &str,
    progress: &Progress,
) -> Result<(), Fail> {
    // libpq never uses TLS over a Unix-domain socket.
    let mode = if host.is_socket() {
        TlsMode::Disable
    } else {
        url.tls
    };
    match mode {
        TlsMode::Allow => match session(url, conf, host, TlsMode::Disable, want, progress).await {
            Err(fail) if refused(&fail) => {
                progress.update(|p| *p = Partial::default());
                session(url, conf, host, TlsMode::Require, want, progress).await
            }
            other => other,
        },
        TlsMode::Prefer => match session(url, conf, host, TlsMode::Prefer, want, progress).await {
            Err(fail)
                if progress.snapshot().tls_attempted && (refused(&fail) || tls_failed(&fail)) =>
            {
                progress.update(|p| *p = Partial::default());
                session(url, conf, host, TlsMode::Disable, want, progress).await
            }
            other => other,
        },
        mode => session(url, conf, host, mode, want, progress).await,
    }
}

/// The server answered the startup with an error (a `hostssl`-only or `hostnossl`-only
/// `pg_hba.conf` rule, a wrong password): libpq retries with the other `sslmode` on any such
/// error, so the probe does too.
fn refused(fail: &Fail) -> bool {
    matches!(fail, Fail::Said { code: Some(_), .. })
}

fn tls_failed(fail: &Fail) -> bool {
    matches!(fail, Fail::Said { message, code: None } if message.contains("TLS handshake"))
}

/// Connects, authenticates, runs `SELECT 1` and checks the session's attributes.
async fn session(
    url: &DbUrl,
    conf: &PgConf,
    host: &PgHost,
    mode: TlsMode,
    want: &str,
    progress: &Progress,
) -> Result<(), Fail> {
    let io: Box<dyn Io> = if host.is_socket() {
        Box::new(connect_socket(host, progress).await?)
    } else {
        let addr = host.hostaddr.as_deref().unwrap_or(&host.host);
        Box::new(connect(addr, host.port, progress).await?)
    };
    let io = Recorder {
        io,
        progress: progress.clone(),
    };
    let mut config = tokio_postgres::Config::new();
    let user = conf.user.clone().unwrap_or_else(default_user);
    config.user(&user);
    config.dbname(conf.dbname.as_deref().unwrap_or(&user));
    if let Some(password) = &conf.password {
        config.password(password);
    }
    if let Some(options) = conf.params.get("options") {
        config.options(options);
    }
    config.application_name(
        conf.params
            .get("application_name")
            .map_or("devops-agent", String::as_str),
    );
    config.channel_binding(
        match conf.params.get("channel_binding").map(String::as_str) {
            Some("require") => ChannelBinding::Require,
            Some("disable") => ChannelBinding::Disable,
            _ => ChannelBinding::Prefer,
        },
    );
    if mode == TlsMode::Disable {
        config.ssl_mode(SslMode::Disable);
        drive(&config, io, tokio_postgres::NoTls, want, progress).await
    } else {
        config.ssl_mode(if mode == TlsMode::Prefer {
            SslMode::Prefer
        } else {
            SslMode::Require
        });
        progress.update(|p| p.tls_attempted = true);
        let tls = PgTls::new(url, &host.host, mode, progress.clone()).await?;
        drive(&config, io, tls, want, progress).await
    }
}

async fn drive<T>(
    config: &tokio_postgres::Config,
    io: Recorder,
    tls: T,
    want: &str,
    progress: &Progress,
) -> Result<(), Fail>
where
    T: TlsConnect<Recorder>,
    T::Stream: Unpin,
{
    progress.waiting_for("the answer to the startup message");
    let (client, connection) = config
        .connect_raw(io, tls)
        .await
        .map_err(|e| pg_fail(&e, progress))?;
    progress.spoken();
    if let Some(version) = connection.parameter("server_version") {
        progress.version(version);
    }
    let mut connection = std::pin::pin!(connection);
    let work = async {
        progress.waiting_for("the result of SELECT 1");
        let start = Instant::now();
        let rows = client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| pg_fail(&e, progress))?;
        let one = rows.iter().any(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0) == Some("1"),
            _ => false,
        });
        if !one {
            return Err(Fail::Garbled("SELECT 1 did not return 1".to_owned()));
        }
        let latency = super::wire::ms(start);
        session_attrs(&client, want, progress).await?;
        progress.update(|p| p.latency_ms = Some(latency));
        Ok(())
    };
    let result = tokio::select! {
        r = work => r,
        r = &mut connection => Err(match r {
            Err(e) => pg_fail(&e, progress),
            Ok(()) => Fail::Closed,
        }),
    };
    drop(client);
    // Dropping the client sends Terminate; give the connection a moment to flush it.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), connection).await;
    result
}

/// libpq's `target_session_attrs` checks, with its words for a server that does not qualify.
async fn session_attrs(
    client: &tokio_postgres::Client,
    want: &str,
    progress: &Progress,
) -> Result<(), Fail> {
    let (query, expect, refusal) = match want {
        "read-write" => ("SHOW transaction_read_only", "off", "session is read-only"),
        "read-only" => (
            "SHOW transaction_read_only",
            "on",
            "session is not read-only",
        ),
        "primary" => (
            "SELECT pg_is_in_recovery()",
            "f",
            "server is in hot standby mode",
        ),
        "standby" => (
            "SELECT pg_is_in_recovery()",
            "t",
            "server is not in hot standby mode",
        ),
        _ => return Ok(()),
    };
    progress.waiting_for("the session's attributes (target_session_attrs)");
    let rows = client
        .simple_query(query)
        .await
        .map_err(|e| pg_fail(&e, progress))?;
    let got = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
        _ => None,
    });
    if got.as_deref() == Some(expect) {
        Ok(())
    } else {
        Err(Fail::said(refusal))
    }
}

async fn connect_socket(
    host: &PgHost,
    progress: &Progress,
) -> Result<tokio::net::UnixStream, Fail> {
    let path = host.socket_path();
    if host.host.starts_with('@') {
        return Err(Fail::said(format!(
            "abstract Unix-domain socket {path:?} is not supported by the probe"
        )));
    }
    progress.waiting_for("the Unix-domain socket connection");
    let start = Instant::now();
    let stream = tokio::net::UnixStream::connect(&path).await.map_err(|e| {
        Fail::said(format!(
            "could not connect to the server's socket {path:?}: {}",
            io_words(&e)
        ))
    })?;
    progress.update(|p| {
        p.connect_ms = Some(super::wire::ms(start));
        p.connected = true;
    });
    Ok(stream)
}

/// Turns tokio-postgres's error into the probe's words: the server's own message and SQLSTATE,
/// or, before the server said anything valid, what a non-`PostgreSQL` peer did.
fn pg_fail(e: &tokio_postgres::Error, progress: &Progress) -> Fail {
    if let Some(db) = e.as_db_error() {
        let mut message = db.message().to_owned();
        if let Some(detail) = db.detail() {
            message.push_str(" (");
            message.push_str(detail);
            message.push(')');
        }
        return Fail::Said {
            message,
            code: Some(db.code().code().to_owned()),
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut io = None;
    while let Some(s) = source {
        if let Some(err) = s.downcast_ref::<std::io::Error>() {
            io = Some(std::io::Error::new(err.kind(), err.to_string()));
            break;
        }
        source = s.source();
    }
    let part = progress.snapshot();
    if !part.spoken {
        return match io {
            Some(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => Fail::Closed,
            Some(err) if !part.tls => Fail::Io(err),
            _ if part.first_bytes.is_empty() => Fail::Closed,
            _ => Fail::Garbled(e.to_string()),
        };
    }
    // tokio-postgres's own text names the stage ("error performing TLS handshake"); the cause
    // (which certificate check failed) is in the source chain.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = s.source();
    }
    match io {
        Some(err) if err.kind() == std::io::ErrorKind::UnexpectedEof && !text.contains("TLS") => {
            Fail::Closed
        }
        _ => Fail::said(text.replace("error performing TLS handshake", "TLS handshake failed")),
    }
}

/// The socket as tokio-postgres sees it, noting the first bytes the server sends and whether
/// they are a `PostgreSQL` answer (`S`/`N` to `SSLRequest`, `R`/`E`/`v` to the startup message).
pub(super) struct Recorder {
    io: Box<dyn Io>,
    progress: Progress,
}

impl AsyncRead for Recorder {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.io).poll_read(cx, buf);
        let got = buf.filled().get(before..).unwrap_or_default();
        if !got.is_empty() {
            self.progress.update(|p| {
                if p.first_bytes.is_empty() {
                    // A real server answers SSLRequest with the one byte and waits.
                    p.spoken = matches!(got, [b'S' | b'N'])
                        || matches!(got.first(), Some(b'R' | b'E' | b'v')) && got.len() >= 5;
                }
                let room = 48usize.saturating_sub(p.first_bytes.len());
                p.first_bytes
                    .extend_from_slice(got.get(..room.min(got.len())).unwrap_or_default());
            });
        }
        poll
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use crate::probe::db::testutil::{
        assert_verified, closed_port, err, garbage_port, have_service, run, run_within,
    };
    use std::time::Duration;

    #[tokio::test]
    async fn postgres_select_1_succeeds() {
        if !have_service(5432, "PostgreSQL").await {
            return;
        }
        let out = run("postgres://postgres@127.0.0.1:5432/test?sslmode=disable").await;
        assert_verified(&out, |v| v.starts_with(char::is_numeric));
        assert!(!out.tls && out.connect_ms.is_some(), "{out:?}");
        assert_eq!(out.code, None);
    }

    #[tokio::test]
    async fn postgres_over_tls() {
        // The test server has ssl=on with Debian's self-signed "snakeoil" certificate for
        // localhost: `require` encrypts without judging it, `verify-full` must reject it
        // unless told to trust it, and `verify-ca` ignores the name.
        if !have_service(5432, "PostgreSQL").await {
            return;
        }
        let base = "postgres://postgres@127.0.0.1:5432/test";
        let out = run(&format!("{base}?sslmode=require")).await;
        if err(&out).contains("does not support SSL") {
            crate::probe::db::testutil::absent("PostgreSQL on 5432 has ssl=off");
            return;
        }
        assert!(out.ok && out.tls, "{out:?}");
        let out = run(&format!("{base}?sslmode=prefer")).await;
        assert!(out.ok && out.tls, "{out:?}");
        let out = run(&format!("{base}?sslmode=verify-full")).await;
        // Debian puts the snakeoil certificate itself into /etc/ssl/certs, so with the system
        // roots only its name (localhost, not 127.0.0.1) can fail; elsewhere its issuer does.
        assert!(
            !out.ok && (err(&out).contains("certificate") || err(&out).contains("name mismatch")),
            "{out:?}"
        );
        let snakeoil = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
        if std::path::Path::new(snakeoil).exists() {
            let out = run(&format!(
                "{base}?sslmode=verify-full&sslrootcert={snakeoil}"
            ))
            .await;
            assert!(!out.ok && err(&out).contains("name mismatch"), "{out:?}");
            let out = run(&format!("{base}?sslmode=verify-ca&sslrootcert={snakeoil}")).await;
            assert!(out.ok && out.tls, "{out:?}");
            let out = run(&format!(
                "postgres://postgres@localhost:5432/test?sslmode=verify-full&sslrootcert={snakeoil}"
            ))
            .await;
            assert!(out.ok && out.tls, "{out:?}");
        }
    }

    #[tokio::test]
    async fn postgres_wrong_database_and_role() {
        // The test server trusts every TCP connection, so a wrong password cannot fail there;
        // a missing database and a missing role exercise the same ErrorResponse path.
        if !have_service(5432, "PostgreSQL").await {
            return;
        }
        let out = run("postgres://postgres:whatever@127.0.0.1:5432/nope_db?sslmode=disable").await;
        assert!(!out.ok);
        assert_eq!(out.code.as_deref(), Some("3D000"), "{out:?}");
        assert!(
            err(&out).contains("database \"nope_db\" does not exist"),
            "{out:?}"
        );
        assert!(!err(&out).contains("whatever"));
        let out = run("postgres://no_such_role_xyz@127.0.0.1:5432/test").await;
        assert!(!out.ok);
        assert_eq!(out.code.as_deref(), Some("28000"), "{out:?}");
        assert!(err(&out).contains("no_such_role_xyz"), "{out:?}");
    }

    #[tokio::test]
    async fn postgres_closed_port() {
        let out = run(&format!("postgres://u@127.0.0.1:{}/db", closed_port())).await;
        assert!(
            !out.ok && err(&out).contains("connection refused"),
            "{out:?}"
        );
        assert!(out.connect_ms.is_none() && !out.protocol_verified);
    }

    #[tokio::test]
    async fn postgres_not_postgres() {
        let (port, _g) = garbage_port(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        let out = run(&format!("postgres://u@127.0.0.1:{port}/db?sslmode=disable")).await;
        assert!(!out.ok);
        assert!(
            err(&out).contains(&format!(
                "port {port} accepted TCP but did not speak the PostgreSQL protocol"
            )),
            "{out:?}"
        );
        assert!(err(&out).contains("HTTP/1.1 400"), "{out:?}");
        // With the default sslmode=prefer the first byte answers SSLRequest.
        let out = run(&format!("postgres://u@127.0.0.1:{port}/db")).await;
        assert!(
            err(&out).contains("did not speak the PostgreSQL protocol"),
            "{out:?}"
        );

        let (port, _g) = garbage_port(b"").await;
        let out = run_within(
            &format!("postgres://u@127.0.0.1:{port}/db"),
            Duration::from_millis(600),
        )
        .await;
        assert!(!out.ok);
        assert!(
            err(&out).contains("did not speak the PostgreSQL protocol (no answer within 600ms)"),
            "{out:?}"
        );
        assert!(out.connect_ms.is_some());
    }
}
