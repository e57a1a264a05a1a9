//! Test helpers shared by the protocol modules: ports that refuse, ports that answer garbage or
//! nothing, the rule for a real service that is absent (the test fails, naming it),
//! and throwaway servers started for one test.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::url::DbUrl;
use super::{DbOutcome, probe};

/// A task that stops when dropped.
pub(super) struct Guard(JoinHandle<()>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A loopback port nothing listens on (bound, then released).
pub(super) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A loopback port that accepts, writes `reply` (if any) and then neither speaks nor closes.
pub(super) async fn garbage_port(reply: &'static [u8]) -> (u16, Guard) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                if !reply.is_empty() {
                    let _ = sock.write_all(reply).await;
                }
                let mut sink = [0u8; 1024];
                while matches!(sock.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    (port, Guard(task))
}

/// Whether a real service listens on 127.0.0.1:`port`. When it does not, the test fails
/// ([`absent`]).
pub(super) async fn have_service(port: u16, what: &str) -> bool {
    let up = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if !up {
        absent(&format!("{what} is not listening on 127.0.0.1:{port}"));
    }
    up
}

/// Fails the test, naming the missing service: a test that could not run must never pass as
/// `ok` (the machine's services are started before the session and in CI; scripts/test.sh
/// installs the binaries).
pub(super) fn absent(why: &str) {
    panic!("this test needs a service that is missing: {why}");
}

/// A server process for one test, killed when dropped.
pub(super) struct Server {
    _child: tokio::process::Child,
    pub(super) port: u16,
}

/// Starts `program args…` (where `{port}` in an argument becomes a free port) and waits until
/// it listens. `None` (after `absent`) when the program is not installed or does not come up.
pub(super) async fn spawn_server(program: &str, args: &[&str]) -> Option<Server> {
    let port = closed_port();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{port}", &port.to_string()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    spawn_server_at(program, &args, port).await
}

/// Starts `program args…`, whose configuration makes it listen on `port`, and waits for that.
pub(super) async fn spawn_server_at(program: &str, args: &[&str], port: u16) -> Option<Server> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(child) = child else {
        absent(&format!("{program} is not installed"));
        return None;
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(Server {
                _child: child,
                port,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    absent(&format!("{program} did not start listening on port {port}"));
    None
}

/// Probes `url` with the tests' deadline.
pub(super) async fn run(url: &str) -> DbOutcome {
    run_within(url, Duration::from_secs(2)).await
}

pub(super) async fn run_within(url: &str, timeout: Duration) -> DbOutcome {
    let parsed = DbUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    probe(&parsed, timeout).await
}

/// Probes `url` (where `{port}` becomes the port) on the three kinds of port that are not the
/// service and asserts each is told apart: one nothing listens on ("connection refused"), one
/// that answers `garbage` ("did not speak the `protocol` protocol") and one that never answers
/// (the same, "no answer within 500ms"). Returns the outcome against `garbage`, for what a
/// protocol's test says of it besides.
pub(super) async fn not_the_service(
    url: &str,
    protocol: &str,
    garbage: &'static [u8],
) -> DbOutcome {
    let at = |port: u16| url.replace("{port}", &port.to_string());
    let not_spoken = format!("did not speak the {protocol} protocol");
    let out = run(&at(closed_port())).await;
    assert!(
        !out.ok && err(&out).contains("connection refused"),
        "{out:?}"
    );
    let (port, _g) = garbage_port(garbage).await;
    let garbled = run(&at(port)).await;
    assert!(err(&garbled).contains(&not_spoken), "{garbled:?}");
    let (port, _g) = garbage_port(b"").await;
    let out = run_within(&at(port), Duration::from_millis(500)).await;
    assert!(
        err(&out).contains(&format!("{not_spoken} (no answer within 500ms)")),
        "{out:?}"
    );
    garbled
}

/// Asserts that `out` is a verified round trip: connected, spoken to in the protocol, timed,
/// and with a server version `version` accepts.
pub(super) fn assert_verified(out: &DbOutcome, version: impl Fn(&str) -> bool) {
    assert!(out.ok && out.protocol_verified, "{out:?}");
    assert!(
        out.server_version.as_deref().is_some_and(version),
        "{out:?}"
    );
    assert!(out.latency_ms.is_some(), "{out:?}");
}

/// The outcome's error text, empty when none.
pub(super) fn err(out: &DbOutcome) -> &str {
    out.error.as_deref().unwrap_or_default()
}

/// A throwaway self-signed certificate for `localhost` and 127.0.0.1 in a temporary directory:
/// (directory, certificate path, key path). `None` when `openssl` is missing.
pub(super) fn self_signed() -> Option<(tempdir::Dir, String, String)> {
    let dir = tempdir::Dir::new();
    let cert = format!("{}/cert.pem", dir.0);
    let key = format!("{}/key.pem", dir.0);
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            &key,
            "-out",
            &cert,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if status.is_ok_and(|s| s.success()) {
        Some((dir, cert, key))
    } else {
        absent("openssl could not make a test certificate");
        None
    }
}

pub(super) mod tempdir {
    /// A directory under the system temp dir, removed when dropped.
    pub(crate) struct Dir(pub(crate) String);

    impl Dir {
        pub(crate) fn new() -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "dbprobe-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            Self(path.to_string_lossy().into_owned())
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
