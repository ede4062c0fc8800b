//! Token-signing keys, shared by every node. The store keeps what it is given: the
//! server generates keys and seals the private parts before they reach the database.

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::error::StoreResult;
use crate::rows::SigningKeyRow;
use crate::schema::signing_keys;
use crate::{time, Store};

/// A signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    /// AES-256-GCM sealed private key (base64url of nonce and ciphertext).
    pub private_key_sealed: String,
    pub created_at: DateTime<Utc>,
    /// From this time on the key no longer signs.
    pub retired_at: Option<DateTime<Utc>>,
    /// From this time on the key leaves the JWKS: every token it signed has expired.
    pub unpublish_at: Option<DateTime<Utc>>,
}

impl StoredKey {
    pub fn is_signing(&self) -> bool {
        self.retired_at.is_none()
    }
}

impl From<SigningKeyRow> for StoredKey {
    fn from(r: SigningKeyRow) -> Self {
        StoredKey {
            kid: r.kid,
            alg: r.alg,
            public_jwk: r.public_jwk,
            private_key_sealed: r.private_key_sealed,
            created_at: time::from_db(r.created_at),
            retired_at: r.retired_at.map(time::from_db),
            unpublish_at: r.unpublish_at.map(time::from_db),
        }
    }
}

fn to_row(k: &StoredKey) -> SigningKeyRow {
    SigningKeyRow {
        kid: k.kid.clone(),
        alg: k.alg.clone(),
        public_jwk: k.public_jwk.clone(),
        private_key_sealed: k.private_key_sealed.clone(),
        created_at: time::to_db(k.created_at),
        retired_at: k.retired_at.map(time::to_db),
        unpublish_at: k.unpublish_at.map(time::to_db),
    }
}

/// Keeps two nodes that start at once from both creating a first key set.
fn lock_keys(conn: &mut DbConn) -> StoreResult<()> {
    if let DbConn::Postgres(c) = conn {
        c.batch_execute("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")?;
    }
    Ok(())
}

fn signing_algs(conn: &mut DbConn) -> StoreResult<Vec<String>> {
    Ok(signing_keys::table
        .filter(signing_keys::retired_at.is_null())
        .select(signing_keys::alg)
        .load(conn)?)
}

impl Store {
    /// Every key still published at `now` (signing or retired but not yet expired).
    pub async fn published_keys(&self, now: DateTime<Utc>) -> StoreResult<Vec<StoredKey>> {
        let now = time::to_db(now);
        self.read(move |conn| {
            Ok(signing_keys::table
                .filter(
                    signing_keys::unpublish_at
                        .is_null()
                        .or(signing_keys::unpublish_at.gt(now)),
                )
                .order(signing_keys::created_at.asc())
                .select(SigningKeyRow::as_select())
                .load(conn)?
                .into_iter()
                .map(StoredKey::from)
                .collect())
        })
        .await
    }

    /// For each algorithm in `algs` without a signing key, inserts the key `make`
    /// produces. Runs under a lock so concurrent first starts create one set. Returns
    /// the kids inserted.
    pub async fn ensure_signing_keys<F>(
        &self,
        algs: &'static [&'static str],
        make: F,
    ) -> StoreResult<Vec<String>>
    where
        F: Fn(&str) -> StoreResult<StoredKey> + Send + 'static,
    {
        self.write(move |conn| {
            lock_keys(conn)?;
            let present = signing_algs(conn)?;
            let mut inserted = Vec::new();
            for alg in algs {
                if !present.iter().any(|p| p == alg) {
                    let key = make(alg)?;
                    diesel::insert_into(signing_keys::table)
                        .values(to_row(&key))
                        .execute(conn)?;
                    inserted.push(key.kid);
                }
            }
            Ok(inserted)
        })
        .await
    }

    /// Rotation: retires every signing key at `now`, to leave the JWKS at
    /// `unpublish_at`, and inserts the new keys, which sign from now on.
    pub async fn rotate_signing_keys(
        &self,
        new_keys: Vec<StoredKey>,
        now: DateTime<Utc>,
        unpublish_at: DateTime<Utc>,
    ) -> StoreResult<Vec<String>> {
        let db_now = time::to_db(now);
        let unpublish = time::to_db(unpublish_at);
        self.write(move |conn| {
            lock_keys(conn)?;
            diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
                .set((
                    signing_keys::retired_at.eq(db_now),
                    signing_keys::unpublish_at.eq(unpublish),
                ))
                .execute(conn)?;
            for key in &new_keys {
                diesel::insert_into(signing_keys::table)
                    .values(to_row(key))
                    .execute(conn)?;
            }
            Ok(new_keys.into_iter().map(|k| k.kid).collect())
        })
        .await
    }
}
