//! TLS for every probe — `https://`, `wss://`, databases and brokers — in one place: rustls with
//! *ring* (never aws-lc or OpenSSL), one set of trust roots (the system's, `/etc/ssl/certs` or
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`, loaded once per process, plus what a configuration adds), one
//! certificate verifier that records the chain and the `WebPKI` verdict (so an expired,
//! self-signed or mismatched certificate is described, not just refused), and one explainer
//! that puts failures in a report's words (no cipher suite, protocol version or ALPN protocol
//! in common; not TLS at all).
//!
//! * `roots`: [`TlsConfig`], which roots to trust;
//! * `verify`: the recording verifier and its policy (`Verify`: everything, chain only
//!   (`sslmode=verify-ca`), or record only (inspection, `sslmode=require`));
//! * `explain`: [`TlsInfo`] and the words of every certificate and handshake failure;
//! * `suites`: the provider's cipher suites, noting the negotiated one in an HTTP request's trace;
//! * `client`: the rustls configuration, the HTTP client's (`request_config`) and handshakes
//!   on connections the probe owns (`handshake`, [`inspect`]);
//! * `db`: libpq's `sslmode` semantics, client certificates, tokio-postgres's hook with channel
//!   binding.

mod client;
pub(crate) mod db;
mod explain;
mod roots;
mod suites;
#[cfg(test)]
pub(crate) mod test_support;
mod verify;

pub(crate) use client::{handshake, request_config};
pub use client::{inspect, inspect_with};
pub use explain::TlsInfo;
pub(crate) use explain::{describe, explain_failure, explain_io_failure, failure_error};
pub use roots::TlsConfig;
pub(crate) use verify::{Seen, Verify};
