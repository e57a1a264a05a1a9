//! The agreement matrix: throwaway servers configured the way users configure them, and for
//! each case the probe's verdict compared with the reference client's (psql). A case where the
//! probe passes and psql fails is the worst thing a validator can do, so every row is asserted.
//!
//! The servers run on free loopback ports in a temporary directory and are stopped when the
//! test ends. Under `CI=true` a missing server binary fails the test; elsewhere too, with the
//! name of what to install (`scripts/test.sh` installs them), because a matrix that ran nothing
//! must not report `ok`.
//!
//! Every case issue 14 lists, with the test and row that covers it and whether the verdicts
//! agree: [docs/probe-matrix.md](../../../docs/probe-matrix.md). The servers are in
//! `matrix_servers.rs`, shared with the end-to-end matrix `tests/cli/startup_db.rs`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::matrix_servers::{Pki, Postgres, Redis, free_port, program};
use super::{DbUrl, probe};

/// psql's verdict on a connection string, with a home directory of its own so that no
/// `~/.pgpass` or `~/.postgresql/` of the machine's user changes it.
fn psql(conninfo: &str, home: &Path) -> (bool, String) {
    let out = Command::new(program("psql"))
        .args(["-X", "-tA", "-c", "SELECT 1"])
        .arg(conninfo)
        .env_clear()
        .env("HOME", home)
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("psql: {e}"));
    (
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1",
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

#[tokio::test]
async fn postgres_verdicts_match_psql() {
    let pg = Postgres::start();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = pg.port;
    let closed = free_port();
    let sock = pg.socket_dir().replace('/', "%2F");
    let ca = pg.pki.ca.display().to_string();
    let cert = pg.pki.client_cert.display().to_string();
    let key = pg.pki.client_key.display().to_string();
    let base = format!("postgresql://scramuser:scrampw@127.0.0.1:{p}/app");
    // (case, what psql is expected to do, connection string)
    let cases: Vec<(&str, bool, String)> = vec![
        ("scram", true, format!("{base}?sslmode=disable")),
        (
            "scram wrong password",
            false,
            format!("postgresql://scramuser:nope@127.0.0.1:{p}/app?sslmode=disable"),
        ),
        (
            "scram over TLS (SCRAM-SHA-256-PLUS)",
            true,
            format!("{base}?sslmode=require&channel_binding=require"),
        ),
        (
            "md5",
            true,
            format!("postgresql://md5user:md5pw@127.0.0.1:{p}/app"),
        ),
        (
            "md5 wrong password",
            false,
            format!("postgresql://md5user:bad@127.0.0.1:{p}/app"),
        ),
        (
            "md5 with channel_binding=require",
            false,
            format!("postgresql://md5user:md5pw@127.0.0.1:{p}/app?channel_binding=require"),
        ),
        (
            "SASLprep password",
            true,
            format!("postgresql://prepuser:pa%C2%ADss%E2%85%A8@127.0.0.1:{p}/app"),
        ),
        (
            "SASLprep-equivalent password",
            true,
            format!("postgresql://prepuser:passIX@127.0.0.1:{p}/app"),
        ),
        (
            "options bogus statement_timeout",
            false,
            format!("{base}?options=-c%20statement_timeout%3Dbogus"),
        ),
        (
            "options good statement_timeout",
            true,
            format!("{base}?options=-c%20statement_timeout%3D5s"),
        ),
        (
            "channel_binding=require with sslmode=disable",
            false,
            format!("{base}?channel_binding=require&sslmode=disable"),
        ),
        ("unknown parameter", false, format!("{base}?sslmod=require")),
        ("invalid sslmode", false, format!("{base}?sslmode=bogus")),
        (
            "missing database",
            false,
            format!("postgresql://scramuser:scrampw@127.0.0.1:{p}/nope"),
        ),
        (
            "hostssl user, sslmode=disable",
            false,
            format!("postgresql://ssluser:tlspw@127.0.0.1:{p}/app?sslmode=disable"),
        ),
        (
            "hostssl user, sslmode=allow",
            true,
            format!("postgresql://ssluser:tlspw@127.0.0.1:{p}/app?sslmode=allow"),
        ),
        (
            "hostssl user, sslmode=prefer",
            true,
            format!("postgresql://ssluser:tlspw@127.0.0.1:{p}/app?sslmode=prefer"),
        ),
        (
            "hostnossl user, sslmode=prefer",
            true,
            format!("postgresql://nossluser:plainpw@127.0.0.1:{p}/app?sslmode=prefer"),
        ),
        (
            "hostnossl user, sslmode=require",
            false,
            format!("postgresql://nossluser:plainpw@127.0.0.1:{p}/app?sslmode=require"),
        ),
        (
            "verify-full, CA, name matches",
            true,
            format!(
                "postgresql://scramuser:scrampw@localhost:{p}/app?sslmode=verify-full&sslrootcert={ca}"
            ),
        ),
        (
            "verify-full, CA, IP not in certificate",
            false,
            format!("{base}?sslmode=verify-full&sslrootcert={ca}"),
        ),
        (
            "verify-ca, CA, IP not in certificate",
            true,
            format!("{base}?sslmode=verify-ca&sslrootcert={ca}"),
        ),
        (
            "verify-full without a CA",
            false,
            format!("postgresql://scramuser:scrampw@localhost:{p}/app?sslmode=verify-full"),
        ),
        (
            "client certificate",
            true,
            format!(
                "postgresql://certuser@127.0.0.1:{p}/app?sslmode=require&sslcert={cert}&sslkey={key}"
            ),
        ),
        (
            "cert user without a certificate",
            false,
            format!("postgresql://certuser@127.0.0.1:{p}/app?sslmode=require"),
        ),
        (
            "Unix socket, URI",
            true,
            format!("postgresql://scramuser@{sock}:{p}/app"),
        ),
        (
            "Unix socket, keyword/value",
            true,
            format!(
                "host={} port={p} user=scramuser dbname=app",
                pg.socket_dir()
            ),
        ),
        (
            "Unix socket, wrong port",
            false,
            format!(
                "host={} port={closed} user=scramuser dbname=app",
                pg.socket_dir()
            ),
        ),
        (
            "several hosts, first down",
            true,
            format!("postgresql://scramuser:scrampw@127.0.0.1:{closed},127.0.0.1:{p}/app"),
        ),
        (
            "several hosts, all down",
            false,
            format!(
                "postgresql://scramuser:scrampw@127.0.0.1:{closed},127.0.0.1:{}/app",
                free_port()
            ),
        ),
        (
            "target_session_attrs=read-write",
            true,
            format!("{base}?target_session_attrs=read-write"),
        ),
        (
            "target_session_attrs=read-only on a primary",
            false,
            format!("{base}?target_session_attrs=read-only"),
        ),
        (
            "closed port",
            false,
            format!("postgresql://scramuser:scrampw@127.0.0.1:{closed}/app"),
        ),
    ];
    let mut table = String::new();
    let mut disagreements = 0;
    let mut unexpected = Vec::new();
    for (name, expected, conninfo) in &cases {
        let (reference, why) = psql(conninfo, home.path());
        if reference != *expected {
            unexpected.push(format!("{name}: psql {reference}: {why}"));
        }
        let url = DbUrl::parse(conninfo);
        let (ours, detail) = match &url {
            Ok(url) => {
                let out = probe(url, Duration::from_secs(5)).await;
                (out.ok, out.error.unwrap_or_default())
            }
            Err(e) => (false, e.to_string()),
        };
        let mark = if ours == reference { "ok " } else { "DISAGREE" };
        if ours != reference {
            disagreements += 1;
        }
        let _ = writeln!(
            table,
            "{mark} {name}: psql {} ({}), probe {} ({})",
            if reference { "connects" } else { "fails" },
            why.lines().last().unwrap_or_default(),
            if ours { "passes" } else { "fails" },
            detail
        );
    }
    assert_eq!(disagreements, 0, "probe and psql disagree:\n{table}");
    // The cases are built to exercise both verdicts; a server that answers differently than
    // designed (say, without SSL) would make the comparison prove less than it claims.
    assert!(
        unexpected.is_empty(),
        "the server did not behave as the matrix expects: {unexpected:#?}\n{table}"
    );
}

/// redis-cli's verdict: it carries on after a failed AUTH or SELECT (as the default user, in
/// database 0), so its complaints on stderr count as failures, as they would be in an app.
fn redis_cli(url: &str, ca: Option<&Path>) -> (bool, String) {
    // redis-cli waits forever on a peer that does not answer its TLS handshake.
    let mut cmd = Command::new("timeout");
    cmd.arg("5")
        .arg(program("redis-cli"))
        .args(["--no-auth-warning", "-u", url]);
    if let Some(ca) = ca {
        cmd.args(["--tls", "--cacert"]).arg(ca);
    }
    let out = cmd
        .arg("PING")
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("redis-cli: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let complained = stderr
        .lines()
        .chain(stdout.lines())
        .any(|l| l.contains("failed:") && !l.contains("without any password configured"));
    (
        out.status.success() && stdout.ends_with("PONG") && !complained,
        format!("{stdout} {stderr}"),
    )
}

#[tokio::test]
async fn redis_verdicts_match_redis_cli() {
    let redis = Redis::start();
    let (p, t) = (redis.port, redis.tls_port);
    let ca = redis.pki.ca.display().to_string();
    let ca_path = redis.pki.ca.clone();
    // (case, what redis-cli is expected to do, URL, CA for redis-cli)
    let cases: Vec<(&str, bool, String, Option<&Path>)> = vec![
        ("no password", true, format!("redis://127.0.0.1:{p}"), None),
        ("database 0", true, format!("redis://127.0.0.1:{p}/0"), None),
        (
            "ACL user without +select, /0",
            true,
            format!("redis://noselect:pw1@127.0.0.1:{p}/0"),
            None,
        ),
        (
            "ACL user without +select, /2",
            false,
            format!("redis://noselect:pw1@127.0.0.1:{p}/2"),
            None,
        ),
        (
            "ACL user, wrong password",
            false,
            format!("redis://noselect:bad@127.0.0.1:{p}"),
            None,
        ),
        (
            "rediss with the CA",
            true,
            format!("rediss://localhost:{t}?ssl_ca_certs={ca}"),
            Some(&ca_path),
        ),
        (
            "rediss without the CA",
            false,
            format!("rediss://localhost:{t}"),
            None,
        ),
        (
            "rediss to the plain port",
            false,
            format!("rediss://localhost:{p}?ssl_ca_certs={ca}"),
            Some(&ca_path),
        ),
        (
            "closed port",
            false,
            format!("redis://127.0.0.1:{}", free_port()),
            None,
        ),
    ];
    let mut table = String::new();
    let mut bad = 0;
    for (name, expected, url, cli_ca) in &cases {
        // redis-cli takes the CA as a flag, not in the URL.
        let cli_url = url.split('?').next().unwrap_or(url);
        let (reference, why) = redis_cli(cli_url, *cli_ca);
        let (ours, detail) = match DbUrl::parse(url) {
            Ok(u) => {
                let out = probe(&u, Duration::from_secs(5)).await;
                (out.ok, format!("{:?} {:?}", out.error, out.warning))
            }
            Err(e) => (false, e.to_string()),
        };
        let agree = ours == reference && reference == *expected;
        if !agree {
            bad += 1;
        }
        let _ = writeln!(
            table,
            "{} {name}: redis-cli {reference} ({why}), probe {ours} ({detail}), expected {expected}",
            if agree { "ok " } else { "BAD" }
        );
    }
    assert_eq!(bad, 0, "\n{table}");

    // A password for a server without one: redis-cli reports the refused AUTH and goes on
    // (PONG, exit 0), as the app's client does; the probe passes with a warning.
    let url = format!("redis://:secret@127.0.0.1:{p}");
    let (_, why) = redis_cli(&url, None);
    assert!(
        why.starts_with("PONG") && why.contains("AUTH failed"),
        "{why}"
    );
    let parsed = DbUrl::parse(&url).unwrap_or_else(|e| panic!("{e}"));
    let out = probe(&parsed, Duration::from_secs(5)).await;
    assert!(out.ok && out.warning.is_some(), "{out:?}");
}

/// redis-cli over TLS with the CA and, if given, a client certificate and key.
fn redis_cli_tls(url: &str, pki: &Pki, client_cert: bool) -> (bool, String) {
    let mut cmd = Command::new("timeout");
    cmd.arg("5")
        .arg(program("redis-cli"))
        .args(["--no-auth-warning", "-u", url, "--tls", "--cacert"])
        .arg(&pki.ca);
    if client_cert {
        cmd.arg("--cert")
            .arg(&pki.client_cert)
            .arg("--key")
            .arg(&pki.client_key);
    }
    let out = cmd
        .arg("PING")
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("redis-cli: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    (
        out.status.success() && stdout.ends_with("PONG"),
        format!("{stdout} {stderr}"),
    )
}

#[tokio::test]
async fn redis_tls_client_certificates_match_redis_cli() {
    let mut table = String::new();
    let mut bad = 0;
    // (tls-auth-clients, whether the client presents its certificate, what redis-cli should do)
    for (mode, with_cert, expected) in [
        ("yes", true, true),
        ("yes", false, false),
        ("optional", true, true),
        ("optional", false, true),
        ("no", true, true),
        ("no", false, true),
    ] {
        let redis = Redis::start_with(mode);
        let t = redis.tls_port;
        let base = format!("rediss://localhost:{t}");
        let (reference, why) = redis_cli_tls(&base, &redis.pki, with_cert);
        // redis-py's URL parameters: ssl_ca_certs, ssl_certfile, ssl_keyfile.
        let mut url = format!("{base}?ssl_ca_certs={}", redis.pki.ca.display());
        if with_cert {
            let _ = write!(
                url,
                "&ssl_certfile={}&ssl_keyfile={}",
                redis.pki.client_cert.display(),
                redis.pki.client_key.display()
            );
        }
        let (ours, detail) = match DbUrl::parse(&url) {
            Ok(u) => {
                let out = probe(&u, Duration::from_secs(5)).await;
                (out.ok, format!("{:?}", out.error))
            }
            Err(e) => (false, e.to_string()),
        };
        let agree = ours == reference && reference == expected;
        if !agree {
            bad += 1;
        }
        let _ = writeln!(
            table,
            "{} tls-auth-clients {mode}, client certificate {with_cert}: redis-cli {reference} ({why}), probe {ours} ({detail})",
            if agree { "ok " } else { "BAD" }
        );
    }
    assert_eq!(bad, 0, "\n{table}");
}
