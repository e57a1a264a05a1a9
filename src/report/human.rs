//! The `human` format: a short, readable summary for a terminal or a log.

use std::fmt::Write as _;

use super::model::{CheckStatus, Report};

/// The symbol shown for a status.
pub(crate) fn mark(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Passed => "✅",
        CheckStatus::Failed => "❌",
        CheckStatus::Warning => "⚠️",
        CheckStatus::Skipped => "⏭️",
        CheckStatus::Error => "💥",
    }
}

/// Render the report for people.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let story = report
        .sprint_validation
        .story_id
        .as_deref()
        .map_or_else(String::new, |s| format!(" {s}"));
    let _ = writeln!(
        out,
        "devops-agent {}{story} — {}",
        report.meta.command, report.meta.project
    );
    for error in &report.errors {
        let location = match (&error.file, error.line, error.column) {
            (Some(f), Some(l), Some(c)) => format!("{f}:{l}:{c}: "),
            (Some(f), Some(l), None) => format!("{f}:{l}: "),
            (Some(f), None, _) => format!("{f}: "),
            (None, _, _) => String::new(),
        };
        let _ = writeln!(out, "💥 {location}{}", error.message);
    }
    for gate in &report.gates {
        let _ = writeln!(
            out,
            "\n{} {} — {} ({} ms)",
            mark(gate.status),
            gate.id,
            gate.title,
            gate.duration_ms
        );
        for check in &gate.checks {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                mark(check.status),
                check.id,
                check.message
            );
            for finding in &check.findings {
                let location = match (&finding.file, finding.line) {
                    (Some(f), Some(l)) => format!("{f}:{l}: "),
                    (Some(f), None) => format!("{f}: "),
                    (None, _) => String::new(),
                };
                let _ = write!(out, "      {location}{}", finding.message);
                if let Some(s) = &finding.suggestion {
                    let _ = write!(out, " → {s}");
                }
                out.push('\n');
            }
        }
    }
    if !report.infrastructure.ports.is_empty() {
        let _ = writeln!(out, "\nPorts:");
        for port in &report.infrastructure.ports {
            let effective = port
                .effective
                .map_or_else(|| "unresolved".to_owned(), |p| p.to_string());
            let _ = writeln!(
                out,
                "  {:<16} {:>6}/{}  {}  ({})",
                port.service, effective, port.protocol, port.expression, port.source
            );
        }
    }
    let _ = writeln!(out, "\n{}", report.summary);
    out
}
