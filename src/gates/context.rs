//! What every gate receives: the loaded project, the run's deadline and its cancellation.

use std::time::Duration;

use crate::process::Processes;
use crate::project::Project;

/// Default time a stopped command gets to exit after SIGTERM.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(3);

/// Shared, read-only context for one run of the gates.
#[derive(Debug, Clone)]
pub struct GateCtx {
    pub project: Project,
    /// `--timeout`: the whole run's deadline, and the longest any one command may take.
    pub timeout: Duration,
    /// Child processes of this run: cancellation and cleanup go through it.
    pub processes: Processes,
}

impl GateCtx {
    pub fn new(project: Project, timeout: Duration) -> GateCtx {
        GateCtx {
            project,
            timeout,
            processes: Processes::new(),
        }
    }

    /// Time between SIGTERM and SIGKILL when stopping a command (`[timeouts] grace`).
    pub fn grace(&self) -> Duration {
        self.project.config.timeouts.grace.unwrap_or(DEFAULT_GRACE)
    }

    /// The timeout of one build command: `[timeouts] build`, else the run's `--timeout`.
    pub fn build_timeout(&self) -> Duration {
        self.project
            .config
            .timeouts
            .build
            .unwrap_or(self.timeout)
            .min(self.timeout)
    }
}
