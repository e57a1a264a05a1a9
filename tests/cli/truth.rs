//! One truth for every check result: what is skipped never runs, every gate reports every one
//! of its checks whatever happens inside it, events and report agree (checked for every report
//! by `common::Run::report`), and the exit code follows the typed outcome of the run.

use std::time::Instant;

use crate::common::{check, copy_fixture, devops_agent, project, run};

/// The check ids of a gate as the report lists them.
fn ids(report: &serde_json::Value, gate: &str) -> Vec<String> {
    report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == gate)
        .unwrap_or_else(|| panic!("no gate {gate} in {report:#}"))["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn skipped_builds_never_start() {
    // A build that takes 5 s and leaves a marker when it runs at all.
    let dir = project(&[(
        "package.json",
        r#"{"name":"slow","version":"1.0.0","private":true,"scripts":{"build":"touch started.marker && sleep 5"}}"#,
    )]);
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "validate",
        "S-1",
        "--no-history",
        "--gates",
        "build",
        "--skip",
        "dev_build,prod_build",
        "--project",
    ])
    .arg(dir.path());
    let started = Instant::now();
    let out = run(cmd);
    let report = out.report();
    assert!(
        !dir.path().join("started.marker").exists(),
        "a skipped build was started"
    );
    let build = &report["gates"][0];
    assert!(
        build["duration_ms"].as_u64().unwrap() < 100,
        "the build gate took {} ms with both builds skipped",
        build["duration_ms"]
    );
    assert!(started.elapsed().as_secs() < 5);
    for id in ["build.dev_build", "build.prod_build"] {
        assert_eq!(check(&report, id)["status"], "skipped");
        assert_eq!(check(&report, id)["message"], "skipped with --skip");
    }
    assert_eq!(
        check(&report, "build.no_blocking_warnings")["status"],
        "skipped"
    );
    assert_eq!(ids(&report, "build").len(), 5);
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn a_build_hanging_past_the_run_timeout_fails_with_exit_1() {
    let dir = copy_fixture("build-hang");
    std::fs::write(
        dir.path().join("devops-agent.toml"),
        "[timeouts]\ngrace = \"300ms\"\n",
    )
    .unwrap();
    let pids = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "validate",
        "S-9",
        "--no-history",
        "--gates",
        "build,startup",
        "--timeout",
        "3s",
        "--project",
    ])
    .arg(dir.path())
    .env("PID_DIR", pids.path());
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 1, "a hung build is a failure: {}", out.stdout);
    let dev = check(&report, "build.dev_build");
    assert_eq!(dev["status"], "failed", "{dev:#}");
    assert!(
        dev["message"]
            .as_str()
            .unwrap()
            .contains("did not finish within the run's --timeout 3s"),
        "{dev:#}"
    );
    // Checks never started before the deadline are skipped, and say so; nothing is absent.
    let prod = check(&report, "build.prod_build");
    assert_eq!(prod["status"], "skipped");
    assert!(
        prod["message"]
            .as_str()
            .unwrap()
            .contains("not reached before the deadline"),
        "{prod:#}"
    );
    assert_eq!(ids(&report, "build").len(), 5);
    assert_eq!(ids(&report, "startup").len(), 6);
    assert_eq!(report["sprint_validation"]["deployment_ready"], false);
}

#[test]
fn a_malformed_config_exits_2() {
    let dir = project(&[("devops-agent.toml", "[services.app\ndev = 1\n")]);
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["validate", "S-3", "--project"]).arg(dir.path());
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        report["errors"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("devops-agent.toml")
    );
}

#[test]
fn a_broken_check_in_any_gate_is_an_error_never_missing() {
    let dir = project(&[(
        "package.json",
        r#"{"name":"x","version":"1.0.0","private":true}"#,
    )]);
    for gate in ["ports", "deps", "build", "startup", "integration"] {
        let state = tempfile::tempdir().unwrap();
        let mut cmd = devops_agent(state.path());
        cmd.args([gate, "--project"])
            .arg(dir.path())
            .env("DEVOPS_AGENT_INJECT_FAULT", gate);
        let out = run(cmd);
        let report = out.report();
        let expected: Vec<&serde_json::Value> = report["gates"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        let catalogue = devops_agent_catalogue(gate);
        assert_eq!(
            ids(&report, gate),
            catalogue,
            "{gate}: every check reported"
        );
        for c in expected {
            assert_eq!(c["status"], "error", "{gate}: {c:#}");
            assert!(
                c["message"]
                    .as_str()
                    .unwrap()
                    .contains("the check stopped unexpectedly"),
                "{c:#}"
            );
        }
        assert_eq!(out.code, 2, "{gate}: nothing failed, nothing evaluated");
    }
}

/// The catalogue's check ids of a gate (SPEC.md), in order.
fn devops_agent_catalogue(gate: &str) -> Vec<String> {
    let all = crate::common::SPEC_CHECK_IDS;
    all.iter()
        .filter(|id| id.starts_with(&format!("{gate}.")))
        .map(|id| (*id).to_owned())
        .collect()
}
