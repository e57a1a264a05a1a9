//! TLS for the probes: rustls with the `ring` provider, trust roots from the operating system
//! (or a CA file named in the URL), and certificate checking that follows [`TlsMode`]:
//! `Prefer`/`Require` encrypt without judging the certificate (libpq's semantics), `VerifyCa`
//! checks the chain only, `VerifyFull` the chain and the host name.

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
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
        TlsMode::Disable | TlsMode::Allow | TlsMode::Prefer | TlsMode::Require => {
            Arc::new(AnyCert(provider))
        }
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
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match client_identity(url)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| Fail::said(format!("cannot use the client certificate: {e}"))),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The client certificate and key the URL names (libpq's `sslcert`/`sslkey`, `MySQL`'s
/// `ssl-cert`/`ssl-key`, redis-py's `ssl_certfile`/`ssl_keyfile`), for servers that
/// authenticate clients by certificate.
fn client_identity(
    url: &DbUrl,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, Fail> {
    let pick = |keys: &[&str]| keys.iter().find_map(|k| url.params.get(*k)).cloned();
    // `ssl_certfile`/`ssl_keyfile` are redis-py's names in a `rediss://` URL.
    let cert = pick(&["sslcert", "ssl-cert", "ssl_cert", "ssl_certfile"]);
    let key = pick(&["sslkey", "ssl-key", "ssl_key", "ssl_keyfile"]);
    let (cert, key) = match (cert, key) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(Fail::said(
                "a client certificate (sslcert) is given without its key (sslkey)",
            ));
        }
        (None, Some(_)) => {
            return Err(Fail::said(
                "a client key (sslkey) is given without its certificate (sslcert)",
            ));
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(Iterator::collect)
        .map_err(|e| Fail::said(format!("could not read the client certificate {cert}: {e}")))?;
    if chain.is_empty() {
        return Err(Fail::said(format!("no certificate in {cert}")));
    }
    let key = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| Fail::said(format!("could not read the client key {key}: {e}")))?;
    Ok(Some((chain, key)))
}

/// tokio-postgres's TLS hook: the same rustls configuration as every other probe, plus the
/// server certificate's hash for SCRAM-SHA-256-PLUS (`tls-server-end-point`, RFC 5929).
pub(super) struct PgTls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    progress: Progress,
}

impl PgTls {
    pub(super) fn new(
        url: &DbUrl,
        host: &str,
        mode: TlsMode,
        progress: Progress,
    ) -> Result<Self, Fail> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| Fail::said(format!("{host:?} is not a valid TLS server name")))?;
        Ok(Self {
            config: Arc::new(client_config(url, mode)?),
            name,
            progress,
        })
    }
}

impl<S> tokio_postgres::tls::TlsConnect<S> for PgTls
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<PgTlsStream<S>, std::io::Error>> + Send>,
    >;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            self.progress.waiting_for("the TLS handshake");
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            self.progress.update(|p| p.tls = true);
            Ok(PgTlsStream(tls))
        })
    }
}

/// A TLS stream that can tell tokio-postgres its channel-binding data.
pub(super) struct PgTlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> tokio_postgres::tls::TlsStream for PgTlsStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        let (_, session) = self.0.get_ref();
        match session.peer_certificates().and_then(|certs| certs.first()) {
            Some(cert) => {
                tokio_postgres::tls::ChannelBinding::tls_server_end_point(end_point_hash(cert))
            }
            None => tokio_postgres::tls::ChannelBinding::none(),
        }
    }
}

/// RFC 5929 §4.1: the certificate hashed with its signature's hash, SHA-256 for MD5 and SHA-1.
fn end_point_hash(cert: &CertificateDer<'_>) -> Vec<u8> {
    use x509_parser::prelude::FromDer as _;
    let algorithm = x509_parser::certificate::X509Certificate::from_der(cert)
        .map(|(_, c)| c.signature_algorithm.algorithm.to_id_string())
        .unwrap_or_default();
    let digest = match algorithm.as_str() {
        // sha384WithRSAEncryption, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => &ring::digest::SHA384,
        // sha512WithRSAEncryption, ecdsa-with-SHA512
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => &ring::digest::SHA512,
        _ => &ring::digest::SHA256,
    };
    ring::digest::digest(digest, cert.as_ref())
        .as_ref()
        .to_vec()
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> tokio::io::AsyncRead
    for PgTlsStream<S>
{
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite
    for PgTlsStream<S>
{
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
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
