//! Certificates minted with rcgen and a TLS server for tests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Validity period as (year, month, day) of `not_before` and `not_after`.
pub(crate) type Validity = ((i32, u8, u8), (i32, u8, u8));

/// A certificate chain (leaf first) and the leaf's key.
pub(crate) struct Identity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: Vec<u8>,
}

fn params(names: &[&str], cn: &str) -> CertificateParams {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
}

/// A self-signed certificate for `names`, valid now.
pub(crate) fn self_signed(names: &[&str]) -> Identity {
    let key = KeyPair::generate().unwrap();
    let cert = params(names, names[0]).self_signed(&key).unwrap();
    Identity {
        chain: vec![cert.der().clone()],
        key: key.serialize_der(),
    }
}

/// A certificate authority that signs leaves and intermediates.
pub(crate) struct Ca {
    pub(crate) cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    /// What a server sends after a leaf this CA signed: the intermediates up to (not
    /// including) the root.
    sent: Vec<CertificateDer<'static>>,
}

impl Ca {
    pub(crate) fn root(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = params(&[], cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
            sent: Vec::new(),
        }
    }

    pub(crate) fn intermediate(&self, cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = params(&[], cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let mut sent = vec![cert.der().clone()];
        sent.extend(self.sent.iter().cloned());
        Ca {
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
            sent,
        }
    }

    /// A leaf for `names`; `validity` as (year, month, day) pairs, or valid now.
    pub(crate) fn leaf(&self, names: &[&str], validity: Option<Validity>) -> Identity {
        let key = KeyPair::generate().unwrap();
        let mut params = params(names, names[0]);
        if let Some(((y1, m1, d1), (y2, m2, d2))) = validity {
            params.not_before = date_time_ymd(y1, m1, d1);
            params.not_after = date_time_ymd(y2, m2, d2);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let mut chain = vec![cert.der().clone()];
        chain.extend(self.sent.iter().cloned());
        Identity {
            chain,
            key: key.serialize_der(),
        }
    }
}

/// Serves TLS with `identity` on 127.0.0.1, running `handler` for each connection whose
/// handshake completes.
pub(crate) async fn serve<F, Fut>(identity: Identity, handler: F) -> SocketAddr
where
    F: Fn(TlsStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    serve_versions(identity, rustls::DEFAULT_VERSIONS, handler).await
}

/// [`serve`] speaking only the protocol `versions` given (e.g. TLS 1.2 alone).
pub(crate) async fn serve_versions<F, Fut>(
    identity: Identity,
    versions: &[&'static rustls::SupportedProtocolVersion],
    handler: F,
) -> SocketAddr
where
    F: Fn(TlsStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        identity.chain,
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key)),
    )
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(tcp).await {
                    handler(stream).await;
                }
            });
        }
    });
    addr
}

/// A handler that reads a request head and answers `200 OK` with body `ok`.
pub(crate) async fn answer_ok(mut stream: TlsStream<TcpStream>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .await;
    let _ = stream.shutdown().await;
}
