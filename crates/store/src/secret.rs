//! Generation, hashing and comparison of secrets that are not passwords.
//!
//! Tokens, codes, links and client secrets that pfid generates carry 256 random bits, so a
//! SHA-256 digest is enough to protect them at rest; a password hash would cost
//! milliseconds per check for no gain. Short human-typed codes (six digits, an invitation
//! PIN) would fall to brute force from a plain digest, so they are keyed: HMAC-SHA-256
//! under a key derived from the deployment's encryption key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};
use subtle::ConstantTimeEq;

use crate::error::StoreError;

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| StoreError::Crypto("the system random generator failed".into()))?;
    Ok(buf)
}

/// A new secret of 256 random bits, base64url without padding (43 characters), with an
/// optional readable prefix so that leaked tokens are easy to recognise and scan for.
pub fn new_token(prefix: &str) -> Result<String, StoreError> {
    Ok(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// A random identifier of 128 bits, base64url (22 characters). For ids that are not
/// secrets but must not be guessable in sequence (client ids, session ids).
///
/// Never begins with `-`: operators type client ids on the command line, where such an
/// id reads as an option (`pfid client approve -x...`). Drawing again costs 1 in 64 of
/// the first character's values, well under one bit.
pub fn new_id() -> Result<String, StoreError> {
    loop {
        let id = URL_SAFE_NO_PAD.encode(random_bytes::<16>()?);
        if !id.starts_with('-') {
            return Ok(id);
        }
    }
}

/// `n` random decimal digits, uniformly distributed (rejection sampling, no modulo bias).
pub fn random_digits(n: usize) -> Result<String, StoreError> {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes::<16>()? {
            if b < 250 && out.len() < n {
                out.push(char::from(b'0' + b % 10));
            }
        }
    }
    Ok(out)
}

/// The SHA-256 digest of a high-entropy secret, hex encoded: what the database keeps.
pub fn digest(secret: &str) -> String {
    hex(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref())
}

/// Compares two digests (or any two secrets) in time independent of where they differ.
pub fn equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Hashes short, low-entropy codes under a secret key shared by every node.
#[derive(Clone)]
pub struct CodeHasher {
    key: hmac::Key,
}

impl std::fmt::Debug for CodeHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeHasher(..)")
    }
}

impl CodeHasher {
    /// `key_material` is derived from the deployment's encryption key.
    pub fn new(key_material: &[u8]) -> Self {
        CodeHasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, key_material),
        }
    }

    /// The keyed hash of a code, bound to what it is for (`purpose`), so a code issued
    /// for one flow never verifies in another.
    pub fn hash(&self, purpose: &str, code: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(code.as_bytes());
        hex(ctx.sign().as_ref())
    }

    /// Checks a typed code against its stored keyed hash in constant time.
    pub fn verify(&self, purpose: &str, code: &str, stored: &str) -> bool {
        equal(&self.hash(purpose, code), stored)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_differ() {
        let a = new_token("pfat_").unwrap();
        let b = new_token("pfat_").unwrap();
        assert_eq!(a.len(), 5 + 43);
        assert_ne!(a, b);
    }

    #[test]
    fn ids_never_read_as_command_line_options() {
        // With 1 in 64 ids drawn starting with '-', 10,000 draws would show one.
        for _ in 0..10_000 {
            let id = new_id().unwrap();
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'), "{id}");
        }
    }

    #[test]
    fn digits_are_digits_of_the_asked_length() {
        let d = random_digits(6).unwrap();
        assert_eq!(d.len(), 6);
        assert!(d.bytes().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn code_hashes_are_bound_to_their_purpose_and_key() {
        let h = CodeHasher::new(b"k1");
        let stored = h.hash("reset", "123456");
        assert!(h.verify("reset", "123456", &stored));
        assert!(!h.verify("signup", "123456", &stored));
        assert!(!CodeHasher::new(b"k2").verify("reset", "123456", &stored));
    }
}
