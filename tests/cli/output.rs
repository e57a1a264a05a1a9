//! The report contract: schema, `validate`, formats and the event stream.

use crate::common::{assert_valid, check, devops_agent, fixture, run};

#[test]
fn schema_command_matches_committed_schema() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.arg("schema");
    let out = run(cmd);
    assert_eq!(out.code, 0);
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json"),
    )
    .unwrap();
    assert!(
        out.stdout == committed,
        "schema/report.schema.json is stale: run `cargo run -- schema > schema/report.schema.json`"
    );
}

#[test]
fn validate_demo_gives_the_full_seed_shaped_report() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["validate", "STORY-1", "--project"])
        .arg(fixture("demo"));
    crate::common::demo_ports(&mut cmd);
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    for key in [
        "meta",
        "summary",
        "infrastructure",
        "deployment",
        "monitoring",
        "costs",
        "next_agent_needs",
        "sprint_validation",
        "gates",
    ] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    assert_eq!(report["meta"]["agent"], "devops_agent");
    assert_eq!(report["meta"]["command"], "validate");
    let sv = &report["sprint_validation"];
    assert_eq!(sv["story_id"], "STORY-1");
    assert_eq!(sv["validation_status"], "passed");
    assert_eq!(sv["deployment_ready"], true);
    assert_eq!(sv["blocking_issues"], serde_json::json!([]));
    assert_eq!(
        report["deployment"]["deployment_pipeline"]["ports"],
        "passing"
    );
    // Never an invented figure: response times come from the health samples the startup gate
    // took; nothing measured uptime or costs.
    assert!(report["monitoring"]["uptime"].is_null());
    assert!(
        report["monitoring"]["response_time"]["samples"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(report["monitoring"]["error_rate"], 0.0);
    assert!(report["costs"]["monthly_estimate"].is_null());
    assert_eq!(
        report["deployment"]["deployment_pipeline"]["startup"],
        "passing"
    );
    assert_eq!(
        report["infrastructure"]["port_configuration"]["backend"],
        "${BACKEND_PORT:-3000}"
    );
    assert_eq!(
        report["next_agent_needs"]["testing_agent"][0],
        "deployment_validation"
    );
}

#[test]
fn failing_validate_names_blocking_checks() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["validate", "STORY-9", "--project"])
        .arg(fixture("hardcoded"));
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 1);
    let sv = &report["sprint_validation"];
    assert_eq!(sv["validation_status"], "failed");
    assert_eq!(sv["blocking_issues"][0]["check"], "ports.env_configured");
    assert_eq!(
        report["deployment"]["deployment_pipeline"]["ports"],
        "failing"
    );
    assert_eq!(
        report["next_agent_needs"]["coder_agent"][0],
        "fix ports.env_configured"
    );
}

#[test]
fn jsonl_streams_events_and_ends_with_the_verdict() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["validate", "STORY-2", "--format", "jsonl", "--project"])
        .arg(fixture("hardcoded"));
    let out = run(cmd);
    assert_eq!(out.code, 1);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(names.first(), Some(&"deployment_validation"));
    assert_eq!(names.last(), Some(&"validation_complete"));
    let ports: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["gate"] == "ports")
        .map(|l| {
            (
                l["event"].as_str().unwrap(),
                l["check"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            ("gate_started", ""),
            ("check_completed", "ports.env_configured"),
            ("check_completed", "ports.no_conflicts"),
            ("gate_completed", ""),
        ]
    );
    for gate in ["ports", "deps", "build"] {
        assert!(
            lines
                .iter()
                .any(|l| l["event"] == "gate_completed" && l["gate"] == gate),
            "no gate_completed for {gate}"
        );
    }
    for line in &lines {
        assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    let last = lines.last().unwrap();
    assert_eq!(last["story"], "STORY-2");
    assert_eq!(last["result"], "failed");
    assert_eq!(last["deployment_ready"], false);
    assert_eq!(last["exit_code"], 1);
    let env = lines
        .iter()
        .find(|l| l["check"] == "ports.env_configured")
        .unwrap();
    assert_eq!(env["status"], "failed");
}

#[test]
fn events_file_and_extra_outputs_beside_json() {
    let state = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let events = out_dir.path().join("events.jsonl");
    let human = out_dir.path().join("report.txt");
    let copy = out_dir.path().join("report.json");
    let mut cmd = devops_agent(state.path());
    crate::common::demo_ports(&mut cmd);
    cmd.args(["validate", "STORY-3", "--project"])
        .arg(fixture("demo"))
        .arg("--events")
        .arg(&events)
        .arg("--output")
        .arg(format!("human={}", human.display()))
        .arg("--output")
        .arg(&copy);
    let out = run(cmd);
    let report = out.report();
    let text = std::fs::read_to_string(&events).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["event"], "deployment_validation");
    assert_eq!(first["status"], "validating");
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "validation_complete");
    assert_eq!(last["result"], "passed");
    let human = std::fs::read_to_string(&human).unwrap();
    assert!(human.contains("✅ ports.env_configured"), "{human}");
    assert!(human.contains("STORY-3: deployment ready"), "{human}");
    let copy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&copy).unwrap()).unwrap();
    assert_valid(&copy);
    assert_eq!(
        copy["sprint_validation"]["story_id"],
        report["sprint_validation"]["story_id"]
    );
}

#[test]
fn human_format_goes_to_stdout_and_names_findings() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--format", "human", "--project"])
        .arg(fixture("hardcoded"));
    let out = run(cmd);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains(
        "docker-compose.yml:10: service `api` publishes hard-coded host port 3000 → \"${API_PORT:-3000}:3000\""
    ), "{}", out.stdout);
}

#[test]
fn check_ids_are_the_stable_catalogue_ids() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--project"]).arg(fixture("demo"));
    let report = run(cmd).report();
    let ids: Vec<&str> = report["gates"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ports.env_configured", "ports.no_conflicts"]);
    assert_eq!(check(&report, "ports.no_conflicts")["required"], true);
}
