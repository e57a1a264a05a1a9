//! Usage and configuration errors: exit 2, and still one valid JSON document on stdout.

use crate::common::{devops_agent, fixture, project, run};

#[test]
fn malformed_toml_exits_2_with_file_line_column() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["validate", "STORY-1", "--project"])
        .arg(fixture("broken-toml"));
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 2);
    let error = &report["errors"][0];
    assert!(
        error["file"]
            .as_str()
            .unwrap()
            .ends_with("broken-toml/devops-agent.toml")
    );
    assert_eq!(error["line"], 5);
    assert_eq!(error["column"], 26);
    assert_eq!(report["sprint_validation"]["deployment_ready"], false);
    assert_eq!(
        report["sprint_validation"]["blocking_issues"][0]["check"],
        "config"
    );
    assert!(
        out.stderr.contains("devops-agent.toml:5:26"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_config_key_is_rejected() {
    let dir = project(&[("devops-agent.toml", "[ports]\nsearch_widht = 3\n")]);
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--project"]).arg(dir.path());
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 2);
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("search_widht")
    );
    assert_eq!(report["errors"][0]["line"], 2);
}

#[test]
fn missing_explicit_config_is_an_error() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "ports",
        "--config",
        "/nonexistent/devops-agent.toml",
        "--project",
    ])
    .arg(fixture("demo"));
    let out = run(cmd);
    assert_eq!(out.code, 2);
    out.report();
}

#[test]
fn bad_flag_exits_2_with_json_on_stdout() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--no-such-flag"]);
    let out = run(cmd);
    assert_eq!(out.code, 2);
    let report = out.report();
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag")
    );
    assert!(out.stderr.contains("--no-such-flag"));
}

#[test]
fn missing_project_dir_is_a_config_error() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--project", "/nonexistent/project"]);
    let out = run(cmd);
    assert_eq!(out.code, 2);
    assert!(
        out.report()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
}

#[test]
fn help_says_what_each_command_checks() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--help"]);
    let out = run(cmd);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("ports.env_configured"));
    assert!(out.stdout.contains("ports.no_conflicts"));
    let mut cmd = devops_agent(state.path());
    cmd.args(["completions", "bash"]);
    let out = run(cmd);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("devops-agent"));
}

/// The README's usage blocks are the real `--help` output: the top level, and `validate`,
/// `startup` and `integration`, whose flags (`--gates`, `--skip`, `--env`) and readiness rules
/// users look up there.
#[test]
fn readme_usage_matches_help() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let normalize =
        |text: &str| -> Vec<String> { text.lines().map(|l| l.trim_end().to_owned()).collect() };
    for (marker, args) in [
        ("help", &["--help"][..]),
        ("help-validate", &["validate", "--help"][..]),
        ("help-startup", &["startup", "--help"][..]),
        ("help-integration", &["integration", "--help"][..]),
    ] {
        let state = tempfile::tempdir().unwrap();
        let mut cmd = devops_agent(state.path());
        cmd.args(args);
        let out = run(cmd);
        assert_eq!(out.code, 0, "{args:?}");
        let open = format!("<!-- {marker}:start -->");
        let close = format!("<!-- {marker}:end -->");
        let start = readme
            .find(&open)
            .unwrap_or_else(|| panic!("{open} marker in README.md"))
            + open.len();
        let end = readme
            .find(&close)
            .unwrap_or_else(|| panic!("{close} marker in README.md"));
        let block = readme[start..end]
            .trim()
            .trim_start_matches("```text")
            .trim_end_matches("```")
            .trim();
        assert_eq!(
            normalize(block),
            normalize(out.stdout.trim()),
            "README usage block {marker} is stale: paste `devops-agent {}`",
            args.join(" ")
        );
    }
}
