//! The fixes port findings suggest, each written in its file's own syntax, so that applying it
//! as written clears the finding (the test suite applies every one and runs the checks again).
//!
//! A fix is the text that replaces what the finding points at:
//! * with a column (a compose short-syntax entry): the YAML scalar that starts there;
//! * with a line only: the line's content after its indentation (and a YAML `- ` marker),
//!   before a JSON trailing comma; a fix of several lines replaces that one line with them;
//! * with neither: a line appended to the file.
//!
//! Kubernetes values are written for GNU `envsubst` (gettext), the renderer most pipelines
//! pipe manifests through: it substitutes `$VAR` and `${VAR}` only, so a fix is an unquoted
//! `${VAR}` (an integer after substitution; empty when unset, which leaves the choice of node
//! port to the cluster). Helm and kustomize do not read environment variables at all.

use std::collections::HashSet;

use super::decl::{PortDecl, Written};
use crate::project::{K8sPortKind, Project};

/// One suggested edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fix {
    pub(crate) file: String,
    pub(crate) line: Option<u64>,
    pub(crate) column: Option<u64>,
    pub(crate) text: String,
}

impl Fix {
    /// A fix at the declaration: the scalar at its column for a compose short-syntax entry,
    /// its whole line everywhere else.
    fn at_decl(decl: &PortDecl, text: String) -> Fix {
        let column = match decl.written {
            Written::Compose { long: false } => decl.column,
            _ => None,
        };
        Fix {
            file: decl.file.clone(),
            line: Some(decl.line),
            column,
            text,
        }
    }
}

/// Rewrite `decl` so its host port comes from `var`, defaulting to `default` (a port or
/// range). None when the declaration's file shape has no one-line fix (a Dockerfile `EXPOSE`
/// continued over several lines).
pub(crate) fn from_variable(decl: &PortDecl, var: &str, default: &str) -> Option<Fix> {
    let reference = format!("${{{var}:-{default}}}");
    let text = match &decl.written {
        Written::Compose { long: false } => format!("\"{}\"", replace_host(decl, &reference)),
        Written::Compose { long: true } => format!("published: \"{reference}\""),
        Written::K8s { .. } => {
            let kind = match decl.origin {
                super::decl::Origin::K8s(kind) => kind,
                _ => K8sPortKind::NodePort,
            };
            format!("{}: ${{{var}}}", kind.as_str())
        }
        Written::Dockerfile {
            words,
            index,
            continued,
            ..
        } => {
            if *continued {
                return None;
            }
            let mut words = words.clone();
            let proto = words[*index]
                .split_once('/')
                .map(|(_, p)| format!("/{p}"))
                .unwrap_or_default();
            words[*index] = format!("${{{var}}}{proto}");
            format!("ARG {var}={default}\nEXPOSE {}", words.join(" "))
        }
        Written::Script {
            name,
            command,
            offset,
            ..
        } => {
            let mut command = command.to_string();
            command.replace_range(*offset..*offset + decl.expression.len(), &reference);
            script_member(name, &command)
        }
        Written::Config => format!("port = \"{reference}\""),
    };
    Some(Fix::at_decl(decl, text))
}

/// A package.json `"name": "command"` member, JSON-escaped.
pub(crate) fn script_member(name: &str, command: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""));
    format!("{}: {}", quote(name), quote(command))
}

/// Move `decl` to host port `port` (keeping a range's width): in `.env` when its variable is
/// set there, else in the declaration with a new default. None when the variable comes from
/// the process environment, which no file edit changes.
pub(crate) fn move_to(decl: &PortDecl, project: &Project, port: u16) -> Option<Fix> {
    let width = decl
        .effective(project)
        .ok()
        .flatten()
        .map_or(0, |(a, b)| b - a);
    let value = if width == 0 {
        port.to_string()
    } else {
        format!("{port}-{}", port.saturating_add(width))
    };
    let var = &decl.fix_var;
    let own = decl.expr();
    let reads_var = matches!(
        &own,
        super::decl::PortExpr::EnvWithDefault { var: v, .. }
            | super::decl::PortExpr::EnvRequired { var: v }
            | super::decl::PortExpr::EnvNoDefault { var: v } if v == var
    );
    if reads_var {
        match project.env.source(var) {
            Some("process") => return None,
            Some(_) => {
                let path = project.root.join(".env");
                let line = crate::dotenv::load(&path)
                    .ok()
                    .flatten()
                    .and_then(|env| env.get(var).map(|e| e.line as u64))?;
                return Some(Fix {
                    file: ".env".to_owned(),
                    line: Some(line),
                    column: None,
                    text: format!("{var}={value}"),
                });
            }
            None => {}
        }
    }
    from_variable(decl, var, &value)
}

/// The first port at or above `from` (with `width` more after it) that no declaration, socket
/// or reservation holds and that no other fix took.
pub(crate) fn free_port(from: u16, width: u16, taken: &mut HashSet<u16>) -> Option<u16> {
    let mut port = from.max(1);
    loop {
        let end = port.checked_add(width)?;
        if (port..=end).all(|p| !taken.contains(&p)) {
            taken.extend(port..=end);
            return Some(port);
        }
        port = port.checked_add(1)?;
    }
}

/// Rebuild a compose short-syntax entry with a new host side, keeping address and protocol.
fn replace_host(decl: &PortDecl, host: &str) -> String {
    let mut out = String::new();
    if let Some(ip) = &decl.host_ip {
        if ip.contains(':') {
            out.push('[');
            out.push_str(ip);
            out.push_str("]:");
        } else {
            out.push_str(ip);
            out.push(':');
        }
    }
    out.push_str(host);
    out.push(':');
    out.push_str(decl.target.as_deref().unwrap_or(""));
    if decl.protocol != "tcp" {
        out.push('/');
        out.push_str(&decl.protocol);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::decl::upper_ident;
    use super::*;

    #[test]
    fn free_ports_skip_taken_and_reserve() {
        let mut taken: HashSet<u16> = [4001, 4002].into_iter().collect();
        assert_eq!(free_port(4001, 0, &mut taken), Some(4003));
        assert_eq!(free_port(4001, 1, &mut taken), Some(4004));
        assert!(taken.contains(&4005));
        assert_eq!(free_port(65535, 1, &mut taken), None);
        assert_eq!(upper_ident("web-app/x"), "WEB_APP_X");
        assert_eq!(upper_ident("1st"), "_1ST");
    }

    #[test]
    fn script_members_are_json() {
        let member = script_member("dev", "vite --port \"${WEB_PORT:-5173}\"");
        let parsed: serde_json::Value = serde_json::from_str(&format!("{{{member}}}")).unwrap();
        assert_eq!(parsed["dev"], "vite --port \"${WEB_PORT:-5173}\"");
    }
}
