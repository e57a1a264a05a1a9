//! The machine-wide port registry behind `ports allocate`: which project reserved which port,
//! so two projects on one machine never get the same ones.
//!
//! A JSON file in the user's state directory (`$DEVOPS_AGENT_STATE_DIR`, else
//! `$XDG_STATE_HOME/devops-agent`, else `~/.local/state/devops-agent`), changed only under an
//! exclusive `flock` on a sibling lock file and replaced atomically. A reservation is stale, and
//! reclaimed, when its project directory is gone or its `.env` no longer assigns that port.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long to wait for another devops-agent holding the registry lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// One reserved port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reservation {
    pub(crate) port: u16,
    /// Absolute project directory.
    pub(crate) project: String,
    pub(crate) variable: String,
    pub(crate) service: String,
    pub(crate) reserved_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    reservations: Vec<Reservation>,
}

/// The directory holding the registry.
pub fn state_dir() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("DEVOPS_AGENT_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = non_empty("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("devops-agent");
    }
    let home = non_empty("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".local/state/devops-agent")
}

/// Reservations still held, as last saved, without locking (for checks that only read). A
/// missing or unreadable registry reads as empty; a stale reservation (its project is gone, or
/// its `.env` no longer assigns that port) is left out, so no check warns about a port nobody
/// holds — `ports allocate` removes it from the file later.
/// A registry larger than this is not one devops-agent wrote.
const MAX_REGISTRY_BYTES: u64 = 16 * 1024 * 1024;

pub(crate) fn read(dir: &Path) -> Vec<Reservation> {
    let mut reservations: Vec<Reservation> =
        crate::fsread::read(&dir.join("ports.json"), MAX_REGISTRY_BYTES)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<RegistryFile>(&bytes).ok())
            .map(|f| f.reservations)
            .unwrap_or_default();
    // One `.env` read per project, however many ports it reserved.
    let mut envs: std::collections::HashMap<String, Option<crate::dotenv::DotEnv>> =
        std::collections::HashMap::new();
    reservations.retain(|r| {
        let env = envs
            .entry(r.project.clone())
            .or_insert_with(|| project_env(&r.project));
        held_by(r, env.as_ref())
    });
    reservations
}

/// The registry, opened for change: holds the lock until dropped.
pub(crate) struct Registry {
    _lock: File,
    path: PathBuf,
    pub(crate) reservations: Vec<Reservation>,
}

impl Registry {
    /// Lock and read the registry in `dir`, creating it when absent.
    pub(crate) fn open(dir: &Path) -> io::Result<Registry> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("ports.lock"))?;
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(e) if e == rustix::io::Errno::WOULDBLOCK && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(io::Error::from(e)),
            }
        }
        let path = dir.join("ports.json");
        let reservations = match crate::fsread::read(&path, MAX_REGISTRY_BYTES).map_err(|e| match e
        {
            crate::fsread::ReadError::Io(e) => e,
            other => io::Error::other(format!("{}: {other}", path.display())),
        }) {
            Ok(bytes) => match serde_json::from_slice::<RegistryFile>(&bytes) {
                Ok(file) => file.reservations,
                // An empty or garbage registry (a crash mid-write on a filesystem without
                // atomic rename, a hand edit) must not make every allocation fail until someone
                // finds and deletes it: keep it for inspection and start a fresh one. Other
                // projects' reservations are lost with it; their next allocate records them
                // again, and ports still held by running processes are seen as taken anyway.
                Err(e) => {
                    let aside = set_aside(&path)?;
                    tracing::warn!(
                        "the port registry {} was unreadable ({e}); moved it to {} and started a new one",
                        path.display(),
                        aside.display()
                    );
                    Vec::new()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Registry {
            _lock: lock,
            path,
            reservations,
        })
    }

    /// Drop reservations whose project is gone or whose `.env` no longer assigns the port.
    pub(crate) fn reclaim_stale(&mut self) -> Vec<Reservation> {
        let (keep, stale): (Vec<_>, Vec<_>) = self.reservations.drain(..).partition(still_held);
        self.reservations = keep;
        stale
    }

    /// Write the registry atomically (temporary file, then rename).
    pub(crate) fn save(&self) -> io::Result<()> {
        let file = RegistryFile {
            version: 1,
            reservations: self.reservations.clone(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        fs::write(&tmp, text)?;
        fs::rename(&tmp, &self.path)
    }
}

/// Rename a corrupt registry to `ports.json.corrupt-UNIXTIME[-N]` beside it (the lock is held).
fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut aside = path.with_extension(format!("json.corrupt-{stamp}"));
    let mut n = 1;
    while aside.exists() {
        aside = path.with_extension(format!("json.corrupt-{stamp}-{n}"));
        n += 1;
    }
    fs::rename(path, &aside)?;
    Ok(aside)
}

fn still_held(r: &Reservation) -> bool {
    held_by(r, project_env(&r.project).as_ref())
}

/// The `.env` of a reserving project; None when the project or its `.env` is gone or unreadable.
/// Only the reserved variable's value is compared; nothing of the file is kept or shown.
fn project_env(project: &str) -> Option<crate::dotenv::DotEnv> {
    let root = Path::new(project);
    if !root.is_dir() {
        return None;
    }
    crate::dotenv::load_other_project(&root.join(".env"))
        .ok()
        .flatten()
}

fn held_by(r: &Reservation, env: Option<&crate::dotenv::DotEnv>) -> bool {
    env.and_then(|env| env.get(&r.variable))
        .is_some_and(|e| e.value.trim() == r.port.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_garbage_registry_is_set_aside_and_rebuilt() {
        for garbage in ["", "   \n", "{not json", "[1,2,3]", "\u{0}\u{1}binary"] {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("ports.json"), garbage).unwrap();
            let mut registry = Registry::open(dir.path()).unwrap();
            assert!(registry.reservations.is_empty());
            let aside: Vec<String> = fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("ports.json.corrupt-"))
                .collect();
            assert_eq!(aside.len(), 1, "{garbage:?}: {aside:?}");
            assert_eq!(
                fs::read_to_string(dir.path().join(&aside[0])).unwrap(),
                garbage,
                "kept for inspection"
            );
            registry.reservations.push(Reservation {
                port: 20001,
                project: "/p".to_owned(),
                variable: "PORT".to_owned(),
                service: "web".to_owned(),
                reserved_at: "2026-12-01T00:00:00Z".to_owned(),
            });
            registry.save().unwrap();
            drop(registry);
            let saved: RegistryFile =
                serde_json::from_slice(&fs::read(dir.path().join("ports.json")).unwrap()).unwrap();
            assert_eq!(saved.reservations.len(), 1, "the new registry is valid");
        }
    }
}
