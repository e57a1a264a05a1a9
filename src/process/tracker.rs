//! The run's child processes: which are running, what they spawned, and the switch that
//! cancels them all (Ctrl-C, SIGTERM, the run's deadline).

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// Numbers the commands of the whole process: cgroup names and `DEVOPS_AGENT_JOB` tags. Shared by
/// every [`Processes`], so two runs in one process (the tests, a long-lived server) never hand
/// out the same tag, and one's stop never claims the other's orphans.
static NEXT_JOB: AtomicU64 = AtomicU64::new(1);

use tokio::sync::watch;

use super::containment::{self, Enclosure, ProcInfo, RunCgroup, StopReport};
use super::signals::Interrupt;

/// Why the run is being cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// SIGINT (Ctrl-C), SIGTERM or SIGHUP.
    Interrupted(Interrupt),
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
    /// Root pid of each running command → where its processes live.
    running: Mutex<BTreeMap<u32, Arc<Enclosure>>>,
    cancel: watch::Sender<Option<CancelReason>>,
    /// The run's cgroup, decided at the first command (`None`: cgroups are not usable).
    cgroup: OnceLock<Option<RunCgroup>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(Some(cgroup)) = self.cgroup.get() {
            cgroup.remove();
        }
    }
}

/// Where a command about to be spawned will live.
pub(crate) struct Prepared {
    pub(crate) cgroup: Option<(PathBuf, Arc<OwnedFd>)>,
    /// `DEVOPS_AGENT_JOB` value for its environment.
    pub(crate) tag: String,
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
                cgroup: OnceLock::new(),
            }),
        }
    }

    /// The same, never using cgroups: the subreaper tree (as on a machine without a writable
    /// cgroup2 hierarchy).
    #[cfg(test)]
    pub(crate) fn without_cgroups() -> Processes {
        let p = Processes::new();
        let _ = p.inner.cgroup.set(None);
        p
    }

    /// Make devops-agent the reaper of orphaned descendants, so a grandchild that detaches
    /// (double fork, `setsid`) is re-parented to us instead of init and can still be found and
    /// stopped. Best effort: without it (and without a cgroup), only the process group and the
    /// descendants still attached are found.
    pub fn become_subreaper() {
        containment::become_subreaper();
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

    /// Resolves when the run is cancelled (at once if it already was).
    pub async fn until_cancelled(&self) -> CancelReason {
        let mut rx = self.subscribe();
        loop {
            if let Some(reason) = *rx.borrow_and_update() {
                return reason;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<CancelReason>> {
        self.inner.cancel.subscribe()
    }

    fn running(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Arc<Enclosure>>> {
        self.inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn roots(&self) -> Vec<u32> {
        self.running().keys().copied().collect()
    }

    /// The mechanism the next command would get.
    pub(crate) fn mechanism(&self) -> containment::Mechanism {
        match self.inner.cgroup.get_or_init(RunCgroup::create) {
            Some(c) if c.usable() => containment::Mechanism::CgroupV2,
            _ => containment::fallback_mechanism(),
        }
    }

    /// A cgroup (where usable) and a tag for the next command.
    pub(crate) fn prepare(&self) -> Prepared {
        let n = NEXT_JOB.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{n}", std::process::id());
        let cgroup = self
            .inner
            .cgroup
            .get_or_init(RunCgroup::create)
            .as_ref()
            .filter(|c| c.usable())
            .and_then(|c| match c.command(n) {
                Ok((dir, fd)) => Some((dir, Arc::new(fd))),
                Err(e) => {
                    c.mark_broken(&e);
                    None
                }
            });
        Prepared { cgroup, tag }
    }

    /// Joining the cgroup failed in the child: use the fallback from now on.
    pub(crate) fn cgroup_failed(&self, dir: &std::path::Path, why: &std::io::Error) {
        let _ = std::fs::remove_dir(dir);
        if let Some(Some(c)) = self.inner.cgroup.get() {
            c.mark_broken(why);
        }
    }

    pub(crate) fn register(&self, enclosure: Enclosure) -> Arc<Enclosure> {
        let enclosure = Arc::new(enclosure);
        self.running()
            .insert(enclosure.root, Arc::clone(&enclosure));
        enclosure
    }

    /// The processes of `root`'s command still running after it exited, given `within` to
    /// finish on their own.
    pub(crate) async fn left_running(&self, root: u32, within: Duration) -> Vec<ProcInfo> {
        let Some(enclosure) = self.running().get(&root).cloned() else {
            return Vec::new();
        };
        let roots: Vec<u32> = self.roots().into_iter().filter(|r| *r != root).collect();
        enclosure.left_running(&roots, within).await
    }

    /// Stop everything `root`'s command started: TERM to all, up to `grace` for them to exit,
    /// KILL to what remains, and verify that nothing is left.
    pub(crate) async fn stop_tree(&self, root: u32, grace: Duration) -> Option<StopReport> {
        let enclosure = self.running().get(&root).cloned()?;
        // The root itself is a member until it exits; the other commands' roots never are.
        let roots: Vec<u32> = self.roots().into_iter().filter(|r| *r != root).collect();
        let report = enclosure.stop(&roots, grace).await;
        if !report.clean() {
            tracing::warn!(
                "{} process(es) of command {root} survived SIGKILL: {}",
                report.survived.len(),
                ProcInfo::list(&report.survived)
            );
        }
        Some(report)
    }

    /// Forget `root` once it and its tree are gone.
    pub(crate) fn unregister(&self, root: u32) {
        self.running().remove(&root);
    }

    /// Stop every registered command's tree (used when the run is cancelled and a gate could
    /// not stop its own in time).
    pub async fn stop_all(&self, grace: Duration) {
        for root in self.roots() {
            self.stop_tree(root, grace).await;
            self.unregister(root);
        }
    }

    /// The run's last step: stop every command still registered, then anything else that
    /// descends from devops-agent (an orphan no command claimed), and remove the run's
    /// cgroups. Returns the loose processes that had to be stopped.
    pub async fn shutdown(&self, grace: Duration) -> Vec<ProcInfo> {
        self.stop_all(grace).await;
        let mut strays = containment::strays(&[]);
        if let Some(Some(cgroup)) = self.inner.cgroup.get() {
            for dir in cgroup.leftover_commands() {
                let stale = Enclosure::new(Some(dir), String::new(), 0);
                let report = stale.stop(&[], grace).await;
                strays.extend(report.found);
            }
            cgroup.remove();
        }
        if !strays.is_empty() {
            containment::stop_loose(&strays, grace).await;
        }
        containment::reap_orphans(&[]);
        strays
    }
}
