//! `devops-agent ports`: hard-coded ports with `file:line`, duplicates, and real listeners.

use std::net::TcpListener;

use crate::common::{check, devops_agent, findings, fixture, project, redactions, run};

fn ports(dir: &std::path::Path) -> crate::common::Run {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--project"]).arg(dir);
    run(cmd)
}

#[test]
fn demo_is_clean_and_exits_zero() {
    let out = ports(&fixture("demo"));
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(check(&report, "ports.env_configured")["status"], "passed");
    assert_eq!(check(&report, "ports.no_conflicts")["status"], "passed");
    assert_eq!(
        report["infrastructure"]["port_configuration"]["frontend"],
        "${FRONTEND_PORT:-5173}"
    );
    assert_eq!(
        report["sprint_validation"]["story_id"],
        serde_json::Value::Null
    );
}

#[test]
fn hard_coded_ports_are_named_with_file_line_and_fix() {
    let out = ports(&fixture("hardcoded"));
    let report = out.report();
    assert_eq!(out.code, 1);
    let env = check(&report, "ports.env_configured");
    assert_eq!(env["status"], "failed");
    let found: Vec<(String, u64, String)> = findings(env)
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap_or("").to_owned(),
                f["line"].as_u64().unwrap_or(0),
                f["suggestion"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let has = |file: &str, line: u64, suggestion: &str| {
        assert!(
            found
                .iter()
                .any(|(f, l, s)| f == file && *l == line && s == suggestion),
            "missing {file}:{line} {suggestion} in {found:#?}"
        );
    };
    // Short syntax, ip-prefixed, long syntax, udp, merge key (line of the anchor), range.
    has("docker-compose.yml", 10, "\"${API_PORT:-3000}:3000\"");
    has(
        "docker-compose.yml",
        11,
        "\"127.0.0.1:${API_9229_PORT:-9229}:9229\"",
    );
    has("docker-compose.yml", 15, "\"${WEB_PORT:-8080}:80\"");
    has("docker-compose.yml", 21, "\"${DNS_PORT:-5353}:53/udp\"");
    has("docker-compose.yml", 4, "\"${EXPORTER_PORT:-9100}:9100\"");
    has(
        "docker-compose.yml",
        28,
        "\"${BATCH_PORT:-7000-7002}:7000-7002\"",
    );
    // Kubernetes nodePort, package.json script, Dockerfile EXPOSE (a warning).
    has(
        "k8s/web.yaml",
        23,
        "nodePort: \"${WEB_PORT:-30080}\" (rendered with envsubst)",
    );
    has("web/package.json", 5, "--port ${PORT:-5173}");
    let expose = findings(env)
        .into_iter()
        .find(|f| f["file"] == "web/Dockerfile")
        .expect("Dockerfile finding");
    assert_eq!(expose["severity"], "warning");
    assert_eq!(expose["line"], 4);
    // Env-configured entries are not flagged: worker's ${WORKER_PORT:-7100} and the
    // containerPort inside the pod.
    assert!(!found.iter().any(|(_, l, _)| *l == 32));
    assert_eq!(env["evidence"]["from_env"], 2);
}

#[test]
fn hard_coded_report_snapshot() {
    let out = ports(&fixture("hardcoded"));
    let report = out.report();
    redactions().bind(|| insta::assert_json_snapshot!("ports_hardcoded", report));
}

#[test]
fn two_services_on_one_port_conflict() {
    let out = ports(&fixture("duplicate"));
    let report = out.report();
    assert_eq!(out.code, 1);
    let c = check(&report, "ports.no_conflicts");
    assert_eq!(c["status"], "failed");
    let message = findings(c)[0]["message"].as_str().unwrap();
    assert!(
        message.contains("host port 4000/tcp is published by both `api` (compose.yaml:6) and `worker` (compose.yaml:10)"),
        "{message}"
    );
}

#[test]
fn env_overrides_resolve_the_conflict() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--project"])
        .arg(fixture("duplicate"))
        .env("WORKER_PORT", "0")
        .env("API_PORT", "0");
    // Port 0 is not a valid published port: both fail to resolve, reported, not a panic.
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 1);
    let c = check(&report, "ports.no_conflicts");
    assert!(findings(c).iter().any(|f| {
        f["message"]
            .as_str()
            .unwrap()
            .contains("cannot resolve the host port of `api`")
    }));
}

#[test]
fn override_file_merges_into_its_base() {
    let dir = project(&[
        (
            "docker-compose.yml",
            "services:\n  api:\n    image: x\n    ports:\n      - \"${API_PORT:-4300}:4300\"\n",
        ),
        (
            "docker-compose.override.yml",
            "services:\n  debug:\n    image: x\n    ports:\n      - \"${DEBUG_PORT:-4300}:9229\"\n",
        ),
        (
            "docker-compose.prod.yml",
            "services:\n  api:\n    image: x\n    ports:\n      - \"${API_PORT:-4300}:4300\"\n",
        ),
    ]);
    let out = ports(dir.path());
    let report = out.report();
    let c = check(&report, "ports.no_conflicts");
    let messages: Vec<&str> = findings(c)
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        messages[0]
            .contains("`api` (docker-compose.yml:5) and `debug` (docker-compose.override.yml:5)")
    );
}

/// A foreign process listening on a configured port is named by pid, on IPv4.
#[test]
fn ipv4_listener_on_configured_port_is_named() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = project(&[(
        "compose.yaml",
        &format!(
            "services:\n  app:\n    image: x\n    ports:\n      - \"${{APP_PORT:-{port}}}:80\"\n"
        ),
    )]);
    let out = ports(dir.path());
    let report = out.report();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let c = check(&report, "ports.no_conflicts");
    assert_eq!(c["status"], "failed");
    let message = findings(c)[0]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(&format!(
            "port {port}/tcp of `app` is already in use on 127.0.0.1 by pid {}",
            std::process::id()
        )),
        "{message}"
    );
    assert_eq!(findings(c)[0]["line"], 5);
    drop(listener);
}

/// A listener bound to `::1` only is found too (a bind test on 0.0.0.0 would miss it).
#[test]
fn ipv6_loopback_only_listener_is_named() {
    let listener = match TcpListener::bind("[::1]:0") {
        Ok(l) => l,
        Err(e) => {
            crate::common::skip(&format!("no IPv6 loopback on this machine ({e})"));
            return;
        }
    };
    let port = listener.local_addr().unwrap().port();
    let dir = project(&[(
        "compose.yaml",
        &format!(
            "services:\n  app:\n    image: x\n    ports:\n      - \"${{APP_PORT:-{port}}}:80\"\n"
        ),
    )]);
    let out = ports(dir.path());
    let report = out.report();
    assert_eq!(out.code, 1);
    let message = findings(check(&report, "ports.no_conflicts"))[0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&format!("on [::1] by pid {}", std::process::id())),
        "{message}"
    );
}

/// The seed's compose example on this machine: `PostgreSQL` and `Redis` really listen on their
/// default ports, so the seed's defaults collide and the owners are named.
#[test]
fn seed_example_collides_with_running_databases() {
    if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
        crate::common::skip("PostgreSQL is not listening on 127.0.0.1:5432");
        return;
    }
    let out = ports(&fixture("seed-compose"));
    let report = out.report();
    assert_eq!(out.code, 1);
    assert_eq!(check(&report, "ports.env_configured")["status"], "passed");
    let c = check(&report, "ports.no_conflicts");
    let postgres = findings(c)
        .into_iter()
        .find(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .contains("port 5432/tcp of `postgres`")
        })
        .expect("postgres finding");
    assert!(
        postgres["message"].as_str().unwrap().contains("by pid "),
        "{postgres}"
    );
    assert_eq!(postgres["line"], 40);
}

#[test]
fn config_services_and_ignore_paths() {
    let dir = project(&[
        (
            "devops-agent.toml",
            "[ports]\nignore = [\"vendor-chart\"]\n\n[services.api]\nport = \"4400\"\n",
        ),
        (
            "vendor-chart/compose.yaml",
            "services:\n  x:\n    image: x\n    ports:\n      - \"4401:80\"\n",
        ),
    ]);
    let out = ports(dir.path());
    let report = out.report();
    let env = check(&report, "ports.env_configured");
    let f = findings(env);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["file"], "devops-agent.toml");
    assert_eq!(f[0]["line"], 5);
    assert_eq!(f[0]["suggestion"], "port = \"${API_PORT:-4400}\"");
}

#[test]
fn nothing_to_check_is_skipped_with_reason() {
    let dir = project(&[("README.md", "no services here\n")]);
    let out = ports(dir.path());
    let report = out.report();
    let env = check(&report, "ports.env_configured");
    assert_eq!(env["status"], "skipped");
    assert!(
        env["message"]
            .as_str()
            .unwrap()
            .starts_with("no published port found")
    );
    // Nothing ran that could prove readiness, but nothing blocks either.
    assert_eq!(out.code, 0);
}

#[test]
fn malformed_compose_is_an_error_naming_file_and_line() {
    let out = ports(&fixture("broken-compose"));
    let report = out.report();
    assert_eq!(out.code, 2);
    let env = check(&report, "ports.env_configured");
    assert_eq!(env["status"], "error");
    assert!(
        env["message"]
            .as_str()
            .unwrap()
            .contains("docker-compose.yml:6:4"),
        "{env}"
    );
    assert_eq!(check(&report, "ports.no_conflicts")["status"], "error");
    assert_eq!(report["sprint_validation"]["deployment_ready"], false);
}

#[test]
fn malformed_dotenv_is_an_error_and_never_shows_values() {
    let out = ports(&fixture("broken-env"));
    let report = out.report();
    assert_eq!(out.code, 2);
    let c = check(&report, "ports.no_conflicts");
    assert_eq!(c["status"], "error");
    assert!(c["message"].as_str().unwrap().contains(".env:2"), "{c}");
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("s3cr3t-value"), "secret leaked: {text}");
        assert!(!text.contains("4200"), "value leaked: {text}");
    }
}

#[test]
fn symlink_loops_and_huge_files_do_not_hang() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  a:\n    image: x\n    ports:\n      - \"${A_PORT:-4500}:80\"\n",
    )]);
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
    let big = "#".repeat(5 * 1024 * 1024);
    std::fs::write(dir.path().join("docker-compose.big.yml"), big).unwrap();
    let out = ports(dir.path());
    let report = out.report();
    let env = check(&report, "ports.env_configured");
    assert_eq!(env["status"], "error");
    assert!(
        env["message"]
            .as_str()
            .unwrap()
            .contains("docker-compose.big.yml")
    );
}

#[test]
fn port_variables_missing_from_env_example_warn() {
    let dir = project(&[
        (
            "compose.yaml",
            "services:\n  a:\n    image: x\n    ports:\n      - \"${A_PORT:-4700}:80\"\n      - \"${B_PORT:-4701}:81\"\n",
        ),
        (".env.example", "A_PORT=4700\n"),
    ]);
    let out = ports(dir.path());
    let report = out.report();
    assert_eq!(out.code, 0, "a warning does not block");
    let env = check(&report, "ports.env_configured");
    assert_eq!(env["status"], "warning");
    let f = findings(env);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["line"], 6);
    assert!(f[0]["message"].as_str().unwrap().contains("B_PORT"));
}
