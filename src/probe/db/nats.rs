//! NATS probe: reads the server's `INFO {json}` (version, whether TLS is required), upgrades to
//! TLS when the URL or the server asks, sends `CONNECT` with user/password or token and `PING`,
//! expects `PONG` (or `-ERR 'Authorization Violation'`), then times one more `PING`.

use std::time::Instant;

use super::tls;
use super::url::{DbUrl, TlsMode};
use super::wire::{Fail, Io, Progress, Wire, text};

/// The server's INFO line is a few hundred bytes; 64 KiB leaves room for cluster URLs.
const MAX_LINE: usize = 64 * 1024;

pub(super) async fn run(url: &DbUrl, io: Box<dyn Io>, progress: &Progress) -> Result<(), Fail> {
    let mut w = Wire::new(io, progress);
    progress.waiting_for("the INFO greeting");
    // Judge the first bytes at once: a non-NATS peer may never send a newline.
    if !w.read_exact(5).await?.eq_ignore_ascii_case(b"INFO ") {
        return Err(Fail::Garbled("not an INFO greeting".to_owned()));
    }
    let line = w.read_line(MAX_LINE).await?;
    let info: serde_json::Value =
        serde_json::from_slice(&line).map_err(|_| Fail::Garbled("INFO is not JSON".to_owned()))?;
    progress.spoken();
    if let Some(v) = info.get("version").and_then(serde_json::Value::as_str) {
        progress.version(v);
    }
    let flag = |k: &str| {
        info.get(k)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    let (server_requires, server_offers) = (flag("tls_required"), flag("tls_available"));

    // NATS clients follow the server into TLS (verifying it) even for a plain nats:// URL.
    let mode = match url.tls {
        TlsMode::Disable if server_requires => TlsMode::VerifyFull,
        TlsMode::Prefer if !(server_requires || server_offers) => TlsMode::Disable,
        mode => mode,
    };
    if mode != TlsMode::Disable {
        if !(server_requires || server_offers) {
            return Err(Fail::said(
                "the server does not offer TLS, but the URL requires it",
            ));
        }
        if w.buffered() > 0 {
            return Err(Fail::Garbled("data before the TLS handshake".to_owned()));
        }
        let io = tls::upgrade(w.into_io(), url, mode, progress).await?;
        w = Wire::new(io, progress);
    }

    let mut connect = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "tls_required": mode != TlsMode::Disable,
        "name": "devops-agent",
        "lang": "rust",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
    });
    if let Some(fields) = connect.as_object_mut() {
        match (&url.user, &url.password) {
            (Some(user), Some(pass)) => {
                fields.insert("user".to_owned(), user.clone().into());
                fields.insert("pass".to_owned(), pass.clone().into());
            }
            // `nats://token@host`: a lone user part is a token, as NATS clients read it.
            (Some(token), None) | (None, Some(token)) => {
                fields.insert("auth_token".to_owned(), token.clone().into());
            }
            (None, None) => {}
        }
    }
    progress.waiting_for("PONG after CONNECT (the login result)");
    w.send(format!("CONNECT {connect}\r\nPING\r\n").as_bytes())
        .await?;
    await_pong(&mut w).await?;

    progress.waiting_for("PONG");
    let start = Instant::now();
    w.send(b"PING\r\n").await?;
    await_pong(&mut w).await?;
    progress.latency(start);
    w.close().await;
    Ok(())
}

/// Reads lines until PONG, answering the server's own PINGs and passing over INFO updates.
async fn await_pong(w: &mut Wire<'_>) -> Result<(), Fail> {
    loop {
        let line = text(&w.read_line(MAX_LINE).await?);
        let (op, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match op.to_ascii_uppercase().as_str() {
            "PONG" => return Ok(()),
            "PING" => w.send(b"PONG\r\n").await?,
            "+OK" | "INFO" => {}
            "-ERR" => {
                return Err(Fail::said(rest.trim().trim_matches('\'').to_owned()));
            }
            _ => return Err(Fail::Garbled(format!("an unexpected {op:?} line"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::probe::db::testutil::{
        assert_verified, err, garbage_port, have_service, not_the_service, run, self_signed,
        spawn_server,
    };

    #[tokio::test]
    async fn nats_ping_succeeds() {
        if !have_service(4222, "NATS").await {
            return;
        }
        let out = run("nats://127.0.0.1:4222").await;
        assert_verified(&out, |v| v.starts_with(char::is_numeric));
    }

    #[tokio::test]
    async fn nats_credentials_against_an_auth_server() {
        // The shared NATS has no auth, so a throwaway one with a user and a password.
        let Some(server) = spawn_server(
            "nats-server",
            &[
                "-a",
                "127.0.0.1",
                "-p",
                "{port}",
                "--user",
                "app",
                "--pass",
                "R1ght-pw",
            ],
        )
        .await
        else {
            return;
        };
        let port = server.port;
        let out = run(&format!("nats://app:R1ght-pw@127.0.0.1:{port}")).await;
        assert!(out.ok, "{out:?}");
        let out = run(&format!("nats://app:wr0ng-pw@127.0.0.1:{port}")).await;
        assert!(
            !out.ok && err(&out).contains("Authorization Violation"),
            "{out:?}"
        );
        assert!(!err(&out).contains("wr0ng-pw"));
        let out = run(&format!("nats://127.0.0.1:{port}")).await;
        assert!(
            !out.ok && err(&out).contains("Authorization Violation"),
            "{out:?}"
        );
        // TLS demanded of a server without it.
        let out = run(&format!("tls://app:R1ght-pw@127.0.0.1:{port}")).await;
        assert!(
            !out.ok && err(&out).contains("does not offer TLS"),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn nats_follows_a_tls_server() {
        let Some((_dir, cert, key)) = self_signed() else {
            return;
        };
        let args = [
            "-a",
            "127.0.0.1",
            "-p",
            "{port}",
            "--tls",
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
        ];
        let Some(server) = spawn_server("nats-server", &args).await else {
            return;
        };
        let port = server.port;
        // A plain nats:// URL follows the server into TLS, verifying as NATS clients do.
        let out = run(&format!("nats://127.0.0.1:{port}?sslrootcert={cert}")).await;
        assert!(out.ok && out.tls, "{out:?}");
        let out = run(&format!("nats://127.0.0.1:{port}")).await;
        assert!(!out.ok && err(&out).contains("certificate"), "{out:?}");
        let out = run(&format!("tls://127.0.0.1:{port}?sslmode=require")).await;
        assert!(out.ok && out.tls, "{out:?}");
    }

    #[tokio::test]
    async fn nats_closed_port_and_garbage() {
        not_the_service("nats://127.0.0.1:{port}", "NATS", b"+OK\r\n").await;
        let (port, _g) = garbage_port(b"INFO not-json\r\n").await;
        let out = run(&format!("nats://127.0.0.1:{port}")).await;
        assert!(
            err(&out).contains("did not speak the NATS protocol"),
            "{out:?}"
        );
    }
}
