//! Fixed-window counters for throttling, in the database so that every node behind a
//! load balancer counts the same attempts.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::error::StoreResult;
use crate::schema::rate_limits;
use crate::{time, Store};

/// The state of one counter after a look or a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    /// Hits in the current window, including this one when it was a hit.
    pub hits: u32,
    /// When the current window ends.
    pub resets_at: DateTime<Utc>,
}

impl RateState {
    pub fn exceeds(&self, limit: u32) -> bool {
        self.hits > limit
    }
}

fn current(
    conn: &mut crate::db::DbConn,
    bucket: &str,
    now: DateTime<Utc>,
    window: Duration,
) -> StoreResult<Option<(chrono::NaiveDateTime, i32)>> {
    let row: Option<(chrono::NaiveDateTime, i32)> = rate_limits::table
        .find(bucket)
        .select((rate_limits::window_start, rate_limits::hits))
        .first(conn)
        .optional()?;
    Ok(row.filter(|(start, _)| time::from_db(*start) + window > now))
}

impl Store {
    /// Counts one attempt against `bucket` and returns the window's total.
    pub async fn rate_hit(
        &self,
        bucket: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> StoreResult<RateState> {
        let bucket = bucket.to_owned();
        self.write(move |conn| {
            let state = match current(conn, &bucket, now, window)? {
                Some((start, hits)) => {
                    diesel::update(rate_limits::table.find(&bucket))
                        .set(rate_limits::hits.eq(hits.saturating_add(1)))
                        .execute(conn)?;
                    RateState {
                        hits: u32::try_from(hits).unwrap_or(0) + 1,
                        resets_at: time::from_db(start) + window,
                    }
                }
                None => {
                    // An expired window's row is replaced rather than updated, the same
                    // statement on both backends.
                    diesel::delete(rate_limits::table.find(&bucket)).execute(conn)?;
                    diesel::insert_into(rate_limits::table)
                        .values((
                            rate_limits::bucket.eq(&bucket),
                            rate_limits::window_start.eq(time::to_db(now)),
                            rate_limits::hits.eq(1),
                        ))
                        .execute(conn)?;
                    RateState {
                        hits: 1,
                        resets_at: now + window,
                    }
                }
            };
            Ok(state)
        })
        .await
    }

    /// The window's total without counting an attempt.
    pub async fn rate_peek(
        &self,
        bucket: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> StoreResult<RateState> {
        let bucket = bucket.to_owned();
        self.read(move |conn| {
            Ok(match current(conn, &bucket, now, window)? {
                Some((start, hits)) => RateState {
                    hits: u32::try_from(hits).unwrap_or(0),
                    resets_at: time::from_db(start) + window,
                },
                None => RateState {
                    hits: 0,
                    resets_at: now,
                },
            })
        })
        .await
    }

    /// Clears a counter (after a successful login, say).
    pub async fn rate_clear(&self, bucket: &str) -> StoreResult<()> {
        let bucket = bucket.to_owned();
        self.write(move |conn| {
            diesel::delete(rate_limits::table.find(bucket)).execute(conn)?;
            Ok(())
        })
        .await
    }
}
