//! `.devops-agent/history.jsonl` in the project: one line per `validate` run, so each report can
//! say what changed since the previous one (newly failing, newly fixed, duration change), and
//! the HTML report can draw the trend.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{CheckStatus, LastDeployment, Report, RunDiff};

/// Only the end of a long history is read.
const TAIL_BYTES: u64 = 256 * 1024;

/// One recorded run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub timestamp: String,
    pub story: Option<String>,
    /// `passed`, `failed` or `pending`.
    pub result: String,
    pub deployment_ready: bool,
    pub duration_ms: u64,
    pub checks: BTreeMap<String, CheckStatus>,
    /// Gzip total of each measured build output (`app:output` → bytes, from
    /// `build.bundle_size`), so a later run can say how much it grew. Absent in older lines.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bundles: BTreeMap<String, u64>,
}

/// The key of a build output in [`Entry::bundles`].
pub fn bundle_key(app: &str, output: &str) -> String {
    format!("{app}:{output}")
}

fn path(root: &Path) -> PathBuf {
    root.join(".devops-agent").join("history.jsonl")
}

/// The most recent entry, if the history exists and its last line parses.
pub fn previous(root: &Path) -> Option<Entry> {
    recent(root, 1).pop()
}

/// Up to `max` of the most recent entries that parse, oldest first (from the file's end only).
pub fn recent(root: &Path, max: usize) -> Vec<Entry> {
    let Some(text) = tail(root) else {
        return Vec::new();
    };
    let mut entries: Vec<Entry> = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .take(max)
        .collect();
    entries.reverse();
    entries
}

fn tail(root: &Path) -> Option<String> {
    let (mut file, meta) = crate::fsread::open(&path(root)).ok()?;
    let len = meta.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The entry describing `report`.
pub fn entry(report: &Report) -> Entry {
    Entry {
        timestamp: report.meta.timestamp.clone(),
        story: report.sprint_validation.story_id.clone(),
        result: serde_json::to_value(report.sprint_validation.validation_status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        deployment_ready: report.sprint_validation.deployment_ready,
        duration_ms: report.meta.duration_ms,
        checks: report
            .gates
            .iter()
            .flat_map(|g| &g.checks)
            .map(|c| (c.id.clone(), c.status))
            .collect(),
        bundles: bundles(report),
    }
}

/// Gzip totals of the outputs `build.bundle_size` measured.
fn bundles(report: &Report) -> BTreeMap<String, u64> {
    let outputs = report
        .gates
        .iter()
        .flat_map(|g| &g.checks)
        .find(|c| c.id == "build.bundle_size")
        .and_then(|c| c.evidence.get("outputs"))
        .and_then(serde_json::Value::as_array);
    outputs
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let app = o.get("app")?.as_str()?;
            let output = o.get("output")?.as_str()?;
            let gzip = o.get("total")?.get("gzip")?.as_u64()?;
            Some((bundle_key(app, output), gzip))
        })
        .collect()
}

/// Fill `deployment.last_deployment` and `deployment.since_last` from the previous entry.
pub fn compare(report: &mut Report, previous: &Entry) {
    let now = entry(report);
    let blocking = |s: &CheckStatus| s.is_blocking();
    let mut newly_failing = Vec::new();
    let mut newly_fixed = Vec::new();
    for (id, status) in &now.checks {
        let before = previous.checks.get(id);
        if blocking(status) && !before.is_some_and(blocking) {
            newly_failing.push(id.clone());
        }
        if !blocking(status) && before.is_some_and(blocking) {
            newly_fixed.push(id.clone());
        }
    }
    report.deployment.last_deployment = Some(LastDeployment {
        timestamp: previous.timestamp.clone(),
        version: None,
        status: previous.result.clone(),
        duration_ms: previous.duration_ms,
    });
    report.deployment.since_last = Some(RunDiff {
        previous_timestamp: previous.timestamp.clone(),
        newly_failing,
        newly_fixed,
        duration_change_ms: i64::try_from(now.duration_ms).unwrap_or(i64::MAX)
            - i64::try_from(previous.duration_ms).unwrap_or(i64::MAX),
    });
}

/// Append `report`'s entry to the history, creating it as needed.
pub fn append(root: &Path, report: &Report) -> std::io::Result<()> {
    let path = path(root);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_string(&entry(report)).map_err(std::io::Error::other)?;
    line.push('\n');
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(line.as_bytes())
}
