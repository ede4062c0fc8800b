//! The signing keys every node shares: created on first start, kept in the database with
//! their private parts sealed, cached here and refreshed so a rotation done by another
//! process (`pfid keys rotate`) reaches every node within seconds.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use pfid_store::keys::StoredKey;
use pfid_store::{Store, StoreError};
use serde_json::{json, Value};

use crate::crypto::jose::{SigningAlg, SigningKey};
use crate::crypto::seal::Sealer;

/// What the cache holds at one moment.
#[derive(Debug, Default)]
pub struct KeySet {
    signing: HashMap<SigningAlg, Arc<SigningKey>>,
    /// Public keys still published (signing ones and retired ones whose tokens may live).
    pub public: Vec<Value>,
    /// The JWKS document, serialised once per refresh.
    pub jwks_body: String,
    fingerprint: Vec<String>,
}

impl KeySet {
    pub fn signer(&self, alg: SigningAlg) -> Option<Arc<SigningKey>> {
        self.signing.get(&alg).cloned()
    }
}

/// The shared, refreshable key cache.
#[derive(Debug)]
pub struct KeyRing {
    current: RwLock<Arc<KeySet>>,
    sealer: Arc<Sealer>,
}

fn new_stored_key(
    sealer: &Sealer,
    alg: SigningAlg,
    now: DateTime<Utc>,
) -> Result<StoredKey, StoreError> {
    let (key, pkcs8) = SigningKey::generate(alg).map_err(|e| StoreError::Crypto(e.to_string()))?;
    Ok(StoredKey {
        private_key_sealed: sealer.seal(&pkcs8, &key.kid).map_err(StoreError::Crypto)?,
        kid: key.kid,
        alg: alg.as_str().to_owned(),
        public_jwk: key.public_jwk.to_string(),
        created_at: now,
        retired_at: None,
        unpublish_at: None,
    })
}

impl KeyRing {
    /// Makes sure a signing key exists for every algorithm, then loads the cache.
    pub async fn open(
        store: &Store,
        sealer: Arc<Sealer>,
        now: DateTime<Utc>,
    ) -> Result<KeyRing, StoreError> {
        let maker = sealer.clone();
        let algs: &'static [&'static str] = &["ES256", "RS256"];
        store
            .ensure_signing_keys(algs, move |alg| {
                let alg =
                    SigningAlg::parse(alg).ok_or_else(|| StoreError::Invalid(alg.to_owned()))?;
                new_stored_key(&maker, alg, now)
            })
            .await?;
        let ring = KeyRing {
            current: RwLock::new(Arc::new(KeySet::default())),
            sealer,
        };
        ring.refresh(store, now).await?;
        Ok(ring)
    }

    /// The current key set (cheap: an `Arc` clone).
    pub fn current(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Reloads from the database when the published set changed.
    pub async fn refresh(&self, store: &Store, now: DateTime<Utc>) -> Result<(), StoreError> {
        let stored = store.published_keys(now).await?;
        let fingerprint: Vec<String> = stored
            .iter()
            .map(|k| {
                format!(
                    "{}:{}",
                    k.kid,
                    k.retired_at.map(|t| t.timestamp()).unwrap_or(0)
                )
            })
            .collect();
        if self.current().fingerprint == fingerprint {
            return Ok(());
        }
        let mut set = KeySet {
            fingerprint,
            ..KeySet::default()
        };
        // Newest first, so that if two signing keys of one algorithm exist (two nodes
        // raced a first start on SQLite files copied around), every node picks the same.
        for k in stored.iter().rev() {
            let public: Value = serde_json::from_str(&k.public_jwk)
                .map_err(|e| StoreError::Crypto(format!("stored JWK {}: {e}", k.kid)))?;
            set.public.push(public);
            if k.is_signing() {
                let Some(alg) = SigningAlg::parse(&k.alg) else {
                    continue;
                };
                if set.signing.contains_key(&alg) {
                    continue;
                }
                let pkcs8 = self
                    .sealer
                    .open(&k.private_key_sealed, &k.kid)
                    .map_err(StoreError::Crypto)?;
                let key = SigningKey::from_pkcs8(alg, &pkcs8)
                    .map_err(|e| StoreError::Crypto(e.to_string()))?;
                set.signing.insert(alg, Arc::new(key));
            }
        }
        set.jwks_body = json!({ "keys": set.public }).to_string();
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(set),
            Err(p) => *p.into_inner() = Arc::new(set),
        }
        Ok(())
    }

    /// Rotation: new keys for every algorithm sign from now on; the old ones stay in the
    /// JWKS for `keep_published` (the longest lifetime of anything they signed).
    pub async fn rotate(
        store: &Store,
        sealer: &Sealer,
        now: DateTime<Utc>,
        keep_published: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let mut fresh = Vec::new();
        for alg in SigningAlg::ALL {
            fresh.push(new_stored_key(sealer, alg, now)?);
        }
        store
            .rotate_signing_keys(fresh, now, now + keep_published)
            .await
    }
}
