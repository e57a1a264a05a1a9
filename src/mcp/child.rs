//! One engine run as a child process of the server (why: see the module doc of [`super`]):
//! spawn this binary with the command's arguments, follow its event stream while it runs,
//! interrupt it with SIGINT when the call is cancelled, and collect its exit code and report.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::progress::{Progress, Reporter};

/// How often the event file is read while the child runs.
const POLL: Duration = Duration::from_millis(50);

/// The children running now, by pid, so the server can interrupt them when it shuts down.
#[derive(Debug, Clone, Default)]
pub(crate) struct Running(Arc<Mutex<BTreeSet<u32>>>);

impl Running {
    fn insert(&self, pid: u32) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(pid);
    }

    fn remove(&self, pid: u32) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&pid);
    }

    fn pids(&self) -> Vec<u32> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }

    /// Interrupt every running child (as Ctrl-C would) and wait up to `limit` for them to
    /// finish stopping what they started.
    pub(crate) async fn interrupt_all(&self, limit: Duration) {
        for pid in self.pids() {
            interrupt(pid);
        }
        let start = Instant::now();
        while !self.pids().is_empty() && start.elapsed() < limit {
            tokio::time::sleep(POLL).await;
        }
    }
}

fn interrupt(pid: u32) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
}

/// A private directory for one run's event file, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "devops-agent-mcp-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a run ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The exit code; `None` when the child died by a signal.
    pub(crate) code: Option<i32>,
    /// The report it printed, when stdout was one JSON document.
    pub(crate) report: Option<Value>,
    /// Whether the call was cancelled (and the child interrupted).
    pub(crate) cancelled: bool,
}

/// Follows the growing event file: complete lines only.
struct Tail {
    file: Option<tokio::fs::File>,
    path: PathBuf,
    pending: Vec<u8>,
    offset: u64,
}

impl Tail {
    async fn lines(&mut self) -> Vec<Value> {
        if self.file.is_none() {
            self.file = tokio::fs::File::open(&self.path).await.ok();
        }
        let Some(file) = &mut self.file else {
            return Vec::new();
        };
        // The child truncates the file when it opens it; start over if it shrank.
        if let Ok(meta) = file.metadata().await
            && meta.len() < self.offset
        {
            self.offset = 0;
            self.pending.clear();
        }
        if file
            .seek(std::io::SeekFrom::Start(self.offset))
            .await
            .is_err()
        {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        if let Ok(n) = file.read_to_end(&mut bytes).await {
            self.offset += n as u64;
        }
        self.pending.extend_from_slice(&bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if let Ok(value) = serde_json::from_slice::<Value>(&line) {
                out.push(value);
            }
        }
        out
    }
}

/// Why the child devops-agent could not be run or its answer read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChildError {
    #[error("cannot find this binary")]
    CurrentExe(#[source] std::io::Error),
    #[error("cannot start devops-agent")]
    Spawn(#[source] std::io::Error),
    #[error("cannot wait for devops-agent")]
    Wait(#[source] std::io::Error),
    #[error("cannot run devops-agent")]
    Run(#[source] std::io::Error),
    #[error("devops-agent {args} printed no JSON")]
    NoJson {
        args: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot create a temporary directory")]
    Scratch(#[source] std::io::Error),
}

/// Run this binary with `args` (built by [`super::params::CommandLine`] with `events` as its
/// event file), report each step to `reporter`, interrupt it when `cancel` completes, and
/// return how it ended.
pub(crate) async fn run(
    args: Vec<OsString>,
    events: EventsFile,
    running: &Running,
    mut progress: Progress,
    cancel: impl Future<Output = ()>,
    reporter: &Reporter,
) -> Result<Outcome, ChildError> {
    tokio::pin!(cancel);
    let exe = std::env::current_exe().map_err(ChildError::CurrentExe)?;
    let mut command = tokio::process::Command::new(exe);
    command
        .args(&args)
        // stdin is the MCP channel: the child must never read it.
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // The child's logs join the server's on stderr, redacted by the child as always.
        .stderr(Stdio::inherit())
        .env_remove("DEVOPS_AGENT_EVENTS");
    let mut child = command.spawn().map_err(ChildError::Spawn)?;
    let pid = child.id().unwrap_or(0);
    running.insert(pid);
    // Interrupt the child if this future is dropped before it ended (the server shutting down
    // mid-call): it then stops what it started, as on Ctrl-C.
    let mut guard = InterruptOnDrop(Some(pid));
    let mut stdout = child.stdout.take();
    let read_stdout = async move {
        let mut bytes = Vec::new();
        if let Some(out) = &mut stdout {
            let _ = out.read_to_end(&mut bytes).await;
        }
        bytes
    };
    let stdout_task = tokio::spawn(read_stdout);
    let mut tail = Tail {
        file: None,
        path: events.path.clone(),
        pending: Vec::new(),
        offset: 0,
    };
    let mut cancelled = false;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            () = &mut cancel, if !cancelled => {
                cancelled = true;
                interrupt(pid);
            }
            () = tokio::time::sleep(POLL) => {
                for event in tail.lines().await {
                    reporter.send(progress.event(&event)).await;
                }
                if let Some(beat) = progress.heartbeat(Instant::now()) {
                    reporter.send(beat).await;
                }
            }
        }
    };
    guard.0 = None;
    running.remove(pid);
    for event in tail.lines().await {
        reporter.send(progress.event(&event)).await;
    }
    drop(events);
    let status = status.map_err(ChildError::Wait)?;
    let stdout = stdout_task.await.unwrap_or_default();
    Ok(Outcome {
        code: status.code(),
        report: serde_json::from_slice(&stdout).ok(),
        cancelled,
    })
}

/// Run this binary for a command that runs no gate and returns at once (`list`, `explain`):
/// its exit code and the JSON document it printed.
pub(crate) async fn document(args: &[&str]) -> Result<(Option<i32>, Value), ChildError> {
    let exe = std::env::current_exe().map_err(ChildError::CurrentExe)?;
    let out = tokio::process::Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .map_err(ChildError::Run)?;
    let value = serde_json::from_slice(&out.stdout).map_err(|source| ChildError::NoJson {
        args: args.join(" "),
        source,
    })?;
    Ok((out.status.code(), value))
}

struct InterruptOnDrop(Option<u32>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            interrupt(pid);
        }
    }
}

/// The event file of one run, in a private directory removed when this is dropped.
pub(crate) struct EventsFile {
    pub(crate) path: PathBuf,
    _dir: Scratch,
}

/// A fresh event file for one run.
pub(crate) fn events_path() -> Result<EventsFile, ChildError> {
    let dir = Scratch::new().map_err(ChildError::Scratch)?;
    Ok(EventsFile {
        path: dir.0.join("events.jsonl"),
        _dir: dir,
    })
}
