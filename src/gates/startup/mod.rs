//! The startup gate: the app starts in development and production mode
//! (`startup.dev_mode`, `startup.prod_mode`), its required environment is present
//! (`startup.env_vars`), its databases and external services answer
//! (`startup.database_connections`, `startup.external_services`) and its health endpoints
//! respond quickly (`startup.health_checks`).

mod databases;
mod discover;
mod early;
mod env_refs;
mod env_vars;
mod environment;
mod external;
mod gate;
mod launch;
mod output;
mod prod_build;
mod services;

pub(crate) use databases::DatabasesEvidence;
pub use early::Early;
pub(crate) use env_vars::EnvVarsEvidence;
pub(crate) use external::ExternalEvidence;
pub(crate) use gate::{HealthChecksEvidence, StartEvidence};
pub use gate::{run, start_live};
pub(crate) use services::detect as detect_services;
