//! Deleting what has expired: codes, tokens, sessions, one-time links, pushed requests,
//! replay markers, old rate-limit windows and delivered messages.
//!
//! Nothing here decides whether a credential is valid (every check compares its own
//! expiry): this only keeps tables from growing without bound, and keeps delivered
//! messages (which carry patients' names and links) from lingering.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::schema::{
    access_tokens, authorization_codes, client_assertions, developer_links, developer_sessions,
    one_time_codes, outbound_messages, pushed_requests, rate_limits, refresh_tokens, sessions,
    token_families,
};
use crate::{time, Store, StoreResult};

/// How long past their expiry rows are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Expired codes and tokens stay this long, so that a replay shortly after expiry
    /// still finds its row (and its grant is still revoked on code reuse).
    pub expired: Duration,
    /// Rate-limit windows older than this are dropped: longer than any window in use.
    pub rate_windows: Duration,
    /// Delivered (or finally failed) messages are deleted after this.
    pub delivered_messages: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            expired: Duration::days(1),
            rate_windows: Duration::days(2),
            delivered_messages: Duration::days(7),
        }
    }
}

/// How many rows each kind lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    pub authorization_codes: usize,
    pub tokens: usize,
    pub sessions: usize,
    pub one_time_codes: usize,
    pub pushed_requests: usize,
    pub client_assertions: usize,
    pub rate_limits: usize,
    pub messages: usize,
    pub developer_rows: usize,
}

impl Purged {
    pub fn total(&self) -> usize {
        self.authorization_codes
            + self.tokens
            + self.sessions
            + self.one_time_codes
            + self.pushed_requests
            + self.client_assertions
            + self.rate_limits
            + self.messages
            + self.developer_rows
    }
}

impl Store {
    /// Deletes every row past its retention. Each table is its own short transaction,
    /// so the SQLite writer is never held for long; safe to run on every node at once.
    pub async fn purge_expired(&self, now: DateTime<Utc>, keep: Retention) -> StoreResult<Purged> {
        let cutoff = time::to_db(now - keep.expired);
        let rate_cutoff = time::to_db(now - keep.rate_windows);
        let message_cutoff = time::to_db(now - keep.delivered_messages);
        let authorization_codes = self
            .write(move |conn| {
                Ok(diesel::delete(
                    authorization_codes::table.filter(authorization_codes::expires_at.lt(cutoff)),
                )
                .execute(conn)?)
            })
            .await?;
        let tokens = self
            .write(move |conn| {
                let access = diesel::delete(
                    access_tokens::table.filter(access_tokens::expires_at.lt(cutoff)),
                )
                .execute(conn)?;
                let refresh = diesel::delete(
                    refresh_tokens::table.filter(refresh_tokens::expires_at.lt(cutoff)),
                )
                .execute(conn)?;
                // A family outlives its tokens only until its absolute expiry; its
                // remaining rows go with it.
                let families = diesel::delete(
                    token_families::table.filter(token_families::expires_at.lt(cutoff)),
                )
                .execute(conn)?;
                Ok(access + refresh + families)
            })
            .await?;
        let sessions = self
            .write(move |conn| {
                Ok(diesel::delete(
                    sessions::table.filter(
                        sessions::expires_at
                            .lt(cutoff)
                            .or(sessions::ended_at.lt(cutoff)),
                    ),
                )
                .execute(conn)?)
            })
            .await?;
        let one_time_codes = self
            .write(move |conn| {
                Ok(diesel::delete(
                    one_time_codes::table.filter(one_time_codes::expires_at.lt(cutoff)),
                )
                .execute(conn)?)
            })
            .await?;
        let pushed_requests = self
            .write(move |conn| {
                Ok(diesel::delete(
                    pushed_requests::table.filter(pushed_requests::expires_at.lt(cutoff)),
                )
                .execute(conn)?)
            })
            .await?;
        let client_assertions = self
            .write(move |conn| {
                Ok(diesel::delete(
                    client_assertions::table.filter(client_assertions::expires_at.lt(cutoff)),
                )
                .execute(conn)?)
            })
            .await?;
        let rate_limits = self
            .write(move |conn| {
                Ok(diesel::delete(
                    rate_limits::table.filter(rate_limits::window_start.lt(rate_cutoff)),
                )
                .execute(conn)?)
            })
            .await?;
        let messages = self
            .write(move |conn| {
                Ok(diesel::delete(
                    outbound_messages::table
                        .filter(outbound_messages::status.ne("pending"))
                        .filter(outbound_messages::created_at.lt(message_cutoff)),
                )
                .execute(conn)?)
            })
            .await?;
        let developer_rows = self
            .write(move |conn| {
                let sessions = diesel::delete(
                    developer_sessions::table.filter(
                        developer_sessions::expires_at
                            .lt(cutoff)
                            .or(developer_sessions::ended_at.lt(cutoff)),
                    ),
                )
                .execute(conn)?;
                let links = diesel::delete(
                    developer_links::table.filter(developer_links::expires_at.lt(cutoff)),
                )
                .execute(conn)?;
                Ok(sessions + links)
            })
            .await?;
        Ok(Purged {
            authorization_codes,
            tokens,
            sessions,
            one_time_codes,
            pushed_requests,
            client_assertions,
            rate_limits,
            messages,
            developer_rows,
        })
    }
}
