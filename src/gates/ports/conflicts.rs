//! `ports.no_conflicts`: effective host ports are distinct within what runs together and are
//! not held by another process (IPv4 or IPv6, wildcard or loopback).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Instant;

use super::decl::{Declarations, PortDecl};
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
            Err(why) => findings.push(
                Finding::new(
                    Severity::Error,
                    format!(
                        "cannot resolve the host port of `{}` ({}): {why}",
                        decl.service, decl.expression
                    ),
                )
                .at(&decl.file, Some(decl.line), decl.column),
            ),
        }
    }

    // Two services of one scope on the same host port.
    let mut duplicates = 0usize;
    for (i, a) in resolved.iter().enumerate() {
        for b in &resolved[i + 1..] {
            let same_scope = a.decl.scope == b.decl.scope;
            let different = a.decl.service != b.decl.service
                || (a.decl.raw == b.decl.raw && a.decl.line != b.decl.line);
            if same_scope
                && different
                && a.proto == b.proto
                && a.first <= b.last
                && b.first <= a.last
                && ips_overlap(a.decl.host_ip.as_deref(), b.decl.host_ip.as_deref())
            {
                duplicates += 1;
                let port = a.first.max(b.first);
                findings.push(
                    Finding::new(
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
                    .at(&b.decl.file, Some(b.decl.line), b.decl.column)
                    .suggest(format!(
                        "give `{}` its own port variable, e.g. ${{{}:-{}}}",
                        b.decl.service,
                        b.decl.suggested_var(0),
                        port.saturating_add(1)
                    )),
                );
            }
        }
    }

    // A configured port already held by a process on this machine.
    let protos: Vec<Proto> = resolved.iter().map(|r| r.proto).collect();
    let listeners = probe::listeners(&protos);
    let mut held: Vec<(&Resolved, &Listener)> = Vec::new();
    for r in &resolved {
        for l in &listeners {
            if l.proto == r.proto
                && (r.first..=r.last).contains(&l.port)
                && binds_overlap(r.decl.host_ip.as_deref(), l.addr)
            {
                held.push((r, l));
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
        findings.push(
            Finding::new(
                Severity::Error,
                format!(
                    "port {port}/{} of `{service}` is already in use on {} by {}",
                    proto.as_str(),
                    addrs.join(" and "),
                    holders.join("; ")
                ),
            )
            .at(&r.decl.file, Some(r.decl.line), r.decl.column)
            .suggest("stop that process, or run `devops-agent ports allocate` to move this project to free ports"),
        );
    }

    // A port another project reserved with `ports allocate`.
    let here = project.root.to_string_lossy();
    for r in &resolved {
        for res in reservations {
            if res.project != here && (r.first..=r.last).contains(&res.port) {
                findings.push(
                    Finding::new(
                        Severity::Warning,
                        format!(
                            "port {} of `{}` is reserved by another project ({}, {})",
                            res.port, r.decl.service, res.project, res.variable
                        ),
                    )
                    .at(&r.decl.file, Some(r.decl.line), r.decl.column)
                    .suggest(
                        "run `devops-agent ports allocate` to pick ports no other project holds",
                    ),
                );
            }
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
    let warnings = findings.len() - errors;
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
        (
            Status::Failed,
            format!(
                "{errors} port conflict(s): {duplicates} duplicate host port(s), {in_use} port(s) already in use"
            ),
        )
    } else if warnings > 0 {
        (
            Status::Warning,
            format!("{warnings} port(s) are reserved by other projects"),
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
        .evidence("checked_ports", &checked)
        .evidence("listening_sockets_scanned", listeners.len());
    result.duration = started.elapsed();
    result
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
