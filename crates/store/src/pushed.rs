//! Pushed authorization requests (RFC 9126): the parameters an app sent ahead over the
//! back channel, found later by the random handle inside their `request_uri`. Only the
//! SHA-256 digest of the handle is stored.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::error::StoreResult;
use crate::rows::PushedRequestRow;
use crate::schema::pushed_requests;
use crate::{secret, time, Store};

/// A pushed request as the authorization endpoint sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    pub client_id: String,
    /// The authorization request's parameters, form-encoded.
    pub params: String,
    pub expires_at: DateTime<Utc>,
    /// When the browser first brought the request to the authorization endpoint.
    pub opened_at: DateTime<Utc>,
}

impl Store {
    /// Stores a request for `lifetime`; returns the random handle (256 bits) that the
    /// server wraps into a `request_uri`.
    pub async fn create_pushed_request(
        &self,
        client_id: &str,
        params: &str,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> StoreResult<String> {
        let handle = secret::new_token("")?;
        let db_now = time::to_db(now);
        let row = PushedRequestRow {
            handle_hash: secret::digest(&handle),
            client_id: client_id.to_owned(),
            params: params.to_owned(),
            created_at: db_now,
            expires_at: time::to_db(now + lifetime),
            opened_at: None,
            used_at: None,
        };
        self.write(move |conn| {
            // Requests of this client that can no longer be used go on the way.
            diesel::delete(pushed_requests::table)
                .filter(pushed_requests::client_id.eq(&row.client_id))
                .filter(pushed_requests::expires_at.lt(db_now))
                .execute(conn)?;
            diesel::insert_into(pushed_requests::table)
                .values(&row)
                .execute(conn)?;
            Ok(handle)
        })
        .await
    }

    /// The live request a handle names for `client_id`: unexpired, not yet answered, and
    /// pushed by that client (another client's handle finds nothing and changes nothing,
    /// RFC 9126 §4). The first time it
    /// is opened its life is extended to `sign_in_window`, the time the patient has to
    /// sign in and consent; the app's own window (`expires_in`) only limits how soon the
    /// browser must arrive.
    pub async fn open_pushed_request(
        &self,
        handle: &str,
        client_id: &str,
        now: DateTime<Utc>,
        sign_in_window: Duration,
    ) -> StoreResult<Option<PushedRequest>> {
        let hash = secret::digest(handle);
        let client_id = client_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let Some(mut row) = pushed_requests::table
                .find(&hash)
                .select(PushedRequestRow::as_select())
                .first(conn)
                .optional()?
            else {
                return Ok(None);
            };
            if row.client_id != client_id || row.used_at.is_some() || row.expires_at <= db_now {
                return Ok(None);
            }
            if row.opened_at.is_none() {
                let until = row.expires_at.max(time::to_db(now + sign_in_window));
                diesel::update(pushed_requests::table.find(&hash))
                    .set((
                        pushed_requests::opened_at.eq(db_now),
                        pushed_requests::expires_at.eq(until),
                    ))
                    .execute(conn)?;
                row.opened_at = Some(db_now);
                row.expires_at = until;
            }
            Ok(Some(PushedRequest {
                client_id: row.client_id,
                params: row.params,
                expires_at: time::from_db(row.expires_at),
                opened_at: time::from_db(row.opened_at.unwrap_or(db_now)),
            }))
        })
        .await
    }

    /// Marks a request answered, so its `request_uri` works no more (RFC 9126 §4: one
    /// use). Returns false when it was already answered or has expired.
    pub async fn consume_pushed_request(
        &self,
        handle: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let hash = secret::digest(handle);
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let n = diesel::update(pushed_requests::table.find(hash))
                .filter(pushed_requests::used_at.is_null())
                .filter(pushed_requests::expires_at.gt(db_now))
                .set(pushed_requests::used_at.eq(db_now))
                .execute(conn)?;
            Ok(n == 1)
        })
        .await
    }
}
