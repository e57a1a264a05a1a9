//! Turning gate results (domain types) into the report (wire types), and the report into an
//! exit code.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::model::{
    BlockingIssue, Check, CheckStatus, CommandRun, Costs, Deployment, Environment, Finding, Gate,
    Infrastructure, Meta, Monitoring, PortAssignment, REPORT_VERSION, Report, ResponseTime,
    RunError, Severity, SprintValidation, Totals, ValidationStatus,
};
use crate::check::{self, CheckResult, GateResult, Status};
use crate::exit;

/// What a run produced, before it becomes a report.
#[derive(Debug, Default)]
pub struct RunRecord {
    /// `validate`, `ports`, `ports allocate`, …
    pub command: String,
    pub story: Option<String>,
    pub project: String,
    pub config: Option<String>,
    pub timestamp: String,
    /// When the run started: gates', checks' and commands' `started_ms` count from here.
    pub started: Option<Instant>,
    pub duration: Duration,
    pub gates: Vec<GateResult>,
    /// The commands the gates ran, from their events (see `EventSink::commands`).
    pub commands: Vec<CommandRun>,
    /// Gates the command would run, in order (those absent from `gates` are `null` in the
    /// pipeline).
    pub planned: Vec<&'static str>,
    pub ports: Vec<PortAssignment>,
    pub errors: Vec<RunError>,
    /// How the run ended: completed, interrupted by a signal, or cut by its deadline.
    pub ending: RunEnding,
    /// A usage or configuration error stopped the run before any gate.
    pub config_error: bool,
    /// What probes measured (latencies, environments, alerts).
    pub facts: crate::gates::RunFacts,
    /// `--fail-on warning`: a warning blocks deployment like a failure.
    pub fail_on_warning: bool,
}

/// How a run ended; with the check results it decides the exit code ([`exit_code`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunEnding {
    /// Every planned gate ran to its end.
    #[default]
    Completed,
    /// A signal stopped the run; the report is partial.
    Interrupted(crate::process::Interrupt),
    /// The run's `--timeout` passed before every gate finished.
    DeadlineReached(Duration),
}

impl RunEnding {
    pub fn interrupted(self) -> bool {
        matches!(self, RunEnding::Interrupted(_))
    }

    /// The signal that stopped the run, if one did.
    pub fn signal(self) -> Option<crate::process::Interrupt> {
        match self {
            RunEnding::Interrupted(signal) => Some(signal),
            RunEnding::Completed | RunEnding::DeadlineReached(_) => None,
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The wire status of a domain status.
pub(crate) fn wire_status(status: &Status) -> CheckStatus {
    match status {
        Status::Passed => CheckStatus::Passed,
        Status::Failed => CheckStatus::Failed,
        Status::Warning => CheckStatus::Warning,
        Status::Skipped { .. } => CheckStatus::Skipped,
        Status::Error => CheckStatus::Error,
        Status::Accepted => CheckStatus::Accepted,
    }
}

fn pipeline_word(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Passed => "passing",
        CheckStatus::Failed => "failing",
        CheckStatus::Warning => "warning",
        CheckStatus::Skipped => "skipped",
        CheckStatus::Error => "error",
        CheckStatus::Accepted => "accepted",
    }
}

/// Milliseconds from the run's start to `at`, when both were measured.
fn offset(run: Option<Instant>, at: Option<Instant>) -> Option<u64> {
    Some(ms(at?.saturating_duration_since(run?)))
}

fn wire_check(result: &CheckResult, run: Option<Instant>) -> Check {
    let message = match &result.status {
        Status::Skipped { reason } if result.message.is_empty() => reason.clone(),
        Status::Skipped { .. }
        | Status::Passed
        | Status::Failed
        | Status::Warning
        | Status::Error
        | Status::Accepted => result.message.clone(),
    };
    Check {
        id: result.id.as_str().to_owned(),
        title: result.id.title().to_owned(),
        status: wire_status(&result.status),
        message,
        required: true,
        started_ms: offset(run, result.started),
        duration_ms: ms(result.duration),
        findings: result
            .findings
            .iter()
            .map(|f| Finding {
                severity: match f.severity {
                    check::Severity::Error => Severity::Error,
                    check::Severity::Warning => Severity::Warning,
                    check::Severity::Info => Severity::Info,
                },
                message: f.message.clone(),
                file: f.file.as_ref().map(|p| p.to_string_lossy().into_owned()),
                line: f.line,
                column: f.column,
                suggestion: f.suggestion.clone(),
                fingerprint: f.fingerprint(result.id),
                accepted: f.accepted.as_ref().map(|a| super::model::AcceptedFinding {
                    reason: a.reason.clone(),
                    expires: a.expires.clone(),
                    expired: a.expired,
                }),
            })
            .collect(),
        evidence: result.evidence.clone(),
    }
}

/// Build the full report.
pub fn assemble(record: &RunRecord) -> Report {
    let gates: Vec<Gate> = record
        .gates
        .iter()
        .map(|g| Gate {
            id: g.id.as_str().to_owned(),
            title: g.id.title().to_owned(),
            status: wire_status(&g.status()),
            started_ms: offset(record.started, g.started),
            duration_ms: ms(g.duration),
            checks: g
                .checks
                .iter()
                .map(|c| wire_check(c, record.started))
                .collect(),
        })
        .collect();

    let mut totals = Totals::default();
    let mut blocking = Vec::new();
    for check in gates.iter().flat_map(|g| &g.checks) {
        match check.status {
            CheckStatus::Passed => totals.passed += 1,
            CheckStatus::Failed => totals.failed += 1,
            CheckStatus::Warning => totals.warning += 1,
            CheckStatus::Skipped => totals.skipped += 1,
            CheckStatus::Error => totals.error += 1,
            CheckStatus::Accepted => totals.accepted += 1,
        }
        let blocks = match check.status {
            CheckStatus::Failed | CheckStatus::Error => check.required,
            CheckStatus::Warning => record.fail_on_warning && check.required,
            CheckStatus::Passed | CheckStatus::Skipped | CheckStatus::Accepted => false,
        };
        if blocks {
            blocking.push(BlockingIssue {
                check: check.id.clone(),
                status: check.status,
                message: check.message.clone(),
            });
        }
    }
    for error in &record.errors {
        if record.config_error {
            blocking.push(BlockingIssue {
                check: "config".to_owned(),
                status: CheckStatus::Error,
                message: error.message.clone(),
            });
        }
    }

    let ran_anything = !gates.is_empty();
    let deployment_ready = blocking.is_empty()
        && record.ending == RunEnding::Completed
        && !record.config_error
        && ran_anything;
    let validation_status = if record.ending.interrupted() {
        ValidationStatus::Pending
    } else if deployment_ready {
        ValidationStatus::Passed
    } else {
        ValidationStatus::Failed
    };

    let mut pipeline: BTreeMap<String, Option<String>> = record
        .planned
        .iter()
        .map(|g| ((*g).to_owned(), None))
        .collect();
    for gate in &gates {
        pipeline.insert(gate.id.clone(), Some(pipeline_word(gate.status).to_owned()));
    }

    let port_configuration = port_configuration(&record.ports);

    let summary = summary_sentence(record, &totals, deployment_ready);
    let environment = |name: &str| {
        let seen = record.facts.environments.get(name);
        Environment {
            status: seen.map(|(s, _)| s.clone()),
            url: seen.and_then(|(_, u)| u.clone()),
            resources: None,
        }
    };
    Report {
        meta: Meta {
            agent: "devops_agent".to_owned(),
            version: REPORT_VERSION.to_owned(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            timestamp: record.timestamp.clone(),
            command: record.command.clone(),
            project: record.project.clone(),
            config: record.config.clone(),
            duration_ms: ms(record.duration),
            interrupted: record.ending.interrupted(),
            interrupted_by: record.ending.signal().map(|i| i.name().to_owned()),
        },
        summary,
        totals,
        infrastructure: Infrastructure {
            environments: BTreeMap::from([
                ("development".to_owned(), environment("development")),
                ("production".to_owned(), environment("production")),
            ]),
            port_configuration,
            ports: record.ports.clone(),
        },
        deployment: Deployment {
            last_deployment: None,
            deployment_pipeline: pipeline,
            since_last: None,
        },
        monitoring: monitoring(&record.facts),
        costs: Costs {
            monthly_estimate: None,
            cost_optimization: Vec::new(),
        },
        next_agent_needs: next_agent_needs(&blocking, deployment_ready),
        sprint_validation: SprintValidation {
            story_id: record.story.clone(),
            validation_status,
            deployment_ready,
            blocking_issues: blocking,
            validation_timestamp: super::now_rfc3339(),
        },
        gates,
        commands: record.commands.clone(),
        errors: record.errors.clone(),
    }
}

/// The seed's `monitoring`, from what probes measured; null where nothing was.
fn monitoring(facts: &crate::gates::RunFacts) -> Monitoring {
    let mut sorted = facts.latencies_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index from a rank within the slice length"
        )]
        let r = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[r.clamp(1, sorted.len()) - 1]
    };
    let round = |v: f64| (v * 100.0).round() / 100.0;
    let response_time = (!sorted.is_empty()).then(|| {
        #[expect(clippy::cast_precision_loss, reason = "a sample count")]
        let avg = sorted.iter().sum::<f64>() / sorted.len() as f64;
        ResponseTime {
            samples: u32::try_from(sorted.len()).unwrap_or(u32::MAX),
            avg_ms: round(avg),
            p50_ms: round(rank(50.0)),
            p95_ms: round(rank(95.0)),
            max_ms: round(sorted[sorted.len() - 1]),
        }
    });
    Monitoring {
        uptime: None,
        response_time,
        error_rate: (facts.requests > 0)
            .then(|| f64::from(facts.failed_requests) / f64::from(facts.requests)),
        alerts: facts.alerts.clone(),
    }
}

/// Service → port expression, the seed's `port_configuration`. A service's first port is keyed
/// by its name; further ports by `name:target` (or `name#n`), so no declaration is lost.
fn port_configuration(ports: &[PortAssignment]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for port in ports {
        let mut key = port.service.clone();
        if map.contains_key(&key) {
            key = match port.target {
                Some(t) => format!("{}:{t}", port.service),
                None => format!("{}:{}", port.service, port.expression),
            };
        }
        let mut n = 2;
        let base = key.clone();
        while map.contains_key(&key) {
            key = format!("{base}#{n}");
            n += 1;
        }
        map.insert(key, port.expression.clone());
    }
    map
}

fn summary_sentence(record: &RunRecord, totals: &Totals, ready: bool) -> String {
    let subject = record
        .story
        .clone()
        .unwrap_or_else(|| format!("devops-agent {}", record.command));
    let cancelled;
    let verdict = if let Some(signal) = record.ending.signal() {
        cancelled = format!("cancelled by {signal} before a verdict");
        cancelled.as_str()
    } else if let RunEnding::DeadlineReached(timeout) = record.ending {
        cancelled = format!(
            "not deployment ready: the run reached its --timeout {}",
            humantime::format_duration(timeout)
        );
        cancelled.as_str()
    } else if record.config_error {
        "could not run: configuration error"
    } else if ready {
        "deployment ready"
    } else {
        "not deployment ready"
    };
    let accepted = if totals.accepted > 0 {
        format!(", {} accepted", totals.accepted)
    } else {
        String::new()
    };
    format!(
        "{subject}: {verdict} ({} passed, {} failed, {} warnings, {} skipped, {} errors{accepted})",
        totals.passed, totals.failed, totals.warning, totals.skipped, totals.error
    )
}

/// What each downstream agent of the seed needs next, derived from what blocked.
fn next_agent_needs(blocking: &[BlockingIssue], ready: bool) -> BTreeMap<String, Vec<String>> {
    let mut needs: BTreeMap<String, Vec<String>> = [
        "coder_agent",
        "testing_agent",
        "logger_agent",
        "project_manager_agent",
    ]
    .into_iter()
    .map(|a| (a.to_owned(), Vec::new()))
    .collect();
    for issue in blocking {
        let agent = if issue.check.starts_with("startup.health") {
            "logger_agent"
        } else {
            "coder_agent"
        };
        if let Some(list) = needs.get_mut(agent) {
            list.push(format!("fix {}", issue.check));
        }
    }
    if let Some(pm) = needs.get_mut("project_manager_agent") {
        pm.push("deployment_status".to_owned());
        if !ready {
            pm.push("blocking_issues".to_owned());
        }
    }
    if ready && let Some(testing) = needs.get_mut("testing_agent") {
        testing.push("deployment_validation".to_owned());
    }
    needs
}

/// The exit code of a run, from its typed outcome (SPEC "Exit codes"): interrupted 130 (129 for
/// SIGHUP); a required check `failed` 1, whatever else happened (the verdict is known: not
/// ready); otherwise 2 when something could not be evaluated (a usage or configuration error, a
/// check in `error`, the deadline reached before a verdict); otherwise 0 when ready.
pub fn exit_code(record: &RunRecord) -> u8 {
    match record.ending {
        RunEnding::Interrupted(crate::process::Interrupt::Hup) => return exit::HANGUP,
        RunEnding::Interrupted(
            crate::process::Interrupt::Int | crate::process::Interrupt::Term,
        ) => {
            return exit::INTERRUPTED;
        }
        RunEnding::Completed | RunEnding::DeadlineReached(_) => {}
    }
    let mut failed = false;
    let mut unknown = record.config_error || matches!(record.ending, RunEnding::DeadlineReached(_));
    for check in record.gates.iter().flat_map(|g| &g.checks) {
        match check.status {
            Status::Failed => failed = true,
            Status::Warning if record.fail_on_warning => failed = true,
            Status::Error => unknown = true,
            Status::Passed | Status::Warning | Status::Skipped { .. } | Status::Accepted => {}
        }
    }
    if failed {
        exit::NOT_READY
    } else if unknown {
        exit::USAGE_OR_CONFIG
    } else if record.gates.is_empty() {
        // Nothing was evaluated, so nothing is proven ready.
        exit::NOT_READY
    } else {
        exit::READY
    }
}
