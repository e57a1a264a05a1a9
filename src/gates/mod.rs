//! The readiness gates. Each is a module with `run(ctx, sink) -> GateResult`.

pub mod build;
pub mod cancelled;
mod context;
pub mod deps;
pub mod integration;
pub mod ports;
pub mod startup;

pub use context::{GateCtx, LiveService, LiveStack, RunFacts};
