//! Child processes: each command in its own process group and cgroup (or the subreaper tree),
//! output captured and redacted, everything it started stopped and verified gone on timeout,
//! cancellation or exit; and the signals that cancel a run.

mod capture;
mod containment;
mod procfs;
mod runner;
mod signals;
mod tracker;

pub use capture::{Captured, strip_ansi};
pub use containment::{Mechanism, ProcInfo, StopReport};
pub use runner::{CommandSpec, Ending, Finished, OutputTap, Running, run};
pub use signals::{Interrupt, Signals};
pub use tracker::{CancelReason, Processes};
