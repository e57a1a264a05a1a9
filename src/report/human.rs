//! The `human` format: a short, readable summary for a terminal or a log. Text from the
//! project is shown with its control characters escaped, so it cannot drive the terminal.

use std::fmt::Write as _;

use super::escape::terminal as t;
use super::model::{CheckStatus, Report};

/// The symbol shown for a status.
pub(crate) fn mark(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Passed => "✅",
        CheckStatus::Failed => "❌",
        CheckStatus::Warning => "⚠️",
        CheckStatus::Skipped => "⏭️",
        CheckStatus::Error => "💥",
        CheckStatus::Accepted => "☑️",
    }
}

/// ANSI styling, applied only when writing to a terminal that wants colour.
struct Paint(bool);

impl Paint {
    fn status(&self, status: CheckStatus, text: &str) -> String {
        let code = match status {
            CheckStatus::Passed => "32",
            CheckStatus::Failed | CheckStatus::Error => "31",
            CheckStatus::Warning => "33",
            CheckStatus::Skipped | CheckStatus::Accepted => "2",
        };
        self.code(code, text)
    }

    fn code(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }
}

/// A check or gate cut short by a signal or the deadline is shown as cancelled, not as a
/// plain skip (and never as a crash).
fn cancelled(status: CheckStatus, message: &str) -> bool {
    status == CheckStatus::Skipped && message.starts_with("cancelled")
}

fn check_mark(status: CheckStatus, message: &str) -> &'static str {
    if cancelled(status, message) {
        "⏹️"
    } else {
        mark(status)
    }
}

fn gate_word(gate: &super::model::Gate) -> &'static str {
    if gate.status == CheckStatus::Skipped
        && gate.checks.iter().any(|c| cancelled(c.status, &c.message))
    {
        "cancelled"
    } else {
        word(gate.status)
    }
}

fn word(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Passed => "passed",
        CheckStatus::Failed => "failed",
        CheckStatus::Warning => "warning",
        CheckStatus::Skipped => "skipped",
        CheckStatus::Error => "error",
        CheckStatus::Accepted => "accepted",
    }
}

/// Render the report for people; `color` adds ANSI colours (for a terminal).
pub fn render(report: &Report, color: bool) -> String {
    let paint = Paint(color);
    let mut out = String::new();
    let story = report
        .sprint_validation
        .story_id
        .as_deref()
        .map_or_else(String::new, |s| format!(" {}", t(s)));
    let _ = writeln!(
        out,
        "devops-agent {}{story} — {}",
        report.meta.command,
        t(&report.meta.project)
    );
    if report.meta.interrupted {
        let by = report
            .meta
            .interrupted_by
            .as_deref()
            .map_or_else(String::new, |s| format!(" by {s}"));
        let _ = writeln!(
            out,
            "⏹️ cancelled{by}: a partial report — what finished is shown, the rest was cancelled and everything started was stopped"
        );
    }
    for error in &report.errors {
        let location = match (&error.file, error.line, error.column) {
            (Some(f), Some(l), Some(c)) => format!("{}:{l}:{c}: ", t(f)),
            (Some(f), Some(l), None) => format!("{}:{l}: ", t(f)),
            (Some(f), None, _) => format!("{}: ", t(f)),
            (None, _, _) => String::new(),
        };
        let _ = writeln!(out, "💥 {location}{}", t(&error.message));
    }
    for gate in &report.gates {
        let _ = writeln!(
            out,
            "\n{} {} — {} ({} ms)",
            if gate_word(gate) == "cancelled" {
                "⏹️"
            } else {
                mark(gate.status)
            },
            gate.id,
            gate.title,
            gate.duration_ms
        );
        for check in &gate.checks {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                check_mark(check.status, &check.message),
                check.id,
                t(&check.message)
            );
            for finding in &check.findings {
                let location = match (&finding.file, finding.line) {
                    (Some(f), Some(l)) => format!("{}:{l}: ", t(f)),
                    (Some(f), None) => format!("{}: ", t(f)),
                    (None, _) => String::new(),
                };
                let _ = write!(out, "      {location}{}", t(&finding.message));
                if let Some(s) = &finding.suggestion {
                    let _ = write!(out, " → {}", t(s));
                }
                match &finding.accepted {
                    Some(a) if a.expired => {
                        let _ = write!(
                            out,
                            " [acceptance expired {}]",
                            a.expires.as_deref().unwrap_or("")
                        );
                    }
                    Some(a) => {
                        let _ = write!(out, " [accepted: {}]", t(&a.reason));
                    }
                    None => {}
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
                t(&port.service),
                effective,
                port.protocol,
                t(&port.expression),
                t(&port.source)
            );
        }
    }
    // A closing table: one row per gate.
    if !report.gates.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<12} {:<9} {:>6} {:>6} {:>6} {:>10}",
            "gate", "status", "checks", "passed", "failed", "duration"
        );
        for gate in &report.gates {
            let count = |s: CheckStatus| gate.checks.iter().filter(|c| c.status == s).count();
            let status = format!("{:<9}", gate_word(gate));
            let _ = writeln!(
                out,
                "{:<12} {} {:>6} {:>6} {:>6} {:>7} ms",
                gate.id,
                paint.status(gate.status, &status),
                gate.checks.len(),
                count(CheckStatus::Passed),
                count(CheckStatus::Failed) + count(CheckStatus::Error),
                gate.duration_ms
            );
        }
    }
    let verdict = if report.sprint_validation.deployment_ready {
        paint.code("1;32", &t(&report.summary))
    } else {
        paint.code("1;31", &t(&report.summary))
    };
    let _ = writeln!(out, "\n{verdict}");
    out
}
