//! Which roots a probe trusts: the system's, loaded once per process, plus extra ones a
//! configuration adds (`[[external]] ca_file`, `[integration] websocket_ca`, a database URL's
//! `sslrootcert`).

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::probe::http::HttpError;

/// Which roots to trust: the system's, plus extra ones (a private or test CA).
#[derive(Clone)]
pub struct TlsConfig {
    system: bool,
    extra: Arc<Vec<CertificateDer<'static>>>,
    /// The combined store, built on first use and shared by clones.
    store: Arc<OnceLock<Arc<RootCertStore>>>,
}

impl Default for TlsConfig {
    /// The system roots only.
    fn default() -> Self {
        TlsConfig {
            system: true,
            extra: Arc::new(Vec::new()),
            store: Arc::new(OnceLock::new()),
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("system", &self.system)
            .field("extra_roots", &self.extra.len())
            .finish_non_exhaustive()
    }
}

fn bad_root(why: impl fmt::Display) -> HttpError {
    HttpError::Tls {
        reason: format!("unusable trust root: {why}"),
        cert: None,
    }
}

impl TlsConfig {
    /// Trust no system roots, only the ones added (hermetic tests, pinned private CAs).
    pub fn without_system_roots() -> Self {
        TlsConfig {
            system: false,
            ..TlsConfig::default()
        }
    }

    /// Also trusts one DER-encoded root certificate.
    pub fn with_extra_root_der(self, der: &[u8]) -> Result<Self, HttpError> {
        self.with_roots(vec![CertificateDer::from(der.to_vec())])
    }

    /// Also trusts every certificate in a PEM bundle (e.g. the file `NODE_EXTRA_CA_CERTS` or
    /// `SSL_CERT_FILE` names).
    pub fn with_extra_roots_pem(self, pem: &[u8]) -> Result<Self, HttpError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad_root)?;
        if certs.is_empty() {
            return Err(bad_root("no CERTIFICATE block in the PEM data"));
        }
        self.with_roots(certs)
    }

    /// Identifies the trust this configuration grants, so HTTP clients (and their pooled
    /// connections) are shared exactly between equal configurations.
    pub(crate) fn key(&self) -> String {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        for cert in self.extra.iter() {
            digest.update(&u64::try_from(cert.len()).unwrap_or(0).to_be_bytes());
            digest.update(cert.as_ref());
        }
        format!(
            "{}:{}",
            self.system,
            data_encoding::HEXLOWER.encode(digest.finish().as_ref())
        )
    }

    fn with_roots(self, certs: Vec<CertificateDer<'static>>) -> Result<Self, HttpError> {
        let mut check = RootCertStore::empty();
        for cert in &certs {
            check.add(cert.clone()).map_err(bad_root)?;
        }
        let mut extra = self.extra.as_ref().clone();
        extra.extend(certs);
        Ok(TlsConfig {
            system: self.system,
            extra: Arc::new(extra),
            store: Arc::new(OnceLock::new()),
        })
    }

    /// The trust store; the first call in a process reads the system roots (off the async
    /// threads, since it is file I/O).
    pub(crate) async fn roots(&self) -> Arc<RootCertStore> {
        if let Some(store) = self.store.get() {
            return Arc::clone(store);
        }
        let system = if self.system {
            system_roots().await
        } else {
            Arc::new(RootCertStore::empty())
        };
        let store = if self.extra.is_empty() {
            system
        } else {
            let mut store = system.as_ref().clone();
            store.add_parsable_certificates(self.extra.iter().cloned());
            Arc::new(store)
        };
        Arc::clone(self.store.get_or_init(|| store))
    }
}

/// The system roots (`/etc/ssl/certs`, or the files `SSL_CERT_FILE`/`SSL_CERT_DIR` name, as
/// OpenSSL reads them), loaded once per process for every probe: HTTP, WebSocket and database.
/// The first call reads them off the async threads, since it is file I/O (tens of ms).
async fn system_roots() -> Arc<RootCertStore> {
    if let Some(store) = SYSTEM.get() {
        return Arc::clone(store);
    }
    tokio::task::spawn_blocking(system_roots_blocking)
        .await
        .unwrap_or_else(|_| Arc::new(RootCertStore::empty()))
}

static SYSTEM: OnceLock<Arc<RootCertStore>> = OnceLock::new();

fn system_roots_blocking() -> Arc<RootCertStore> {
    Arc::clone(SYSTEM.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for err in &found.errors {
            tracing::debug!(%err, "skipping an unreadable system root certificate");
        }
        let mut store = RootCertStore::empty();
        let (added, ignored) = store.add_parsable_certificates(found.certs);
        tracing::debug!(added, ignored, "loaded system root certificates");
        Arc::new(store)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_extra_roots_are_refused() {
        assert!(
            TlsConfig::default()
                .with_extra_roots_pem(b"nothing")
                .is_err()
        );
        assert!(
            TlsConfig::default()
                .with_extra_root_der(b"\x30\x00")
                .is_err()
        );
    }
}
