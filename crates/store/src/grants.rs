//! Consents: which scopes a patient allowed an app, remembered until revoked.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::clients::Client;
use crate::error::StoreResult;
use crate::rows::{ClientRow, GrantRow};
use crate::schema::{access_tokens, clients, grants, token_families};
use crate::{secret, time, Store};

/// A patient's standing consent to one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub account_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Grant {
    /// Whether every requested scope is already consented.
    pub fn covers(&self, requested: &[String]) -> bool {
        requested.iter().all(|s| self.scopes.contains(s))
    }
}

impl From<GrantRow> for Grant {
    fn from(r: GrantRow) -> Self {
        Grant {
            id: r.id,
            account_id: r.account_id,
            client_id: r.client_id,
            scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
            created_at: time::from_db(r.created_at),
            last_used_at: r.last_used_at.map(time::from_db),
        }
    }
}

fn sorted_scopes(scopes: impl IntoIterator<Item = String>) -> String {
    let mut v: Vec<String> = scopes.into_iter().collect();
    v.sort();
    v.dedup();
    v.join(" ")
}

/// Revokes every token family and access token of one account at one app (or, with
/// `client_id` None, at every app). Returns how many families ended.
pub(crate) fn revoke_tokens_of(
    conn: &mut crate::db::DbConn,
    account_id: &str,
    client_id: Option<&str>,
    now: chrono::NaiveDateTime,
) -> StoreResult<usize> {
    let mut families = diesel::update(token_families::table)
        .filter(token_families::account_id.eq(account_id))
        .filter(token_families::revoked_at.is_null())
        .into_boxed();
    let mut access = diesel::update(access_tokens::table)
        .filter(access_tokens::account_id.eq(account_id))
        .filter(access_tokens::revoked_at.is_null())
        .into_boxed();
    if let Some(c) = client_id {
        families = families.filter(token_families::client_id.eq(c.to_owned()));
        access = access.filter(access_tokens::client_id.eq(c.to_owned()));
    }
    let n = families
        .set(token_families::revoked_at.eq(now))
        .execute(conn)?;
    access
        .set(access_tokens::revoked_at.eq(now))
        .execute(conn)?;
    Ok(n)
}

impl Store {
    /// The live consent of an account to an app, if any.
    pub async fn grant_for(&self, account_id: &str, client_id: &str) -> StoreResult<Option<Grant>> {
        let (account_id, client_id) = (account_id.to_owned(), client_id.to_owned());
        self.read(move |conn| {
            Ok(grants::table
                .filter(grants::account_id.eq(account_id))
                .filter(grants::client_id.eq(client_id))
                .filter(grants::revoked_at.is_null())
                .select(GrantRow::as_select())
                .first(conn)
                .optional()?
                .map(Grant::from))
        })
        .await
    }

    /// Records consent to `scopes`, adding them to what the app was already allowed.
    pub async fn save_grant(
        &self,
        account_id: &str,
        client_id: &str,
        scopes: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<Grant> {
        let (account_id, client_id, scopes) =
            (account_id.to_owned(), client_id.to_owned(), scopes.to_vec());
        let now = time::to_db(now);
        self.write(move |conn| {
            let existing = grants::table
                .filter(grants::account_id.eq(&account_id))
                .filter(grants::client_id.eq(&client_id))
                .select(GrantRow::as_select())
                .first(conn)
                .optional()?;
            let row = match existing {
                Some(mut row) => {
                    let merged = if row.revoked_at.is_some() {
                        sorted_scopes(scopes)
                    } else {
                        sorted_scopes(
                            row.scopes
                                .split_whitespace()
                                .map(str::to_owned)
                                .chain(scopes),
                        )
                    };
                    diesel::update(grants::table.find(&row.id))
                        .set((
                            grants::scopes.eq(&merged),
                            grants::updated_at.eq(now),
                            grants::revoked_at.eq(None::<chrono::NaiveDateTime>),
                        ))
                        .execute(conn)?;
                    row.scopes = merged;
                    row.revoked_at = None;
                    row
                }
                None => {
                    let row = GrantRow {
                        id: secret::new_id()?,
                        account_id,
                        client_id,
                        scopes: sorted_scopes(scopes),
                        created_at: now,
                        updated_at: now,
                        last_used_at: None,
                        revoked_at: None,
                    };
                    diesel::insert_into(grants::table)
                        .values(&row)
                        .execute(conn)?;
                    row
                }
            };
            Ok(Grant::from(row))
        })
        .await
    }

    /// The apps an account has allowed, with their consents, most recently used first.
    pub async fn grants_of_account(&self, account_id: &str) -> StoreResult<Vec<(Grant, Client)>> {
        let account_id = account_id.to_owned();
        self.read(move |conn| {
            let rows: Vec<(GrantRow, ClientRow)> = grants::table
                .inner_join(clients::table)
                .filter(grants::account_id.eq(account_id))
                .filter(grants::revoked_at.is_null())
                .select((GrantRow::as_select(), ClientRow::as_select()))
                .load(conn)?;
            let mut out = rows
                .into_iter()
                .map(|(g, c)| Ok((Grant::from(g), Client::try_from(c)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            out.sort_by_key(|(g, _)| std::cmp::Reverse(g.last_used_at));
            Ok(out)
        })
        .await
    }

    /// Withdraws an account's consent to an app and ends, at once, every token that app
    /// holds for the account. Returns false when there was no live consent.
    pub async fn revoke_grant(
        &self,
        account_id: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (account_id, client_id) = (account_id.to_owned(), client_id.to_owned());
        let now = time::to_db(now);
        self.write(move |conn| {
            let n = diesel::update(grants::table)
                .filter(grants::account_id.eq(&account_id))
                .filter(grants::client_id.eq(&client_id))
                .filter(grants::revoked_at.is_null())
                .set(grants::revoked_at.eq(now))
                .execute(conn)?;
            revoke_tokens_of(conn, &account_id, Some(&client_id), now)?;
            Ok(n > 0)
        })
        .await
    }

    /// Notes that an app used its consent (for "last used" on the account page).
    pub async fn touch_grant(&self, grant_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let grant_id = grant_id.to_owned();
        let now = time::to_db(now);
        self.write(move |conn| {
            diesel::update(grants::table.find(grant_id))
                .set(grants::last_used_at.eq(now))
                .execute(conn)?;
            Ok(())
        })
        .await
    }
}
