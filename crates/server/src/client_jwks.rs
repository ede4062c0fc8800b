//! The public keys of clients that authenticate with `private_key_jwt`: registered inline
//! (`jwks`) or published at their `jwks_uri`, fetched with a timeout and a size limit and
//! kept in memory for a few minutes per node.
//!
//! A client that rotates its keys signs with a key pfid has not seen yet; the caller then
//! asks for one refetch, which is allowed at most every few seconds per client so that
//! forged assertions cannot make pfid hammer a client's server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use pfid_store::clients::Client;
use serde_json::Value;

/// How long fetched keys are used before they are fetched again.
pub const TTL: Duration = Duration::minutes(5);
/// The least time between two fetches of one client's keys.
pub const REFETCH_COOLDOWN: Duration = Duration::seconds(10);
/// The largest JWKS document accepted.
const MAX_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
struct Cached {
    uri: String,
    keys: Arc<Vec<Value>>,
    fetched_at: DateTime<Utc>,
}

/// The per-node cache of clients' published keys.
pub struct ClientJwks {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for ClientJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientJwks(..)")
    }
}

/// Parses a JWK Set document (RFC 7517 §5) into its keys.
pub fn parse_jwks(text: &[u8]) -> Result<Vec<Value>, String> {
    let doc: Value =
        serde_json::from_slice(text).map_err(|_| "the JWK Set is not JSON".to_owned())?;
    match doc.get("keys") {
        Some(Value::Array(keys)) => Ok(keys.iter().filter(|k| k.is_object()).cloned().collect()),
        _ => Err("the JWK Set has no keys array".into()),
    }
}

/// Whether pfid may fetch keys from `uri`: https, or http to this machine only (for
/// development). Keys fetched over plain http elsewhere could be swapped in transit.
pub fn fetchable(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    match url.scheme() {
        "https" => true,
        "http" => {
            matches!(
                url.host(),
                Some(url::Host::Ipv4(ip)) if ip.is_loopback()
            ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || url.host_str() == Some("localhost")
        }
        _ => false,
    }
}

impl ClientJwks {
    pub fn new() -> Result<ClientJwks, String> {
        let http = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(5))
            .connect_timeout(StdDuration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(ClientJwks {
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, client_id: &str) -> Option<Cached> {
        match self.cache.lock() {
            Ok(c) => c.get(client_id).cloned(),
            Err(p) => p.into_inner().get(client_id).cloned(),
        }
    }

    fn remember(&self, client_id: &str, entry: Cached) {
        match self.cache.lock() {
            Ok(mut c) => c.insert(client_id.to_owned(), entry),
            Err(p) => p.into_inner().insert(client_id.to_owned(), entry),
        };
    }

    /// The client's keys: its registered JWKS, or its `jwks_uri`'s, cached for `TTL`.
    pub async fn keys(
        &self,
        client: &Client,
        now: DateTime<Utc>,
    ) -> Result<Arc<Vec<Value>>, String> {
        if let Some(inline) = &client.jwks {
            return parse_jwks(inline.as_bytes()).map(Arc::new);
        }
        let Some(uri) = &client.jwks_uri else {
            return Err("the client registered no keys".into());
        };
        if let Some(c) = self.cached(&client.id) {
            if &c.uri == uri && now - c.fetched_at < TTL {
                return Ok(c.keys);
            }
        }
        self.fetch(client, uri, now).await
    }

    /// Fetches the client's published keys again when the cached copy is older than the
    /// cooldown (an assertion signed with a key pfid has not seen); None otherwise, and
    /// for clients whose keys are registered inline.
    pub async fn refetch(
        &self,
        client: &Client,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<Vec<Value>>>, String> {
        let Some(uri) = client
            .jwks
            .is_none()
            .then_some(client.jwks_uri.as_ref())
            .flatten()
        else {
            return Ok(None);
        };
        if let Some(c) = self.cached(&client.id) {
            if &c.uri == uri && now - c.fetched_at < REFETCH_COOLDOWN {
                return Ok(None);
            }
        }
        self.fetch(client, uri, now).await.map(Some)
    }

    async fn fetch(
        &self,
        client: &Client,
        uri: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<Vec<Value>>, String> {
        if !fetchable(uri) {
            return Err("the client's jwks_uri must be https".into());
        }
        let mut resp = self
            .http
            .get(uri)
            .header(
                reqwest::header::ACCEPT,
                "application/json, application/jwk-set+json",
            )
            .send()
            .await
            .map_err(|e| format!("cannot fetch the client's jwks_uri: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("the client's jwks_uri answered {}", resp.status()));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err("the client's JWK Set is too large".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("cannot read the client's jwks_uri: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BYTES {
                return Err("the client's JWK Set is too large".into());
            }
        }
        let keys = Arc::new(parse_jwks(&body)?);
        self.remember(
            &client.id,
            Cached {
                uri: uri.to_owned(),
                keys: keys.clone(),
                fetched_at: now,
            },
        );
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        assert!(fetchable("https://app.example/jwks"));
        assert!(fetchable("http://127.0.0.1:8080/jwks"));
        assert!(fetchable("http://localhost/jwks"));
        assert!(fetchable("http://[::1]:9/jwks"));
        assert!(!fetchable("http://app.example/jwks"));
        assert!(!fetchable("file:///etc/passwd"));
        assert!(!fetchable("not a url"));
    }

    #[test]
    fn a_jwks_needs_a_keys_array() {
        assert_eq!(
            parse_jwks(br#"{"keys":[{"kty":"EC"},1]}"#).unwrap().len(),
            1
        );
        assert!(parse_jwks(br#"{"kty":"EC"}"#).is_err());
        assert!(parse_jwks(b"nope").is_err());
    }
}
