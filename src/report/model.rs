//! The wire types of the JSON report: the seed's "JSON Output Structure" plus `gates`.
//!
//! These structs are the contract other programs parse. They are kept apart from the domain
//! types in `crate::check`; the JSON Schema published by `devops-agent schema` is generated from
//! them and committed as `schema/report.schema.json`. A value that was not measured is `null`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the report format (`meta.version`). Bump the minor version when adding fields,
/// the major version when changing or removing one.
pub const REPORT_VERSION: &str = "1.3.0";

/// The whole report: exactly one of these is printed on stdout in `json` format.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub meta: Meta,
    /// One sentence: the verdict and the counts.
    pub summary: String,
    /// Checks by status across all gates.
    pub totals: Totals,
    pub infrastructure: Infrastructure,
    pub deployment: Deployment,
    pub monitoring: Monitoring,
    pub costs: Costs,
    /// What other agents need next, derived from what failed (seed: `next_agent_needs`).
    pub next_agent_needs: BTreeMap<String, Vec<String>>,
    pub sprint_validation: SprintValidation,
    /// Every gate that ran, in order, with every check.
    pub gates: Vec<Gate>,
    /// Every command a gate ran (builds, the app's services), in the order they started, from
    /// their `command_started` / `command_finished` events: the run's timeline with the gates'
    /// and checks' `started_ms`.
    pub commands: Vec<CommandRun>,
    /// Problems that stopped a check or the run from being evaluated (e.g. a malformed config),
    /// each naming the file and line where known.
    pub errors: Vec<RunError>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Always `devops_agent` (the seed's agent name).
    pub agent: String,
    /// Report format version (semver), see `devops-agent schema`.
    pub version: String,
    /// The devops-agent release that wrote the report.
    pub tool_version: String,
    /// When the run started, RFC 3339 UTC.
    pub timestamp: String,
    /// The subcommand that produced the report: `validate`, `ports`, `ports allocate`, …
    pub command: String,
    /// The project directory, absolute.
    pub project: String,
    /// The configuration file read, or null when none was found.
    pub config: Option<String>,
    /// Wall time of the whole run.
    pub duration_ms: u64,
    /// True when a signal (Ctrl-C, SIGTERM, SIGHUP) cut the run short; the report is partial.
    pub interrupted: bool,
    /// The signal that cut the run short (`SIGINT`, `SIGTERM`, `SIGHUP`), or null.
    pub interrupted_by: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    pub passed: u32,
    pub failed: u32,
    pub warning: u32,
    pub skipped: u32,
    pub error: u32,
    /// Checks whose every problem is accepted in the baseline.
    pub accepted: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Infrastructure {
    /// `development` and `production`, as observed by the startup gate (null fields until then).
    pub environments: BTreeMap<String, Environment>,
    /// Service name → the port expression, in the seed's form (`"${FRONTEND_PORT:-5173}"`).
    pub port_configuration: BTreeMap<String, String>,
    /// Every port declaration found, with where it came from and its effective value.
    pub ports: Vec<PortAssignment>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// `healthy` / `unhealthy`, or null when the environment was not started.
    pub status: Option<String>,
    pub url: Option<String>,
    pub resources: Option<String>,
}

/// One published port: where it is declared and what it resolves to.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortAssignment {
    pub service: String,
    /// The host-side expression as written, e.g. `${BACKEND_PORT:-3000}` or `8080`.
    pub expression: String,
    /// The environment variable that sets it, when there is one.
    pub variable: Option<String>,
    /// The default written in the expression, when there is one.
    pub default: Option<u16>,
    /// The host port after interpolation (process env, then `.env`, then the default); null when
    /// it cannot be resolved.
    pub effective: Option<u16>,
    /// Last port of a range (`8000-8010:8000-8010`), else null.
    pub effective_end: Option<u16>,
    /// Port inside the container, when declared.
    pub target: Option<u16>,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Host address the port is bound to, null for all addresses.
    pub host_ip: Option<String>,
    /// `file:line` of the declaration.
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// From the history file when one exists; null otherwise.
    pub last_deployment: Option<LastDeployment>,
    /// Gate name → `passing` / `failing` / `warning` / `skipped` / `error`; null for gates that
    /// did not run.
    pub deployment_pipeline: BTreeMap<String, Option<String>>,
    /// What changed since the previous `validate` run recorded in
    /// `.devops-agent/history.jsonl`; null for the first run or with `--no-history`.
    pub since_last: Option<RunDiff>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunDiff {
    pub previous_timestamp: String,
    /// Checks failing or erroring now that were not before.
    pub newly_failing: Vec<String>,
    /// Checks failing or erroring before that are not now.
    pub newly_fixed: Vec<String>,
    /// This run's duration minus the previous run's.
    pub duration_change_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LastDeployment {
    /// When the previous `validate` run started.
    pub timestamp: String,
    /// Not known to devops-agent: always null.
    pub version: Option<String>,
    /// Its verdict: `passed`, `failed` or `pending`.
    pub status: String,
    pub duration_ms: u64,
}

/// Figures measured by the health and integration probes. Nothing here is ever estimated: a
/// figure that was not measured is null.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// devops-agent does not observe uptime over time; always null.
    pub uptime: Option<String>,
    pub response_time: Option<ResponseTime>,
    /// Fraction of probe requests that failed, 0.0–1.0.
    pub error_rate: Option<f64>,
    pub alerts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseTime {
    pub samples: u32,
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// devops-agent does not price infrastructure: these stay null/empty rather than invented.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Costs {
    pub monthly_estimate: Option<String>,
    pub cost_optimization: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SprintValidation {
    /// The story validated, or null for single-gate commands.
    pub story_id: Option<String>,
    pub validation_status: ValidationStatus,
    pub deployment_ready: bool,
    pub blocking_issues: Vec<BlockingIssue>,
    pub validation_timestamp: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidationStatus {
    /// The run was interrupted before a verdict.
    Pending,
    Passed,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockingIssue {
    pub check: String,
    pub status: CheckStatus,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    pub id: String,
    pub title: String,
    pub status: CheckStatus,
    /// When the gate started, in milliseconds after the run started; null when not measured.
    pub started_ms: Option<u64>,
    pub duration_ms: u64,
    pub checks: Vec<Check>,
}

/// One command a gate ran, placed on the run's timeline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRun {
    /// The gate that ran it.
    pub gate: String,
    /// What it was for: a check id (`build.dev_build`) or `mode service` (`development web`).
    pub purpose: String,
    /// The command line, secrets redacted.
    pub command: String,
    /// When it started, in milliseconds after the run started.
    pub started_ms: u64,
    /// How long it ran; null when the run ended before it did (no `command_finished`).
    pub duration_ms: Option<u64>,
    /// `exited`, `signaled`, `timed_out`, `cancelled`, `stopped` or `spawn_failed`; null when
    /// it never finished.
    pub ending: Option<String>,
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    Warning,
    Skipped,
    Error,
    /// Every problem the check found is accepted in the project's baseline (`[[accept]]`).
    Accepted,
}

impl CheckStatus {
    /// Whether this status blocks `deployment_ready` (SPEC: a required check `failed` or
    /// `error`). No wildcard: a new status must be decided here.
    pub fn is_blocking(self) -> bool {
        match self {
            CheckStatus::Failed | CheckStatus::Error => true,
            CheckStatus::Passed
            | CheckStatus::Warning
            | CheckStatus::Skipped
            | CheckStatus::Accepted => false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Stable id, e.g. `ports.no_conflicts`.
    pub id: String,
    pub title: String,
    pub status: CheckStatus,
    /// What was verified or what is wrong; for `skipped`, the reason.
    pub message: String,
    /// Whether a `failed`/`error` status blocks `deployment_ready`.
    pub required: bool,
    /// When the check started, in milliseconds after the run started; null for a check that did
    /// not run (skipped by the plan, not reached) or whose start was not measured.
    pub started_ms: Option<u64>,
    pub duration_ms: u64,
    pub findings: Vec<Finding>,
    /// Check-specific measured facts.
    pub evidence: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
    /// Path relative to the project directory where possible.
    pub file: Option<String>,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub suggestion: Option<String>,
    /// Stable id of this finding for the baseline (`[[accept]]` with `check` and
    /// `fingerprint`): survives moved lines and changed figures.
    pub fingerprint: String,
    /// The baseline entry that accepts it, when one does.
    pub accepted: Option<AcceptedFinding>,
}

/// A baseline entry that matched a finding.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptedFinding {
    pub reason: String,
    /// Last day it is accepted (`YYYY-MM-DD`), when it has one.
    pub expires: Option<String>,
    /// The day has passed: the finding counts again.
    pub expired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunError {
    pub message: String,
    pub file: Option<String>,
    pub line: Option<u64>,
    pub column: Option<u64>,
}
