//! Child processes: each command in its own process group, output captured and redacted,
//! stopped with its whole tree on timeout, cancellation or exit.

mod capture;
mod procfs;
mod runner;
mod tracker;

pub use capture::{Captured, strip_ansi};
pub use runner::{CommandSpec, Ending, Finished, OutputTap, Running, run};
pub use tracker::{CancelReason, Processes};
