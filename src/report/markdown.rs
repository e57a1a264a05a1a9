//! The `markdown` format, in the seed's GitHub style: `##` sections, `*` bullets,
//! right-aligned numeric columns, ✅ ❌ ⚠️ marks and evidence folded in `<details>`, with a
//! mermaid Gantt of the run and a graph of the services (see `mermaid`). For pull request
//! comments and CI step summaries.

use std::fmt::Write as _;

use super::escape;
use super::model::{CheckStatus, Report};

fn mark(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Passed => "✅",
        CheckStatus::Failed => "❌",
        CheckStatus::Warning => "⚠️",
        CheckStatus::Skipped => "⏭️",
        CheckStatus::Error => "💥",
        CheckStatus::Accepted => "☑️",
    }
}

/// Project text in prose or a table cell: escaped so it renders as itself (no HTML, links,
/// mentions, `|` or line breaks).
fn cell(text: &str) -> String {
    escape::markdown(text)
}

/// Render the report as GitHub-flavoured markdown.
pub fn render(report: &Report) -> String {
    let sv = &report.sprint_validation;
    let mut out = String::new();
    let title = sv
        .story_id
        .clone()
        .unwrap_or_else(|| format!("devops-agent {}", report.meta.command));
    let verdict = if report.meta.interrupted {
        "⏸️ interrupted"
    } else if sv.deployment_ready {
        "✅ deployment ready"
    } else {
        "❌ not deployment ready"
    };
    let _ = writeln!(out, "# Deployment readiness: {}\n", cell(&title));
    let _ = writeln!(out, "**{verdict}** — {}\n", cell(&report.summary));

    if !sv.blocking_issues.is_empty() {
        out.push_str("## Blocking issues\n\n");
        for issue in &sv.blocking_issues {
            let _ = writeln!(
                out,
                "* {} {}: {}",
                mark(issue.status),
                escape::code(&issue.check),
                cell(&issue.message)
            );
        }
        out.push('\n');
    }
    for error in &report.errors {
        let at = match (&error.file, error.line) {
            (Some(f), Some(l)) => format!("{}: ", escape::code(&format!("{f}:{l}"))),
            (Some(f), None) => format!("{}: ", escape::code(f)),
            _ => String::new(),
        };
        let _ = writeln!(out, "* 💥 {at}{}", cell(&error.message));
    }

    out.push_str("## Gates\n\n| Gate | Status | Checks | Duration (ms) |\n|:-----|:------:|-------:|--------------:|\n");
    for gate in &report.gates {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            gate.id,
            mark(gate.status),
            gate.checks.len(),
            gate.duration_ms
        );
    }
    out.push('\n');

    // Diagrams GitHub renders: where the time went, and how the services connect.
    if let Some(gantt) = super::mermaid::gantt(report) {
        let _ = writeln!(out, "## Run timeline\n\n```mermaid\n{gantt}```\n");
    }
    if let Some(graph) = super::mermaid::services(report) {
        let _ = writeln!(out, "## Services\n\n```mermaid\n{graph}```\n");
    }

    for gate in &report.gates {
        let _ = writeln!(out, "## {} {}\n", mark(gate.status), cell(&gate.title));
        out.push_str("| Check | Status | Result | Duration (ms) |\n|:------|:------:|:-------|--------------:|\n");
        for check in &gate.checks {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                check.id,
                mark(check.status),
                cell(&check.message),
                check.duration_ms
            );
        }
        out.push('\n');
        for check in &gate.checks {
            if check.findings.is_empty() && check.evidence.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "<details>\n<summary>{} <code>{}</code>: {} finding(s)</summary>\n",
                mark(check.status),
                check.id,
                check.findings.len()
            );
            for f in &check.findings {
                let at = match (&f.file, f.line) {
                    (Some(file), Some(line)) => {
                        format!("{} ", escape::code(&format!("{file}:{line}")))
                    }
                    (Some(file), None) => format!("{} ", escape::code(file)),
                    _ => String::new(),
                };
                let _ = write!(out, "* {at}{}", cell(&f.message));
                match &f.suggestion {
                    // A fix of several lines (a Dockerfile `ARG` then `EXPOSE`) as a block, since
                    // inline code cannot hold a line break.
                    Some(s) if s.contains('\n') => {
                        let fence = escape::fence(s);
                        let _ = write!(out, " →\n\n  {fence}\n");
                        for line in s.lines() {
                            let _ = writeln!(out, "  {}", super::escape::terminal(line));
                        }
                        let _ = write!(out, "  {fence}");
                    }
                    Some(s) => {
                        let _ = write!(out, " → {}", escape::code(s));
                    }
                    None => {}
                }
                out.push('\n');
            }
            if !check.evidence.is_empty() {
                let json = serde_json::to_string_pretty(&check.evidence).unwrap_or_default();
                // JSON escapes every control character; only a backtick run could end the
                // block early, and the fence is longer than any.
                let fence = escape::fence(&json);
                let _ = writeln!(out, "\n{fence}json\n{json}\n{fence}");
            }
            out.push_str("\n</details>\n\n");
        }
    }

    if !report.infrastructure.ports.is_empty() {
        out.push_str("## Port configuration\n\n| Service | Expression | Port | Protocol | Source |\n|:--------|:-----------|-----:|:---------|:-------|\n");
        for p in &report.infrastructure.ports {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                cell(&p.service),
                escape::code(&p.expression).replace('|', "\\|"),
                p.effective
                    .map_or_else(|| "—".to_owned(), |e| e.to_string()),
                p.protocol,
                escape::code(&p.source).replace('|', "\\|")
            );
        }
        out.push('\n');
    }
    if let Some(rt) = &report.monitoring.response_time {
        out.push_str("## Monitoring\n\n| Samples | p50 (ms) | p95 (ms) | Max (ms) | Error rate |\n|--------:|---------:|---------:|---------:|-----------:|\n");
        let rate = report
            .monitoring
            .error_rate
            .map_or_else(|| "—".to_owned(), |r| format!("{:.2}%", r * 100.0));
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.1} | {rate} |\n",
            rt.samples, rt.p50_ms, rt.p95_ms, rt.max_ms
        );
    }
    let _ = writeln!(
        out,
        "<sub>devops-agent {} · report format {} · {}</sub>",
        report.meta.tool_version, report.meta.version, report.meta.timestamp
    );
    out
}
