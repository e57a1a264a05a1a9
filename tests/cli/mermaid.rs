//! The markdown report's mermaid diagrams, as GitHub shows them in the step summary: the
//! `--format github` run writes the markdown to `$GITHUB_STEP_SUMMARY`, and each ```` ```mermaid ````
//! block there is parsed and rendered by the real mermaid library (the npm package
//! `scripts/test.sh` installs under `target/fixture-cache/tools/mermaid`) in headless chromium.
//! The rendered Gantt must have one bar per span the JSON report of the same run timed, and the
//! services graph the hops the integration gate established.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cdp::{Browser, chromium};
use crate::common::{copy_dir, copy_fixture, demo_ports, devops_agent, fixture, run, skip};

fn mermaid_js() -> Option<PathBuf> {
    let js = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/fixture-cache/tools/mermaid/node_modules/mermaid/dist/mermaid.min.js");
    if js.is_file() {
        Some(js)
    } else {
        skip("mermaid is not installed (scripts/test.sh installs the npm package `mermaid`)");
        None
    }
}

/// The bodies of the ```` ```mermaid ```` blocks of `markdown`.
fn blocks(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line == "```mermaid" => current = Some(String::new()),
            Some(body) if line == "```" => {
                out.push(std::mem::take(body));
                current = None;
            }
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "an unclosed mermaid block");
    out
}

/// Run `validate` with `--format github` and a step summary file; the JSON report comes from
/// `--output json=…` of the same run.
fn summary_of(project: &Path, extra: &[&str], demo: bool) -> (String, Value) {
    let state = tempfile::tempdir().unwrap();
    let summary = project.join("step-summary.md");
    let json = project.join("report.json");
    let mut cmd = devops_agent(state.path());
    cmd.args([
        "validate",
        "MERMAID-1",
        "--no-history",
        "--format",
        "github",
        "--output",
    ])
    .arg(format!("json={}", json.display()))
    .args(extra)
    .arg("--project")
    .arg(project)
    .env("GITHUB_STEP_SUMMARY", &summary);
    if demo {
        demo_ports(&mut cmd);
    }
    let out = run(cmd);
    assert!(out.code == 0 || out.code == 1, "{}", out.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    crate::common::assert_valid(&report);
    (
        std::fs::read_to_string(&summary).expect("step summary written"),
        report,
    )
}

/// Parse and render each diagram with mermaid in the page; what mermaid made of it.
fn render(browser: &mut Browser, diagram: &str) -> Value {
    let script = format!(
        "(async () => {{ const text = {}; \
           try {{ const parsed = await mermaid.parse(text); \
                  const {{ svg }} = await mermaid.render('d' + Math.random().toString(36).slice(2), text); \
                  const doc = new DOMParser().parseFromString(svg, 'image/svg+xml'); \
                  return {{ type: parsed.diagramType, tasks: doc.querySelectorAll('rect.task').length, \
                           crit: doc.querySelectorAll('rect.task[class*=crit]').length, \
                           nodes: doc.querySelectorAll('g.node').length, \
                           edges: doc.querySelectorAll('path.flowchart-link').length }}; }} \
           catch (e) {{ return {{ error: String(e && e.message || e) }}; }} }})()",
        json!(diagram)
    );
    browser.evaluate_async(&script)
}

fn mermaid_page(js: &Path) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("mermaid.html");
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html><title>mermaid</title><script src=\"file://{}\"></script>\
             <script>mermaid.initialize({{ startOnLoad: false }});</script>",
            js.display()
        ),
    )
    .unwrap();
    let url = format!("file://{}", page.display());
    (dir, url)
}

/// Spans the report timed: gates and checks with a start, and every command.
fn timed_spans(report: &Value) -> (usize, usize) {
    let gates = report["gates"].as_array().unwrap();
    let mut spans = 0;
    let mut failing = 0;
    for item in gates
        .iter()
        .chain(gates.iter().flat_map(|g| g["checks"].as_array().unwrap()))
    {
        if !item["started_ms"].is_null() {
            spans += 1;
            if matches!(item["status"].as_str(), Some("failed" | "error")) {
                failing += 1;
            }
        }
    }
    for c in report["commands"].as_array().unwrap() {
        spans += 1;
        if c["ending"] == "exited" && c["exit_code"] != 0 {
            failing += 1;
        }
    }
    (spans, failing)
}

#[test]
fn demo_step_summary_has_a_gantt_and_a_services_graph_mermaid_renders() {
    let (Some(binary), Some(js)) = (chromium(), mermaid_js()) else {
        skip("chromium is not installed (scripts/test.sh installs Debian's `chromium`)");
        return;
    };
    let dir = copy_fixture("demo");
    let (summary, report) = summary_of(dir.path(), &[], true);
    let diagrams = blocks(&summary);
    assert_eq!(diagrams.len(), 2, "a gantt and a graph:\n{summary}");
    assert!(diagrams[0].starts_with("gantt\n") && diagrams[1].starts_with("graph LR\n"));

    let mut browser = Browser::start(&binary);
    let (_page_dir, url) = mermaid_page(&js);
    let load = browser.load(&url);
    assert!(load.errors.is_empty(), "{:?}", load.errors);
    let gantt = render(&mut browser, &diagrams[0]);
    assert_eq!(gantt["type"], "gantt", "{gantt}\n{}", diagrams[0]);
    let (spans, failing) = timed_spans(&report);
    assert_eq!(gantt["tasks"], spans, "one bar per timed span: {gantt}");
    assert_eq!(gantt["crit"], failing);
    let graph = render(&mut browser, &diagrams[1]);
    assert_eq!(graph["type"], "flowchart-v2", "{graph}\n{}", diagrams[1]);
    // frontend → backend (API base), nginx → backend (/api/, /ws), frontend → backend (dev proxy).
    assert_eq!(graph["nodes"], 3, "{graph}\n{}", diagrams[1]);
    assert_eq!(graph["edges"], 4, "{graph}\n{}", diagrams[1]);
    for hop in ["API base VITE_API_URL", "proxy /api/", "dev proxy /api"] {
        assert!(diagrams[1].contains(hop), "{}", diagrams[1]);
    }
}

#[test]
fn failing_summary_marks_failures_in_the_gantt_and_a_broken_diagram_is_caught() {
    let (Some(binary), Some(js)) = (chromium(), mermaid_js()) else {
        skip("chromium is not installed (scripts/test.sh installs Debian's `chromium`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["duplicate", "build-fail"] {
        copy_dir(&fixture(name), dir.path());
    }
    let (summary, report) = summary_of(dir.path(), &["--keep-going"], false);
    let diagrams = blocks(&summary);
    // No integration ran, so no hop is known and there is no graph.
    assert_eq!(diagrams.len(), 1, "{summary}");
    let mut browser = Browser::start(&binary);
    let (_page_dir, url) = mermaid_page(&js);
    browser.load(&url);
    let gantt = render(&mut browser, &diagrams[0]);
    let (spans, failing) = timed_spans(&report);
    assert!(failing >= 4, "{failing}");
    assert_eq!(gantt["tasks"], spans, "{gantt}\n{}", diagrams[0]);
    assert_eq!(gantt["crit"], failing, "{gantt}\n{}", diagrams[0]);
    // The check can fail: mermaid rejects a task whose fields are not dates.
    let broken = render(
        &mut browser,
        "gantt\n  dateFormat x\n  section s\n  a task :t1, 5, 10, 15, 20\n  b :t2, soon\n",
    );
    assert!(broken.get("error").is_some(), "{broken}");
}
