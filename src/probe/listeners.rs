//! Who holds a port: listening sockets from `/proc/net/{tcp,tcp6,udp,udp6}` and their owning
//! processes from `/proc/<pid>/fd`.
//!
//! Reading the kernel's tables finds listeners a bind attempt misses: a socket bound to `::1`
//! only, one bound with `SO_REUSEPORT`, one in another address family. Owner lookup scans
//! `/proc/*/fd` only when there is an inode to look for, and only as far as permissions allow
//! (as non-root, other users' processes show no owner).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A socket listening (TCP) or bound (UDP) on a local port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub proto: Proto,
    pub addr: IpAddr,
    pub port: u16,
    pub inode: u64,
}

/// The process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// The command line (arguments joined by spaces), or the short name when it is empty.
    pub command: String,
    /// The process's working directory, when readable.
    pub cwd: Option<String>,
}

/// TCP state `LISTEN` in /proc/net/tcp.
const TCP_LISTEN: &str = "0A";
/// UDP sockets bound but not connected show state `CLOSE` (07).
const UDP_UNCONNECTED: &str = "07";

/// Every listening TCP socket and every bound, unconnected UDP socket of this network
/// namespace. Missing tables (no IPv6) are skipped.
pub fn listeners(protos: &[Proto]) -> Vec<Listener> {
    let mut out = Vec::new();
    for (file, proto, v6) in [
        ("/proc/net/tcp", Proto::Tcp, false),
        ("/proc/net/tcp6", Proto::Tcp, true),
        ("/proc/net/udp", Proto::Udp, false),
        ("/proc/net/udp6", Proto::Udp, true),
    ] {
        if !protos.contains(&proto) {
            continue;
        }
        if let Some(text) = read_proc_table(file) {
            parse_table(&text, proto, v6, &mut out);
        }
    }
    out
}

/// Read a /proc/net table in as few `read` calls as possible. The kernel walks its whole
/// socket hash for every call (milliseconds each on a busy machine), so the usual
/// grow-the-buffer loop would cost several walks per table. A `seq_file` read fills the buffer
/// with as many whole lines as fit, so a short read is the end of the table.
fn read_proc_table(path: &str) -> Option<String> {
    use std::io::Read;
    const CHUNK: usize = 1 << 20;
    let mut file = fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    loop {
        let start = bytes.len();
        bytes.resize(start + CHUNK, 0);
        let n = file.read(&mut bytes[start..]).ok()?;
        bytes.truncate(start + n);
        if n < CHUNK {
            break;
        }
    }
    String::from_utf8(bytes).ok()
}

fn parse_table(text: &str, proto: Proto, v6: bool, out: &mut Vec<Listener>) {
    let wanted = match proto {
        Proto::Tcp => TCP_LISTEN,
        Proto::Udp => UDP_UNCONNECTED,
    };
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9))
        else {
            continue;
        };
        if *state != wanted {
            continue;
        }
        let Some((addr_hex, port_hex)) = local.split_once(':') else {
            continue;
        };
        let (Some(addr), Ok(port), Ok(inode)) = (
            parse_addr(addr_hex, v6),
            u16::from_str_radix(port_hex, 16),
            inode.parse::<u64>(),
        ) else {
            continue;
        };
        out.push(Listener {
            proto,
            addr,
            port,
            inode,
        });
    }
}

/// The kernel prints addresses as 32-bit words in host byte order.
fn parse_addr(hex: &str, v6: bool) -> Option<IpAddr> {
    if v6 {
        if hex.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for word in 0..4 {
            let w = u32::from_str_radix(hex.get(word * 8..word * 8 + 8)?, 16).ok()?;
            bytes[word * 4..word * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        Some(IpAddr::V6(Ipv6Addr::from(bytes)))
    } else {
        let w = u32::from_str_radix(hex, 16).ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes())))
    }
}

/// Owners of the given socket inodes, found by scanning `/proc/<pid>/fd`. Stops as soon as all
/// are found.
pub fn owners(inodes: &BTreeSet<u64>) -> BTreeMap<u64, Owner> {
    let mut found = BTreeMap::new();
    if inodes.is_empty() {
        return found;
    }
    let Ok(procs) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if inodes.contains(&inode) && !found.contains_key(&inode) {
                found.insert(inode, describe(pid));
            }
        }
        if found.len() == inodes.len() {
            break;
        }
    }
    found
}

fn describe(pid: u32) -> Owner {
    let base = format!("/proc/{pid}");
    let cmdline = fs::read(format!("{base}/cmdline")).unwrap_or_default();
    let mut command = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ");
    if command.is_empty() {
        fs::read_to_string(format!("{base}/comm"))
            .unwrap_or_default()
            .trim()
            .clone_into(&mut command);
    }
    // Command lines can be long (and could carry secrets passed as arguments): keep the start.
    if command.chars().count() > 160 {
        command = command.chars().take(160).collect::<String>() + "…";
    }
    let cwd = fs::read_link(format!("{base}/cwd"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    Owner { pid, command, cwd }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_lines() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 23456 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:9C40 0100007F:1538 01 00000000:00000000 00:00000000 00000000   106        0 23457 1\n";
        let mut out = Vec::new();
        parse_table(v4, Proto::Tcp, false, &mut out);
        assert_eq!(out.len(), 1, "only LISTEN sockets");
        assert_eq!(out[0].addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(out[0].port, 5432);
        assert_eq!(out[0].inode, 23456);
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1\n";
        let mut out = Vec::new();
        parse_table(v6, Proto::Tcp, true, &mut out);
        assert_eq!(out[0].addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(out[0].port, 8080);
    }

    #[test]
    fn finds_own_listener_and_owner() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let all = listeners(&[Proto::Tcp]);
        let mine = all
            .iter()
            .find(|l| l.port == port && l.proto == Proto::Tcp)
            .unwrap();
        let owners = owners(&BTreeSet::from([mine.inode]));
        assert_eq!(owners[&mine.inode].pid, std::process::id());
    }
}
