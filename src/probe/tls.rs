//! TLS for the probes: the client handshake used by `https://` and `wss://`, and certificate
//! inspection that describes a server's certificate (subject, issuer, names, validity, days left,
//! why it does not verify) even when it is expired, self-signed or for another name.
//!
//! Both go through one certificate verifier that records the chain the server sent and the
//! verdict of the real `WebPKI` verification against the trust roots; requests enforce the verdict,
//! inspection only records it. Crypto is rustls with *ring*, chosen explicitly per connection so
//! no process-wide default provider is needed. Trust roots are the system's (`/etc/ssl/certs`, or
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`), loaded once per process, plus any a [`TlsConfig`] adds.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::http::{HttpError, deadline_after};
use super::resolve;
use super::trace;

/// What a server's certificate is and whether it verifies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsInfo {
    /// The chain leads to a trusted root, is within its validity period and names the server.
    pub verified: bool,
    /// Why it does not verify, e.g. `certificate expired on … (3 days ago)`,
    /// `self-signed certificate …`, `name mismatch: cert is for a.test, not b.test`.
    pub verify_error: Option<String>,
    /// Every problem found, each checked on its own (an expired self-signed certificate has
    /// two); `verify_error` is the first.
    pub problems: Vec<String>,
    /// Subject distinguished name, e.g. `CN=a.test, O=Acme`.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Subject alternative names: DNS names and IP addresses.
    pub names: Vec<String>,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days until `not_after`, rounded down: negative once expired.
    pub days_left: i64,
    /// Negotiated protocol version, e.g. `TLSv1.3`.
    pub protocol: Option<String>,
    /// Negotiated cipher suite, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub cipher_suite: Option<String>,
    /// Negotiated ALPN protocol (`h2`, `http/1.1`), if any.
    pub alpn: Option<String>,
    /// Certificates the server sent, leaf included.
    pub chain_len: usize,
}

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

/// The system roots, loaded once per process.
async fn system_roots() -> Arc<RootCertStore> {
    static SYSTEM: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    if let Some(store) = SYSTEM.get() {
        return Arc::clone(store);
    }
    let loaded = tokio::task::spawn_blocking(|| {
        let found = rustls_native_certs::load_native_certs();
        for err in &found.errors {
            tracing::debug!(%err, "skipping an unreadable system root certificate");
        }
        let mut store = RootCertStore::empty();
        let (added, ignored) = store.add_parsable_certificates(found.certs);
        tracing::debug!(added, ignored, "loaded system root certificates");
        store
    })
    .await
    .unwrap_or_else(|_| RootCertStore::empty());
    Arc::clone(SYSTEM.get_or_init(|| Arc::new(loaded)))
}

/// The crypto provider: *ring*, named explicitly so nothing depends on a process default.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// What the verifier saw during one handshake.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) verdict: Option<Result<(), rustls::Error>>,
}

/// Verifies like rustls' `WebPKI` verifier (chain to a root, validity, name; no revocation lists,
/// as the stock verifier without CRLs) and records the chain and verdict. With `enforce` off it
/// accepts any certificate, so inspection can finish the handshake and describe it. Handshake
/// signatures are always checked: the server must hold the key of the certificate it sent.
#[derive(Debug)]
struct RecordingVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    enforce: bool,
    /// Where to record; `None` records into the trace of the HTTP request being polled.
    seen: Option<Arc<Mutex<Seen>>>,
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
        match &self.seen {
            Some(seen) => {
                let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                seen.chain = chain();
                seen.verdict = Some(verdict.clone());
            }
            None => trace::update_current(|t| {
                t.chain = chain();
                t.verdict = Some(verdict.clone());
            }),
        }
        if self.enforce {
            verdict.map(|()| ServerCertVerified::assertion())
        } else {
            Ok(ServerCertVerified::assertion())
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if self.seen.is_none() {
            trace::update_current(|t| t.protocol = Some("TLSv1.2"));
        }
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
        if self.seen.is_none() {
            trace::update_current(|t| t.protocol = Some("TLSv1.3"));
        }
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

/// The leaf certificate's fields, as reported.
struct Leaf {
    subject: String,
    issuer: String,
    self_issued: bool,
    names: Vec<String>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl Leaf {
    fn parse(der: &[u8]) -> Option<Leaf> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                            names.push(std::net::Ipv4Addr::from(v4).to_string());
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                            names.push(std::net::Ipv6Addr::from(v6).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(Leaf {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
            names,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
        })
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Whole days from `now` to `t`, rounded down (so −1 as soon as `t` has passed).
fn days_until(t: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (t - now).whole_seconds().div_euclid(86_400)
}

fn plural_days(n: i64) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// Puts a certificate error in the words of a report.
fn explain(
    err: &rustls::Error,
    leaf: Option<&Leaf>,
    server_name: &str,
    now: OffsetDateTime,
) -> String {
    let rustls::Error::InvalidCertificate(err) = err else {
        return err.to_string();
    };
    match err {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => match leaf {
            Some(leaf) if leaf.not_after < now => format!(
                "certificate expired on {} ({} ago)",
                rfc3339(leaf.not_after),
                plural_days((now - leaf.not_after).whole_days())
            ),
            // The leaf is current, so an intermediate is the one that expired.
            _ => "certificate expired (a certificate in the chain is past its end date)".to_owned(),
        },
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => match leaf {
            Some(leaf) if leaf.not_before > now => format!(
                "certificate not valid yet: starts {} (clock skew?)",
                rfc3339(leaf.not_before)
            ),
            _ => "certificate not valid yet (a certificate in the chain starts later)".to_owned(),
        },
        CertificateError::UnknownIssuer => match leaf {
            Some(leaf) if leaf.self_issued => format!(
                "self-signed certificate ({}): not issued by a trusted CA",
                leaf.subject
            ),
            Some(leaf) => format!(
                "unknown issuer: {} is not a trusted CA (private CA, or the server does not send its intermediate certificates?)",
                leaf.issuer
            ),
            None => "unknown issuer: the chain does not lead to a trusted root".to_owned(),
        },
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let names = leaf.map(|l| l.names.join(", ")).unwrap_or_default();
            if names.is_empty() {
                format!("name mismatch: cert names no host (no subjectAltName), not {server_name}")
            } else {
                format!("name mismatch: cert is for {names}, not {server_name}")
            }
        }
        // A self-signed leaf whose name matches a trusted root (e.g. Debian's snakeoil
        // `CN=localhost` in /etc/ssl/certs) fails on that root's key, not as an unknown issuer.
        CertificateError::BadSignature
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => match leaf {
            Some(leaf) if leaf.self_issued => format!(
                "self-signed certificate ({}): not trusted (a different trusted certificate has the same name)",
                leaf.subject
            ),
            Some(leaf) => format!(
                "certificate signature does not verify with the key of {} (a different trusted certificate has the same name, or the chain is corrupt)",
                leaf.issuer
            ),
            None => "certificate signature is invalid".to_owned(),
        },
        CertificateError::Revoked => "certificate revoked".to_owned(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate is not valid for TLS server authentication".to_owned()
        }
        CertificateError::BadEncoding => "malformed certificate".to_owned(),
        other => format!("invalid certificate: {other:?}"),
    }
}

/// Describes what the verifier saw: the leaf's fields, the verdict, and each problem checked on
/// its own (trust at a time inside the leaf's validity, so expiry does not hide an untrusted
/// issuer; validity against now; the name).
pub(crate) fn describe(
    seen: &Seen,
    roots: &RootCertStore,
    server_name: &ServerName<'_>,
) -> TlsInfo {
    let now = OffsetDateTime::now_utc();
    let shown_name = server_name.to_str();
    let leaf = seen.chain.first().and_then(|der| Leaf::parse(der));
    let mut problems: Vec<String> = Vec::new();
    let verify_error = match &seen.verdict {
        Some(Ok(())) => None,
        Some(Err(err)) => Some(explain(err, leaf.as_ref(), &shown_name, now)),
        None => Some("the server sent no certificate".to_owned()),
    };
    problems.extend(verify_error.clone());

    let parsed = seen.chain.first().map(ParsedCertificate::try_from);
    match (parsed, &leaf) {
        (Some(Ok(cert)), Some(fields)) => {
            let middle = fields
                .not_before
                .checked_add((fields.not_after - fields.not_before) / 2_i32)
                .unwrap_or(fields.not_before);
            let at = UnixTime::since_unix_epoch(Duration::from_secs(
                u64::try_from(middle.unix_timestamp()).unwrap_or(0),
            ));
            let checks = [
                verify_server_cert_signed_by_trust_anchor(
                    &cert,
                    roots,
                    seen.chain.get(1..).unwrap_or_default(),
                    at,
                    provider().signature_verification_algorithms.all,
                ),
                if fields.not_after < now {
                    Err(rustls::Error::InvalidCertificate(CertificateError::Expired))
                } else if fields.not_before > now {
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidYet,
                    ))
                } else {
                    Ok(())
                },
                verify_server_name(&cert, server_name),
            ];
            for err in checks.iter().filter_map(|c| c.as_ref().err()) {
                let text = explain(err, leaf.as_ref(), &shown_name, now);
                if !problems.contains(&text) {
                    problems.push(text);
                }
            }
        }
        (Some(Err(err)), _) => {
            let text = explain(&err, None, &shown_name, now);
            if !problems.contains(&text) {
                problems.push(text);
            }
        }
        _ => {}
    }

    let (subject, issuer, names, not_before, not_after, days_left) = match &leaf {
        Some(l) => (
            l.subject.clone(),
            l.issuer.clone(),
            l.names.clone(),
            rfc3339(l.not_before),
            rfc3339(l.not_after),
            days_until(l.not_after, now),
        ),
        None => Default::default(),
    };
    TlsInfo {
        verified: verify_error.is_none(),
        verify_error,
        problems,
        subject,
        issuer,
        names,
        not_before,
        not_after,
        days_left,
        protocol: None,
        cipher_suite: None,
        alpn: None,
        chain_len: seen.chain.len(),
    }
}

/// Why a handshake failed, in the words of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) reason: String,
    /// The server and this probe share no protocol version or cipher suite that rustls
    /// implements (e.g. a TLS 1.2 server with only CBC or RSA key-exchange suites): OpenSSL-based
    /// clients may still connect, so the probe cannot tell what the app would see.
    pub(crate) incompatible: bool,
}

/// What rustls offers, said once for every "nothing in common" message.
const OFFERED: &str = "this probe offers TLS 1.3 and TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305 (rustls implements no CBC or RSA key-exchange suites)";

/// Puts a handshake error (not a certificate verdict) in the words of a report: a refused
/// cipher suite, protocol version or ALPN protocol is named as such.
pub(crate) fn explain_failure(err: &rustls::Error) -> Failure {
    use rustls::AlertDescription as Alert;
    let plain = |reason: String| Failure {
        reason,
        incompatible: false,
    };
    match err {
        rustls::Error::InvalidMessage(_) => {
            plain("the server did not answer with TLS (plain HTTP on this port?)".to_owned())
        }
        rustls::Error::AlertReceived(Alert::HandshakeFailure | Alert::InsufficientSecurity) => {
            Failure {
                reason: format!(
                    "no cipher suite in common with the server (it answered the ClientHello with a handshake_failure alert; {OFFERED})"
                ),
                incompatible: true,
            }
        }
        rustls::Error::AlertReceived(Alert::ProtocolVersion) => Failure {
            reason: format!(
                "no TLS protocol version in common with the server (alert protocol_version: it offers neither TLS 1.3 nor TLS 1.2?; {OFFERED})"
            ),
            incompatible: true,
        },
        rustls::Error::AlertReceived(Alert::NoApplicationProtocol) => plain(
            "no ALPN protocol in common: the server accepts neither h2 nor http/1.1 (alert no_application_protocol)".to_owned(),
        ),
        rustls::Error::AlertReceived(alert) => {
            plain(format!("the server refused the handshake (alert: {alert:?})"))
        }
        rustls::Error::PeerIncompatible(why) => Failure {
            reason: format!("no TLS version or cipher suite in common with the server ({why:?}; {OFFERED})"),
            incompatible: true,
        },
        rustls::Error::NoApplicationProtocol => plain(
            "no ALPN protocol in common: the server chose none of h2, http/1.1".to_owned(),
        ),
        other => plain(other.to_string()),
    }
}

/// Puts a failed handshake (not a certificate verdict) in the words of a report.
pub(crate) fn explain_io_failure(err: &std::io::Error) -> Failure {
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(err) => explain_failure(err),
        None if err.kind() == std::io::ErrorKind::UnexpectedEof => Failure {
            reason: "the server closed the connection during the handshake (not TLS on this port, or no TLS version in common?)".to_owned(),
            incompatible: false,
        },
        None => Failure {
            reason: format!("handshake failed: {err}"),
            incompatible: false,
        },
    }
}

/// The handshake failure as an error.
pub(crate) fn failure_error(failure: Failure) -> HttpError {
    if failure.incompatible {
        HttpError::TlsIncompatible {
            reason: failure.reason,
        }
    } else {
        HttpError::Tls {
            reason: failure.reason,
            cert: None,
        }
    }
}

/// The rustls configuration of the HTTP client: *ring*, TLS 1.2 and 1.3, ALPN `h2` then
/// `http/1.1`, the recording verifier enforcing its verdict (into the request's trace), and a
/// session store that resumes nothing (every connection verifies the certificate in full, as a
/// probe should) but marks, by being asked for a ticket, the moment the handshake starts.
pub(crate) fn request_config(roots: Arc<RootCertStore>) -> Result<ClientConfig, HttpError> {
    let verifier = RecordingVerifier {
        roots,
        provider: provider(),
        enforce: true,
        seen: None,
    };
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls {
            reason: format!("TLS setup: {e}"),
            cert: None,
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
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

/// Whether a handshake fails on a certificate that does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Fail the handshake, as any client would.
    Enforce,
    /// Complete the handshake anyway and report the verdict.
    Record,
}

/// Runs the client handshake on `tcp` for `host` (a DNS name or IP literal), offering `alpn`.
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
    let seen = Arc::new(Mutex::new(Seen::default()));
    let verifier = RecordingVerifier {
        roots: Arc::clone(&roots),
        provider: provider(),
        enforce: verify == Verify::Enforce,
        seen: Some(Arc::clone(&seen)),
    };
    let mut client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls {
            reason: format!("TLS setup: {e}"),
            cert: None,
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = TlsConnector::from(Arc::new(client));
    let result = timeout_at(deadline, connector.connect(server_name.clone(), tcp))
        .await
        .map_err(|_| HttpError::Timeout {
            after: budget,
            stage: "tls handshake",
        })?;
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    match result {
        Ok(stream) => {
            let connection = stream.get_ref().1;
            let mut info = describe(&seen, &roots, &server_name);
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
            Ok((stream, info))
        }
        Err(err) => {
            if matches!(seen.verdict, Some(Err(_))) && verify == Verify::Enforce {
                let info = describe(&seen, &roots, &server_name);
                return Err(HttpError::Tls {
                    reason: info
                        .verify_error
                        .clone()
                        .unwrap_or_else(|| explain_io_failure(&err).reason),
                    cert: Some(Box::new(info)),
                });
            }
            Err(failure_error(explain_io_failure(&err)))
        }
    }
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
pub(crate) mod test_support {
    //! Certificates minted with rcgen and a TLS server for tests.

    use std::future::Future;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd,
    };
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
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
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
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
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
}

#[cfg(test)]
mod tests {
    use super::test_support::{Ca, answer_ok, self_signed, serve};
    use super::*;
    use crate::probe::http::{Request, send};

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
        let resp = send(&Request::get(&url, T).tls(config)).await.unwrap();
        assert_eq!(resp.text(), "ok");
        let info = resp.tls.unwrap();
        assert!(info.verified);
        assert_eq!(info.alpn.as_deref(), None);
        assert!(resp.timings.tls_ms.is_some());

        // The same server with the system roots only: the request fails, saying why.
        let err = send(&Request::get(&url, T)).await.unwrap_err();
        let HttpError::Tls { reason, cert } = &err else {
            panic!("{err:?}");
        };
        assert!(reason.starts_with("unknown issuer"), "{reason}");
        assert_eq!(cert.as_ref().unwrap().names, vec!["localhost"]);
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

    #[test]
    fn days_left_rounds_down() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(100);
        assert_eq!(days_until(now + time::Duration::hours(36), now), 1);
        assert_eq!(days_until(now - time::Duration::hours(1), now), -1);
        assert_eq!(days_until(now, now), 0);
    }

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
