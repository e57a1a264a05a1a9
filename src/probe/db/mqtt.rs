//! MQTT 3.1.1 probe (over TLS for `mqtts://`): CONNECT with a clean session, a client id of its
//! own and the URL's user name/password, CONNACK (the timed round trip; return codes 4 and 5
//! are bad credentials / not authorized), then DISCONNECT.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use super::url::DbUrl;
use super::wire::{Fail, Io, Progress, Wire};

const CONNECT: u8 = 0x10;
const CONNACK: u8 = 0x20;
const DISCONNECT: [u8; 2] = [0xe0, 0x00];
const CLEAN_SESSION: u8 = 0x02;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;
const KEEPALIVE_SECS: u16 = 10;

/// `devops-agent-<pid>`, with a counter after the first so that two probes of one broker from
/// one process do not take over each other's session.
fn client_id() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    match N.fetch_add(1, Ordering::Relaxed) {
        0 => format!("devops-agent-{}", std::process::id()),
        n => format!("devops-agent-{}-{n}", std::process::id()),
    }
}

pub(super) async fn run(url: &DbUrl, io: Box<dyn Io>, progress: &Progress) -> Result<(), Fail> {
    let mut w = Wire::new(io, progress);
    let mut flags = CLEAN_SESSION;
    let mut payload = string(client_id().as_bytes());
    // 3.1.1 allows a password only with a user name, so a lone password gets an empty one.
    if url.user.is_some() || url.password.is_some() {
        flags |= USERNAME;
        payload.extend(string(url.user.as_deref().unwrap_or_default().as_bytes()));
    }
    if let Some(p) = &url.password {
        flags |= PASSWORD;
        payload.extend(string(p.as_bytes()));
    }
    let mut body = string(b"MQTT");
    body.push(4); // protocol level 3.1.1
    body.push(flags);
    body.extend_from_slice(&KEEPALIVE_SECS.to_be_bytes());
    body.extend(payload);
    let mut packet = vec![CONNECT];
    packet.extend(remaining_length(body.len()));
    packet.extend(body);

    progress.waiting_for("CONNACK");
    let start = Instant::now();
    w.send(&packet).await?;
    if w.read_u8().await? != CONNACK || w.read_u8().await? != 2 {
        return Err(Fail::Garbled("not a CONNACK".to_owned()));
    }
    let ack = w.read_exact(2).await?;
    progress.spoken();
    let code = ack.get(1).copied().unwrap_or(u8::MAX);
    let reason = match code {
        0 => {
            progress.latency(start);
            let _ = w.send(&DISCONNECT).await;
            w.close().await;
            return Ok(());
        }
        1 => {
            "the broker refused the connection: unacceptable protocol version (it does not accept MQTT 3.1.1)"
        }
        2 => "the broker refused the connection: client identifier rejected",
        3 => "the broker refused the connection: server unavailable",
        4 => "the broker refused the connection: bad user name or password",
        5 => "the broker refused the connection: not authorized",
        _ => "the broker refused the connection with an unknown return code",
    };
    Err(Fail::Said {
        message: reason.to_owned(),
        code: Some(code.to_string()),
    })
}

/// A length-prefixed string or binary field.
fn string(bytes: &[u8]) -> Vec<u8> {
    let bytes = bytes.get(..usize::from(u16::MAX)).unwrap_or(bytes);
    let mut out = u16::try_from(bytes.len())
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(bytes);
    out
}

/// MQTT's variable-length integer: 7 bits a byte, high bit set while more follow.
fn remaining_length(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = u8::try_from(n % 128).unwrap_or(0);
        n /= 128;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::db::testutil::{
        absent, closed_port, err, have_service, not_the_service, run, self_signed, spawn_server_at,
        tempdir,
    };

    #[test]
    fn remaining_length_encoding() {
        assert_eq!(remaining_length(0), [0]);
        assert_eq!(remaining_length(127), [127]);
        assert_eq!(remaining_length(128), [0x80, 1]);
        assert_eq!(remaining_length(16_383), [0xff, 0x7f]);
    }

    #[tokio::test]
    async fn mqtt_connack_succeeds() {
        if !have_service(1883, "Mosquitto").await {
            return;
        }
        let out = run("mqtt://127.0.0.1:1883").await;
        assert!(out.ok && out.protocol_verified, "{out:?}");
        assert!(out.latency_ms.is_some() && out.server_version.is_none());
    }

    #[tokio::test]
    async fn mqtt_credentials_against_an_auth_broker() {
        // The shared Mosquitto is anonymous, so a throwaway one with a password file.
        let dir = tempdir::Dir::new();
        let pwfile = format!("{}/passwd", dir.0);
        let made = std::process::Command::new("mosquitto_passwd")
            .args(["-b", "-c", &pwfile, "app", "R1ght-pw"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !made {
            absent("mosquitto_passwd could not make a password file");
            return;
        }
        let conf = format!("{}/mosquitto.conf", dir.0);
        let port = closed_port();
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pwfile}\nuser root\n"
        );
        if std::fs::write(&conf, text).is_err() {
            absent("could not write a Mosquitto config");
            return;
        }
        let Some(_server) = spawn_server_at("mosquitto", &["-c", &conf], port).await else {
            return;
        };
        let out = run(&format!("mqtt://app:R1ght-pw@127.0.0.1:{port}")).await;
        assert!(out.ok, "{out:?}");
        let out = run(&format!("mqtt://app:wr0ng-pw@127.0.0.1:{port}")).await;
        assert!(!out.ok, "{out:?}");
        assert!(matches!(out.code.as_deref(), Some("4" | "5")), "{out:?}");
        assert!(!err(&out).contains("wr0ng-pw"));
        let out = run(&format!("mqtt://127.0.0.1:{port}")).await;
        assert!(!out.ok && err(&out).contains("not authorized"), "{out:?}");
    }

    #[tokio::test]
    async fn mqtts_against_a_tls_broker() {
        let Some((dir, cert, key)) = self_signed() else {
            return;
        };
        let conf = format!("{}/mosquitto.conf", dir.0);
        let port = closed_port();
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\ncertfile {cert}\nkeyfile {key}\nuser root\n"
        );
        if std::fs::write(&conf, text).is_err() {
            absent("could not write a Mosquitto config");
            return;
        }
        let Some(_server) = spawn_server_at("mosquitto", &["-c", &conf], port).await else {
            return;
        };
        let out = run(&format!("mqtts://127.0.0.1:{port}?ssl_ca_certs={cert}")).await;
        assert!(out.ok && out.tls, "{out:?}");
        let out = run(&format!("mqtts://127.0.0.1:{port}")).await;
        assert!(!out.ok && err(&out).contains("certificate"), "{out:?}");
        let out = run(&format!("mqtt://127.0.0.1:{port}")).await;
        assert!(
            !out.ok && err(&out).contains("did not speak the MQTT protocol"),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn mqtt_closed_port_and_garbage() {
        not_the_service("mqtt://127.0.0.1:{port}", "MQTT", b"HTTP/1.0 200 OK\r\n").await;
    }
}
