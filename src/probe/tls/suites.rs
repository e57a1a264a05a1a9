//! The *ring* provider's cipher suites, each wrapped so that building the record keys notes the
//! suite in the trace of the HTTP request being polled.
//!
//! reqwest never hands out the rustls connection, so the negotiated version and cipher suite
//! of a request's handshake cannot be read from it afterwards. rustls builds a suite's
//! encrypter and decrypter exactly when that suite has been negotiated (after the
//! `ServerHello`), so the suite noted there is the one the connection uses — measured, not
//! inferred. Outside an HTTP request (a handshake the probe owns, which reads the connection
//! state directly) the note goes nowhere. The wrappers delegate every operation unchanged.

use rustls::crypto::cipher::{
    AeadKey, Iv, KeyBlockShape, MessageDecrypter, MessageEncrypter, Tls12AeadAlgorithm,
    Tls13AeadAlgorithm, UnsupportedOperationError,
};
use rustls::{
    CipherSuite, CipherSuiteCommon, ConnectionTrafficSecrets, SupportedCipherSuite,
    Tls12CipherSuite, Tls13CipherSuite,
};

use crate::probe::trace;

/// `suite`, noting itself when its keys are built. Leaks two small structs per suite: the
/// provider that calls this is built once per process.
pub(super) fn noted(suite: SupportedCipherSuite) -> SupportedCipherSuite {
    match suite {
        SupportedCipherSuite::Tls13(s) => {
            let aead: &'static Noted<dyn Tls13AeadAlgorithm> = Box::leak(Box::new(Noted {
                suite: s.common.suite,
                version: "TLSv1.3",
                inner: s.aead_alg,
            }));
            SupportedCipherSuite::Tls13(Box::leak(Box::new(Tls13CipherSuite {
                common: common(&s.common),
                hkdf_provider: s.hkdf_provider,
                aead_alg: aead,
                quic: s.quic,
            })))
        }
        SupportedCipherSuite::Tls12(s) => {
            let aead: &'static Noted<dyn Tls12AeadAlgorithm> = Box::leak(Box::new(Noted {
                suite: s.common.suite,
                version: "TLSv1.2",
                inner: s.aead_alg,
            }));
            SupportedCipherSuite::Tls12(Box::leak(Box::new(Tls12CipherSuite {
                common: common(&s.common),
                prf_provider: s.prf_provider,
                kx: s.kx,
                sign: s.sign,
                aead_alg: aead,
            })))
        }
    }
}

fn common(c: &CipherSuiteCommon) -> CipherSuiteCommon {
    CipherSuiteCommon {
        suite: c.suite,
        hash_provider: c.hash_provider,
        confidentiality_limit: c.confidentiality_limit,
    }
}

/// An AEAD algorithm that notes its suite (and so the protocol version) when keys are built.
struct Noted<A: ?Sized + 'static> {
    suite: CipherSuite,
    version: &'static str,
    inner: &'static A,
}

impl<A: ?Sized> Noted<A> {
    fn note(&self) {
        trace::update_current(|t| {
            t.cipher_suite = Some(self.suite);
            t.protocol = Some(self.version);
        });
    }
}

impl Tls13AeadAlgorithm for Noted<dyn Tls13AeadAlgorithm> {
    fn encrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageEncrypter> {
        self.note();
        self.inner.encrypter(key, iv)
    }

    fn decrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageDecrypter> {
        self.note();
        self.inner.decrypter(key, iv)
    }

    fn key_len(&self) -> usize {
        self.inner.key_len()
    }

    fn extract_keys(
        &self,
        key: AeadKey,
        iv: Iv,
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        self.inner.extract_keys(key, iv)
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}

impl Tls12AeadAlgorithm for Noted<dyn Tls12AeadAlgorithm> {
    fn encrypter(&self, key: AeadKey, iv: &[u8], extra: &[u8]) -> Box<dyn MessageEncrypter> {
        self.note();
        self.inner.encrypter(key, iv, extra)
    }

    fn decrypter(&self, key: AeadKey, iv: &[u8]) -> Box<dyn MessageDecrypter> {
        self.note();
        self.inner.decrypter(key, iv)
    }

    fn key_block_shape(&self) -> KeyBlockShape {
        self.inner.key_block_shape()
    }

    fn extract_keys(
        &self,
        key: AeadKey,
        iv: &[u8],
        explicit: &[u8],
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        self.inner.extract_keys(key, iv, explicit)
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}
