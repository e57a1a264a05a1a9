//! Reading the process table from `/proc`: who is whose child, in which group, since when.
//! Only a run's own processes are read where the kernel allows it (`/proc/PID/task/*/children`);
//! the whole table is scanned only on kernels built without that file.

use std::collections::BTreeMap;
use std::fs;

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Proc {
    pub(crate) pid: u32,
    pub(crate) ppid: u32,
    pub(crate) pgid: u32,
    /// Start time in clock ticks since boot: with the pid, identifies a process across pid
    /// reuse.
    pub(crate) start: u64,
    pub(crate) zombie: bool,
}

/// Parse `/proc/<pid>/stat`. The command name is in parentheses and may itself contain spaces
/// and parentheses, so fields are counted from the last `)`.
pub(crate) fn stat(pid: u32) -> Option<Proc> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

fn parse_stat(pid: u32, text: &str) -> Option<Proc> {
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) pgrp(2) session(3) ... starttime(19)
    Some(Proc {
        pid,
        zombie: *fields.first()? == "Z",
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Every process on the machine, by pid.
pub(crate) fn table() -> BTreeMap<u32, Proc> {
    let mut out = BTreeMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        if let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            && let Some(p) = stat(pid)
        {
            out.insert(pid, p);
        }
    }
    out
}

/// Who is whose child: a way to walk down from a process without reading the whole table
/// when the kernel offers `/proc/PID/task/TID/children`.
pub(crate) enum Children {
    /// Read `/proc/PID/task/*/children` for each process asked about.
    Direct,
    /// The kernel has no `children` file: one scan of the table, grouped by parent.
    Table(BTreeMap<u32, Vec<u32>>),
}

impl Children {
    /// Prepare a walk: the direct files where they exist, else one table scan.
    pub(crate) fn snapshot() -> Children {
        let me = std::process::id();
        if fs::metadata(format!("/proc/{me}/task/{me}/children")).is_ok() {
            return Children::Direct;
        }
        let mut by_parent: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for p in table().values() {
            by_parent.entry(p.ppid).or_default().push(p.pid);
        }
        Children::Table(by_parent)
    }

    /// The children of `pid` (of all its threads).
    pub(crate) fn of(&self, pid: u32) -> Vec<u32> {
        match self {
            Children::Table(map) => map.get(&pid).cloned().unwrap_or_default(),
            Children::Direct => {
                let mut out = Vec::new();
                let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
                    return out;
                };
                for task in tasks.flatten() {
                    if let Ok(text) = fs::read_to_string(task.path().join("children")) {
                        out.extend(
                            text.split_whitespace()
                                .filter_map(|n| n.parse::<u32>().ok()),
                        );
                    }
                }
                out
            }
        }
    }

    /// Every descendant of `root`, not including it.
    pub(crate) fn descendants(&self, root: u32) -> Vec<u32> {
        let mut found = Vec::new();
        let mut frontier = vec![root];
        while let Some(parent) = frontier.pop() {
            for child in self.of(parent) {
                if child != root && !found.contains(&child) {
                    found.push(child);
                    frontier.push(child);
                }
            }
        }
        found
    }
}

/// The short command name (`/proc/PID/comm`, at most 15 bytes): safe to show, unlike the
/// command line, which can carry secrets passed as arguments.
pub(crate) fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned())
}

/// Whether the environment `pid` was started with contains the entry `needle` (`NAME=value`).
pub(crate) fn environ_has(pid: u32, needle: &str) -> bool {
    fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_parentheses_in_name() {
        let line = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 100 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let p = parse_stat(4242, line).unwrap();
        assert_eq!(
            (p.ppid, p.pgid, p.start, p.zombie),
            (1, 4242, 123_456, false)
        );
    }

    #[test]
    fn own_process_is_found() {
        let me = stat(std::process::id()).unwrap();
        assert!(!me.zombie);
    }
}
