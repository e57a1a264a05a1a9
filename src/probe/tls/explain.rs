//! Reports on TLS in words: what a certificate is and why it does not verify ([`TlsInfo`],
//! [`describe`]), and why a handshake failed ([`explain_failure`]: no cipher suite, protocol
//! version or ALPN protocol in common, not TLS at all). One explainer for every probe.

use std::time::Duration;

use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::pki_types::{ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, RootCertStore};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::client::provider;
use super::verify::Seen;
use crate::probe::http::HttpError;

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
    /// Negotiated protocol version, e.g. `TLSv1.3`: read from the rustls connection on a
    /// handshake the probe owns (inspection, `wss://`), from the negotiated cipher suite on an
    /// HTTP request's. Null only when no handshake was seen.
    pub protocol: Option<String>,
    /// Negotiated cipher suite, e.g. `TLS13_AES_128_GCM_SHA256`, measured the same way.
    pub cipher_suite: Option<String>,
    /// Negotiated ALPN protocol (`h2`, `http/1.1`), if any. On an HTTP request only `h2` can be
    /// seen (the response is HTTP/2): the HTTP client does not expose the connection, and a
    /// server that chose `http/1.1` and one that ignored ALPN both answer HTTP/1.1, so the field
    /// is null for those rather than a guess.
    pub alpn: Option<String>,
    /// Certificates the server sent, leaf included.
    pub chain_len: usize,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_rounds_down() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(100);
        assert_eq!(days_until(now + time::Duration::hours(36), now), 1);
        assert_eq!(days_until(now - time::Duration::hours(1), now), -1);
        assert_eq!(days_until(now, now), 0);
    }
}
