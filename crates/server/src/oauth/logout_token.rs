//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4).

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::crypto::jose::{JoseError, SigningKey};

/// The event that makes a JWT a logout token (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid. The outbound queue retries a post that failed, so
/// this is longer than the two minutes the spec gives as an example (§2.4): long enough
/// for several retries, short enough that a token captured later is worthless.
pub const LIFETIME: Duration = Duration::minutes(10);

/// What goes into one logout token.
#[derive(Debug, Clone)]
pub struct LogoutTokenClaims<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub subject: &'a str,
    pub session_id: &'a str,
    pub issued_at: DateTime<Utc>,
    pub jti: &'a str,
}

impl LogoutTokenClaims<'_> {
    /// The claims: `iss, aud, iat, exp, jti, sub, sid, events`, and never a `nonce`
    /// (§2.4, so that a logout token cannot pass for an ID token).
    pub fn to_json(&self) -> Value {
        json!({
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": self.issued_at.timestamp(),
            "exp": (self.issued_at + LIFETIME).timestamp(),
            "jti": self.jti,
            "sub": self.subject,
            "sid": self.session_id,
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        })
    }

    /// Signs with `typ: logout+jwt` (§2.4, explicit typing as RFC 8725 §3.11 advises).
    pub fn sign(&self, key: &SigningKey) -> Result<String, JoseError> {
        key.sign("logout+jwt", &self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logout_token_has_the_required_claims_and_no_nonce() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let c = LogoutTokenClaims {
            issuer: "https://id.example",
            client_id: "c1",
            subject: "u1",
            session_id: "s1",
            issued_at: t,
            jti: "j1",
        }
        .to_json();
        for claim in ["iss", "aud", "iat", "exp", "jti", "sub", "sid", "events"] {
            assert!(c.get(claim).is_some(), "{claim}");
        }
        assert!(c.get("nonce").is_none());
        assert_eq!(c["events"][BACKCHANNEL_LOGOUT_EVENT], json!({}));
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    }
}
