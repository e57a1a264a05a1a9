//! `ports allocate`: give every port variable of the project a free port, reserved across the
//! projects of this machine, and write them into the project's `.env`.
//!
//! For each variable the candidates are, in order: its current `.env` value, its default, the
//! next `[ports] search_width` ports above the default, then `[ports] allocate_range`. A
//! candidate is taken when no socket listens on it (IPv4 or IPv6, from /proc), a test bind on
//! all addresses succeeds, and no other project reserved it.

use std::collections::BTreeSet;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::path::PathBuf;

use super::decl::{Declarations, PortExpr, parse_range};
use super::registry::{Registry, Reservation};
use crate::probe;
use crate::project::Project;

/// One variable's allocated port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub variable: String,
    pub service: String,
    pub port: u16,
    /// The value `.env` held before, if any.
    pub previous: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AllocateError {
    #[error("port registry in {dir}")]
    Registry {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    EnvFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    DotEnv(crate::project::FileError),
    #[error("no free port for {variable} near {near} or in {from}-{to}")]
    NoFreePort {
        variable: String,
        near: u16,
        from: u16,
        to: u16,
    },
}

/// Allocate, reserve and write. Returns the allocations and the `.env` path written; no
/// variables means nothing is written.
pub fn allocate(
    project: &Project,
    decls: &Declarations,
    state_dir: &std::path::Path,
) -> Result<(Vec<Allocation>, PathBuf), AllocateError> {
    let env_path = project.root.join(".env");
    let existing = crate::dotenv::load(&env_path)
        .map_err(|e| AllocateError::DotEnv(crate::project::dotenv_file_error(&project.root, &e)))?;

    // Variables to allocate, first declaration wins for service name and default.
    let mut wanted: Vec<(String, String, Option<u16>, bool)> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for decl in decls.ports.iter().filter(|d| d.published) {
        // A nodePort must lie in the cluster's node-port range (30000-32767 by default), which
        // a free port on this machine says nothing about; unset, the cluster picks one.
        if decl.origin == super::decl::Origin::K8s(crate::project::K8sPortKind::NodePort) {
            continue;
        }
        let (var, default) = match decl.expr() {
            PortExpr::EnvWithDefault { var, default } => {
                (var, parse_range(&default).map(|(a, _)| a))
            }
            PortExpr::EnvRequired { var } | PortExpr::EnvNoDefault { var } => (
                var,
                decl.target.as_deref().and_then(parse_range).map(|(a, _)| a),
            ),
            PortExpr::Literal | PortExpr::Invalid(_) => continue,
        };
        if seen.insert(var.clone()) {
            wanted.push((var, decl.service.clone(), default, decl.protocol == "udp"));
        }
    }
    if wanted.is_empty() {
        return Ok((Vec::new(), env_path));
    }

    let dir = state_dir.to_owned();
    let registry_err = |source| AllocateError::Registry {
        dir: dir.display().to_string(),
        source,
    };
    let mut registry = Registry::open(state_dir).map_err(registry_err)?;
    registry.reclaim_stale();
    let here = project.root.to_string_lossy().into_owned();
    registry.reservations.retain(|r| r.project != here);

    let mut taken: BTreeSet<u16> = probe::listeners(&[probe::Proto::Tcp, probe::Proto::Udp])
        .iter()
        .map(|l| l.port)
        .collect();
    taken.extend(registry.reservations.iter().map(|r| r.port));

    let ports = &project.config.ports;
    let [range_from, range_to] = ports.allocate_range;
    let mut allocations = Vec::new();
    for (variable, service, default, udp) in wanted {
        let previous = existing
            .as_ref()
            .and_then(|e| e.get(&variable))
            .map(|e| e.value.clone());
        let current = previous
            .as_deref()
            .and_then(|v| v.trim().parse::<u16>().ok());
        let near = default.or(current).unwrap_or(range_from);
        let candidates = current
            .into_iter()
            .chain((0..=ports.search_width).filter_map(|i| near.checked_add(i)))
            .chain(range_from..=range_to)
            .filter(|p| *p != 0);
        let mut chosen = None;
        for candidate in candidates {
            if !taken.contains(&candidate) && bindable(candidate, udp) {
                chosen = Some(candidate);
                break;
            }
        }
        let Some(port) = chosen else {
            return Err(AllocateError::NoFreePort {
                variable,
                near,
                from: range_from,
                to: range_to,
            });
        };
        taken.insert(port);
        allocations.push(Allocation {
            variable,
            service,
            port,
            previous,
        });
    }

    let read = crate::fsread::read(&env_path, crate::dotenv::MAX_DOTENV_BYTES).and_then(|b| {
        String::from_utf8(b).map_err(|e| {
            crate::fsread::ReadError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })
    });
    let text = match read {
        Ok(text) => text,
        Err(e) if e.is_not_found() => String::new(),
        Err(e) => {
            let source = match e {
                crate::fsread::ReadError::Io(e) => e,
                other => std::io::Error::other(other.to_string()),
            };
            return Err(AllocateError::EnvFile {
                path: env_path.display().to_string(),
                source,
            });
        }
    };
    let updates: Vec<(String, String)> = allocations
        .iter()
        .map(|a| (a.variable.clone(), a.port.to_string()))
        .collect();
    let new_text = crate::dotenv::set_vars(&text, &updates);
    write_preserving_mode(&env_path, &new_text).map_err(|source| AllocateError::EnvFile {
        path: env_path.display().to_string(),
        source,
    })?;

    let now = crate::report::now_rfc3339();
    registry
        .reservations
        .extend(allocations.iter().map(|a| Reservation {
            port: a.port,
            project: here.clone(),
            variable: a.variable.clone(),
            service: a.service.clone(),
            reserved_at: now.clone(),
        }));
    registry.save().map_err(registry_err)?;
    Ok((allocations, env_path))
}

/// Whether a test bind on all IPv4 and (where the machine has IPv6) all IPv6 addresses works.
fn bindable(port: u16, udp: bool) -> bool {
    if udp {
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok()
    } else {
        let v4 = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok();
        let v6 = match TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::AddrNotAvailable,
        };
        v4 && v6
    }
}

/// Replace `path` atomically, keeping the old file's permissions (a `.env` is often 0600).
fn write_preserving_mode(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_file_name(".env.devops-agent.tmp");
    fs::write(&tmp, text)?;
    if let Ok(meta) = fs::metadata(path) {
        fs::set_permissions(&tmp, meta.permissions())?;
    }
    fs::rename(&tmp, path)
}
