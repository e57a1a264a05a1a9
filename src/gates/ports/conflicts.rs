//! `ports.no_conflicts`: effective host ports are distinct within what runs together and are
//! not held by another process (IPv4 or IPv6, wildcard or loopback).
//!
//! Everything here is linear in the number of declarations (plus a sort): duplicates are
//! found by sweeping each scope's port intervals in order, listeners and reservations are
//! looked up by port, so ten thousand compose services cost milliseconds, not a pairwise
//! comparison of all of them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::time::Instant;

use schemars::JsonSchema;
use serde::Serialize;

use super::decl::{Declarations, PortDecl};
use super::fix;
use super::registry::Reservation;
use crate::check::{CheckId, CheckResult, Finding, Severity, Status};
use crate::probe::{self, Listener, Proto};
use crate::project::Project;

/// One published port after interpolation.
struct Resolved<'a> {
    decl: &'a PortDecl,
    first: u16,
    last: u16,
    proto: Proto,
}

pub(crate) fn check(
    project: &Project,
    decls: &Declarations,
    reservations: &[Reservation],
) -> CheckResult {
    let started = Instant::now();
    let mut findings = Vec::new();
    let mut resolved = Vec::new();
    let mut unresolved = 0usize;

    for decl in decls.ports.iter().filter(|d| d.published) {
        match decl.effective(project) {
            Ok(Some((first, last))) => resolved.push(Resolved {
                decl,
                first,
                last,
                proto: if decl.protocol == "udp" {
                    Proto::Udp
                } else {
                    Proto::Tcp
                },
            }),
            Ok(None) => {}
            Err(why) => {
                unresolved += 1;
                findings.push(
                    Finding::new(
                        Severity::Error,
                        format!(
                            "cannot resolve the host port of `{}` ({}): {why}",
                            decl.service, decl.expression
                        ),
                    )
                    .at(&decl.file, Some(decl.line), decl.column),
                );
            }
        }
    }

    // Ports a fix must not move onto: every resolved port, every listener, every reservation.
    let protos: Vec<Proto> = resolved.iter().map(|r| r.proto).collect();
    let listeners = probe::listeners(&protos);
    let mut taken: HashSet<u16> = HashSet::new();
    for r in &resolved {
        taken.extend(r.first..=r.last);
    }
    taken.extend(listeners.iter().map(|l| l.port));
    taken.extend(reservations.iter().map(|r| r.port));
    let mut moved = |r: &Resolved, from: u16| {
        fix::free_port(from, r.last - r.first, &mut taken)
            .and_then(|port| fix::move_to(r.decl, project, port))
    };

    // Two services of one scope on the same host port.
    let mut duplicates = 0usize;
    for (a, b) in duplicate_pairs(&resolved) {
        duplicates += 1;
        let port = a.first.max(b.first);
        let fixed = moved(b, port.saturating_add(1));
        let mut finding = Finding::new(
            Severity::Error,
            format!(
                "host port {port}/{} is published by both `{}` ({}) and `{}` ({})",
                a.proto.as_str(),
                a.decl.service,
                a.decl.location(),
                b.decl.service,
                b.decl.location()
            ),
        )
        .at(&b.decl.file, Some(b.decl.line), b.decl.column);
        finding = located_fix(finding, fixed);
        findings.push(finding);
    }

    // A configured port already held by a process on this machine.
    let mut by_port: HashMap<(u16, Proto), Vec<&Listener>> = HashMap::new();
    for l in &listeners {
        by_port.entry((l.port, l.proto)).or_default().push(l);
    }
    let mut held: Vec<(&Resolved, &Listener)> = Vec::new();
    for r in &resolved {
        // A range wider than the listener table is looked up the other way round.
        if usize::from(r.last - r.first) < listeners.len() {
            for port in r.first..=r.last {
                for l in by_port.get(&(port, r.proto)).into_iter().flatten() {
                    if binds_overlap(r.decl.host_ip.as_deref(), l.addr) {
                        held.push((r, l));
                    }
                }
            }
        } else {
            for l in &listeners {
                if l.proto == r.proto
                    && (r.first..=r.last).contains(&l.port)
                    && binds_overlap(r.decl.host_ip.as_deref(), l.addr)
                {
                    held.push((r, l));
                }
            }
        }
    }
    let inodes: BTreeSet<u64> = held.iter().map(|(_, l)| l.inode).collect();
    let owners = probe::owners(&inodes);
    // One finding per service and port, listing every address it is held on.
    let mut grouped: BTreeMap<(String, u16, Proto), (&Resolved, Vec<&Listener>)> = BTreeMap::new();
    for (r, l) in &held {
        grouped
            .entry((r.decl.service.clone(), l.port, l.proto))
            .or_insert_with(|| (r, Vec::new()))
            .1
            .push(l);
    }
    let in_use = grouped.len();
    for ((service, port, proto), (r, sockets)) in &grouped {
        let addrs: Vec<String> = sockets.iter().map(|l| show_addr(l.addr)).collect();
        let mut holders: Vec<String> = Vec::new();
        for l in sockets {
            let who = owners.get(&l.inode).map_or_else(
                || {
                    "a process devops-agent cannot see (run as its owner or root to name it)"
                        .to_owned()
                },
                |owner| describe_owner(owner, project),
            );
            if !holders.contains(&who) {
                holders.push(who);
            }
        }
        let fixed = moved(r, port.saturating_add(1));
        let finding = Finding::new(
            Severity::Error,
            format!(
                "port {port}/{} of `{service}` is already in use on {} by {}; stop that process, move to a free port, or run `devops-agent ports allocate`",
                proto.as_str(),
                addrs.join(" and "),
                holders.join("; ")
            ),
        )
        .at(&r.decl.file, Some(r.decl.line), r.decl.column);
        findings.push(located_fix(finding, fixed));
    }

    // A port another project reserved with `ports allocate` (and still holds).
    let here = project.root.to_string_lossy();
    let mut reserved_at: HashMap<u16, Vec<&Reservation>> = HashMap::new();
    for res in reservations.iter().filter(|res| res.project != here) {
        reserved_at.entry(res.port).or_default().push(res);
    }
    let mut reserved = 0usize;
    for r in &resolved {
        let mut hits: Vec<&Reservation> = Vec::new();
        if usize::from(r.last - r.first) < reserved_at.len() {
            for port in r.first..=r.last {
                hits.extend(reserved_at.get(&port).into_iter().flatten().copied());
            }
        } else {
            hits.extend(
                reserved_at
                    .iter()
                    .filter(|(p, _)| (r.first..=r.last).contains(*p))
                    .flat_map(|(_, v)| v.iter().copied()),
            );
            hits.sort_by_key(|res| res.port);
        }
        for res in hits {
            reserved += 1;
            let fixed = moved(r, res.port.saturating_add(1));
            let finding = Finding::new(
                Severity::Warning,
                format!(
                    "port {} of `{}` is reserved by another project ({}, {}); move to a free port or run `devops-agent ports allocate`",
                    res.port, r.decl.service, res.project, res.variable
                ),
            )
            .at(&r.decl.file, Some(r.decl.line), r.decl.column);
            findings.push(located_fix(finding, fixed));
        }
    }

    let mut checked: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for r in &resolved {
        checked
            .entry(r.proto.as_str().to_owned())
            .or_default()
            .extend(r.first..=r.last.min(r.first.saturating_add(64)));
    }
    for ports in checked.values_mut() {
        ports.sort_unstable();
        ports.dedup();
    }

    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let (status, message) = if let Some(e) = project.env.dotenv_error.as_ref() {
        (
            Status::Error,
            format!("cannot read {e}; effective ports are unknown"),
        )
    } else if !decls.errors.is_empty() {
        (
            Status::Error,
            format!(
                "could not read {}; effective ports are unknown",
                decls.errors[0]
            ),
        )
    } else if resolved.is_empty() && findings.is_empty() {
        let reason = "no host port is published".to_owned();
        (
            Status::Skipped {
                reason: reason.clone(),
            },
            reason,
        )
    } else if errors > 0 {
        let mut parts = Vec::new();
        if unresolved > 0 {
            parts.push(format!("{unresolved} host port(s) cannot be resolved"));
        }
        if duplicates > 0 {
            parts.push(format!("{duplicates} duplicate host port(s)"));
        }
        if in_use > 0 {
            parts.push(format!("{in_use} port(s) already in use"));
        }
        if reserved > 0 {
            parts.push(format!("{reserved} port(s) reserved by other projects"));
        }
        (
            Status::Failed,
            format!("{} port problem(s): {}", findings.len(), parts.join(", ")),
        )
    } else if reserved > 0 {
        (
            Status::Warning,
            format!("{reserved} port(s) are reserved by other projects"),
        )
    } else {
        (
            Status::Passed,
            format!(
                "{} distinct host port(s) from {} declaration(s): none shared, none in use on this machine",
                checked.values().map(Vec::len).sum::<usize>(),
                resolved.len()
            ),
        )
    };
    let mut result = CheckResult::new(CheckId::PortsNoConflicts, status, message)
        .with_findings(findings)
        .with_evidence(&NoConflictsEvidence {
            checked_ports: checked,
            listening_sockets_scanned: listeners.len(),
        });
    result.duration = started.elapsed();
    result.started = Some(started);
    result
}

/// What `ports.no_conflicts` measured.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct NoConflictsEvidence {
    /// The host ports checked for sharing and for a foreign holder, per protocol (`tcp`,
    /// `udp`), sorted; a published range contributes at most its first 65 ports.
    pub(crate) checked_ports: BTreeMap<String, Vec<u16>>,
    /// How many listening sockets (IPv4 and IPv6, from `/proc/net`) were compared against them.
    pub(crate) listening_sockets_scanned: usize,
}

/// A finding with its fix; a fix in another file (`.env`) moves the finding there, so the
/// suggestion always applies at the finding's own location.
fn located_fix(finding: Finding, fix: Option<fix::Fix>) -> Finding {
    match fix {
        Some(fix) => finding.at(fix.file, fix.line, fix.column).suggest(fix.text),
        None => finding,
    }
}

/// Each declaration that overlaps an earlier one of its scope and protocol, with that earlier
/// one: a sweep over the intervals sorted by first port, keeping only those still open.
fn duplicate_pairs<'r, 'a>(
    resolved: &'r [Resolved<'a>],
) -> Vec<(&'r Resolved<'a>, &'r Resolved<'a>)> {
    let mut groups: HashMap<(&str, Proto), Vec<usize>> = HashMap::new();
    for (i, r) in resolved.iter().enumerate() {
        groups
            .entry((r.decl.scope.as_str(), r.proto))
            .or_default()
            .push(i);
    }
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for members in groups.values_mut() {
        members.sort_by_key(|&i| (resolved[i].first, i));
        let mut open: Vec<usize> = Vec::new();
        for &i in members.iter() {
            let b = &resolved[i];
            open.retain(|&j| resolved[j].last >= b.first);
            let earlier = open.iter().copied().find(|&j| {
                let a = &resolved[j];
                let different = a.decl.service != b.decl.service
                    || (a.decl.raw == b.decl.raw && a.decl.line != b.decl.line);
                different && ips_overlap(a.decl.host_ip.as_deref(), b.decl.host_ip.as_deref())
            });
            if let Some(j) = earlier {
                // Report the later declaration (in file order) against the earlier one.
                pairs.push((j.min(i), j.max(i)));
            }
            open.push(i);
        }
    }
    pairs.sort_unstable();
    let mut reported = HashSet::new();
    pairs.retain(|&(_, later)| reported.insert(later));
    pairs
        .into_iter()
        .map(|(a, b)| (&resolved[a], &resolved[b]))
        .collect()
}

fn is_wildcard(ip: Option<&str>) -> bool {
    matches!(ip, None | Some("" | "0.0.0.0" | "::" | "*"))
}

/// Whether two compose host addresses can bind the same port at once (no, if they overlap).
fn ips_overlap(a: Option<&str>, b: Option<&str>) -> bool {
    is_wildcard(a) || is_wildcard(b) || a == b
}

/// Whether a requested host address collides with a socket bound to `addr`. A wildcard request
/// collides with every listener (compose and dev servers bind all addresses, IPv4 and IPv6);
/// a specific address collides with the same address or a wildcard listener.
fn binds_overlap(requested: Option<&str>, addr: IpAddr) -> bool {
    if is_wildcard(requested) || addr.is_unspecified() {
        return true;
    }
    match requested {
        Some("localhost") => addr.is_loopback(),
        Some(ip) => ip.parse::<IpAddr>().is_ok_and(|ip| ip == addr),
        None => true,
    }
}

fn describe_owner(owner: &probe::Owner, project: &Project) -> String {
    let own = owner
        .cwd
        .as_deref()
        .is_some_and(|cwd| std::path::Path::new(cwd).starts_with(&project.root));
    let note = if own {
        ", whose working directory is inside this project: probably this project's own server still running"
    } else {
        ""
    };
    format!("pid {} ({}){note}", owner.pid, owner.command)
}

fn show_addr(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}
