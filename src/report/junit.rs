//! The `junit` format: a `<testsuite>` per gate and a `<testcase>` per check, for the test
//! report views of CI systems. Failed checks carry their message and findings as `<failure>`,
//! checks that could not run as `<error>`, skipped ones as `<skipped>`.

use std::fmt::Write as _;

use super::model::{Check, CheckStatus, Report};

/// Escape text for XML attribute values and character data.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "durations in a report")]
    let s = ms as f64 / 1000.0;
    format!("{s:.3}")
}

fn details(check: &Check) -> String {
    let mut text = check.message.clone();
    for f in &check.findings {
        text.push('\n');
        if let Some(file) = &f.file {
            text.push_str(file);
            if let Some(line) = f.line {
                let _ = write!(text, ":{line}");
            }
            text.push_str(": ");
        }
        text.push_str(&f.message);
        if let Some(s) = &f.suggestion {
            let _ = write!(text, " (suggestion: {s})");
        }
    }
    if !check.evidence.is_empty() {
        text.push_str("\n\nevidence: ");
        text.push_str(&serde_json::to_string_pretty(&check.evidence).unwrap_or_default());
    }
    text
}

/// Render the report as `JUnit` XML.
pub fn render(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let t = &report.totals;
    let name = report
        .sprint_validation
        .story_id
        .clone()
        .unwrap_or_else(|| format!("devops-agent {}", report.meta.command));
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        xml(&name),
        t.passed + t.failed + t.warning + t.skipped + t.error,
        t.failed,
        t.error,
        t.skipped,
        seconds(report.meta.duration_ms),
        xml(&report.meta.timestamp)
    );
    for gate in &report.gates {
        let count = |s: CheckStatus| gate.checks.iter().filter(|c| c.status == s).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
            xml(&gate.id),
            gate.checks.len(),
            count(CheckStatus::Failed),
            count(CheckStatus::Error),
            count(CheckStatus::Skipped),
            seconds(gate.duration_ms)
        );
        for check in &gate.checks {
            let _ = write!(
                out,
                "    <testcase classname=\"devops-agent.{}\" name=\"{}\" time=\"{}\"",
                xml(&gate.id),
                xml(&check.id),
                seconds(check.duration_ms)
            );
            match check.status {
                CheckStatus::Passed => out.push_str("/>\n"),
                CheckStatus::Warning => {
                    // JUnit has no warning; it passes, with the warning on system-out.
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>warning: {}</system-out>\n    </testcase>",
                        xml(&details(check))
                    );
                }
                CheckStatus::Skipped => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(&check.message)
                    );
                }
                CheckStatus::Failed => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                        xml(&check.message),
                        xml(&check.id),
                        xml(&details(check))
                    );
                }
                CheckStatus::Error => {
                    let _ = writeln!(
                        out,
                        ">\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>",
                        xml(&check.message),
                        xml(&check.id),
                        xml(&details(check))
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
