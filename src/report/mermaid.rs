//! Mermaid diagrams for the markdown report, which GitHub renders in pull request comments and
//! step summaries: a `gantt` of the run (every gate, check and command with a measured start)
//! and a `graph` of the services (frontend → proxy → backend → databases) as the gates found
//! them.
//!
//! The Gantt uses `dateFormat x` (milliseconds) with the run's start at 0, so a task's start and
//! end are the measured `started_ms` and `started_ms + duration_ms`; its axis shows seconds and
//! milliseconds (`%S.%L`) for a run under a minute, minutes and seconds beyond (mermaid formats
//! the axis in the reader's time zone, which shifts minutes only in zones with a half-hour
//! offset). The graph draws only the hops a check established: the frontend's API base pointing
//! at the backend (`integration.frontend_backend`), nginx locations proxying to a service and
//! the dev-server proxy (`integration.api_proxy`), and the databases probed
//! (`startup.database_connections`). With nothing found there is no graph.
//!
//! Text from the project (service names, commands, labels) is reduced to what cannot end a
//! mermaid statement or label: `:`, `;`, `#`, quotes, backticks, brackets and line breaks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::model::{CheckStatus, Report};

/// Text for a Gantt task or section name: no `:` (ends the name), `;`/`#`/`%` (statement and
/// comment syntax), no line break.
fn task_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            ':' | ';' | '#' | '%' | '\n' | '\r' | '`' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let trimmed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if trimmed.is_empty() {
        "(unnamed)".to_owned()
    } else {
        trimmed
    }
}

/// Text inside a quoted node or edge label: mermaid's entity codes for what would end or open
/// markup there.
fn label_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '`' => out.push('\''),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn tag(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Passed | CheckStatus::Accepted => "done, ",
        CheckStatus::Failed | CheckStatus::Error => "crit, ",
        CheckStatus::Warning => "active, ",
        CheckStatus::Skipped => "",
    }
}

/// The run as a mermaid `gantt`, or `None` when nothing was timed.
pub(super) fn gantt(report: &Report) -> Option<String> {
    let mut body = String::new();
    let mut n = 0;
    let mut end = 0u64;
    let mut task = |body: &mut String, name: &str, tags: &str, start: u64, duration: u64| {
        n += 1;
        // A zero-length task is drawn as nothing; a millisecond keeps it visible.
        let stop = start + duration.max(1);
        end = end.max(stop);
        let _ = writeln!(body, "  {} :{tags}t{n}, {start}, {stop}", task_text(name));
    };
    for gate in &report.gates {
        let _ = writeln!(body, "  section {}", task_text(&gate.id));
        if let Some(start) = gate.started_ms {
            task(
                &mut body,
                &format!("gate {}", gate.id),
                tag(gate.status),
                start,
                gate.duration_ms,
            );
        }
        for check in &gate.checks {
            if let Some(start) = check.started_ms {
                task(
                    &mut body,
                    &check.id,
                    tag(check.status),
                    start,
                    check.duration_ms,
                );
            }
        }
        for c in report.commands.iter().filter(|c| c.gate == gate.id) {
            let failed = match (c.ending.as_deref(), c.exit_code) {
                (Some("exited"), Some(code)) => code != 0,
                (Some("stopped" | "exited" | "cancelled") | None, _) => false,
                (Some(_), _) => true,
            };
            // A command still running when the run ended is drawn to the run's end.
            let duration = c
                .duration_ms
                .unwrap_or_else(|| report.meta.duration_ms.saturating_sub(c.started_ms));
            task(
                &mut body,
                &format!("$ {} ({})", c.command, c.purpose),
                if failed { "crit, " } else { "" },
                c.started_ms,
                duration,
            );
        }
    }
    if n == 0 {
        return None;
    }
    let axis = if end < 60_000 { "%S.%L" } else { "%M:%S" };
    Some(format!(
        "gantt\n  title Run timeline (time since the run started)\n  dateFormat x\n  axisFormat {axis}\n{body}"
    ))
}

/// The evidence of check `id` and its status.
fn check<'a>(
    report: &'a Report,
    id: &str,
) -> Option<(&'a serde_json::Map<String, Value>, CheckStatus)> {
    report
        .gates
        .iter()
        .flat_map(|g| &g.checks)
        .find(|c| c.id == id)
        .map(|c| (&c.evidence, c.status))
}

fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

/// The services of the report with their host ports, from the startup gate's services and
/// the declared ports.
fn service_ports(report: &Report) -> BTreeMap<String, u16> {
    let mut ports = BTreeMap::new();
    for id in ["startup.dev_mode", "startup.prod_mode"] {
        for s in check(report, id)
            .and_then(|(e, _)| e.get("services"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(port)) = (
                s.get("service").and_then(Value::as_str),
                s.get("port")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok()),
            ) {
                ports.entry(name.to_owned()).or_insert(port);
            }
        }
    }
    for p in &report.infrastructure.ports {
        if let Some(port) = p.effective {
            ports.entry(p.service.clone()).or_insert(port);
        }
    }
    ports
}

struct Graph {
    nodes: BTreeMap<String, String>,
    edges: Vec<(String, String, String, bool)>,
}

impl Graph {
    fn node(&mut self, name: &str, label: String) -> String {
        let id: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let id = format!("n_{id}");
        self.nodes.entry(id.clone()).or_insert(label);
        id
    }

    fn edge(&mut self, from: String, to: String, label: String, failed: bool) {
        if !self
            .edges
            .iter()
            .any(|(f, t, l, _)| *f == from && *t == to && *l == label)
        {
            self.edges.push((from, to, label, failed));
        }
    }
}

/// The services and the hops between them the gates established, as a mermaid `graph`, or
/// `None` when no hop was found.
pub(super) fn services(report: &Report) -> Option<String> {
    let ports = service_ports(report);
    let by_port = |url: &str| {
        let port = port_of(url)?;
        ports
            .iter()
            .find(|(_, p)| **p == port)
            .map(|(s, _)| s.clone())
    };
    let mut g = Graph {
        nodes: BTreeMap::new(),
        edges: Vec::new(),
    };
    let service = |g: &mut Graph, name: &str| {
        let label = match ports.get(name) {
            Some(p) => format!("[\"{} :{p}\"]", label_text(name)),
            None => format!("[\"{}\"]", label_text(name)),
        };
        g.node(name, label)
    };
    let blocking = CheckStatus::is_blocking;
    let mut backend = None;
    if let Some((e, status)) = check(report, "integration.frontend_backend") {
        let front = e.get("frontend_origin").and_then(Value::as_str);
        let back = e.get("backend_url").and_then(Value::as_str);
        if let (Some(front), Some(back)) = (front, back) {
            let front = by_port(front).unwrap_or_else(|| "frontend".to_owned());
            let back = by_port(back).unwrap_or_else(|| "backend".to_owned());
            backend = Some(back.clone());
            let via = e
                .get("api_base")
                .and_then(|a| a.get("variable"))
                .and_then(Value::as_str)
                .map_or_else(|| "API calls".to_owned(), |v| format!("API base {v}"));
            let (f, b) = (service(&mut g, &front), service(&mut g, &back));
            g.edge(f, b, via, blocking(status));
        }
    }
    if let Some((e, status)) = check(report, "integration.api_proxy") {
        for t in e
            .get("nginx_targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(target) = t.get("target").and_then(Value::as_str) else {
                continue;
            };
            let host = target.split(':').next().unwrap_or(target);
            let location = t.get("location").and_then(Value::as_str).unwrap_or("/");
            let nginx = g.node("nginx", "{{\"nginx\"}}".to_owned());
            let to = service(&mut g, host);
            let failed = t.get("state").and_then(Value::as_str) != Some("matches");
            g.edge(nginx, to, format!("proxy {location}"), failed);
        }
        if let Some(through) = e.get("runtime").and_then(|r| r.get("through_proxy"))
            && let Some(url) = through.get("url").and_then(Value::as_str)
        {
            let front = by_port(url).unwrap_or_else(|| "frontend".to_owned());
            let back = backend.clone().unwrap_or_else(|| "backend".to_owned());
            let prefix = e.get("proxy_prefix").and_then(Value::as_str).unwrap_or("");
            let (f, b) = (service(&mut g, &front), service(&mut g, &back));
            g.edge(f, b, format!("dev proxy {prefix}"), blocking(status));
        }
    }
    if let Some((e, _)) = check(report, "startup.database_connections") {
        for c in e
            .get("connections")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = c.get("kind").and_then(Value::as_str).unwrap_or("database");
            let host = c.get("host").and_then(Value::as_str).unwrap_or("");
            let port = c.get("port").and_then(Value::as_u64).unwrap_or(0);
            let name = format!("{kind} {host}:{port}");
            let db = g.node(&name, format!("[(\"{}\")]", label_text(&name)));
            let from = backend.clone().unwrap_or_else(|| "app".to_owned());
            let app = service(&mut g, &from);
            let ok = c.get("ok").and_then(Value::as_bool) == Some(true);
            g.edge(app, db, "connects".to_owned(), !ok);
        }
    }
    if g.edges.is_empty() {
        return None;
    }
    let mut out = String::from("graph LR\n");
    for (id, label) in &g.nodes {
        let _ = writeln!(out, "  {id}{label}");
    }
    let mut failed = Vec::new();
    for (i, (from, to, label, bad)) in g.edges.iter().enumerate() {
        let mark = if *bad { " ✘" } else { "" };
        let _ = writeln!(out, "  {from} -->|\"{}{mark}\"| {to}", label_text(label));
        if *bad {
            failed.push(i.to_string());
        }
    }
    if !failed.is_empty() {
        let _ = writeln!(
            out,
            "  linkStyle {} stroke:#cf222e,stroke-width:2px",
            failed.join(",")
        );
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_end_a_task_or_a_label() {
        assert_eq!(
            task_text("npm run build: x; y # z\nw"),
            "npm run build x y z w"
        );
        assert_eq!(task_text(" : "), "(unnamed)");
        assert_eq!(label_text("a\"]b<c>#`"), "a#quot;]b#lt;c#gt;#35;'");
    }

    #[test]
    fn a_url_gives_its_port() {
        assert_eq!(port_of("http://127.0.0.1:5173/"), Some(5173));
        assert_eq!(port_of("http://[::1]:3000/health"), Some(3000));
        assert_eq!(port_of("http://localhost/"), None);
    }
}
