//! MySQL/MariaDB probe (client/server protocol 4.1): the server's `HandshakeV10`, TLS by
//! `ssl-mode`, `HandshakeResponse41`, authentication, then `SELECT 1` and `COM_QUIT`. ERR
//! packets keep their error number as the outcome's code.
//!
//! Hand-written rather than `mysql_async`/`sqlx`: the probe needs the server's own error number
//! and words at each step (which plugin, which TLS step) and per-phase progress for timeouts,
//! and the protocol up to `SELECT 1` is small. What it speaks:
//!
//! * Authentication plugins `mysql_native_password`, `caching_sha2_password`, `MariaDB`'s
//!   `client_ed25519` (the signature in `crypto.rs`), `AuthSwitchRequest` between them, and
//!   `mysql_clear_password`/`sha256_password` over TLS or a Unix socket only.
//! * `caching_sha2_password` full authentication (the server has not cached the password yet):
//!   over TLS or a Unix socket the password is sent as is; over plain TCP the probe asks for
//!   the server's RSA public key and sends the password XOR the scramble, RSA-OAEP encrypted,
//!   as mysql2, `PyMySQL`, go-sql-driver and `MariaDB` Connector/C do by default (the `mysql` CLI
//!   and Connector/J need `--get-server-public-key`/`allowPublicKeyRetrieval=true` for that;
//!   the probe does not model those switches). **`MySQL` 8 cannot be installed on the test
//!   machines** and `MariaDB` has no `caching_sha2_password` server plugin, so that exchange is
//!   tested against a scripted server that follows the protocol documentation with a real
//!   2048-bit RSA key and decrypts with `openssl pkeyutl`, not against `mysqld`.
//! * TLS client certificates (`MariaDB` `REQUIRE X509`, `MySQL` `REQUIRE X509`): URL parameters
//!   `ssl-cert`/`ssl-key` (also `sslcert`/`sslkey`, `ssl_cert`/`ssl_key`) with the CA in
//!   `ssl-ca`; read by `probe/tls/db.rs`. Environment variables are not read for them.
//! * Unix-domain sockets: `?socket=/path` (Prisma), `?unix_socket=/path` (`SQLAlchemy`,
//!   `PyMySQL`) or a percent-encoded absolute path as the host. TLS over the socket follows
//!   `ssl-mode` as over TCP (the `mariadb` client does so too), with `localhost` as the name.

use std::time::Instant;

use super::crypto;
use super::postgres::default_user;
use super::tls;
use super::url::{DbUrl, TlsMode};
use super::wire::{Cursor, Fail, Io, Progress, Wire, text};

const LONG_PASSWORD: u32 = 1;
const CONNECT_WITH_DB: u32 = 8;
const PROTOCOL_41: u32 = 0x200;
const SSL: u32 = 0x800;
const TRANSACTIONS: u32 = 0x2000;
const SECURE_CONNECTION: u32 = 0x8000;
const PLUGIN_AUTH: u32 = 0x8_0000;
/// Far above what the probe's packets need; a bigger announced length means garbage.
const MAX_PACKET: usize = 1 << 20;
/// `utf8mb4_general_ci`, known to every server since `MySQL` 5.5.
const CHARSET: u8 = 45;
const NATIVE: &str = "mysql_native_password";
const CACHING_SHA2: &str = "caching_sha2_password";
const ED25519: &str = "client_ed25519";

/// A connection with `MySQL`'s packet framing and sequence numbers.
struct Conn<'a> {
    w: Wire<'a>,
    seq: u8,
}

impl Conn<'_> {
    async fn read(&mut self) -> Result<Vec<u8>, Fail> {
        let header = self.w.read_exact(4).await?;
        let mut c = Cursor::new(&header);
        let [a, b, d, seq] = c.array::<4>()?;
        let len = usize::from(a) | usize::from(b) << 8 | usize::from(d) << 16;
        if len > MAX_PACKET {
            return Err(Fail::Garbled(format!("a packet length of {len}")));
        }
        self.seq = seq.wrapping_add(1);
        self.w.read_exact(len).await
    }

    async fn write(&mut self, payload: &[u8]) -> Result<(), Fail> {
        let len = u32::try_from(payload.len()).unwrap_or(0).to_le_bytes();
        let mut packet = vec![len[0], len[1], len[2], self.seq];
        packet.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.w.send(&packet).await
    }
}

struct Handshake {
    version: String,
    capabilities: u32,
    scramble: Vec<u8>,
    plugin: String,
}

/// The Unix-domain socket `url` names, if any (see the module doc for the spellings).
pub(super) fn socket_path(url: &DbUrl) -> Option<&str> {
    ["socket", "unix_socket"]
        .iter()
        .find_map(|k| url.params.get(*k))
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .or_else(|| url.host.starts_with('/').then_some(url.host.as_str()))
}

/// Connects to the server's Unix-domain socket.
pub(super) async fn connect_socket(
    path: &str,
    progress: &Progress,
) -> Result<tokio::net::UnixStream, Fail> {
    progress.waiting_for("the Unix-domain socket connection");
    let start = Instant::now();
    let stream = tokio::net::UnixStream::connect(path).await.map_err(|e| {
        Fail::said(format!(
            "could not connect to the server's socket {path:?}: {}",
            super::wire::io_words(&e)
        ))
    })?;
    progress.update(|p| {
        p.connect_ms = Some(super::wire::ms(start));
        p.connected = true;
    });
    Ok(stream)
}

/// Speaks the protocol over `io`; `socket` says it is a Unix-domain socket, which
/// `caching_sha2_password` counts as a secure transport (as libmysqlclient does).
pub(super) async fn run(
    url: &DbUrl,
    io: Box<dyn Io>,
    socket: bool,
    progress: &Progress,
) -> Result<(), Fail> {
    let mut conn = Conn {
        w: Wire::new(io, progress),
        seq: 0,
    };
    progress.waiting_for("the server's handshake");
    // Check the header before waiting for a body a non-MySQL peer will never send.
    let header = conn.w.read_exact(4).await?;
    let (len, seq) = match header.as_slice() {
        [a, b, c, s] => (
            usize::from(*a) | usize::from(*b) << 8 | usize::from(*c) << 16,
            *s,
        ),
        _ => (0, 1),
    };
    if seq != 0 || !(1..=16_384).contains(&len) {
        return Err(Fail::Garbled("not a MySQL packet".to_owned()));
    }
    conn.seq = 1;
    let packet = conn.w.read_exact(len).await?;
    let hs = match packet.first() {
        Some(10) => parse_handshake(&packet)?,
        Some(0xff) => return Err(err_packet(&packet, progress)),
        _ => return Err(Fail::Garbled("not a MySQL handshake".to_owned())),
    };
    progress.spoken();
    // MariaDB prefixes "5.5.5-" so that old MySQL clients accept it.
    progress.version(hs.version.strip_prefix("5.5.5-").unwrap_or(&hs.version));
    if hs.capabilities & PROTOCOL_41 == 0 {
        return Err(Fail::said(format!(
            "server {} is too old (no 4.1 protocol)",
            hs.version
        )));
    }

    let mut caps = LONG_PASSWORD | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION | PLUGIN_AUTH;
    if url.database.is_some() {
        caps |= CONNECT_WITH_DB;
    }
    caps &= hs.capabilities;
    let mut tls_on = false;
    if url.tls != TlsMode::Disable {
        if hs.capabilities & SSL != 0 {
            caps |= SSL;
            progress.waiting_for("the TLS handshake");
            conn.write(&response_prefix(caps)).await?;
            let Conn { w, seq } = conn;
            if w.buffered() > 0 {
                return Err(Fail::Garbled("data before the TLS handshake".to_owned()));
            }
            let io = if socket {
                // A socket path is no TLS server name; clients check `localhost`.
                let mut named = url.clone();
                "localhost".clone_into(&mut named.host);
                tls::upgrade(w.into_io(), &named, url.tls, progress).await?
            } else {
                tls::upgrade(w.into_io(), url, url.tls, progress).await?
            };
            conn = Conn {
                w: Wire::new(io, progress),
                seq,
            };
            tls_on = true;
        } else if url.tls.required() {
            return Err(Fail::said(
                "the server does not support TLS, but the URL requires it (ssl-mode)",
            ));
        }
    }

    let secure = tls_on || socket;
    let user = url.user.clone().unwrap_or_else(default_user);
    let password = url.password.clone().unwrap_or_default();
    // Start with the server's plugin when the probe knows it; otherwise let it switch us.
    let mut plugin = if hs.plugin == CACHING_SHA2 {
        CACHING_SHA2
    } else {
        NATIVE
    }
    .to_owned();
    let mut scramble = hs.scramble.clone();
    let mut payload = response_prefix(caps);
    payload.extend_from_slice(user.as_bytes());
    payload.push(0);
    let auth = scramble_for(&plugin, &password, &scramble, secure)?;
    payload.push(u8::try_from(auth.len()).unwrap_or(0));
    payload.extend_from_slice(&auth);
    if caps & CONNECT_WITH_DB != 0 {
        payload.extend_from_slice(url.database.as_deref().unwrap_or_default().as_bytes());
        payload.push(0);
    }
    if caps & PLUGIN_AUTH != 0 {
        payload.extend_from_slice(plugin.as_bytes());
        payload.push(0);
    }
    progress.waiting_for("the authentication result");
    conn.write(&payload).await?;

    // Bounded: a server that keeps switching plugins or asking for more is not a MySQL server.
    let mut asked_for_key = false;
    for _ in 0..8 {
        let packet = conn.read().await?;
        let mut c = Cursor::new(&packet);
        match c.u8()? {
            0x00 => return select_1(conn, progress).await,
            0xff => return Err(err_packet(&packet, progress)),
            0xfe => {
                // AuthSwitchRequest: another plugin, with a fresh scramble.
                plugin = text(c.cstr());
                let data = c.rest();
                // 20 bytes plus a NUL for the SHA plugins, 32 for ed25519; a NUL that is part of
                // a random nonce must stay.
                let want = if plugin == ED25519 { 32 } else { 20 };
                scramble = data.get(..want).unwrap_or(data).to_vec();
                asked_for_key = false;
                let auth = scramble_for(&plugin, &password, &scramble, secure)?;
                conn.write(&auth).await?;
            }
            0x01 if plugin == CACHING_SHA2 && asked_for_key => {
                // The server's RSA public key, in PEM.
                let sealed = [password.as_bytes(), &[0]].concat();
                let repeated: Vec<u8> = scramble
                    .iter()
                    .copied()
                    .cycle()
                    .take(sealed.len())
                    .collect();
                let secret = crypto::xor(&sealed, &repeated);
                let encrypted = crypto::rsa_oaep_sha1_encrypt(c.rest(), &secret).map_err(|e| {
                    Fail::said(format!(
                        "caching_sha2_password full authentication for user \"{user}\" failed: {e}"
                    ))
                })?;
                asked_for_key = false;
                conn.write(&encrypted).await?;
            }
            0x01 if plugin == CACHING_SHA2 => match c.u8()? {
                // Fast authentication succeeded; the OK packet follows.
                3 => {}
                // Full authentication: the server has not cached this password's hash yet.
                4 if secure => {
                    let mut clear = password.clone().into_bytes();
                    clear.push(0);
                    conn.write(&clear).await?;
                }
                4 => {
                    progress.waiting_for("the server's RSA public key");
                    asked_for_key = true;
                    conn.write(&[2]).await?;
                }
                _ => {
                    return Err(Fail::Garbled(
                        "an unknown caching_sha2_password step".to_owned(),
                    ));
                }
            },
            _ => {
                return Err(Fail::Garbled(
                    "an unexpected authentication packet".to_owned(),
                ));
            }
        }
    }
    Err(Fail::Garbled(
        "authentication did not end after eight exchanges".to_owned(),
    ))
}

/// `SELECT 1` after a successful login, then `COM_QUIT`.
async fn select_1(mut conn: Conn<'_>, progress: &Progress) -> Result<(), Fail> {
    progress.waiting_for("the result of SELECT 1");
    let start = Instant::now();
    conn.seq = 0;
    conn.write(b"\x03SELECT 1").await?;
    let first = conn.read().await?;
    match first.first() {
        Some(0xff) => return Err(err_packet(&first, progress)),
        Some(1) => {}
        _ => {
            return Err(Fail::Garbled(
                "SELECT 1 did not return one column".to_owned(),
            ));
        }
    }
    // Column definitions, EOF, rows, EOF (CLIENT_DEPRECATE_EOF is not asked for).
    let mut eofs = 0;
    let mut got_one = false;
    while eofs < 2 {
        let packet = conn.read().await?;
        match packet.first() {
            Some(0xfe) if packet.len() < 9 => eofs += 1,
            Some(0xff) => return Err(err_packet(&packet, progress)),
            _ if eofs == 1 => got_one = packet == b"\x011",
            _ => {}
        }
    }
    if !got_one {
        return Err(Fail::Garbled("SELECT 1 did not return 1".to_owned()));
    }
    progress.latency(start);
    conn.seq = 0;
    let _ = conn.write(b"\x01").await;
    conn.w.close().await;
    Ok(())
}

fn parse_handshake(packet: &[u8]) -> Result<Handshake, Fail> {
    let mut c = Cursor::new(packet);
    c.u8()?;
    let version = text(c.cstr());
    c.take(4)?; // connection id
    let mut scramble = c.take(8)?.to_vec();
    c.u8()?;
    let mut capabilities = u32::from(c.u16_le()?);
    let mut plugin = String::new();
    if !c.is_empty() {
        c.u8()?; // character set
        c.take(2)?; // status flags
        capabilities |= u32::from(c.u16_le()?) << 16;
        let auth_len = usize::from(c.u8()?);
        c.take(10)?;
        if capabilities & SECURE_CONNECTION != 0 {
            let part2 = c.take(auth_len.saturating_sub(8).max(13))?;
            // The 20-byte scramble's second half, without its NUL terminator.
            scramble.extend_from_slice(part2.get(..12).unwrap_or(part2));
        }
        if capabilities & PLUGIN_AUTH != 0 {
            plugin = text(c.cstr());
        }
    }
    Ok(Handshake {
        version,
        capabilities,
        scramble,
        plugin,
    })
}

/// The start shared by `SSLRequest` and `HandshakeResponse41`.
fn response_prefix(caps: u32) -> Vec<u8> {
    let mut out = caps.to_le_bytes().to_vec();
    out.extend_from_slice(&(1u32 << 24).to_le_bytes());
    out.push(CHARSET);
    out.extend_from_slice(&[0; 23]);
    out
}

/// The auth data `plugin` wants for `password`.
fn scramble_for(
    plugin: &str,
    password: &str,
    scramble: &[u8],
    secure: bool,
) -> Result<Vec<u8>, Fail> {
    let pw = password.as_bytes();
    match plugin {
        _ if pw.is_empty() && matches!(plugin, NATIVE | CACHING_SHA2) => Ok(Vec::new()),
        // SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))
        NATIVE => {
            let stage1 = crypto::sha1(&[pw]);
            let stage2 = crypto::sha1(&[&stage1]);
            Ok(crypto::xor(&stage1, &crypto::sha1(&[scramble, &stage2])))
        }
        // SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble)
        CACHING_SHA2 => {
            let stage1 = crypto::sha256(&[pw]);
            let stage2 = crypto::sha256(&[&stage1]);
            Ok(crypto::xor(&stage1, &crypto::sha256(&[&stage2, scramble])))
        }
        // The password signed, never sent (MariaDB's ed25519 plugin).
        ED25519 => Ok(crypto::ed25519_password_sign(pw, scramble).to_vec()),
        // Both send the password as is, which is acceptable only inside TLS or a local socket.
        "mysql_clear_password" | "sha256_password" if secure => Ok([pw, &[0]].concat()),
        "mysql_clear_password" | "sha256_password" => Err(Fail::said(format!(
            "the server wants the {plugin} plugin, which sends the password in the clear; the probe does that only over TLS (ssl-mode=REQUIRED) or a Unix socket"
        ))),
        other => Err(Fail::said(format!(
            "the server wants the {other} authentication plugin, which the probe does not support"
        ))),
    }
}

/// ERR packet: 0xff, error number, optional `#` + SQLSTATE, message.
fn err_packet(packet: &[u8], progress: &Progress) -> Fail {
    let mut c = Cursor::new(packet);
    let code = c.u8().and_then(|_| c.u16_le());
    let Ok(code) = code else {
        return Fail::Garbled("a truncated error packet".to_owned());
    };
    progress.spoken();
    let mut rest = c.rest();
    if rest.first() == Some(&b'#') {
        rest = rest.get(6..).unwrap_or_default();
    }
    Fail::Said {
        message: text(rest),
        code: Some(code.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::db::testutil::{
        closed_port, err, garbage_port, have_service, run, run_within,
    };
    use std::time::Duration;

    /// Runs SQL as `MariaDB`'s root through the CLI client; false when that fails.
    fn sql(statement: &str) -> bool {
        std::process::Command::new("mariadb")
            .args(["-h127.0.0.1", "-P3306", "-uroot", "-e", statement])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[test]
    fn native_password_scramble_is_known() {
        // Matches what MySQL computes for password "secret" and a 20-byte scramble of 0..20
        // (checked against the server's own SHA1(UNHEX(SHA1('secret'))) relation below).
        let scramble: Vec<u8> = (0u8..20).collect();
        let got = scramble_for(NATIVE, "secret", &scramble, false).unwrap_or_default();
        let stage1 = crypto::sha1(&[b"secret"]);
        let stage2 = crypto::sha1(&[&stage1]);
        // The server recovers stage1 as got XOR SHA1(scramble + stage2) and checks SHA1(it).
        let recovered = crypto::xor(&got, &crypto::sha1(&[&scramble, &stage2]));
        assert_eq!(crypto::sha1(&[&recovered]), stage2);
        assert!(scramble_for(NATIVE, "", &scramble, false).is_ok_and(|v| v.is_empty()));
        assert!(scramble_for("authentication_ldap_sasl_client", "x", &scramble, false).is_err());
        assert!(scramble_for("mysql_clear_password", "x", &scramble, false).is_err());
    }

    /// A key pair made by openssl: (directory, private key path, public key PEM).
    fn openssl_rsa_key() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let key = dir.path().join("key.pem");
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key)
            .output()
            .unwrap_or_else(|e| panic!("openssl: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&key)
            .output()
            .unwrap_or_else(|e| panic!("openssl: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dir, key, out.stdout)
    }

    async fn read_packet(sock: &mut tokio::net::TcpStream) -> Vec<u8> {
        use tokio::io::AsyncReadExt as _;
        let mut header = [0u8; 4];
        sock.read_exact(&mut header)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let mut body = vec![0u8; len];
        sock.read_exact(&mut body)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        body
    }

    async fn write_packet(sock: &mut tokio::net::TcpStream, seq: u8, payload: &[u8]) {
        use tokio::io::AsyncWriteExt as _;
        let len = u32::try_from(payload.len()).unwrap_or(0).to_le_bytes();
        let mut packet = vec![len[0], len[1], len[2], seq];
        packet.extend_from_slice(payload);
        sock.write_all(&packet)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A scripted `MySQL` 8 server for one connection whose `caching_sha2_password` cache is
    /// empty, as after a restart: it asks for full authentication, hands out its RSA public key
    /// when asked, decrypts the answer with `openssl pkeyutl` (RSA-OAEP) and accepts `password`
    /// only. What it saw is returned for the test to check.
    async fn caching_sha2_server(
        password: &'static str,
    ) -> (
        u16,
        tokio::task::JoinHandle<Vec<&'static str>>,
        tempfile::TempDir,
    ) {
        let (dir, key, public) = openssl_rsa_key();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let cipher_file = dir.path().join("cipher");
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            let (mut sock, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
            let scramble: Vec<u8> = (0u8..20).map(|i| i * 7 + 33).collect();
            let caps = LONG_PASSWORD
                | CONNECT_WITH_DB
                | PROTOCOL_41
                | TRANSACTIONS
                | SECURE_CONNECTION
                | PLUGIN_AUTH;
            let mut hello = vec![10u8];
            hello.extend_from_slice(b"8.0.40\0");
            hello.extend_from_slice(&7u32.to_le_bytes());
            hello.extend_from_slice(&scramble[..8]);
            hello.push(0);
            hello.extend_from_slice(&caps.to_le_bytes()[..2]);
            hello.push(255);
            hello.extend_from_slice(&[2, 0]);
            hello.extend_from_slice(&caps.to_le_bytes()[2..]);
            hello.push(21);
            hello.extend_from_slice(&[0; 10]);
            hello.extend_from_slice(&scramble[8..]);
            hello.push(0);
            hello.extend_from_slice(b"caching_sha2_password\0");
            write_packet(&mut sock, 0, &hello).await;
            let response = read_packet(&mut sock).await;
            if response.windows(21).any(|w| w == b"caching_sha2_password") {
                seen.push("response names caching_sha2_password");
            }
            // The cache is empty: full authentication.
            write_packet(&mut sock, 2, &[1, 4]).await;
            if read_packet(&mut sock).await == [2] {
                seen.push("public key requested");
            }
            let mut pem = vec![1u8];
            pem.extend_from_slice(&public);
            write_packet(&mut sock, 4, &pem).await;
            let cipher = read_packet(&mut sock).await;
            std::fs::write(&cipher_file, &cipher).unwrap_or_else(|e| panic!("{e}"));
            let out = tokio::process::Command::new("openssl")
                .args([
                    "pkeyutl",
                    "-decrypt",
                    "-pkeyopt",
                    "rsa_padding_mode:oaep",
                    "-inkey",
                ])
                .arg(&key)
                .arg("-in")
                .arg(&cipher_file)
                .output()
                .await
                .unwrap_or_else(|e| panic!("openssl: {e}"));
            let sealed = [password.as_bytes(), &[0]].concat();
            let pad: Vec<u8> = scramble
                .iter()
                .copied()
                .cycle()
                .take(sealed.len())
                .collect();
            if out.status.success() && out.stdout == crypto::xor(&sealed, &pad) {
                seen.push("password decrypted");
                write_packet(&mut sock, 6, &[0, 0, 0, 2, 0, 0, 0]).await;
            } else {
                let mut err = vec![0xff, 0x15, 0x04];
                err.extend_from_slice(
                    b"#28000Access denied for user 'app'@'localhost' (using password: YES)",
                );
                write_packet(&mut sock, 6, &err).await;
                return seen;
            }
            if read_packet(&mut sock).await == b"\x03SELECT 1" {
                seen.push("SELECT 1");
            }
            write_packet(&mut sock, 1, &[1]).await;
            write_packet(
                &mut sock,
                2,
                b"\x03def\0\0\0\x011\0\x0c\x3f\0\x01\0\0\0\x08\x81\0\0\0\0",
            )
            .await;
            write_packet(&mut sock, 3, &[0xfe, 0, 0, 2, 0]).await;
            write_packet(&mut sock, 4, b"\x011").await;
            write_packet(&mut sock, 5, &[0xfe, 0, 0, 2, 0]).await;
            seen
        });
        (port, task, dir)
    }

    #[tokio::test]
    async fn caching_sha2_full_authentication_over_plain_tcp_uses_the_rsa_key() {
        let (port, server, _dir) = caching_sha2_server("s3cret pw").await;
        let out = run_within(
            &format!("mysql://app:s3cret%20pw@127.0.0.1:{port}/app"),
            Duration::from_secs(10),
        )
        .await;
        assert!(out.ok && !out.tls, "{out:?}");
        let seen = server.await.unwrap_or_default();
        assert_eq!(
            seen,
            [
                "response names caching_sha2_password",
                "public key requested",
                "password decrypted",
                "SELECT 1"
            ]
        );

        let (port, server, _dir) = caching_sha2_server("s3cret pw").await;
        let out = run_within(
            &format!("mysql://app:wrong@127.0.0.1:{port}/app"),
            Duration::from_secs(10),
        )
        .await;
        assert!(!out.ok, "{out:?}");
        assert_eq!(out.code.as_deref(), Some("1045"), "{out:?}");
        assert!(err(&out).contains("Access denied"), "{out:?}");
        assert_eq!(
            server.await.unwrap_or_default(),
            [
                "response names caching_sha2_password",
                "public key requested"
            ]
        );
    }

    #[tokio::test]
    async fn mysql_select_1_succeeds_with_empty_password() {
        if !have_service(3306, "MariaDB").await {
            return;
        }
        let out = run("mysql://root@127.0.0.1:3306/test").await;
        assert!(out.ok, "{out:?}");
        assert!(out.protocol_verified && out.latency_ms.is_some());
        let version = out.server_version.clone().unwrap_or_default();
        assert!(
            version.starts_with(char::is_numeric) && !version.starts_with("5.5.5-"),
            "{out:?}"
        );
        let out = run("mariadb://root@localhost").await;
        assert!(out.ok, "{out:?}");
    }

    #[tokio::test]
    async fn mysql_password_and_database_errors() {
        if !have_service(3306, "MariaDB").await {
            return;
        }
        let user = "dbprobe_pw";
        let created = sql(&format!(
            "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'R1ght-pw'; \
             CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY 'R1ght-pw'; \
             GRANT USAGE ON *.* TO '{user}'@'%'; GRANT USAGE ON *.* TO '{user}'@'localhost'"
        ));
        if !created {
            crate::probe::db::testutil::absent("could not create a MariaDB test user");
            return;
        }
        let out = run(&format!("mysql://{user}:R1ght-pw@127.0.0.1:3306/")).await;
        assert!(out.ok, "{out:?}");
        let out = run(&format!("mysql://{user}:wr0ng-pw@127.0.0.1:3306/")).await;
        assert!(!out.ok);
        assert_eq!(out.code.as_deref(), Some("1045"), "{out:?}");
        assert!(err(&out).contains("Access denied"), "{out:?}");
        assert!(!err(&out).contains("wr0ng-pw"));
        let out = run("mysql://root@127.0.0.1:3306/no_such_db_xyz").await;
        assert!(!out.ok);
        assert_eq!(out.code.as_deref(), Some("1049"), "{out:?}");
        assert!(err(&out).contains("no_such_db_xyz"), "{out:?}");
        sql(&format!(
            "DROP USER IF EXISTS '{user}'@'%'; DROP USER IF EXISTS '{user}'@'localhost'"
        ));
    }

    #[tokio::test]
    async fn mysql_tls_required_but_unavailable() {
        if !have_service(3306, "MariaDB").await {
            return;
        }
        let out = run("mysql://root@127.0.0.1:3306/test?ssl-mode=REQUIRED").await;
        if out.ok {
            assert!(out.tls, "{out:?}");
        } else {
            assert!(err(&out).contains("does not support TLS"), "{out:?}");
        }
    }

    #[tokio::test]
    async fn mysql_closed_port_and_garbage() {
        let out = run(&format!("mysql://root@127.0.0.1:{}/", closed_port())).await;
        assert!(
            !out.ok && err(&out).contains("connection refused"),
            "{out:?}"
        );
        let (port, _g) = garbage_port(b"SSH-2.0-OpenSSH_9.2\r\n").await;
        let out = run(&format!("mysql://root@127.0.0.1:{port}/")).await;
        assert!(
            err(&out).contains("did not speak the MySQL protocol"),
            "{out:?}"
        );
        assert!(err(&out).contains("SSH-2.0"), "{out:?}");
        let (port, _g) = garbage_port(b"").await;
        let out = run_within(
            &format!("mysql://root@127.0.0.1:{port}/"),
            Duration::from_millis(500),
        )
        .await;
        assert!(
            err(&out).contains("did not speak the MySQL protocol (no answer within 500ms)"),
            "{out:?}"
        );
    }
}
