//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, RFC 7521 §4.2,
//! OpenID Connect Core §9): the claims of a client assertion, checked after its signature.
//!
//! The checks here need no I/O; fetching the client's keys and remembering each `jti`
//! across nodes happen in `http::client_authn`.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// The only `client_assertion_type` pfid accepts (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Signature algorithms accepted on client assertions: asymmetric only. `none` and the
/// HMAC family are never accepted (a client secret is not a key pfid would hold).
pub const SIGNING_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// The longest an assertion may live: it proves possession of a key for one request.
pub const MAX_LIFETIME: Duration = Duration::minutes(5);

/// Clock difference tolerated between the client and pfid.
pub const CLOCK_SKEW: Duration = Duration::seconds(30);

/// Longest `jti` accepted.
const MAX_JTI: usize = 256;

/// What a valid assertion leaves to remember: its `jti` until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedAssertion {
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

fn time_claim(claims: &Value, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .map(Some)
            .ok_or_else(|| format!("{name} must be a NumericDate")),
    }
}

/// Whether an algorithm may sign a client assertion.
pub fn accepts_alg(alg: &str) -> bool {
    SIGNING_ALGS.contains(&alg)
}

/// Checks the claims of an assertion whose signature verified with one of `client_id`'s
/// keys. `audiences` are the values that name pfid: its issuer, its token endpoint, and
/// the endpoint called (RFC 9126 §2 asks the PAR endpoint to accept all three).
pub fn check_claims(
    claims: &Value,
    client_id: &str,
    audiences: &[String],
    now: DateTime<Utc>,
) -> Result<CheckedAssertion, String> {
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    // RFC 7523 §3 items 1-2 and OpenID Connect Core §9: iss and sub are the client_id.
    if str_claim("iss") != Some(client_id) {
        return Err("the assertion's iss must be the client_id".into());
    }
    if str_claim("sub") != Some(client_id) {
        return Err("the assertion's sub must be the client_id".into());
    }
    // Item 3: aud names this server.
    let names_us = |v: &Value| v.as_str().is_some_and(|a| audiences.iter().any(|x| x == a));
    let aud_ok = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(names_us),
        Some(v) => names_us(v),
        None => false,
    };
    if !aud_ok {
        return Err("the assertion's aud must be the token endpoint or the issuer".into());
    }
    // Item 4: exp is required, and it must not be past.
    let Some(exp) = time_claim(claims, "exp")? else {
        return Err("the assertion needs an exp".into());
    };
    if exp + CLOCK_SKEW <= now {
        return Err("the assertion has expired".into());
    }
    // A short life: an assertion is made for one request, not kept.
    let iat = time_claim(claims, "iat")?;
    let born = iat.unwrap_or(now);
    if exp - born > MAX_LIFETIME + CLOCK_SKEW || exp - now > MAX_LIFETIME + CLOCK_SKEW {
        return Err("the assertion lives too long (at most 5 minutes)".into());
    }
    if iat.is_some_and(|t| t > now + CLOCK_SKEW) {
        return Err("the assertion's iat is in the future".into());
    }
    // Item 5: not before.
    if time_claim(claims, "nbf")?.is_some_and(|t| t > now + CLOCK_SKEW) {
        return Err("the assertion is not valid yet (nbf)".into());
    }
    // Item 7: a jti, so that a replay can be refused.
    let jti = match str_claim("jti") {
        Some(j) if !j.is_empty() && j.len() <= MAX_JTI => j.to_owned(),
        Some(_) => return Err("the assertion's jti must have 1 to 256 characters".into()),
        None => return Err("the assertion needs a jti".into()),
    };
    Ok(CheckedAssertion {
        jti,
        expires_at: exp + CLOCK_SKEW,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn aud() -> Vec<String> {
        vec![
            "https://id.example".into(),
            "https://id.example/token".into(),
        ]
    }

    fn good() -> Value {
        let t = now().timestamp();
        json!({"iss": "c1", "sub": "c1", "aud": "https://id.example/token",
               "iat": t, "exp": t + 60, "jti": "j1"})
    }

    fn with(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
        let mut v = good();
        if let Value::Object(m) = &mut v {
            change(m);
        }
        v
    }

    #[test]
    fn a_good_assertion_passes() {
        let c = check_claims(&good(), "c1", &aud(), now()).unwrap();
        assert_eq!(c.jti, "j1");
        assert_eq!(c.expires_at, now() + Duration::seconds(60) + CLOCK_SKEW);
        let issuer_aud = with(|m| {
            m.insert("aud".into(), json!(["x", "https://id.example"]));
        });
        assert!(check_claims(&issuer_aud, "c1", &aud(), now()).is_ok());
    }

    #[test]
    fn each_broken_claim_is_refused() {
        let t = now().timestamp();
        let cases: Vec<(&str, Value)> = vec![
            (
                "iss",
                with(|m| {
                    m.insert("iss".into(), json!("c2"));
                }),
            ),
            (
                "sub",
                with(|m| {
                    m.insert("sub".into(), json!("c2"));
                }),
            ),
            (
                "no aud",
                with(|m| {
                    m.remove("aud");
                }),
            ),
            (
                "wrong aud",
                with(|m| {
                    m.insert("aud".into(), json!("https://other.example/token"));
                }),
            ),
            (
                "no exp",
                with(|m| {
                    m.remove("exp");
                }),
            ),
            (
                "expired",
                with(|m| {
                    m.insert("exp".into(), json!(t - 31));
                    m.insert("iat".into(), json!(t - 90));
                }),
            ),
            (
                "long-lived",
                with(|m| {
                    m.insert("exp".into(), json!(t + 3600));
                }),
            ),
            (
                "long-lived without iat",
                with(|m| {
                    m.remove("iat");
                    m.insert("exp".into(), json!(t + 600));
                }),
            ),
            (
                "future iat",
                with(|m| {
                    m.insert("iat".into(), json!(t + 120));
                    m.insert("exp".into(), json!(t + 180));
                }),
            ),
            (
                "nbf",
                with(|m| {
                    m.insert("nbf".into(), json!(t + 120));
                }),
            ),
            (
                "no jti",
                with(|m| {
                    m.remove("jti");
                }),
            ),
            (
                "empty jti",
                with(|m| {
                    m.insert("jti".into(), json!(""));
                }),
            ),
        ];
        for (name, claims) in cases {
            assert!(
                check_claims(&claims, "c1", &aud(), now()).is_err(),
                "{name} should be refused"
            );
        }
    }

    #[test]
    fn a_little_clock_skew_is_tolerated() {
        let t = now().timestamp();
        let late = with(|m| {
            m.insert("exp".into(), json!(t - 10));
            m.insert("iat".into(), json!(t - 70));
        });
        assert!(check_claims(&late, "c1", &aud(), now()).is_ok());
    }

    #[test]
    fn ps256_assertions_verify_with_the_clients_rsa_key() {
        use crate::crypto::jose::{SigningAlg, SigningKey, UnverifiedJws};
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        use ring::signature::{RsaKeyPair, RSA_PSS_SHA256};

        let (key, pkcs8) = SigningKey::generate(SigningAlg::Rs256).unwrap();
        let pair = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"PS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(good().to_string());
        let input = format!("{header}.{claims}");
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(
            &RSA_PSS_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        let jws =
            UnverifiedJws::parse(&format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig))).unwrap();
        assert!(accepts_alg(jws.alg()));
        // The client's JWK names no algorithm, as registered JWKs often do not.
        let mut jwk = key.public_jwk.clone();
        jwk.as_object_mut().unwrap().remove("alg");
        let verified = jws.verify(std::slice::from_ref(&jwk)).unwrap();
        assert!(check_claims(verified, "c1", &aud(), now()).is_ok());
    }

    #[test]
    fn none_and_hmac_are_never_accepted() {
        for alg in ["none", "HS256", "HS384", "HS512", ""] {
            assert!(!accepts_alg(alg), "{alg}");
        }
        for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
            assert!(accepts_alg(alg), "{alg}");
        }
    }
}
