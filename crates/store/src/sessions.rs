//! Server-side login sessions, shared by every node through the database.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::error::StoreResult;
use crate::rows::SessionRow;
use crate::schema::sessions;
use crate::{secret, time, Store};

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Public id, used as the ID token's `sid`; not the cookie.
    pub id: String,
    pub account_id: String,
    pub auth_time: DateTime<Utc>,
    /// Authentication methods (RFC 8176 values), e.g. `["pwd"]`.
    pub amr: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: r.id,
            account_id: r.account_id,
            auth_time: time::from_db(r.auth_time),
            amr: r.amr.split_whitespace().map(str::to_owned).collect(),
            created_at: time::from_db(r.created_at),
            last_seen_at: time::from_db(r.last_seen_at),
            expires_at: time::from_db(r.expires_at),
        }
    }
}

/// Where the browser came from, kept for the account page and audits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Store {
    /// Starts a session; returns it with the cookie value (only its digest is stored).
    pub async fn create_session(
        &self,
        account_id: &str,
        amr: &[&str],
        info: ClientInfo,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> StoreResult<(Session, String)> {
        let cookie = secret::new_token("")?;
        let db_now = time::to_db(now);
        let row = SessionRow {
            id: secret::new_id()?,
            token_hash: secret::digest(&cookie),
            account_id: account_id.to_owned(),
            auth_time: db_now,
            amr: amr.join(" "),
            created_at: db_now,
            last_seen_at: db_now,
            expires_at: time::to_db(now + lifetime),
            ended_at: None,
            ip: info.ip.map(|s| s.chars().take(64).collect()),
            user_agent: info.user_agent.map(|s| s.chars().take(256).collect()),
        };
        self.write(move |conn| {
            diesel::insert_into(sessions::table)
                .values(&row)
                .execute(conn)?;
            Ok((Session::from(row), cookie))
        })
        .await
    }

    /// The live session a cookie names: not ended, not past its absolute expiry, and
    /// seen within `idle` (when given).
    pub async fn session_by_cookie(
        &self,
        cookie: &str,
        now: DateTime<Utc>,
        idle: Option<Duration>,
    ) -> StoreResult<Option<Session>> {
        let hash = secret::digest(cookie);
        let db_now = time::to_db(now);
        let seen_after = idle.map(|i| time::to_db(now - i));
        self.read(move |conn| {
            let row = sessions::table
                .filter(sessions::token_hash.eq(hash))
                .filter(sessions::ended_at.is_null())
                .filter(sessions::expires_at.gt(db_now))
                .select(SessionRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row
                .filter(|r| seen_after.is_none_or(|after| r.last_seen_at > after))
                .map(Session::from))
        })
        .await
    }

    /// Marks a session as seen now (for the idle timeout).
    pub async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let id = id.to_owned();
        let now = time::to_db(now);
        self.write(move |conn| {
            diesel::update(sessions::table.find(id))
                .set(sessions::last_seen_at.eq(now))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Ends one session (logout).
    pub async fn end_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let id = id.to_owned();
        let now = time::to_db(now);
        self.write(move |conn| {
            let n = diesel::update(sessions::table.find(id))
                .filter(sessions::ended_at.is_null())
                .set(sessions::ended_at.eq(now))
                .execute(conn)?;
            Ok(n > 0)
        })
        .await
    }

    /// A session by its public id, live or not (for logout hints).
    pub async fn session(&self, id: &str) -> StoreResult<Option<Session>> {
        let id = id.to_owned();
        self.read(move |conn| {
            Ok(sessions::table
                .find(id)
                .select(SessionRow::as_select())
                .first(conn)
                .optional()?
                .map(Session::from))
        })
        .await
    }
}

/// Ends every live session of an account inside a caller's transaction.
pub(crate) fn end_all_in(
    conn: &mut crate::db::DbConn,
    account_id: &str,
    now: chrono::NaiveDateTime,
) -> StoreResult<usize> {
    Ok(diesel::update(sessions::table)
        .filter(sessions::account_id.eq(account_id))
        .filter(sessions::ended_at.is_null())
        .set(sessions::ended_at.eq(now))
        .execute(conn)?)
}
