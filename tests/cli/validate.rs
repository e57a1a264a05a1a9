//! `validate` as CI and agents use it: formats, gate selection, preconditions, history, init.

use crate::common::{
    assert_junit_valid, check, copy_fixture, devops_agent, fixture, project, redactions, run,
};

#[test]
fn junit_markdown_and_github_formats_from_one_run() {
    let dir = copy_fixture("build-fail");
    let out_dir = tempfile::tempdir().unwrap();
    let junit = out_dir.path().join("report.xml");
    let markdown = out_dir.path().join("summary.md");
    let summary = out_dir.path().join("step-summary.md");
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "validate",
        "STORY-5",
        "--no-history",
        "--format",
        "github",
        "--project",
    ])
    .arg(dir.path())
    .arg("--output")
    .arg(format!("junit={}", junit.display()))
    .arg("--output")
    .arg(format!("markdown={}", markdown.display()))
    .env("GITHUB_STEP_SUMMARY", &summary);
    let out = run(cmd);
    assert_eq!(out.code, 1);

    // GitHub annotations on stdout, located where the tool said.
    assert!(
        out.stdout
            .contains("::error file=src/main.ts,line=3,col=7,title=build.dev_build::TS2322"),
        "{}",
        out.stdout
    );

    // JUnit parses as XML: a testsuite per gate, a testcase per check.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_junit_valid(&xml);
    let doc = roxmltree::Document::parse(&xml).expect("JUnit is well-formed XML");
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<&str> = suites.iter().filter_map(|s| s.attribute("name")).collect();
    assert_eq!(names, ["ports", "deps", "build", "startup", "integration"]);
    let build = suites
        .iter()
        .find(|s| s.attribute("name") == Some("build"))
        .unwrap();
    assert_eq!(build.attribute("failures"), Some("2"));
    let dev = build
        .children()
        .find(|c| c.attribute("name") == Some("build.dev_build"))
        .unwrap();
    let failure = dev
        .children()
        .find(|c| c.has_tag_name("failure"))
        .expect("failure element");
    assert!(failure.text().unwrap_or("").contains("src/main.ts:3"));
    let startup = suites
        .iter()
        .find(|s| s.attribute("name") == Some("startup"))
        .unwrap();
    assert_eq!(
        startup.attribute("skipped"),
        Some("6"),
        "build failed: not starting"
    );

    // Markdown in the seed's style, and the same text appended to the step summary.
    let md = std::fs::read_to_string(&markdown).unwrap();
    assert!(md.starts_with("# Deployment readiness: STORY-5"));
    assert!(md.contains(
        "| Gate | Status | Checks | Duration (ms) |\n|:-----|:------:|-------:|--------------:|"
    ));
    assert!(md.contains("* ❌ `build.dev_build`"));
    assert!(md.contains("<details>"));
    assert_eq!(std::fs::read_to_string(&summary).unwrap(), md);
}

/// A run stopped by a configuration error still gives `JUnit` consumers a failing testcase (zero
/// tests would read as a pass), and the file passes junit-10.xsd.
#[test]
fn junit_of_a_config_error_has_a_failing_testcase() {
    let dir = project(&[("devops-agent.toml", "[ports]\nsearch_widht = 3\n")]);
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "validate",
        "STORY-9",
        "--no-history",
        "--format",
        "junit",
        "--project",
    ])
    .arg(dir.path());
    let out = run(cmd);
    assert_eq!(out.code, 2);
    assert_junit_valid(&out.stdout);
    let doc = roxmltree::Document::parse(&out.stdout).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 1, "{}", out.stdout);
    assert_eq!(cases[0].attribute("name"), Some("config"));
    let failure = cases[0]
        .children()
        .find(|c| c.has_tag_name("failure"))
        .expect("a failing testcase");
    assert!(
        failure.text().unwrap().contains("search_widht"),
        "{}",
        out.stdout
    );
    let root = doc.root_element();
    assert_eq!(root.attribute("failures"), Some("1"));
}

#[test]
fn markdown_snapshot_of_a_failing_ports_run() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "validate",
        "STORY-8",
        "--no-history",
        "--gates",
        "ports",
        "--format",
        "markdown",
        "--project",
    ])
    .arg(fixture("hardcoded"));
    let out = run(cmd);
    assert_eq!(out.code, 1);
    // Durations and the timestamp line vary; redact them.
    let mut text = String::new();
    for line in out.stdout.lines() {
        let line = if line.starts_with("<sub>devops-agent") {
            "<sub>[footer]</sub>".to_owned()
        } else if line.contains("\"listening_sockets_scanned\"") {
            "  \"listening_sockets_scanned\": [count]".to_owned()
        } else {
            redact_ms(line)
        };
        text.push_str(&line);
        text.push('\n');
    }
    redactions().bind(|| insta::assert_snapshot!("validate_markdown_ports", text));
}

/// Replace the last table cell (a duration), `(… ms)` figures, and a Gantt task's start and
/// end (`  name :tags, t1, 8, 26`).
fn redact_ms(line: &str) -> String {
    if line.starts_with("  ")
        && let Some((head, times)) = line.rsplit_once(", t")
        && let Some((id, _)) = times.split_once(", ")
    {
        return format!("{head}, t{id}, [ms], [ms]");
    }
    if line.starts_with("| ") && line.ends_with(" |") && !line.starts_with("|:") {
        let mut cells: Vec<&str> = line.split(" | ").collect();
        if let Some(last) = cells.last_mut()
            && last
                .trim_end_matches(" |")
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            *last = "[ms] |";
        }
        return cells.join(" | ");
    }
    line.to_owned()
}

#[test]
fn gates_skip_and_env_select_what_runs() {
    let server = fixture("startup/server.js");
    let dir = project(&[(
        "devops-agent.toml",
        &format!(
            "[services.app]\ndev = \"node {s} ok\"\nprod = \"node {s} ok\"\n\n[startup]\nstability = \"100ms\"\nhealth_samples = 2\n",
            s = server.display()
        ),
    )]);
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "validate",
        "S-2",
        "--no-history",
        "--gates",
        "ports,startup",
        "--skip",
        "env_vars",
        "--env",
        "prod",
        "--project",
    ])
    .arg(dir.path());
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 0, "{}", out.stdout);
    let gates: Vec<&str> = report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(gates, ["ports", "startup"]);
    assert!(report["deployment"]["deployment_pipeline"]["build"].is_null());
    assert_eq!(
        check(&report, "startup.env_vars")["message"],
        "skipped with --skip"
    );
    assert_eq!(check(&report, "startup.dev_mode")["status"], "skipped");
    assert_eq!(check(&report, "startup.prod_mode")["status"], "passed");

    let mut cmd = devops_agent(state.path());
    cmd.args(["validate", "S-2", "--gates", "biuld", "--project"])
        .arg(dir.path());
    let out = run(cmd);
    assert_eq!(out.code, 2);
    assert!(
        out.report()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown gate `biuld`")
    );
}

#[test]
fn keep_going_runs_past_a_failed_build() {
    let dir = copy_fixture("build-fail");
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "validate",
        "S-3",
        "--no-history",
        "--keep-going",
        "--project",
    ])
    .arg(dir.path());
    let report = run(cmd).report();
    let dev = check(&report, "startup.dev_mode");
    assert_ne!(dev["message"], "build failed: not starting");
}

#[test]
fn history_reports_what_changed_since_the_last_run() {
    let dir = copy_fixture("build-fail");
    let state = tempfile::tempdir().unwrap();
    let validate = || {
        let mut cmd = devops_agent(state.path());
        cmd.args(["validate", "S-4", "--gates", "ports,build", "--project"])
            .arg(dir.path());
        run(cmd).report()
    };
    let first = validate();
    assert!(first["deployment"]["last_deployment"].is_null());
    assert!(first["deployment"]["since_last"].is_null());
    // Fix the build, run again.
    std::fs::write(dir.path().join("build.js"), "console.log('ok');\n").unwrap();
    let second = validate();
    let since = &second["deployment"]["since_last"];
    assert_eq!(
        since["newly_fixed"],
        serde_json::json!(["build.dev_build", "build.prod_build"])
    );
    assert_eq!(since["newly_failing"], serde_json::json!([]));
    assert_eq!(second["deployment"]["last_deployment"]["status"], "failed");
    let lines = std::fs::read_to_string(dir.path().join(".devops-agent/history.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
}

#[test]
fn init_writes_a_config_that_validates_as_written() {
    let dir = copy_fixture("demo");
    std::fs::remove_file(dir.path().join("devops-agent.toml")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["init", "--project"]).arg(dir.path());
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let written: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        written["services"],
        serde_json::json!(["backend", "frontend"])
    );
    let toml = std::fs::read_to_string(dir.path().join("devops-agent.toml")).unwrap();
    assert!(toml.contains("port = \"${BACKEND_PORT:-3000}\""), "{toml}");
    // The written file is read without complaint by every command.
    let mut cmd = devops_agent(state.path());
    cmd.args(["ports", "--project"]).arg(dir.path());
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stdout);
    // And init does not overwrite it.
    let mut cmd = devops_agent(state.path());
    cmd.args(["init", "--project"]).arg(dir.path());
    assert_eq!(run(cmd).code, 2);
}

#[test]
fn man_page_and_completions() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.arg("man");
    let out = run(cmd);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.contains(".TH"),
        "roff expected"
    );
    for shell in ["bash", "zsh", "fish"] {
        let mut cmd = devops_agent(state.path());
        cmd.args(["completions", shell]);
        let out = run(cmd);
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("validate"), "{shell}");
    }
}

/// The demo passes every gate: each check passes, or is skipped for a reason that does not
/// apply to it (no database URL, no external service, no CDN, nothing required).
#[test]
fn demo_passes_every_gate_end_to_end() {
    let dir = copy_fixture("demo");
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["validate", "DEMO-1", "--format", "jsonl", "--project"])
        .arg(dir.path());
    crate::common::demo_ports(&mut cmd);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let last: serde_json::Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "validation_complete");
    assert_eq!(last["result"], "passed");
    let ready: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "service_ready")
        .collect();
    assert_eq!(ready.len(), 4, "backend and frontend, in both modes");

    // The same run as a report: every gate passing.
    let mut cmd = devops_agent(state.path());
    cmd.args(["validate", "DEMO-1", "--project"])
        .arg(dir.path());
    crate::common::demo_ports(&mut cmd);
    let report = run(cmd).report();
    for gate in ["ports", "deps", "build", "startup", "integration"] {
        assert_eq!(
            report["deployment"]["deployment_pipeline"][gate], "passing",
            "{gate}"
        );
    }
    let allowed_skips = [
        "startup.env_vars",
        "startup.database_connections",
        "startup.external_services",
        "integration.cdn",
    ];
    for gate in report["gates"].as_array().unwrap() {
        for c in gate["checks"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            match c["status"].as_str().unwrap() {
                "passed" => {}
                "skipped" if allowed_skips.contains(&id) => {}
                other => panic!("{id} is {other}: {}", c["message"]),
            }
        }
    }
    // Second run: history compares with the first.
    assert_eq!(report["deployment"]["last_deployment"]["status"], "passed");
    assert_eq!(
        report["deployment"]["since_last"]["newly_failing"],
        serde_json::json!([])
    );
}

#[test]
fn ctrl_c_mid_validate_writes_the_partial_report_and_stops_everything() {
    let dir = copy_fixture("demo");
    let state = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("devops-agent"));
    cmd.args(["validate", "DEMO-2", "--no-history", "--project"])
        .arg(dir.path())
        .arg("--events")
        .arg(&events)
        .env("DEVOPS_AGENT_STATE_DIR", state.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for var in ["FRONTEND_PORT", "BACKEND_PORT", "NGINX_PORT"] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        cmd.env(var, port.to_string());
    }
    let child = cmd.spawn().unwrap();
    // Wait until the app is up, then interrupt.
    let started = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        if text.contains("\"service_ready\"") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "never started: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_valid(&report);
    assert_eq!(report["meta"]["interrupted"], true);
    assert_eq!(report["sprint_validation"]["validation_status"], "pending");
    let last = std::fs::read_to_string(&events).unwrap();
    assert!(
        last.lines()
            .last()
            .unwrap()
            .contains("\"validation_complete\"")
    );
    // Nothing of the demo keeps running.
    let needle = dir.path().display().to_string();
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z');
        if cwd.display().to_string().starts_with(&needle) && !zombie {
            left.push(entry.path().display().to_string());
        }
    }
    assert!(left.is_empty(), "still running in the demo: {left:?}");
}

/// From a parent directory with `--project sub/app`, annotations name files from the
/// repository root (GitHub places an annotation only then): a finding relative to the project
/// and a config error's absolute path alike, with the git top level or `$GITHUB_WORKSPACE`.
#[test]
fn github_annotations_are_relative_to_the_repository_root() {
    let repo = tempfile::tempdir().unwrap();
    crate::common::copy_dir(&fixture("hardcoded"), &repo.path().join("sub/app"));
    crate::common::copy_dir(&fixture("broken-toml"), &repo.path().join("sub/bad"));
    let state = tempfile::tempdir().unwrap();
    let annotations =
        |project: &str, cwd: &std::path::Path, workspace: Option<&std::path::Path>| {
            let mut cmd = devops_agent(state.path());
            cmd.args(["ports", "--format", "github", "--project", project])
                .current_dir(cwd)
                .env_remove("GITHUB_WORKSPACE");
            if let Some(w) = workspace {
                cmd.env("GITHUB_WORKSPACE", w);
            }
            run(cmd)
        };

    // No `.git` anywhere above: the working directory is the root.
    let out = annotations("sub/app", repo.path(), None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("::error file=sub/app/docker-compose.yml,line=10,"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("file=docker-compose.yml"),
        "{}",
        out.stdout
    );
    let out = annotations("sub/bad", repo.path(), None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("::error title=devops-agent,file=sub/bad/devops-agent.toml,line=5::"),
        "{}",
        out.stdout
    );

    // A real git top level wins over the working directory.
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(repo.path())
        .status()
        .expect("git runs");
    assert!(git.success());
    let app = repo.path().join("sub/app");
    let out = annotations(app.to_str().unwrap(), &app.join("web"), None);
    assert!(
        out.stdout
            .contains("::error file=sub/app/docker-compose.yml,line=10,"),
        "{}",
        out.stdout
    );

    // `$GITHUB_WORKSPACE` wins over both.
    let out = annotations(app.to_str().unwrap(), &app, Some(&repo.path().join("sub")));
    assert!(
        out.stdout
            .contains("::error file=app/docker-compose.yml,line=10,"),
        "{}",
        out.stdout
    );
}

/// A gate is skipped only for the cause its reason names: builds that succeeded (with a page
/// naming an icon the build never makes) do not skip startup as "build failed", and a mode
/// that started (with a declared variable unset) does not skip integration as "the app did not
/// start". The checks after them run and report what they see.
#[test]
fn a_failed_side_check_does_not_skip_the_gates_after_it() {
    let dir = copy_fixture("gates-partial");
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "validate",
        "S-7",
        "--no-history",
        "--format",
        "json",
        "--project",
    ])
    .arg(dir.path());
    let out = run(cmd);
    let report = out.report();
    assert_eq!(out.code, 1, "{}", out.stdout);
    for id in ["build.dev_build", "build.prod_build"] {
        assert_eq!(check(&report, id)["status"], "passed", "{id}");
    }
    let assets = check(&report, "build.assets_generated");
    assert_eq!(assets["status"], "failed", "{assets:#}");
    for id in ["startup.dev_mode", "startup.prod_mode"] {
        let c = check(&report, id);
        assert_eq!(c["status"], "passed", "{c:#}");
    }
    let env = check(&report, "startup.env_vars");
    assert_eq!(env["status"], "failed", "{env:#}");
    assert!(
        env["message"]
            .as_str()
            .unwrap()
            .contains("GATES_PARTIAL_TOKEN"),
        "{env:#}"
    );
    // The running app was probed: its page and the icon it names were requested.
    let statics = check(&report, "integration.static_assets");
    assert_eq!(statics["status"], "failed", "{statics:#}");
    assert!(
        statics["message"]
            .as_str()
            .unwrap()
            .contains("/missing-icon.svg"),
        "{statics:#}"
    );
    for c in report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["checks"].as_array().unwrap())
    {
        let message = c["message"].as_str().unwrap_or_default();
        assert_ne!(message, "build failed: not starting", "{c:#}");
        assert_ne!(message, "the app did not start: nothing to probe", "{c:#}");
    }
}
