//! The `junit` format: a `<testsuite>` per gate and a `<testcase>` per check, for the test
//! report views of CI systems. Failed checks carry their message and findings as `<failure>`,
//! checks that could not run as `<error>`, skipped ones as `<skipped>`.
//!
//! The shape follows Jenkins' `junit-10.xsd`, the strictest common reader: `<testsuites>`
//! carries only name/time/tests/failures/errors (`skipped` and `timestamp` belong on
//! `<testsuite>`). A run stopped by a config or run error gets a failing testcase per error, so
//! a consumer never reads zero tests as a pass.

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
    let errors = u32::try_from(report.errors.len()).unwrap_or(u32::MAX);
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
        xml(&name),
        t.passed + t.failed + t.warning + t.skipped + t.error + errors,
        t.failed + errors,
        t.error,
        seconds(report.meta.duration_ms),
    );
    if errors > 0 {
        let config = report
            .sprint_validation
            .blocking_issues
            .iter()
            .any(|b| b.check == "config");
        let kind = if config { "config" } else { "run" };
        let _ = writeln!(
            out,
            "  <testsuite name=\"devops-agent\" tests=\"{errors}\" failures=\"{errors}\" errors=\"0\" skipped=\"0\" time=\"{}\" timestamp=\"{}\">",
            seconds(report.meta.duration_ms),
            xml(&report.meta.timestamp)
        );
        for (i, error) in report.errors.iter().enumerate() {
            let case = if errors == 1 {
                kind.to_owned()
            } else {
                format!("{kind}.{}", i + 1)
            };
            let mut text = error.message.clone();
            if let Some(file) = &error.file {
                let _ = write!(text, "\n{file}");
                if let Some(line) = error.line {
                    let _ = write!(text, ":{line}");
                }
            }
            let _ = writeln!(
                out,
                "    <testcase classname=\"devops-agent\" name=\"{case}\" time=\"0.000\">\n      <failure message=\"{}\" type=\"{kind}\">{}</failure>\n    </testcase>",
                xml(&error.message),
                xml(&text)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    for gate in &report.gates {
        let count = |s: CheckStatus| gate.checks.iter().filter(|c| c.status == s).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
            xml(&gate.id),
            gate.checks.len(),
            count(CheckStatus::Failed),
            count(CheckStatus::Error),
            count(CheckStatus::Skipped),
            seconds(gate.duration_ms),
            xml(&report.meta.timestamp)
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
                // Accepted in the baseline: not a failure; the reason is on system-out.
                CheckStatus::Accepted => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>accepted: {}</system-out>\n    </testcase>",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckId, CheckResult, GateId, GateResult, Status};
    use crate::report::{RunError, RunRecord, assemble};

    /// The attributes `junit-10.xsd` allows on each element we write, and the children.
    fn allowed(tag: &str) -> (&'static [&'static str], &'static [&'static str]) {
        match tag {
            "testsuites" => (
                &["name", "time", "tests", "failures", "errors"],
                &["testsuite"],
            ),
            "testsuite" => (
                &[
                    "name",
                    "tests",
                    "failures",
                    "errors",
                    "skipped",
                    "time",
                    "timestamp",
                ],
                &["testcase"],
            ),
            "testcase" => (
                &["name", "classname", "time"],
                &["skipped", "error", "failure", "system-out"],
            ),
            "skipped" => (&["message"], &[]),
            "failure" | "error" => (&["message", "type"], &[]),
            "system-out" => (&[], &[]),
            other => panic!("element <{other}> is not in junit-10.xsd"),
        }
    }

    /// Checks every element against [`allowed`] and the required attributes; returns the
    /// number of testcases and of those failing.
    fn check_structure(xml: &str) -> (usize, usize) {
        let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "testsuites");
        for node in doc.descendants().filter(roxmltree::Node::is_element) {
            let tag = node.tag_name().name();
            let (attributes, children) = allowed(tag);
            for a in node.attributes() {
                assert!(
                    attributes.contains(&a.name()),
                    "<{tag} {}> not allowed",
                    a.name()
                );
            }
            for child in node.children().filter(roxmltree::Node::is_element) {
                let name = child.tag_name().name();
                assert!(children.contains(&name), "<{name}> not allowed in <{tag}>");
            }
            let required: &[&str] = match tag {
                "testsuite" => &["name", "tests", "failures", "errors"],
                "testcase" => &["name"],
                _ => &[],
            };
            for r in required {
                assert!(node.attribute(*r).is_some(), "<{tag}> lacks {r}");
            }
        }
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let failing = cases
            .iter()
            .filter(|c| {
                c.children()
                    .any(|n| n.has_tag_name("failure") || n.has_tag_name("error"))
            })
            .count();
        let root = doc.root_element();
        let count = |a: &str| root.attribute(a).unwrap().parse::<usize>().unwrap();
        assert_eq!(count("tests"), cases.len());
        assert_eq!(count("failures") + count("errors"), failing);
        (cases.len(), failing)
    }

    #[test]
    fn every_check_is_a_testcase_with_only_schema_attributes() {
        let check = |id, status| CheckResult::new(id, status, "message with <&>");
        let record = RunRecord {
            command: "validate".to_owned(),
            gates: vec![GateResult {
                id: GateId::Build,
                checks: vec![
                    check(CheckId::BuildDevBuild, Status::Passed),
                    check(CheckId::BuildProdBuild, Status::Failed),
                    check(CheckId::BuildBundleSize, Status::Warning),
                    check(
                        CheckId::BuildAssetsGenerated,
                        Status::Skipped {
                            reason: "no tsconfig".to_owned(),
                        },
                    ),
                ],
                duration: std::time::Duration::from_millis(1500),
                started: None,
                ports: Vec::new(),
            }],
            ..RunRecord::default()
        };
        let xml = render(&assemble(&record));
        assert_eq!(check_structure(&xml), (4, 1), "{xml}");
    }

    #[test]
    fn a_config_error_is_a_failing_testcase() {
        let record = RunRecord {
            command: "validate".to_owned(),
            errors: vec![RunError {
                message: "invalid TOML: expected `=`".to_owned(),
                file: Some("/repo/devops-agent.toml".to_owned()),
                line: Some(5),
                column: Some(26),
            }],
            config_error: true,
            ..RunRecord::default()
        };
        let xml = render(&assemble(&record));
        assert_eq!(check_structure(&xml), (1, 1), "{xml}");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(failure.attribute("type"), Some("config"));
        assert!(
            failure
                .text()
                .unwrap()
                .contains("/repo/devops-agent.toml:5"),
            "{xml}"
        );
    }
}
