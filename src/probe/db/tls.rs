//! TLS for the probes: rustls with the `ring` provider, trust roots from the operating system
//! (or a CA file named in the URL), and certificate checking that follows [`TlsMode`]:
//! `Prefer`/`Require` encrypt without judging the certificate (libpq's semantics), `VerifyCa`
//! checks the chain only, `VerifyFull` the chain and the host name.

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::url::{DbUrl, TlsMode};
use super::wire::{Fail, Io, Progress};

/// URL parameters that name a PEM file of trusted CA certificates, by client library.
const CA_PARAMS: [&str; 5] = ["sslrootcert", "ssl-ca", "ssl_ca", "sslca", "ssl_ca_certs"];

/// Runs a TLS handshake over `io`, checking the certificate as `mode` says, and returns the
/// encrypted stream.
pub(super) async fn upgrade(
    io: Box<dyn Io>,
    url: &DbUrl,
    mode: TlsMode,
    progress: &Progress,
) -> Result<Box<dyn Io>, Fail> {
    progress.waiting_for("the TLS handshake");
    let config = client_config(url, mode)?;
    let name = ServerName::try_from(url.host.clone())
        .map_err(|_| Fail::said(format!("{:?} is not a valid TLS server name", url.host)))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, io)
        .await
        .map_err(|e| Fail::said(format!("TLS handshake failed: {e}")))?;
    progress.update(|p| p.tls = true);
    Ok(Box::new(stream))
}

fn client_config(url: &DbUrl, mode: TlsMode) -> Result<ClientConfig, Fail> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Fail::said(format!("TLS setup failed: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => Arc::new(AnyCert(provider)),
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(url)?), provider)
                    .build()
                    .map_err(|e| Fail::said(format!("TLS setup failed: {e}")))?;
            if mode == TlsMode::VerifyCa {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The CA file the URL names, else the operating system's trust store.
fn roots(url: &DbUrl) -> Result<RootCertStore, Fail> {
    let file = CA_PARAMS
        .iter()
        .find_map(|k| url.params.get(*k))
        .filter(|path| path.as_str() != "system");
    let certs: Vec<CertificateDer<'static>> = match file {
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect)
            .map_err(|e| Fail::said(format!("could not read CA certificates from {path}: {e}")))?,
        None => system_roots().to_vec(),
    };
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(Fail::said(match file {
            Some(path) => format!("no usable CA certificate in {path}"),
            None => "no trusted CA certificates found on this machine".to_owned(),
        }));
    }
    Ok(store)
}

/// The system's trust store, read once per process (it takes tens of milliseconds).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// Accepts any certificate but still checks that the server holds its key, so the session is
/// encrypted to whoever answered — what `sslmode=require` promises and no more.
#[derive(Debug)]
struct AnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root, but the name may differ.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
