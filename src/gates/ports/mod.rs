//! The ports gate: published ports come from environment variables with defaults
//! (`ports.env_configured`) and resolve to host ports nothing else holds
//! (`ports.no_conflicts`); plus `ports allocate`, which picks and reserves free ones.

mod allocate;
mod conflicts;
mod decl;
mod env_configured;
mod fix;
mod gate;
mod registry;

pub use allocate::{AllocateError, Allocation, allocate};
pub(crate) use conflicts::NoConflictsEvidence;
pub use decl::{Declarations, PortDecl, PortExpr, classify as classify_expr, collect};
pub(crate) use env_configured::EnvConfiguredEvidence;
pub use gate::run;
pub use registry::state_dir;
