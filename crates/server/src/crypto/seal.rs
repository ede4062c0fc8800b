//! AES-256-GCM sealing of private keys at rest, and secrets derived from the deployment's
//! encryption key (HKDF-SHA-256), so one configured key serves every purpose.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;

/// Decodes `keys.encryption_key`: base64 (standard or URL-safe) of exactly 32 bytes.
pub fn decode_key(b64: &str) -> Result<[u8; 32], String> {
    let raw = b64.trim();
    let bytes = STANDARD
        .decode(raw)
        .or_else(|_| URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')))
        .map_err(|_| "must be base64 of 32 random bytes (openssl rand -base64 32)".to_owned())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("must decode to 32 bytes, not {}", bytes.len()))
}

/// Encodes a key for `keys.encryption_key`.
pub fn encode_key(key: &[u8; 32]) -> String {
    STANDARD.encode(key)
}

/// Seals and opens small secrets under the deployment key.
pub struct Sealer {
    key: LessSafeKey,
    master: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl Sealer {
    pub fn new(master: [u8; 32]) -> Result<Self, String> {
        let enc = derive(&master, b"pfid signing-key sealing")?;
        let unbound = UnboundKey::new(&AES_256_GCM, &enc).map_err(|_| "bad AES key".to_owned())?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            master,
        })
    }

    /// Seals `plain`, binding it to `context` (the key id) so a sealed blob cannot be
    /// moved to another row. Output: base64url(nonce || ciphertext || tag).
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<String, String> {
        let nonce_bytes =
            pfid_store::secret::random_bytes::<NONCE_LEN>().map_err(|e| e.to_string())?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| "sealing failed".to_owned())?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens what `seal` produced; fails on a wrong key, a wrong context or tampering.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, String> {
        let raw = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| "sealed key is not base64url".to_owned())?;
        if raw.len() < NONCE_LEN + 16 {
            return Err("sealed key is too short".into());
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce".to_owned())?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| "cannot open a sealed signing key: keys.encryption_key differs from the one that sealed it".to_owned())?;
        Ok(plain.to_vec())
    }

    /// A 32-byte secret for one purpose (CSRF tokens, code hashing), the same on every
    /// node that shares the deployment key.
    pub fn derive(&self, purpose: &str) -> Result<[u8; 32], String> {
        derive(&self.master, purpose.as_bytes())
    }
}

fn derive(master: &[u8; 32], info: &[u8]) -> Result<[u8; 32], String> {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"pfid");
    let prk = salt.extract(master);
    let info = [info];
    let okm = prk
        .expand(&info, Len32)
        .map_err(|_| "hkdf failed".to_owned())?;
    let mut out = [0u8; 32];
    okm.fill(&mut out).map_err(|_| "hkdf failed".to_owned())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_binding() {
        let s = Sealer::new([7u8; 32]).unwrap();
        let sealed = s.seal(b"private", "kid-1").unwrap();
        assert_eq!(s.open(&sealed, "kid-1").unwrap(), b"private");
        assert!(s.open(&sealed, "kid-2").is_err());
        assert!(Sealer::new([8u8; 32])
            .unwrap()
            .open(&sealed, "kid-1")
            .is_err());
    }

    #[test]
    fn derived_secrets_differ_by_purpose() {
        let s = Sealer::new([7u8; 32]).unwrap();
        assert_ne!(s.derive("csrf").unwrap(), s.derive("codes").unwrap());
        assert_eq!(
            s.derive("csrf").unwrap(),
            Sealer::new([7u8; 32]).unwrap().derive("csrf").unwrap()
        );
    }

    #[test]
    fn keys_decode_from_base64() {
        let k = encode_key(&[1u8; 32]);
        assert_eq!(decode_key(&k).unwrap(), [1u8; 32]);
        assert!(decode_key("c2hvcnQ=").is_err());
        assert!(decode_key("not base64!").is_err());
    }
}
