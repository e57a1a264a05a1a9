//! What people see on stderr while a run is under way: a live line per running command on a
//! terminal (captured from a real one, in tmux), heartbeats in a CI log, `-v` streaming.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{devops_agent, project, run, skip};

/// A project whose production build takes about five seconds and says what it is doing.
fn slow_build() -> tempfile::TempDir {
    project(&[(
        "devops-agent.toml",
        "[build]\ndev = \"echo dev done\"\n\
         prod = \"for i in 1 2 3 4 5; do echo \\\"bundling chunk $i of 5\\\"; sleep 1; done\"\n",
    )])
}

fn tmux(socket: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .args(args)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_terminal_shows_a_live_line_per_running_build_and_each_check_once() {
    let dir = slow_build();
    let sockets = tempfile::tempdir().unwrap();
    let socket = sockets.path().join("tmux");
    let state = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("devops-agent");
    let script = format!(
        "DEVOPS_AGENT_STATE_DIR={} {} build --project {} --color never; echo RUN-ENDED; sleep 60",
        state.path().display(),
        bin.display(),
        dir.path().display()
    );
    if tmux(
        &socket,
        &["new-session", "-d", "-x", "160", "-y", "50", &script],
    )
    .is_none()
    {
        skip("tmux is needed to capture a live terminal");
    }
    let capture = || tmux(&socket, &["capture-pane", "-p", "-J"]).unwrap_or_default();

    // While the build runs: a spinner line naming the step and command, its elapsed time, and
    // the last line the build printed.
    let started = Instant::now();
    let mut live = None;
    while started.elapsed() < Duration::from_secs(20) {
        let pane = capture();
        if let Some(line) = pane
            .lines()
            .find(|l| l.contains("build.prod_build `for i in") && l.contains("· bundling chunk"))
        {
            live = Some(line.to_owned());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut pane = capture();
    while !pane.contains("RUN-ENDED") && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
        pane = capture();
    }
    tmux(&socket, &["kill-server"]);
    let live = live.unwrap_or_else(|| panic!("no live progress line while building:\n{pane}"));
    assert!(
        live.split_whitespace()
            .any(|w| w.ends_with('s') && w[..w.len() - 1].parse::<u64>().is_ok()),
        "elapsed seconds in {live:?}"
    );
    // After the run: the spinner is gone and the human report printed every check once.
    assert!(pane.contains("RUN-ENDED"), "{pane}");
    assert!(
        !pane.contains("· bundling chunk"),
        "spinner left behind:\n{pane}"
    );
    for id in ["build.dev_build", "build.prod_build", "build.bundle_size"] {
        assert_eq!(
            pane.matches(&format!("{id}:")).count(),
            1,
            "{id} in:\n{pane}"
        );
        assert_eq!(
            pane.matches(&format!("{id} (")).count(),
            0,
            "{id} in:\n{pane}"
        );
    }
}

#[test]
fn a_ci_log_gets_heartbeats_naming_the_command_and_its_last_line() {
    let dir = slow_build();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["build", "--project"])
        .arg(dir.path())
        .env("DEVOPS_AGENT_HEARTBEAT", "1s");
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let beats: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("build.prod_build `for i in"))
        .collect();
    assert!(beats.len() >= 3, "heartbeats:\n{}", out.stderr);
    assert!(
        beats.iter().any(|l| l.contains("s, last: bundling chunk")),
        "{beats:?}"
    );
    // Gate and check lines are there too, each check once.
    assert_eq!(
        out.stderr.matches("build.prod_build (").count(),
        1,
        "{}",
        out.stderr
    );
    // Nothing of this reaches stdout: it is still one JSON report.
    out.report();
}

#[test]
fn verbose_streams_command_output_prefixed_by_its_step() {
    let dir = slow_build();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["build", "-v", "--project"]).arg(dir.path());
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for i in 1..=5 {
        assert!(
            out.stderr
                .contains(&format!("[build.prod_build] bundling chunk {i} of 5")),
            "{}",
            out.stderr
        );
    }
    assert!(
        out.stderr.contains("[build.dev_build] dev done"),
        "{}",
        out.stderr
    );
    out.report();
}

#[test]
fn quiet_prints_no_progress() {
    let dir = project(&[(
        "devops-agent.toml",
        "[build]\ndev = \"echo hi\"\nprod = \"echo hi\"\n",
    )]);
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["build", "-q", "--project"]).arg(dir.path());
    let out = run(cmd);
    assert_eq!(out.code, 0);
    assert_eq!(out.stderr, "", "-q prints only errors");
}
