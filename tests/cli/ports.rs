//! `devops-agent ports`: hard-coded ports with `file:line`, duplicates, and real listeners.

use std::net::TcpListener;

use crate::common::{check, findings, fixture, free_port, project, redactions};
use crate::ports_fixes::checked_ports;

/// `devops-agent ports` with a private registry; every suggestion in the report is applied
/// and re-checked (see `ports_fixes`).
fn ports(dir: &std::path::Path) -> crate::common::Run {
    let state = tempfile::tempdir().unwrap();
    checked_ports(dir, state.path(), &[]).0
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
    // Long syntax: the fix rewrites `published:` on its own line.
    has("docker-compose.yml", 16, "published: \"${WEB_PORT:-8080}\"");
    has("docker-compose.yml", 21, "\"${DNS_PORT:-5353}:53/udp\"");
    has("docker-compose.yml", 4, "\"${EXPORTER_PORT:-9100}:9100\"");
    has(
        "docker-compose.yml",
        28,
        "\"${BATCH_PORT:-7000-7002}:7000-7002\"",
    );
    // Kubernetes nodePort, rendered by envsubst (an unquoted `${VAR}`, a name of its own, not
    // the compose `web`'s WEB_PORT), the package.json script line, Dockerfile EXPOSE (a
    // warning) from a build argument. The script and the Dockerfile are one service on 5173:
    // one variable, distinct from nginx's WEB_PORT.
    has("k8s/web.yaml", 23, "nodePort: ${WEB_NODE_PORT}");
    has(
        "web/package.json",
        5,
        "\"dev\": \"vite --port ${WEB_5173_PORT:-5173} --strictPort\"",
    );
    has(
        "web/Dockerfile",
        4,
        "ARG WEB_5173_PORT=5173\nEXPOSE ${WEB_5173_PORT}",
    );
    let expose = findings(env)
        .into_iter()
        .find(|f| f["file"] == "web/Dockerfile")
        .expect("Dockerfile finding");
    assert_eq!(expose["severity"], "warning");
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
    // Port 0 is not a valid published port: both fail to resolve, reported, not a panic.
    let (out, _) = checked_ports(
        &fixture("duplicate"),
        state.path(),
        &[("WORKER_PORT", "0"), ("API_PORT", "0")],
    );
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
    // The fix goes into .env.example (appended); the message says where the variable is used.
    assert_eq!(f[0]["file"], ".env.example");
    assert_eq!(f[0]["suggestion"], "B_PORT=4701");
    assert!(
        f[0]["message"]
            .as_str()
            .unwrap()
            .contains("B_PORT (service `a`, compose.yaml:6)"),
        "{}",
        f[0]["message"]
    );
}

fn messages(c: &serde_json::Value) -> Vec<String> {
    findings(c)
        .iter()
        .map(|f| f["message"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// `ARG PORT=3000` + `EXPOSE ${PORT}` (and `ENV`) is env-configured, as Docker substitutes it;
/// a fixed `EXPOSE 5000` is not counted as such; an `ARG` without a default is an error.
#[test]
fn dockerfile_arg_and_env_defaults_resolve_as_docker_does() {
    let dir = project(&[
        (
            "web/Dockerfile",
            "FROM node:20-alpine\nARG PORT=3000\nEXPOSE ${PORT}\n",
        ),
        (
            "api/Dockerfile",
            "ARG API_PORT=4000\nFROM node:20-alpine AS base\nARG API_PORT\nENV LISTEN_PORT=$API_PORT\nFROM base\nEXPOSE $LISTEN_PORT/tcp\n",
        ),
        ("legacy/Dockerfile", "FROM python:3.12\nEXPOSE 5000\n"),
    ]);
    let out = ports(dir.path());
    let report = out.report();
    let env = check(&report, "ports.env_configured");
    assert_eq!(env["status"], "warning", "{env:#}");
    assert_eq!(env["evidence"]["declarations"], 3);
    assert_eq!(env["evidence"]["from_env"], 2);
    assert_eq!(env["evidence"]["hard_coded"], 1);
    assert_eq!(
        env["message"],
        "2 of 3 port declarations come from environment variables with defaults; 1 warning(s) to look at"
    );
    let f = findings(env);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["file"], "legacy/Dockerfile");
    assert_eq!(
        f[0]["suggestion"],
        "ARG LEGACY_PORT=5000\nEXPOSE ${LEGACY_PORT}"
    );

    let dir = project(&[("Dockerfile", "FROM node\nARG PORT\nEXPOSE ${PORT} 9229\n")]);
    let out = ports(dir.path());
    let env = check(&out.report(), "ports.env_configured").clone();
    assert_eq!(env["status"], "failed");
    let f = findings(&env);
    assert!(
        f.iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .contains("from ${PORT} with no default")
            && f["suggestion"].is_null()),
        "no invented default: {f:#?}"
    );
    // The other word of the same instruction is fixed on its own, keeping `${PORT}`.
    assert!(
        f.iter().any(|f| f["suggestion"]
            .as_str()
            .is_some_and(|s| s.contains("\nEXPOSE ${PORT} ${"))),
        "{f:#?}"
    );
}

/// Kubernetes values are fixed for GNU envsubst: an unquoted `${VAR}` passes, a quoted one is
/// an error (a string where Kubernetes wants an integer), and names never reuse a compose one.
#[test]
fn kubernetes_values_are_what_envsubst_renders() {
    let manifest = |node_port: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: result\nspec:\n  type: NodePort\n  ports:\n    - port: 80\n      nodePort: {node_port}\n"
        )
    };
    let compose =
        "services:\n  result:\n    image: x\n    ports:\n      - \"${RESULT_PORT:-5001}:80\"\n";
    let good = project(&[
        ("k8s/result.yaml", &manifest("${RESULT_NODE_PORT}")),
        ("compose.yaml", compose),
    ]);
    let out = ports(good.path());
    let report = out.report();
    assert_eq!(
        check(&report, "ports.env_configured")["status"],
        "passed",
        "{report:#}"
    );

    let quoted = project(&[
        (
            "k8s/result.yaml",
            &manifest("\"${RESULT_NODE_PORT:-31001}\""),
        ),
        ("compose.yaml", compose),
    ]);
    let out = ports(quoted.path());
    let env = check(&out.report(), "ports.env_configured").clone();
    assert_eq!(env["status"], "failed");
    let f = findings(&env);
    assert_eq!(f[0]["line"], 9);
    assert!(f[0]["message"].as_str().unwrap().contains("quoted string"));
    assert_eq!(f[0]["suggestion"], "nodePort: ${RESULT_NODE_PORT}");

    let fixed = project(&[
        ("k8s/result.yaml", &manifest("31001")),
        ("compose.yaml", compose),
    ]);
    let out = ports(fixed.path());
    let env = check(&out.report(), "ports.env_configured").clone();
    assert_eq!(
        findings(&env)[0]["suggestion"],
        "nodePort: ${RESULT_NODE_PORT}"
    );
}

/// Scripts that only run tests start throwaway servers: listed, not judged, not published.
#[test]
fn test_scripts_are_informational() {
    let dir = project(&[(
        "package.json",
        "{\n  \"name\": \"web\",\n  \"scripts\": {\n    \"dev\": \"vite --port ${WEB_PORT:-5173}\",\n    \"test\": \"PORT=8081 jest\",\n    \"test:e2e\": \"playwright test --port 5173\",\n    \"cypress:run\": \"cypress run -p 9000\",\n    \"vitest\": \"vitest --port=51204\"\n  }\n}\n",
    )]);
    let out = ports(dir.path());
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    let env = check(&report, "ports.env_configured");
    assert_eq!(env["status"], "passed", "{env:#}");
    assert_eq!(env["evidence"]["declarations"], 1);
    let f = findings(env);
    assert_eq!(f.len(), 4, "{f:#?}");
    assert!(f.iter().all(|f| f["severity"] == "info"));
    assert_eq!(
        env["evidence"]["test_script_ports"],
        serde_json::json!([
            "package.json:5",
            "package.json:6",
            "package.json:7",
            "package.json:8"
        ])
    );
    // The e2e run's 5173 is not a second publisher of the dev server's port.
    let c = check(&report, "ports.no_conflicts");
    assert_eq!(c["status"], "passed", "{c:#}");
}

/// A script pinning many ports is one finding with one fix, and fast.
#[test]
fn many_port_flags_in_one_script_are_one_finding() {
    let flags: Vec<String> = (0..5000).map(|i| format!("--port {}", 20000 + i)).collect();
    let pkg = format!(
        "{{\n  \"name\": \"x\",\n  \"scripts\": {{\n    \"dev\": \"serve {}\"\n  }}\n}}\n",
        flags.join(" ")
    );
    let dir = project(&[("package.json", &pkg)]);
    let out = ports(dir.path());
    let report = out.report();
    let env = check(&report, "ports.env_configured");
    assert_eq!(env["evidence"]["declarations"], 5000);
    let f = findings(env);
    assert_eq!(f.len(), 1);
    assert!(
        f[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("`dev` script pins 5000 ports: 20000, 20001"),
        "{}",
        f[0]["message"]
    );
}

/// An unresolvable `${API_PORT:?msg}` is reported as what it is; the message and the counts
/// agree with the findings.
#[test]
fn unresolvable_required_port_message_matches_its_finding() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  api:\n    image: x\n    ports:\n      - \"${API_PORT:?set API_PORT in .env}:3000\"\n",
    )]);
    let out = ports(dir.path());
    let report = out.report();
    assert_eq!(out.code, 1);
    let c = check(&report, "ports.no_conflicts");
    assert_eq!(c["status"], "failed");
    assert_eq!(
        c["message"],
        "1 port problem(s): 1 host port(s) cannot be resolved"
    );
    let m = messages(c);
    assert_eq!(m.len(), 1);
    assert!(m[0].contains("required variable API_PORT is missing a value: set API_PORT in .env"));
}

/// Reservations whose project is gone, or whose `.env` no longer holds the port, are ignored
/// by the checks; a live one still warns (so the test can fail).
#[test]
fn ports_reserved_only_by_deleted_projects_pass() {
    let (a, b, c) = (free_port(), free_port(), free_port());
    let moved_on = project(&[(".env", "OTHER_PORT=1\n")]);
    let live = project(&[(".env", &format!("LIVE_PORT={c}\n"))]);
    let state = tempfile::tempdir().unwrap();
    let reservation = |port: u16, project: &str, variable: &str| {
        serde_json::json!({"port": port, "project": project, "variable": variable,
            "service": "x", "reserved_at": "2026-11-30T10:00:00Z"})
    };
    let registry = |entries: Vec<serde_json::Value>| {
        std::fs::write(
            state.path().join("ports.json"),
            serde_json::json!({"version": 1, "reservations": entries}).to_string(),
        )
        .unwrap();
    };
    let gone = vec![
        reservation(a, "/nonexistent/deleted-project", "FRONTEND_PORT"),
        reservation(b, &moved_on.path().to_string_lossy(), "OTHER_PORT"),
    ];
    registry(gone.clone());
    let compose = format!(
        "services:\n  frontend:\n    image: x\n    ports:\n      - \"${{FRONTEND_PORT:-{a}}}:5173\"\n  backend:\n    image: x\n    ports:\n      - \"${{BACKEND_PORT:-{b}}}:3000\"\n  worker:\n    image: x\n    ports:\n      - \"${{WORKER_PORT:-{c}}}:3001\"\n"
    );
    let dir = project(&[("compose.yaml", &compose)]);
    let (out, _) = checked_ports(dir.path(), state.path(), &[]);
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(check(&report, "ports.no_conflicts")["status"], "passed");

    let mut with_live = gone;
    with_live.push(reservation(c, &live.path().to_string_lossy(), "LIVE_PORT"));
    registry(with_live);
    let (out, verified) = checked_ports(dir.path(), state.path(), &[]);
    let report = out.report();
    let c_check = check(&report, "ports.no_conflicts");
    assert_eq!(c_check["status"], "warning", "{c_check:#}");
    assert_eq!(
        c_check["message"],
        "1 port(s) are reserved by other projects"
    );
    assert_eq!(findings(c_check).len(), 1);
    assert!(messages(c_check)[0].contains(&format!("port {c} of `worker`")));
    assert_eq!(verified, 1, "the move-away fix was applied and re-checked");
}

/// A duplicate's fix moves the later service to a free port, in the declaration when it comes
/// from the default, in `.env` when `.env` sets it.
#[test]
fn duplicate_fixes_move_to_a_free_port() {
    let port = free_port();
    let compose = format!(
        "services:\n  api:\n    image: x\n    ports:\n      - \"${{API_PORT:-{port}}}:4000\"\n  worker:\n    image: x\n    ports:\n      - \"${{WORKER_PORT:-{port}}}:4000\"\n"
    );
    let dir = project(&[("compose.yaml", &compose)]);
    let out = ports(dir.path());
    let c = check(&out.report(), "ports.no_conflicts").clone();
    let f = findings(&c);
    assert_eq!(f[0]["file"], "compose.yaml");
    assert_eq!(f[0]["line"], 9);
    let suggestion = f[0]["suggestion"].as_str().unwrap();
    assert!(suggestion.starts_with("\"${WORKER_PORT:-"), "{suggestion}");

    let dir = project(&[
        ("compose.yaml", &compose),
        (
            ".env",
            &format!("# ports\nAPI_PORT={port}\nWORKER_PORT={port}\n"),
        ),
    ]);
    let out = ports(dir.path());
    let c = check(&out.report(), "ports.no_conflicts").clone();
    let f = findings(&c);
    assert_eq!(f[0]["file"], ".env");
    assert_eq!(f[0]["line"], 3);
    assert!(
        f[0]["suggestion"]
            .as_str()
            .unwrap()
            .starts_with("WORKER_PORT="),
        "{f:#?}"
    );
}

/// Every suggestion of the fixtures and cases above is valid and clears its finding; this
/// one counts them, so a change that silently dropped suggestions would show.
#[test]
fn every_suggestion_is_parsed_applied_and_rechecked() {
    let state = tempfile::tempdir().unwrap();
    let mut total = 0;
    for name in ["hardcoded", "duplicate", "demo", "seed-compose"] {
        total += checked_ports(&fixture(name), state.path(), &[]).1;
    }
    assert!(total >= 11, "only {total} suggestions verified");
}
