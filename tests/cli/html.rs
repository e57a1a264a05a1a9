//! `--format html` in a real browser: the demo's report and a failing project's report are
//! loaded in Debian's headless `chromium` (driven over the `DevTools` protocol, see `cdp`), which
//! must see no network request and no console error, and find each section with the counts the
//! JSON report of the same run implies. A screenshot of each is left under
//! `target/html-report/` for people to look at.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use serde_json::Value;

use crate::cdp::{Browser, FLAGS, chromium};
use crate::common::{copy_fixture, demo_ports, devops_agent, fixture, run, skip};

fn browser_binary() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        skip("chromium is not installed (scripts/test.sh installs Debian's `chromium`)");
    }
    found
}

/// Run `validate` on `project` with the JSON report on stdout and the HTML report in a file of
/// the same run; return both.
fn validate(project: &Path, extra: &[&str], demo: bool) -> (Value, PathBuf) {
    let state = tempfile::tempdir().unwrap();
    let html = project.join("report.html");
    let mut cmd = devops_agent(state.path());
    cmd.args(["validate", "HTML-1", "--format", "json", "--output"])
        .arg(format!("html={}", html.display()))
        .args(extra)
        .arg("--project")
        .arg(project);
    if demo {
        demo_ports(&mut cmd);
    }
    let out = run(cmd);
    assert!(out.code == 0 || out.code == 1, "{}", out.stderr);
    (out.report(), html)
}

/// What the page's DOM says, as one JSON object.
const COUNTS: &str = r#"JSON.stringify({
  sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
  count: Object.fromEntries([...document.querySelectorAll('section[data-count]')].map(s => [s.id, +s.dataset.count])),
  spans: document.querySelectorAll('#timeline svg g.span').length,
  failed_spans: document.querySelectorAll('#timeline svg g.span[data-failed="true"]').length,
  endpoints: document.querySelectorAll('#latency figure.endpoint').length,
  samples: document.querySelectorAll('#latency circle.sample').length,
  thresholds: document.querySelectorAll('#latency line.threshold').length,
  bundle_files: document.querySelectorAll('#bundles g.bundle-file').length,
  port_rows: document.querySelectorAll('#ports tr.port').length,
  conflicts: document.querySelectorAll('#ports tr.conflict').length,
  history_runs: document.querySelectorAll('#history g.run').length,
  checks: document.querySelectorAll('#checks details.check').length,
  charts_titled: [...document.querySelectorAll('svg.chart')].every(s => s.querySelector('title') && s.getAttribute('role') === 'img'),
  verdict: document.querySelector('#verdict .badge').textContent,
  scripts: document.scripts.length,
})"#;

/// Load `html` in the browser: nothing fetched, nothing logged as an error; the DOM's counts.
fn inspect(browser: &mut Browser, html: &Path) -> Value {
    let url = format!("file://{}", html.display());
    let load = browser.load(&url);
    assert_eq!(
        load.requests,
        vec![url.clone()],
        "the page fetched something"
    );
    assert!(load.errors.is_empty(), "console errors: {:#?}", load.errors);
    let text = browser.evaluate(COUNTS);
    serde_json::from_str(text.as_str().expect("a string")).expect("counts JSON")
}

/// WCAG contrast ratios against the page background of body text, muted text, chart labels
/// and the first timeline bar, in the scheme the page is in.
const CONTRAST: &str = r"(() => {
  const rgb = s => s.match(/[\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const style = sel => getComputedStyle(document.querySelector(sel));
  const bg = style('body').backgroundColor;
  return { bg, text: ratio(style('body').color, bg), muted: ratio(style('.muted').color, bg),
           chart_text: ratio(style('#timeline svg text').fill, bg), bar: ratio(style('#timeline svg rect').fill, bg) };
})()";

/// Legible in both schemes: text at least 4.5:1 against the background, marks at least 3:1
/// (WCAG AA), and the dark scheme really is another background.
fn assert_legible(browser: &mut Browser) {
    let mut backgrounds = Vec::new();
    for scheme in ["light", "dark"] {
        browser.color_scheme(scheme);
        let c = browser.evaluate(CONTRAST);
        for (key, min) in [
            ("text", 4.5),
            ("muted", 4.5),
            ("chart_text", 4.5),
            ("bar", 3.0),
        ] {
            let got = c[key].as_f64().unwrap();
            assert!(got >= min, "{scheme}: {key} contrast {got:.2} < {min}: {c}");
        }
        backgrounds.push(c["bg"].clone());
    }
    assert_ne!(
        backgrounds[0], backgrounds[1],
        "the dark scheme changes the page"
    );
    browser.color_scheme("light");
}

/// Screenshots through the command line, as people would take them, light and dark.
fn screenshot(binary: &Path, html: &Path, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/html-report");
    std::fs::create_dir_all(&dir).unwrap();
    for (scheme, flags) in [("light", &[][..]), ("dark", &["--force-dark-mode"][..])] {
        let png = dir.join(format!("{name}-{scheme}.png"));
        let _ = std::fs::remove_file(&png);
        let profile = tempfile::tempdir().unwrap();
        let status = Process::new(binary)
            .args(FLAGS)
            .args(flags)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--screenshot={}", png.display()))
            .arg("--window-size=1280,2000")
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("run chromium");
        assert!(status.status.success(), "{status:?}");
        let bytes = std::fs::read(&png).expect("screenshot written");
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "{} is not a PNG",
            png.display()
        );
    }
}

/// Expected counts from the JSON report.
struct Expected {
    spans: usize,
    failed_spans: usize,
    endpoints: usize,
    samples: usize,
    bundle_files: usize,
    ports: usize,
    checks: usize,
}

fn expected(report: &Value) -> Expected {
    let gates = report["gates"].as_array().unwrap();
    let checks: Vec<&Value> = gates
        .iter()
        .flat_map(|g| g["checks"].as_array().unwrap())
        .collect();
    let failing = |v: &Value| matches!(v["status"].as_str(), Some("failed" | "error"));
    let timed = |v: &Value| !v["started_ms"].is_null();
    let commands = report["commands"].as_array().unwrap();
    // As the timeline marks them: a non-zero exit, or an ending other than a normal stop.
    let failed_commands = commands
        .iter()
        .filter(|c| match c["ending"].as_str() {
            Some("exited") => c["exit_code"] != 0 && !c["exit_code"].is_null(),
            Some("stopped" | "cancelled") | None => false,
            Some(_) => true,
        })
        .count();
    let health = checks
        .iter()
        .find(|c| c["id"] == "startup.health_checks")
        .map(|c| {
            c["evidence"]["endpoints"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let bundle_files = checks
        .iter()
        .find(|c| c["id"] == "build.bundle_size")
        .and_then(|c| c["evidence"]["outputs"].as_array())
        .map_or(0, |o| {
            o.iter()
                .map(|o| o["largest"].as_array().map_or(0, Vec::len))
                .sum()
        });
    Expected {
        spans: gates.iter().filter(|g| timed(g)).count()
            + checks.iter().filter(|c| timed(c)).count()
            + commands.len(),
        failed_spans: gates.iter().filter(|g| timed(g) && failing(g)).count()
            + checks.iter().filter(|c| timed(c) && failing(c)).count()
            + failed_commands,
        endpoints: health.len(),
        samples: health
            .iter()
            .map(|e| e["samples_ms"].as_array().map_or(0, Vec::len))
            .sum(),
        bundle_files,
        ports: report["infrastructure"]["ports"].as_array().unwrap().len(),
        checks: checks.len(),
    }
}

fn assert_counts(dom: &Value, want: &Expected) {
    assert_eq!(
        dom["sections"],
        serde_json::json!([
            "timeline", "latency", "bundles", "ports", "history", "checks"
        ]),
        "{dom:#}"
    );
    assert_eq!(dom["spans"], want.spans, "timeline bars: {dom:#}");
    assert_eq!(dom["count"]["timeline"], want.spans);
    assert_eq!(
        dom["failed_spans"], want.failed_spans,
        "failures marked: {dom:#}"
    );
    assert_eq!(dom["endpoints"], want.endpoints, "{dom:#}");
    assert_eq!(dom["count"]["latency"], want.endpoints);
    assert_eq!(dom["samples"], want.samples, "{dom:#}");
    assert_eq!(dom["bundle_files"], want.bundle_files, "{dom:#}");
    assert_eq!(dom["count"]["bundles"], want.bundle_files);
    assert_eq!(dom["port_rows"], want.ports, "{dom:#}");
    assert_eq!(dom["count"]["ports"], want.ports);
    assert_eq!(dom["checks"], want.checks, "{dom:#}");
    assert_eq!(
        dom["charts_titled"], true,
        "every chart has a title and role=img"
    );
    assert_eq!(dom["scripts"], 0, "the page needs no script");
}

#[test]
fn demo_report_renders_in_chromium_offline_with_every_section() {
    let Some(binary) = browser_binary() else {
        return;
    };
    let dir = copy_fixture("demo");
    // Other tests run `validate` on the fixture in place, leaving a history there; start clean.
    let _ = std::fs::remove_dir_all(dir.path().join(".devops-agent"));
    // A first run leaves a history entry, so the second shows deltas and a two-point trend.
    validate(dir.path(), &[], true);
    let (report, html) = validate(dir.path(), &[], true);
    let want = expected(&report);
    assert!(
        want.endpoints >= 2 && want.samples >= 20,
        "the demo samples its health endpoints"
    );
    assert!(want.bundle_files >= 1, "the demo's bundle is measured");
    assert!(want.spans > 20 && want.failed_spans == 0);

    let mut browser = Browser::start(&binary);
    let dom = inspect(&mut browser, &html);
    assert_counts(&dom, &want);
    assert_eq!(dom["verdict"], "deployment ready");
    assert_eq!(dom["conflicts"], 0);
    assert_eq!(
        dom["thresholds"], want.endpoints,
        "each endpoint shows the threshold"
    );
    assert_eq!(dom["count"]["history"], 2, "{dom:#}");
    assert_eq!(dom["history_runs"], 2);
    assert_legible(&mut browser);
    // Printed, the folded findings and evidence are on paper: nothing is left inside a closed
    // <details>.
    let folded = "[...document.querySelectorAll('#checks details:not([open]) pre')]\
                  .filter(p => !p.checkVisibility()).length";
    assert!(
        browser.evaluate(folded).as_u64().unwrap() > 0,
        "folded on screen"
    );
    browser.print_media(true);
    assert_eq!(
        browser.evaluate(folded),
        0,
        "printed, every evidence block shows"
    );
    browser.print_media(false);
    let since = browser.evaluate("document.querySelector('#since-last').textContent");
    assert!(
        since.as_str().unwrap().starts_with("Since the last run"),
        "{since}"
    );
    screenshot(&binary, &html, "demo");
}

#[test]
fn failing_report_marks_failures_and_port_conflicts() {
    let Some(binary) = browser_binary() else {
        return;
    };
    // Two services on one host port, and a build that exits 2: run every gate regardless.
    let dir = tempfile::tempdir().unwrap();
    for name in ["duplicate", "build-fail"] {
        crate::common::copy_dir(&fixture(name), dir.path());
    }
    let (report, html) = validate(dir.path(), &["--keep-going", "--no-history"], false);
    assert_eq!(report["sprint_validation"]["deployment_ready"], false);
    let want = expected(&report);
    assert!(
        want.failed_spans >= 4,
        "failed gates, checks and commands: {}",
        want.failed_spans
    );

    let mut browser = Browser::start(&binary);
    let dom = inspect(&mut browser, &html);
    assert_counts(&dom, &want);
    assert_eq!(dom["verdict"], "not deployment ready");
    assert_eq!(
        dom["conflicts"], 2,
        "both declarations of host port 4000: {dom:#}"
    );
    assert_legible(&mut browser);
    assert_eq!(dom["count"]["history"], 1, "no history kept: this run only");
    // The failing checks are open; their findings are in the page.
    let open = browser.evaluate(
        "[...document.querySelectorAll('#checks details.check[open]')].map(d => d.dataset.status)",
    );
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|s| s == "failed" || s == "error")
            && open.as_array().unwrap().len() >= 3,
        "{open}"
    );
    screenshot(&binary, &html, "failing");
}

/// The harness can fail: a page that fetches and logs an error is caught.
#[test]
fn the_browser_harness_sees_requests_and_console_errors() {
    let Some(binary) = browser_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><title>bad</title><img src=\"http://report.invalid/x.png\">\
         <script>console.error('boom')</script>",
    )
    .unwrap();
    let mut browser = Browser::start(&binary);
    let load = browser.load(&format!("file://{}", page.display()));
    assert!(
        load.requests.iter().any(|u| u.contains("report.invalid")),
        "{:?}",
        load.requests
    );
    assert!(
        load.errors.iter().any(|e| e.contains("boom")),
        "{:?}",
        load.errors
    );
}
