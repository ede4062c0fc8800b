//! ID tokens (OpenID Connect Core §2, §3.1.3.6).

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::crypto::jose::{half_hash, JoseError, SigningKey};

/// What goes into one ID token.
#[derive(Debug, Clone)]
pub struct IdTokenClaims<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub auth_time: DateTime<Utc>,
    pub nonce: Option<&'a str>,
    pub access_token: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub amr: &'a [String],
}

impl IdTokenClaims<'_> {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("iss".into(), json!(self.issuer));
        m.insert("sub".into(), json!(self.subject));
        m.insert("aud".into(), json!(self.client_id));
        m.insert("azp".into(), json!(self.client_id));
        m.insert("exp".into(), json!(self.expires_at.timestamp()));
        m.insert("iat".into(), json!(self.issued_at.timestamp()));
        m.insert("auth_time".into(), json!(self.auth_time.timestamp()));
        if let Some(n) = self.nonce {
            m.insert("nonce".into(), json!(n));
        }
        if let Some(at) = self.access_token {
            m.insert("at_hash".into(), json!(half_hash(at)));
        }
        if let Some(sid) = self.session_id {
            m.insert("sid".into(), json!(sid));
        }
        if !self.amr.is_empty() {
            m.insert("amr".into(), json!(self.amr));
        }
        Value::Object(m)
    }

    pub fn sign(&self, key: &SigningKey) -> Result<String, JoseError> {
        key.sign("JWT", &self.to_json())
    }
}
