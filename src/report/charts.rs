//! The HTML report's figure sections, each drawn from what the report holds: the run timeline
//! (gates', checks' and commands' `started_ms` and durations), health latency (the
//! `startup.health_checks` samples), bundle sizes (`build.bundle_size`), the port map
//! (`infrastructure.ports` and the `ports.no_conflicts` findings) and the history trend
//! (`.devops-agent/history.jsonl`).
//!
//! Every section has an `id` and states its count in `data-count`, every mark a `<title>`, and
//! every chart a table or caption with the same figures as text. Nothing is estimated: a span
//! without a measured start is left off the timeline, an endpoint without samples shows none.

use std::fmt::Write as _;

use serde_json::Value;

use super::escape::html as esc;
use super::history::{self, Entry};
use super::html::status_word;
use super::model::{Report, Severity};
use super::svg::{Anchor, Svg};

#[expect(clippy::cast_precision_loss, reason = "chart coordinates")]
fn f(v: u64) -> f64 {
    v as f64
}

#[expect(clippy::cast_precision_loss, reason = "chart coordinates")]
fn fu(v: usize) -> f64 {
    v as f64
}

/// A duration for people: `850 ms`, `3.4 s`, `2 min 5 s`.
pub(super) fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", f(ms) / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// A byte count for people (decimal units, as budgets are written).
fn bytes(n: u64) -> String {
    if n < 1000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} kB", f(n) / 1000.0)
    } else {
        format!("{:.2} MB", f(n) / 1_000_000.0)
    }
}

/// A round step for about `target` ticks over `span`.
fn nice_step(span: f64, target: f64) -> f64 {
    let raw = (span / target).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    step.max(1.0)
}

/// The evidence of check `id`, when the report has the check.
fn evidence<'a>(report: &'a Report, id: &str) -> Option<&'a serde_json::Map<String, Value>> {
    report
        .gates
        .iter()
        .flat_map(|g| &g.checks)
        .find(|c| c.id == id)
        .map(|c| &c.evidence)
}

fn section_open(out: &mut String, id: &str, heading: &str, count: usize) {
    let _ = write!(
        out,
        "<section id=\"{id}\" data-count=\"{count}\"><h2>{}</h2>",
        esc(heading)
    );
}

// ---------------------------------------------------------------------------------------------
// Run timeline

struct Span {
    kind: &'static str,
    label: String,
    class: String,
    start: u64,
    /// None: it had not finished when the run ended.
    duration: Option<u64>,
    failed: bool,
    tip: String,
}

fn spans(report: &Report) -> Vec<Span> {
    let mut rows = Vec::new();
    let command_rows = |gate: Option<&str>, rows: &mut Vec<Span>| {
        for c in report.commands.iter().filter(|c| {
            gate.map_or(!report.gates.iter().any(|g| g.id == c.gate), |g| {
                c.gate == g
            })
        }) {
            let failed = match (c.ending.as_deref(), c.exit_code) {
                (Some("exited"), Some(code)) => code != 0,
                (Some("stopped" | "exited" | "cancelled") | None, _) => false,
                (Some(_), _) => true,
            };
            let ending = c.ending.as_deref().map_or_else(
                || "still running when the run ended".to_owned(),
                |e| match c.exit_code {
                    Some(code) => format!("{e} {code}"),
                    None => e.to_owned(),
                },
            );
            rows.push(Span {
                kind: "command",
                label: format!("$ {}", c.purpose),
                class: if failed {
                    "bar-failed".to_owned()
                } else if c.duration_ms.is_none() {
                    "bar-open".to_owned()
                } else {
                    "bar-command".to_owned()
                },
                start: c.started_ms,
                duration: c.duration_ms,
                failed,
                tip: format!(
                    "{}: {} — {ending}, started at {}, {}",
                    c.purpose,
                    c.command,
                    duration(c.started_ms),
                    c.duration_ms
                        .map_or_else(|| "unfinished".to_owned(), duration)
                ),
            });
        }
    };
    for gate in &report.gates {
        let (word, _) = status_word(gate.status);
        if let Some(start) = gate.started_ms {
            rows.push(Span {
                kind: "gate",
                label: gate.id.clone(),
                class: format!("bar-{word}"),
                start,
                duration: Some(gate.duration_ms),
                failed: gate.status.is_blocking(),
                tip: format!(
                    "gate {} {word}: started at {}, {}",
                    gate.id,
                    duration(start),
                    duration(gate.duration_ms)
                ),
            });
        }
        for check in &gate.checks {
            let Some(start) = check.started_ms else {
                continue;
            };
            let (word, _) = status_word(check.status);
            rows.push(Span {
                kind: "check",
                label: format!("  {}", check.id),
                class: format!("bar-{word}"),
                start,
                duration: Some(check.duration_ms),
                failed: check.status.is_blocking(),
                tip: format!(
                    "{} {word}: started at {}, {} — {}",
                    check.id,
                    duration(start),
                    duration(check.duration_ms),
                    check.message
                ),
            });
        }
        command_rows(Some(&gate.id), &mut rows);
    }
    command_rows(None, &mut rows);
    rows
}

/// The Gantt of every gate, check and command with a measured start.
pub(super) fn timeline(report: &Report) -> String {
    let rows = spans(report);
    let mut out = String::new();
    section_open(&mut out, "timeline", "Run timeline", rows.len());
    if rows.is_empty() {
        out.push_str(
            "<p class=\"empty\">No gate, check or command was timed in this run.</p></section>\n",
        );
        return out;
    }
    let end = rows
        .iter()
        .map(|r| r.start + r.duration.unwrap_or(0))
        .chain([report.meta.duration_ms])
        .max()
        .unwrap_or(1)
        .max(1);
    let (label_w, plot_w, row_h, top) = (250.0, 900.0, 18.0, 22.0);
    let width = label_w + plot_w + 30.0;
    let height = top + row_h * fu(rows.len()) + 8.0;
    let x = |ms: u64| label_w + f(ms) / f(end) * plot_w;
    let mut svg = Svg::new(
        "timeline-chart",
        width,
        height,
        "Run timeline",
        &format!(
            "{} bars on a time axis from 0 to {}: each gate, then its checks and commands; bars that overlap in time ran at once",
            rows.len(),
            duration(end)
        ),
    );
    let step = nice_step(f(end), 8.0);
    let mut t = 0.0;
    while t <= f(end) + 0.5 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a tick in ms"
        )]
        let tick = t as u64;
        svg.line(x(tick), top - 4.0, x(tick), height - 6.0, "grid");
        svg.text(x(tick), top - 8.0, Anchor::Middle, "muted", &duration(tick));
        t += step;
    }
    for (i, row) in rows.iter().enumerate() {
        let y = top + row_h * fu(i);
        svg.group(
            "span",
            &[
                ("data-kind", row.kind),
                ("data-failed", if row.failed { "true" } else { "false" }),
            ],
        );
        svg.text(
            4.0,
            y + row_h * 0.7,
            Anchor::Start,
            if row.kind == "gate" { "" } else { "muted" },
            &truncate(&row.label, 40),
        );
        let finish = row.duration.map_or(end, |d| row.start + d);
        let w = (x(finish) - x(row.start)).max(2.0);
        svg.rect(x(row.start), y + 3.0, w, row_h - 6.0, &row.class, &row.tip);
        if row.failed {
            svg.text(
                x(row.start) + w + 4.0,
                y + row_h * 0.7,
                Anchor::Start,
                "",
                "✘",
            );
        }
        svg.end_group();
    }
    out.push_str(&svg.finish());
    out.push_str("<p class=\"legend muted\"><span><i class=\"swatch\" style=\"background:var(--pass)\"></i>passed</span>\
        <span><i class=\"swatch\" style=\"background:var(--fail)\"></i>failed ✘</span>\
        <span><i class=\"swatch\" style=\"background:var(--warn)\"></i>warning</span>\
        <span><i class=\"swatch\" style=\"background:var(--skip)\"></i>skipped</span>\
        <span><i class=\"swatch\" style=\"background:var(--accent)\"></i>command</span> Hover a bar for its times.</p></section>\n");
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut t: String = text.chars().take(max - 1).collect();
    t.push('…');
    t
}

// ---------------------------------------------------------------------------------------------
// Health latency

/// Per endpoint the samples on a logarithmic axis (latencies of a millisecond and a threshold
/// of a second on one line), with p50, p95, max and the p95 threshold.
pub(super) fn latency(report: &Report) -> String {
    let ev = evidence(report, "startup.health_checks");
    let endpoints: Vec<&Value> = ev
        .and_then(|e| e.get("endpoints"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let threshold = ev
        .and_then(|e| e.get("p95_threshold_ms"))
        .and_then(Value::as_f64);
    let mut out = String::new();
    section_open(&mut out, "latency", "Health latency", endpoints.len());
    if endpoints.is_empty() {
        out.push_str(
            "<p class=\"empty\">No health endpoint was sampled in this run.</p></section>\n",
        );
        return out;
    }
    let num = |e: &Value, k: &str| e.get(k).and_then(Value::as_f64);
    let text = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut table = String::from(
        "<table><thead><tr><th>Service</th><th>Mode</th><th>Endpoint</th><th class=\"num\">Samples</th>\
         <th class=\"num\">Failed</th><th class=\"num\">p50</th><th class=\"num\">p95</th><th class=\"num\">Max</th>\
         <th class=\"num\">p95 threshold</th></tr></thead><tbody>",
    );
    let ms_cell = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2} ms"));
    for (i, e) in endpoints.iter().enumerate() {
        let samples: Vec<f64> = e
            .get("samples_ms")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let name = format!(
            "{} ({}) {}",
            text(e, "service"),
            text(e, "mode"),
            text(e, "endpoint")
        );
        let _ = write!(
            out,
            "<figure class=\"endpoint\" data-samples=\"{}\"><figcaption><strong>{}</strong> <span class=\"muted\">({}) {}</span> — {} samples, {} failed</figcaption>",
            samples.len(),
            esc(&text(e, "service")),
            esc(&text(e, "mode")),
            esc(&text(e, "endpoint")),
            e.get("samples").and_then(Value::as_u64).unwrap_or(0),
            e.get("failed").and_then(Value::as_u64).unwrap_or(0)
        );
        let stats = [
            ("p50", num(e, "p50_ms")),
            ("p95", num(e, "p95_ms")),
            ("max", num(e, "max_ms")),
        ];
        out.push_str(&strip(
            &format!("latency-{i}"),
            &name,
            &samples,
            &stats,
            threshold,
        ));
        out.push_str("</figure>");
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&text(e, "service")),
            esc(&text(e, "mode")),
            esc(&text(e, "endpoint")),
            e.get("samples").and_then(Value::as_u64).unwrap_or(0),
            e.get("failed").and_then(Value::as_u64).unwrap_or(0),
            ms_cell(num(e, "p50_ms")),
            ms_cell(num(e, "p95_ms")),
            ms_cell(num(e, "max_ms")),
            ms_cell(threshold)
        );
    }
    table.push_str("</tbody></table>");
    out.push_str(&table);
    out.push_str("</section>\n");
    out
}

/// One endpoint's strip plot.
fn strip(
    id: &str,
    name: &str,
    samples: &[f64],
    stats: &[(&str, Option<f64>)],
    threshold: Option<f64>,
) -> String {
    let values: Vec<f64> = samples
        .iter()
        .copied()
        .chain(stats.iter().filter_map(|(_, v)| *v))
        .chain(threshold)
        .filter(|v| *v > 0.0)
        .collect();
    let lo_v = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(0.01);
    let hi_v = values.iter().copied().fold(0.0, f64::max).max(lo_v * 10.0);
    let (lo, hi) = (lo_v.log10().floor(), hi_v.log10().ceil());
    let (left, plot_w, height) = (20.0, 1100.0, 74.0);
    let x = |v: f64| left + (v.max(10f64.powf(lo)).log10() - lo) / (hi - lo) * plot_w;
    let mut svg = Svg::new(
        id,
        left + plot_w + 60.0,
        height,
        &format!("Health latency of {name}"),
        &format!(
            "{} successful samples on a logarithmic millisecond axis, with p50, p95, max{}",
            samples.len(),
            if threshold.is_some() {
                " and the p95 threshold"
            } else {
                ""
            }
        ),
    );
    let axis_y = height - 16.0;
    svg.line(left, axis_y, left + plot_w, axis_y, "axis");
    #[expect(
        clippy::cast_possible_truncation,
        reason = "decades of a millisecond axis"
    )]
    for decade in (lo as i32)..=(hi as i32) {
        let v = 10f64.powi(decade);
        svg.line(x(v), 14.0, x(v), axis_y, "grid");
        let label = if v >= 1000.0 {
            format!("{} s", v / 1000.0)
        } else {
            format!("{v} ms")
        };
        svg.text(x(v), height - 3.0, Anchor::Middle, "muted", &label);
    }
    if let Some(t) = threshold {
        svg.line(x(t), 8.0, x(t), axis_y, "threshold");
        svg.text(
            x(t) - 4.0,
            10.0,
            Anchor::End,
            "",
            &format!("p95 threshold {t:.0} ms"),
        );
    }
    let mid = 34.0;
    for (i, s) in samples.iter().enumerate() {
        let jitter = fu(i * 7 % 5) * 4.0 - 8.0;
        svg.circle(
            x(*s),
            mid + jitter,
            3.0,
            "sample",
            &format!("sample {}: {s:.2} ms", i + 1),
        );
    }
    for (k, (label, v)) in stats.iter().enumerate() {
        if let Some(v) = v {
            svg.line(x(*v), mid - 14.0, x(*v), mid + 14.0, "stat");
            let dy = if k % 2 == 0 { mid - 16.0 } else { mid + 24.0 };
            svg.text(x(*v), dy, Anchor::Middle, "", &format!("{label} {v:.2}"));
        }
    }
    svg.finish()
}

// ---------------------------------------------------------------------------------------------
// Bundle sizes

/// Per built output: each measured file's raw, gzip and brotli size against the per-file
/// budgets, and the total against the total budgets, with the growth since the last run.
pub(super) fn bundles(report: &Report, past: &[Entry]) -> String {
    let outputs: Vec<&Value> = evidence(report, "build.bundle_size")
        .and_then(|e| e.get("outputs"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let files: usize = outputs
        .iter()
        .map(|o| {
            o.get("largest")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
        .sum();
    let mut out = String::new();
    section_open(&mut out, "bundles", "Bundle sizes", files);
    if outputs.is_empty() {
        out.push_str(
            "<p class=\"empty\">No build output was measured in this run.</p></section>\n",
        );
        return out;
    }
    out.push_str("<p class=\"legend muted\"><span><i class=\"swatch\" style=\"background:var(--raw)\"></i>raw</span>\
        <span><i class=\"swatch\" style=\"background:var(--gzip)\"></i>gzip</span>\
        <span><i class=\"swatch\" style=\"background:var(--brotli)\"></i>brotli</span>\
        <span><i class=\"swatch\" style=\"background:var(--fail)\"></i>budget</span></p>");
    let previous = past.last();
    for (i, o) in outputs.iter().enumerate() {
        let app = o.get("app").and_then(Value::as_str).unwrap_or("");
        let dir = o.get("output").and_then(Value::as_str).unwrap_or("");
        let largest: Vec<&Value> = o
            .get("largest")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let budgets: Vec<&Value> = o
            .get("budgets")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let total = o.get("total");
        let size = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_u64);
        let key = history::bundle_key(app, dir);
        let growth = match (
            previous.and_then(|p| p.bundles.get(&key)),
            size(total, "gzip"),
        ) {
            (Some(before), Some(now)) => {
                let change = i128::from(now) - i128::from(*before);
                let sign = if change >= 0 { "+" } else { "−" };
                format!(
                    "; gzip total {sign}{} since the last run",
                    bytes(u64::try_from(change.unsigned_abs()).unwrap_or(u64::MAX))
                )
            }
            _ => "; no earlier measurement to compare with".to_owned(),
        };
        let _ = write!(
            out,
            "<h3>{} <code>{}</code> <span class=\"muted\">— largest {} of {} files{}</span></h3>",
            esc(app),
            esc(dir),
            largest.len(),
            o.get("files").and_then(Value::as_u64).unwrap_or(0),
            esc(&growth)
        );
        let per_file: Vec<&Value> = budgets
            .iter()
            .copied()
            .filter(|b| b.get("per_file").and_then(Value::as_bool) == Some(true))
            .collect();
        let whole: Vec<&Value> = budgets
            .iter()
            .copied()
            .filter(|b| b.get("per_file").and_then(Value::as_bool) != Some(true))
            .collect();
        let rows: Vec<(String, Option<&Value>)> = largest
            .iter()
            .map(|f| {
                (
                    f.get("path")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    Some(*f),
                )
            })
            .collect();
        out.push_str(&size_bars(
            &format!("bundle-{i}"),
            &format!("{app} files"),
            "bundle-file",
            &rows,
            &per_file,
        ));
        let total_row = vec![("total".to_owned(), total)];
        out.push_str(&size_bars(
            &format!("bundle-total-{i}"),
            &format!("{app} total"),
            "bundle-total",
            &total_row,
            &whole,
        ));
    }
    out.push_str("</section>\n");
    out
}

/// Rows of raw/gzip/brotli bars on one linear byte axis, with the budgets as lines.
fn size_bars(
    id: &str,
    title: &str,
    class: &str,
    rows: &[(String, Option<&Value>)],
    budgets: &[&Value],
) -> String {
    let size = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_u64);
    let limits: Vec<(u64, String)> = budgets
        .iter()
        .filter_map(|b| {
            let limit = b.get("limit").and_then(Value::as_u64)?;
            let compression = b
                .get("compression")
                .and_then(Value::as_str)
                .unwrap_or("raw");
            let pattern = b.get("pattern").and_then(Value::as_str).unwrap_or("");
            Some((
                limit,
                format!("budget {} ({compression}, {pattern})", bytes(limit)),
            ))
        })
        .collect();
    let max = rows
        .iter()
        .filter_map(|(_, v)| size(*v, "raw"))
        .chain(limits.iter().map(|(l, _)| *l))
        .max()
        .unwrap_or(1)
        .max(1);
    let (label_w, plot_w, row_h, top) = (250.0, 840.0, 26.0, 18.0);
    let height = top + row_h * fu(rows.len()) + 20.0;
    let x = |b: u64| label_w + f(b) / f(max) * plot_w;
    let mut svg = Svg::new(
        id,
        label_w + plot_w + 90.0,
        height,
        &format!("Bundle sizes: {title}"),
        &format!(
            "{} row(s) of raw, gzip and brotli sizes on a byte axis up to {}{}",
            rows.len(),
            bytes(max),
            if limits.is_empty() {
                String::new()
            } else {
                format!(", with {} budget line(s)", limits.len())
            }
        ),
    );
    let axis_y = height - 18.0;
    svg.line(label_w, axis_y, label_w + plot_w, axis_y, "axis");
    let step = nice_step(f(max), 6.0);
    let mut t = 0.0;
    while t <= f(max) + 0.5 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a tick in bytes"
        )]
        let tick = t as u64;
        svg.line(x(tick), top - 6.0, x(tick), axis_y, "grid");
        svg.text(x(tick), height - 5.0, Anchor::Middle, "muted", &bytes(tick));
        t += step;
    }
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = top + row_h * fu(i);
        svg.group(class, &[("data-path", label)]);
        svg.text(
            4.0,
            y + row_h * 0.55,
            Anchor::Start,
            "",
            &truncate(label, 38),
        );
        for (k, kind) in ["raw", "gzip", "brotli"].iter().enumerate() {
            if let Some(b) = size(*v, kind) {
                let by = y + 2.0 + fu(k) * 7.0;
                svg.rect(
                    label_w,
                    by,
                    (x(b) - label_w).max(1.0),
                    6.0,
                    kind,
                    &format!("{label} {kind}: {} ({b} bytes)", bytes(b)),
                );
                if k == 1 {
                    svg.text(x(b) + 4.0, by + 6.0, Anchor::Start, "muted", &bytes(b));
                }
            }
        }
        svg.end_group();
    }
    for (limit, label) in &limits {
        svg.line(x(*limit), top - 10.0, x(*limit), axis_y, "budget");
        svg.text(x(*limit) - 3.0, top - 8.0, Anchor::End, "", label);
    }
    svg.finish()
}

// ---------------------------------------------------------------------------------------------
// Port map

/// Service → host port → container port → declaration, rows the `ports.no_conflicts` check
/// flagged highlighted with its finding: red for a conflict (a duplicate, a port in use), amber
/// for a port another project reserved.
pub(super) fn ports(report: &Report) -> String {
    let ports = &report.infrastructure.ports;
    let flags: Vec<&super::model::Finding> = report
        .gates
        .iter()
        .flat_map(|g| &g.checks)
        .filter(|c| c.id == "ports.no_conflicts")
        .flat_map(|c| &c.findings)
        .collect();
    let mut out = String::new();
    section_open(&mut out, "ports", "Port map", ports.len());
    if ports.is_empty() {
        out.push_str("<p class=\"empty\">No published port was declared or checked in this run.</p></section>\n");
        return out;
    }
    let mut order: Vec<usize> = (0..ports.len()).collect();
    order.sort_by_key(|&i| {
        (
            ports[i].effective.unwrap_or(u16::MAX),
            ports[i].service.clone(),
        )
    });
    let flagged = order
        .iter()
        .filter(|&&i| flags.iter().any(|f| names(f, &ports[i].source)))
        .count();
    let _ = write!(
        out,
        "<p class=\"muted\">{} declaration(s); {flagged} flagged by <code>ports.no_conflicts</code>.</p>\
         <table><thead><tr><th>Service</th><th></th><th class=\"num\">Host port</th><th></th><th class=\"num\">Container port</th>\
         <th>Protocol</th><th>Declared at</th><th>Expression</th><th>Problem</th></tr></thead><tbody>",
        ports.len()
    );
    for &i in &order {
        let p = &ports[i];
        let about: Vec<&&super::model::Finding> =
            flags.iter().filter(|f| names(f, &p.source)).collect();
        let problems: Vec<&str> = about.iter().map(|f| f.message.as_str()).collect();
        // A duplicate or a port in use is an error; a port another project reserved, a warning.
        let class = if about.iter().any(|f| f.severity == Severity::Error) {
            " conflict"
        } else if about.is_empty() {
            ""
        } else {
            " reserved"
        };
        let host = match (p.effective, p.effective_end) {
            (Some(a), Some(b)) => format!("{a}–{b}"),
            (Some(a), None) => a.to_string(),
            (None, _) => "unresolved".to_owned(),
        };
        let bind = p
            .host_ip
            .as_deref()
            .map_or_else(String::new, |ip| format!("{ip}:"));
        let _ = write!(
            out,
            "<tr class=\"port{class}\"><td>{}</td><td>→</td><td class=\"num\">{}{}</td><td>→</td><td class=\"num\">{}</td>\
             <td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&p.service),
            esc(&bind),
            esc(&host),
            p.target.map_or_else(|| "—".to_owned(), |t| t.to_string()),
            esc(&p.protocol),
            esc(&p.source),
            esc(&p.expression),
            esc(&problems.join("; "))
        );
    }
    out.push_str("</tbody></table></section>\n");
    out
}

/// Whether a finding is about the declaration at `source` (`file:line`): located there, or
/// naming it in its message (a duplicate names both declarations).
fn names(finding: &super::model::Finding, source: &str) -> bool {
    let at = match (&finding.file, finding.line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        _ => String::new(),
    };
    at == source
        || finding.message.contains(&format!("({source})"))
        || finding.message.contains(&format!("{source} "))
}

// ---------------------------------------------------------------------------------------------
// History trend

/// Duration and failing checks over the recorded runs and this one.
pub(super) fn history(report: &Report, past: &[Entry]) -> String {
    let mut runs: Vec<Entry> = past.to_vec();
    runs.push(history::entry(report));
    let mut out = String::new();
    section_open(&mut out, "history", "History trend", runs.len());
    if past.is_empty() {
        out.push_str("<p class=\"empty\">No earlier run is recorded in <code>.devops-agent/history.jsonl</code>; the trend starts with this run.</p></section>\n");
        return out;
    }
    let failing = |e: &Entry| e.checks.values().filter(|s| s.is_blocking()).count();
    let max_d = runs.iter().map(|e| e.duration_ms).max().unwrap_or(1).max(1);
    let max_f = runs.iter().map(failing).max().unwrap_or(0).max(1);
    let (left, plot_w, top, line_h, bar_h) = (60.0, 1060.0, 16.0, 110.0, 60.0);
    let height = top + line_h + 20.0 + bar_h + 24.0;
    let n = runs.len();
    let xs = |i: usize| {
        left + if n > 1 {
            fu(i) / fu(n - 1) * plot_w
        } else {
            plot_w / 2.0
        }
    };
    let mut svg = Svg::new(
        "history-chart",
        left + plot_w + 40.0,
        height,
        "History trend",
        &format!(
            "{n} runs, oldest first: duration as a line (up to {}) and failing checks as bars (up to {max_f})",
            duration(max_d)
        ),
    );
    svg.text(4.0, top + 4.0, Anchor::Start, "muted", &duration(max_d));
    svg.text(4.0, top + line_h, Anchor::Start, "muted", "0");
    svg.line(left, top + line_h, left + plot_w, top + line_h, "axis");
    let points: Vec<(f64, f64)> = runs
        .iter()
        .enumerate()
        .map(|(i, e)| (xs(i), top + line_h - f(e.duration_ms) / f(max_d) * line_h))
        .collect();
    svg.polyline(&points, "trend");
    let base = top + line_h + 20.0 + bar_h;
    svg.text(
        4.0,
        base - bar_h + 4.0,
        Anchor::Start,
        "muted",
        &format!("{max_f} failing"),
    );
    svg.line(left, base, left + plot_w, base, "axis");
    let bar_w = (plot_w / fu(n) * 0.5).clamp(2.0, 24.0);
    for (i, e) in runs.iter().enumerate() {
        let fails = failing(e);
        let tip = format!(
            "{}{}: {}, {}, {fails} failing check(s)",
            e.timestamp,
            if i + 1 == n { " (this run)" } else { "" },
            e.result,
            duration(e.duration_ms)
        );
        svg.group("run", &[("data-timestamp", &e.timestamp)]);
        svg.circle(points[i].0, points[i].1, 4.0, "dot", &tip);
        let h = fu(fails) / fu(max_f) * bar_h;
        svg.rect(xs(i) - bar_w / 2.0, base - h, bar_w, h, "fails", &tip);
        svg.end_group();
    }
    svg.text(
        left,
        height - 4.0,
        Anchor::Start,
        "muted",
        &runs[0].timestamp,
    );
    svg.text(
        left + plot_w,
        height - 4.0,
        Anchor::End,
        "muted",
        "this run",
    );
    out.push_str(&svg.finish());
    out.push_str("</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{self, CheckId, CheckResult, GateId, GateResult, Status};
    use crate::report::{PortAssignment, RunRecord, assemble};

    fn port(service: &str, effective: u16, source: &str) -> PortAssignment {
        PortAssignment {
            service: service.to_owned(),
            expression: format!("${{P:-{effective}}}"),
            variable: Some("P".to_owned()),
            default: Some(effective),
            effective: Some(effective),
            effective_end: None,
            target: Some(80),
            protocol: "tcp".to_owned(),
            host_ip: None,
            source: source.to_owned(),
        }
    }

    #[test]
    fn port_rows_the_check_flagged_are_highlighted_by_severity() {
        let findings = vec![
            check::Finding::new(
                check::Severity::Error,
                "host port 4000/tcp is published by both `api` (compose.yaml:6) and `worker` (compose.yaml:10)",
            )
            .at("compose.yaml", Some(10), Some(9)),
            check::Finding::new(
                check::Severity::Warning,
                "port 5000 of `web` is reserved by another project (/srv/other, WEB_PORT); move",
            )
            .at("compose.yaml", Some(14), None),
        ];
        let record = RunRecord {
            command: "ports".to_owned(),
            gates: vec![GateResult {
                id: GateId::Ports,
                checks: vec![
                    CheckResult::new(CheckId::PortsNoConflicts, Status::Failed, "conflicts")
                        .with_findings(findings),
                ],
                duration: std::time::Duration::ZERO,
                started: None,
                ports: Vec::new(),
            }],
            ports: vec![
                port("api", 4000, "compose.yaml:6"),
                port("worker", 4000, "compose.yaml:10"),
                port("web", 5000, "compose.yaml:14"),
                port("db", 5432, "compose.yaml:18"),
            ],
            ..RunRecord::default()
        };
        let html = ports(&assemble(&record));
        assert_eq!(
            html.matches("<tr class=\"port conflict\">").count(),
            2,
            "{html}"
        );
        assert_eq!(
            html.matches("<tr class=\"port reserved\">").count(),
            1,
            "{html}"
        );
        assert_eq!(html.matches("<tr class=\"port\">").count(), 1, "{html}");
        assert!(html.contains("data-count=\"4\""));
    }

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(3_400), "3.4 s");
        assert_eq!(duration(125_000), "2 min 5 s");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(50_000), "50.0 kB");
        assert!((nice_step(4_800.0, 8.0) - 1_000.0).abs() < f64::EPSILON);
        assert!((nice_step(50_000.0, 6.0) - 10_000.0).abs() < f64::EPSILON);
    }

    #[test]
    fn sections_without_measurements_say_so_and_draw_nothing() {
        let report = assemble(&RunRecord {
            command: "validate".to_owned(),
            ..RunRecord::default()
        });
        for section in [
            timeline(&report),
            latency(&report),
            bundles(&report, &[]),
            ports(&report),
        ] {
            assert!(section.contains("data-count=\"0\""), "{section}");
            assert!(section.contains("class=\"empty\""), "{section}");
            assert!(!section.contains("<svg"), "{section}");
        }
    }
}
