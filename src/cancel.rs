//! Cooperative cancellation of CPU-bound work.
//!
//! Child processes are stopped through [`crate::process::Processes`]; work the tool does itself
//! (walking `node_modules`, parsing thousands of manifests) runs on blocking threads that no
//! signal can interrupt. When the run is interrupted or times out, [`request`] sets one flag
//! that such loops poll with [`requested`] (a relaxed atomic load: free next to a file read), so
//! they return early and the report is written within moments of the signal instead of after
//! the work would have finished.
//!
//! One flag per process, because there is one run per process and the deepest parser must see
//! it without a context threaded through every call.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Ask every long-running loop to stop at its next check.
pub fn request() {
    REQUESTED.store(true, Ordering::Relaxed);
}

/// Whether the run was cancelled; long loops return early (with what they have) when it was.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}
