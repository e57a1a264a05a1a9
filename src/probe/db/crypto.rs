//! The little cryptography `MySQL`/`MariaDB` authentication needs. SHA-1, SHA-256, SHA-512 and
//! randomness come from `ring` (already linked for TLS). Two things `ring` cannot do are here:
//!
//! * `MariaDB`'s `client_ed25519` is Ed25519 whose "seed" is the password itself, of any length
//!   (`crypto_sign()` in the server's `plugin/auth_ed25519/ref10/sign.c` hashes the password
//!   with SHA-512 where RFC 8032 hashes a 32-byte seed). `ring` only takes 32-byte seeds, so the
//!   signature is computed with `curve25519-dalek`'s scalar and point arithmetic; for a 32-byte
//!   password it is byte for byte what `ring` signs (tested below).
//! * `caching_sha2_password` full authentication without TLS encrypts the password to the
//!   server's RSA key with OAEP (SHA-1, MGF1-SHA-1, no label, as `MySQL` 8.0.5+ and every
//!   connector use). `ring` only verifies RSA. The `rsa` crate would add ten crates and carries
//!   an open advisory (RUSTSEC-2023-0071, a timing leak of the *private* key); encryption with a
//!   public key has no secret to leak through timing, so it is the textbook RFC 8017 §7.1.1 over
//!   `num-bigint` (already linked through `x509-parser`), checked by `openssl pkeyutl -decrypt`
//!   in the tests. `PostgreSQL`'s SCRAM lives in tokio-postgres.

use curve25519_dalek::{EdwardsPoint, Scalar};
use num_bigint::BigUint;
use ring::digest;
use ring::rand::SecureRandom as _;

pub(super) fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    hash(&digest::SHA1_FOR_LEGACY_USE_ONLY, parts)
}

pub(super) fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    hash(&digest::SHA256, parts)
}

fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out.copy_from_slice(&hash(&digest::SHA512, parts));
    out
}

fn hash(alg: &'static digest::Algorithm, parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = digest::Context::new(alg);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().to_vec()
}

pub(super) fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// `MariaDB`'s `client_ed25519` reply: the Ed25519 signature of the server's `nonce` under the
/// key whose SHA-512 expansion is that of `password` (RFC 8032 §5.1.6 with the password in
/// place of the 32-byte secret).
pub(super) fn ed25519_password_sign(password: &[u8], nonce: &[u8]) -> [u8; 64] {
    let az = sha512(&[password]);
    let (low, prefix) = az.split_at(32);
    let mut clamped = [0u8; 32];
    clamped.copy_from_slice(low);
    let a = Scalar::from_bytes_mod_order(curve25519_dalek::scalar::clamp_integer(clamped));
    let public = EdwardsPoint::mul_base(&a).compress();
    let r = Scalar::from_bytes_mod_order_wide(&sha512(&[prefix, nonce]));
    let big_r = EdwardsPoint::mul_base(&r).compress();
    let k =
        Scalar::from_bytes_mod_order_wide(&sha512(&[big_r.as_bytes(), public.as_bytes(), nonce]));
    let s = k * a + r;
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(big_r.as_bytes());
    out[32..].copy_from_slice(s.as_bytes());
    out
}

/// Why the server's RSA key could not be used.
#[derive(Debug, thiserror::Error)]
pub(super) enum RsaError {
    #[error("the server's public key is not a PEM \"PUBLIC KEY\"")]
    Pem,
    #[error("the server's public key is not an RSA key")]
    NotRsa,
    #[error("the password is too long for the server's {bits}-bit RSA key")]
    TooLong { bits: usize },
    #[error("no randomness from the operating system")]
    Random,
}

/// RSAES-OAEP-ENCRYPT (RFC 8017 §7.1.1) with SHA-1, MGF1-SHA-1 and an empty label, to the
/// key in `pem` (a `-----BEGIN PUBLIC KEY-----` block, as `MySQL` sends it).
pub(super) fn rsa_oaep_sha1_encrypt(pem: &[u8], message: &[u8]) -> Result<Vec<u8>, RsaError> {
    /// SHA-1's output length.
    const H: usize = 20;
    use rustls::pki_types::SubjectPublicKeyInfoDer;
    use rustls::pki_types::pem::PemObject as _;
    use x509_parser::prelude::FromDer as _;
    use x509_parser::public_key::PublicKey;

    let der = SubjectPublicKeyInfoDer::from_pem_slice(pem).map_err(|_| RsaError::Pem)?;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der.as_ref())
        .map_err(|_| RsaError::Pem)?;
    let Ok(PublicKey::RSA(key)) = spki.parsed() else {
        return Err(RsaError::NotRsa);
    };
    let n = BigUint::from_bytes_be(key.modulus);
    let e = BigUint::from_bytes_be(key.exponent);
    let k = usize::try_from(n.bits().div_ceil(8)).unwrap_or(0);
    if k < 2 * H + 2 || message.len() > k - 2 * H - 2 {
        return Err(RsaError::TooLong { bits: k * 8 });
    }
    // DB = lHash || PS || 0x01 || M
    let mut db = sha1(&[b""]);
    db.resize(k - H - 1 - message.len() - 1, 0);
    db.push(1);
    db.extend_from_slice(message);
    let mut seed = [0u8; H];
    ring::rand::SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| RsaError::Random)?;
    let masked_db = xor(&db, &mgf1(&seed, db.len()));
    let masked_seed = xor(&seed, &mgf1(&masked_db, H));
    let mut em = vec![0u8];
    em.extend_from_slice(&masked_seed);
    em.extend_from_slice(&masked_db);
    let c = BigUint::from_bytes_be(&em).modpow(&e, &n).to_bytes_be();
    // I2OSP: left-padded to the modulus length.
    let mut out = vec![0u8; k - c.len()];
    out.extend_from_slice(&c);
    Ok(out)
}

/// MGF1 with SHA-1 (RFC 8017 §B.2.1).
fn mgf1(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 20);
    let mut counter = 0u32;
    while out.len() < len {
        out.extend_from_slice(&sha1(&[seed, &counter.to_be_bytes()]));
        counter += 1;
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};

    #[test]
    fn ed25519_with_a_32_byte_password_is_standard_ed25519() {
        // RFC 8032's seed expansion of a 32-byte secret is what MariaDB does to a password of
        // that length, so ring's signature must be the same bytes.
        let password = b"0123456789abcdef0123456789abcdef";
        let nonce: Vec<u8> = (0u8..32).collect();
        let pair = Ed25519KeyPair::from_seed_unchecked(password).unwrap_or_else(|e| panic!("{e}"));
        let ours = ed25519_password_sign(password, &nonce);
        assert_eq!(ours.as_slice(), pair.sign(&nonce).as_ref());
    }

    #[test]
    fn ed25519_with_any_password_verifies_under_its_public_key() {
        for password in [
            &b""[..],
            b"edpw",
            "pa\u{df}wörd with spaces and more than 32 bytes".as_bytes(),
        ] {
            let nonce = [7u8; 32];
            let sig = ed25519_password_sign(password, &nonce);
            // The public key as MariaDB's server stores it (base64 of [clamp(SHA512(pw))]B).
            let az = sha512(&[password]);
            let mut low = [0u8; 32];
            low.copy_from_slice(&az[..32]);
            let a = Scalar::from_bytes_mod_order(curve25519_dalek::scalar::clamp_integer(low));
            let public = EdwardsPoint::mul_base(&a).compress();
            UnparsedPublicKey::new(&ED25519, public.as_bytes())
                .verify(&nonce, &sig)
                .unwrap_or_else(|e| panic!("{password:?}: {e}"));
        }
    }

    #[test]
    fn mgf1_is_sha1_of_seed_and_counter() {
        let m = mgf1(b"seed", 45);
        assert_eq!(m.len(), 45);
        assert_eq!(&m[..20], sha1(&[b"seed", &[0, 0, 0, 0]]).as_slice());
        assert_eq!(&m[20..40], sha1(&[b"seed", &[0, 0, 0, 1]]).as_slice());
    }

    #[test]
    fn rsa_oaep_decrypts_with_openssl() {
        // openssl makes the key and decrypts: an independent OAEP (SHA-1) implementation.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let key = dir.path().join("key.pem");
        let public = dir.path().join("pub.pem");
        let run = |args: &[&std::ffi::OsStr]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("openssl: {e}"));
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        run(&[
            "genpkey".as_ref(),
            "-algorithm".as_ref(),
            "RSA".as_ref(),
            "-pkeyopt".as_ref(),
            "rsa_keygen_bits:2048".as_ref(),
            "-out".as_ref(),
            key.as_os_str(),
        ]);
        run(&[
            "pkey".as_ref(),
            "-in".as_ref(),
            key.as_os_str(),
            "-pubout".as_ref(),
            "-out".as_ref(),
            public.as_os_str(),
        ]);
        let pem = std::fs::read(&public).unwrap_or_else(|e| panic!("{e}"));
        for message in [&b"\0"[..], b"secret\0", &[0xa5; 214]] {
            let c = rsa_oaep_sha1_encrypt(&pem, message).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.len(), 256);
            let file = dir.path().join("c");
            std::fs::write(&file, &c).unwrap_or_else(|e| panic!("{e}"));
            let plain = run(&[
                "pkeyutl".as_ref(),
                "-decrypt".as_ref(),
                "-inkey".as_ref(),
                key.as_os_str(),
                "-pkeyopt".as_ref(),
                "rsa_padding_mode:oaep".as_ref(),
                "-in".as_ref(),
                file.as_os_str(),
            ]);
            assert_eq!(plain, message);
        }
        assert!(matches!(
            rsa_oaep_sha1_encrypt(&pem, &[1; 215]),
            Err(RsaError::TooLong { bits: 2048 })
        ));
    }

    #[test]
    fn rsa_refuses_what_is_not_an_rsa_public_key() {
        assert!(matches!(
            rsa_oaep_sha1_encrypt(b"not pem", b"x"),
            Err(RsaError::Pem)
        ));
    }
}
