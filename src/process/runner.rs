//! Running one command to completion: its own process group, stdin closed, output drained
//! concurrently, a timeout, cancellation, and the whole tree stopped at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::capture::Captured;
use super::tracker::{CancelReason, Processes};

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
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
            Ending::Cancelled(CancelReason::Interrupted) => "interrupted and stopped".to_owned(),
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
    /// Processes the command left behind (or that outlived the stop) which had to be stopped.
    pub leftovers_stopped: usize,
}

/// How often the process tree is sampled while a command runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Run `spec` to completion.
pub async fn run(spec: &CommandSpec, processes: &Processes) -> Finished {
    let mut running = match Running::spawn(spec, processes) {
        Ok(r) => r,
        Err(ending) => {
            return Finished {
                ending,
                duration: Duration::ZERO,
                output: Captured::default(),
                leftovers_stopped: 0,
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
}

impl Running {
    /// Start `spec` in its own process group with stdin closed and output captured.
    pub fn spawn(spec: &CommandSpec, processes: &Processes) -> Result<Running, Ending> {
        if let Some(reason) = processes.cancelled() {
            return Err(Ending::Cancelled(reason));
        }
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(&spec.command)
            .current_dir(&spec.cwd)
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        let mut child = command
            .spawn()
            .map_err(|e| Ending::SpawnFailed(e.to_string()))?;
        let root = child.id().ok_or_else(|| {
            Ending::SpawnFailed("the process exited before it could be tracked".to_owned())
        })?;
        processes.register(root);
        let captured = Arc::new(Mutex::new(Captured::default()));
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(drain(stdout, Arc::clone(&captured))));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(drain(stderr, Arc::clone(&captured))));
        }
        Ok(Running {
            child,
            root,
            captured,
            readers,
            started: Instant::now(),
            processes: processes.clone(),
            exited: None,
        })
    }

    /// Wait until the command exits, `limit` passes (`TimedOut`) or the run is cancelled,
    /// sampling its process tree meanwhile. Safe to call again after a limit passed.
    pub async fn wait(&mut self, limit: Option<Duration>) -> Ending {
        if let Some(ending) = &self.exited {
            return ending.clone();
        }
        let mut cancel = self.processes.subscribe();
        let deadline =
            tokio::time::sleep(limit.unwrap_or(Duration::from_secs(u64::from(u32::MAX))));
        tokio::pin!(deadline);
        let mut sampler = tokio::time::interval(SAMPLE_EVERY);
        loop {
            if let Some(reason) = *cancel.borrow_and_update() {
                return Ending::Cancelled(reason);
            }
            tokio::select! {
                status = self.child.wait() => {
                    let ending = match status {
                        Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                            (Some(code), _) => Ending::Exited(code),
                            (None, Some(sig)) => Ending::Signaled(sig),
                            (None, None) => Ending::Exited(-1),
                        },
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
                _ = sampler.tick() => self.processes.sample(self.root),
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

    /// Stop the whole tree (TERM, `grace`, KILL), reap it, collect the output. `ending` is how
    /// the command is recorded to have ended, unless it had already exited on its own.
    pub async fn stop(mut self, grace: Duration, ending: Ending) -> Finished {
        let ending = self.exited.clone().unwrap_or(ending);
        let stopped = self.processes.stop_tree(self.root, grace).await;
        let _ = self.child.wait().await;
        self.processes.unregister(self.root);
        // With the tree gone the pipes close; do not wait forever on a descriptor something
        // unknown still holds.
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        Finished {
            ending,
            duration: self.started.elapsed(),
            output: self.output(),
            leftovers_stopped: stopped,
        }
    }
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
}

async fn drain(mut stream: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Captured>>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => into
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &str, timeout_ms: u64) -> CommandSpec {
        CommandSpec {
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

    #[tokio::test]
    async fn timeout_stops_a_tree_that_ignores_term() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let command = format!(
            "sh -c 'trap \"\" TERM; echo $$ > {}; while :; do sleep 0.05; done' & wait",
            pidfile.display()
        );
        let p = Processes::new();
        let f = run(&spec(&command, 500), &p).await;
        assert_eq!(f.ending, Ending::TimedOut);
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = super::super::procfs::stat(pid).is_none_or(|s| s.zombie);
        assert!(gone, "grandchild {pid} survived");
    }
}
