//! The little cryptography `MySQL` authentication needs: SHA-1 and SHA-256 from `ring` (already
//! linked for TLS, so no extra crates). `PostgreSQL`'s SCRAM lives in tokio-postgres.

use ring::digest;

pub(super) fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    hash(&digest::SHA1_FOR_LEGACY_USE_ONLY, parts)
}

pub(super) fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    hash(&digest::SHA256, parts)
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
