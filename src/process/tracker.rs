//! The run's child processes: which are running, what they spawned, and the switch that
//! cancels them all (Ctrl-C, SIGTERM, the run's deadline).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use tokio::sync::watch;

use super::procfs::{self, Proc};

/// Why the run is being cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The run's `--timeout` passed.
    Deadline,
}

/// Shared handle to the run's processes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Processes {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Root pid of each running command → every descendant seen so far (pid, start time).
    running: Mutex<BTreeMap<u32, BTreeSet<(u32, u64)>>>,
    cancel: watch::Sender<Option<CancelReason>>,
}

impl Default for Processes {
    fn default() -> Self {
        Processes::new()
    }
}

impl Processes {
    pub fn new() -> Processes {
        let (cancel, _) = watch::channel(None);
        Processes {
            inner: Arc::new(Inner {
                running: Mutex::new(BTreeMap::new()),
                cancel,
            }),
        }
    }

    /// Make devops-agent the reaper of orphaned descendants, so a grandchild that detaches
    /// (double fork, `setsid`) is re-parented to us instead of init and can still be found and
    /// stopped. Best effort: without it, the process-group and tree scans still apply.
    pub fn become_subreaper() {
        if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
            tracing::debug!("cannot become child subreaper: {e}");
        }
    }

    /// Cancel every running and future command.
    pub fn cancel(&self, reason: CancelReason) {
        self.inner.cancel.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Whether the run was cancelled, and why.
    pub fn cancelled(&self) -> Option<CancelReason> {
        *self.inner.cancel.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<CancelReason>> {
        self.inner.cancel.subscribe()
    }

    fn running(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, BTreeSet<(u32, u64)>>> {
        self.inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn register(&self, root: u32) {
        self.running().insert(root, BTreeSet::new());
    }

    /// Record the current descendants of `root` (called periodically while it runs), so that
    /// those which later detach are still known.
    pub(crate) fn sample(&self, root: u32) {
        let table = procfs::table();
        let found = procfs::tree(&table, root, root);
        if let Some(seen) = self.running().get_mut(&root) {
            seen.extend(found.iter().map(|p| (p.pid, p.start)));
        }
    }

    /// Stop everything `root` started: its process group, every descendant seen or found now,
    /// and orphans re-parented to us. TERM, up to `grace` for them to exit, then KILL. Returns
    /// how many processes (besides `root`) had to be stopped.
    pub(crate) async fn stop_tree(&self, root: u32, grace: Duration) -> usize {
        let targets = self.targets(root);
        signal_all(root, &targets, Signal::TERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && (group_alive(root) || targets.iter().any(procfs::alive))
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Anything that appeared meanwhile, then KILL whatever is left.
        let mut targets = targets;
        for p in self.targets(root) {
            if !targets.iter().any(|t| t.pid == p.pid) {
                targets.push(p);
            }
        }
        let survivors = targets.iter().filter(|p| procfs::alive(p)).count();
        signal_all(root, &targets, Signal::KILL);
        reap_orphans(&targets);
        if survivors > 0 {
            tracing::debug!("killed {survivors} process(es) of {root} that outlived SIGTERM");
        }
        targets.len()
    }

    /// Forget `root` once it and its tree are gone.
    pub(crate) fn unregister(&self, root: u32) {
        self.running().remove(&root);
    }

    /// Known and current descendants of `root`, plus processes in its group, still alive.
    fn targets(&self, root: u32) -> Vec<Proc> {
        let table = procfs::table();
        let mut targets = procfs::tree(&table, root, root);
        let seen = self.running().get(&root).cloned().unwrap_or_default();
        for (pid, start) in seen {
            if let Some(p) = table.get(&pid)
                && p.start == start
                && !targets.iter().any(|t| t.pid == pid)
            {
                targets.push(*p);
            }
        }
        targets
    }

    /// Stop every registered command's tree (used when the run is cancelled and a gate could
    /// not stop its own in time).
    pub async fn stop_all(&self, grace: Duration) {
        let roots: Vec<u32> = self.running().keys().copied().collect();
        for root in roots {
            self.stop_tree(root, grace).await;
            self.unregister(root);
        }
    }
}

fn signal_all(root: u32, targets: &[Proc], signal: Signal) {
    if let Some(pgid) = pid(root) {
        let _ = kill_process_group(pgid, signal);
    }
    let mut groups = BTreeSet::new();
    for p in targets {
        if let Some(pid) = pid(p.pid)
            && procfs::alive(p)
        {
            let _ = kill_process(pid, signal);
        }
        // A descendant that made its own group may have children of its own there.
        if p.pgid != root && p.pgid == p.pid {
            groups.insert(p.pgid);
        }
    }
    for g in groups {
        if let Some(pgid) = pid(g) {
            let _ = kill_process_group(pgid, signal);
        }
    }
}

/// Whether any living (not zombie) process remains in group `pgid`. `kill(-pgid, 0)` alone
/// would also count zombies — including the group leader itself, which stays a zombie until
/// its parent (us) reaps it after the stop — and so would always wait out the whole grace.
fn group_alive(pgid: u32) -> bool {
    if pid(pgid).is_none_or(|p| rustix::process::test_kill_process_group(p).is_err()) {
        return false;
    }
    procfs::table()
        .values()
        .any(|p| p.pgid == pgid && !p.zombie)
}

fn pid(raw: u32) -> Option<Pid> {
    i32::try_from(raw).ok().and_then(Pid::from_raw)
}

/// Collect the exit status of killed descendants that were re-parented to us, so they do not
/// linger as zombies.
fn reap_orphans(targets: &[Proc]) {
    let me = std::process::id();
    for p in targets {
        if procfs::stat(p.pid).is_some_and(|now| now.ppid == me && now.start == p.start)
            && let Some(pid) = pid(p.pid)
        {
            for _ in 0..50 {
                match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        }
    }
}
