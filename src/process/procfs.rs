//! Reading the process table from `/proc`: who is whose child, in which group, since when.

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

/// The processes descending from `root` (not including it) or belonging to its process group.
pub(crate) fn tree(table: &BTreeMap<u32, Proc>, root: u32, pgid: u32) -> Vec<Proc> {
    let mut found: Vec<Proc> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for p in table.values() {
            if p.ppid == parent && p.pid != root && !found.iter().any(|f| f.pid == p.pid) {
                found.push(*p);
                frontier.push(p.pid);
            }
        }
    }
    for p in table.values() {
        if p.pgid == pgid && p.pid != root && !found.iter().any(|f| f.pid == p.pid) {
            found.push(*p);
        }
    }
    found
}

/// Whether `p` is still the same, living (not zombie) process.
pub(crate) fn alive(p: &Proc) -> bool {
    stat(p.pid).is_some_and(|now| now.start == p.start && !now.zombie)
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
        assert!(alive(&me));
    }
}
