//! TLS for the database and broker probes, on the same roots, verifier and explainer as HTTP:
//! certificate checking follows [`TlsMode`] (libpq's semantics: `prefer`/`require` encrypt
//! without judging the certificate, `verify-ca` checks the chain only, `verify-full` the chain
//! and the host name), trust roots are a CA file the URL names or else the system's, and a
//! client certificate the URL names is offered. [`PgTls`] is the same handshake as
//! tokio-postgres's TLS hook, with the `tls-server-end-point` channel binding for
//! SCRAM-SHA-256-PLUS.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::client::{Identity, Refused, connect};
use super::roots::TlsConfig;
use super::verify::Verify;
use crate::probe::db::{DbUrl, Fail, Io, Progress, TlsMode};

/// URL parameters that name a PEM file of trusted CA certificates, by client library.
const CA_PARAMS: [&str; 5] = ["sslrootcert", "ssl-ca", "ssl_ca", "sslca", "ssl_ca_certs"];

/// What a database handshake needs, resolved from the URL before connecting.
struct Setup {
    name: ServerName<'static>,
    roots: Arc<RootCertStore>,
    verify: Verify,
    identity: Option<Identity>,
}

impl Setup {
    async fn new(url: &DbUrl, host: &str, mode: TlsMode) -> Result<Self, Fail> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| Fail::said(format!("{host:?} is not a valid TLS server name")))?;
        let verify = match mode {
            TlsMode::Disable | TlsMode::Allow | TlsMode::Prefer | TlsMode::Require => {
                Verify::Record
            }
            TlsMode::VerifyCa => Verify::ChainOnly,
            TlsMode::VerifyFull => Verify::Enforce,
        };
        // The roots are read only when they judge the certificate; an unreadable CA file is an
        // error only then, as in libpq.
        let roots = if verify == Verify::Record {
            Arc::new(RootCertStore::empty())
        } else {
            roots(url).await?
        };
        Ok(Setup {
            name,
            roots,
            verify,
            identity: client_identity(url)?,
        })
    }

    /// Runs the handshake over `io`, telling `progress` it waits, whether it got through, and
    /// when it was refused for want of common TLS rather than by a verdict on the server.
    async fn handshake<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
        self,
        io: S,
        progress: &Progress,
    ) -> Result<tokio_rustls::client::TlsStream<S>, Refused> {
        progress.waiting_for("the TLS handshake");
        let (stream, _) = connect(io, self.name, self.roots, self.verify, &[], self.identity)
            .await
            .inspect_err(|refused| {
                if let Refused::Handshake(failure) = refused
                    && failure.incompatible
                {
                    progress.tls_incompatible();
                }
            })?;
        progress.tls_established();
        Ok(stream)
    }
}

/// Runs a TLS handshake over `io`, checking the certificate as `mode` says, and returns the
/// encrypted stream.
pub(crate) async fn upgrade(
    io: Box<dyn Io>,
    url: &DbUrl,
    mode: TlsMode,
    progress: &Progress,
) -> Result<Box<dyn Io>, Fail> {
    let stream = Setup::new(url, &url.host, mode)
        .await?
        .handshake(io, progress)
        .await
        .map_err(|refused| Fail::said(format!("TLS handshake failed: {}", refused.reason())))?;
    Ok(Box::new(stream))
}

/// The client certificate and key the URL names (libpq's `sslcert`/`sslkey`, `MySQL`'s
/// `ssl-cert`/`ssl-key`, redis-py's `ssl_certfile`/`ssl_keyfile`), for servers that
/// authenticate clients by certificate.
fn client_identity(url: &DbUrl) -> Result<Option<Identity>, Fail> {
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

/// The CA file the URL names (only its certificates are trusted, as in libpq), else the
/// system's roots (`sslrootcert=system` names them explicitly).
async fn roots(url: &DbUrl) -> Result<Arc<RootCertStore>, Fail> {
    let file = CA_PARAMS
        .iter()
        .find_map(|k| url.params.get(*k))
        .filter(|path| path.as_str() != "system");
    let config = match file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                Fail::said(format!("could not read CA certificates from {path}: {e}"))
            })?;
            TlsConfig::without_system_roots()
                .with_extra_roots_pem(&pem)
                .map_err(|e| Fail::said(format!("no usable CA certificate in {path}: {e}")))?
        }
        None => TlsConfig::default(),
    };
    let store = config.roots().await;
    if store.is_empty() {
        return Err(Fail::said(
            "no trusted CA certificates found on this machine",
        ));
    }
    Ok(store)
}

/// tokio-postgres's TLS hook: the same handshake as every other database probe, plus the
/// server certificate's hash for SCRAM-SHA-256-PLUS (`tls-server-end-point`, RFC 5929).
pub(crate) struct PgTls {
    setup: Setup,
    progress: Progress,
}

impl PgTls {
    pub(crate) async fn new(
        url: &DbUrl,
        host: &str,
        mode: TlsMode,
        progress: Progress,
    ) -> Result<Self, Fail> {
        Ok(Self {
            setup: Setup::new(url, host, mode).await?,
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
            let PgTls { setup, progress } = self;
            let tls = setup
                .handshake(stream, &progress)
                .await
                .map_err(|refused| std::io::Error::other(refused.reason()))?;
            Ok(PgTlsStream(tls))
        })
    }
}

/// A TLS stream that can tell tokio-postgres its channel-binding data.
pub(crate) struct PgTlsStream<S>(tokio_rustls::client::TlsStream<S>);

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
