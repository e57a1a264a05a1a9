//! The readiness gates. Each is a module with `run(ctx, sink) -> GateResult`.

pub mod build;
mod context;
pub mod deps;
pub mod integration;
pub mod ports;
mod scope;
pub mod startup;

pub use context::{GateCtx, LiveProcess, LiveService, LiveStack, Plan, RunFacts};
pub use scope::{Cut, GateScope, Ledger, cancelled_status};
