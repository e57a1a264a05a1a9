//! Probes of the machine and the network: which processes listen on which ports, and
//! whether a local app is ready.

pub mod db;
pub(crate) mod engine_io;
mod h1;
pub mod http;
mod listeners;
pub mod ready;
mod resolve;
pub mod tls;
mod trace;
pub mod ws;

pub use listeners::{Listener, Owner, Proto, listeners, owners};
