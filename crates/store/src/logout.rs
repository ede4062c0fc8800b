//! Logout of a browser session: which apps took part in it, and ending it together with
//! the tokens that lived only for it and the back-channel notices to those apps, in one
//! transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::clients::Client;
use crate::error::StoreResult;
use crate::outbox::{enqueue_in, NewMessage};
use crate::rows::ClientRow;
use crate::schema::{access_tokens, authorization_codes, clients, sessions, token_families};
use crate::{time, Store};

impl Store {
    /// The apps that received a code or tokens through this session, by name.
    pub async fn clients_of_session(&self, session_id: &str) -> StoreResult<Vec<Client>> {
        let session_id = session_id.to_owned();
        self.read(move |conn| {
            let mut ids: Vec<String> = authorization_codes::table
                .filter(authorization_codes::session_id.eq(&session_id))
                .select(authorization_codes::client_id)
                .distinct()
                .load(conn)?;
            ids.extend(
                token_families::table
                    .filter(token_families::session_id.eq(&session_id))
                    .select(token_families::client_id)
                    .distinct()
                    .load::<String>(conn)?,
            );
            ids.extend(
                access_tokens::table
                    .filter(access_tokens::session_id.eq(&session_id))
                    .select(access_tokens::client_id)
                    .distinct()
                    .load::<String>(conn)?,
            );
            ids.sort();
            ids.dedup();
            let rows: Vec<ClientRow> = clients::table
                .filter(clients::id.eq_any(&ids))
                .order(clients::name.asc())
                .select(ClientRow::as_select())
                .load(conn)?;
            rows.into_iter().map(Client::try_from).collect()
        })
        .await
    }

    /// Ends a session. In the same transaction, the access tokens issued through it that
    /// belong to no refresh-token family are revoked (a family exists only where the
    /// patient allowed offline access, which is meant to outlive the session), and
    /// `notices` (back-channel logout posts) are queued. Returns false, doing nothing,
    /// when the session had already ended.
    pub async fn end_session_with_notices(
        &self,
        session_id: &str,
        notices: Vec<NewMessage>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let session_id = session_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let n = diesel::update(sessions::table.find(&session_id))
                .filter(sessions::ended_at.is_null())
                .set(sessions::ended_at.eq(db_now))
                .execute(conn)?;
            if n == 0 {
                return Ok(false);
            }
            diesel::update(access_tokens::table)
                .filter(access_tokens::session_id.eq(&session_id))
                .filter(access_tokens::family_id.is_null())
                .filter(access_tokens::revoked_at.is_null())
                .set(access_tokens::revoked_at.eq(db_now))
                .execute(conn)?;
            for notice in &notices {
                enqueue_in(conn, notice, now)?;
            }
            Ok(true)
        })
        .await
    }
}
