//! Nothing a run starts outlives it: builds that leave detached daemons behind, daemons that
//! ignore SIGTERM, dev servers that scatter detached sleepers, and SIGINT/SIGTERM/SIGHUP sent
//! to devops-agent mid-build and mid-startup. Every process gets a unique marker in its
//! environment; after devops-agent exits, `/proc/*/environ` is searched for it (zombies
//! aside), and every port the run's processes bound is checked free in `/proc/net/tcp{,6}`.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{assert_valid, check, devops_agent, findings, free_port, project, run};

/// A daemon that binds `DAEMON_PORT`, writes its pid to `PID_FILE`, and sleeps; with
/// `IGNORE_TERM=1` it ignores SIGTERM.
const DAEMON: &str = r#"import os, signal, socket, time
if os.environ.get("IGNORE_TERM") == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(os.environ["DAEMON_PORT"])))
s.listen()
with open(os.environ["PID_FILE"], "w") as f:
    f.write(str(os.getpid()))
time.sleep(300)
"#;

/// A dev server that first scatters `SLEEPERS` detached sleepers (each started by a shell that
/// exits at once, in a session of its own), then answers HTTP on `PORT`.
const SERVER: &str = r#"import http.server, os, signal, subprocess
if os.environ.get("IGNORE_TERM") == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
for _ in range(int(os.environ.get("SLEEPERS", "20"))):
    subprocess.run(["sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 &"], check=True)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Health).serve_forever()
"#;

fn has_python() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A marker unique to one test run, set in devops-agent's environment and inherited by every
/// process it starts.
fn marker() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        Instant::now().elapsed().as_nanos()
    )
}

/// Living processes whose environment carries `LIFETIME_MARK=<mark>`, as `ps` would show
/// them.
fn survivors(mark: &str) -> Vec<String> {
    let needle = format!("LIFETIME_MARK={mark}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !env.split(|b| *b == 0).any(|e| e == needle.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        if fields.first() == Some(&"Z") || fields.is_empty() {
            continue;
        }
        let args = std::fs::read(entry.path().join("cmdline"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        // pid, pgid, sid, args: what `ps -eo pid,pgid,sid,args` prints.
        found.push(format!(
            "{pid} {} {} {}",
            fields.get(2).unwrap_or(&"?"),
            fields.get(3).unwrap_or(&"?"),
            args.trim()
        ));
    }
    found
}

/// Whether a socket listens on `port` (any address, IPv4 or IPv6).
fn listening(port: u16) -> bool {
    let hex = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(1).is_some_and(|a| a.ends_with(&hex)) && f.get(3) == Some(&"0A")
            })
    })
}

fn assert_nothing_left(mark: &str, ports: &[u16]) {
    let left = survivors(mark);
    assert!(left.is_empty(), "still running after the run: {left:#?}");
    for port in ports {
        assert!(
            !listening(*port),
            "port {port} is still bound after the run"
        );
    }
}

fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what} never happened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn build_project(dev: &str) -> tempfile::TempDir {
    project(&[
        ("daemon.py", DAEMON),
        (
            "devops-agent.toml",
            &format!(
                "[build]\ndev = \"{dev}\"\nprod = \"true\"\n\n[timeouts]\ngrace = \"300ms\"\n"
            ),
        ),
    ])
}

/// (a) and (b): the build exits 0 and leaves a detached daemon holding a port.
fn build_leaving_a_daemon(ignore_term: bool) {
    if !has_python() {
        crate::common::skip("python3 is not installed");
        return;
    }
    let dir = build_project(
        "setsid python3 daemon.py </dev/null >/dev/null 2>&1 & echo built; while [ ! -s $PID_FILE ]; do sleep 0.01; done",
    );
    let state = tempfile::tempdir().unwrap();
    let mark = marker();
    let port = free_port();
    let pid_file = dir.path().join("daemon.pid");
    let mut cmd = devops_agent(state.path());
    cmd.args(["build", "--project"])
        .arg(dir.path())
        .env("LIFETIME_MARK", &mark)
        .env("DAEMON_PORT", port.to_string())
        .env("PID_FILE", &pid_file)
        .env("IGNORE_TERM", if ignore_term { "1" } else { "0" });
    let out = run(cmd);
    assert_nothing_left(&mark, &[port]);
    let report = out.report();
    assert_eq!(
        out.code, 0,
        "a leak is a warning, not a failure: {}",
        out.stdout
    );
    let dev = check(&report, "build.dev_build");
    assert_eq!(dev["status"], "warning", "{dev:#}");
    let daemon_pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let message = findings(dev)
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        message.contains(&format!(
            "left 1 process running: python3 (pid {daemon_pid})"
        )),
        "{message}"
    );
    let build = &dev["evidence"]["builds"][0];
    assert_eq!(build["ending"], "exited");
    assert_eq!(build["left_running"][0]["pid"], daemon_pid);
    let stop = &build["stop"];
    assert!(
        ["cgroup_v2", "subreaper"].contains(&stop["mechanism"].as_str().unwrap()),
        "{stop:#}"
    );
    assert_eq!(stop["survived"], serde_json::json!([]));
    if ignore_term {
        assert_eq!(stop["killed"][0]["pid"], daemon_pid, "{stop:#}");
        assert!(
            message.contains("ignored SIGTERM and got SIGKILL"),
            "{message}"
        );
    } else {
        assert_eq!(stop["killed"], serde_json::json!([]), "{stop:#}");
        assert_eq!(stop["exited_on_sigterm"], 1, "{stop:#}");
    }
}

#[test]
fn a_build_that_leaves_a_setsid_daemon_gets_a_leak_warning_and_the_daemon_is_stopped() {
    build_leaving_a_daemon(false);
}

#[test]
fn a_leaked_daemon_that_ignores_sigterm_gets_sigkill() {
    build_leaving_a_daemon(true);
}

#[test]
fn the_subreaper_fallback_stops_a_leaked_daemon_too() {
    if !has_python() {
        crate::common::skip("python3 is not installed");
        return;
    }
    let dir = build_project(
        "setsid python3 daemon.py </dev/null >/dev/null 2>&1 & echo built; while [ ! -s $PID_FILE ]; do sleep 0.01; done",
    );
    let state = tempfile::tempdir().unwrap();
    let mark = marker();
    let port = free_port();
    let mut cmd = devops_agent(state.path());
    cmd.args(["build", "--project"])
        .arg(dir.path())
        .env("DEVOPS_AGENT_CONTAINMENT", "subreaper")
        .env("LIFETIME_MARK", &mark)
        .env("DAEMON_PORT", port.to_string())
        .env("PID_FILE", dir.path().join("daemon.pid"))
        .env("IGNORE_TERM", "1");
    let out = run(cmd);
    assert_nothing_left(&mark, &[port]);
    let report = out.report();
    let dev = check(&report, "build.dev_build");
    assert_eq!(dev["status"], "warning", "{dev:#}");
    assert_eq!(
        dev["evidence"]["builds"][0]["stop"]["mechanism"],
        "subreaper"
    );
}

fn server_project(extra: &str) -> tempfile::TempDir {
    project(&[
        ("server.py", SERVER),
        ("daemon.py", DAEMON),
        (
            "devops-agent.toml",
            &format!(
                "[services.web]\ndev = \"python3 server.py\"\nhealth = \"/health\"\n\n\
                 [startup]\nhealth_samples = 2\n\n[timeouts]\ngrace = \"500ms\"\n{extra}"
            ),
        ),
    ])
}

/// (c) A dev server that scatters 20 detached sleepers is stopped after readiness: all 21
/// processes found and stopped, verified gone, its port released.
#[test]
fn a_dev_server_with_twenty_detached_sleepers_is_stopped_with_all_of_them() {
    if !has_python() {
        crate::common::skip("python3 is not installed");
        return;
    }
    let dir = server_project("");
    let state = tempfile::tempdir().unwrap();
    let mark = marker();
    let mut cmd = devops_agent(state.path());
    cmd.args(["startup", "--project"])
        .arg(dir.path())
        .env("LIFETIME_MARK", &mark)
        .env("SLEEPERS", "20");
    let out = run(cmd);
    let report = out.report();
    let dev = check(&report, "startup.dev_mode");
    let service = &dev["evidence"]["services"][0];
    let port = u16::try_from(service["port"].as_u64().unwrap()).unwrap();
    assert_nothing_left(&mark, &[port]);
    assert_eq!(dev["status"], "passed", "{dev:#}");
    assert!(
        dev["message"].as_str().unwrap().contains("stopped cleanly"),
        "{dev:#}"
    );
    let stop = &service["stop"];
    // sh -c, python3 and the 20 sleepers.
    assert!(stop["processes"].as_u64().unwrap() >= 21, "{stop:#}");
    assert_eq!(stop["survived"], serde_json::json!([]));
    assert_eq!(service["port_released"], true);
    assert_eq!(out.code, 0, "{}", out.stdout);
}

/// A server that ignores SIGTERM is killed after the grace period, and the check says so.
#[test]
fn a_dev_server_that_ignores_sigterm_is_killed_and_reported() {
    if !has_python() {
        crate::common::skip("python3 is not installed");
        return;
    }
    let dir = server_project("");
    let state = tempfile::tempdir().unwrap();
    let mark = marker();
    let mut cmd = devops_agent(state.path());
    cmd.args(["startup", "--project"])
        .arg(dir.path())
        .env("LIFETIME_MARK", &mark)
        .env("SLEEPERS", "2")
        .env("IGNORE_TERM", "1");
    let out = run(cmd);
    let report = out.report();
    let dev = check(&report, "startup.dev_mode");
    let service = &dev["evidence"]["services"][0];
    let port = u16::try_from(service["port"].as_u64().unwrap()).unwrap();
    assert_nothing_left(&mark, &[port]);
    assert_eq!(dev["status"], "warning", "{dev:#}");
    let killed = service["stop"]["killed"].as_array().unwrap();
    assert!(killed.iter().any(|k| k["name"] == "python3"), "{dev:#}");
    let message = findings(dev)[0]["message"].as_str().unwrap();
    assert!(message.contains("ignored SIGTERM"), "{message}");
}

/// The signals of (d), with their exit codes.
const SIGNALS: [(rustix::process::Signal, &str, i32); 3] = [
    (rustix::process::Signal::INT, "SIGINT", 130),
    (rustix::process::Signal::TERM, "SIGTERM", 130),
    (rustix::process::Signal::HUP, "SIGHUP", 129),
];

fn send(child: &std::process::Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

/// Every gate `validate` plans is in the report, in order.
fn assert_all_gates(report: &Value) {
    let ids: Vec<&str> = report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["ports", "deps", "build", "startup", "integration"],
        "{report:#}"
    );
}

fn interrupted_run(
    dir: &Path,
    mark: &str,
    env: &[(&str, String)],
    ready: impl Fn(&Path) -> bool,
    signal: rustix::process::Signal,
) -> (i32, Value, String) {
    let bin = assert_cmd::cargo::cargo_bin("devops-agent");
    let state = tempfile::tempdir().unwrap();
    let events = dir.join("events.jsonl");
    let human = dir.join("report.txt");
    let _ = std::fs::remove_file(&events);
    let mut cmd = Command::new(bin);
    cmd.args(["validate", "LIFE-1", "--no-history", "--project"])
        .arg(dir)
        .arg("--events")
        .arg(&events)
        .arg("--output")
        .arg(format!("human={}", human.display()))
        .env("DEVOPS_AGENT_STATE_DIR", state.path())
        .env("LIFETIME_MARK", mark)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    wait_until(Duration::from_secs(60), "the step to interrupt", || {
        ready(dir)
    });
    send(&child, signal);
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_valid(&report);
    let mut stderr = std::io::stderr();
    let _ = writeln!(stderr, "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&human).unwrap();
    let last = std::fs::read_to_string(&events).unwrap();
    assert!(
        last.lines()
            .last()
            .unwrap()
            .contains("\"validation_complete\""),
        "{last}"
    );
    (out.status.code().unwrap_or(-1), report, text)
}

/// (d) SIGINT, SIGTERM and SIGHUP mid-build: the build's command and its detached daemon
/// (which ignores SIGTERM) are stopped, the report lists every gate, the build as cancelled.
#[test]
fn signals_mid_build_stop_everything_and_report_every_gate() {
    if !has_python() {
        crate::common::skip("python3 is not installed");
        return;
    }
    for (signal, name, code) in SIGNALS {
        let dir = build_project(
            "setsid python3 daemon.py </dev/null >/dev/null 2>&1 & python3 -c 'import time; time.sleep(120)'",
        );
        let mark = marker();
        let port = free_port();
        let pid_file = dir.path().join("daemon.pid");
        let env = [
            ("DAEMON_PORT", port.to_string()),
            ("PID_FILE", pid_file.display().to_string()),
            ("IGNORE_TERM", "1".to_owned()),
        ];
        let (exit, report, human) = interrupted_run(
            dir.path(),
            &mark,
            &env,
            |_| std::fs::metadata(&pid_file).is_ok_and(|m| m.len() > 0),
            signal,
        );
        assert_nothing_left(&mark, &[port]);
        assert_eq!(exit, code, "{name}");
        assert_eq!(report["meta"]["interrupted"], true);
        assert_eq!(report["meta"]["interrupted_by"], name);
        assert_eq!(report["sprint_validation"]["validation_status"], "pending");
        assert_all_gates(&report);
        let dev = check(&report, "build.dev_build");
        assert_eq!(dev["status"], "skipped", "{name}: {dev:#}");
        assert!(
            dev["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("cancelled: interrupted by {name}")),
            "{dev:#}"
        );
        assert_eq!(dev["evidence"]["builds"][0]["ending"], "cancelled");
        for id in ["startup.dev_mode", "integration.cors"] {
            let c = check(&report, id);
            assert_eq!(c["status"], "skipped", "{c:#}");
            assert!(c["message"].as_str().unwrap().starts_with("cancelled"));
        }
        assert!(human.contains(&format!("cancelled by {name}")), "{human}");
        assert!(
            !human.contains("crashed") && !human.contains('❌'),
            "{human}"
        );
    }
}

/// (d) SIGINT, SIGTERM and SIGHUP mid-startup, once the dev server (with its detached
/// sleepers) is ready: everything stopped, ports free, startup reported as cancelled.
#[test]
fn signals_mid_startup_stop_everything_and_report_every_gate() {
    if !has_python() {
        crate::common::skip("python3 is not installed");
        return;
    }
    for (signal, name, code) in SIGNALS {
        // A long stability window, so the signal lands while the app is up.
        let dir = server_project("");
        std::fs::write(
            dir.path().join("devops-agent.toml"),
            "[services.web]\ndev = \"python3 server.py\"\nhealth = \"/health\"\n\n\
             [startup]\nstability = \"30s\"\n\n[timeouts]\ngrace = \"500ms\"\n",
        )
        .unwrap();
        let mark = marker();
        let env = [("SLEEPERS", "5".to_owned())];
        let (exit, report, human) = interrupted_run(
            dir.path(),
            &mark,
            &env,
            |dir| {
                std::fs::read_to_string(dir.join("events.jsonl"))
                    .is_ok_and(|t| t.contains("\"service_ready\""))
            },
            signal,
        );
        let dev = check(&report, "startup.dev_mode");
        let service = &dev["evidence"]["services"][0];
        let port = u16::try_from(service["port"].as_u64().unwrap()).unwrap();
        assert_nothing_left(&mark, &[port]);
        assert_eq!(exit, code, "{name}");
        assert_eq!(report["meta"]["interrupted_by"], name);
        assert_all_gates(&report);
        assert_eq!(dev["status"], "skipped", "{name}: {dev:#}");
        assert!(
            dev["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("cancelled: interrupted by {name}")),
            "{dev:#}"
        );
        assert_eq!(service["ending"], "stopped");
        assert_eq!(service["stop"]["survived"], serde_json::json!([]));
        assert!(
            service["stop"]["processes"].as_u64().unwrap() >= 6,
            "{dev:#}"
        );
        assert_eq!(service["port_released"], true);
        assert!(human.contains("⏹️ startup.dev_mode: cancelled"), "{human}");
        assert!(
            !human.contains("crashed") && !human.contains('❌'),
            "{human}"
        );
    }
}
