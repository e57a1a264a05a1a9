//! What ships around the binary: the workflows and the composite action pass actionlint (with
//! shellcheck on their scripts), the action's metadata is complete, its install step downloads
//! and verifies a release archive from a real HTTP server, and the release notes are cut from
//! CHANGELOG.md as the release workflow cuts them.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::skip;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from the venv scripts/test.sh installs (actionlint, shellcheck), or None after
/// `skip`.
fn venv_tool(name: &str) -> Option<PathBuf> {
    let path = repo().join("target/fixture-cache/tools/py/bin").join(name);
    if path.is_file() {
        Some(path)
    } else {
        skip(&format!(
            "{} is not installed (scripts/test.sh installs it)",
            path.display()
        ));
        None
    }
}

/// actionlint with shellcheck for the `run:` scripts (actionlint silently skips the scripts
/// when it cannot find shellcheck, so it is named explicitly).
fn actionlint() -> Option<Command> {
    let actionlint = venv_tool("actionlint")?;
    let shellcheck = venv_tool("shellcheck")?;
    let mut cmd = Command::new(actionlint);
    cmd.arg("-oneline")
        .arg("-no-color")
        .arg("-shellcheck")
        .arg(shellcheck)
        .arg("-pyflakes=")
        .current_dir(repo());
    Some(cmd)
}

fn lint_stdin(mut cmd: Command, name: &str, text: &str) -> std::process::Output {
    let mut child = cmd
        .args(["-stdin-filename", name, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run actionlint");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn actionlint_is_clean_on_every_workflow() {
    let Some(mut cmd) = actionlint() else {
        return;
    };
    let mut files = yaml_files(".github/workflows");
    files.extend(yaml_files(".github/workflow-templates"));
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "ci.yml",
        "release.yml",
        "demo.yml",
        "deployment-readiness.yml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let out = cmd.args(&files).output().expect("run actionlint");
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The same invocation finds what it is here to find: an undefined input, a deprecated
    // action runtime and a ShellCheck warning in a `run:` script.
    let broken = "on:\n  workflow_call:\n    inputs:\n      a:\n        type: string\n\
                  jobs:\n  j:\n    runs-on: ubuntu-24.04\n    steps:\n\
                  \x20     - uses: actions/checkout@v3\n\
                  \x20     - run: echo ${{ inputs.b }}\n\
                  \x20     - run: cd $HOME/x && ls `pwd`\n";
    let out = lint_stdin(actionlint().unwrap(), "broken.yml", broken);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("property \"b\" is not defined"), "{text}");
    assert!(text.contains("actions/checkout@v3"), "{text}");
    assert!(text.contains("shellcheck reported issue"), "{text}");
}

/// The composite action, read as the runner reads it.
fn action() -> (String, Value) {
    let path = repo().join(".github/actions/validate/action.yml");
    let text = std::fs::read_to_string(&path).expect("the composite action");
    let value: Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    (text, value)
}

/// Every `inputs.NAME` the text uses inside `${{ … }}`.
fn inputs_used(text: &str) -> Vec<String> {
    let mut used = Vec::new();
    for expr in text.split("${{").skip(1) {
        let expr = expr.split("}}").next().unwrap_or("");
        for after in expr.split("inputs.").skip(1) {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            used.push(name);
        }
    }
    used
}

#[test]
fn the_composite_action_is_complete_and_its_steps_lint_clean() {
    let (text, action) = action();
    for key in ["name", "description"] {
        assert!(
            action[key].as_str().is_some_and(|s| !s.trim().is_empty()),
            "action.yml needs `{key}`"
        );
    }
    assert_eq!(action["runs"]["using"], "composite");
    let inputs = action["inputs"].as_object().expect("inputs");
    for (name, input) in inputs {
        assert!(
            input["description"].is_string(),
            "input {name}: description"
        );
        assert!(
            input["required"] == true || input.get("default").is_some(),
            "input {name}: optional inputs need a default"
        );
    }
    for name in inputs_used(&text) {
        assert!(
            inputs.contains_key(&name),
            "`inputs.{name}` is not declared"
        );
    }
    // The defaults install a release, so the action works in an application's repository
    // (a path default such as `.` named the application, not devops-agent).
    assert_eq!(inputs["devops-agent-ref"]["default"], "");
    let version = inputs["version"]["default"].as_str().unwrap();
    let cargo_version = std::fs::read_to_string(repo().join("Cargo.toml"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_owned)
        })
        .unwrap();
    assert_eq!(
        version,
        format!("v{cargo_version}"),
        "the action pins the release of its own tree"
    );
    for (name, output) in action["outputs"].as_object().expect("outputs") {
        assert!(output["value"].is_string(), "output {name}: value");
        assert!(
            output["description"].is_string(),
            "output {name}: description"
        );
    }
    let steps = action["runs"]["steps"].as_array().expect("runs.steps");
    for step in steps {
        assert!(
            step.get("run").is_none() || step["shell"].is_string(),
            "a composite `run` step needs `shell`: {step}"
        );
        assert!(
            step.get("run").is_some() != step.get("uses").is_some(),
            "{step}"
        );
    }
    let install = repo().join(".github/actions/validate/install.sh");
    assert!(text.contains("$GITHUB_ACTION_PATH/install.sh"));
    let mode = std::os::unix::fs::PermissionsExt::mode(&install.metadata().unwrap().permissions());
    assert!(mode & 0o111 != 0, "install.sh is executable");

    // actionlint checks workflows, not action metadata: the action's steps are checked as the
    // steps of a reusable workflow whose inputs are the action's (expressions, contexts,
    // action versions, and ShellCheck on every script). JSON is YAML, so no emitter is needed.
    let Some(cmd) = actionlint() else {
        return;
    };
    let workflow_inputs: serde_json::Map<String, Value> = inputs
        .keys()
        .map(|name| (name.clone(), json!({ "type": "string", "required": false })))
        .collect();
    let workflow = json!({
        "name": "composite action steps",
        "on": { "workflow_call": { "inputs": workflow_inputs } },
        "jobs": { "action": { "runs-on": "ubuntu-24.04", "steps": steps } },
    });
    let out = lint_stdin(
        cmd,
        "action.yml",
        &serde_json::to_string_pretty(&workflow).unwrap(),
    );
    assert!(
        out.status.success(),
        "actionlint on the action's steps:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn scripts_pass_shellcheck() {
    let Some(shellcheck) = venv_tool("shellcheck") else {
        return;
    };
    let mut scripts = vec![
        repo().join(".ci/run"),
        repo().join(".github/actions/validate/install.sh"),
    ];
    scripts.extend(
        std::fs::read_dir(repo().join("scripts"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sh")),
    );
    let out = Command::new(shellcheck)
        .args(&scripts)
        .output()
        .expect("run shellcheck");
    assert!(
        out.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn changelog_section(changelog: Option<&Path>, version: &str) -> std::process::Output {
    let mut cmd = Command::new(repo().join("scripts/changelog-section.sh"));
    cmd.arg(version);
    if let Some(path) = changelog {
        cmd.env("CHANGELOG", path);
    }
    cmd.output().expect("run scripts/changelog-section.sh")
}

#[test]
fn release_notes_are_the_changelog_section_of_the_tag() {
    let text = std::fs::read_to_string(repo().join("CHANGELOG.md")).expect("CHANGELOG.md");
    assert!(
        text.starts_with("# Changelog\n"),
        "Keep a Changelog heading"
    );
    assert!(text.contains("## [Unreleased]"));
    let out = changelog_section(None, "Unreleased");
    let notes = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{notes}");
    assert!(notes.contains("### Added"), "{notes}");
    assert!(
        !notes.contains("## [Unreleased]"),
        "the heading is not in the notes"
    );

    let dir = tempfile::tempdir().unwrap();
    let changelog = dir.path().join("CHANGELOG.md");
    std::fs::write(
        &changelog,
        "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- next\n\n\
         ## [1.2.0] - 2026-11-30\n\n### Fixed\n\n- the `1.2.0` fix\n\n\
         ## [1.1.0] - 2026-10-01\n\n- old\n\n\
         [Unreleased]: https://example.com/compare/v1.2.0...HEAD\n\
         [1.2.0]: https://example.com/compare/v1.1.0...v1.2.0\n",
    )
    .unwrap();
    let out = changelog_section(Some(&changelog), "1.2.0");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "### Fixed\n\n- the `1.2.0` fix\n"
    );
    let out = changelog_section(Some(&changelog), "1.1.0");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "- old\n");
    for missing in ["1.3.0", "1.2", "2.0.0"] {
        let out = changelog_section(Some(&changelog), missing);
        assert_eq!(out.status.code(), Some(1), "{missing}");
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("no section for"));
    }
}

/// A static file server on loopback: `GET /path` answers the file at `root/path`, else 404.
fn serve(root: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split(' ').nth(1).unwrap_or("/");
            let file = root.join(path.trim_start_matches('/'));
            let mut stream = reader.into_inner();
            let _ = match std::fs::read(&file) {
                Ok(body) if !path.contains("..") => stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|()| stream.write_all(&body)),
                _ => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    port
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_owned()
}

/// One run of the action's install step against a release server at `port`.
struct Install {
    code: Option<i32>,
    log: String,
    path_file: String,
    bin_dir: PathBuf,
    cargo_args: Option<String>,
    _runner: tempfile::TempDir,
}

fn run_install(port: u16, version: &str, want_sha: &str) -> Install {
    let runner_dir = tempfile::tempdir().unwrap();
    let runner = runner_dir.path().to_path_buf();
    let github_path = runner.join("github_path");
    // `cargo` on PATH is a recorder: the fallback's build from source is asserted by the
    // command it runs, not by building the project again.
    let fake_bin = runner.join("fake-bin");
    std::fs::create_dir_all(&fake_bin).unwrap();
    let record = runner.join("cargo-args");
    let cargo = fake_bin.join("cargo");
    std::fs::write(
        &cargo,
        format!("#!/bin/sh\nprintf '%s ' \"$@\" > '{}'\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        fake_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(repo().join(".github/actions/validate/install.sh"))
        .env_clear()
        .env("PATH", path)
        .env("HOME", &runner)
        .env("GITHUB_SERVER_URL", format!("http://127.0.0.1:{port}"))
        .env("GITHUB_PATH", &github_path)
        .env("RUNNER_TEMP", &runner)
        .env("DEVOPS_AGENT_VERSION", version)
        .env("DEVOPS_AGENT_REPOSITORY", "owner/devops-agent")
        .env("DEVOPS_AGENT_SHA256", want_sha)
        .output()
        .expect("run install.sh");
    Install {
        code: out.status.code(),
        log: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        path_file: std::fs::read_to_string(&github_path).unwrap_or_default(),
        bin_dir: runner.join(format!("devops-agent-{version}")),
        cargo_args: std::fs::read_to_string(&record).ok(),
        _runner: runner_dir,
    }
}

#[test]
fn the_action_installs_the_release_binary_only_when_its_checksum_matches() {
    let target = match std::env::consts::ARCH {
        "x86_64" => "x86_64-unknown-linux-musl",
        "aarch64" => "aarch64-unknown-linux-musl",
        other => {
            skip(&format!("no release archive is built for {other}"));
            return;
        }
    };
    for tool in ["curl", "tar", "sha256sum"] {
        if Command::new(tool).arg("--version").output().is_err() {
            skip(&format!("{tool} is not installed"));
            return;
        }
    }
    // A release laid out as the release workflow publishes it, with this build's binary.
    let root = tempfile::tempdir().unwrap();
    let version = "v9.8.7";
    let name = format!("devops-agent-{version}-{target}");
    let release = root
        .path()
        .join("owner/devops-agent/releases/download")
        .join(version);
    std::fs::create_dir_all(release.join(&name)).unwrap();
    std::fs::copy(
        assert_cmd::cargo::cargo_bin("devops-agent"),
        release.join(&name).join("devops-agent"),
    )
    .unwrap();
    let archive = release.join(format!("{name}.tar.gz"));
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&release)
        .arg("-czf")
        .arg(&archive)
        .arg(&name)
        .status()
        .unwrap();
    assert!(tar.success());
    let digest = sha256(&archive);
    let sums = release.join("SHA256SUMS");
    std::fs::write(&sums, format!("{digest}  {name}.tar.gz\n")).unwrap();
    let port = serve(root.path().to_path_buf());

    let ok = run_install(port, version, "");
    assert_eq!(ok.code, Some(0), "{}", ok.log);
    assert_eq!(ok.path_file.trim(), ok.bin_dir.display().to_string());
    let installed = Command::new(ok.bin_dir.join("devops-agent"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&installed.stdout).starts_with("devops-agent "));
    assert_eq!(ok.cargo_args, None, "no build from source: {}", ok.log);
    // The pinned digest, when given, must be the archive's too.
    let pinned = run_install(port, version, &digest);
    assert_eq!(pinned.code, Some(0), "{}", pinned.log);
    let wrong_pin = run_install(port, version, &"0".repeat(64));
    assert_eq!(wrong_pin.code, Some(1), "{}", wrong_pin.log);
    assert!(
        wrong_pin.log.contains("the sha256 input says"),
        "{}",
        wrong_pin.log
    );

    // A tampered archive stops the job; it is never a reason to build from source instead.
    std::fs::write(&sums, format!("{}  {name}.tar.gz\n", "ab".repeat(32))).unwrap();
    let tampered = run_install(port, version, "");
    assert_eq!(tampered.code, Some(1), "{}", tampered.log);
    assert!(
        tampered.log.contains("not installing it"),
        "{}",
        tampered.log
    );
    assert!(!tampered.bin_dir.join("devops-agent").exists());
    assert_eq!(tampered.cargo_args, None);
    assert!(tampered.path_file.is_empty());

    // No release for the version: `cargo install --locked` of the tag, from the same server.
    let missing = run_install(port, "v0.0.0", "");
    assert_eq!(missing.code, Some(0), "{}", missing.log);
    assert_eq!(
        missing.cargo_args.as_deref().map(str::trim_end),
        Some(
            format!(
                "install --locked --git http://127.0.0.1:{port}/owner/devops-agent --tag v0.0.0 devops-agent"
            )
            .as_str()
        ),
        "{}",
        missing.log
    );
    assert!(
        missing
            .log
            .contains("building devops-agent v0.0.0 from source")
    );
}
