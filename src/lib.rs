//! devops-agent: a deployment-readiness validator.
//!
//! `devops-agent validate STORY-123` runs the readiness gates over a project and prints one JSON
//! report (the DevOps agent's output structure) with a verdict CI can gate on. The binary is a
//! thin wrapper around [`run`]; everything lives here so tests can drive it.

mod app;
pub mod baseline;
pub mod cancel;
pub mod check;
pub mod cli;
pub mod dotenv;
pub mod error_chain;
pub mod exit;
pub mod explain;
mod framework;
pub mod fsread;
#[doc(hidden)]
pub mod fuzz;
pub mod gates;
mod init;
pub mod interp;
pub mod mcp;
pub mod probe;
pub mod process;
pub mod project;
pub mod redact;
pub mod report;

pub use app::run;
