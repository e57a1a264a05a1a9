//! Probes of the machine and the network. Today: which processes listen on which ports.

mod listeners;

pub use listeners::{Listener, Owner, Proto, listeners, owners};
