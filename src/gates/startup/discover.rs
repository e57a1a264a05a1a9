//! Where a started app really listens: the TCP sockets its process tree holds (from `/proc`),
//! and the URLs it printed (`Local:   http://localhost:5173/`). An app that ignores the port it
//! was offered is found there instead of being waited on for a minute.
//!
//! The process tree is read here rather than through `crate::process` because all that is
//! needed is "which pids belong to this group or descend from this root", once per poll; the
//! runner's tracker answers a different question (what to stop).

use std::collections::BTreeSet;
use std::fs;

use crate::framework::urls_in_log;
use crate::probe::{Proto, listeners};

/// A port the app was seen listening on, and how it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) port: u16,
    /// `listening socket of pid 123` or `log: Local:   http://localhost:5173/`.
    pub(crate) how: String,
}

/// Pids in process group `root` (every command runs in its own group) or descending from it.
fn tree(root: u32) -> BTreeSet<u32> {
    let mut parents: Vec<(u32, u32, u32)> = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the parenthesised name: state ppid pgrp …
            let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 1..)) else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if let (Some(Ok(ppid)), Some(Ok(pgid))) = (
                fields.get(1).map(|f| f.parse::<u32>()),
                fields.get(2).map(|f| f.parse::<u32>()),
            ) {
                parents.push((pid, ppid, pgid));
            }
        }
    }
    let mut found: BTreeSet<u32> = BTreeSet::from([root]);
    found.extend(parents.iter().filter(|p| p.2 == root).map(|p| p.0));
    loop {
        let before = found.len();
        for (pid, ppid, _) in &parents {
            if found.contains(ppid) {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// TCP ports listened on by the process tree of `root`.
pub(crate) fn tree_ports(root: u32) -> Vec<Seen> {
    let tcp = listeners(&[Proto::Tcp]);
    if tcp.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Seen> = Vec::new();
    for pid in tree(root) {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            for l in tcp.iter().filter(|l| l.inode == inode) {
                if !out.iter().any(|s| s.port == l.port) {
                    out.push(Seen {
                        port: l.port,
                        how: format!("listening socket {}:{} of pid {pid}", l.addr, l.port),
                    });
                }
            }
        }
    }
    out.sort_by_key(|s| s.port);
    out
}

/// Ports named by URLs in the output so far, framework banner lines first.
pub(crate) fn log_ports(output: &str, markers: &[&str]) -> Vec<Seen> {
    urls_in_log(output, markers)
        .into_iter()
        .map(|u| Seen {
            port: u.port,
            how: format!("log: {}", clip(&u.line)),
        })
        .collect()
}

fn clip(line: &str) -> String {
    if line.chars().count() > 120 {
        line.chars().take(120).collect::<String>() + "…"
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_listener_is_in_own_tree() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        // This test process is the root of its own lookup.
        let seen = tree_ports(std::process::id());
        assert!(seen.iter().any(|s| s.port == port), "{seen:?}");
    }
}
