//! Client assertions already accepted (RFC 7523 §3 item 7: a `jti` is used once). Kept
//! in the database so that every node refuses a replay, until the assertion expires.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::error::{StoreError, StoreResult};
use crate::rows::ClientAssertionRow;
use crate::schema::client_assertions;
use crate::{secret, time, Store};

impl Store {
    /// Records that `client_id` used an assertion with this `jti`, valid until
    /// `expires_at`. Returns false when the same client already used that jti: a replay.
    /// Expired entries of the client are dropped on the way, so the table holds only
    /// assertions that could still be replayed.
    pub async fn record_client_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let row = ClientAssertionRow {
            client_id: client_id.to_owned(),
            jti_hash: secret::digest(jti),
            expires_at: time::to_db(expires_at),
            created_at: time::to_db(now),
        };
        let db_now = time::to_db(now);
        let result = self
            .write(move |conn| {
                diesel::delete(client_assertions::table)
                    .filter(client_assertions::client_id.eq(&row.client_id))
                    .filter(client_assertions::expires_at.lt(db_now))
                    .execute(conn)?;
                // A live row with this key is a replay; an insert racing another node's
                // is refused by the primary key, which the caller sees as a conflict.
                let seen: i64 = client_assertions::table
                    .filter(client_assertions::client_id.eq(&row.client_id))
                    .filter(client_assertions::jti_hash.eq(&row.jti_hash))
                    .count()
                    .get_result(conn)?;
                if seen > 0 {
                    return Ok(false);
                }
                diesel::insert_into(client_assertions::table)
                    .values(&row)
                    .execute(conn)?;
                Ok(true)
            })
            .await;
        match result {
            Err(StoreError::Conflict(_)) => Ok(false),
            other => other,
        }
    }
}
