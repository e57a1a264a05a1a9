//! The certificate verifier of every probe: `WebPKI` verification against the configured roots,
//! the chain and verdict recorded (so a certificate that fails is still described), and a
//! policy saying which part of the verdict fails the handshake.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore};

use crate::probe::trace;

/// What the verifier saw during one handshake.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Certificates the server sent, leaf first.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// The full verdict on them (chain, validity, name).
    pub(crate) verdict: Option<Result<(), rustls::Error>>,
    /// The verifier failed the handshake on that verdict.
    pub(crate) rejected: bool,
}

/// Which verdict fails the handshake; the full verdict is recorded in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Chain, validity and name, as any HTTP client (and libpq's `sslmode=verify-full`) does.
    Enforce,
    /// Chain and validity, any name: libpq's `sslmode=verify-ca`.
    ChainOnly,
    /// Nothing: complete the handshake and report the verdict (inspection; libpq's
    /// `sslmode=require`, which encrypts to whoever answers).
    Record,
}

/// Verifies like rustls' `WebPKI` verifier (chain to a root, validity, name; no revocation lists,
/// as the stock verifier without CRLs) and records the chain and verdict; `verify` says which
/// part of the verdict fails the handshake. Handshake signatures are always checked: the server
/// must hold the key of the certificate it sent. The one verifier of every probe (HTTP,
/// WebSocket, databases).
#[derive(Debug)]
pub(super) struct RecordingVerifier {
    pub(super) roots: Arc<RootCertStore>,
    pub(super) provider: Arc<CryptoProvider>,
    pub(super) verify: Verify,
    /// Where to record; `None` records into the trace of the HTTP request being polled.
    pub(super) seen: Option<Arc<Mutex<Seen>>>,
}

impl RecordingVerifier {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        verify_server_name(&cert, server_name)
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.check(end_entity, intermediates, server_name, now);
        let chain = || {
            std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect()
        };
        let outcome = match (self.verify, &verdict) {
            (Verify::Record, _)
            | (
                Verify::ChainOnly,
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )),
            ) => Ok(ServerCertVerified::assertion()),
            (_, verdict) => verdict.clone().map(|()| ServerCertVerified::assertion()),
        };
        match &self.seen {
            Some(seen) => {
                let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                seen.chain = chain();
                seen.verdict = Some(verdict);
                seen.rejected = outcome.is_err();
            }
            None => trace::update_current(|t| {
                t.chain = chain();
                t.verdict = Some(verdict);
            }),
        }
        outcome
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
