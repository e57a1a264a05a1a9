//! Shared helpers: running the binary, parsing and schema-validating its report, redacting
//! what changes from run to run.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use assert_cmd::Command;
use serde_json::Value;

/// The check ids of SPEC.md, in its order: the contract every report and `list` keep.
pub(crate) const SPEC_CHECK_IDS: &[&str] = &[
    "deps.packages_installed",
    "deps.lockfile_valid",
    "deps.no_version_conflicts",
    "deps.peer_dependencies",
    "build.dev_build",
    "build.prod_build",
    "build.no_blocking_warnings",
    "build.bundle_size",
    "build.assets_generated",
    "startup.dev_mode",
    "startup.prod_mode",
    "startup.env_vars",
    "startup.database_connections",
    "startup.external_services",
    "startup.health_checks",
    "integration.frontend_backend",
    "integration.api_proxy",
    "integration.cors",
    "integration.websocket",
    "integration.static_assets",
    "integration.cdn",
    "ports.env_configured",
    "ports.no_conflicts",
];

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
        cmd.env(var, free_port().to_string());
    }
}

/// The result of one run: exit code, parsed stdout report, raw stderr, and the event stream.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// The events the run wrote (through `DEVOPS_AGENT_EVENTS`); empty when the test named its
    /// own `--events` file.
    pub(crate) events: Vec<Value>,
    /// Where the run looked and what it was given, so [`Run::report`] can re-check the fixes
    /// the report suggests.
    context: Context,
}

/// The project, state directory and environment one run was given.
#[derive(Debug, Default)]
struct Context {
    project: Option<PathBuf>,
    state: Option<PathBuf>,
    envs: Vec<(String, String)>,
    /// Set once the report's suggestions were re-checked: a test may read its report twice.
    checked: std::cell::Cell<bool>,
}

impl Context {
    fn of(cmd: &Command) -> Self {
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let named = args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix("--project=")
                .map(PathBuf::from)
                .or_else(|| (a == "--project").then(|| args.get(i + 1).map(PathBuf::from))?)
        });
        let project = match (named, cmd.get_current_dir()) {
            (Some(p), Some(cwd)) if p.is_relative() => Some(cwd.join(p)),
            (Some(p), _) => Some(p),
            (None, cwd) => cwd.map(Path::to_path_buf),
        };
        let mut state = None;
        let mut envs = Vec::new();
        for (k, v) in cmd.get_envs() {
            let (Some(k), Some(v)) = (k.to_str(), v.and_then(|v| v.to_str())) else {
                continue;
            };
            if k == "DEVOPS_AGENT_STATE_DIR" {
                state = Some(PathBuf::from(v));
            } else {
                envs.push((k.to_owned(), v.to_owned()));
            }
        }
        Self {
            project,
            state,
            envs,
            checked: std::cell::Cell::new(false),
        }
    }
}

impl Run {
    /// Parse stdout as exactly one JSON document, validate it against the committed schema,
    /// check that the event stream tells the same story (see [`assert_events_agree`]), and
    /// re-check every fix a ports finding suggests (see [`crate::ports_fixes`]): applied to a
    /// copy of the project, it must parse in its file's grammar and clear its finding. The
    /// other gates' suggestions must parse in theirs (see [`crate::advice`]).
    pub(crate) fn report(&self) -> Value {
        let value = self.parsed();
        self.recheck_suggestions(&value);
        value
    }

    /// [`Run::report`] without re-checking the suggestions: for the re-check's own runs.
    pub(crate) fn parsed(&self) -> Value {
        let value: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout));
        assert_valid(&value);
        if !self.events.is_empty() {
            assert_events_agree(&value, &self.events);
        }
        value
    }

    fn recheck_suggestions(&self, report: &Value) {
        let context = &self.context;
        if context.checked.replace(true) {
            return;
        }
        crate::advice::check_advice(report);
        if crate::ports_fixes::suggestion_count(report) == 0 {
            return;
        }
        let (Some(project), Some(state)) = (&context.project, &context.state) else {
            panic!("the report suggests fixes, but the run named no project and state directory");
        };
        assert!(
            project.is_dir(),
            "the report suggests fixes for {}, which is gone: read the report before removing it",
            project.display()
        );
        let envs: Vec<(&str, &str)> = context
            .envs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        crate::ports_fixes::verify_suggestions(project, state, &envs, report);
    }
}

/// Run and capture, with the event stream written to a private file.
pub(crate) fn run(mut cmd: Command) -> Run {
    let context = Context::of(&cmd);
    let events = tempfile::NamedTempFile::new().expect("events file");
    cmd.env("DEVOPS_AGENT_EVENTS", events.path());
    let out = cmd.output().expect("run devops-agent");
    let events = std::fs::read_to_string(events.path())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("event line {l:?}: {e}")))
        .collect();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        events,
        context,
    }
}

/// One truth for every check result: each check of the report has exactly one
/// `check_completed` event with the same status, each gate's `gate_completed` has the gate's
/// status, the pipeline says the same, and `validation_complete` carries the report's verdict.
pub(crate) fn assert_events_agree(report: &Value, events: &[Value]) {
    let of = |name: &'static str| events.iter().filter(move |e| e["event"] == name);
    let gates = report["gates"].as_array().cloned().unwrap_or_default();
    for gate in &gates {
        for check in gate["checks"].as_array().into_iter().flatten() {
            let seen: Vec<&Value> = of("check_completed")
                .filter(|e| e["check"] == check["id"])
                .collect();
            assert_eq!(
                seen.len(),
                1,
                "{}: expected one check_completed event, got {seen:#?}",
                check["id"]
            );
            assert_eq!(
                seen[0]["status"], check["status"],
                "{}: the event and the report disagree",
                check["id"]
            );
        }
        let completed: Vec<&Value> = of("gate_completed")
            .filter(|e| e["gate"] == gate["id"])
            .collect();
        assert_eq!(completed.len(), 1, "{}: gate_completed events", gate["id"]);
        assert_eq!(completed[0]["status"], gate["status"], "{}", gate["id"]);
        let word = match gate["status"].as_str() {
            Some("passed") => "passing",
            Some("failed") => "failing",
            Some(other) => other,
            None => "",
        };
        assert_eq!(
            report["deployment"]["deployment_pipeline"][gate["id"].as_str().unwrap_or("")],
            word,
            "{}: pipeline and gate status disagree",
            gate["id"]
        );
    }
    let reported: usize = gates
        .iter()
        .map(|g| g["checks"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        of("check_completed").count(),
        reported,
        "check_completed events for checks the report does not have"
    );
    if let Some(done) = of("validation_complete").next_back() {
        assert_eq!(
            done["deployment_ready"],
            report["sprint_validation"]["deployment_ready"]
        );
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

/// Fail with every violation when `report` does not match the published schema, and when a
/// check's evidence does not parse with its mirror in `contract.rs`.
pub(crate) fn assert_valid(report: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "report violates the schema: {errors:#?}");
    crate::contract::assert_evidence(report);
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
    settings.add_redaction(".gates[].started_ms", "[ms]");
    settings.add_redaction(".gates[].checks[].duration_ms", "[ms]");
    settings.add_redaction(".gates[].checks[].started_ms", "[ms]");
    settings.add_redaction(".commands[].started_ms", "[ms]");
    settings.add_redaction(".commands[].duration_ms", "[ms]");
    settings.add_redaction(
        ".gates[].checks[].evidence.listening_sockets_scanned",
        "[count]",
    );
    settings.set_prepend_module_to_snapshot(false);
    settings
}

/// Stop a test whose machine prerequisite is missing: it fails, naming what is missing. A test
/// that could not run must never pass as `ok` that ran nothing (scripts/test.sh installs every
/// tool the tests use; the machine's services run before the session and in CI).
pub(crate) fn skip(reason: &str) {
    panic!("this test cannot run here: {reason}");
}

/// Copy a fixture into a fresh temporary directory (builds and `validate` write into it),
/// leaving out build output and installed dependencies.
pub(crate) fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(name), dir.path());
    dir
}

/// Copy a fixture's files, leaving out build output and installed dependencies.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    copy_tree(from, to, &["target", "dist", "node_modules"]);
}

/// A `JUnit` document must pass Jenkins' `junit-10.xsd` (the strictest common reader), checked by
/// `xmllint --schema` (Debian's libxml2-utils, installed by scripts/test.sh).
pub(crate) fn assert_junit_valid(xml: &str) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), xml).expect("write JUnit");
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(fixture("schemas").join("junit-10.xsd"))
        .arg(file.path())
        .output();
    match out {
        Ok(out) => assert!(
            out.status.success(),
            "JUnit fails junit-10.xsd:\n{}\n{xml}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => skip(&format!("xmllint (libxml2-utils) is needed: {e}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Real trees: fixtures installed once by the real package manager, cached by content under
// `target/fixture-cache/`, and handed to each test as a private copy.

/// Hash a fixture's committed content (names and bytes, in order), leaving out the entries
/// named in `skip` (installed trees and build output a developer may have made there).
pub(crate) fn hash_tree(dir: &Path, skip: &[&str]) -> u64 {
    fn walk(dir: &Path, skip: &[&str], hasher: &mut DefaultHasher) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("fixture dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if skip.contains(&name.as_str()) {
                continue;
            }
            name.hash(hasher);
            if path.is_dir() {
                walk(&path, skip, hasher);
            } else {
                std::fs::read(&path).unwrap_or_default().hash(hasher);
            }
        }
    }
    let mut hasher = DefaultHasher::new();
    walk(dir, skip, &mut hasher);
    hasher.finish()
}

/// Copy a tree as it is (symlinks stay symlinks, so pnpm's store and workspace links survive),
/// leaving out the top-level or nested entries named in `skip`.
pub(crate) fn copy_tree(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if skip.contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        let kind = entry.file_type().unwrap();
        let target = to.join(&name);
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target, skip);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Run `cmd`; its output when it fails.
pub(crate) fn sh(cmd: &mut std::process::Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether `program --version` runs.
pub(crate) fn have(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs run one at a time across every test module: they share the registries' caches and
/// the two cores.
static INSTALLS: Mutex<()> = Mutex::new(());

/// A private copy of fixture `name` with its tree installed by `install` (run once, in the
/// cache entry, keyed by the fixture's content without `skip`), and the cache entry's path; or
/// None after [`skip`] when the install fails.
pub(crate) fn installed_fixture(
    name: &str,
    skip_entries: &[&str],
    install: impl FnOnce(&Path) -> Result<(), String>,
) -> Option<(tempfile::TempDir, PathBuf)> {
    let source = fixture(name);
    let cached = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/fixture-cache")
        .join(format!("{name}-{:016x}", hash_tree(&source, skip_entries)));
    {
        let _guard = INSTALLS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !cached.is_dir() {
            let partial = cached.with_extension("partial");
            let _ = std::fs::remove_dir_all(&partial);
            copy_tree(&source, &partial, skip_entries);
            if let Err(e) = install(&partial) {
                let _ = std::fs::remove_dir_all(&partial);
                skip(&e);
                return None;
            }
            std::fs::rename(&partial, &cached).expect("publish installed fixture");
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&cached, dir.path(), &[]);
    Some((dir, cached))
}

/// Replace the first `from` in a file with `to` (it must be there).
pub(crate) fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(from),
        "{} does not contain {from:?}",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    // A package really changed by an install also gets a new directory mtime. npm trusts its
    // hidden lockfile (node_modules/.package-lock.json) over package folders older than it,
    // so without this `npm ls` may not look at the edited file at all.
    if let Some(dir) = path.parent()
        && let Ok(handle) = std::fs::File::open(dir)
    {
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
        let _ = handle.set_modified(later);
    }
}

/// The status of check `id` in a report.
pub(crate) fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    check(report, id)["status"].as_str().unwrap_or("")
}

/// A loopback port nothing listens on right now, for a server a test starts itself: the matrix
/// servers' allocator, so that every server this binary starts draws from one counter (why not
/// `bind(0)`, and why 10000–19999, is said there).
pub(crate) use crate::matrix_servers::free_port;

/// A child process killed (and reaped) when the guard drops, also when a test panics.
pub(crate) struct ChildGuard(pub(crate) std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's nginx binary, wherever the package put it.
pub(crate) fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Wait (at most 10 s) until `port` on 127.0.0.1 accepts connections, or panic with the
/// process's exit status and, when `log` names one, its log.
pub(crate) fn wait_for_port(
    port: u16,
    child: &mut std::process::Child,
    what: &str,
    log: Option<&Path>,
) {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(10) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = log
                .map(|l| std::fs::read_to_string(l).unwrap_or_default())
                .unwrap_or_default();
            panic!("{what} exited with {status} before listening on {port}:\n{log}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("nothing listens on {port} after 10 s ({what})");
}
