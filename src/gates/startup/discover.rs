//! Where a started app really listens: the TCP sockets its process tree holds (from `/proc`),
//! and the URLs it printed (`Local:   http://localhost:5173/`). An app that ignores the port it
//! was offered is found there instead of being waited on for a minute.
//!
//! The process tree is read here rather than through `crate::process` because all that is
//! needed is "which pids belong to this group or descend from this root", once per poll; the
//! runner's tracker answers a different question (what to stop).
//!
//! A Node.js (or Deno) inspector is not the app: `nx serve`, `node --inspect` and
//! `NODE_OPTIONS=--inspect` open a `DevTools` socket (9229 by default) that answers any HTTP
//! request with `400 WebSockets request was expected`. A process whose only socket is its
//! inspector has not started the app, so inspector ports — from the process's arguments and
//! `NODE_OPTIONS`, and from the `Debugger listening on ws://…` line it prints (which also covers
//! `--inspect=0`) — are never taken for where the app listens; they are kept apart so a failure
//! can say what was ignored.

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

impl Seen {
    /// `5173 (log: Local: http://localhost:5173/), 9229 (listening socket …)`.
    pub(crate) fn list(seen: &[Seen]) -> String {
        let items: Vec<String> = seen
            .iter()
            .map(|d| format!("{} ({})", d.port, d.how))
            .collect();
        items.join(", ")
    }
}

/// The ports the tree's sockets and its output name: where the app may listen, and the
/// inspector ports that were set aside.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) ports: Vec<Seen>,
    pub(crate) inspectors: Vec<Seen>,
}

/// TCP ports listened on by the process tree of `root` (inspector ports apart), then the local
/// URLs `output` names (framework banner lines first).
pub(crate) fn found(root: u32, output: &str, markers: &[&str]) -> Found {
    let printed = inspector_ports_in_log(output);
    let tree = tree_ports(root, &printed);
    let mut ports: Vec<Seen> = Vec::new();
    for seen in log_ports(output, markers).into_iter().chain(tree.ports) {
        let inspector =
            printed.contains(&seen.port) || tree.inspectors.iter().any(|i| i.port == seen.port);
        if !inspector && !ports.iter().any(|f| f.port == seen.port) {
            ports.push(seen);
        }
    }
    Found {
        ports,
        inspectors: tree.inspectors,
    }
}

/// TCP ports listened on by the process tree of `root`. A socket on an inspector port of its
/// own process, or on one the output printed (`printed`), is an inspector.
fn tree_ports(root: u32, printed: &[u16]) -> Found {
    let tcp = listeners(&[Proto::Tcp]);
    let mut out = Found::default();
    if tcp.is_empty() {
        return out;
    }
    for pid in tree(root) {
        // Read only for a process that holds a listening socket.
        let mut inspectors: Option<Vec<(u16, String)>> = None;
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
                if out
                    .ports
                    .iter()
                    .chain(&out.inspectors)
                    .any(|s| s.port == l.port)
                {
                    continue;
                }
                let socket = format!("listening socket {}:{} of pid {pid}", l.addr, l.port);
                let own = inspectors.get_or_insert_with(|| inspector_ports(pid));
                if let Some((_, flag)) = own.iter().find(|i| i.0 == l.port) {
                    out.inspectors.push(Seen {
                        port: l.port,
                        how: format!("{socket}, the Node.js inspector it opened with {flag}"),
                    });
                } else if printed.contains(&l.port) {
                    out.inspectors.push(Seen {
                        port: l.port,
                        how: format!("{socket}, the debugger its output announced"),
                    });
                } else {
                    out.ports.push(Seen {
                        port: l.port,
                        how: socket,
                    });
                }
            }
        }
    }
    out.ports.sort_by_key(|s| s.port);
    out
}

/// Node's default inspector port (`--inspect` without a port; Deno uses it too).
const INSPECTOR_DEFAULT: u16 = 9229;

/// The inspector ports `pid` opens by its arguments and `NODE_OPTIONS`, each with the flag
/// that opens it (`--inspect`, `--inspect-brk=0.0.0.0:9230`, `NODE_OPTIONS=--inspect`).
fn inspector_ports(pid: u32) -> Vec<(u16, String)> {
    let args: Vec<String> = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let options: Vec<String> = fs::read(format!("/proc/{pid}/environ"))
        .ok()
        .and_then(|env| {
            env.split(|c| *c == 0)
                .find_map(|kv| kv.strip_prefix(b"NODE_OPTIONS="))
                .map(|v| {
                    String::from_utf8_lossy(v)
                        .split_whitespace()
                        .map(|o| o.trim_matches(['"', '\'']).to_owned())
                        .collect()
                })
        })
        .unwrap_or_default();
    let mut out = inspector_flags(&args, "");
    for (port, flag) in inspector_flags(&options, "NODE_OPTIONS=") {
        if !out.iter().any(|o| o.0 == port) {
            out.push((port, flag));
        }
    }
    out
}

/// The inspector a node command line opens: `--inspect`, `--inspect-brk` or `--inspect-wait`,
/// each with an optional `=[host:]port`, and `--inspect-port` (or the old `--debug-port`)
/// choosing the port; 9229 without one. Port 0 (a random port) is left to the printed line.
fn inspector_flags(args: &[String], prefix: &str) -> Vec<(u16, String)> {
    fn port_of(value: &str) -> Option<u16> {
        let port = value.rsplit_once(':').map_or(value, |(_, p)| p);
        port.parse::<u16>().ok()
    }
    let mut opened: Option<(Option<u16>, String)> = None;
    let mut chosen: Option<u16> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg.as_str(), None),
        };
        match name {
            "--inspect" | "--inspect-brk" | "--inspect-wait" => {
                // `--inspect=localhost` names a host and keeps the default port.
                let port = value.and_then(port_of);
                opened = Some((port, format!("{prefix}{arg}")));
            }
            "--inspect-port" | "--debug-port" => {
                let value = value.map(str::to_owned).or_else(|| args.next().cloned());
                chosen = value.as_deref().and_then(port_of);
            }
            _ => {}
        }
    }
    match opened {
        Some((port, flag)) => {
            let port = port.or(chosen).unwrap_or(INSPECTOR_DEFAULT);
            if port == 0 {
                Vec::new()
            } else {
                vec![(port, flag)]
            }
        }
        None => Vec::new(),
    }
}

/// Ports of the inspector lines in the output: Node and Deno print `Debugger listening on
/// ws://127.0.0.1:9229/<id>` when the inspector opens.
fn inspector_ports_in_log(output: &str) -> Vec<u16> {
    let clean = crate::process::strip_ansi(output);
    let mut out = Vec::new();
    for line in clean.lines() {
        let Some(at) = line.find("Debugger listening on ws://") else {
            continue;
        };
        let authority: &str = line[at + "Debugger listening on ws://".len()..]
            .split(['/', ' '])
            .next()
            .unwrap_or("");
        if let Some(port) = authority
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            && !out.contains(&port)
        {
            out.push(port);
        }
    }
    out
}

/// Ports named by URLs in the output so far, framework banner lines first.
fn log_ports(output: &str, markers: &[&str]) -> Vec<Seen> {
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
        let seen = tree_ports(std::process::id(), &[]);
        assert!(seen.ports.iter().any(|s| s.port == port), "{seen:?}");
    }

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn inspector_flags_as_node_reads_them() {
        for (line, want) in [
            ("node --inspect server.js", Some(9229)),
            ("node --inspect-brk server.js", Some(9229)),
            ("node --inspect-wait=9230 server.js", Some(9230)),
            ("node --inspect=0.0.0.0:9231 server.js", Some(9231)),
            ("node --inspect=[::1]:9232 server.js", Some(9232)),
            ("node --inspect=localhost server.js", Some(9229)),
            ("node --inspect-port=9233 --inspect server.js", Some(9233)),
            ("node --inspect --inspect-port 9234 server.js", Some(9234)),
            // A random port is only known from what node prints.
            ("node --inspect=0 server.js", None),
            // The port alone opens nothing.
            ("node --inspect-port=9235 server.js", None),
            ("node server.js --port 9229", None),
        ] {
            let got = inspector_flags(&args(line), "").first().map(|f| f.0);
            assert_eq!(got, want, "{line}");
        }
        assert_eq!(
            inspector_flags(&args("--inspect"), "NODE_OPTIONS="),
            vec![(9229, "NODE_OPTIONS=--inspect".to_owned())]
        );
    }

    #[test]
    fn inspector_lines_of_node_and_deno() {
        let log = "\u{1b}[33mDebugger listening on ws://127.0.0.1:9229/5657894e-c54d\u{1b}[0m\nFor help, see: https://docs.example/inspector\nDebugger listening on ws://[::1]:40123/ws/1f2e\nListening on http://localhost:3000/\n";
        assert_eq!(inspector_ports_in_log(log), vec![9229, 40123]);
        // The app's own URL is still a candidate; the inspector's is not.
        let found = found(std::process::id(), log, &[]);
        assert!(found.ports.iter().any(|s| s.port == 3000), "{found:?}");
        assert!(!found.ports.iter().any(|s| s.port == 9229), "{found:?}");
    }

    #[test]
    fn own_inspector_socket_is_set_apart() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let seen = tree_ports(std::process::id(), &[port]);
        assert!(!seen.ports.iter().any(|s| s.port == port), "{seen:?}");
        assert!(seen.inspectors.iter().any(|s| s.port == port), "{seen:?}");
    }
}
