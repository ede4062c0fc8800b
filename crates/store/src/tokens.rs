//! Access tokens, refresh-token families and the exchange of a code for tokens.
//!
//! Access tokens are opaque: 256 random bits, stored as a SHA-256 digest, checked at
//! every use, so revocation (consent withdrawn, app suspended, password reset) takes
//! effect at once everywhere. See docs/tokens.md.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::clients::{load_client_with_secrets, Client};
use crate::db::{on_backend, DbConn};
use crate::error::StoreResult;
use crate::rows::{AccessRow, FamilyRow, RefreshRow};
use crate::schema::{
    access_tokens, accounts, authorization_codes, clients, grants, refresh_tokens, token_families,
};
use crate::{secret, time, Store};

/// Prefixes make leaked tokens recognisable (secret scanners, logs).
pub const ACCESS_TOKEN_PREFIX: &str = "pfat_";
pub const REFRESH_TOKEN_PREFIX: &str = "pfrt_";

/// What an access token lets its bearer do, as userinfo and introspection see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token_hash: String,
    pub client_id: String,
    /// None for client-credentials tokens.
    pub account_id: Option<String>,
    pub family_id: Option<String>,
    pub session_id: Option<String>,
    pub scopes: Vec<String>,
    pub auth_time: Option<DateTime<Utc>>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<AccessRow> for AccessToken {
    fn from(r: AccessRow) -> Self {
        AccessToken {
            token_hash: r.token_hash,
            client_id: r.client_id,
            account_id: r.account_id,
            family_id: r.family_id,
            session_id: r.session_id,
            scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
            auth_time: r.auth_time.map(time::from_db),
            issued_at: time::from_db(r.created_at),
            expires_at: time::from_db(r.expires_at),
        }
    }
}

/// The tokens one grant produces.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: Option<String>,
    pub family_id: Option<String>,
}

/// Lifetimes for what a grant issues.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    pub access: Duration,
    /// Idle (sliding) lifetime of each refresh token.
    pub refresh_idle: Duration,
    /// Absolute lifetime of a refresh-token family.
    pub refresh_absolute: Duration,
}

/// Outcome of presenting an authorization code.
#[derive(Debug, Clone)]
pub enum CodeExchange {
    Issued(IssuedTokens),
    /// The code had been used already; everything issued from it is now revoked.
    AlreadyUsed,
}

/// Who and what an access token is for.
pub(crate) struct AccessFor<'a> {
    pub client_id: &'a str,
    pub account_id: Option<&'a str>,
    pub family_id: Option<&'a str>,
    pub code_hash: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub scopes: &'a str,
    pub auth_time: Option<NaiveDateTime>,
}

diesel::define_sql_function! {
    /// PostgreSQL's `set_config(setting_name, new_value, is_local)`.
    fn set_config(
        name: diesel::sql_types::Text,
        value: diesel::sql_types::Text,
        is_local: diesel::sql_types::Bool,
    ) -> diesel::sql_types::Text;
}

/// Inserts a new client-credentials access token (no account, no refresh token).
///
/// On PostgreSQL its commit does not wait for the WAL flush (`synchronous_commit` off
/// for this statement's transaction alone, set from its RETURNING clause). A server
/// crash in the next fraction of a second (three `wal_writer_delay`s at most) can forget
/// the token, and the client then hears `invalid_token` and asks for another: a loss
/// that fails closed. Nothing else is written this way; a revocation, a rotation or a
/// used code always waits for its flush. The flush was a third of the grant's cost on
/// the database server. Run it on its own in autocommit (`write_one_statement`): inside
/// a transaction the setting would cover everything else the transaction wrote.
fn insert_client_token(
    conn: &mut DbConn,
    client_id: &str,
    scopes: &[String],
    now: DateTime<Utc>,
    lifetime: Duration,
) -> StoreResult<IssuedTokens> {
    let scopes = scopes.join(" ");
    let access = AccessFor {
        client_id,
        account_id: None,
        family_id: None,
        code_hash: None,
        session_id: None,
        scopes: &scopes,
        auth_time: None,
    };
    let (row, token) = new_access_row(access, now, lifetime)?;
    let insert = diesel::insert_into(access_tokens::table).values(&row);
    match conn {
        DbConn::Sqlite(c) => {
            insert.execute(c)?;
        }
        DbConn::Postgres(c) => {
            insert
                .returning(set_config("synchronous_commit", "off", true))
                .get_result::<String>(c)?;
        }
    }
    Ok(IssuedTokens {
        access_token: token,
        access_expires_at: now + lifetime,
        refresh_token: None,
        family_id: None,
    })
}

pub(crate) fn new_access_row(
    f: AccessFor<'_>,
    now: DateTime<Utc>,
    lifetime: Duration,
) -> StoreResult<(AccessRow, String)> {
    let token = secret::new_token(ACCESS_TOKEN_PREFIX)?;
    Ok((
        AccessRow {
            token_hash: secret::digest(&token),
            client_id: f.client_id.to_owned(),
            account_id: f.account_id.map(str::to_owned),
            family_id: f.family_id.map(str::to_owned),
            code_hash: f.code_hash.map(str::to_owned),
            session_id: f.session_id.map(str::to_owned),
            scopes: f.scopes.to_owned(),
            auth_time: f.auth_time,
            created_at: time::to_db(now),
            expires_at: time::to_db(now + lifetime),
            revoked_at: None,
        },
        token,
    ))
}

pub(crate) fn new_refresh_row(
    family_id: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<(RefreshRow, String)> {
    let token = secret::new_token(REFRESH_TOKEN_PREFIX)?;
    Ok((
        RefreshRow {
            token_hash: secret::digest(&token),
            family_id: family_id.to_owned(),
            created_at: time::to_db(now),
            expires_at: time::to_db(expires_at),
            used_at: None,
        },
        token,
    ))
}

/// Revokes one refresh-token family and every access token issued from it.
fn revoke_family(conn: &mut DbConn, family_id: &str, now: NaiveDateTime) -> StoreResult<()> {
    diesel::update(token_families::table.find(family_id))
        .filter(token_families::revoked_at.is_null())
        .set(token_families::revoked_at.eq(now))
        .execute(conn)?;
    diesel::update(access_tokens::table)
        .filter(access_tokens::family_id.eq(family_id))
        .filter(access_tokens::revoked_at.is_null())
        .set(access_tokens::revoked_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Which kind of token a string is, by its prefix (None: not one pfid issues).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn of(token: &str) -> Option<TokenKind> {
        if token.starts_with(ACCESS_TOKEN_PREFIX) {
            Some(TokenKind::Access)
        } else if token.starts_with(REFRESH_TOKEN_PREFIX) {
            Some(TokenKind::Refresh)
        } else {
            None
        }
    }
}

/// A refresh that succeeded: the new tokens and what the ID token needs.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub tokens: IssuedTokens,
    pub account_id: String,
    /// The new access token's scopes: the family's, or fewer when the client asked.
    pub scopes: Vec<String>,
    pub session_id: Option<String>,
    /// When the patient originally authenticated.
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
}

/// Outcome of presenting a refresh token (RFC 6749 §6, RFC 9700 §4.14).
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    Refreshed(Box<Refreshed>),
    /// Refused without any change: unknown, another client's, revoked, expired, or its
    /// app, account or consent is no longer valid. The text is safe to show the client.
    Refused(&'static str),
    /// A token that had already been rotated out: its whole family and every access
    /// token issued from it are now revoked.
    Reused,
    /// A scope was asked that the family does not hold; nothing changed.
    ScopeExceeded,
}

/// A token that is live now, as introspection reports it (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    pub kind: TokenKind,
    pub client_id: String,
    /// None for client-credentials tokens.
    pub account_id: Option<String>,
    pub username: Option<String>,
    pub scopes: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Outcome of a revocation request (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The token (and, for a refresh token, its family) is revoked now, or already was.
    Revoked,
    /// pfid never issued it: nothing to do.
    Unknown,
    /// It belongs to another client, which alone may revoke it; nothing changed.
    OtherClient,
}

fn split_scopes(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Whether a consent is still standing (families without one, from before consents
/// were recorded, count as standing).
fn grant_is_live(conn: &mut DbConn, grant_id: Option<&str>) -> StoreResult<bool> {
    let Some(grant_id) = grant_id else {
        return Ok(true);
    };
    let revoked: Option<Option<NaiveDateTime>> = on_backend!(conn, |c| grants::table
        .find(grant_id)
        .select(grants::revoked_at)
        .first(c)
        .optional())?;
    Ok(matches!(revoked, Some(None)))
}

type RefreshJoin = (RefreshRow, FamilyRow, String, String, String);

fn load_refresh(conn: &mut DbConn, hash: &str) -> StoreResult<Option<RefreshJoin>> {
    Ok(on_backend!(conn, |c| refresh_tokens::table
        .inner_join(
            token_families::table
                .inner_join(clients::table)
                .inner_join(accounts::table),
        )
        .filter(refresh_tokens::token_hash.eq(hash))
        .select((
            RefreshRow::as_select(),
            FamilyRow::as_select(),
            clients::status,
            accounts::status,
            accounts::username,
        ))
        .first(c)
        .optional())?)
}

/// Revokes everything issued from one authorization code (RFC 6749 §4.1.2: a code used
/// twice SHOULD revoke the tokens issued from it).
fn revoke_from_code(conn: &mut DbConn, code_hash: &str, now: NaiveDateTime) -> StoreResult<()> {
    let families: Vec<String> = token_families::table
        .filter(token_families::code_hash.eq(code_hash))
        .select(token_families::id)
        .load(conn)?;
    diesel::update(token_families::table.filter(token_families::id.eq_any(&families)))
        .set(token_families::revoked_at.eq(now))
        .execute(conn)?;
    diesel::update(
        access_tokens::table.filter(
            access_tokens::code_hash
                .eq(code_hash)
                .or(access_tokens::family_id.eq_any(&families)),
        ),
    )
    .filter(access_tokens::revoked_at.is_null())
    .set(access_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

impl Store {
    /// Consumes a code and issues its tokens in one transaction. `with_refresh` issues a
    /// refresh-token family too (offline_access consented and the grant allowed).
    pub async fn exchange_code(
        &self,
        code_hash: &str,
        with_refresh: bool,
        now: DateTime<Utc>,
        lifetimes: TokenLifetimes,
    ) -> StoreResult<CodeExchange> {
        let code_hash = code_hash.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let consumed = on_backend!(conn, |c| diesel::update(
                authorization_codes::table.find(&code_hash)
            )
            .filter(authorization_codes::used_at.is_null())
            .set(authorization_codes::used_at.eq(db_now))
            .execute(c))?;
            if consumed == 0 {
                revoke_from_code(conn, &code_hash, db_now)?;
                return Ok(CodeExchange::AlreadyUsed);
            }
            let code: crate::rows::CodeRow = on_backend!(conn, |c| authorization_codes::table
                .find(&code_hash)
                .select(crate::rows::CodeRow::as_select())
                .first(c))?;
            let mut family_id = None;
            let mut refresh_token = None;
            if with_refresh {
                let family = FamilyRow {
                    id: secret::new_id()?,
                    client_id: code.client_id.clone(),
                    account_id: code.account_id.clone(),
                    grant_id: code.grant_id.clone(),
                    code_hash: Some(code_hash.clone()),
                    session_id: code.session_id.clone(),
                    scopes: code.scopes.clone(),
                    auth_time: code.auth_time,
                    amr: code.amr.clone(),
                    created_at: db_now,
                    expires_at: time::to_db(now + lifetimes.refresh_absolute),
                    revoked_at: None,
                };
                on_backend!(conn, |c| diesel::insert_into(token_families::table)
                    .values(&family)
                    .execute(c))?;
                let idle_end = (now + lifetimes.refresh_idle).min(now + lifetimes.refresh_absolute);
                let (row, token) = new_refresh_row(&family.id, now, idle_end)?;
                on_backend!(conn, |c| diesel::insert_into(refresh_tokens::table)
                    .values(&row)
                    .execute(c))?;
                family_id = Some(family.id);
                refresh_token = Some(token);
            }
            let (access, access_token) = new_access_row(
                AccessFor {
                    client_id: &code.client_id,
                    account_id: Some(&code.account_id),
                    family_id: family_id.as_deref(),
                    code_hash: Some(&code_hash),
                    session_id: code.session_id.as_deref(),
                    scopes: &code.scopes,
                    auth_time: Some(code.auth_time),
                },
                now,
                lifetimes.access,
            )?;
            on_backend!(conn, |c| diesel::insert_into(access_tokens::table)
                .values(&access)
                .execute(c))?;
            if let Some(grant_id) = &code.grant_id {
                on_backend!(conn, |c| diesel::update(grants::table.find(grant_id))
                    .set(grants::last_used_at.eq(db_now))
                    .execute(c))?;
            }
            Ok(CodeExchange::Issued(IssuedTokens {
                access_token,
                access_expires_at: now + lifetimes.access,
                refresh_token,
                family_id,
            }))
        })
        .await
    }

    /// A live access token: known, not revoked, not expired, its app approved and, for a
    /// patient's token, the account active. Anything else is `None`, alike.
    pub async fn active_access_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AccessToken>> {
        if !token.starts_with(ACCESS_TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = secret::digest(token);
        let db_now = time::to_db(now);
        self.read(move |conn| {
            Ok(load_live_access(conn, &hash, db_now)?.map(|(row, _)| AccessToken::from(row)))
        })
        .await
    }

    /// Issues a client-credentials access token (no account, no refresh token).
    pub async fn issue_client_token(
        &self,
        client_id: &str,
        scopes: &[String],
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> StoreResult<IssuedTokens> {
        let client_id = client_id.to_owned();
        let scopes = scopes.to_vec();
        self.write_one_statement(move |conn| {
            insert_client_token(conn, &client_id, &scopes, now, lifetime)
        })
        .await
    }

    /// Issues a client-credentials access token if `admit` accepts the client: it is
    /// shown the client `client_id` names, as stored at `now`, with the digests of its
    /// live secrets, and answers with the token's scopes or with its own refusal, which
    /// comes back as the inner `Err` with nothing written. The lookup and the insert share
    /// one trip to the database, where authenticating first would take two.
    pub async fn issue_client_token_if<E, F>(
        &self,
        client_id: &str,
        now: DateTime<Utc>,
        lifetime: Duration,
        admit: F,
    ) -> StoreResult<Result<(IssuedTokens, Vec<String>), E>>
    where
        F: FnOnce(Option<(Client, Vec<String>)>) -> Result<Vec<String>, E> + Send + 'static,
        E: Send + 'static,
    {
        let client_id = client_id.to_owned();
        let db_now = time::to_db(now);
        self.write_one_statement(move |conn| {
            let found = load_client_with_secrets(conn, &client_id, db_now)?;
            let scopes = match admit(found) {
                Ok(scopes) => scopes,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let issued = insert_client_token(conn, &client_id, &scopes, now, lifetime)?;
            Ok(Ok((issued, scopes)))
        })
        .await
    }

    /// Revokes one access token by its value. Returns whether it existed for that client.
    pub async fn revoke_access_token(
        &self,
        token: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let hash = secret::digest(token);
        let client_id = client_id.to_owned();
        let now = time::to_db(now);
        self.write(move |conn| {
            let n = diesel::update(access_tokens::table.find(hash))
                .filter(access_tokens::client_id.eq(client_id))
                .filter(access_tokens::revoked_at.is_null())
                .set(access_tokens::revoked_at.eq(now))
                .execute(conn)?;
            Ok(n > 0)
        })
        .await
    }

    /// The refresh-token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2): the
    /// presented token is used up and a new one joins its family, with a sliding idle
    /// lifetime that never passes the family's absolute end. Presenting a token that was
    /// already rotated out revokes the family and every access token issued from it.
    /// `requested` narrows the new access token's scopes; the family keeps its own.
    pub async fn refresh(
        &self,
        token: &str,
        client_id: &str,
        requested: Option<Vec<String>>,
        now: DateTime<Utc>,
        lifetimes: TokenLifetimes,
    ) -> StoreResult<RefreshOutcome> {
        const INVALID: &str = "the refresh token is invalid";
        if TokenKind::of(token) != Some(TokenKind::Refresh) {
            return Ok(RefreshOutcome::Refused(INVALID));
        }
        let hash = secret::digest(token);
        let client_id = client_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let Some((rt, family, client_status, account_status, _)) = load_refresh(conn, &hash)?
            else {
                return Ok(RefreshOutcome::Refused(INVALID));
            };
            // Bound to its client: another client learns nothing, and changes nothing.
            if family.client_id != client_id {
                return Ok(RefreshOutcome::Refused(INVALID));
            }
            if family.revoked_at.is_some() {
                return Ok(RefreshOutcome::Refused("the refresh token was revoked"));
            }
            if rt.used_at.is_some() {
                revoke_family(conn, &family.id, db_now)?;
                return Ok(RefreshOutcome::Reused);
            }
            if rt.expires_at <= db_now || family.expires_at <= db_now {
                return Ok(RefreshOutcome::Refused("the refresh token has expired"));
            }
            if client_status != "approved" {
                return Ok(RefreshOutcome::Refused("the client is not active"));
            }
            if account_status != "active" {
                return Ok(RefreshOutcome::Refused("the account is no longer active"));
            }
            if !grant_is_live(conn, family.grant_id.as_deref())? {
                return Ok(RefreshOutcome::Refused("the patient withdrew consent"));
            }
            let family_scopes = split_scopes(&family.scopes);
            let scopes = match requested.filter(|r| !r.is_empty()) {
                None => family_scopes,
                Some(r) => {
                    if !r.iter().all(|s| family_scopes.contains(s)) {
                        return Ok(RefreshOutcome::ScopeExceeded);
                    }
                    family_scopes
                        .into_iter()
                        .filter(|s| r.contains(s))
                        .collect()
                }
            };
            // Two requests racing with one token: only one rotates it; the other is a
            // reuse, as RFC 9700 §4.14.2 wants.
            let rotated = on_backend!(conn, |c| diesel::update(refresh_tokens::table.find(&hash))
                .filter(refresh_tokens::used_at.is_null())
                .set(refresh_tokens::used_at.eq(db_now))
                .execute(c))?;
            if rotated == 0 {
                revoke_family(conn, &family.id, db_now)?;
                return Ok(RefreshOutcome::Reused);
            }
            let idle_end = (now + lifetimes.refresh_idle).min(time::from_db(family.expires_at));
            let (row, refresh_token) = new_refresh_row(&family.id, now, idle_end)?;
            on_backend!(conn, |c| diesel::insert_into(refresh_tokens::table)
                .values(&row)
                .execute(c))?;
            let joined = scopes.join(" ");
            let (access, access_token) = new_access_row(
                AccessFor {
                    client_id: &family.client_id,
                    account_id: Some(&family.account_id),
                    family_id: Some(&family.id),
                    code_hash: None,
                    session_id: family.session_id.as_deref(),
                    scopes: &joined,
                    auth_time: Some(family.auth_time),
                },
                now,
                lifetimes.access,
            )?;
            on_backend!(conn, |c| diesel::insert_into(access_tokens::table)
                .values(&access)
                .execute(c))?;
            if let Some(grant_id) = &family.grant_id {
                on_backend!(conn, |c| diesel::update(grants::table.find(grant_id))
                    .set(grants::last_used_at.eq(db_now))
                    .execute(c))?;
            }
            Ok(RefreshOutcome::Refreshed(Box::new(Refreshed {
                tokens: IssuedTokens {
                    access_token,
                    access_expires_at: now + lifetimes.access,
                    refresh_token: Some(refresh_token),
                    family_id: Some(family.id),
                },
                account_id: family.account_id,
                scopes,
                session_id: family.session_id,
                auth_time: time::from_db(family.auth_time),
                amr: split_scopes(&family.amr),
            })))
        })
        .await
    }

    /// The introspection endpoint's two questions in one trip to the blocking pool: the
    /// calling client with its live secret digests, and the state of `token`. The token
    /// answer must be used only once the client has authenticated.
    pub async fn client_and_active_token(
        &self,
        client_id: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<(Option<(Client, Vec<String>)>, Option<ActiveToken>)> {
        let client_id = client_id.to_owned();
        // A value that is not one of pfid's tokens is never looked up (nor digested).
        let token = TokenKind::of(token).map(|kind| (kind, secret::digest(token)));
        let db_now = time::to_db(now);
        self.read(move |conn| {
            let client = load_client_with_secrets(conn, &client_id, db_now)?;
            let token = match token {
                Some((kind, hash)) => load_active_token(conn, kind, &hash, db_now)?,
                None => None,
            };
            Ok((client, token))
        })
        .await
    }

    /// Revokes a token on behalf of `client_id` (RFC 7009 §2.1): an access token alone,
    /// or a refresh token's whole family with its access tokens. A client may revoke
    /// only what was issued to it.
    pub async fn revoke_token(
        &self,
        token: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Revocation> {
        let Some(kind) = TokenKind::of(token) else {
            return Ok(Revocation::Unknown);
        };
        let hash = secret::digest(token);
        let client_id = client_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            match kind {
                TokenKind::Access => {
                    let owner: Option<String> = access_tokens::table
                        .find(&hash)
                        .select(access_tokens::client_id)
                        .first(conn)
                        .optional()?;
                    match owner {
                        None => return Ok(Revocation::Unknown),
                        Some(c) if c != client_id => return Ok(Revocation::OtherClient),
                        Some(_) => {}
                    }
                    diesel::update(access_tokens::table.find(&hash))
                        .filter(access_tokens::revoked_at.is_null())
                        .set(access_tokens::revoked_at.eq(db_now))
                        .execute(conn)?;
                }
                TokenKind::Refresh => {
                    let family: Option<(String, String)> = refresh_tokens::table
                        .inner_join(token_families::table)
                        .filter(refresh_tokens::token_hash.eq(&hash))
                        .select((token_families::id, token_families::client_id))
                        .first(conn)
                        .optional()?;
                    match family {
                        None => return Ok(Revocation::Unknown),
                        Some((_, c)) if c != client_id => return Ok(Revocation::OtherClient),
                        Some((family_id, _)) => revoke_family(conn, &family_id, db_now)?,
                    }
                }
            }
            Ok(Revocation::Revoked)
        })
        .await
    }

    /// Ends every refresh-token family and access token of an account, at every app
    /// (password reset, "sign out everywhere"). Returns how many families ended.
    pub async fn revoke_all_tokens_for_account(
        &self,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let account_id = account_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| crate::grants::revoke_tokens_of(conn, &account_id, None, db_now))
            .await
    }
}

/// An access token's row, with its patient's username, when the token is live now:
/// known, not revoked, not expired, its app approved and, for a patient's token, the
/// account active. Bearer use and introspection share this one query and one rule.
fn load_live_access(
    conn: &mut DbConn,
    hash: &str,
    db_now: NaiveDateTime,
) -> StoreResult<Option<(AccessRow, Option<String>)>> {
    let row: Option<(AccessRow, String, Option<String>, Option<String>)> =
        on_backend!(conn, |c| access_tokens::table
            .inner_join(clients::table)
            .left_join(accounts::table)
            .filter(access_tokens::token_hash.eq(hash))
            .select((
                AccessRow::as_select(),
                clients::status,
                accounts::status.nullable(),
                accounts::username.nullable(),
            ))
            .first(c)
            .optional())?;
    let Some((row, client_status, account_status, username)) = row else {
        return Ok(None);
    };
    let live = row.revoked_at.is_none()
        && row.expires_at > db_now
        && client_status == "approved"
        && account_status.as_deref().is_none_or(|s| s == "active");
    Ok(live.then_some((row, username)))
}

/// An access or refresh token that is live now, with what introspection reports; None
/// for anything unknown, expired, revoked, rotated out, or whose app, account or
/// consent is no longer valid. Changes nothing.
pub(crate) fn load_active_token(
    conn: &mut DbConn,
    kind: TokenKind,
    hash: &str,
    db_now: NaiveDateTime,
) -> StoreResult<Option<ActiveToken>> {
    match kind {
        TokenKind::Access => Ok(
            load_live_access(conn, hash, db_now)?.map(|(row, username)| ActiveToken {
                kind,
                client_id: row.client_id,
                account_id: row.account_id,
                username,
                scopes: split_scopes(&row.scopes),
                issued_at: time::from_db(row.created_at),
                expires_at: time::from_db(row.expires_at),
            }),
        ),
        TokenKind::Refresh => {
            let Some((rt, family, client_status, account_status, username)) =
                load_refresh(conn, hash)?
            else {
                return Ok(None);
            };
            let live = family.revoked_at.is_none()
                && rt.used_at.is_none()
                && rt.expires_at > db_now
                && family.expires_at > db_now
                && client_status == "approved"
                && account_status == "active"
                && grant_is_live(conn, family.grant_id.as_deref())?;
            Ok(live.then(|| ActiveToken {
                kind,
                client_id: family.client_id,
                account_id: Some(family.account_id),
                username: Some(username),
                scopes: split_scopes(&family.scopes),
                issued_at: time::from_db(rt.created_at),
                expires_at: time::from_db(rt.expires_at.min(family.expires_at)),
            }))
        }
    }
}
