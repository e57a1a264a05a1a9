//! Policy and presentation flags: `--fail-on`, the `auto` format, `--color`, and usage errors
//! at a terminal. Terminal behaviour is tested on a real pseudo-terminal (util-linux `script`).

use std::path::Path;
use std::process::Command;

use crate::common::{devops_agent, project, run, skip};

fn warning_only_project() -> tempfile::TempDir {
    // A Dockerfile EXPOSE is a ports.env_configured warning, and nothing fails.
    project(&[("Dockerfile", "FROM node:22\nEXPOSE 8080\n")])
}

#[test]
fn fail_on_warning_turns_a_warning_into_not_ready() {
    let dir = warning_only_project();
    let state = tempfile::tempdir().unwrap();

    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--project"]).arg(dir.path());
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(report["totals"]["warning"], 1);
    assert_eq!(report["sprint_validation"]["deployment_ready"], true);

    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--fail-on", "warning", "--project"])
        .arg(dir.path());
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(report["sprint_validation"]["deployment_ready"], false);
    let blocking = report["sprint_validation"]["blocking_issues"]
        .as_array()
        .unwrap();
    assert_eq!(blocking.len(), 1, "{blocking:?}");
    assert_eq!(blocking[0]["check"], "ports.env_configured");
    assert_eq!(blocking[0]["status"], "warning");
}

/// Run the binary on a pseudo-terminal; returns what the terminal showed (stdout and stderr
/// interleaved, as a person sees them).
fn on_a_terminal(args: &str, dir: &Path) -> String {
    let bin = assert_cmd::cargo::cargo_bin("devops-agent");
    let state = tempfile::tempdir().unwrap();
    let out = Command::new("script")
        .args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"])
        .current_dir(dir)
        .env("DEVOPS_AGENT_STATE_DIR", state.path())
        .env_remove("NO_COLOR")
        .output();
    match out {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => {
            skip(&format!(
                "util-linux `script` (a pseudo-terminal) is needed: {e}"
            ));
            unreachable!()
        }
    }
}

#[test]
fn auto_format_is_human_on_a_terminal_and_json_in_a_pipe() {
    let dir = warning_only_project();
    let shown = on_a_terminal("ports", dir.path());
    assert!(shown.contains("ports.env_configured"), "{shown}");
    assert!(!shown.trim_start().starts_with('{'), "{shown}");

    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--project"]).arg(dir.path());
    // report() fails unless stdout is one valid JSON report.
    run(cmd).report();

    // `--format json` on a terminal is still JSON.
    let shown = on_a_terminal("ports --format json -q", dir.path());
    let json: serde_json::Value = serde_json::from_str(shown.trim()).unwrap_or_else(|e| {
        panic!("--format json on a terminal is not JSON ({e}): {shown}");
    });
    assert_eq!(json["meta"]["command"], "ports");
}

#[test]
fn color_flag_decides_ansi_in_the_human_report() {
    let dir = warning_only_project();
    let state = tempfile::tempdir().unwrap();
    let human = |color: &str| {
        let mut cmd = devops_agent(state.path());
        cmd.args(["ports", "--format", "human", "--color", color, "--project"])
            .arg(dir.path());
        run(cmd).stdout
    };
    assert!(
        human("always").contains("\u{1b}["),
        "--color always into a pipe"
    );
    assert!(!human("never").contains("\u{1b}["));
    assert!(
        !human("auto").contains("\u{1b}["),
        "auto in a pipe has no colour"
    );
    let shown = on_a_terminal("ports --format human --color never", dir.path());
    assert!(!shown.contains("\u{1b}["), "{shown:?}");
}

#[test]
fn a_usage_error_at_a_terminal_shows_only_clap_message() {
    let dir = tempfile::tempdir().unwrap();
    let shown = on_a_terminal("ports --bogus-flag --color never", dir.path());
    assert!(shown.contains("--bogus-flag"), "{shown}");
    assert!(!shown.contains("\"sprint_validation\""), "{shown}");

    // Off a terminal a program still gets the JSON document.
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--bogus-flag"]);
    let out = run(cmd);
    assert_eq!(out.code, 2);
    let report = out.report();
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("--bogus-flag"), "{message}");
}

/// A compose file with one hard-coded port: `ports.env_configured` fails with one finding.
fn hard_coded_port(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files = vec![(
        "docker-compose.yml",
        "services:\n  web:\n    image: nginx\n    ports:\n      - \"8080:80\"\n",
    )];
    files.extend_from_slice(extra);
    project(&files)
}

fn ports_run(dir: &Path) -> (i32, serde_json::Value) {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--project"]).arg(dir);
    let out = run(cmd);
    let report = out.report();
    (out.code, report)
}

fn env_configured(report: &serde_json::Value) -> &serde_json::Value {
    crate::common::check(report, "ports.env_configured")
}

#[test]
fn an_accepted_finding_is_accepted_and_an_expired_acceptance_fails_again() {
    // Without a baseline the finding fails, and carries the fingerprint to accept it by.
    let (code, report) = ports_run(hard_coded_port(&[]).path());
    assert_eq!(code, 1);
    let check = env_configured(&report);
    assert_eq!(check["status"], "failed");
    let fingerprint = check["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fingerprint.len(), 16);

    // Accepted in devops-agent.toml: `accepted`, not blocking, the reason shown.
    let toml = format!(
        "[[accept]]\ncheck = \"ports.env_configured\"\nfingerprint = \"{fingerprint}\"\n\
         reason = \"the hosting provider pins this port\"\nexpires = 2099-12-31\n"
    );
    let dir = hard_coded_port(&[("devops-agent.toml", &toml)]);
    let (code, report) = ports_run(dir.path());
    assert_eq!(code, 0);
    let check = env_configured(&report);
    assert_eq!(check["status"], "accepted");
    assert_eq!(
        check["findings"][0]["accepted"]["reason"],
        "the hosting provider pins this port"
    );
    assert_eq!(check["findings"][0]["accepted"]["expired"], false);
    assert_eq!(report["totals"]["accepted"], 1);
    assert_eq!(report["sprint_validation"]["deployment_ready"], true);

    // An acceptance that expired (in .devops-agent/baseline.toml) fails again, and says so.
    let baseline = format!(
        "[[accept]]\ncheck = \"ports.env_configured\"\nfingerprint = \"{fingerprint}\"\n\
         reason = \"until the migration\"\nexpires = 2020-01-31\n"
    );
    let dir = hard_coded_port(&[(".devops-agent/baseline.toml", &baseline)]);
    let (code, report) = ports_run(dir.path());
    assert_eq!(code, 1);
    let check = env_configured(&report);
    assert_eq!(check["status"], "failed");
    assert_eq!(check["findings"][0]["accepted"]["expired"], true);
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("expired on 2020-01-31"),
        "{check}"
    );

    // A fingerprint of another problem accepts nothing.
    let other = toml.replace(&fingerprint, "0000000000000000");
    let dir = hard_coded_port(&[("devops-agent.toml", &other)]);
    let (code, report) = ports_run(dir.path());
    assert_eq!(code, 1);
    assert_eq!(env_configured(&report)["status"], "failed");
}

#[test]
fn a_baseline_entry_for_an_unknown_check_is_a_config_error_naming_the_file() {
    let dir = hard_coded_port(&[(
        ".devops-agent/baseline.toml",
        "[[accept]]\ncheck = \"ports.no_conflict\"\nfingerprint = \"x\"\nreason = \"r\"\n",
    )]);
    let (code, report) = ports_run(dir.path());
    assert_eq!(code, 2);
    let error = &report["errors"][0];
    assert!(
        error["file"]
            .as_str()
            .unwrap()
            .ends_with(".devops-agent/baseline.toml"),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("ports.no_conflict"),
        "{error}"
    );
}
