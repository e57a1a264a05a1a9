//! Probes of the machine and the network: which processes listen on which ports, and
//! whether a local app is ready.

pub mod db;
mod listeners;
pub mod ready;

pub use listeners::{Listener, Owner, Proto, listeners, owners};
