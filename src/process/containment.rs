//! Owning every process a command starts, including the ones that detach (`setsid`, a double
//! fork, a parent that exits at once): listing them, stopping them (SIGTERM to all, grace,
//! SIGKILL to all that remain) and verifying that none is left.
//!
//! Two mechanisms, chosen once per run and named in the evidence:
//!
//! * **`cgroup_v2`** — each command runs in a cgroup of its own,
//!   `<devops-agent's cgroup>/devops-agent-<pid>/cmd-<n>`, joined in the child before `exec`
//!   (nothing it forks can be missed). Its processes are `cgroup.procs`; SIGKILL is
//!   `cgroup.kill`, which also catches processes forked while the kill runs. Used where the
//!   cgroup2 hierarchy is writable (root, or a delegated subtree).
//! * **`subreaper`** — devops-agent is the child subreaper of everything it starts, so an
//!   orphan is re-parented to it instead of init. A command's processes are its descendants
//!   plus the re-parented orphans whose environment carries the command's `DEVOPS_AGENT_JOB`
//!   tag. Found by walking down from devops-agent (`/proc/PID/task/*/children`), not by
//!   sampling the whole process table while the command runs.
//!
//! If neither is available (no writable cgroup, `PR_SET_CHILD_SUBREAPER` refused) the
//! mechanism is `process_tree`: the command's group and descendants, which a detached
//! grandchild can escape. `DEVOPS_AGENT_CONTAINMENT=subreaper` forces the fallback.
//!
//! Hand-written: no crate does this. nextest stops process groups only; the cgroup crates are
//! v1-centred and far larger than the five files used here.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process, kill_process_group};

use super::procfs::{self, Children};

/// The variable that tags a command's processes in the subreaper mechanism.
pub(crate) const JOB_VAR: &str = "DEVOPS_AGENT_JOB";

/// How often the set of processes is polled while waiting for them to exit.
const POLL: Duration = Duration::from_millis(5);
/// After SIGKILL, how long the processes get to be gone before they are reported as survivors.
const VERIFY: Duration = Duration::from_secs(1);

static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// Make devops-agent the reaper of orphaned descendants, so a grandchild that detaches is
/// re-parented to it instead of init and can still be found and stopped.
pub(crate) fn become_subreaper() {
    match rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        Ok(()) => SUBREAPER.store(true, Ordering::Relaxed),
        Err(e) => tracing::debug!("cannot become child subreaper: {e}"),
    }
}

/// Which mechanism owns a command's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    CgroupV2,
    Subreaper,
    ProcessTree,
}

impl Mechanism {
    /// The word used in evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::CgroupV2 => "cgroup_v2",
            Mechanism::Subreaper => "subreaper",
            Mechanism::ProcessTree => "process_tree",
        }
    }
}

/// One process, as shown in evidence and messages: "esbuild (pid 4242)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    /// The short command name (`/proc/PID/comm`).
    pub name: String,
    /// Start time in clock ticks: with the pid, identifies the process across pid reuse.
    start: u64,
}

impl ProcInfo {
    fn read(pid: u32) -> Option<ProcInfo> {
        let stat = procfs::stat(pid).filter(|s| !s.zombie)?;
        Some(ProcInfo {
            pid,
            name: procfs::comm(pid),
            start: stat.start,
        })
    }

    /// Whether this very process is still alive (not exited, not a zombie).
    fn alive(&self) -> bool {
        procfs::stat(self.pid).is_some_and(|s| s.start == self.start && !s.zombie)
    }

    /// "esbuild (pid 4242), sleep (pid 4250)"
    pub fn list(procs: &[ProcInfo]) -> String {
        procs
            .iter()
            .map(|p| format!("{} (pid {})", p.name, p.pid))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What stopping a command's processes found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReport {
    pub mechanism: Mechanism,
    /// Every process of the command alive when the stop began (or forked during it).
    pub found: Vec<ProcInfo>,
    /// Those still alive after the grace period: they ignored SIGTERM and got SIGKILL.
    pub killed: Vec<ProcInfo>,
    /// Those still alive after SIGKILL and the verification wait.
    pub survived: Vec<ProcInfo>,
}

impl StopReport {
    pub(crate) fn nothing(mechanism: Mechanism) -> StopReport {
        StopReport {
            mechanism,
            found: Vec::new(),
            killed: Vec::new(),
            survived: Vec::new(),
        }
    }

    /// Nothing of the command remains.
    pub fn clean(&self) -> bool {
        self.survived.is_empty()
    }

    /// For evidence: mechanism, counts and the processes that needed SIGKILL or survived.
    pub fn evidence(&self) -> serde_json::Value {
        let list = |procs: &[ProcInfo]| {
            procs
                .iter()
                .map(|p| serde_json::json!({ "pid": p.pid, "name": p.name }))
                .collect::<Vec<_>>()
        };
        serde_json::json!({
            "mechanism": self.mechanism.as_str(),
            "processes": self.found.len(),
            "exited_on_sigterm": self.found.len() - self.killed.len(),
            "killed": list(&self.killed),
            "survived": list(&self.survived),
        })
    }
}

/// The run's cgroup directory, when cgroups are usable.
#[derive(Debug)]
pub(crate) struct RunCgroup {
    dir: PathBuf,
    /// Set when joining a cgroup failed once: the rest of the run uses the fallback.
    broken: AtomicBool,
}

impl RunCgroup {
    /// Create `devops-agent-<pid>` under devops-agent's own cgroup2 directory, if the
    /// hierarchy is mounted and writable and the fallback is not forced.
    pub(crate) fn create() -> Option<RunCgroup> {
        if std::env::var("DEVOPS_AGENT_CONTAINMENT").is_ok_and(|v| v == "subreaper") {
            return None;
        }
        let base = own_cgroup_dir()?;
        remove_stale(&base);
        let dir = base.join(format!("devops-agent-{}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                tracing::debug!("no cgroup for this run ({}): {e}", dir.display());
                return None;
            }
        }
        // A cgroup without `cgroup.kill` (kernels before 5.14) still lists its members; the
        // KILL then goes to each of them.
        Some(RunCgroup {
            dir,
            broken: AtomicBool::new(false),
        })
    }

    pub(crate) fn usable(&self) -> bool {
        !self.broken.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_broken(&self, why: &std::io::Error) {
        tracing::debug!("cannot join a cgroup ({why}); falling back to the subreaper tree");
        self.broken.store(true, Ordering::Relaxed);
    }

    /// A new cgroup for one command, and its `cgroup.procs` opened for the child to join with.
    pub(crate) fn command(&self, n: u64) -> std::io::Result<(PathBuf, OwnedFd)> {
        let dir = self.dir.join(format!("cmd-{n}"));
        fs::create_dir(&dir)?;
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .inspect_err(|_| {
                let _ = fs::remove_dir(&dir);
            })?;
        Ok((dir, procs.into()))
    }

    /// Remove the run's directory (each command's is removed when it is stopped).
    pub(crate) fn remove(&self) {
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("cmd-") {
                    let _ = fs::remove_dir(e.path());
                }
            }
        }
        let _ = fs::remove_dir(&self.dir);
    }

    /// Command cgroups still present (not yet stopped).
    pub(crate) fn leftover_commands(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("cmd-"))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// devops-agent's own directory in the cgroup2 hierarchy: the `0::` line of
/// `/proc/self/cgroup` under the cgroup2 mount point from `/proc/self/mountinfo`.
fn own_cgroup_dir() -> Option<PathBuf> {
    let cgroup = fs::read_to_string("/proc/self/cgroup").ok()?;
    let relative = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|line| {
        // id parent major:minor root mount-point options ... - fstype source options
        let (left, right) = line.split_once(" - ")?;
        if !right.starts_with("cgroup2 ") {
            return None;
        }
        let fields: Vec<&str> = left.split(' ').collect();
        Some((fields.get(3)?.to_string(), fields.get(4)?.to_string()))
    })?;
    let (root, point) = mount;
    // In a cgroup namespace the mount's root is where `0::/` points; outside, it is `/`.
    let inside = if root == "/" {
        relative
    } else {
        relative.strip_prefix(root.as_str()).unwrap_or(relative)
    };
    let dir = Path::new(&point).join(inside.trim_start_matches('/'));
    dir.join("cgroup.procs").is_file().then_some(dir)
}

/// Remove empty run directories left by devops-agent processes that died without cleaning
/// up (killed with SIGKILL). A directory still holding processes is left alone.
fn remove_stale(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("devops-agent-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if procfs::stat(pid).is_some() {
            continue;
        }
        if let Ok(cmds) = fs::read_dir(e.path()) {
            for c in cmds.flatten() {
                let _ = fs::remove_dir(c.path());
            }
        }
        let _ = fs::remove_dir(e.path());
    }
}

/// Where one command's processes live.
#[derive(Debug)]
pub(crate) struct Enclosure {
    pub(crate) mechanism: Mechanism,
    /// The command's own cgroup (cgroup mechanism).
    cgroup: Option<PathBuf>,
    /// `DEVOPS_AGENT_JOB=<tag>` in the environment of its processes (subreaper mechanism).
    tag: String,
    /// The command's pid and process group.
    pub(crate) root: u32,
}

/// The mechanism for a command without a cgroup.
pub(crate) fn fallback_mechanism() -> Mechanism {
    if SUBREAPER.load(Ordering::Relaxed) {
        Mechanism::Subreaper
    } else {
        Mechanism::ProcessTree
    }
}

impl Enclosure {
    pub(crate) fn new(cgroup: Option<PathBuf>, tag: String, root: u32) -> Enclosure {
        let mechanism = if cgroup.is_some() {
            Mechanism::CgroupV2
        } else {
            fallback_mechanism()
        };
        Enclosure {
            mechanism,
            cgroup,
            tag,
            root,
        }
    }

    /// The environment entry that tags this command's processes.
    pub(crate) fn tag_entry(tag: &str) -> String {
        format!("{JOB_VAR}={tag}")
    }

    /// Every living process of the command. `roots` are the commands devops-agent started on
    /// purpose (their re-parented orphans are attributed by tag, the roots themselves never).
    pub(crate) fn members(&self, roots: &[u32]) -> Vec<ProcInfo> {
        let pids = match &self.cgroup {
            Some(dir) => fs::read_to_string(dir.join("cgroup.procs"))
                .map(|t| {
                    t.split_whitespace()
                        .filter_map(|n| n.parse::<u32>().ok())
                        .collect()
                })
                .unwrap_or_default(),
            None => self.tree_members(roots),
        };
        let mut out: Vec<ProcInfo> = pids.into_iter().filter_map(ProcInfo::read).collect();
        out.sort_by_key(|p| p.pid);
        out.dedup_by_key(|p| p.pid);
        out
    }

    fn tree_members(&self, roots: &[u32]) -> Vec<u32> {
        let children = Children::snapshot();
        let mut pids = vec![self.root];
        pids.extend(children.descendants(self.root));
        let tag = Enclosure::tag_entry(&self.tag);
        for orphan in children.of(std::process::id()) {
            if !roots.contains(&orphan) && procfs::environ_has(orphan, &tag) {
                pids.push(orphan);
                pids.extend(children.descendants(orphan));
            }
        }
        if let Some(table) = self.group_members() {
            pids.extend(table);
        }
        pids
    }

    /// Processes still in the command's process group, for the weakest mechanism (no
    /// subreaper: an orphan in the group is no longer a descendant).
    fn group_members(&self) -> Option<Vec<u32>> {
        if self.mechanism != Mechanism::ProcessTree {
            return None;
        }
        Some(
            procfs::table()
                .values()
                .filter(|p| p.pgid == self.root)
                .map(|p| p.pid)
                .collect(),
        )
    }

    /// Wait up to `within` for the command's processes to exit on their own (a build's helper
    /// finishing as its parent exits); return those still running.
    pub(crate) async fn left_running(&self, roots: &[u32], within: Duration) -> Vec<ProcInfo> {
        let deadline = Instant::now() + within;
        loop {
            let members = self.members(roots);
            if members.is_empty() || Instant::now() >= deadline {
                return members;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM to every process, up to `grace` for them to exit, SIGKILL to what remains,
    /// then verify nothing is left.
    pub(crate) async fn stop(&self, roots: &[u32], grace: Duration) -> StopReport {
        let mut found = self.members(roots);
        if found.is_empty() {
            reap_orphans(roots);
            self.remove_cgroup();
            return StopReport::nothing(self.mechanism);
        }
        self.signal(&found, Signal::TERM);
        let deadline = Instant::now() + grace;
        // Poll only the processes already known; one full listing at the end picks up any
        // forked meanwhile.
        while Instant::now() < deadline && found.iter().any(ProcInfo::alive) {
            tokio::time::sleep(POLL).await;
        }
        let mut remaining = self.members(roots);
        for p in &remaining {
            if !found.iter().any(|f| f.pid == p.pid) {
                found.push(p.clone());
            }
        }
        let mut killed = Vec::new();
        let verify_until = Instant::now() + VERIFY;
        while !remaining.is_empty() {
            for p in &remaining {
                if !killed.iter().any(|k: &ProcInfo| k.pid == p.pid) {
                    killed.push(p.clone());
                }
            }
            self.kill(&remaining);
            if Instant::now() >= verify_until {
                break;
            }
            tokio::time::sleep(POLL).await;
            remaining = self.members(roots);
            for p in &remaining {
                if !found.iter().any(|f| f.pid == p.pid) {
                    found.push(p.clone());
                }
            }
        }
        reap_orphans(roots);
        let survived = self.members(roots);
        if survived.is_empty() {
            self.remove_cgroup();
        }
        StopReport {
            mechanism: self.mechanism,
            found,
            killed,
            survived,
        }
    }

    fn signal(&self, procs: &[ProcInfo], signal: Signal) {
        // The group first: a process forked since the listing is usually still in it.
        if let Some(pgid) = pid(self.root) {
            let _ = kill_process_group(pgid, signal);
        }
        for p in procs {
            if let Some(pid) = pid(p.pid)
                && p.alive()
            {
                let _ = kill_process(pid, signal);
            }
        }
    }

    fn kill(&self, procs: &[ProcInfo]) {
        if let Some(dir) = &self.cgroup
            && fs::write(dir.join("cgroup.kill"), "1").is_ok()
        {
            return;
        }
        self.signal(procs, Signal::KILL);
    }

    fn remove_cgroup(&self) {
        if let Some(dir) = &self.cgroup {
            let _ = fs::remove_dir(dir);
        }
    }
}

fn pid(raw: u32) -> Option<Pid> {
    i32::try_from(raw).ok().and_then(Pid::from_raw)
}

/// Collect the exit status of devops-agent's children that are zombies and were not started
/// on purpose (orphans re-parented to the subreaper), so none lingers. The commands' own
/// roots are left to their `Child` handle.
pub(crate) fn reap_orphans(roots: &[u32]) {
    let children = Children::snapshot();
    for child in children.of(std::process::id()) {
        if roots.contains(&child) || !procfs::stat(child).is_some_and(|s| s.zombie) {
            continue;
        }
        if let Some(pid) = pid(child) {
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
        }
    }
}

/// Every living descendant of devops-agent that is not one of `roots`: what would outlive the
/// run if nothing stopped it.
pub(crate) fn strays(roots: &[u32]) -> Vec<ProcInfo> {
    let children = Children::snapshot();
    children
        .descendants(std::process::id())
        .into_iter()
        .filter(|p| !roots.contains(p))
        .filter_map(ProcInfo::read)
        .collect()
}

/// SIGTERM, `grace`, SIGKILL for loose processes (the run's final sweep).
pub(crate) async fn stop_loose(procs: &[ProcInfo], grace: Duration) {
    for p in procs {
        if let Some(pid) = pid(p.pid) {
            let _ = kill_process(pid, Signal::TERM);
        }
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && procs.iter().any(ProcInfo::alive) {
        tokio::time::sleep(POLL).await;
    }
    for p in procs.iter().filter(|p| p.alive()) {
        if let Some(pid) = pid(p.pid) {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
    tokio::time::sleep(POLL).await;
    reap_orphans(&[]);
}
