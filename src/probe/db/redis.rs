//! Redis probe (RESP2, over TLS for `rediss://`), as redis-py and redis-rs connect: `AUTH [user]
//! password` when the URL has a password (a server with none configured is a warning, not a
//! failure), `SELECT n` when it names a database other than 0, `PING` (the timed round trip), then
//! `INFO server` for the version. Server errors keep their first word (NOAUTH, WRONGPASS, ERR)
//! as the outcome's code.

use std::time::Instant;

use super::url::DbUrl;
use super::wire::{Cursor, Fail, Io, Progress, Wire, text};

/// Longest status/error line accepted.
const MAX_LINE: usize = 64 * 1024;
/// Largest bulk reply accepted (`INFO server` is about 1 KiB).
const MAX_BULK: usize = 1 << 20;

enum Reply {
    Status(String),
    Error(String),
    Bulk(Vec<u8>),
    Other,
}

pub(super) async fn run(url: &DbUrl, io: Box<dyn Io>, progress: &Progress) -> Result<(), Fail> {
    let mut w = Wire::new(io, progress);
    if let Some(password) = &url.password {
        progress.waiting_for("the answer to AUTH");
        let mut args = vec![b"AUTH".as_slice()];
        if let Some(user) = &url.user {
            args.push(user.as_bytes());
        }
        args.push(password.as_bytes());
        match expect_ok(&mut w, progress, &args).await {
            // redis-py and redis-rs carry on against a server with no password: the app works,
            // but its configuration says something the server does not.
            Err(Fail::Said { message, .. })
                if message.contains("without any password configured")
                    || message.contains("no password is set") =>
            {
                progress.update(|p| {
                    p.warning = Some(
                        "the URL has a password but the server has none configured (AUTH is refused, the connection still works)"
                            .to_owned(),
                    );
                });
            }
            other => other?,
        }
    }
    // Database 0 is where every connection starts; clients send SELECT only for another one, so
    // an ACL user without +select still connects to /0.
    if let Some(db) = url.database.as_ref().filter(|db| db.trim() != "0") {
        progress.waiting_for("the answer to SELECT");
        expect_ok(&mut w, progress, &[b"SELECT", db.as_bytes()]).await?;
    }

    progress.waiting_for("the answer to PING");
    let start = Instant::now();
    w.send(&command(&[b"PING"])).await?;
    match read_reply(&mut w, progress).await? {
        Reply::Status(s) if s.eq_ignore_ascii_case("PONG") => progress.latency(start),
        Reply::Error(e) => return Err(server_error(&e)),
        _ => return Err(Fail::Garbled("PING was not answered with PONG".to_owned())),
    }

    // The version is a nicety: a server that forbids INFO (ACLs, renamed commands) is still up.
    progress.waiting_for("the answer to INFO server");
    w.send(&command(&[b"INFO", b"server"])).await?;
    if let Reply::Bulk(info) = read_reply(&mut w, progress).await? {
        let info = text(&info);
        let version = ["redis_version:", "valkey_version:"]
            .iter()
            .find_map(|k| info.lines().find_map(|l| l.strip_prefix(k)));
        if let Some(v) = version {
            progress.version(v.trim());
        }
    }
    w.close().await;
    Ok(())
}

async fn expect_ok(w: &mut Wire<'_>, progress: &Progress, args: &[&[u8]]) -> Result<(), Fail> {
    w.send(&command(args)).await?;
    match read_reply(w, progress).await? {
        Reply::Status(s) if s == "OK" => Ok(()),
        Reply::Error(e) => Err(server_error(&e)),
        _ => Err(Fail::Garbled("expected +OK".to_owned())),
    }
}

/// "-WRONGPASS invalid username-password pair" → code WRONGPASS and the whole text.
fn server_error(line: &str) -> Fail {
    let code = line.split_whitespace().next().map(str::to_owned);
    Fail::Said {
        message: line.to_owned(),
        code,
    }
}

/// A command as a RESP array of bulk strings.
fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

async fn read_reply(w: &mut Wire<'_>, progress: &Progress) -> Result<Reply, Fail> {
    // Judge the type byte at once: a non-Redis peer may never send a newline.
    let kind = w.read_u8().await?;
    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(Fail::Garbled(format!(
            "a reply starting with {:?}",
            char::from(kind)
        )));
    }
    let line = text(&w.read_line(MAX_LINE).await?);
    progress.spoken();
    Ok(match kind {
        b'+' => Reply::Status(line),
        b'-' => Reply::Error(line),
        b'$' => {
            let len: i64 = line
                .trim()
                .parse()
                .map_err(|_| Fail::Garbled("a bad bulk length".to_owned()))?;
            match usize::try_from(len) {
                Ok(n) if n <= MAX_BULK => {
                    let data = w.read_exact(n + 2).await?;
                    let mut c = Cursor::new(&data);
                    Reply::Bulk(c.take(n)?.to_vec())
                }
                Ok(_) => return Err(Fail::Garbled("an oversized bulk reply".to_owned())),
                Err(_) => Reply::Other,
            }
        }
        _ => Reply::Other,
    })
}

#[cfg(test)]
mod tests {
    use crate::probe::db::testutil::{
        absent, assert_verified, err, garbage_port, have_service, not_the_service, run, run_within,
        self_signed, spawn_server,
    };
    use std::time::Duration;

    fn redis_cli(args: &[&str]) -> bool {
        std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", "6379"])
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.starts_with(b"ERR"))
    }

    #[tokio::test]
    async fn redis_ping_succeeds() {
        if !have_service(6379, "Redis").await {
            return;
        }
        let out = run("redis://127.0.0.1:6379").await;
        assert_verified(&out, |v| v.starts_with(char::is_numeric));
        let out = run("redis://127.0.0.1:6379/3").await;
        assert!(out.ok, "{out:?}");
        let out = run("redis://127.0.0.1:6379/99999").await;
        assert!(
            !out.ok && err(&out).contains("DB index is out of range"),
            "{out:?}"
        );
        assert_eq!(out.code.as_deref(), Some("ERR"));
    }

    #[tokio::test]
    async fn redis_acl_user_and_wrong_password() {
        if !have_service(6379, "Redis").await {
            return;
        }
        let user = "dbprobe_acl";
        if !redis_cli(&[
            "ACL",
            "SETUSER",
            user,
            "on",
            ">R1ght-pw",
            "+ping",
            "+info",
            "+select",
            "allkeys",
        ]) {
            absent("could not create a Redis ACL user");
            return;
        }
        let ok = run(&format!("redis://{user}:R1ght-pw@127.0.0.1:6379/0")).await;
        let bad = run(&format!("redis://{user}:wr0ng-pw@127.0.0.1:6379")).await;
        // Without a password for the default user, redis-py and redis-rs carry on after the
        // refused AUTH: the connection works, with a warning.
        let no_default = run("redis://:wr0ng-pw@127.0.0.1:6379").await;
        redis_cli(&["ACL", "DELUSER", user]);
        assert!(ok.ok, "{ok:?}");
        assert!(!bad.ok);
        assert_eq!(bad.code.as_deref(), Some("WRONGPASS"), "{bad:?}");
        assert!(!err(&bad).contains("wr0ng-pw"));
        assert!(
            no_default.ok && no_default.warning.is_some(),
            "{no_default:?}"
        );
    }

    #[tokio::test]
    async fn redis_closed_port_and_garbage() {
        not_the_service(
            "redis://127.0.0.1:{port}",
            "Redis",
            b"\x00\x00\x00\x08garbage",
        )
        .await;
        // TLS to a port that never answers the handshake.
        let (port, _g) = garbage_port(b"").await;
        let out = run_within(
            &format!("rediss://127.0.0.1:{port}"),
            Duration::from_millis(500),
        )
        .await;
        assert!(
            err(&out).contains("did not complete a TLS handshake"),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn rediss_against_a_tls_redis() {
        let Some((_dir, cert, key)) = self_signed() else {
            return;
        };
        let Some(server) = spawn_server(
            "redis-server",
            &[
                "--port",
                "0",
                "--tls-port",
                "{port}",
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        .await
        else {
            return;
        };
        let port = server.port;
        let out = run(&format!("rediss://127.0.0.1:{port}?ssl_ca_certs={cert}")).await;
        assert!(out.ok && out.tls && out.server_version.is_some(), "{out:?}");
        let out = run(&format!("rediss://localhost:{port}?ssl_ca_certs={cert}")).await;
        assert!(out.ok && out.tls, "{out:?}");
        // The certificate is not signed by any system CA.
        let out = run(&format!("rediss://127.0.0.1:{port}")).await;
        assert!(!out.ok && err(&out).contains("certificate"), "{out:?}");
        let out = run(&format!("rediss://127.0.0.1:{port}?ssl_cert_reqs=none")).await;
        assert!(out.ok && out.tls, "{out:?}");
        // Plain RESP to a TLS port: the server waits for a ClientHello, or closes.
        let out = run_within(
            &format!("redis://127.0.0.1:{port}"),
            Duration::from_millis(600),
        )
        .await;
        assert!(
            !out.ok && err(&out).contains("did not speak the Redis protocol"),
            "{out:?}"
        );
    }
}
