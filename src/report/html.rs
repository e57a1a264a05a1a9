//! The `html` format: one self-contained page for people reviewing a story's readiness.
//!
//! The page carries its CSS and SVG inline and refers to nothing outside itself (no script, no
//! font, no image, no link to fetch), so it opens from a CI artifact or a mail attachment
//! offline, reads without JavaScript and prints. Colours are CSS custom properties switched by
//! `prefers-color-scheme`, so the page and its charts follow the reader's light or dark scheme.
//!
//! Sections, in order: the verdict (story, ready or not, counts, duration, what changed since the
//! previous run), the run timeline, health latency per endpoint, bundle sizes against their
//! budgets, the port map, the history trend, and every check with its message, findings and its
//! evidence folded in `<details>`. The charts are drawn in `charts` from what the report holds;
//! a figure the run did not measure is not drawn (the section says so instead).
//!
//! Like every other format it renders the one redacted report (`report::redacted`), and the
//! written file passes through the redactor again (`report::write_file`).

use std::fmt::Write as _;

use super::charts;
use super::escape::html as esc;
use super::history::Entry;
use super::model::{CheckStatus, Report};

/// The page's style: light by default, dark under `prefers-color-scheme: dark`, plain for print.
const STYLE: &str = r"
:root{--bg:#ffffff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--panel:#f6f8fa;
--pass:#1a7f37;--fail:#cf222e;--warn:#9a6700;--skip:#8c959f;--err:#8250df;--accent:#0969da;
--raw:#8c959f;--gzip:#0969da;--brotli:#1a7f37;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;
--line:#3d444d;--panel:#161b22;--pass:#3fb950;--fail:#f85149;--warn:#d29922;--skip:#6e7681;
--err:#a371f7;--accent:#4493f8;--raw:#6e7681;--gzip:#4493f8;--brotli:#3fb950}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1200px;padding:24px;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:var(--panel);padding:8px;overflow:auto;border-radius:6px;white-space:pre-wrap;word-break:break-word}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict{padding:16px;border-radius:8px;border:2px solid var(--line);background:var(--panel)}
.verdict.ready{border-color:var(--pass)}.verdict.not-ready{border-color:var(--fail)}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:700;color:var(--bg)}
.badge.ready{background:var(--pass)}.badge.not-ready{background:var(--fail)}.badge.pending{background:var(--warn)}
.counts span{margin-right:14px}.muted{color:var(--muted)}
.s-passed{color:var(--pass)}.s-failed{color:var(--fail)}.s-warning{color:var(--warn)}
.s-skipped{color:var(--skip)}.s-error{color:var(--err)}.s-accepted{color:var(--skip)}
.empty{color:var(--muted);font-style:italic}
figure{margin:10px 0}figcaption{margin-bottom:2px}
svg.chart{display:block;max-width:100%;height:auto;margin:4px 0 8px}
svg text{fill:var(--fg);font:11px system-ui,sans-serif}svg text.muted{fill:var(--muted)}
svg .grid{stroke:var(--line);stroke-width:1}svg .axis{stroke:var(--muted);stroke-width:1}
svg .bar-passed{fill:var(--pass)}svg .bar-failed{fill:var(--fail)}svg .bar-warning{fill:var(--warn)}
svg .bar-skipped{fill:var(--skip)}svg .bar-error{fill:var(--err)}svg .bar-accepted{fill:var(--skip)}svg .bar-command{fill:var(--accent)}
svg .bar-open{fill:none;stroke:var(--fail);stroke-dasharray:4 2}
svg .sample{fill:var(--accent);fill-opacity:.7}
svg .threshold{stroke:var(--fail);stroke-width:2;stroke-dasharray:6 3}
svg .stat{stroke:var(--fg);stroke-width:2}svg .budget{stroke:var(--fail);stroke-width:2;stroke-dasharray:5 3}
svg .raw{fill:var(--raw)}svg .gzip{fill:var(--gzip)}svg .brotli{fill:var(--brotli)}
svg .trend{fill:none;stroke:var(--accent);stroke-width:2}svg .dot{fill:var(--accent)}
svg .fails{fill:var(--fail);fill-opacity:.75}
.legend span{margin-right:12px}.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px;vertical-align:middle}
tr.conflict td{background:color-mix(in srgb,var(--fail) 14%,transparent)}
tr.conflict td:first-child{border-left:4px solid var(--fail)}
tr.reserved td{background:color-mix(in srgb,var(--warn) 14%,transparent)}
tr.reserved td:first-child{border-left:4px solid var(--warn)}
details{border:1px solid var(--line);border-radius:6px;margin:6px 0;padding:4px 10px}
details>summary{cursor:pointer;padding:2px 0}
ul.findings{margin:6px 0;padding-left:20px}
footer{margin-top:32px;color:var(--muted);font-size:12px}
@media print{body{max-width:none;padding:0}details{break-inside:avoid}
details::details-content{content-visibility:visible;display:block}
.verdict,tr.conflict td,tr.reserved td{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
";

/// The word and mark of a status.
pub(super) fn status_word(status: CheckStatus) -> (&'static str, &'static str) {
    match status {
        CheckStatus::Passed => ("passed", "✔"),
        CheckStatus::Failed => ("failed", "✘"),
        CheckStatus::Warning => ("warning", "⚠"),
        CheckStatus::Skipped => ("skipped", "–"),
        CheckStatus::Error => ("error", "‼"),
        CheckStatus::Accepted => ("accepted", "☑"),
    }
}

/// Render the report as one HTML page. `history` is the project's recorded runs before this one,
/// oldest first (empty when there is none or the command keeps none).
pub fn render(report: &Report, history: &[Entry]) -> String {
    let sv = &report.sprint_validation;
    let title = sv
        .story_id
        .clone()
        .unwrap_or_else(|| format!("devops-agent {}", report.meta.command));
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>Deployment readiness: {}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    verdict(&mut out, report, &title);
    out.push_str(&charts::timeline(report));
    out.push_str(&charts::latency(report));
    out.push_str(&charts::bundles(report, history));
    out.push_str(&charts::ports(report));
    out.push_str(&charts::history(report, history));
    checks(&mut out, report);
    let _ = write!(
        out,
        "<footer>devops-agent {} · report format {} · run started {} · {}</footer>\n</body></html>\n",
        esc(&report.meta.tool_version),
        esc(&report.meta.version),
        esc(&report.meta.timestamp),
        esc(&report.meta.project)
    );
    out
}

/// The verdict header: story, ready or not, counts, duration and the deltas since the last run.
fn verdict(out: &mut String, report: &Report, title: &str) {
    let sv = &report.sprint_validation;
    let (class, word) = if report.meta.interrupted {
        ("pending", "interrupted — no verdict")
    } else if sv.deployment_ready {
        ("ready", "deployment ready")
    } else {
        ("not-ready", "not deployment ready")
    };
    let t = &report.totals;
    let _ = write!(
        out,
        "<header id=\"verdict\" class=\"verdict {class}\"><h1>Deployment readiness: {}</h1>\
         <p><span class=\"badge {class}\">{word}</span> <span class=\"muted\">{}</span></p>\
         <p class=\"counts\"><span class=\"s-passed\">✔ {} passed</span><span class=\"s-failed\">✘ {} failed</span>\
         <span class=\"s-warning\">⚠ {} warnings</span><span class=\"s-skipped\">– {} skipped</span>\
         <span class=\"s-error\">‼ {} errors</span><span class=\"s-accepted\">☑ {} accepted</span><span>in {}</span></p>",
        esc(title),
        esc(&report.summary),
        t.passed,
        t.failed,
        t.warning,
        t.skipped,
        t.error,
        t.accepted,
        esc(&charts::duration(report.meta.duration_ms))
    );
    match &report.deployment.since_last {
        Some(diff) => {
            let change = diff.duration_change_ms;
            let sign = if change > 0 { "+" } else { "−" };
            let _ = write!(
                out,
                "<p id=\"since-last\">Since the last run ({}): duration {sign}{}",
                esc(&diff.previous_timestamp),
                esc(&charts::duration(change.unsigned_abs()))
            );
            if !diff.newly_failing.is_empty() {
                let _ = write!(
                    out,
                    "; <span class=\"s-failed\">newly failing: {}</span>",
                    esc(&diff.newly_failing.join(", "))
                );
            }
            if !diff.newly_fixed.is_empty() {
                let _ = write!(
                    out,
                    "; <span class=\"s-passed\">newly fixed: {}</span>",
                    esc(&diff.newly_fixed.join(", "))
                );
            }
            if diff.newly_failing.is_empty() && diff.newly_fixed.is_empty() {
                out.push_str("; no check changed between passing and failing");
            }
            out.push_str("</p>");
        }
        None => out.push_str(
            "<p id=\"since-last\" class=\"muted\">No previous run recorded to compare with.</p>",
        ),
    }
    if !sv.blocking_issues.is_empty() {
        out.push_str("<h3>Blocking issues</h3><ul>");
        for issue in &sv.blocking_issues {
            let (word, mark) = status_word(issue.status);
            let _ = write!(
                out,
                "<li class=\"s-{word}\">{mark} <code>{}</code>: {}</li>",
                esc(&issue.check),
                esc(&issue.message)
            );
        }
        out.push_str("</ul>");
    }
    for error in &report.errors {
        let at = match (&error.file, error.line) {
            (Some(f), Some(l)) => format!("<code>{}:{l}</code>: ", esc(f)),
            (Some(f), None) => format!("<code>{}</code>: ", esc(f)),
            _ => String::new(),
        };
        let _ = write!(
            out,
            "<p class=\"s-error\">‼ {at}{}</p>",
            esc(&error.message)
        );
    }
    out.push_str("</header>\n");
}

/// Every gate and check: status, message, findings, and the evidence folded away.
fn checks(out: &mut String, report: &Report) {
    out.push_str("<section id=\"checks\"><h2>Checks</h2>");
    if report.gates.is_empty() {
        out.push_str("<p class=\"empty\">No gate ran.</p>");
    }
    for gate in &report.gates {
        let (word, mark) = status_word(gate.status);
        let _ = write!(
            out,
            "<h3 class=\"s-{word}\">{mark} {} <span class=\"muted\">({}, {})</span></h3>",
            esc(&gate.title),
            esc(&gate.id),
            esc(&charts::duration(gate.duration_ms))
        );
        for check in &gate.checks {
            let (word, mark) = status_word(check.status);
            let open = if check.status.is_blocking() {
                " open"
            } else {
                ""
            };
            let _ = write!(
                out,
                "<details class=\"check\" data-status=\"{word}\"{open}><summary><span class=\"s-{word}\">{mark} {word}</span> \
                 <code>{}</code> — {} <span class=\"muted\">({})</span></summary>",
                esc(&check.id),
                esc(&check.message),
                esc(&charts::duration(check.duration_ms))
            );
            if !check.findings.is_empty() {
                out.push_str("<ul class=\"findings\">");
                for f in &check.findings {
                    let at = match (&f.file, f.line) {
                        (Some(file), Some(line)) => format!("<code>{}:{line}</code> ", esc(file)),
                        (Some(file), None) => format!("<code>{}</code> ", esc(file)),
                        _ => String::new(),
                    };
                    let severity = serde_json::to_value(f.severity)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let _ = write!(
                        out,
                        "<li class=\"finding\" data-severity=\"{}\">{at}{}",
                        esc(&severity),
                        esc(&f.message)
                    );
                    if let Some(s) = &f.suggestion {
                        let _ = write!(out, "<br>suggestion: <pre>{}</pre>", esc(s));
                    }
                    out.push_str("</li>");
                }
                out.push_str("</ul>");
            }
            if !check.evidence.is_empty() {
                let json = serde_json::to_string_pretty(&check.evidence).unwrap_or_default();
                let _ = write!(
                    out,
                    "<details class=\"evidence\"><summary>evidence</summary><pre>{}</pre></details>",
                    esc(&json)
                );
            }
            out.push_str("</details>");
        }
    }
    out.push_str("</section>\n");
}
