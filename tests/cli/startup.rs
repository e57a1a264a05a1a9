//! `devops-agent startup`: real processes on real ports — ready, crashing, never listening,
//! IPv6-only, slow — and nothing left behind.

use std::fmt::Write as _;
use std::path::Path;

use crate::common::{check, devops_agent, findings, fixture, project, run, status};

/// A project whose one service runs `fixtures/startup/server.js MODE` in both modes.
/// The project directory is passed as a second argument, so a test can find its own
/// processes among those of tests running concurrently.
fn app(mode: &str, extra_toml: &str) -> tempfile::TempDir {
    let server = fixture("startup/server.js");
    let dir = project(&[]);
    let tag = dir.path().display();
    let toml = format!(
        "[services.app]\ndev = \"node {server} {mode} {tag}\"\nprod = \"node {server} {mode} {tag}\"\n{extra_toml}\n[startup]\nready_timeout = \"3s\"\nstability = \"500ms\"\nhealth_samples = 5\n\n[timeouts]\ngrace = \"500ms\"\n",
        server = server.display()
    );
    std::fs::write(dir.path().join("devops-agent.toml"), toml).unwrap();
    dir
}

fn startup(dir: &Path, env: &[(&str, &str)]) -> crate::common::Run {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["startup", "--project"]).arg(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd)
}

fn service(check: &serde_json::Value) -> &serde_json::Value {
    &check["evidence"]["services"][0]
}

/// No process of this test's app may survive the run.
fn assert_no_survivors(dir: &Path) {
    let needle = dir.display().to_string();
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z');
        if cmdline.contains(&needle) && !zombie {
            left.push(cmdline);
        }
    }
    assert!(left.is_empty(), "survivors: {left:#?}");
}

#[test]
fn app_starts_in_both_modes_with_health_samples() {
    let dir = app("ok", "");
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    for id in [
        "startup.dev_mode",
        "startup.prod_mode",
        "startup.health_checks",
    ] {
        assert_eq!(check(&report, id)["status"], "passed", "{id}");
    }
    let dev = service(check(&report, "startup.dev_mode"));
    assert_eq!(dev["ready"], true);
    assert_eq!(dev["ready_via"], "tcp + GET /health 200");
    assert_eq!(dev["ending"], "stopped");
    assert_eq!(dev["port_released"], true);
    // The window (500 ms here) ran alongside the samples; what it cost is measured.
    let dev_check = check(&report, "startup.dev_mode");
    assert_eq!(dev_check["evidence"]["stability_window_configured_ms"], 500);
    let cost = dev_check["evidence"]["stability_window_ms"]
        .as_u64()
        .unwrap();
    assert!(cost <= 500, "{cost}");
    let health = &check(&report, "startup.health_checks")["evidence"]["endpoints"][0];
    assert_eq!(health["samples"], 5);
    assert_eq!(health["failed"], 0);
    assert!(health["p95_ms"].as_f64().unwrap() > 0.0);
    // Measured figures reach the seed's monitoring section; nothing else is invented.
    let monitoring = &report["monitoring"];
    assert_eq!(monitoring["response_time"]["samples"], 10);
    assert_eq!(monitoring["error_rate"], 0.0);
    assert!(monitoring["uptime"].is_null());
    assert_eq!(
        report["infrastructure"]["environments"]["development"]["status"],
        "healthy"
    );
    assert_no_survivors(dir.path());
}

#[test]
fn crash_on_boot_fails_at_once_with_exit_code_and_redacted_log() {
    let dir = app("crash", "");
    std::fs::write(dir.path().join(".env"), "SECRET_TOKEN=tok-9f8e7d6c5b4a\n").unwrap();
    let events = dir.path().join("events.jsonl");
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["startup", "--project"])
        .arg(dir.path())
        .arg("--events")
        .arg(&events);
    let started = std::time::Instant::now();
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 1);
    // Fails fast: no waiting for the 3 s ready timeout in each mode.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let dev = check(&report, "startup.dev_mode");
    assert_eq!(dev["status"], "failed");
    assert!(
        dev["message"]
            .as_str()
            .unwrap()
            .contains("exited with code 1 before it was ready"),
        "{dev:#}"
    );
    let tail = service(dev)["output_tail"].as_array().unwrap();
    assert!(
        tail.iter()
            .any(|l| l.as_str().unwrap().contains("fatal: configuration invalid"))
    );
    let events = std::fs::read_to_string(&events).unwrap();
    for text in [&out.stdout, &out.stderr, &events] {
        assert!(!text.contains("tok-9f8e7d6c5b4a"), "secret leaked");
    }
    assert!(out.stdout.contains("[redacted]"));
}

#[test]
fn never_listening_times_out_and_is_stopped() {
    let dir = app("never", "");
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 1);
    let dev = check(&report, "startup.dev_mode");
    assert!(
        dev["message"]
            .as_str()
            .unwrap()
            .contains("not ready within 3s: nothing listened on 127.0.0.1:"),
        "{dev:#}"
    );
    assert_eq!(service(dev)["ending"], "stopped");
    assert_no_survivors(dir.path());
}

#[test]
fn listening_but_not_answering_ready_shows_the_answers() {
    // Every path answers 500: the port is open, so the message is what HTTP said.
    let dir = app("broken", "");
    let out = startup(dir.path(), &[]);
    assert_eq!(out.code, 1);
    let report = out.report();
    let dev = check(&report, "startup.dev_mode");
    let message = dev["message"].as_str().unwrap();
    assert!(
        message.contains("accepted connections but answered /health 500, /healthz 500")
            && message.contains(", / 500 (waited for"),
        "{message}"
    );
    assert!(!message.contains("nothing listened"), "{message}");
    assert!(
        service(dev)["http_answers_seen"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().starts_with("/health 500 (port ")),
        "{dev:#}"
    );
    assert_no_survivors(dir.path());

    // A configured health path that is not there: its 404 is shown.
    let dir = app("ok", "health = \"/ready\"");
    let out = startup(dir.path(), &[]);
    assert_eq!(out.code, 1);
    let message = check(&out.report(), "startup.dev_mode")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(
            "accepted connections but answered /ready 404 (waited for /ready answering 2xx)"
        ),
        "{message}"
    );
    assert_no_survivors(dir.path());
}

#[test]
fn server_bound_to_ipv6_loopback_only_is_ready() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        crate::common::skip("no IPv6 loopback");
        return;
    }
    let dir = app("ipv6", "");
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    let url = service(check(&report, "startup.dev_mode"))["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with("http://[::1]:"), "{url}");
}

#[test]
fn slow_health_fails_the_p95_threshold() {
    let dir = app("slow", "");
    let toml = std::fs::read_to_string(dir.path().join("devops-agent.toml")).unwrap();
    std::fs::write(
        dir.path().join("devops-agent.toml"),
        toml.replace(
            "health_samples = 5",
            "health_samples = 3\nhealth_p95 = \"100ms\"",
        ),
    )
    .unwrap();
    let out = startup(dir.path(), &[("SLOW_MS", "250")]);
    let report = out.report();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let h = check(&report, "startup.health_checks");
    assert_eq!(h["status"], "failed");
    assert!(
        findings(h)[0]["message"]
            .as_str()
            .unwrap()
            .contains("over the 100 ms threshold")
    );
    assert_eq!(check(&report, "startup.dev_mode")["status"], "passed");
    assert!(
        !report["monitoring"]["alerts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn crash_after_ready_fails_the_stability_window() {
    let dir = app("crash-after", "");
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 1);
    let dev = check(&report, "startup.dev_mode");
    assert!(
        dev["message"]
            .as_str()
            .unwrap()
            .contains("stability window"),
        "{dev:#}"
    );
    assert_eq!(service(dev)["exit_code"], 3);
}

/// The stability window runs alongside the health samples, not after them, and is still a
/// window: a server that answers its health endpoint and exits 0.5 s later fails the default
/// (1 s) window, and the report says what the window cost.
#[test]
fn crash_half_a_second_after_ready_fails_the_default_window() {
    let server = fixture("startup/server.js");
    let dir = project(&[]);
    let toml = format!(
        "[services.app]\ndev = \"node {server} crash-later {tag}\"\nprod = \"node {server} ok {tag}\"\n\n[startup]\nready_timeout = \"5s\"\nhealth_samples = 5\n\n[timeouts]\ngrace = \"500ms\"\n",
        server = server.display(),
        tag = dir.path().display()
    );
    std::fs::write(dir.path().join("devops-agent.toml"), toml).unwrap();
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let dev = check(&report, "startup.dev_mode");
    assert_eq!(dev["status"], "failed", "{dev:#}");
    let message = dev["message"].as_str().unwrap();
    assert!(
        message.contains("exited with code 3") && message.contains("1s stability window"),
        "{dev:#}"
    );
    assert_eq!(service(dev)["exit_code"], 3);
    assert_eq!(dev["evidence"]["stability_window_configured_ms"], 1000);
    // The crash ended its window early: it cost at most the half second it stayed up.
    let cost = dev["evidence"]["stability_window_ms"].as_u64().unwrap();
    assert!(cost <= 1000, "{cost}");
    // The production mode, a server that stays up, passes its whole window.
    let prod = check(&report, "startup.prod_mode");
    assert_eq!(prod["status"], "passed", "{prod:#}");
    let cost = prod["evidence"]["stability_window_ms"].as_u64().unwrap();
    assert!((500..=1000).contains(&cost), "{cost}");
    assert_no_survivors(dir.path());
}

#[test]
fn server_ignoring_sigterm_is_killed_and_its_port_released() {
    let dir = app("ignore-term", "");
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(
        service(check(&report, "startup.dev_mode"))["port_released"],
        true
    );
    assert_no_survivors(dir.path());
}

#[test]
fn missing_required_env_var_fails_by_name_only() {
    let dir = app("ok", "env = [\"API_SECRET\", \"PRESENT_SECRET\"]");
    let toml = std::fs::read_to_string(dir.path().join("devops-agent.toml")).unwrap();
    // The `env` line belongs to [services.app], right after its commands.
    assert!(toml.contains("env = [\"API_SECRET\""));
    std::fs::write(
        dir.path().join(".env.example"),
        "API_SECRET=\nPRESENT_SECRET=\nOPTIONAL_PORT=\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  x:\n    image: x\n    ports:\n      - \"${OPTIONAL_PORT:-4000}:80\"\n",
    )
    .unwrap();
    let out = startup(
        dir.path(),
        &[("PRESENT_SECRET", "value-that-must-not-appear")],
    );
    let report = out.report();
    assert_eq!(out.code, 1);
    let env = check(&report, "startup.env_vars");
    assert_eq!(env["status"], "failed");
    assert_eq!(
        env["evidence"]["missing"],
        serde_json::json!(["API_SECRET"])
    );
    assert_eq!(
        env["evidence"]["optional_with_defaults"],
        serde_json::json!(["OPTIONAL_PORT"])
    );
    assert!(!out.stdout.contains("value-that-must-not-appear"));
}

#[test]
fn nothing_to_start_is_skipped() {
    let dir = project(&[("README.md", "docs\n")]);
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(check(&report, "startup.dev_mode")["status"], "skipped");
    assert_eq!(check(&report, "startup.health_checks")["status"], "skipped");
}

/// Whether a machine service is listening; under `CI=true` its absence fails the test.
fn service_up(port: u16, name: &str) -> bool {
    let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    if !up {
        crate::common::skip(&format!("{name} is not listening on 127.0.0.1:{port}"));
    }
    up
}

fn all_services_up() -> bool {
    [
        (5432, "PostgreSQL"),
        (3306, "MariaDB"),
        (6379, "Redis"),
        (5672, "RabbitMQ"),
        (4222, "NATS"),
        (1883, "Mosquitto"),
    ]
    .iter()
    .all(|(port, name)| service_up(*port, name))
}

#[test]
fn real_databases_and_brokers_answer_their_protocols() {
    if !all_services_up() {
        return;
    }
    let dir = project(&[(
        "devops-agent.toml",
        "[[databases]]\nname = \"raw\"\nurl = \"tcp://127.0.0.1:${PGPORT_UNDER_TEST:-5432}\"\n",
    )]);
    let out = startup(
        dir.path(),
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
            ("MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
            ("REDIS_URL", "redis://127.0.0.1:6379/0"),
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
            ("NATS_URL", "nats://127.0.0.1:4222"),
            ("MQTT_URL", "mqtt://127.0.0.1:1883"),
        ],
    );
    let report = out.report();
    let db = check(&report, "startup.database_connections");
    assert_eq!(db["status"], "passed", "{db:#}");
    let connections = db["evidence"]["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 7);
    for c in connections {
        assert_eq!(c["ok"], true, "{c}");
        if c["kind"] != "tcp" {
            assert_eq!(c["protocol_verified"], true, "{c}");
            assert!(c["latency_ms"].as_f64().is_some(), "{c}");
        }
    }
    let pg = connections
        .iter()
        .find(|c| c["kind"] == "postgres")
        .unwrap();
    assert!(
        pg["server_version"].as_str().unwrap().starts_with("15"),
        "{pg}"
    );
    assert!(
        db["message"]
            .as_str()
            .unwrap()
            .contains("TCP only, no protocol known: tcp://127.0.0.1:5432")
    );
}

#[test]
fn broken_connections_fail_with_reasons_and_no_password() {
    if !all_services_up() {
        return;
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = project(&[]);
    let out = startup(
        dir.path(),
        &[
            (
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/no_such_database",
            ),
            (
                "MYSQL_URL",
                "mysql://root:not-the-password-4f3e@127.0.0.1:3306/test",
            ),
            ("AMQP_URL", "amqp://guest:wrong-secret-9a8b@127.0.0.1:5672/"),
            // A Redis URL pointing at PostgreSQL's port: TCP accepts, the protocol does not.
            ("REDIS_URL", "redis://127.0.0.1:5432"),
            ("NATS_URL", &format!("nats://127.0.0.1:{closed}")),
        ],
    );
    let report = out.report();
    assert_eq!(out.code, 1);
    let db = check(&report, "startup.database_connections");
    assert_eq!(db["status"], "failed");
    let text = findings(db)
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("no_such_database"), "{text}");
    assert!(
        text.contains("1045") || text.contains("Access denied"),
        "{text}"
    );
    assert!(text.contains("ACCESS_REFUSED"), "{text}");
    assert!(text.contains("did not speak"), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    for secret in ["not-the-password-4f3e", "wrong-secret-9a8b"] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} leaked"
        );
    }
}

/// The probes a connection check made: `(from, kind, ok)`.
fn connections(db: &serde_json::Value) -> Vec<(String, String, bool)> {
    db["evidence"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["from"][0].as_str().unwrap_or("").to_owned(),
                c["kind"].as_str().unwrap_or("").to_owned(),
                c["ok"] == true,
            )
        })
        .collect()
}

#[test]
fn variable_groups_and_celery_brokers_are_probed() {
    if !all_services_up() {
        return;
    }
    let dir = project(&[]);
    // Django-style DB_* with its engine, a Sequelize-style DATABASE_* on MariaDB, a Celery broker.
    let out = startup(
        dir.path(),
        &[
            ("DB_ENGINE", "django.db.backends.postgresql"),
            ("DB_HOSTNAME", "127.0.0.1"),
            ("DB_PORT", "5432"),
            ("DB_USERNAME", "postgres"),
            ("DB_NAME", "test"),
            ("DATABASE_DIALECT", "mariadb"),
            ("DATABASE_HOST", "127.0.0.1"),
            ("DATABASE_USER", "root"),
            ("DATABASE_NAME", "test"),
            ("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        ],
    );
    let report = out.report();
    let db = check(&report, "startup.database_connections");
    assert_eq!(db["status"], "passed", "{db:#}");
    let mut got = connections(db);
    got.sort();
    assert_eq!(
        got,
        [
            ("CELERY_BROKER_URL".to_owned(), "redis".to_owned(), true),
            (
                "DATABASE_* (DATABASE_HOST, DATABASE_DIALECT, DATABASE_USER, DATABASE_NAME)"
                    .to_owned(),
                "mysql".to_owned(),
                true
            ),
            (
                "DB_* (DB_HOSTNAME, DB_ENGINE, DB_PORT, DB_USERNAME, DB_NAME)".to_owned(),
                "postgres".to_owned(),
                true
            ),
        ]
    );
    // Laravel's DB_CONNECTION on MariaDB, and Celery's pyamqp transport on RabbitMQ.
    let out = startup(
        dir.path(),
        &[
            ("DB_CONNECTION", "mysql"),
            ("DB_HOST", "127.0.0.1"),
            ("DB_PORT", "3306"),
            ("DB_USER", "root"),
            ("DB_DATABASE", "test"),
            ("CELERY_BROKER_URL", "pyamqp://guest:guest@127.0.0.1:5672//"),
        ],
    );
    let report = out.report();
    let db = check(&report, "startup.database_connections");
    assert_eq!(db["status"], "passed", "{db:#}");
    let kinds: Vec<String> = connections(db).into_iter().map(|c| c.1).collect();
    assert!(
        kinds.contains(&"amqp".to_owned()) && kinds.contains(&"mysql".to_owned()),
        "{db:#}"
    );

    // Broken: nothing listens on the group's port, and the broker's port is PostgreSQL's.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let out = startup(
        dir.path(),
        &[
            ("DB_ENGINE", "postgresql"),
            ("DB_HOST", "127.0.0.1"),
            ("DB_PORT", &closed),
            ("DB_USER", "postgres"),
            ("DB_PASSWORD", "group-secret-77aa"),
            ("DB_NAME", "test"),
            ("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5432//"),
        ],
    );
    let report = out.report();
    assert_eq!(out.code, 1);
    let db = check(&report, "startup.database_connections");
    assert_eq!(db["status"], "failed", "{db:#}");
    let message = db["message"].as_str().unwrap();
    assert!(
        message.starts_with("2 of 2 connection(s) failed"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "DB_* (DB_HOST, DB_ENGINE, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME) (postgres://postgres:***@127.0.0.1:{closed}/test): "
        )) && message.contains("connection refused"),
        "{message}"
    );
    assert!(
        message.contains("CELERY_BROKER_URL (amqp://")
            && message.contains("@127.0.0.1:5432/")
            && message.contains("did not speak"),
        "{message}"
    );
    assert!(!out.stdout.contains("group-secret-77aa"));
}

/// A certificate authority made by the test, and HTTPS servers using its certificates.
mod tls_server {
    use std::sync::Arc;

    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub(super) struct Ca {
        pub(super) pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    pub(super) fn ca() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "devops-agent test CA");
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `localhost` valid from yesterday for `days` days (negative: expired).
    pub(super) fn leaf(ca: &Ca, days: i64) -> (Vec<CertificateDer<'static>>, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        if days < 0 {
            params.not_before = now - time::Duration::days(30);
        } else {
            params.not_before = now - time::Duration::days(1);
        }
        params.not_after = now + time::Duration::days(days);
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        (vec![cert.der().clone()], key.serialize_der())
    }

    /// A self-signed certificate for `localhost`.
    pub(super) fn self_signed() -> (Vec<CertificateDer<'static>>, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (vec![cert.der().clone()], key.serialize_der())
    }

    /// Serve HTTPS 200 `ok` on 127.0.0.1 from a thread of its own; returns the port.
    pub(super) fn serve(chain: Vec<CertificateDer<'static>>, key: Vec<u8>) -> u16 {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((tcp, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        if let Ok(mut s) = acceptor.accept(tcp).await {
                            let mut buf = [0u8; 2048];
                            let _ = s.read(&mut buf).await;
                            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
                            let _ = s.shutdown().await;
                        }
                    });
                }
            });
        });
        port
    }
}

fn external(entries: &[(&str, String)], ca_pem: Option<&str>) -> crate::common::Run {
    let mut toml = String::new();
    for (name, url) in entries {
        let _ = writeln!(toml, "[[external]]\nname = \"{name}\"\nurl = \"{url}\"");
        if ca_pem.is_some() {
            toml.push_str("ca_file = \"ca.pem\"\n");
        }
        toml.push('\n');
    }
    let dir = project(&[("devops-agent.toml", &toml)]);
    if let Some(pem) = ca_pem {
        std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
    }
    startup(dir.path(), &[])
}

#[test]
fn external_https_service_with_a_trusted_certificate_passes() {
    let ca = tls_server::ca();
    let (chain, key) = tls_server::leaf(&ca, 90);
    let port = tls_server::serve(chain, key);
    let out = external(
        &[("api", format!("https://localhost:{port}/health"))],
        Some(&ca.pem),
    );
    let report = out.report();
    let ext = check(&report, "startup.external_services");
    assert_eq!(ext["status"], "passed", "{ext:#}");
    let svc = &ext["evidence"]["services"][0];
    assert_eq!(svc["http"]["status"], 200);
    assert_eq!(svc["tls"]["verified"], true);
    assert!(svc["tls"]["days_left"].as_i64().unwrap() >= 89);
    assert!(
        svc["tls"]["issuer"]
            .as_str()
            .unwrap()
            .contains("devops-agent test CA")
    );
}

#[test]
fn expiring_expired_and_self_signed_certificates_are_caught() {
    let ca = tls_server::ca();
    let (chain, key) = tls_server::leaf(&ca, 7);
    let soon = tls_server::serve(chain, key);
    let out = external(
        &[("soon", format!("https://localhost:{soon}/"))],
        Some(&ca.pem),
    );
    let report = out.report();
    let ext = check(&report, "startup.external_services");
    assert_eq!(ext["status"], "warning", "{ext:#}");
    assert!(
        findings(ext)[0]["message"]
            .as_str()
            .unwrap()
            .contains("expires in 6 day(s)")
            || findings(ext)[0]["message"]
                .as_str()
                .unwrap()
                .contains("expires in 7 day(s)")
    );

    let (chain, key) = tls_server::leaf(&ca, -2);
    let expired = tls_server::serve(chain, key);
    // Untrusted: the test CA is not given.
    let other = tls_server::ca();
    let (chain, key) = tls_server::leaf(&other, 30);
    let untrusted = tls_server::serve(chain, key);
    let (chain, key) = tls_server::self_signed();
    let self_signed = tls_server::serve(chain, key);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = external(
        &[
            ("expired", format!("https://localhost:{expired}/")),
            ("untrusted", format!("https://localhost:{untrusted}/")),
            ("selfsigned", format!("https://localhost:{self_signed}/")),
            ("down", format!("127.0.0.1:{closed}")),
        ],
        Some(&ca.pem),
    );
    let report = out.report();
    assert_eq!(out.code, 1);
    let ext = check(&report, "startup.external_services");
    assert_eq!(ext["status"], "failed");
    let text: Vec<String> = findings(ext)
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect();
    let text = text.join("\n");
    assert!(
        text.contains("expired") && text.contains("certificate not valid"),
        "{text}"
    );
    assert!(text.contains("untrusted (https://localhost:"), "{text}");
    assert!(
        text.contains("selfsigned (https://localhost:") && text.contains("self-signed"),
        "{text}"
    );
    assert!(
        text.contains("down (127.0.0.1:") && text.contains("TCP connect failed"),
        "{text}"
    );
}

/// Serves plain HTTP on 127.0.0.1 from a thread: each request's path picks its canned response.
fn http_routes(routes: Vec<(String, String)>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let reply = routes.iter().find(|(p, _)| *p == path).map_or(
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                |(_, r)| r.as_str(),
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    port
}

fn redirect(status: &str, location: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

/// `curl -fsSL`'s verdict: it follows redirects, verifies every HTTPS hop, fails on >= 400.
fn curl_ok(url: &str, ca: &std::path::Path) -> bool {
    let curl = std::process::Command::new("curl")
        .args(["-fsSL", "--max-time", "10", "-o", "/dev/null", "--cacert"])
        .arg(ca)
        .arg(url)
        .stderr(std::process::Stdio::null())
        .status();
    match curl {
        Ok(status) => status.success(),
        Err(e) => panic!("this test needs curl (scripts/test.sh installs it): {e}"),
    }
}

#[test]
fn external_services_follow_redirects_as_curl_does() {
    let ca = tls_server::ca();
    let (chain, key) = tls_server::leaf(&ca, -2);
    let expired = tls_server::serve(chain, key);
    let (chain, key) = tls_server::leaf(&ca, 90);
    let good_tls = tls_server::serve(chain, key);
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_owned();
    let port = http_routes(vec![
        (
            "/to-expired".into(),
            redirect(
                "301 Moved Permanently",
                &format!("https://localhost:{expired}/"),
            ),
        ),
        ("/to-missing".into(), redirect("302 Found", "/missing")),
        (
            "/to-good-tls".into(),
            redirect(
                "308 Permanent Redirect",
                &format!("https://localhost:{good_tls}/health"),
            ),
        ),
        ("/chain".into(), redirect("302 Found", "step")),
        ("/step".into(), redirect("307 Temporary Redirect", "/ok")),
        ("/ok".into(), ok),
        ("/loop".into(), redirect("302 Found", "/loop")),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let cases = [
        ("toexpired", format!("http://localhost:{port}/to-expired")),
        ("tomissing", format!("http://localhost:{port}/to-missing")),
        ("togoodtls", format!("http://localhost:{port}/to-good-tls")),
        ("chain", format!("http://localhost:{port}/chain")),
        ("loop", format!("http://localhost:{port}/loop")),
    ];
    let out = external(
        &cases
            .iter()
            .map(|(n, u)| (*n, u.clone()))
            .collect::<Vec<_>>(),
        Some(&ca.pem),
    );
    let report = out.report();
    let ext = check(&report, "startup.external_services");
    let services = ext["evidence"]["services"].as_array().unwrap();
    let mut disagree = Vec::new();
    for ((name, url), svc) in cases.iter().zip(services) {
        let ours = svc["ok"] == true;
        let reference = curl_ok(url, &ca_file);
        if ours != reference {
            disagree.push(format!(
                "{name}: curl {reference}, devops-agent {ours}: {svc}"
            ));
        }
    }
    assert!(disagree.is_empty(), "{disagree:#?}\n{ext:#}");
    // The cases exercise both verdicts, and the hops are evidence.
    let verdicts: Vec<bool> = services.iter().map(|s| s["ok"] == true).collect();
    assert_eq!(verdicts, [false, false, true, true, false], "{ext:#}");
    let chain = &services[3]["http"];
    assert_eq!(chain["redirects"].as_array().unwrap().len(), 2, "{chain}");
    assert_eq!(chain["final_url"], format!("http://localhost:{port}/ok"));
    let text = findings(ext)
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("HTTP 404 at redirect target"), "{text}");
    assert!(text.contains("expired"), "{text}");
    assert!(text.contains("more than 10 redirects"), "{text}");
}

/// A plain HTTP server on 127.0.0.1 that answers every request `200 ok` after `delay`.
fn slow_http(delay: std::time::Duration) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                std::thread::sleep(delay);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    port
}

/// `[integration] request_timeout` is the external services' deadline (there is no fixed 10 s
/// one): a service answering after 2 s fails under `1s` and passes under `5s`, exactly as
/// `curl --max-time` with the same limit.
#[test]
fn request_timeout_sets_the_external_services_deadline_as_curl_max_time() {
    let port = slow_http(std::time::Duration::from_secs(2));
    let url = format!("http://127.0.0.1:{port}/slow");
    let mut table = Vec::new();
    for (limit, secs, expected) in [("1s", "1", false), ("5s", "5", true)] {
        let toml = format!(
            "[integration]\nrequest_timeout = \"{limit}\"\n\n[[external]]\nname = \"slow\"\nurl = \"{url}\"\n"
        );
        let dir = project(&[("devops-agent.toml", &toml)]);
        let started = std::time::Instant::now();
        let out = startup(dir.path(), &[]);
        let took = started.elapsed();
        let report = out.report();
        let ext = check(&report, "startup.external_services");
        let ours = ext["status"] == "passed";
        let curl = std::process::Command::new("curl")
            .args(["-fsS", "--max-time", secs, "-o", "/dev/null"])
            .arg(&url)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("this test needs curl (scripts/test.sh installs it): {e}"))
            .success();
        table.push(format!(
            "request_timeout {limit}: curl --max-time {secs} {curl}, devops-agent {ours} in {took:?}: {}",
            ext["message"]
        ));
        assert!(
            ours == curl && curl == expected,
            "{}\n{ext:#}",
            table.join("\n")
        );
        if !expected {
            assert_eq!(ext["status"], "failed", "{ext:#}");
            // The deadline that applied was the configured one, not a fixed 10 s.
            assert!(took < std::time::Duration::from_secs(8), "{took:?}");
        }
    }
}

/// A project with a backend `api` (its own directory, no build) that writes `api.started` when
/// it starts, and a build in `web` running `build` (a Node one-liner). With `needs_dist`, the
/// backend exits 1 at start unless `web/dist/index.html` exists (it reads the frontend's build,
/// the way a server rendering the built index does).
fn backend_beside_a_build(build: &str, needs_dist: bool) -> tempfile::TempDir {
    let check = if needs_dist {
        "if (!fs.existsSync(path.join(__dirname, '..', 'web', 'dist', 'index.html'))) process.exit(1);\n"
    } else {
        ""
    };
    let server = format!(
        "const fs = require('fs'); const path = require('path');\n{check}\
         fs.writeFileSync(path.join(__dirname, 'api.started'), String(Date.now()));\n\
         require('http').createServer((q, r) => {{ r.writeHead(q.url === '/health' ? 200 : 404); r.end('ok'); }})\
         .listen(Number(process.env.PORT));\n\
         process.on('SIGTERM', () => process.exit(0));\n"
    );
    let package = serde_json::json!({
        "name": "web", "version": "1.0.0", "private": true, "scripts": { "build": build }
    })
    .to_string();
    let dir = project(&[("api/server.js", &server), ("web/package.json", &package)]);
    let toml = format!(
        "[services.api]\ndir = \"api\"\ndev = \"node {api}/server.js\"\nprod = \"node {api}/server.js\"\nhealth = \"/health\"\n\n\
         [build]\ndir = \"web\"\n\n[startup]\nready_timeout = \"10s\"\nstability = \"300ms\"\nhealth_samples = 2\n\n[timeouts]\ngrace = \"500ms\"\n",
        api = dir.path().join("api").display()
    );
    std::fs::write(dir.path().join("devops-agent.toml"), toml).unwrap();
    dir
}

fn validate_build_and_startup(dir: &Path) -> crate::common::Run {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "validate",
        "EARLY-1",
        "--no-history",
        "--gates",
        "build,startup",
        "--project",
    ])
    .arg(dir);
    run(cmd)
}

/// A backend that needs no build output starts while the build runs; when the build fails,
/// the startup gate is still skipped as before and the backend is stopped (its start and stop
/// are in the event stream), leaving no process behind.
#[test]
fn a_failed_build_stops_the_backend_started_alongside_it() {
    let dir = backend_beside_a_build("node -e \"setTimeout(() => process.exit(2), 1500)\"", false);
    let out = validate_build_and_startup(dir.path());
    let report = out.report();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(check(&report, "build.dev_build")["status"], "failed");
    for id in ["startup.dev_mode", "startup.prod_mode", "startup.env_vars"] {
        let c = check(&report, id);
        assert_eq!(c["status"], "skipped", "{c:#}");
        assert_eq!(c["message"], "build failed: not starting", "{c:#}");
    }
    assert!(
        dir.path().join("api/api.started").exists(),
        "the backend did not start alongside the build"
    );
    let of = |name: &str| {
        out.events
            .iter()
            .filter(|e| e["event"] == name && e["purpose"] == "development api")
            .count()
    };
    assert_eq!((of("command_started"), of("command_finished")), (1, 1));
    assert_no_survivors(dir.path());
}

/// A backend that reads the frontend's build at start fails while the build still runs; it is
/// started again after the build and passes, and the evidence says why it started twice.
#[test]
fn a_backend_failing_before_the_build_ended_is_started_again_after_it() {
    let dir = backend_beside_a_build(
        "node -e \"setTimeout(() => { require('fs').mkdirSync('dist', { recursive: true }); require('fs').writeFileSync('dist/index.html', '<html></html>'); }, 1000)\"",
        true,
    );
    let out = validate_build_and_startup(dir.path());
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    let dev = check(&report, "startup.dev_mode");
    assert_eq!(dev["status"], "passed", "{dev:#}");
    let api = service(dev);
    assert_eq!(api["started_alongside_build"], false, "{dev:#}");
    let earlier = api["earlier_attempt"].as_str().unwrap_or_default();
    assert!(
        earlier.starts_with("started alongside the build, it failed before the build ended")
            && earlier.contains("exited with code 1"),
        "{dev:#}"
    );
    let prod = check(&report, "startup.prod_mode");
    assert_eq!(prod["status"], "passed", "{prod:#}");
    assert_eq!(service(prod)["earlier_attempt"], serde_json::Value::Null);
    let starts = out
        .events
        .iter()
        .filter(|e| e["event"] == "command_started" && e["purpose"] == "development api")
        .count();
    assert_eq!(starts, 2);
    assert_no_survivors(dir.path());
}

/// The backend that needs nothing from the build starts alongside it: before the build's
/// command finished, and its evidence says so.
#[test]
fn a_backend_needing_no_build_starts_alongside_it() {
    let dir = backend_beside_a_build("node -e \"setTimeout(() => {}, 1500)\"", false);
    let out = validate_build_and_startup(dir.path());
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    let dev = check(&report, "startup.dev_mode");
    assert_eq!(dev["status"], "passed", "{dev:#}");
    assert_eq!(service(dev)["started_alongside_build"], true, "{dev:#}");
    assert_eq!(service(dev)["earlier_attempt"], serde_json::Value::Null);
    let at = |event: &str, purpose: &str| {
        out.events
            .iter()
            .position(|e| e["event"] == event && e["purpose"] == purpose)
            .unwrap_or_else(|| panic!("no {event} for {purpose}"))
    };
    assert!(at("command_started", "development api") < at("command_finished", "build.dev_build"));
    // The production mode starts after the build, as before.
    assert_eq!(
        service(check(&report, "startup.prod_mode"))["started_alongside_build"],
        false
    );
    assert_no_survivors(dir.path());
}

/// A process whose only listening socket is its Node.js inspector has not started the app
/// (`nx serve` runs node with `--inspect`, and keeps watching after the app crashed): the
/// inspector answers any HTTP request with `400 WebSockets request was expected`, which must
/// not make the service ready. Development opens it on a fixed port by the command line,
/// production on a random one through `NODE_OPTIONS=--inspect=0` (found by the line node
/// prints). Both modes fail, naming the inspector as not probed.
#[test]
fn a_node_inspector_is_not_taken_for_the_app() {
    let server = fixture("startup/server.js");
    let dir = project(&[]);
    let inspect = crate::common::free_port();
    let toml = format!(
        "[services.app]\ndev = \"node --inspect=127.0.0.1:{inspect} {server} never {tag}\"\nprod = \"NODE_OPTIONS=--inspect=127.0.0.1:0 node {server} never {tag}\"\n\n[startup]\nready_timeout = \"3s\"\nhealth_samples = 3\n\n[timeouts]\ngrace = \"500ms\"\n",
        server = server.display(),
        tag = dir.path().display()
    );
    std::fs::write(dir.path().join("devops-agent.toml"), toml).unwrap();
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 1, "{}", out.stdout);
    for (id, how) in [
        (
            "startup.dev_mode",
            format!("{inspect} (listening socket 127.0.0.1:{inspect} of pid"),
        ),
        (
            "startup.prod_mode",
            "the debugger its output announced".to_owned(),
        ),
    ] {
        let mode = check(&report, id);
        assert_eq!(mode["status"], "failed", "{mode:#}");
        let message = mode["message"].as_str().unwrap();
        assert!(
            message.contains("not the app, so not probed") && message.contains(&how),
            "{id}: {message}"
        );
        assert!(service(mode)["listened_elsewhere"].is_null(), "{mode:#}");
    }
    assert!(
        check(&report, "startup.dev_mode")["message"]
            .as_str()
            .unwrap()
            .contains(&format!("opened with --inspect=127.0.0.1:{inspect}")),
        "{report:#}"
    );
    assert_ne!(status(&report, "startup.health_checks"), "passed");
    assert_no_survivors(dir.path());
}

/// A package with `start:prod` (the Nest convention: `start` runs the sources through a
/// development loader, `start:prod` runs the compiled output after `prestart:prod` compiles)
/// starts in production with `start:prod`. Started with `start`, production mode passed while
/// the project's own production start fails at its compile step (found on a Nest API whose
/// `tsc` failed: `prod_mode` passed by running `node index.js` with ts-node).
#[test]
fn prod_mode_runs_start_prod_not_the_development_start() {
    let dir = crate::common::copy_fixture("start-prod-broken");
    std::fs::write(
        dir.path().join("devops-agent.toml"),
        "[startup]\nready_timeout = \"10s\"\nstability = \"300ms\"\nhealth_samples = 3\n\n[timeouts]\ngrace = \"500ms\"\n",
    )
    .unwrap();
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let dev = check(&report, "startup.dev_mode");
    assert_eq!(dev["status"], "passed", "{dev:#}");
    assert_eq!(service(dev)["command"], "npm run start", "{dev:#}");
    let prod = check(&report, "startup.prod_mode");
    assert_eq!(prod["status"], "failed", "{prod:#}");
    assert_eq!(service(prod)["command"], "npm run start:prod", "{prod:#}");
    let message = prod["message"].as_str().unwrap();
    assert!(message.contains("TS2322"), "{message}");
    assert_no_survivors(dir.path());
}

/// An app with no health endpoint whose `/` answers 404 (a Nest API under a global `/api`
/// prefix, a Django app redirecting `/`) is ready by `/` standing in, and `health_checks` says
/// so with the status it saw: it said "answered 2xx on every sample" of 404s and 301s.
#[test]
fn health_checks_names_the_stand_in_and_its_status_not_2xx() {
    let dir = app("no-health", "");
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    let health = check(&report, "startup.health_checks");
    assert_eq!(health["status"], "passed", "{health:#}");
    let message = health["message"].as_str().unwrap();
    assert!(!message.contains("2xx on every sample"), "{message}");
    assert!(
        message.contains("2 of them with no health endpoint: / stood in")
            && message.contains("it answered 404"),
        "{message}"
    );
    assert_no_survivors(dir.path());
}

/// An app that prints its URL on the port it was offered and answers 500 there (a `SvelteKit`
/// page whose data load fails) is not ready, and the message does not say it printed no URL:
/// it said "printed no local URL" of Vite's `Local: http://localhost:PORT/` (found on
/// sveltejs/realworld, whose API was unreachable).
#[test]
fn not_ready_on_its_own_printed_url_does_not_say_it_printed_none() {
    let dir = app("error-page", "");
    let out = startup(dir.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let dev = check(&report, "startup.dev_mode");
    assert_eq!(dev["status"], "failed", "{dev:#}");
    let message = dev["message"].as_str().unwrap();
    assert!(message.contains("/ 500"), "{message}");
    assert!(!message.contains("printed no local URL"), "{message}");
    assert!(
        message.contains("opened no other port and printed no URL naming one"),
        "{message}"
    );
    assert_no_survivors(dir.path());
}

/// A monorepo's root `dev` that runs the workspaces' own dev scripts through `concurrently`
/// (by `-w` and by `npm:NAME`) is not a service: the workspaces are, each started once.
/// `concurrently` is not even installed here — starting the root would fail.
#[test]
fn a_root_concurrently_over_workspace_scripts_is_not_started_beside_them() {
    let server = "require('http').createServer((q, s) => { s.writeHead(q.url === '/health' ? 200 : 404); s.end('ok'); }).listen(Number(process.env.PORT));\n";
    let dir = project(&[
        (
            "package.json",
            r#"{"name":"mono","private":true,"workspaces":["apps/*"],"scripts":{"dev":"concurrently -n api,web \"npm run dev -w apps/api\" npm:dev:web","dev:web":"npm run dev --workspace=apps/web"}}"#,
        ),
        (
            "apps/api/package.json",
            r#"{"name":"api","private":true,"scripts":{"dev":"node server.js"}}"#,
        ),
        ("apps/api/server.js", server),
        (
            "apps/web/package.json",
            r#"{"name":"web","private":true,"scripts":{"dev":"node server.js"}}"#,
        ),
        ("apps/web/server.js", server),
    ]);
    let out = startup(dir.path(), &[("NODE_ENV", "")]);
    let report = out.report();
    let dev = check(&report, "startup.dev_mode");
    assert_eq!(dev["status"], "passed", "{dev:#}");
    let names: Vec<&str> = dev["evidence"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "web"], "{dev:#}");
}
