//! TLS client connections: the one rustls configuration every probe builds on ([`provider`],
//! [`client_config`]), the HTTP client's ([`request_config`]), and handshakes on a connection
//! the probe owns ([`connect`], [`handshake`], [`inspect`]) — WebSocket, databases, certificate
//! inspection — which report the negotiated version, cipher suite and ALPN protocol.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use rustls::client::ClientConnection;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::explain::{Failure, TlsInfo, describe, explain_io_failure, failure_error};
use super::roots::TlsConfig;
use super::suites::noted;
use super::verify::{RecordingVerifier, Seen, Verify};
use crate::probe::http::{HttpError, deadline_after};
use crate::probe::{resolve, trace};

/// A client certificate chain (leaf first) and its private key, for servers that authenticate
/// clients by certificate.
pub(crate) type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The crypto provider of every probe: *ring*, named explicitly per configuration so nothing
/// depends on a process default (and aws-lc never enters the build), its cipher suites wrapped
/// to note the negotiated one for HTTP requests (`suites`).
pub(super) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| {
        let mut ring = rustls::crypto::ring::default_provider();
        ring.cipher_suites = ring.cipher_suites.into_iter().map(noted).collect();
        Arc::new(ring)
    }))
}

/// The one rustls client configuration: *ring*, TLS 1.3 and 1.2 (rustls' safe defaults), the
/// recording verifier, ALPN `alpn` in order, and the client certificate if one is given.
fn client_config(
    verifier: RecordingVerifier,
    alpn: &[&[u8]],
    identity: Option<Identity>,
) -> Result<ClientConfig, rustls::Error> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The rustls configuration of the HTTP client: [`client_config`] with ALPN `h2` then
/// `http/1.1`, the recording verifier enforcing its verdict (into the request's trace), and a
/// session store that resumes nothing (every connection verifies the certificate in full, as a
/// probe should) but marks, by being asked for a ticket, the moment the handshake starts.
pub(crate) fn request_config(roots: Arc<RootCertStore>) -> Result<ClientConfig, HttpError> {
    let verifier = RecordingVerifier {
        roots,
        provider: provider(),
        verify: Verify::Enforce,
        seen: None,
    };
    let mut config =
        client_config(verifier, &[b"h2", b"http/1.1"], None).map_err(|e| HttpError::Tls {
            reason: format!("TLS setup: {e}"),
            cert: None,
        })?;
    config.resumption = rustls::client::Resumption::store(Arc::new(HandshakeStart));
    Ok(config)
}

/// A session store that stores nothing; rustls asks it for a ticket while building the
/// `ClientHello`, which is when the request's trace notes that TLS started.
#[derive(Debug)]
struct HandshakeStart;

impl rustls::client::ClientSessionStore for HandshakeStart {
    fn set_kx_hint(&self, _: ServerName<'static>, _: rustls::NamedGroup) {}

    fn kx_hint(&self, _: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        None
    }

    fn set_tls12_session(
        &self,
        _: ServerName<'static>,
        _: rustls::client::Tls12ClientSessionValue,
    ) {
    }

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<rustls::client::Tls12ClientSessionValue> {
        None
    }

    fn remove_tls12_session(&self, _: &ServerName<'_>) {}

    fn insert_tls13_ticket(
        &self,
        _: ServerName<'static>,
        _: rustls::client::Tls13ClientSessionValue,
    ) {
    }

    fn take_tls13_ticket(
        &self,
        _: &ServerName<'_>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        trace::update_current(|t| {
            t.tls_started.get_or_insert_with(Instant::now);
        });
        None
    }
}

/// Why a handshake on a connection the probe owns failed.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The certificate did not pass the policy: what it is and why, as [`describe`] says.
    Certificate(Box<TlsInfo>),
    /// Anything else, explained ([`explain_io_failure`]).
    Handshake(Failure),
}

impl Refused {
    /// The sentence a report shows.
    pub(crate) fn reason(&self) -> String {
        match self {
            Refused::Certificate(info) => info
                .verify_error
                .clone()
                .unwrap_or_else(|| "the certificate was refused".to_owned()),
            Refused::Handshake(failure) => failure.reason.clone(),
        }
    }
}

impl From<Refused> for HttpError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Certificate(info) => HttpError::Tls {
                reason: Refused::Certificate(info.clone()).reason(),
                cert: Some(info),
            },
            Refused::Handshake(failure) => failure_error(failure),
        }
    }
}

/// Runs the client handshake on `io` for `server_name`, trusting `roots`, failing on the
/// certificate as `verify` says, offering `alpn` and `identity`. On success the certificate is
/// described with the negotiated protocol version, cipher suite and ALPN protocol, read from
/// the rustls connection.
pub(crate) async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    server_name: ServerName<'static>,
    roots: Arc<RootCertStore>,
    verify: Verify,
    alpn: &[&[u8]],
    identity: Option<Identity>,
) -> Result<(TlsStream<S>, TlsInfo), Refused> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let verifier = RecordingVerifier {
        roots: Arc::clone(&roots),
        provider: provider(),
        verify,
        seen: Some(Arc::clone(&seen)),
    };
    let with_identity = identity.is_some();
    let config = client_config(verifier, alpn, identity).map_err(|e| {
        Refused::Handshake(Failure {
            reason: if with_identity {
                format!("cannot use the client certificate: {e}")
            } else {
                format!("TLS setup: {e}")
            },
            incompatible: false,
        })
    })?;
    let result = TlsConnector::from(Arc::new(config))
        .connect(server_name.clone(), io)
        .await;
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    match result {
        Ok(stream) => {
            let mut info = describe(&seen, &roots, &server_name);
            negotiated(&mut info, stream.get_ref().1);
            Ok((stream, info))
        }
        Err(_) if seen.rejected => Err(Refused::Certificate(Box::new(describe(
            &seen,
            &roots,
            &server_name,
        )))),
        Err(err) => Err(Refused::Handshake(explain_io_failure(&err))),
    }
}

/// Fills what the handshake negotiated into `info`.
fn negotiated(info: &mut TlsInfo, connection: &ClientConnection) {
    info.protocol = connection.protocol_version().map(|v| match v {
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        other => format!("{other:?}"),
    });
    info.cipher_suite = connection
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()));
    info.alpn = connection
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
}

/// [`connect`] on a TCP connection for `host` (a DNS name or IP literal) with the roots of
/// `config`, within `deadline`.
pub(crate) async fn handshake(
    tcp: TcpStream,
    host: &str,
    config: &TlsConfig,
    verify: Verify,
    alpn: &[&[u8]],
    deadline: Instant,
    budget: Duration,
) -> Result<(TlsStream<TcpStream>, TlsInfo), HttpError> {
    let server_name = ServerName::try_from(host.to_owned()).map_err(|e| HttpError::Tls {
        reason: format!("{host:?} is not a valid TLS server name: {e}"),
        cert: None,
    })?;
    let roots = config.roots().await;
    timeout_at(
        deadline,
        connect(tcp, server_name, roots, verify, alpn, None),
    )
    .await
    .map_err(|_| HttpError::Timeout {
        after: budget,
        stage: "tls handshake",
    })?
    .map_err(HttpError::from)
}

/// Connects to `host:port` and completes a TLS handshake for `server_name` (sent as SNI and
/// checked against the certificate) WITHOUT failing on an invalid certificate, so expired,
/// self-signed and mismatched certificates are still described; `verified`/`verify_error` say
/// what a real client would conclude. Trusts the system roots.
pub async fn inspect(
    host: &str,
    port: u16,
    server_name: &str,
    timeout: Duration,
) -> Result<TlsInfo, HttpError> {
    inspect_with(host, port, server_name, timeout, &TlsConfig::default()).await
}

/// [`inspect`] with explicit trust roots.
pub async fn inspect_with(
    host: &str,
    port: u16,
    server_name: &str,
    timeout: Duration,
    config: &TlsConfig,
) -> Result<TlsInfo, HttpError> {
    let started = Instant::now();
    let deadline = deadline_after(started, timeout);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let server_name = server_name
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(server_name);
    let addrs = resolve::resolve(host, port, deadline, timeout).await?;
    let (tcp, _) = resolve::connect(&addrs, deadline, timeout).await?;
    let (mut stream, info) = handshake(
        tcp,
        server_name,
        config,
        Verify::Record,
        &[b"h2", b"http/1.1"],
        deadline,
        timeout,
    )
    .await?;
    // Say goodbye with close_notify so the server logs no aborted handshake; best effort.
    timeout_at(deadline, stream.shutdown()).await.ok();
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::http::{Request, send};
    use crate::probe::tls::test_support::{Ca, answer_ok, self_signed, serve};

    const T: Duration = Duration::from_secs(5);

    async fn idle(_stream: tokio_rustls::server::TlsStream<TcpStream>) {}

    #[tokio::test]
    async fn self_signed_certificate_is_described() {
        let addr = serve(self_signed(&["a.test", "127.0.0.1"]), idle).await;
        let info = inspect("127.0.0.1", addr.port(), "a.test", T)
            .await
            .unwrap();
        assert!(!info.verified);
        let error = info.verify_error.as_deref().unwrap();
        assert!(error.starts_with("self-signed certificate"), "{error}");
        assert_eq!(info.names, vec!["a.test", "127.0.0.1"]);
        assert_eq!(info.subject, "CN=a.test");
        assert_eq!(info.subject, info.issuer);
        assert_eq!(info.protocol.as_deref(), Some("TLSv1.3"));
        assert_eq!(info.chain_len, 1);
        assert!(info.days_left > 300, "{info:?}");
        assert!(info.not_after.ends_with('Z') && info.not_after.contains('T'));
        assert_eq!(info.problems.len(), 1, "{:?}", info.problems);
    }

    #[tokio::test]
    async fn expired_certificate_is_described() {
        let ca = Ca::root("Test Root");
        let addr = serve(
            ca.leaf(&["old.test"], Some(((2020, 1, 1), (2021, 1, 1)))),
            idle,
        )
        .await;
        let config = TlsConfig::without_system_roots()
            .with_extra_root_der(&ca.cert)
            .unwrap();
        let info = inspect_with("127.0.0.1", addr.port(), "old.test", T, &config)
            .await
            .unwrap();
        assert!(!info.verified);
        let error = info.verify_error.as_deref().unwrap();
        assert!(
            error.starts_with("certificate expired on 2021-01-01T00:00:00Z ("),
            "{error}"
        );
        assert!(info.days_left < -365, "{}", info.days_left);
        assert_eq!(info.not_after, "2021-01-01T00:00:00Z");
        assert_eq!(info.issuer, "CN=Test Root");
        // Trusted issuer, right name: expiry is the only problem.
        assert_eq!(info.problems.len(), 1, "{:?}", info.problems);
    }

    #[tokio::test]
    async fn expired_self_signed_certificate_lists_both_problems() {
        let ca = Ca::root("Lonely");
        let mut identity = ca.leaf(&["x.test"], Some(((2019, 1, 1), (2020, 1, 1))));
        identity.chain.truncate(1);
        let addr = serve(identity, idle).await;
        // The CA is not trusted: the chain leads nowhere, and the leaf is also expired.
        let info = inspect_with(
            "127.0.0.1",
            addr.port(),
            "x.test",
            T,
            &TlsConfig::without_system_roots(),
        )
        .await
        .unwrap();
        assert!(!info.verified);
        assert!(
            info.problems
                .iter()
                .any(|p| p.starts_with("unknown issuer")),
            "{:?}",
            info.problems
        );
        assert!(
            info.problems
                .iter()
                .any(|p| p.starts_with("certificate expired")),
            "{:?}",
            info.problems
        );
    }

    #[tokio::test]
    async fn name_mismatch_is_described() {
        let ca = Ca::root("Test Root");
        let addr = serve(ca.leaf(&["a.test"], None), idle).await;
        let config = TlsConfig::without_system_roots()
            .with_extra_root_der(&ca.cert)
            .unwrap();
        let info = inspect_with("127.0.0.1", addr.port(), "b.test", T, &config)
            .await
            .unwrap();
        assert!(!info.verified);
        assert_eq!(
            info.verify_error.as_deref(),
            Some("name mismatch: cert is for a.test, not b.test")
        );
    }

    #[tokio::test]
    async fn chain_from_a_trusted_test_ca_verifies() {
        let root = Ca::root("Test Root");
        let intermediate = root.intermediate("Test Intermediate");
        let addr = serve(intermediate.leaf(&["good.test"], None), idle).await;
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            data_encoding::BASE64.encode(&root.cert)
        );
        let config = TlsConfig::default()
            .with_extra_roots_pem(pem.as_bytes())
            .unwrap();
        let info = inspect_with("127.0.0.1", addr.port(), "good.test", T, &config)
            .await
            .unwrap();
        assert!(info.verified, "{info:?}");
        assert_eq!(info.verify_error, None);
        assert!(info.problems.is_empty());
        assert_eq!(info.chain_len, 2);
        assert_eq!(info.issuer, "CN=Test Intermediate");
        assert!(info.days_left >= 0);

        // Without the extra root the same server is untrusted.
        let info = inspect("127.0.0.1", addr.port(), "good.test", T)
            .await
            .unwrap();
        assert!(!info.verified);
        assert!(
            info.verify_error
                .unwrap()
                .starts_with("unknown issuer: CN=Test Intermediate"),
        );
    }

    #[tokio::test]
    async fn https_request_verifies_and_reports_the_certificate() {
        let ca = Ca::root("Test Root");
        let addr = serve(ca.leaf(&["localhost"], None), answer_ok).await;
        let config = TlsConfig::default().with_extra_root_der(&ca.cert).unwrap();
        let url = format!("https://localhost:{}/", addr.port());
        let resp = send(&Request::get(&url, T).tls(config.clone()))
            .await
            .unwrap();
        assert_eq!(resp.text(), "ok");
        let info = resp.tls.unwrap();
        assert!(info.verified);
        assert_eq!(info.alpn.as_deref(), None);
        // The handshake reqwest ran: version and suite as negotiated, the same a handshake
        // the probe owns reads from the connection.
        assert_eq!(info.protocol.as_deref(), Some("TLSv1.3"));
        assert!(
            info.cipher_suite
                .as_deref()
                .is_some_and(|s| s.starts_with("TLS13_")),
            "{info:?}"
        );
        let inspected = inspect_with("127.0.0.1", addr.port(), "localhost", T, &config)
            .await
            .unwrap();
        assert_eq!(
            (&info.protocol, &info.cipher_suite),
            (&inspected.protocol, &inspected.cipher_suite)
        );
        assert!(resp.timings.tls_ms.is_some());

        // The same server with the system roots only: the request fails, saying why.
        let err = send(&Request::get(&url, T)).await.unwrap_err();
        let HttpError::Tls { reason, cert } = &err else {
            panic!("{err:?}");
        };
        assert!(reason.starts_with("unknown issuer"), "{reason}");
        assert_eq!(cert.as_ref().unwrap().names, vec!["localhost"]);
    }

    /// A TLS 1.2-only server: the version and the ECDHE suite reqwest's handshake negotiated
    /// are measured, as on a handshake the probe owns.
    #[tokio::test]
    async fn https_request_to_a_tls12_server_reports_version_and_suite() {
        use crate::probe::tls::test_support::serve_versions;
        let ca = Ca::root("Test Root");
        let addr = serve_versions(
            ca.leaf(&["localhost"], None),
            &[&rustls::version::TLS12],
            answer_ok,
        )
        .await;
        let config = TlsConfig::default().with_extra_root_der(&ca.cert).unwrap();
        let url = format!("https://localhost:{}/", addr.port());
        let resp = send(&Request::get(&url, T).tls(config.clone()))
            .await
            .unwrap();
        let info = resp.tls.unwrap();
        assert_eq!(info.protocol.as_deref(), Some("TLSv1.2"), "{info:?}");
        assert!(
            info.cipher_suite
                .as_deref()
                .is_some_and(|s| s.starts_with("TLS_ECDHE_")),
            "{info:?}"
        );
        let inspected = inspect_with("127.0.0.1", addr.port(), "localhost", T, &config)
            .await
            .unwrap();
        assert_eq!(
            (&info.protocol, &info.cipher_suite),
            (&inspected.protocol, &inspected.cipher_suite)
        );
    }

    #[tokio::test]
    async fn https_request_to_self_signed_server_fails_with_reason() {
        let addr = serve(self_signed(&["localhost"]), answer_ok).await;
        let err = send(&Request::get(
            &format!("https://127.0.0.1:{}/", addr.port()),
            T,
        ))
        .await
        .unwrap_err();
        assert_eq!(err.kind(), "tls");
        assert!(err.to_string().contains("self-signed"), "{err}");
    }

    #[tokio::test]
    async fn plain_http_server_is_not_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        });
        let err = inspect("127.0.0.1", port, "a.test", T).await.unwrap_err();
        assert!(err.to_string().contains("did not answer with TLS"), "{err}");
    }

    #[tokio::test]
    async fn silent_server_times_out_in_the_handshake() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _held = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let started = Instant::now();
        let err = inspect("127.0.0.1", port, "a.test", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                HttpError::Timeout {
                    stage: "tls handshake",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
