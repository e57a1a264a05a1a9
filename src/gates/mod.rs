//! The readiness gates. Each is a module with `run(ctx, sink) -> GateResult`.

mod context;
pub mod ports;

pub use context::GateCtx;
