//! What every gate receives: the loaded project, the run's deadline and its cancellation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::check::{CheckId, GateId};
use crate::process::Processes;
use crate::project::Project;

/// Default time a stopped command gets to exit after SIGTERM.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(3);

/// What one run runs, decided once before any gate starts (from `--gates`, `--skip`, `--env`
/// and `--keep-going`); gates read it here and never the command line.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The gates to run, in order.
    pub gates: Vec<GateId>,
    /// Checks not to run, with the reason reported as their `skipped` message.
    pub excluded: BTreeMap<CheckId, String>,
    /// Run a gate even when the gate it depends on failed.
    pub keep_going: bool,
}

/// Shared, read-only context for one run of the gates.
#[derive(Debug, Clone)]
pub struct GateCtx {
    pub project: Project,
    /// `--timeout`: the whole run's deadline, and the longest any one command may take.
    pub timeout: Duration,
    /// Child processes of this run: cancellation and cleanup go through it.
    pub processes: Processes,
    /// Measurements gates make for the report's `monitoring` and `infrastructure` sections.
    pub facts: Arc<Mutex<RunFacts>>,
    /// What this run runs: the gates, and the checks it excludes with the reason.
    pub plan: Arc<Plan>,
    /// Every check's result, recorded by [`super::GateScope`]: the one truth the report, the
    /// events and the exit code are derived from.
    pub(crate) ledger: super::scope::SharedLedger,
    /// `--env`: start the app in this mode only (the other mode is also excluded in the
    /// plan; the startup gate uses this to know which mode stays up for integration).
    pub env: Option<crate::cli::EnvMode>,
    /// Keep the last started mode's services running for a later gate (integration).
    pub keep_live: bool,
    /// The services the startup gate left running, if any.
    pub live: Arc<tokio::sync::Mutex<Option<LiveStack>>>,
    /// `--base-url` / `--frontend-url` / `--backend-url`: probe a deployed environment.
    pub remote: crate::cli::Remote,
    /// Accepted findings, applied where each result is recorded.
    pub baseline: Arc<crate::baseline::Baseline>,
}

/// Services left running by the startup gate for the integration gate to probe.
#[derive(Debug)]
pub struct LiveStack {
    /// `development` or `production`.
    pub mode: String,
    pub services: Vec<LiveService>,
    /// The processes, stopped by [`GateCtx::stop_live`].
    pub running: Vec<LiveProcess>,
}

/// A service's process left running, with what its `command_started` event said so that its
/// stop can emit the matching `command_finished`.
#[derive(Debug)]
pub struct LiveProcess {
    /// The event's `purpose`, e.g. `production web`.
    pub purpose: String,
    /// The command line as the event gave it (redacted).
    pub command: String,
    pub running: crate::process::Running,
}

/// One running service.
#[derive(Debug, Clone)]
pub struct LiveService {
    pub name: String,
    /// Directory relative to the project.
    pub dir: String,
    pub port: Option<u16>,
    /// `http://127.0.0.1:PORT` (or `http://[::1]:PORT`): where it answered.
    pub base_url: Option<String>,
    /// The health path that answered 2xx.
    pub health_path: Option<String>,
}

/// What probes measured, for the report: never estimated, only recorded.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// Latency of every successful probe request (health samples, integration requests), ms.
    pub latencies_ms: Vec<f64>,
    /// Probe requests that failed or answered an error status.
    pub failed_requests: u32,
    /// Probe requests made in all.
    pub requests: u32,
    /// `development` / `production` → (status, url) as observed by the startup gate.
    pub environments: BTreeMap<String, (String, Option<String>)>,
    /// Alerts for people (the seed's `monitoring.alerts`), e.g. slow health endpoints.
    pub alerts: Vec<String>,
}

impl GateCtx {
    pub fn new(project: Project, timeout: Duration) -> GateCtx {
        GateCtx {
            project,
            timeout,
            processes: Processes::new(),
            facts: Arc::new(Mutex::new(RunFacts::default())),
            plan: Arc::new(Plan::default()),
            ledger: Arc::default(),
            env: None,
            keep_live: false,
            live: Arc::new(tokio::sync::Mutex::new(None)),
            remote: crate::cli::Remote::default(),
            baseline: Arc::default(),
        }
    }

    /// Stop the services left running for integration (whole trees: TERM, grace, KILL).
    pub async fn stop_live(&self, sink: &crate::report::EventSink) {
        let live = self.live.lock().await.take();
        if let Some(live) = live {
            for process in live.running.into_iter().rev() {
                let finished = process
                    .running
                    .stop(self.grace(), crate::process::Ending::Stopped)
                    .await;
                sink.emit(&crate::report::Event::CommandFinished {
                    gate: "startup".to_owned(),
                    purpose: process.purpose,
                    command: process.command,
                    ending: finished.ending.kind().to_owned(),
                    exit_code: match finished.ending {
                        crate::process::Ending::Exited(c) => Some(c),
                        _ => None,
                    },
                    duration_ms: u64::try_from(finished.duration.as_millis()).unwrap_or(u64::MAX),
                });
                // The integration checks are already reported; what the stop could not end
                // is at least said, and the run's final sweep tries again.
                if !finished.stop.clean() {
                    tracing::warn!(
                        "after the integration gate, still running after SIGKILL: {}",
                        crate::process::ProcInfo::list(&finished.stop.survived)
                    );
                }
            }
        }
    }

    /// Whether the plan (`--skip`, `--env`) excludes a check.
    pub fn skipped(&self, id: CheckId) -> bool {
        self.plan.excluded.contains_key(&id)
    }

    /// Record measurements (see [`RunFacts`]).
    pub fn record(&self, f: impl FnOnce(&mut RunFacts)) {
        f(&mut self.facts.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// A copy of everything recorded so far.
    pub fn facts(&self) -> RunFacts {
        self.facts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Time between SIGTERM and SIGKILL when stopping a command (`[timeouts] grace`).
    pub fn grace(&self) -> Duration {
        self.project.config.timeouts.grace.unwrap_or(DEFAULT_GRACE)
    }

    /// The timeout of one build command: `[timeouts] build`. Without it a build may take the
    /// whole run: the run's `--timeout` stops it, and the build check then says it "did not
    /// finish within the run's --timeout" (the margin keeps the command's own timer from racing
    /// the run's deadline).
    pub fn build_timeout(&self) -> Duration {
        self.project
            .config
            .timeouts
            .build
            .unwrap_or(self.timeout + Duration::from_secs(60))
    }
}
