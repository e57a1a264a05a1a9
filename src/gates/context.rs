//! What every gate receives: the loaded project and the run's settings.

use crate::project::Project;

/// Shared, read-only context for one run of the gates.
#[derive(Debug, Clone)]
pub struct GateCtx {
    pub project: Project,
}
