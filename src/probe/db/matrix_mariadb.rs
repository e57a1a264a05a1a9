//! The agreement matrix for `MySQL`/`MariaDB`: a throwaway `MariaDB` server (its own datadir from
//! `mariadb-install-db`, a free loopback port and a Unix socket in a temporary directory, TLS
//! with a CA made for the test) with `mysql_native_password`, ed25519, `REQUIRE SSL` and
//! `REQUIRE X509` users, and for each case the probe's verdict compared with the `mariadb`
//! client's exit status for the same connection.
//!
//! The server on port 3306 that the machine may run is never touched. `mariadbd` is killed when
//! the test ends; a missing binary fails the test (`scripts/test.sh` installs them).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::matrix_servers::{Mariadb, free_port, program};
use super::{DbUrl, probe};

/// The `mariadb` client's verdict for `args` (connection options and the database): it exits 0
/// and prints 1 for `SELECT 1`, or it does not. No option file and no `HOME` of the machine's
/// user is read.
fn mariadb(args: &[String], home: &Path) -> (bool, String) {
    let out = Command::new("timeout")
        .arg("15")
        .arg(program("mariadb"))
        .args(["--no-defaults", "--connect-timeout=5", "-N", "-B"])
        .args(args)
        .args(["-e", "SELECT 1"])
        .env_clear()
        .env("HOME", home)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("mariadb: {e}"));
    (
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1",
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

#[tokio::test]
async fn mariadb_verdicts_match_the_mariadb_client() {
    let db = Mariadb::start();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = db.port;
    let closed = free_port();
    let sock = db.socket().display().to_string();
    let sock_enc = sock.replace('/', "%2F");
    let ca = db.pki.ca.display().to_string();
    let cert = db.pki.client_cert.display().to_string();
    let key = db.pki.client_key.display().to_string();
    let ed_pw = "ed pw, longer than 32 bytes é";
    let ed_pw_enc = "ed%20pw%2C%20longer%20than%2032%20bytes%20%C3%A9";
    let tcp = |user: &str, pw: &str| -> Vec<String> {
        vec![
            "-h127.0.0.1".into(),
            format!("-P{p}"),
            format!("-u{user}"),
            format!("--password={pw}"),
        ]
    };
    let with = |mut base: Vec<String>, more: &[&str]| {
        base.extend(more.iter().map(|s| (*s).to_owned()));
        base
    };
    // (case, what mariadb is expected to do, URL, the same connection as mariadb options)
    let cases: Vec<(&str, bool, String, Vec<String>)> = vec![
        (
            "mysql_native_password",
            true,
            format!("mysql://native:nativepw@127.0.0.1:{p}/app"),
            with(tcp("native", "nativepw"), &["app"]),
        ),
        (
            "mysql_native_password, wrong password",
            false,
            format!("mysql://native:bad@127.0.0.1:{p}/app"),
            with(tcp("native", "bad"), &["app"]),
        ),
        (
            "mysql_native_password, no TLS",
            true,
            format!("mysql://native:nativepw@127.0.0.1:{p}/app?ssl-mode=DISABLED"),
            with(tcp("native", "nativepw"), &["--skip-ssl", "app"]),
        ),
        (
            "user without a password",
            true,
            format!("mysql://nopw@127.0.0.1:{p}/app"),
            with(tcp("nopw", ""), &["app"]),
        ),
        (
            "ed25519",
            true,
            format!("mariadb://ed:{ed_pw_enc}@127.0.0.1:{p}/app"),
            with(tcp("ed", ed_pw), &["app"]),
        ),
        (
            "ed25519, no TLS",
            true,
            format!("mariadb://ed:{ed_pw_enc}@127.0.0.1:{p}/app?ssl-mode=DISABLED"),
            with(tcp("ed", ed_pw), &["--skip-ssl", "app"]),
        ),
        (
            "ed25519, wrong password",
            false,
            format!("mariadb://ed:edpw@127.0.0.1:{p}/app"),
            with(tcp("ed", "edpw"), &["app"]),
        ),
        (
            "unknown database",
            false,
            format!("mysql://native:nativepw@127.0.0.1:{p}/nope"),
            with(tcp("native", "nativepw"), &["nope"]),
        ),
        (
            "REQUIRE SSL, ssl-mode=REQUIRED",
            true,
            format!("mysql://ssluser:sslpw@127.0.0.1:{p}/app?ssl-mode=REQUIRED"),
            with(tcp("ssluser", "sslpw"), &["--ssl", "app"]),
        ),
        (
            "REQUIRE SSL, default ssl-mode (TLS preferred)",
            true,
            format!("mysql://ssluser:sslpw@127.0.0.1:{p}/app"),
            with(tcp("ssluser", "sslpw"), &["app"]),
        ),
        (
            "REQUIRE SSL, ssl-mode=DISABLED",
            false,
            format!("mysql://ssluser:sslpw@127.0.0.1:{p}/app?ssl-mode=DISABLED"),
            with(tcp("ssluser", "sslpw"), &["--skip-ssl", "app"]),
        ),
        (
            "VERIFY_IDENTITY, CA, name in the certificate",
            true,
            format!("mysql://ssluser:sslpw@localhost:{p}/app?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
            vec![
                "--protocol=tcp".into(),
                "-hlocalhost".into(),
                format!("-P{p}"),
                "-ussluser".into(),
                "--password=sslpw".into(),
                format!("--ssl-ca={ca}"),
                "--ssl-verify-server-cert".into(),
                "app".into(),
            ],
        ),
        (
            "VERIFY_IDENTITY, CA, IP not in the certificate",
            false,
            format!("mysql://ssluser:sslpw@127.0.0.1:{p}/app?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
            with(
                tcp("ssluser", "sslpw"),
                &[&format!("--ssl-ca={ca}"), "--ssl-verify-server-cert", "app"],
            ),
        ),
        (
            "VERIFY_IDENTITY without the CA",
            false,
            format!("mysql://ssluser:sslpw@localhost:{p}/app?ssl-mode=VERIFY_IDENTITY"),
            vec![
                "--protocol=tcp".into(),
                "-hlocalhost".into(),
                format!("-P{p}"),
                "-ussluser".into(),
                "--password=sslpw".into(),
                "--ssl".into(),
                "--ssl-verify-server-cert".into(),
                "app".into(),
            ],
        ),
        (
            "REQUIRE X509 with a client certificate",
            true,
            format!(
                "mysql://x509user:x509pw@127.0.0.1:{p}/app?ssl-mode=REQUIRED&ssl-cert={cert}&ssl-key={key}"
            ),
            with(
                tcp("x509user", "x509pw"),
                &[
                    "--ssl",
                    &format!("--ssl-cert={cert}"),
                    &format!("--ssl-key={key}"),
                    "app",
                ],
            ),
        ),
        (
            "REQUIRE X509 with a client certificate, verified server",
            true,
            format!(
                "mysql://x509user:x509pw@localhost:{p}/app?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}&ssl-cert={cert}&ssl-key={key}"
            ),
            vec![
                "--protocol=tcp".into(),
                "-hlocalhost".into(),
                format!("-P{p}"),
                "-ux509user".into(),
                "--password=x509pw".into(),
                format!("--ssl-ca={ca}"),
                "--ssl-verify-server-cert".into(),
                format!("--ssl-cert={cert}"),
                format!("--ssl-key={key}"),
                "app".into(),
            ],
        ),
        (
            "REQUIRE X509 without a client certificate",
            false,
            format!("mysql://x509user:x509pw@127.0.0.1:{p}/app?ssl-mode=REQUIRED"),
            with(tcp("x509user", "x509pw"), &["--ssl", "app"]),
        ),
        (
            "REQUIRE X509, certificate but ssl-mode=DISABLED",
            false,
            format!(
                "mysql://x509user:x509pw@127.0.0.1:{p}/app?ssl-mode=DISABLED&ssl-cert={cert}&ssl-key={key}"
            ),
            with(tcp("x509user", "x509pw"), &["--skip-ssl", "app"]),
        ),
        (
            "Unix socket, ?socket=",
            true,
            format!("mysql://native:nativepw@localhost/app?socket={sock}"),
            vec![
                format!("--socket={sock}"),
                "-unative".into(),
                "--password=nativepw".into(),
                "app".into(),
            ],
        ),
        (
            "Unix socket as the host, ed25519",
            true,
            format!("mariadb://ed:{ed_pw_enc}@{sock_enc}/app"),
            vec![
                format!("--socket={sock}"),
                "-ued".into(),
                format!("--password={ed_pw}"),
                "app".into(),
            ],
        ),
        (
            "Unix socket, ?unix_socket=, wrong password",
            false,
            format!("mysql://native:bad@localhost/app?unix_socket={sock}"),
            vec![
                format!("--socket={sock}"),
                "-unative".into(),
                "--password=bad".into(),
                "app".into(),
            ],
        ),
        (
            "Unix socket that does not exist",
            false,
            format!("mysql://native:nativepw@localhost/app?socket={sock}.nope"),
            vec![
                format!("--socket={sock}.nope"),
                "-unative".into(),
                "--password=nativepw".into(),
                "app".into(),
            ],
        ),
        (
            "closed port",
            false,
            format!("mysql://native:nativepw@127.0.0.1:{closed}/app"),
            vec![
                "-h127.0.0.1".into(),
                format!("-P{closed}"),
                "-unative".into(),
                "--password=nativepw".into(),
                "app".into(),
            ],
        ),
    ];
    let mut table = String::new();
    let mut bad = 0;
    for (name, expected, url, args) in &cases {
        let (reference, why) = mariadb(args, home.path());
        let (ours, detail) = match DbUrl::parse(url) {
            Ok(u) => {
                let out = probe(&u, Duration::from_secs(10)).await;
                assert!(
                    !format!("{out:?}").contains("nativepw")
                        && !format!("{out:?}").contains("longer than"),
                    "{name}: a password in the outcome: {out:?}"
                );
                (out.ok, out.error.unwrap_or_default())
            }
            Err(e) => (false, e.to_string()),
        };
        let agree = ours == reference && reference == *expected;
        if !agree {
            bad += 1;
        }
        let _ = writeln!(
            table,
            "{} {name}: mariadb {} ({}), probe {} ({detail})",
            if agree { "ok " } else { "BAD" },
            if reference { "exit 0" } else { "fails" },
            why.lines().last().unwrap_or_default(),
            if ours { "passes" } else { "fails" },
        );
    }
    assert_eq!(
        bad,
        0,
        "probe, mariadb and the design disagree:\n{table}\n{}",
        db.log()
    );
}
