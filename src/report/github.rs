//! The `github` format: workflow commands that GitHub Actions turns into annotations on the
//! pull request (`::error file=…,line=…::message`), one per finding with a location and one per
//! blocking check; the markdown report is appended to `$GITHUB_STEP_SUMMARY` by the caller.

use std::fmt::Write as _;

use super::model::{CheckStatus, Report, Severity};

/// Workflow-command data escaping (`%`, CR, LF; plus `:` and `,` in properties).
/// Control characters (terminal escapes in a tool's output) are shown escaped: the log view
/// renders ANSI sequences.
fn data(text: &str) -> String {
    super::escape::terminal(&text.replace('\r', "\n"))
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Render annotations.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for gate in &report.gates {
        for check in &gate.checks {
            let level = match check.status {
                CheckStatus::Failed | CheckStatus::Error => "error",
                CheckStatus::Warning => "warning",
                CheckStatus::Passed | CheckStatus::Skipped => continue,
            };
            let mut located = 0;
            for f in &check.findings {
                let Some(file) = &f.file else {
                    continue;
                };
                let level = match f.severity {
                    Severity::Error => level,
                    Severity::Warning => "warning",
                    Severity::Info => "notice",
                };
                located += 1;
                let mut props = format!("file={}", property(file));
                if let Some(line) = f.line {
                    let _ = write!(props, ",line={line}");
                }
                if let Some(col) = f.column {
                    let _ = write!(props, ",col={col}");
                }
                let _ = write!(props, ",title={}", property(&check.id));
                let mut message = f.message.clone();
                if let Some(s) = &f.suggestion {
                    let _ = write!(message, " — use: {s}");
                }
                let _ = writeln!(out, "::{level} {props}::{}", data(&message));
            }
            if located == 0 {
                let _ = writeln!(
                    out,
                    "::{level} title={}::{}",
                    property(&check.id),
                    data(&check.message)
                );
            }
        }
    }
    for error in &report.errors {
        let mut props = String::from("title=devops-agent");
        if let Some(file) = &error.file {
            let _ = write!(props, ",file={}", property(file));
            if let Some(line) = error.line {
                let _ = write!(props, ",line={line}");
            }
        }
        let _ = writeln!(out, "::error {props}::{}", data(&error.message));
    }
    let _ = writeln!(out, "{}", report.summary);
    out
}
