//! What one HTTP request's connection went through, recorded from inside the HTTP client.
//!
//! reqwest does not report how long name resolution, the TCP connect and the TLS handshake
//! took, nor which certificate the server sent when verification failed. The probe client
//! plugs five hooks into it — a DNS resolver, a connector layer, the rustls certificate
//! verifier, the rustls session store (asked for a ticket when the `ClientHello` is built,
//! i.e. the moment the TCP connection is up) and the cipher suites' key builders (called once
//! the suite is negotiated) — and each writes into the [`Trace`] of the
//! request being polled, found through a task-local set around the request's future. A hook
//! that runs outside such a scope (a connection finished in the background for another
//! request) records nothing, so a phase that was not seen stays `None`: timings are measured
//! or null, never estimated.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::CertificateDer;
use tokio::time::Instant;

/// One request's connection phases and TLS observations.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// The resolver was asked (not for IP literals, nor on a reused connection).
    pub(crate) dns_started: Option<Instant>,
    /// The resolver answered.
    pub(crate) dns_done: Option<Instant>,
    /// The addresses it answered with.
    pub(crate) addrs: Vec<SocketAddr>,
    /// A new connection was started for this request.
    pub(crate) connect_started: Option<Instant>,
    /// The TLS `ClientHello` was built: the TCP connection (or proxy tunnel) is up.
    pub(crate) tls_started: Option<Instant>,
    /// The connection is ready for the request (TCP, and TLS for `https://`).
    pub(crate) connected: Option<Instant>,
    /// The response head arrived.
    pub(crate) headers: Option<Instant>,
    /// Certificates the server sent, leaf first.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// The verifier's verdict on them.
    pub(crate) verdict: Option<Result<(), rustls::Error>>,
    /// `TLSv1.2` or `TLSv1.3`: the version of the negotiated cipher suite.
    pub(crate) protocol: Option<&'static str>,
    /// The negotiated cipher suite, noted when rustls built its record keys.
    pub(crate) cipher_suite: Option<rustls::CipherSuite>,
}

/// A request's shared trace.
pub(crate) type Shared = Arc<Mutex<Trace>>;

tokio::task_local! {
    static CURRENT: Shared;
}

/// Runs `future` with `trace` as the trace its hooks write to.
pub(crate) async fn scope<F: Future>(trace: Shared, future: F) -> F::Output {
    CURRENT.scope(trace, future).await
}

/// The trace of the request being polled, if any.
pub(crate) fn current() -> Option<Shared> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Updates `trace`, if there is one.
pub(crate) fn update(trace: Option<&Shared>, change: impl FnOnce(&mut Trace)) {
    if let Some(trace) = trace {
        change(&mut trace.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Updates the current request's trace, if there is one.
pub(crate) fn update_current(change: impl FnOnce(&mut Trace)) {
    update(current().as_ref(), change);
}

/// Takes the recorded state out of `trace`.
pub(crate) fn take(trace: &Shared) -> Trace {
    std::mem::take(&mut *trace.lock().unwrap_or_else(PoisonError::into_inner))
}
