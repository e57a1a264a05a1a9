//! AMQP 0-9-1 probe (`RabbitMQ` and kin, over TLS for `amqps://`): protocol header,
//! Connection.Start (product and version), Start-Ok with PLAIN credentials (guest/guest when the
//! URL has none, as `RabbitMQ` clients default), Tune/Tune-Ok, Open on the URL's vhost (the timed
//! round trip), then Close. A Connection.Close from the broker keeps its reply code (403
//! `ACCESS_REFUSED`, 530 `NOT_ALLOWED` …) as the outcome's code.

use std::time::Instant;

use super::url::DbUrl;
use super::wire::{Cursor, Fail, Io, Progress, Wire, text};

const HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
const FRAME_METHOD: u8 = 1;
const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xce;
/// Before Tune the spec's minimum frame size holds; after it, the probe's frames stay small.
const MAX_FRAME: usize = 1 << 20;
const CONNECTION: u16 = 10;

pub(super) async fn run(url: &DbUrl, io: Box<dyn Io>, progress: &Progress) -> Result<(), Fail> {
    let mut w = Wire::new(io, progress);
    progress.waiting_for("Connection.Start");
    w.send(HEADER).await?;

    let (method, args) = read_method(&mut w, progress).await?;
    if method != (CONNECTION, 10) {
        return Err(Fail::Garbled("expected Connection.Start".to_owned()));
    }
    let mut c = Cursor::new(&args);
    c.take(2)?; // version major, minor
    let properties = long_bytes(&mut c)?;
    let mechanisms = text(long_bytes(&mut c)?);
    let (product, version) = server_identity(properties);
    progress.spoken();
    if let Some(v) = version {
        progress.version(product.map_or_else(|| v.clone(), |p| format!("{p} {v}")));
    }
    if !mechanisms.split_whitespace().any(|m| m == "PLAIN") {
        return Err(Fail::said(format!(
            "the broker offers SASL mechanisms \"{mechanisms}\" but not PLAIN, the only one the probe speaks"
        )));
    }

    let user = url.user.as_deref().unwrap_or("guest");
    let password = match (&url.user, &url.password) {
        (None, None) => "guest",
        (_, p) => p.as_deref().unwrap_or_default(),
    };
    let mut start_ok = method_args(CONNECTION, 11);
    // `authentication_failure_close` makes RabbitMQ say why a login failed instead of hanging up.
    let mut capabilities = Vec::new();
    table_entry(
        &mut capabilities,
        "authentication_failure_close",
        b't',
        &[1],
    );
    let mut client = Vec::new();
    table_entry(&mut client, "product", b'S', &long_str(b"devops-agent"));
    table_entry(
        &mut client,
        "version",
        b'S',
        &long_str(env!("CARGO_PKG_VERSION").as_bytes()),
    );
    table_entry(
        &mut client,
        "connection_name",
        b'S',
        &long_str(b"devops-agent probe"),
    );
    table_entry(&mut client, "capabilities", b'F', &long_str(&capabilities));
    start_ok.extend_from_slice(&long_str(&client));
    start_ok.extend_from_slice(&short_str("PLAIN"));
    start_ok.extend_from_slice(&long_str(format!("\0{user}\0{password}").as_bytes()));
    start_ok.extend_from_slice(&short_str("en_US"));
    w.send(&frame(&start_ok)).await?;

    progress.waiting_for("Connection.Tune (the login result)");
    let (method, args) = match read_method(&mut w, progress).await {
        Err(Fail::Closed) => {
            return Err(Fail::said(format!(
                "the broker closed the connection after the login as \"{user}\" (wrong user name or password?)"
            )));
        }
        other => other?,
    };
    match method {
        (CONNECTION, 30) => {}
        (CONNECTION, 50) => return Err(broker_close(&mut w, &args).await),
        (CONNECTION, 20) => {
            return Err(Fail::said(
                "the broker sent a SASL challenge, which PLAIN does not expect",
            ));
        }
        _ => return Err(Fail::Garbled("expected Connection.Tune".to_owned())),
    }
    let mut c = Cursor::new(&args);
    let channel_max = c.u16_be()?;
    let frame_max = c.u32_be()?;
    let mut tune_ok = method_args(CONNECTION, 31);
    tune_ok.extend_from_slice(&channel_max.to_be_bytes());
    tune_ok.extend_from_slice(&(if frame_max == 0 { 131_072 } else { frame_max }).to_be_bytes());
    tune_ok.extend_from_slice(&0u16.to_be_bytes()); // no heartbeats for a short probe
    w.send(&frame(&tune_ok)).await?;

    let vhost = url.database.as_deref().unwrap_or("/");
    let mut open = method_args(CONNECTION, 40);
    open.extend_from_slice(&short_str(vhost));
    open.extend_from_slice(&short_str(""));
    open.push(0);
    progress.waiting_for("Connection.Open-Ok");
    let start = Instant::now();
    w.send(&frame(&open)).await?;
    let (method, args) = read_method(&mut w, progress).await?;
    match method {
        (CONNECTION, 41) => progress.latency(start),
        (CONNECTION, 50) => return Err(broker_close(&mut w, &args).await),
        _ => return Err(Fail::Garbled("expected Connection.Open-Ok".to_owned())),
    }

    let mut close = method_args(CONNECTION, 50);
    close.extend_from_slice(&200u16.to_be_bytes());
    close.extend_from_slice(&short_str(""));
    close.extend_from_slice(&[0, 0, 0, 0]);
    progress.waiting_for("Connection.Close-Ok");
    // The verdict is in; a broker slow to confirm the close does not change it.
    if w.send(&frame(&close)).await.is_ok() {
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            read_method(&mut w, progress),
        )
        .await;
    }
    w.close().await;
    Ok(())
}

/// Reads frames until a method frame on channel 0; heartbeats are skipped.
async fn read_method(w: &mut Wire<'_>, progress: &Progress) -> Result<((u16, u16), Vec<u8>), Fail> {
    loop {
        let kind = w.read_u8().await?;
        let spoken = progress.has_spoken();
        if kind == b'A' && !spoken {
            // A broker that does not speak 0-9-1 answers with the header of what it does speak.
            let rest = w.read_exact(7).await?;
            return Err(match rest.as_slice() {
                [b'M', b'Q', b'P', _, major, minor, revision] => {
                    progress.spoken();
                    Fail::said(format!(
                        "the broker speaks AMQP {major}.{minor}.{revision}, not 0-9-1"
                    ))
                }
                _ => Fail::Garbled("not an AMQP header".to_owned()),
            });
        }
        if !matches!(kind, FRAME_METHOD | FRAME_HEARTBEAT) || (!spoken && kind != FRAME_METHOD) {
            return Err(Fail::Garbled(format!("an unexpected frame type {kind}")));
        }
        let head = w.read_exact(6).await?;
        let mut c = Cursor::new(&head);
        let channel = c.u16_be()?;
        let size = usize::try_from(c.u32_be()?).unwrap_or(usize::MAX);
        if size > MAX_FRAME || channel != 0 {
            return Err(Fail::Garbled(format!(
                "a frame of {size} bytes on channel {channel}"
            )));
        }
        let payload = w.read_exact(size).await?;
        if w.read_u8().await? != FRAME_END {
            return Err(Fail::Garbled("a frame without its end marker".to_owned()));
        }
        if kind == FRAME_METHOD {
            let mut c = Cursor::new(&payload);
            let method = (c.u16_be()?, c.u16_be()?);
            return Ok((method, c.rest().to_vec()));
        }
    }
}

/// The broker's Connection.Close: reply it Close-Ok and turn its reason into the verdict.
async fn broker_close(w: &mut Wire<'_>, args: &[u8]) -> Fail {
    let mut c = Cursor::new(args);
    let Ok(code) = c.u16_be() else {
        return Fail::Garbled("a truncated Connection.Close".to_owned());
    };
    let reason = short_bytes(&mut c).map(text).unwrap_or_default();
    let _ = w.send(&frame(&method_args(CONNECTION, 51))).await;
    Fail::Said {
        message: reason,
        code: Some(code.to_string()),
    }
}

/// `product` and `version` from the server-properties table; unknown value types end the scan.
fn server_identity(table: &[u8]) -> (Option<String>, Option<String>) {
    let mut c = Cursor::new(table);
    let (mut product, mut version) = (None, None);
    while !c.is_empty() {
        let Ok(name) = short_bytes(&mut c) else { break };
        let Ok(kind) = c.u8() else { break };
        let skip = match kind {
            b'S' | b'x' | b'A' | b'F' => {
                let Ok(value) = long_bytes(&mut c) else { break };
                if kind == b'S' {
                    match name {
                        b"product" => product = Some(text(value)),
                        b"version" => version = Some(text(value)),
                        _ => {}
                    }
                }
                0
            }
            b't' | b'b' | b'B' => 1,
            b's' | b'u' | b'U' => 2,
            b'I' | b'i' | b'f' => 4,
            b'D' => 5,
            b'l' | b'L' | b'd' | b'T' => 8,
            b'V' => 0,
            _ => break,
        };
        if c.take(skip).is_err() {
            break;
        }
    }
    (product, version)
}

fn short_bytes<'b>(c: &mut Cursor<'b>) -> Result<&'b [u8], Fail> {
    let n = c.u8()?;
    c.take(usize::from(n))
}

fn long_bytes<'b>(c: &mut Cursor<'b>) -> Result<&'b [u8], Fail> {
    let n = c.u32_be()?;
    c.take(usize::try_from(n).unwrap_or(usize::MAX))
}

fn short_str(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let bytes = bytes.get(..255).unwrap_or(bytes);
    let mut out = vec![u8::try_from(bytes.len()).unwrap_or(0)];
    out.extend_from_slice(bytes);
    out
}

fn long_str(bytes: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(bytes.len())
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(bytes);
    out
}

fn table_entry(out: &mut Vec<u8>, name: &str, kind: u8, value: &[u8]) {
    out.extend_from_slice(&short_str(name));
    out.push(kind);
    out.extend_from_slice(value);
}

fn method_args(class: u16, method: u16) -> Vec<u8> {
    let mut out = class.to_be_bytes().to_vec();
    out.extend_from_slice(&method.to_be_bytes());
    out
}

/// A method frame on channel 0.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![FRAME_METHOD, 0, 0];
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::db::testutil::{
        assert_verified, err, garbage_port, have_service, not_the_service, run,
    };

    #[tokio::test]
    async fn amqp_open_succeeds_with_guest() {
        if !have_service(5672, "RabbitMQ").await {
            return;
        }
        let out = run("amqp://127.0.0.1:5672").await;
        assert_verified(&out, |v| v.starts_with("RabbitMQ "));
        let out = run("amqp://guest:guest@localhost:5672/%2f").await;
        assert!(out.ok, "{out:?}");
    }

    #[tokio::test]
    async fn amqp_wrong_password_and_vhost() {
        if !have_service(5672, "RabbitMQ").await {
            return;
        }
        let out = run("amqp://guest:wr0ng-pw@127.0.0.1:5672").await;
        assert!(!out.ok);
        assert_eq!(out.code.as_deref(), Some("403"), "{out:?}");
        assert!(err(&out).contains("ACCESS_REFUSED"), "{out:?}");
        assert!(!err(&out).contains("wr0ng-pw"));
        let out = run("amqp://guest:guest@127.0.0.1:5672/no_such_vhost").await;
        assert!(!out.ok, "{out:?}");
        assert!(err(&out).contains("no_such_vhost"), "{out:?}");
    }

    #[tokio::test]
    async fn amqp_closed_port_and_garbage() {
        not_the_service(
            "amqp://127.0.0.1:{port}",
            "AMQP 0-9-1",
            b"220 smtp.example ESMTP\r\n",
        )
        .await;
        let (port, _g) = garbage_port(b"AMQP\x00\x01\x00\x00").await;
        let out = run(&format!("amqp://127.0.0.1:{port}")).await;
        assert!(err(&out).contains("AMQP 1.0.0, not 0-9-1"), "{out:?}");
    }

    #[test]
    fn server_properties_scan_skips_other_types() {
        let mut table = Vec::new();
        table_entry(&mut table, "cluster_name", b'S', &long_str(b"rabbit@h"));
        table_entry(&mut table, "flag", b't', &[1]);
        table_entry(&mut table, "n", b's', &[0, 1]);
        table_entry(&mut table, "capabilities", b'F', &long_str(b"\x03abct\x01"));
        table_entry(&mut table, "product", b'S', &long_str(b"RabbitMQ"));
        table_entry(&mut table, "version", b'S', &long_str(b"3.10.8"));
        assert_eq!(
            server_identity(&table),
            (Some("RabbitMQ".to_owned()), Some("3.10.8".to_owned()))
        );
        // Truncated or unknown input never panics.
        for cut in 0..table.len() {
            let _ = server_identity(table.get(..cut).unwrap_or_default());
        }
        let _ = server_identity(b"\x01a?");
    }
}
