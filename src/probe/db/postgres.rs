//! `PostgreSQL` probe (frontend/backend protocol 3.0): `SSLRequest` as `sslmode` says, the startup
//! message, authentication by trust, cleartext password, MD5 or SCRAM-SHA-256, then `SELECT 1`
//! and Terminate. Server errors keep their SQLSTATE as the outcome's code.

use std::num::NonZeroU32;
use std::time::Instant;

use super::crypto;
use super::tls;
use super::url::{DbUrl, TlsMode};
use super::wire::{Cursor, Fail, Io, Progress, Wire, text};

/// Larger than any message a healthy server sends before and during `SELECT 1`.
const MAX_MESSAGE: usize = 1 << 20;
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
const PROTOCOL_3_0: u32 = 196_608;

/// The role libpq would use when the URL names none: the operating-system user.
pub(super) fn default_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "postgres".to_owned())
}

pub(super) async fn run(url: &DbUrl, io: Box<dyn Io>, progress: &Progress) -> Result<(), Fail> {
    let mut w = Wire::new(io, progress);
    if url.tls != TlsMode::Disable {
        progress.waiting_for("the answer to SSLRequest");
        w.send(&SSL_REQUEST).await?;
        match w.read_u8().await? {
            b'S' => {
                // Anything already buffered was sent in the clear and could be an injection.
                if w.buffered() > 0 {
                    return Err(Fail::Garbled("data after the SSL answer".to_owned()));
                }
                progress.spoken();
                let io = tls::upgrade(w.into_io(), url, url.tls, progress).await?;
                w = Wire::new(io, progress);
            }
            b'N' if url.tls.required() => {
                progress.spoken();
                return Err(Fail::said(
                    "the server does not support SSL, but the URL requires it (sslmode)",
                ));
            }
            b'N' => progress.spoken(),
            b'E' => {
                return Err(Fail::Garbled("an error in answer to SSLRequest".to_owned()));
            }
            _ => return Err(Fail::Garbled("not an SSL answer".to_owned())),
        }
    }

    let user = url.user.clone().unwrap_or_else(default_user);
    let database = url.database.clone().unwrap_or_else(|| user.clone());
    let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
    for (k, v) in [
        ("user", user.as_str()),
        ("database", &database),
        ("application_name", "devops-agent"),
    ] {
        push_cstr(&mut body, k);
        push_cstr(&mut body, v);
    }
    body.push(0);
    w.send(&with_length(None, &body)).await?;
    progress.waiting_for("the answer to the startup message");

    // Authentication, then parameters until ReadyForQuery.
    loop {
        let (tag, body) = read_message(&mut w, progress).await?;
        match tag {
            b'R' => authenticate(&mut w, &body, url, &user, progress).await?,
            b'S' => {
                let mut c = Cursor::new(&body);
                if c.cstr() == b"server_version" {
                    progress.version(text(c.cstr()));
                }
            }
            b'Z' => break,
            b'K' | b'N' | b'v' => {}
            _ => {
                return Err(Fail::Garbled(format!(
                    "unexpected message '{}'",
                    char::from(tag)
                )));
            }
        }
    }

    progress.waiting_for("the result of SELECT 1");
    let start = Instant::now();
    w.send(&with_length(Some(b'Q'), b"SELECT 1\0")).await?;
    let mut got_one = false;
    loop {
        let (tag, body) = read_message(&mut w, progress).await?;
        match tag {
            b'D' => {
                let mut c = Cursor::new(&body);
                let columns = c.u16_be()?;
                let len = c.u32_be()?;
                got_one = columns == 1 && len == 1 && c.rest() == b"1";
            }
            b'Z' => break,
            b'T' | b'C' | b'N' | b'S' => {}
            _ => {
                return Err(Fail::Garbled(format!(
                    "unexpected message '{}'",
                    char::from(tag)
                )));
            }
        }
    }
    if !got_one {
        return Err(Fail::Garbled("SELECT 1 did not return 1".to_owned()));
    }
    progress.latency(start);
    let _ = w.send(&with_length(Some(b'X'), b"")).await;
    w.close().await;
    Ok(())
}

/// Answers one Authentication request; `Ok` when the exchange may go on.
async fn authenticate(
    w: &mut Wire<'_>,
    body: &[u8],
    url: &DbUrl,
    user: &str,
    progress: &Progress,
) -> Result<(), Fail> {
    let mut c = Cursor::new(body);
    let method = c.u32_be()?;
    let password = || {
        url.password.clone().ok_or_else(|| {
            Fail::said(format!(
                "the server wants a password for user \"{user}\" but the URL has none"
            ))
        })
    };
    progress.waiting_for("the authentication result");
    match method {
        0 => Ok(()),
        3 => {
            let mut msg = password()?.into_bytes();
            msg.push(0);
            w.send(&with_length(Some(b'p'), &msg)).await
        }
        5 => {
            let salt = c.take(4)?;
            let inner = crypto::hex(&crypto::md5(format!("{}{user}", password()?).as_bytes()));
            let outer = crypto::md5(&[inner.as_bytes(), salt].concat());
            let msg = format!("md5{}\0", crypto::hex(&outer));
            w.send(&with_length(Some(b'p'), msg.as_bytes())).await
        }
        10 => scram(w, c.rest(), password()?, progress).await,
        2 => Err(Fail::said(
            "the server wants Kerberos V5 authentication, which the probe does not support",
        )),
        7 | 8 => Err(Fail::said(
            "the server wants GSSAPI authentication, which the probe does not support",
        )),
        9 => Err(Fail::said(
            "the server wants SSPI authentication, which the probe does not support",
        )),
        other => Err(Fail::Garbled(format!(
            "unknown authentication request {other}"
        ))),
    }
}

/// SCRAM-SHA-256 (RFC 7677) without channel binding, as libpq does when not asked for it.
async fn scram(
    w: &mut Wire<'_>,
    mechanisms: &[u8],
    password: String,
    progress: &Progress,
) -> Result<(), Fail> {
    let offered: Vec<String> = mechanisms
        .split(|&b| b == 0)
        .filter(|m| !m.is_empty())
        .map(text)
        .collect();
    if !offered.iter().any(|m| m == "SCRAM-SHA-256") {
        return Err(Fail::said(format!(
            "the server offers only SASL mechanisms {offered:?}; the probe supports SCRAM-SHA-256 without channel binding"
        )));
    }
    let nonce = crypto::random(18)
        .map(|r| crypto::base64_encode(&r))
        .ok_or_else(|| Fail::said("no randomness available for the SCRAM nonce"))?;
    let client_first_bare = format!("n=,r={nonce}");
    let mut msg = b"SCRAM-SHA-256\0".to_vec();
    let first = format!("n,,{client_first_bare}");
    msg.extend_from_slice(&u32::try_from(first.len()).unwrap_or(0).to_be_bytes());
    msg.extend_from_slice(first.as_bytes());
    w.send(&with_length(Some(b'p'), &msg)).await?;

    let server_first = sasl_step(w, progress, 11).await?;
    // PBKDF2 is deliberately slow; keep it off the async worker threads.
    let (client_final, server_signature) = tokio::task::spawn_blocking(move || {
        scram_final(&password, &client_first_bare, &server_first, &nonce)
    })
    .await
    .map_err(|_| Fail::said("the SCRAM computation failed"))??;
    w.send(&with_length(Some(b'p'), client_final.as_bytes()))
        .await?;

    let server_final = sasl_step(w, progress, 12).await?;
    if let Some(err) = server_final.strip_prefix("e=") {
        return Err(Fail::said(format!("SCRAM authentication failed: {err}")));
    }
    let verifier = server_final
        .strip_prefix("v=")
        .and_then(crypto::base64_decode);
    if verifier.as_deref() != Some(server_signature.as_slice()) {
        // The server could not prove it knows the password: it is not the server we meant.
        return Err(Fail::said(
            "the server's SCRAM signature is wrong (not the expected server?)",
        ));
    }
    Ok(())
}

/// Reads the next Authentication message, which must be SASL step `want` (11 or 12).
async fn sasl_step(w: &mut Wire<'_>, progress: &Progress, want: u32) -> Result<String, Fail> {
    let (tag, body) = read_message(w, progress).await?;
    let mut c = Cursor::new(&body);
    if tag != b'R' || c.u32_be()? != want {
        return Err(Fail::Garbled(format!("expected SASL step {want}")));
    }
    Ok(text(c.rest()))
}

/// Computes SCRAM's client-final message and the server signature to expect.
fn scram_final(
    password: &str,
    client_first_bare: &str,
    server_first: &str,
    client_nonce: &str,
) -> Result<(String, Vec<u8>), Fail> {
    let field = |name: &str| {
        server_first
            .split(',')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
    };
    let bad = || Fail::Garbled("a malformed SCRAM server-first message".to_owned());
    let nonce = field("r")
        .filter(|n| n.starts_with(client_nonce))
        .ok_or_else(bad)?;
    let salt = field("s").and_then(crypto::base64_decode).ok_or_else(bad)?;
    let iterations = field("i")
        .and_then(|i| i.parse::<u32>().ok())
        .filter(|&i| i <= 10_000_000)
        .and_then(NonZeroU32::new)
        .ok_or_else(bad)?;
    let salted = crypto::pbkdf2_sha256(password.as_bytes(), &salt, iterations);
    let client_key = crypto::hmac_sha256(&salted, b"Client Key");
    let stored_key = crypto::sha256(&[&client_key]);
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = crypto::hmac_sha256(&stored_key, auth_message.as_bytes());
    let proof = crypto::xor(&client_key, &signature);
    let server_key = crypto::hmac_sha256(&salted, b"Server Key");
    let server_signature = crypto::hmac_sha256(&server_key, auth_message.as_bytes());
    Ok((
        format!("{without_proof},p={}", crypto::base64_encode(&proof)),
        server_signature,
    ))
}

/// Reads one backend message. Before the server has spoken, a first byte that no `PostgreSQL`
/// server sends first ends the probe at once instead of waiting for a length that never comes.
async fn read_message(w: &mut Wire<'_>, progress: &Progress) -> Result<(u8, Vec<u8>), Fail> {
    let tag = w.read_u8().await?;
    let spoken = progress.has_spoken();
    if !spoken && !matches!(tag, b'R' | b'E' | b'N' | b'v') {
        return Err(Fail::Garbled("not a PostgreSQL message".to_owned()));
    }
    let len = Cursor::new(&w.read_exact(4).await?).u32_be()?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if !(4..=MAX_MESSAGE).contains(&len) {
        return Err(Fail::Garbled(format!("a message length of {len}")));
    }
    let body = w.read_exact(len - 4).await?;
    if tag == b'E' {
        return Err(error_response(&body, spoken, progress));
    }
    progress.spoken();
    Ok((tag, body))
}

/// `ErrorResponse` fields: M is the message, C the SQLSTATE, D a detail.
fn error_response(body: &[u8], spoken: bool, progress: &Progress) -> Fail {
    let mut c = Cursor::new(body);
    let (mut message, mut code, mut detail) = (None, None, None);
    while let Ok(field) = c.u8() {
        if field == 0 {
            break;
        }
        let value = text(c.cstr());
        match field {
            b'M' => message = Some(value),
            b'C' => code = Some(value),
            b'D' => detail = Some(value),
            _ => {}
        }
    }
    match message {
        Some(m) => {
            progress.spoken();
            Fail::Said {
                message: detail.map_or_else(|| m.clone(), |d| format!("{m} ({d})")),
                code,
            }
        }
        None if !spoken => Fail::Garbled("not a PostgreSQL error".to_owned()),
        None => Fail::Garbled("an error without a message".to_owned()),
    }
}

fn push_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// A frontend message: optional type byte, then the length (which counts itself), then body.
fn with_length(tag: Option<u8>, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(body.len() + 5);
    out.extend(tag);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::db::testutil::{
        closed_port, err, garbage_port, have_service, run, run_within,
    };
    use std::time::Duration;

    #[test]
    fn scram_matches_rfc_7677() {
        let (client_final, server_sig) = scram_final(
            "pencil",
            "n=user,r=rOprNGfwEbeRWgbNEkqO",
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "rOprNGfwEbeRWgbNEkqO",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            client_final,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            crypto::base64_encode(&server_sig),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // A server nonce that does not extend ours is refused.
        assert!(scram_final("p", "n=,r=abc", "r=xyz,s=AAAA,i=1", "abc").is_err());
        assert!(scram_final("p", "n=,r=abc", "r=abcd,s=AAAA,i=0", "abc").is_err());
    }

    #[tokio::test]
    async fn postgres_select_1_succeeds() {
        if !have_service(5432, "PostgreSQL").await {
            return;
        }
        let out = run("postgres://postgres@127.0.0.1:5432/test?sslmode=disable").await;
        assert!(out.ok, "{out:?}");
        assert!(out.protocol_verified && !out.tls);
        assert!(
            out.server_version
                .as_deref()
                .is_some_and(|v| v.starts_with(char::is_numeric)),
            "{out:?}"
        );
        assert!(out.latency_ms.is_some() && out.connect_ms.is_some());
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
        assert!(!out.ok && err(&out).contains("certificate"), "{out:?}");
        let snakeoil = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
        if std::path::Path::new(snakeoil).exists() {
            let out = run(&format!(
                "{base}?sslmode=verify-full&sslrootcert={snakeoil}"
            ))
            .await;
            assert!(
                !out.ok && err(&out).contains("not valid for name"),
                "{out:?}"
            );
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

    #[tokio::test]
    async fn postgres_url_at_redis_port() {
        if !have_service(6379, "Redis").await {
            return;
        }
        let out = run_within(
            "postgres://u@127.0.0.1:6379/db?sslmode=disable",
            Duration::from_millis(800),
        )
        .await;
        assert!(
            !out.ok && err(&out).contains("did not speak the PostgreSQL protocol"),
            "{out:?}"
        );
    }
}
