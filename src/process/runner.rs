//! Running one command to completion: its own process group (and cgroup, where the machine
//! allows), stdin closed, output drained concurrently, a timeout, cancellation, and everything
//! it started stopped at the end — also what it left running after exiting 0.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::capture::Captured;
use super::containment::{Enclosure, ProcInfo, StopReport};
use super::tracker::{CancelReason, Processes};

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// The step people see in the progress display: `build.prod_build frontend`, `dev api`.
    pub label: String,
    /// A shell command line, run with `sh -c` (build scripts are written for a shell).
    pub command: String,
    pub cwd: PathBuf,
    /// Variables set for the command on top of the inherited environment.
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    /// Time between SIGTERM and SIGKILL when stopping.
    pub grace: Duration,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Exited on its own with this code.
    Exited(i32),
    /// Killed by a signal it did not expect (not by us).
    Signaled(i32),
    /// Ran past its timeout and was stopped.
    TimedOut,
    /// The run was cancelled (Ctrl-C, SIGTERM, deadline) and the command stopped.
    Cancelled(CancelReason),
    /// Could not be started at all.
    SpawnFailed(String),
    /// Still running when devops-agent was done with it, and stopped (a server after its
    /// checks).
    Stopped,
}

impl Ending {
    pub fn success(&self) -> bool {
        matches!(self, Ending::Exited(0))
    }

    /// For people: "exited with code 2", "timed out after 30s", …
    pub fn describe(&self, timeout: Duration) -> String {
        match self {
            Ending::Exited(code) => format!("exited with code {code}"),
            Ending::Signaled(sig) => format!("killed by signal {sig}"),
            Ending::TimedOut => format!(
                "timed out after {} and was stopped",
                humantime::format_duration(timeout)
            ),
            Ending::Cancelled(CancelReason::Interrupted(signal)) => {
                format!("interrupted by {signal} and stopped")
            }
            Ending::Cancelled(CancelReason::Deadline) => "stopped at the run's deadline".to_owned(),
            Ending::SpawnFailed(why) => format!("could not start: {why}"),
            Ending::Stopped => "stopped by devops-agent after its checks".to_owned(),
        }
    }

    /// A short machine word for evidence.
    pub fn kind(&self) -> &'static str {
        match self {
            Ending::Exited(_) => "exited",
            Ending::Signaled(_) => "signaled",
            Ending::TimedOut => "timed_out",
            Ending::Cancelled(_) => "cancelled",
            Ending::SpawnFailed(_) => "spawn_failed",
            Ending::Stopped => "stopped",
        }
    }
}

/// A finished command.
#[derive(Debug, Clone)]
pub struct Finished {
    pub ending: Ending,
    pub duration: Duration,
    pub output: Captured,
    /// Processes still running after the command exited on its own (a build's forgotten
    /// helper, a detached daemon): they were then stopped. Empty when it did not exit.
    pub left_running: Vec<ProcInfo>,
    /// What stopping its processes found and did.
    pub stop: StopReport,
}

impl Finished {
    /// Processes that had to be stopped after the command was done with.
    pub fn leftovers_stopped(&self) -> usize {
        self.stop.found.len()
    }
}

/// How long a command's processes get to exit on their own after it exited, before they count
/// as left running (nextest's leak timeout is 100 ms too).
const LEAK_WAIT: Duration = Duration::from_millis(100);

/// Run `spec` to completion.
pub async fn run(spec: &CommandSpec, processes: &Processes) -> Finished {
    let mut running = match Running::spawn(spec, processes) {
        Ok(r) => r,
        Err(ending) => {
            return Finished {
                ending,
                duration: Duration::ZERO,
                output: Captured::default(),
                left_running: Vec::new(),
                stop: StopReport::nothing(processes.mechanism()),
            };
        }
    };
    let ending = running.wait(Some(spec.timeout)).await;
    // For a timeout or cancellation, stop the command itself; for a normal exit, whatever it
    // left running in the background.
    let grace = match ending {
        Ending::TimedOut | Ending::Cancelled(_) => spec.grace,
        _ => spec.grace.min(Duration::from_secs(2)),
    };
    running.stop(grace, ending).await
}

/// A started command: its process group, its captured output, its tracked tree.
#[derive(Debug)]
pub struct Running {
    child: tokio::process::Child,
    /// Pid of the command (and id of its process group).
    pub root: u32,
    captured: Arc<Mutex<Captured>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    started: Instant,
    processes: Processes,
    exited: Option<Ending>,
    enclosure: Arc<Enclosure>,
    /// Its line in the progress display.
    step: u64,
}

impl Running {
    /// Start `spec` in its own process group with stdin closed and output captured.
    pub fn spawn(spec: &CommandSpec, processes: &Processes) -> Result<Running, Ending> {
        if let Some(reason) = processes.cancelled() {
            return Err(Ending::Cancelled(reason));
        }
        let prepared = processes.prepare();
        let (mut child, cgroup) = match spawn_in(spec, &prepared) {
            Ok(child) => (child, prepared.cgroup.as_ref().map(|(dir, _)| dir.clone())),
            Err(e) => {
                let Some((dir, _)) = &prepared.cgroup else {
                    return Err(Ending::SpawnFailed(e.to_string()));
                };
                // Joining the cgroup may be what failed (not allowed after all): try without.
                // If that works, the fallback is used from now on.
                let fallback = super::tracker::Prepared {
                    cgroup: None,
                    tag: prepared.tag.clone(),
                };
                let child =
                    spawn_in(spec, &fallback).map_err(|e| Ending::SpawnFailed(e.to_string()))?;
                processes.cgroup_failed(dir, &e);
                (child, None)
            }
        };
        let root = child.id().ok_or_else(|| {
            Ending::SpawnFailed("the process exited before it could be tracked".to_owned())
        })?;
        let enclosure = processes.register(Enclosure::new(cgroup, prepared.tag.clone(), root));
        let captured = Arc::new(Mutex::new(Captured::default()));
        let step = crate::report::progress::started(&spec.label, &spec.command);
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(drain(stdout, Arc::clone(&captured), step)));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(drain(stderr, Arc::clone(&captured), step)));
        }
        Ok(Running {
            child,
            root,
            captured,
            readers,
            started: Instant::now(),
            processes: processes.clone(),
            exited: None,
            enclosure,
            step,
        })
    }

    /// Which mechanism owns this command's processes.
    pub fn mechanism(&self) -> super::containment::Mechanism {
        self.enclosure.mechanism
    }

    /// Wait until the command exits, `limit` passes (`TimedOut`) or the run is cancelled.
    /// Nothing is sampled meanwhile: the cgroup or the subreaper keeps every process findable.
    /// Safe to call again after a limit passed.
    pub async fn wait(&mut self, limit: Option<Duration>) -> Ending {
        if let Some(ending) = &self.exited {
            return ending.clone();
        }
        let mut cancel = self.processes.subscribe();
        let deadline =
            tokio::time::sleep(limit.unwrap_or(Duration::from_secs(u64::from(u32::MAX))));
        tokio::pin!(deadline);
        loop {
            if let Some(reason) = *cancel.borrow_and_update() {
                return Ending::Cancelled(reason);
            }
            tokio::select! {
                status = self.child.wait() => {
                    let ending = match status {
                        Ok(s) => ending_of(s),
                        Err(e) => Ending::SpawnFailed(e.to_string()),
                    };
                    self.exited = Some(ending.clone());
                    return ending;
                }
                () = &mut deadline => return Ending::TimedOut,
                changed = cancel.changed() => {
                    if changed.is_err() {
                        // The sender lives as long as `Processes`; nothing more will come.
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }

    /// The output so far.
    pub fn output(&self) -> Captured {
        self.captured
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A handle to search the output while something else waits on the process.
    pub fn output_tap(&self) -> OutputTap {
        OutputTap(Arc::clone(&self.captured))
    }

    /// How long since it started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stop everything the command started (TERM, `grace`, KILL), verify nothing is left,
    /// reap it, collect the output. `ending` is how the command is recorded to have ended,
    /// unless it had already exited on its own — then whatever it left running is recorded in
    /// [`Finished::left_running`] before it is stopped.
    pub async fn stop(mut self, grace: Duration, ending: Ending) -> Finished {
        // A command stopped for its timeout or a cancellation is recorded that way even when it
        // happened to exit in the moment between the decision and this stop.
        let decided = matches!(ending, Ending::TimedOut | Ending::Cancelled(_));
        if self.exited.is_none()
            && !decided
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.exited = Some(ending_of(status));
        }
        let left_running = if self.exited.is_some() {
            self.processes.left_running(self.root, LEAK_WAIT).await
        } else {
            Vec::new()
        };
        let ending = self.exited.clone().unwrap_or(ending);
        let stop = self
            .processes
            .stop_tree(self.root, grace)
            .await
            .unwrap_or_else(|| StopReport::nothing(self.enclosure.mechanism));
        let _ = self.child.wait().await;
        self.processes.unregister(self.root);
        // With the tree gone the pipes close; do not wait forever on a descriptor something
        // unknown still holds.
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        // After the readers: the last lines a quick command printed are shown, not dropped.
        crate::report::progress::finished(self.step);
        Finished {
            ending,
            duration: self.started.elapsed(),
            output: self.output(),
            left_running,
            stop,
        }
    }
}

fn ending_of(status: std::process::ExitStatus) -> Ending {
    match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => Ending::Exited(code),
        (None, Some(sig)) => Ending::Signaled(sig),
        (None, None) => Ending::Exited(-1),
    }
}

/// Start `sh -c COMMAND` in its own process group, in the prepared cgroup (joined in the child
/// before `exec`, so not even its first fork can escape) and tagged for the subreaper tree.
fn spawn_in(
    spec: &CommandSpec,
    prepared: &super::tracker::Prepared,
) -> std::io::Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(&spec.command)
        .current_dir(&spec.cwd)
        .envs(&spec.env)
        .env(super::containment::JOB_VAR, &prepared.tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some((_, procs)) = &prepared.cgroup {
        let procs = Arc::clone(procs);
        // SAFETY: the closure runs in the forked child before exec and only makes one write(2)
        // system call on a descriptor opened by the parent — async-signal-safe, no allocation,
        // no lock. Writing "0" to cgroup.procs moves the writing process.
        #[expect(unsafe_code, reason = "joining the cgroup between fork and exec")]
        unsafe {
            command.pre_exec(move || {
                rustix::io::write(&*procs, b"0")
                    .map(|_| ())
                    .map_err(std::io::Error::from)
            });
        }
    }
    command.spawn()
}

/// Read access to a running command's output.
#[derive(Debug, Clone)]
pub struct OutputTap(Arc<Mutex<Captured>>);

impl OutputTap {
    /// Whether the output so far contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        let captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        captured.contains(needle)
    }

    /// The output so far, unredacted (for parsing, e.g. the URL a server printed; redact
    /// before showing any of it).
    pub fn text(&self) -> String {
        let captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        captured.text(&crate::redact::Redactor::default())
    }
}

async fn drain(
    mut stream: impl tokio::io::AsyncRead + Unpin,
    into: Arc<Mutex<Captured>>,
    step: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                into.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(&buf[..n]);
                crate::report::progress::output(step, &buf[..n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &str, timeout_ms: u64) -> CommandSpec {
        CommandSpec {
            label: "test".to_owned(),
            command: command.to_owned(),
            cwd: std::env::temp_dir(),
            env: BTreeMap::from([("GREETING".to_owned(), "hello".to_owned())]),
            timeout: Duration::from_millis(timeout_ms),
            grace: Duration::from_millis(300),
        }
    }

    #[tokio::test]
    async fn exit_code_env_and_output() {
        let p = Processes::new();
        let f = run(&spec("echo $GREETING; echo oops >&2; exit 3", 10_000), &p).await;
        assert_eq!(f.ending, Ending::Exited(3));
        let text = f.output.text(&crate::redact::Redactor::default());
        assert!(text.contains("hello") && text.contains("oops"), "{text}");
    }

    fn read_pid(path: &std::path::Path) -> u32 {
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{} was never written", path.display());
    }

    fn gone(pid: u32) -> bool {
        super::super::procfs::stat(pid).is_none_or(|s| s.zombie)
    }

    /// Both mechanisms where the machine has them: cgroups (when usable here) and the
    /// subreaper tree.
    fn mechanisms() -> Vec<Processes> {
        Processes::become_subreaper();
        vec![Processes::new(), Processes::without_cgroups()]
    }

    #[tokio::test]
    async fn timeout_stops_a_tree_that_ignores_term() {
        for p in mechanisms() {
            let dir = tempfile::tempdir().unwrap();
            let pidfile = dir.path().join("pid");
            let command = format!(
                "sh -c 'trap \"\" TERM; echo $$ > {}; while :; do sleep 0.05; done' & wait",
                pidfile.display()
            );
            let f = run(&spec(&command, 500), &p).await;
            assert_eq!(f.ending, Ending::TimedOut);
            let pid = read_pid(&pidfile);
            assert!(
                gone(pid),
                "grandchild {pid} survived ({:?})",
                f.stop.mechanism
            );
            assert!(f.stop.killed.iter().any(|k| k.pid == pid), "{:?}", f.stop);
            assert!(f.stop.clean());
        }
    }

    #[tokio::test]
    async fn a_detached_daemon_left_by_a_successful_command_is_reported_and_stopped() {
        for p in mechanisms() {
            let dir = tempfile::tempdir().unwrap();
            let pidfile = dir.path().join("pid");
            // The daemon leaves the group and the session, and its parent exits as soon as the
            // daemon runs (waiting for its pid file: under load a daemon still starting when
            // the parent exits would be stopped before it wrote it).
            let command = format!(
                "setsid sh -c 'trap \"\" TERM; echo $$ > {0}; exec sleep 300' </dev/null >/dev/null 2>&1 & \
                 while [ ! -s {0} ]; do sleep 0.01; done; echo built",
                pidfile.display()
            );
            let pid = {
                let f = run(&spec(&command, 10_000), &p).await;
                assert_eq!(f.ending, Ending::Exited(0));
                let pid = read_pid(&pidfile);
                let mechanism = f.stop.mechanism;
                assert!(
                    f.left_running.iter().any(|l| l.pid == pid),
                    "{mechanism:?}: {:?}",
                    f.left_running
                );
                assert!(f.stop.killed.iter().any(|k| k.pid == pid), "{:?}", f.stop);
                assert!(f.stop.clean(), "{:?}", f.stop);
                pid
            };
            assert!(gone(pid), "daemon {pid} survived");
        }
    }

    #[tokio::test]
    async fn a_command_runs_in_its_own_cgroup_where_the_machine_allows() {
        let p = Processes::new();
        let f = run(&spec("cat /proc/self/cgroup", 10_000), &p).await;
        let text = f.output.text(&crate::redact::Redactor::default());
        if f.stop.mechanism != super::super::Mechanism::CgroupV2 {
            assert!(!text.contains("/devops-agent-"), "{text}");
            return;
        }
        let line = text.lines().find(|l| l.starts_with("0::")).unwrap();
        let wanted = format!("/devops-agent-{}/cmd-", std::process::id());
        assert!(line.contains(&wanted), "{line}");
    }
}
