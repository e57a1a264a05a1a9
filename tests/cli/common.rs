//! Shared helpers: running the binary, parsing and schema-validating its report, redacting
//! what changes from run to run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;

/// The repository's fixtures directory.
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A command for the binary with a private port registry, so tests never touch the user's.
pub(crate) fn devops_agent(state_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("devops-agent").expect("binary built");
    cmd.env("DEVOPS_AGENT_STATE_DIR", state_dir)
        .env_remove("DEVOPS_AGENT_LOG")
        .timeout(std::time::Duration::from_secs(300));
    cmd
}

/// Give the demo's port variables free ports: a `validate` of the demo starts its servers, and
/// on their default ports they would collide with other tests checking those ports.
pub(crate) fn demo_ports(cmd: &mut Command) {
    for var in ["FRONTEND_PORT", "BACKEND_PORT", "NGINX_PORT"] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        cmd.env(var, port.to_string());
    }
}

/// The result of one run: exit code, parsed stdout report, raw stderr.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Parse stdout as exactly one JSON document and validate it against the committed schema.
    pub(crate) fn report(&self) -> Value {
        let value: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout));
        assert_valid(&value);
        value
    }
}

/// Run and capture.
pub(crate) fn run(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run devops-agent");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json"),
        )
        .expect("schema/report.schema.json");
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::validator_for(&schema).expect("schema compiles")
    })
}

/// Fail with every violation when `report` does not match the published schema.
pub(crate) fn assert_valid(report: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "report violates the schema: {errors:#?}");
}

/// The check with `id` from a report.
pub(crate) fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["checks"].as_array().into_iter().flatten())
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

/// The findings' messages of a check, joined for `contains` assertions.
pub(crate) fn findings(check: &Value) -> Vec<&Value> {
    check["findings"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// A temporary project directory with the given files.
pub(crate) fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write fixture file");
    }
    dir
}

/// insta settings redacting what differs between runs and machines: times, durations, paths,
/// and socket counts.
pub(crate) fn redactions() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_redaction(".meta.timestamp", "[timestamp]");
    settings.add_redaction(".meta.duration_ms", "[ms]");
    settings.add_redaction(".meta.project", "[project]");
    settings.add_redaction(".meta.tool_version", "[version]");
    settings.add_redaction(".sprint_validation.validation_timestamp", "[timestamp]");
    settings.add_redaction(".gates[].duration_ms", "[ms]");
    settings.add_redaction(".gates[].checks[].duration_ms", "[ms]");
    settings.add_redaction(
        ".gates[].checks[].evidence.listening_sockets_scanned",
        "[count]",
    );
    settings.set_prepend_module_to_snapshot(false);
    settings
}

/// Skip a test whose machine prerequisite is missing: a failure under `CI=true` (CI must have
/// it), elsewhere a printed reason.
pub(crate) fn skip(reason: &str) {
    use std::io::Write;
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "required in CI: {reason}"
    );
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
}

/// Copy a fixture into a fresh temporary directory (builds and `validate` write into it),
/// leaving out build output and installed dependencies.
pub(crate) fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(name), dir.path());
    dir
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == "dist" || name == "node_modules" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
