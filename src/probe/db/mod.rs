//! Protocol probes of databases and message brokers: given an app's connection URL, prove with
//! a real round trip and the app's own credentials that the service is reachable and accepts
//! them. One module per protocol; `outcome` holds the entry point [`probe`] and its result.

mod amqp;
mod crypto;
#[cfg(test)]
mod matrix;
#[cfg(test)]
mod matrix_mariadb;
#[cfg(test)]
mod matrix_servers;
mod mqtt;
mod mysql;
mod nats;
mod outcome;
mod pgconf;
mod postgres;
mod redis;
#[cfg(test)]
mod testutil;
mod url;
mod wire;

/// The database side of the one TLS module, named as the protocol modules use it.
use crate::probe::tls::db as tls;

pub use outcome::{DbOutcome, probe};
pub use pgconf::PgConfError;
pub use url::{DbKind, DbUrl, DbUrlError, TlsMode};
pub(crate) use wire::{Fail, Io, Progress};
