//! `startup.database_connections` end to end: throwaway `PostgreSQL`, `MariaDB` and Redis servers
//! (`src/probe/db/matrix_servers.rs`, shared with the probe matrices), a project whose `.env`
//! configures them through the variable groups apps use (`PG*`, `POSTGRES_*`, `DATABASE_*`,
//! `DB_*`, `MYSQL_*`, `REDIS_*`), and for each case `devops-agent startup`'s verdict compared
//! with the reference client's on the same settings: psql reading the same `PG*` variables
//! (libpq's own), the mariadb client reading `MYSQL_HOST`/`MYSQL_TCP_PORT`/`MYSQL_UNIX_PORT`/
//! `MYSQL_PWD` (libmysql's own), redis-cli given the group's host, port, user and password.
//!
//! Every passing case logs in as a user, with a password that needs URL encoding
//! (`p@ss:w/rd%#? é`), into a database (`env db`) that only the throwaway server has: a probe
//! that reached the machine's own server on 5432/3306/6379 instead would fail. The rule checked
//! on every row: never `passed` where the reference client fails, `failed` exactly where it
//! fails, and the verdict the row was designed for (so a server that misbehaves cannot make the
//! comparison prove less than it claims).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{check, devops_agent, project, run};
use crate::matrix_servers::{
    ENV_DB, ENV_PASSWORD, ENV_PASSWORD_ACL, ENV_USER, Mariadb, Postgres, Redis, free_port, program,
};

/// `devops-agent startup` on a project with this `.env`: the check's status and message.
fn ours(env: &[(&str, String)]) -> (String, String) {
    let mut dotenv = String::from("# written by tests/cli/startup_db.rs\n");
    for (k, v) in env {
        // Single quotes: literal in compose's dotenv syntax, so `%`, `#`, `$` and spaces stay.
        assert!(!v.contains('\''), "{k}: the test's values have no quote");
        let _ = writeln!(dotenv, "{k}='{v}'");
    }
    let dir = project(&[(".env", &dotenv)]);
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["startup", "--project"]).arg(dir.path());
    let out = run(cmd);
    // The passwords, as written and percent-encoded, appear nowhere.
    for secret in ["p@ss", "p%40ss"] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "the password leaked: {}",
            out.stdout
        );
    }
    let report = out.report();
    let db = check(&report, "startup.database_connections");
    (
        db["status"].as_str().unwrap_or_default().to_owned(),
        db["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A reference client's verdict: it printed the expected answer and complained of nothing.
fn verdict(cmd: &mut Command, answer: &str) -> (bool, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let ok = out.status.success() && stdout.ends_with(answer);
    (ok, format!("{stdout} {stderr}").trim().to_owned())
}

/// psql with exactly these libpq variables (and a home of its own: no `~/.pgpass`).
fn psql(vars: &[(&str, String)], home: &Path) -> (bool, String) {
    let mut cmd = Command::new("timeout");
    cmd.arg("15")
        .arg(program("psql"))
        .args(["-X", "-tA", "-c", "SELECT 1"])
        .env_clear()
        .env("HOME", home)
        .env("PGCONNECT_TIMEOUT", "5");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    verdict(&mut cmd, "1")
}

/// The `PG*` variables an app's settings module makes of a group's (`POSTGRES_HOST` is the
/// host libpq is given, and so on).
fn as_libpq(env: &[(&str, String)]) -> Vec<(&'static str, String)> {
    env.iter()
        .filter_map(|(k, v)| {
            let pg = match *k {
                k if k.ends_with("_HOST") || k.ends_with("_SERVER") => "PGHOST",
                k if k.ends_with("_PORT") => "PGPORT",
                k if k.ends_with("_USER") || k.ends_with("_USERNAME") => "PGUSER",
                k if k.ends_with("_PASSWORD") => "PGPASSWORD",
                k if k.ends_with("_DB") || k.ends_with("_NAME") => "PGDATABASE",
                _ => return None,
            };
            Some((pg, v.clone()))
        })
        .collect()
}

/// The mariadb client with libmysql's variables (`MYSQL_HOST`, `MYSQL_TCP_PORT`,
/// `MYSQL_UNIX_PORT`, `MYSQL_PWD`), the user and database as arguments.
fn mariadb(vars: &[(&str, String)], user: &str, db: &str, home: &Path) -> (bool, String) {
    let mut cmd = Command::new("timeout");
    cmd.arg("15")
        .arg(program("mariadb"))
        .args(["--no-defaults", "--connect-timeout=5", "-N", "-B"])
        .arg(format!("-u{user}"))
        .args(["-e", "SELECT 1", db])
        .env_clear()
        .env("HOME", home);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    verdict(&mut cmd, "1")
}

/// redis-cli as an app's client is configured: it carries on after a refused AUTH, so a
/// complaint counts as a failure unless it is the one redis-py also ignores (a password for a
/// server without one).
fn redis_cli(port: u16, user: Option<&str>, password: &str) -> (bool, String) {
    let mut cmd = Command::new("timeout");
    cmd.arg("5").arg(program("redis-cli")).args([
        "--no-auth-warning",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ]);
    if let Some(user) = user {
        cmd.args(["--user", user]);
    }
    cmd.args(["--pass", password, "PING"]).env_clear();
    let (ok, text) = verdict(&mut cmd, "PONG");
    let complained = text.contains("failed:") && !text.contains("without any password configured");
    (ok && !complained, text)
}

/// One row: the `.env`, the reference client's verdict, the status designed for.
struct Case {
    name: &'static str,
    env: Vec<(&'static str, String)>,
    reference: (bool, String),
    expected: &'static str,
}

/// Runs every case and fails with the whole table on any disagreement.
fn assert_agree(cases: &[Case]) {
    let mut table = String::new();
    let mut bad = 0;
    for case in cases {
        let (status, message) = ours(&case.env);
        let (reference, why) = &case.reference;
        // Never `passed` where the reference fails; `failed` exactly where it fails, except a
        // row designed as `warning` (clients differ: the reference fails, another client works).
        let agree = status == case.expected
            && (*reference || status != "passed")
            && (*reference == (status != "failed") || case.expected == "warning");
        if !agree {
            bad += 1;
        }
        let _ = writeln!(
            table,
            "{} {}: reference {} ({}), devops-agent {status} ({message}), designed {}",
            if agree { "ok " } else { "BAD" },
            case.name,
            if *reference { "connects" } else { "fails" },
            why.lines().last().unwrap_or_default(),
            case.expected
        );
    }
    assert_eq!(bad, 0, "\n{table}");
}

fn vars(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

#[test]
fn postgres_variable_groups_reach_the_configured_server() {
    let pg = Postgres::start();
    let home = tempfile::tempdir().unwrap();
    let port = pg.port.to_string();
    let closed = free_port().to_string();
    let sock = pg.socket_dir();
    let spaced = pg.spaced_socket_dir();
    let libpq = |host: &str, port: &str, password: &str, db: &str| {
        vars(&[
            ("PGHOST", host),
            ("PGPORT", port),
            ("PGUSER", ENV_USER),
            ("PGPASSWORD", password),
            ("PGDATABASE", db),
        ])
    };
    let mut cases = Vec::new();
    let mut case = |name, env: Vec<(&'static str, String)>, expected| {
        // libpq reads the PG* variables itself; any other group is what the app hands libpq.
        let reference = if env.iter().any(|(k, _)| k.starts_with("PG")) {
            psql(&env, home.path())
        } else {
            psql(&as_libpq(&env), home.path())
        };
        cases.push(Case {
            name,
            env,
            reference,
            expected,
        });
    };
    case(
        "PGHOST socket directory + PGPORT (the issue's wrong-server case)",
        libpq(&sock, &port, ENV_PASSWORD, ENV_DB),
        "passed",
    );
    case(
        "PGHOST socket directory with a space in its name",
        libpq(&spaced, &port, ENV_PASSWORD, ENV_DB),
        "passed",
    );
    case(
        "PGHOST socket directory, PGPORT where nothing listens",
        libpq(&sock, &closed, ENV_PASSWORD, ENV_DB),
        "failed",
    );
    case(
        "PGHOST socket directory, wrong PGPASSWORD",
        libpq(&sock, &port, "p@ss", ENV_DB),
        "failed",
    );
    case(
        "PGHOST socket directory, a PGDATABASE this server does not have",
        libpq(&sock, &port, ENV_PASSWORD, "test"),
        "failed",
    );
    case(
        "PGHOST=127.0.0.1 + PGPORT, SCRAM over TCP",
        libpq("127.0.0.1", &port, ENV_PASSWORD, ENV_DB),
        "passed",
    );
    let mut bogus = libpq("127.0.0.1", &port, ENV_PASSWORD, ENV_DB);
    bogus.push(("PGOPTIONS", "-c statement_timeout=bogus".to_owned()));
    case("PGOPTIONS with a bogus statement_timeout", bogus, "failed");
    let mut no_tls = libpq("127.0.0.1", &port, ENV_PASSWORD, ENV_DB);
    no_tls.push(("PGSSLMODE", "disable".to_owned()));
    no_tls.push(("PGCHANNELBINDING", "require".to_owned()));
    case(
        "PGCHANNELBINDING=require with PGSSLMODE=disable",
        no_tls,
        "failed",
    );
    // Client certificates and verification from libpq's own variables (the `certuser` role
    // authenticates by certificate only, over TLS only, and exists on this server only).
    let ca = pg.pki.ca.display().to_string();
    let cert = pg.pki.client_cert.display().to_string();
    let key = pg.pki.client_key.display().to_string();
    let tls = |host: &str, mode: &str, with_cert: bool| {
        let mut env = vars(&[
            ("PGHOST", host),
            ("PGPORT", &port),
            ("PGUSER", "certuser"),
            ("PGDATABASE", "app"),
            ("PGSSLMODE", mode),
            ("PGSSLROOTCERT", &ca),
        ]);
        if with_cert {
            env.push(("PGSSLCERT", cert.clone()));
            env.push(("PGSSLKEY", key.clone()));
        }
        env
    };
    case(
        "PGSSLCERT/PGSSLKEY for a cert-auth role, PGSSLMODE=verify-full, PGHOST=localhost",
        tls("localhost", "verify-full", true),
        "passed",
    );
    case(
        "PGSSLCERT/PGSSLKEY, PGSSLMODE=verify-full, PGHOST=127.0.0.1 (not in the certificate)",
        tls("127.0.0.1", "verify-full", true),
        "failed",
    );
    case(
        "PGSSLCERT/PGSSLKEY, PGSSLMODE=verify-ca, PGHOST=127.0.0.1",
        tls("127.0.0.1", "verify-ca", true),
        "passed",
    );
    case(
        "cert-auth role without PGSSLCERT",
        tls("127.0.0.1", "require", false),
        "failed",
    );
    let postgres = |host_var, host: &str, db: &str| {
        vars(&[
            (host_var, host),
            ("POSTGRES_PORT", &port),
            ("POSTGRES_USER", ENV_USER),
            ("POSTGRES_PASSWORD", ENV_PASSWORD),
            ("POSTGRES_DB", db),
        ])
    };
    case(
        "POSTGRES_HOST=127.0.0.1 + POSTGRES_PORT/USER/PASSWORD/DB",
        postgres("POSTGRES_HOST", "127.0.0.1", ENV_DB),
        "passed",
    );
    case(
        "POSTGRES_SERVER socket directory",
        postgres("POSTGRES_SERVER", &spaced, ENV_DB),
        "passed",
    );
    case(
        "POSTGRES_HOST, a database that does not exist",
        postgres("POSTGRES_HOST", "127.0.0.1", "nope"),
        "failed",
    );
    let database = |host: &str, password: &str| {
        vars(&[
            ("DATABASE_ENGINE", "django.db.backends.postgresql"),
            ("DATABASE_HOST", host),
            ("DATABASE_PORT", &port),
            ("DATABASE_USER", ENV_USER),
            ("DATABASE_PASSWORD", password),
            ("DATABASE_NAME", ENV_DB),
        ])
    };
    case(
        "DATABASE_HOST/PORT/USER/PASSWORD/NAME with DATABASE_ENGINE",
        database("127.0.0.1", ENV_PASSWORD),
        "passed",
    );
    case(
        "DATABASE_* with a wrong password",
        database("127.0.0.1", "p@ss:w/rd%#?"),
        "failed",
    );
    case(
        "DB_HOST socket directory with DB_ENGINE",
        vars(&[
            ("DB_ENGINE", "django.db.backends.postgresql"),
            ("DB_HOST", &sock),
            ("DB_PORT", &port),
            ("DB_USER", ENV_USER),
            ("DB_PASSWORD", ENV_PASSWORD),
            ("DB_NAME", ENV_DB),
        ]),
        "passed",
    );
    assert_agree(&cases);
}

#[test]
fn mysql_variable_groups_reach_the_configured_server() {
    let db = Mariadb::start();
    let home = tempfile::tempdir().unwrap();
    let port = db.port.to_string();
    let sock = db.socket().display().to_string();
    let mut cases = Vec::new();
    let mut case = |name, env: Vec<(&'static str, String)>, expected| {
        // The mariadb client reads libmysql's variables; MYSQL_PORT/MYSQL_PASSWORD are what the
        // app hands it as the port and password.
        let lib: Vec<(&str, String)> = env
            .iter()
            .filter_map(|(k, v)| {
                let name = match *k {
                    "MYSQL_HOST" | "DATABASE_HOST" => "MYSQL_HOST",
                    "MYSQL_PORT" | "DATABASE_PORT" => "MYSQL_TCP_PORT",
                    "MYSQL_PASSWORD" | "DATABASE_PASSWORD" | "DB_PASSWORD" => "MYSQL_PWD",
                    // Laravel's DB_SOCKET: PDO's unix_socket, the host left out.
                    "MYSQL_UNIX_PORT" | "DB_SOCKET" => "MYSQL_UNIX_PORT",
                    _ => return None,
                };
                Some((name, v.clone()))
            })
            .collect();
        let reference = mariadb(&lib, ENV_USER, ENV_DB, home.path());
        cases.push(Case {
            name,
            env,
            reference,
            expected,
        });
    };
    let mysql = |host: &str, password: &str| {
        vars(&[
            ("MYSQL_HOST", host),
            ("MYSQL_PORT", &port),
            ("MYSQL_USER", ENV_USER),
            ("MYSQL_PASSWORD", password),
            ("MYSQL_DATABASE", ENV_DB),
        ])
    };
    case(
        "MYSQL_HOST=127.0.0.1 + MYSQL_PORT/USER/PASSWORD/DATABASE",
        mysql("127.0.0.1", ENV_PASSWORD),
        "passed",
    );
    case(
        "MYSQL_* with a wrong password",
        mysql("127.0.0.1", "p@ss:w/rd"),
        "failed",
    );
    let mut local = mysql("localhost", ENV_PASSWORD);
    local.push(("MYSQL_UNIX_PORT", sock.clone()));
    case(
        "MYSQL_HOST=localhost + MYSQL_UNIX_PORT (libmysql's socket)",
        local,
        "passed",
    );
    let mut missing = mysql("localhost", ENV_PASSWORD);
    missing.push(("MYSQL_UNIX_PORT", format!("{sock}.nope")));
    case("MYSQL_UNIX_PORT that does not exist", missing, "failed");
    // libmysql takes the path for a host name (2005); Django's backend connects to the socket.
    case(
        "MYSQL_HOST=<socket path>",
        mysql(&sock, ENV_PASSWORD),
        "warning",
    );
    case(
        "MYSQL_HOST=<socket path>, wrong password",
        mysql(&sock, "nope"),
        "failed",
    );
    case(
        "DATABASE_* with DATABASE_DIALECT=mariadb",
        vars(&[
            ("DATABASE_DIALECT", "mariadb"),
            ("DATABASE_HOST", "127.0.0.1"),
            ("DATABASE_PORT", &port),
            ("DATABASE_USER", ENV_USER),
            ("DATABASE_PASSWORD", ENV_PASSWORD),
            ("DATABASE_NAME", ENV_DB),
        ]),
        "passed",
    );
    let laravel = |socket: String| {
        vars(&[
            ("DB_CONNECTION", "mysql"),
            ("DB_HOST", "127.0.0.1"),
            ("DB_PORT", &free_port().to_string()),
            ("DB_USERNAME", ENV_USER),
            ("DB_PASSWORD", ENV_PASSWORD),
            ("DB_DATABASE", ENV_DB),
            ("DB_SOCKET", &socket),
        ])
    };
    case(
        "Laravel DB_SOCKET (wins over DB_HOST/DB_PORT, where nothing listens)",
        laravel(sock.clone()),
        "passed",
    );
    case(
        "Laravel DB_SOCKET that does not exist",
        laravel(format!("{sock}.nope")),
        "failed",
    );
    assert_agree(&cases);
    // The warning says which clients would not connect.
    let (status, message) = ours(&mysql(&sock, ENV_PASSWORD));
    assert_eq!(status, "warning");
    assert!(
        message.contains("MYSQL_HOST is a Unix-socket path") && message.contains("PyMySQL"),
        "{message}"
    );
}

#[test]
fn redis_variable_group_reaches_the_configured_server() {
    let redis = Redis::start();
    let port = redis.port.to_string();
    let group = |user: Option<&str>, password: &str| {
        let mut env = vars(&[
            ("REDIS_HOST", "127.0.0.1"),
            ("REDIS_PORT", &port),
            ("REDIS_PASSWORD", password),
        ]);
        if let Some(user) = user {
            env.push(("REDIS_USERNAME", user.to_owned()));
        }
        env
    };
    let cases = [
        Case {
            name: "REDIS_HOST/PORT/USERNAME/PASSWORD, an ACL user only this server has",
            env: group(Some(ENV_USER), ENV_PASSWORD_ACL),
            reference: redis_cli(redis.port, Some(ENV_USER), ENV_PASSWORD_ACL),
            expected: "passed",
        },
        Case {
            name: "REDIS_* with a wrong password",
            env: group(Some(ENV_USER), "p@ss"),
            reference: redis_cli(redis.port, Some(ENV_USER), "p@ss"),
            expected: "failed",
        },
        Case {
            name: "REDIS_PASSWORD for a default user without one (redis-py goes on)",
            env: group(None, ENV_PASSWORD_ACL),
            reference: redis_cli(redis.port, None, ENV_PASSWORD_ACL),
            expected: "warning",
        },
    ];
    assert_agree(&cases);
}

/// A TLS server that offers only what rustls does not implement (TLS 1.2 with CBC suites):
/// redis-cli, on OpenSSL as the app's client would be, connects; the probe
/// cannot, and says so as a warning naming the cause — never a failure of a healthy setup.
#[test]
fn tls_the_probe_cannot_speak_is_a_warning_where_redis_cli_connects() {
    let mut cases = Vec::new();
    // The throwaway servers' certificates are ECDSA (rcgen's default), so the suites are
    // ECDHE-ECDSA ones; RSA key exchange is covered by startup_http's nginx row.
    for (name, ciphers) in [
        (
            "REDIS_URL rediss:// to a TLS 1.2 server with CBC-SHA suites only",
            "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA",
        ),
        (
            "REDIS_URL rediss:// to a TLS 1.2 server with CBC-SHA256/384 suites only",
            "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384",
        ),
    ] {
        let redis = Redis::start_tls(
            "no",
            &["--tls-protocols", "TLSv1.2", "--tls-ciphers", ciphers],
        );
        let mut cmd = Command::new("timeout");
        cmd.arg("5")
            .arg(program("redis-cli"))
            .args(["-h", "localhost", "-p", &redis.tls_port.to_string()])
            .args(["--tls", "--cacert"])
            .arg(&redis.pki.ca)
            .arg("PING")
            .env_clear();
        let reference = verdict(&mut cmd, "PONG");
        assert!(reference.0, "redis-cli must connect: {}", reference.1);
        let url = format!(
            "rediss://localhost:{}?ssl_ca_certs={}",
            redis.tls_port,
            redis.pki.ca.display()
        );
        let (status, message) = ours(&[("REDIS_URL", url)]);
        assert!(
            message.contains("no cipher suite in common") && message.contains("may still connect"),
            "{name}: {message}"
        );
        cases.push((name, status, message, reference));
    }
    for (name, status, message, (reference, why)) in &cases {
        assert_eq!(
            status, "warning",
            "{name}: redis-cli {reference} ({why}); devops-agent {status} ({message})"
        );
    }
}

/// The wrong messages the issue quotes: a URL that cannot be probed is named with libpq's
/// reason, not counted as "0 of 0 connection(s) failed", and a socket host is never told that
/// "IPv6 addresses must be written in brackets".
#[test]
fn unprobeable_and_socket_urls_get_the_right_message() {
    let (status, message) = ours(&vars(&[("DATABASE_URL", "postgres://app@[::1/shop")]));
    assert_eq!(status, "failed", "{message}");
    assert!(
        message.starts_with("the configured connections cannot be probed: DATABASE_URL")
            && !message.contains("0 of 0"),
        "{message}"
    );
    let (status, message) = ours(&vars(&[(
        "DATABASE_URL",
        "postgresql://app@%2Fnowhere%2Fsock,127.0.0.1:1/shop",
    )]));
    assert_eq!(status, "failed", "{message}");
    assert!(
        message.starts_with("1 of 1 connection(s) failed")
            && message.contains("nowhere")
            && !message.contains("brackets"),
        "{message}"
    );
}
