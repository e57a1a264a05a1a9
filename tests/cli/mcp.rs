//! `devops-agent mcp` driven by a real MCP client: the official Python SDK (`mcp`, installed by
//! scripts/test.sh into `target/fixture-cache/tools/mcp`) over stdio, through
//! `tests/cli/mcp_client.py`. The client's observations come back as JSON; the reports it
//! received are compared with the CLI's for the same project, timings aside.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{assert_valid, check, copy_dir, devops_agent, fixture, free_port, run};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python with the SDK, or the test stops (it cannot run without it).
fn python() -> PathBuf {
    let python = repo().join("target/fixture-cache/tools/mcp/bin/python");
    let has_sdk = Command::new(&python)
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        crate::common::skip(
            "the Python MCP SDK is not installed in target/fixture-cache/tools/mcp (run \
             scripts/test.sh)",
        );
    }
    python
}

/// Run one scenario of the client against the server and parse what it observed.
fn client(scenario: &str, config: &Value) -> Value {
    let out = Command::new(python())
        .arg(repo().join("tests/cli/mcp_client.py"))
        .arg(scenario)
        .arg(config.to_string())
        .output()
        .expect("run the MCP client");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MCP client failed ({}):\n{stderr}",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client output is not JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn server() -> String {
    assert_cmd::cargo::cargo_bin("devops-agent")
        .display()
        .to_string()
}

/// Digits followed by " ms" (durations inside messages) as `N ms`.
fn without_millis(text: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            if c == ' ' && rest.starts_with("ms") {
                out.push('N');
            } else {
                out.push_str(&digits);
            }
            digits.clear();
        }
        out.push(c);
    }
    out.push_str(&digits);
    out
}

/// A report with what differs from run to run redacted: timestamps, durations (also inside
/// messages), latency samples and socket counts, and which loopback family answered first (a
/// server on localhost is probed on `127.0.0.1` and `::1` at once; either may win).
fn normalized(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let timing = k == "ms" || k.ends_with("_ms");
                    let time = k == "timestamp" || k.ends_with("_timestamp") || k.ends_with("_at");
                    let v = if timing && !v.is_null() {
                        json!("[ms]")
                    } else if time && !v.is_null() {
                        json!("[time]")
                    } else if k == "listening_sockets_scanned" {
                        json!("[count]")
                    } else {
                        normalized(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::String(s) if s == "::1" => json!("127.0.0.1"),
        Value::String(s) => Value::String(without_millis(&s.replace("[::1]", "127.0.0.1"))),
        other => other.clone(),
    }
}

/// Two reports equal but for timings; on a difference, the first differing path.
fn assert_same_report(mcp: &Value, cli: &Value) {
    fn diff(a: &Value, b: &Value, path: &str) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                keys.into_iter().find_map(|k| {
                    diff(
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        &format!("{path}.{k}"),
                    )
                })
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
                .iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (a, b))| diff(a, b, &format!("{path}[{i}]"))),
            _ if a == b => None,
            _ => Some(format!("{path}: MCP {a} vs CLI {b}")),
        }
    }
    let (a, b) = (normalized(mcp), normalized(cli));
    if let Some(d) = diff(&a, &b, "") {
        panic!("the MCP report differs from the CLI's at {d}");
    }
}

fn text(result: &Value) -> &str {
    result["text"].as_str().unwrap_or("")
}

/// initialize, list tools, `validate` the demo (progress, and the CLI's report), `ports` on a
/// project with hard-coded ports (not ready is a normal result), a configuration error (an
/// error result), projects outside the server's and the client's roots (refused), resources,
/// and the check catalogue.
#[test]
fn an_mcp_client_validates_the_demo_with_progress_and_gets_the_cli_report() {
    python();
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let work = root.join("work");
    let demo = work.join("demo");
    let broken = work.join("broken");
    let bad_config = work.join("bad-config");
    let other = root.join("other");
    copy_dir(&fixture("demo"), &demo);
    copy_dir(&fixture("hardcoded"), &broken);
    copy_dir(&fixture("broken-toml"), &bad_config);
    let allocate = work.join("allocate");
    copy_dir(&fixture("seed-compose"), &allocate);
    std::fs::create_dir_all(&other).unwrap();
    // A run in the fixture itself (the README's first command) leaves its history there.
    for dir in [&demo, &broken, &bad_config, &allocate] {
        let _ = std::fs::remove_dir_all(dir.join(".devops-agent"));
    }
    let outside = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let ports: Vec<(&str, String)> = ["FRONTEND_PORT", "BACKEND_PORT", "NGINX_PORT"]
        .into_iter()
        .map(|v| (v, free_port().to_string()))
        .collect();

    // The CLI's reports for the same projects, the same environment.
    let cli = |args: &[&str], project: &Path| {
        let mut cmd = devops_agent(state.path());
        cmd.args(args).arg("--project").arg(project);
        for (k, v) in &ports {
            cmd.env(k, v);
        }
        let out = run(cmd);
        (out.code, out.report())
    };
    let (code, cli_demo) = cli(&["validate", "DEMO-1", "--no-history"], &demo);
    assert_eq!(code, 0, "{cli_demo:#}");
    let (code, cli_ports) = cli(&["ports"], &broken);
    assert_eq!(code, 1, "{cli_ports:#}");

    let mut env = serde_json::Map::new();
    env.insert("DEVOPS_AGENT_STATE_DIR".into(), json!(state.path()));
    for (k, v) in &ports {
        env.insert((*k).into(), json!(v));
    }
    let demo_uri = format!("devops-agent://{}", demo.display());
    let seen = client(
        "session",
        &json!({
            "server": server(),
            "args": ["mcp", "--root", root],
            "env": env,
            "story": "DEMO-1",
            "demo": demo,
            "broken": broken,
            "config_error": bad_config,
            "outside": outside.path(),
            "outside_client": other,
            "client_roots": [work],
            "allocate": allocate,
            "read": {
                "latest": format!("{demo_uri}/report/latest"),
                "history": format!("{demo_uri}/history"),
            },
        }),
    );

    assert_eq!(seen["server_name"], "devops-agent");
    assert_eq!(
        seen["tools"],
        json!([
            "build",
            "deps",
            "explain_check",
            "integration",
            "list_checks",
            "ports",
            "ports_allocate",
            "startup",
            "validate"
        ])
    );
    for input in ["story_id", "project", "gates", "skip", "env", "timeout"] {
        assert!(
            seen["validate_inputs"]
                .as_array()
                .unwrap()
                .contains(&json!(input)),
            "validate takes {input}: {}",
            seen["validate_inputs"]
        );
    }

    // validate: a normal result carrying the CLI's report, and progress all along.
    let validate = &seen["validate"];
    assert_eq!(validate["is_error"], false, "{}", text(validate));
    assert!(
        text(validate).starts_with("DEMO-1: deployment ready"),
        "{}",
        text(validate)
    );
    assert_valid(&validate["structured"]);
    assert_same_report(&validate["structured"], &cli_demo);
    let progress = seen["validate_progress"].as_array().unwrap();
    let values: Vec<f64> = progress
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[1] > w[0]),
        "progress must rise with every notification: {values:?}"
    );
    assert_eq!(progress[0]["total"], 23.0);
    assert!((values.last().unwrap() - 23.0).abs() < 1.0, "{values:?}");
    let messages: Vec<&str> = progress
        .iter()
        .map(|p| p["message"].as_str().unwrap_or(""))
        .collect();
    for gate in ["ports", "deps", "build", "startup", "integration"] {
        assert!(
            messages.contains(&format!("gate {gate} started").as_str()),
            "{messages:#?}"
        );
    }
    for c in cli_demo["gates"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["checks"].as_array().unwrap())
    {
        let line = format!(
            "{}: {}",
            c["id"].as_str().unwrap(),
            c["status"].as_str().unwrap()
        );
        assert!(
            messages.iter().any(|m| m.starts_with(&line)),
            "no progress for {line}: {messages:#?}"
        );
    }
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("build.dev_build: $ ")),
        "{messages:#?}"
    );

    // ports on a project with hard-coded ports: not ready, which is an answer, not an error.
    let ports_broken = &seen["ports_broken"];
    assert_eq!(ports_broken["is_error"], false, "{}", text(ports_broken));
    assert_eq!(
        check(&ports_broken["structured"], "ports.env_configured")["status"],
        "failed"
    );
    assert!(
        text(ports_broken).contains("exit code 1"),
        "{}",
        text(ports_broken)
    );
    assert_same_report(&ports_broken["structured"], &cli_ports);

    // A broken devops-agent.toml: nothing could be evaluated, an error result with the report.
    let config_error = &seen["config_error"];
    assert_eq!(config_error["is_error"], true, "{config_error:#}");
    assert!(
        text(config_error).starts_with("usage or configuration error"),
        "{}",
        text(config_error)
    );
    assert!(
        config_error["structured"]["errors"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("bad-config/devops-agent.toml")
    );

    // Outside the roots: refused before anything runs.
    let outside = &seen["outside_server_roots"];
    assert_eq!(outside["is_error"], true);
    assert!(
        text(outside).contains("outside the server's roots"),
        "{}",
        text(outside)
    );
    assert!(outside["structured"].is_null());
    let outside_client = &seen["outside_client_roots"];
    assert_eq!(outside_client["is_error"], true);
    assert!(
        text(outside_client).contains("outside the client's roots"),
        "{}",
        text(outside_client)
    );
    assert!(!other.join(".devops-agent").exists());

    // Resources: the latest report is the one returned; the history has the run.
    let resources = seen["resources"].as_array().unwrap();
    for suffix in ["/report/latest", "/history"] {
        assert!(
            resources.contains(&json!(format!("{demo_uri}{suffix}"))),
            "{resources:#?}"
        );
    }
    assert_eq!(seen["latest"], validate["structured"]);
    let history = seen["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{history:#?}");
    assert_eq!(history[0]["story"], "DEMO-1");
    assert_eq!(history[0]["result"], "passed");

    // ports_allocate: the ports written to the project's .env, then checked.
    let allocated = &seen["ports_allocate"];
    assert_eq!(allocated["is_error"], false, "{allocated:#}");
    assert_eq!(allocated["structured"]["meta"]["command"], "ports allocate");
    let env_file = std::fs::read_to_string(allocate.join(".env")).unwrap();
    assert!(env_file.contains("_PORT="), "{env_file}");

    // The catalogue: what `list` and `explain` print.
    let list = |args: &[&str]| -> Value {
        let out = devops_agent(state.path())
            .args(args)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let checks = seen["list_checks"]["structured"]["checks"]
        .as_array()
        .unwrap();
    assert_eq!(checks.len(), 23);
    assert_eq!(seen["list_checks"]["structured"], list(&["list"]));
    assert_eq!(
        seen["explain_check"]["structured"],
        list(&["explain", "no_conflicts"])
    );
    assert!(
        text(&seen["explain_check"]).starts_with("ports.no_conflicts (ports gate)"),
        "{}",
        text(&seen["explain_check"])
    );
    assert_eq!(seen["explain_unknown"]["is_error"], true);
    assert!(text(&seen["explain_unknown"]).contains("no_such_check"));
}

/// Cancelling a `build` call mid-build (a build that never ends, with a helper that ignores
/// SIGTERM and another that left the process group) stops every process the run started, as
/// Ctrl-C does; the project is free again and the server keeps serving.
#[test]
fn cancelling_a_build_over_mcp_stops_every_process_it_started() {
    python();
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("hang");
    copy_dir(&fixture("build-hang"), &project);
    let pids = root.path().join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mark = format!("mcp-cancel-{}", std::process::id());
    let seen = client(
        "cancel",
        &json!({
            "server": server(),
            "args": ["mcp", "--root", root.path()],
            "env": {
                "DEVOPS_AGENT_STATE_DIR": state.path(),
                "PID_DIR": pids,
                "LIFETIME_MARK": mark,
            },
            "project": project,
            "pid_dir": pids,
            "mark": mark,
        }),
    );
    let before: Vec<&str> = seen["before_cancel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    // The test proves something only if the build was really running.
    assert!(
        before.iter().any(|p| p.contains("hang.sh")) && before.len() >= 4,
        "{before:#?}"
    );
    assert!(seen["completed_before_cancel"].is_null(), "{seen:#}");
    let while_running = &seen["while_running"];
    assert_eq!(while_running["is_error"], true, "{while_running:#}");
    assert!(
        text(while_running).contains("already being validated"),
        "{while_running:#}"
    );
    let progress: Vec<&str> = seen["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap_or(""))
        .collect();
    assert!(
        progress
            .iter()
            .any(|m| m.starts_with("build.dev_build: still running after ")),
        "no heartbeat while the build ran silently: {progress:#?}"
    );
    assert_eq!(
        seen["after_cancel"],
        json!([]),
        "still running after the cancel: {seen:#}"
    );
    assert!(
        seen["stopped_within_s"].as_f64().unwrap() < 20.0,
        "{}",
        seen["stopped_within_s"]
    );
    assert_eq!(seen["ports_after"]["is_error"], false, "{seen:#}");
    for name in ["stubborn.pid", "detached.pid"] {
        let pid = std::fs::read_to_string(pids.join(name)).unwrap();
        let pid = pid.trim();
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        });
        assert!(!alive, "{name} ({pid}) survived the cancel");
    }
}

/// The client goes away mid-build without cancelling (stdin closed): the server interrupts the
/// run, waits for it to stop everything, and exits.
#[test]
fn a_client_that_disconnects_mid_build_leaves_no_process_behind() {
    python();
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("hang");
    copy_dir(&fixture("build-hang"), &project);
    let pids = root.path().join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mark = format!("mcp-shutdown-{}", std::process::id());
    let seen = client(
        "shutdown",
        &json!({
            "server": server(),
            "args": ["mcp", "--root", root.path()],
            "env": {
                "DEVOPS_AGENT_STATE_DIR": state.path(),
                "PID_DIR": pids,
                "LIFETIME_MARK": mark,
            },
            "project": project,
            "pid_dir": pids,
            "mark": mark,
        }),
    );
    assert_eq!(seen["initialized"], "devops-agent");
    assert!(
        seen["before_close"].as_array().unwrap().len() >= 4,
        "{seen:#}"
    );
    assert_eq!(seen["exit_code"], 0, "{seen:#}");
    assert_eq!(seen["after_exit"], json!([]), "{seen:#}");
}
