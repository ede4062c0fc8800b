//! JOSE: signing keys (ES256, RS256), JWKs, compact JWS signing and verification.
//!
//! Signing uses ring: ES256 in about 20 µs, RS256 in a few hundred. Verification accepts
//! the algorithms client assertions commonly use (RS/PS 256-512, ES256/384, EdDSA) and
//! never `none`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{json, Value};

/// An algorithm pfid signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    Es256,
    Rs256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::Es256, SigningAlg::Rs256];
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::Rs256 => "RS256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(SigningAlg::Es256),
            "RS256" => Some(SigningAlg::Rs256),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JoseError {
    #[error("key error: {0}")]
    Key(String),
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported algorithm {0}")]
    UnsupportedAlg(String),
    #[error("bad signature")]
    BadSignature,
    #[error("no matching key")]
    NoKey,
}

enum Signer {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A private signing key with its public JWK.
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub public_jwk: Value,
    signer: Signer,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.alg.as_str(), self.kid)
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let canonical = match jwk.get("kty")?.as_str()? {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.get("crv")?.as_str()?,
            jwk.get("x")?.as_str()?,
            jwk.get("y")?.as_str()?
        ),
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk.get("e")?.as_str()?,
            jwk.get("n")?.as_str()?
        ),
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            jwk.get("crv")?.as_str()?,
            jwk.get("x")?.as_str()?
        ),
        _ => return None,
    };
    Some(b64(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    )
    .as_ref()))
}

impl SigningKey {
    /// Generates a key; returns it with its PKCS#8 DER private key (to be sealed).
    pub fn generate(alg: SigningAlg) -> Result<(SigningKey, Vec<u8>), JoseError> {
        let pkcs8 = match alg {
            SigningAlg::Es256 => {
                let rng = SystemRandom::new();
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| JoseError::Key("EC key generation failed".into()))?
                    .as_ref()
                    .to_vec()
            }
            SigningAlg::Rs256 => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
                    .map_err(|e| JoseError::Key(e.to_string()))?;
                key.to_pkcs8_der()
                    .map_err(|e| JoseError::Key(e.to_string()))?
                    .as_bytes()
                    .to_vec()
            }
        };
        let key = SigningKey::from_pkcs8(alg, &pkcs8)?;
        Ok((key, pkcs8))
    }

    /// Loads a key from PKCS#8 DER; the kid is the JWK thumbprint.
    pub fn from_pkcs8(alg: SigningAlg, pkcs8: &[u8]) -> Result<SigningKey, JoseError> {
        let (signer, mut jwk) = match alg {
            SigningAlg::Es256 => {
                let rng = SystemRandom::new();
                let kp = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8,
                    &rng,
                )
                .map_err(|e| JoseError::Key(format!("EC key: {e}")))?;
                let point = kp.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(JoseError::Key("unexpected EC public key encoding".into()));
                }
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])});
                (Signer::Ec(kp), jwk)
            }
            SigningAlg::Rs256 => {
                let kp = RsaKeyPair::from_pkcs8(pkcs8)
                    .map_err(|e| JoseError::Key(format!("RSA key: {e}")))?;
                let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(kp.public());
                let jwk = json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)});
                (Signer::Rsa(kp), jwk)
            }
        };
        let kid =
            thumbprint(&jwk).ok_or_else(|| JoseError::Key("cannot compute thumbprint".into()))?;
        if let Value::Object(m) = &mut jwk {
            m.insert("kid".into(), Value::String(kid.clone()));
            m.insert("alg".into(), Value::String(alg.as_str().into()));
            m.insert("use".into(), Value::String("sig".into()));
        }
        Ok(SigningKey {
            kid,
            alg,
            public_jwk: jwk,
            signer,
        })
    }

    /// Signs `claims` as a compact JWS with header `{alg, typ, kid}`.
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, JoseError> {
        let header = json!({"alg": self.alg.as_str(), "typ": typ, "kid": self.kid});
        let mut input = b64(header.to_string().as_bytes());
        input.push('.');
        input.push_str(&b64(claims.to_string().as_bytes()));
        let rng = SystemRandom::new();
        let sig = match &self.signer {
            Signer::Ec(kp) => kp
                .sign(&rng, input.as_bytes())
                .map_err(|_| JoseError::Key("EC signing failed".into()))?
                .as_ref()
                .to_vec(),
            Signer::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public().modulus_len()];
                kp.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| JoseError::Key("RSA signing failed".into()))?;
                sig
            }
        };
        input.push('.');
        input.push_str(&b64(&sig));
        Ok(input)
    }
}

/// The left-most half of the SHA-256 of `value`, base64url: `at_hash` / `c_hash` for
/// ES256 and RS256 (OpenID Connect Core §3.1.3.6).
pub fn half_hash(value: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    b64(&d.as_ref()[..16])
}

/// A compact JWS split into its parts, not yet verified.
#[derive(Debug)]
pub struct UnverifiedJws {
    pub header: Value,
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl UnverifiedJws {
    pub fn parse(token: &str) -> Result<Self, JoseError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::Malformed("expected three dot-separated parts"));
        };
        let decode = |p: &str| {
            URL_SAFE_NO_PAD
                .decode(p)
                .map_err(|_| JoseError::Malformed("bad base64url"))
        };
        let header: Value = serde_json::from_slice(&decode(h)?)
            .map_err(|_| JoseError::Malformed("header is not JSON"))?;
        let claims: Value = serde_json::from_slice(&decode(c)?)
            .map_err(|_| JoseError::Malformed("payload is not JSON"))?;
        if !header.is_object() || !claims.is_object() {
            return Err(JoseError::Malformed(
                "header and payload must be JSON objects",
            ));
        }
        Ok(UnverifiedJws {
            header,
            claims,
            signing_input: format!("{h}.{c}"),
            signature: decode(s)?,
        })
    }

    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// Verifies the signature with the first key of `jwks` that fits the header's kid
    /// and alg. `none` and MAC algorithms are refused.
    pub fn verify(&self, jwks: &[Value]) -> Result<&Value, JoseError> {
        let alg = self.alg();
        let candidates = jwks.iter().filter(|k| {
            let kid_ok = match self.kid() {
                Some(kid) => k.get("kid").and_then(Value::as_str) == Some(kid),
                None => true,
            };
            let alg_ok = k
                .get("alg")
                .and_then(Value::as_str)
                .is_none_or(|a| a == alg);
            let use_ok = k
                .get("use")
                .and_then(Value::as_str)
                .is_none_or(|u| u == "sig");
            kid_ok && alg_ok && use_ok
        });
        let mut tried = false;
        for jwk in candidates {
            tried = true;
            if verify_with_jwk(jwk, alg, self.signing_input.as_bytes(), &self.signature).is_ok() {
                return Ok(&self.claims);
            }
        }
        Err(if tried {
            JoseError::BadSignature
        } else {
            JoseError::NoKey
        })
    }
}

fn jwk_bytes(jwk: &Value, member: &str) -> Result<Vec<u8>, JoseError> {
    let s = jwk
        .get(member)
        .and_then(Value::as_str)
        .ok_or(JoseError::Malformed("JWK member missing"))?;
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| JoseError::Malformed("JWK member is not base64url"))
}

/// Verifies one signature with one public JWK.
pub fn verify_with_jwk(
    jwk: &Value,
    alg: &str,
    message: &[u8],
    sig: &[u8],
) -> Result<(), JoseError> {
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
    match (alg, kty) {
        ("RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512", "RSA") => {
            let params: &signature::RsaParameters = match alg {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                _ => &signature::RSA_PSS_2048_8192_SHA512,
            };
            let key = signature::RsaPublicKeyComponents {
                n: jwk_bytes(jwk, "n")?,
                e: jwk_bytes(jwk, "e")?,
            };
            key.verify(params, message, sig)
                .map_err(|_| JoseError::BadSignature)
        }
        ("ES256" | "ES384", "EC") => {
            let (verify_alg, want_crv, len): (&signature::EcdsaVerificationAlgorithm, &str, usize) =
                if alg == "ES256" {
                    (&signature::ECDSA_P256_SHA256_FIXED, "P-256", 32)
                } else {
                    (&signature::ECDSA_P384_SHA384_FIXED, "P-384", 48)
                };
            if crv != want_crv {
                return Err(JoseError::UnsupportedAlg(format!("{alg} with curve {crv}")));
            }
            let (x, y) = (jwk_bytes(jwk, "x")?, jwk_bytes(jwk, "y")?);
            if x.len() != len || y.len() != len {
                return Err(JoseError::Malformed("EC coordinates have the wrong length"));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            signature::UnparsedPublicKey::new(verify_alg, point)
                .verify(message, sig)
                .map_err(|_| JoseError::BadSignature)
        }
        ("EdDSA", "OKP") if crv == "Ed25519" => {
            signature::UnparsedPublicKey::new(&signature::ED25519, jwk_bytes(jwk, "x")?)
                .verify(message, sig)
                .map_err(|_| JoseError::BadSignature)
        }
        (other, _) => Err(JoseError::UnsupportedAlg(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_sign_and_verify_round_trip() {
        let (key, pkcs8) = SigningKey::generate(SigningAlg::Es256).unwrap();
        let reloaded = SigningKey::from_pkcs8(SigningAlg::Es256, &pkcs8).unwrap();
        assert_eq!(key.kid, reloaded.kid);
        let jws = key.sign("JWT", &json!({"sub": "x"})).unwrap();
        let parsed = UnverifiedJws::parse(&jws).unwrap();
        assert_eq!(parsed.kid(), Some(key.kid.as_str()));
        assert_eq!(
            parsed
                .verify(std::slice::from_ref(&key.public_jwk))
                .unwrap()["sub"],
            "x"
        );
    }

    #[test]
    fn rs256_sign_and_verify_round_trip() {
        let (key, _) = SigningKey::generate(SigningAlg::Rs256).unwrap();
        let jws = key.sign("JWT", &json!({"sub": "y"})).unwrap();
        let parsed = UnverifiedJws::parse(&jws).unwrap();
        assert_eq!(parsed.alg(), "RS256");
        assert!(parsed.verify(std::slice::from_ref(&key.public_jwk)).is_ok());
    }

    #[test]
    fn tampered_and_unsigned_tokens_fail() {
        let (key, _) = SigningKey::generate(SigningAlg::Es256).unwrap();
        let jws = key.sign("JWT", &json!({"sub": "x"})).unwrap();
        let mut parts: Vec<&str> = jws.split('.').collect();
        let forged = b64(br#"{"sub":"admin"}"#);
        parts[1] = &forged;
        let tampered = parts.join(".");
        assert!(UnverifiedJws::parse(&tampered)
            .unwrap()
            .verify(std::slice::from_ref(&key.public_jwk))
            .is_err());
        let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(br#"{"sub":"x"}"#));
        assert!(UnverifiedJws::parse(&none)
            .unwrap()
            .verify(std::slice::from_ref(&key.public_jwk))
            .is_err());
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn half_hash_matches_oidc_example() {
        // OpenID Connect Core, Appendix A.3: at_hash of "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        assert_eq!(
            half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
