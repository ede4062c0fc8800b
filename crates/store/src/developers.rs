//! Developer accounts: the people who register apps, kept apart from patients' logins
//! (their own table, sessions and emailed links), so a developer account never opens a
//! patient's pages and the other way round.
//!
//! A sign-up creates nothing but an emailed link: the account is created when the link
//! is followed, with the password chosen in that sign-up. Nobody can therefore claim an
//! address they cannot read, and a second sign-up for an address never tells the one
//! who typed it whether the address was known: the mailbox's owner learns it instead.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::clients::Client;
use crate::error::{StoreError, StoreResult};
use crate::outbox::{enqueue_in, NewMessage};
use crate::rows::ClientRow;
use crate::schema::{clients, developer_links, developer_sessions, developers};
use crate::{normalize, secret, time, Store};

/// Prefix of the cookie value of a developer session (recognisable when leaked).
pub const SESSION_PREFIX: &str = "pfds_";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = developers, treat_none_as_default_value = false)]
struct DeveloperRow {
    id: String,
    email: String,
    email_normalized: String,
    display_name: String,
    organization: Option<String>,
    password_hash: String,
    password_changed_at: NaiveDateTime,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = developer_sessions, treat_none_as_default_value = false)]
struct SessionRow {
    id: String,
    token_hash: String,
    developer_id: String,
    created_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    ended_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = developer_links, treat_none_as_default_value = false)]
struct LinkRow {
    id: String,
    purpose: String,
    token_hash: String,
    email_normalized: String,
    developer_id: Option<String>,
    data: Option<String>,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    used_at: Option<NaiveDateTime>,
}

const SIGNUP: &str = "signup";
const RESET: &str = "reset";

/// Longest display name or organization name.
pub const MAX_NAME_CHARS: usize = 100;

/// A developer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Developer {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub organization: Option<String>,
    pub password_hash: String,
    pub password_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl Developer {
    /// How patients see who made an app: the organization when there is one.
    pub fn public_name(&self) -> &str {
        self.organization.as_deref().unwrap_or(&self.display_name)
    }
}

impl From<DeveloperRow> for Developer {
    fn from(r: DeveloperRow) -> Self {
        Developer {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            organization: r.organization,
            password_hash: r.password_hash,
            password_changed_at: time::from_db(r.password_changed_at),
            created_at: time::from_db(r.created_at),
        }
    }
}

/// A sign-up as the form gave it, with the password already hashed (argon2id, off the
/// writer: hashing is not the transaction's business).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewDeveloper {
    pub email: String,
    pub display_name: String,
    pub organization: Option<String>,
    pub password_hash: String,
}

/// Checks a display or organization name: present, short, printable.
pub fn validate_name(raw: &str, what: &str) -> StoreResult<()> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(StoreError::Invalid(format!("{what} is required")));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "{what} can be at most {MAX_NAME_CHARS} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(())
}

impl NewDeveloper {
    pub fn validate(&self) -> StoreResult<()> {
        normalize::validate_email(&self.email)?;
        validate_name(&self.display_name, "name")?;
        if let Some(org) = &self.organization {
            validate_name(org, "organization")?;
        }
        if !self.password_hash.starts_with("$argon2id$") {
            return Err(StoreError::Invalid(
                "a developer's password hash must be argon2id".into(),
            ));
        }
        Ok(())
    }
}

/// A signed-in browser of the developer portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeveloperSession {
    pub id: String,
    pub developer_id: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<SessionRow> for DeveloperSession {
    fn from(r: SessionRow) -> Self {
        DeveloperSession {
            id: r.id,
            developer_id: r.developer_id,
            created_at: time::from_db(r.created_at),
            last_seen_at: time::from_db(r.last_seen_at),
            expires_at: time::from_db(r.expires_at),
        }
    }
}

/// What a sign-up emails: a confirmation link, or, when the address already has an
/// account, a note saying so (with no link: the account exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupMail<'a> {
    Confirm { token: &'a str },
    AlreadyRegistered,
}

/// What following a sign-up link came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignupConfirmation {
    Created(Developer),
    /// The address got an account meanwhile (another link was followed first).
    AlreadyRegistered,
    /// Unknown, used or expired.
    Invalid,
}

fn load_by_email(conn: &mut crate::db::DbConn, email: &str) -> StoreResult<Option<Developer>> {
    Ok(developers::table
        .filter(developers::email_normalized.eq(normalize::email(email)))
        .select(DeveloperRow::as_select())
        .first(conn)
        .optional()?
        .map(Developer::from))
}

/// A live link of `purpose` by its digest.
fn live_link(
    conn: &mut crate::db::DbConn,
    purpose: &str,
    token: &str,
    now: NaiveDateTime,
) -> StoreResult<Option<LinkRow>> {
    Ok(developer_links::table
        .filter(developer_links::token_hash.eq(secret::digest(token)))
        .filter(developer_links::purpose.eq(purpose))
        .filter(developer_links::used_at.is_null())
        .filter(developer_links::expires_at.gt(now))
        .select(LinkRow::as_select())
        .first(conn)
        .optional()?)
}

/// Marks a link used; false when another request used it first.
fn consume_link(conn: &mut crate::db::DbConn, id: &str, now: NaiveDateTime) -> StoreResult<bool> {
    let n = diesel::update(developer_links::table.find(id))
        .filter(developer_links::used_at.is_null())
        .set((
            developer_links::used_at.eq(now),
            developer_links::data.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

fn new_link(
    purpose: &str,
    email: &str,
    developer_id: Option<String>,
    data: Option<String>,
    now: DateTime<Utc>,
    lifetime: Duration,
) -> StoreResult<(LinkRow, String)> {
    let token = secret::new_token("")?;
    Ok((
        LinkRow {
            id: secret::new_id()?,
            purpose: purpose.to_owned(),
            token_hash: secret::digest(&token),
            email_normalized: normalize::email(email),
            developer_id,
            data,
            created_at: time::to_db(now),
            expires_at: time::to_db(now + lifetime),
            used_at: None,
        },
        token,
    ))
}

impl Store {
    /// Starts a sign-up: queues, in the same transaction, either a confirmation link
    /// (valid for `lifetime`) or, when the address already has an account, a note to
    /// that address. The caller cannot tell which, and must not: it answers alike.
    pub async fn start_developer_signup<F>(
        &self,
        new: NewDeveloper,
        now: DateTime<Utc>,
        lifetime: Duration,
        message: F,
    ) -> StoreResult<()>
    where
        F: FnOnce(SignupMail<'_>) -> NewMessage + Send + 'static,
    {
        new.validate()?;
        let data = serde_json::to_string(&new)
            .map_err(|e| StoreError::Invalid(format!("sign-up data: {e}")))?;
        let (row, token) = new_link(SIGNUP, &new.email, None, Some(data), now, lifetime)?;
        self.write(move |conn| {
            let msg = if load_by_email(conn, &new.email)?.is_some() {
                message(SignupMail::AlreadyRegistered)
            } else {
                diesel::insert_into(developer_links::table)
                    .values(&row)
                    .execute(conn)?;
                message(SignupMail::Confirm { token: &token })
            };
            enqueue_in(conn, &msg, now)?;
            Ok(())
        })
        .await
    }

    /// Whether a sign-up link can still be followed (for the page that asks to confirm).
    pub async fn developer_signup_link_is_live(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let token = token.to_owned();
        let now = time::to_db(now);
        self.read(move |conn| Ok(live_link(conn, SIGNUP, &token, now)?.is_some()))
            .await
    }

    /// Follows a sign-up link: the account is created from what that sign-up said. The
    /// link works once.
    pub async fn confirm_developer_signup(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<SignupConfirmation> {
        let token = token.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let Some(link) = live_link(conn, SIGNUP, &token, db_now)? else {
                return Ok(SignupConfirmation::Invalid);
            };
            if !consume_link(conn, &link.id, db_now)? {
                return Ok(SignupConfirmation::Invalid);
            }
            let new: NewDeveloper = link
                .data
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .ok_or_else(|| StoreError::Invalid("sign-up link without its data".into()))?;
            if load_by_email(conn, &new.email)?.is_some() {
                return Ok(SignupConfirmation::AlreadyRegistered);
            }
            let row = DeveloperRow {
                id: secret::new_id()?,
                email: new.email.trim().to_owned(),
                email_normalized: normalize::email(&new.email),
                display_name: new.display_name.trim().to_owned(),
                organization: new
                    .organization
                    .map(|o| o.trim().to_owned())
                    .filter(|o| !o.is_empty()),
                password_hash: new.password_hash,
                password_changed_at: db_now,
                created_at: db_now,
                updated_at: db_now,
            };
            diesel::insert_into(developers::table)
                .values(&row)
                .execute(conn)?;
            // Other sign-up links for the address are moot now.
            diesel::update(developer_links::table)
                .filter(developer_links::email_normalized.eq(&row.email_normalized))
                .filter(developer_links::purpose.eq(SIGNUP))
                .filter(developer_links::used_at.is_null())
                .set((
                    developer_links::used_at.eq(db_now),
                    developer_links::data.eq(None::<String>),
                ))
                .execute(conn)?;
            Ok(SignupConfirmation::Created(Developer::from(row)))
        })
        .await
    }

    pub async fn developer(&self, id: &str) -> StoreResult<Option<Developer>> {
        let id = id.to_owned();
        self.read(move |conn| {
            Ok(developers::table
                .find(id)
                .select(DeveloperRow::as_select())
                .first(conn)
                .optional()?
                .map(Developer::from))
        })
        .await
    }

    /// The developer whose login is `email`, compared after normalisation.
    pub async fn developer_by_email(&self, email: &str) -> StoreResult<Option<Developer>> {
        let email = email.to_owned();
        self.read(move |conn| load_by_email(conn, &email)).await
    }

    /// Starts a portal session; returns it with the cookie value (only its digest is
    /// stored).
    pub async fn create_developer_session(
        &self,
        developer_id: &str,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> StoreResult<(DeveloperSession, String)> {
        let cookie = secret::new_token(SESSION_PREFIX)?;
        let db_now = time::to_db(now);
        let row = SessionRow {
            id: secret::new_id()?,
            token_hash: secret::digest(&cookie),
            developer_id: developer_id.to_owned(),
            created_at: db_now,
            last_seen_at: db_now,
            expires_at: time::to_db(now + lifetime),
            ended_at: None,
        };
        self.write(move |conn| {
            diesel::insert_into(developer_sessions::table)
                .values(&row)
                .execute(conn)?;
            Ok((DeveloperSession::from(row), cookie))
        })
        .await
    }

    /// The live portal session a cookie names: not ended, not expired, and seen within
    /// `idle`.
    pub async fn developer_session_by_cookie(
        &self,
        cookie: &str,
        now: DateTime<Utc>,
        idle: Duration,
    ) -> StoreResult<Option<DeveloperSession>> {
        if !cookie.starts_with(SESSION_PREFIX) {
            return Ok(None);
        }
        let hash = secret::digest(cookie);
        let db_now = time::to_db(now);
        let seen_after = time::to_db(now - idle);
        self.read(move |conn| {
            Ok(developer_sessions::table
                .filter(developer_sessions::token_hash.eq(hash))
                .filter(developer_sessions::ended_at.is_null())
                .filter(developer_sessions::expires_at.gt(db_now))
                .filter(developer_sessions::last_seen_at.gt(seen_after))
                .select(SessionRow::as_select())
                .first(conn)
                .optional()?
                .map(DeveloperSession::from))
        })
        .await
    }

    /// Notes activity on a portal session (for the idle timeout).
    pub async fn touch_developer_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let id = id.to_owned();
        let now = time::to_db(now);
        self.write(move |conn| {
            diesel::update(developer_sessions::table.find(id))
                .set(developer_sessions::last_seen_at.eq(now))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Ends one portal session (log out).
    pub async fn end_developer_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let id = id.to_owned();
        let now = time::to_db(now);
        self.write(move |conn| {
            diesel::update(developer_sessions::table.find(id))
                .filter(developer_sessions::ended_at.is_null())
                .set(developer_sessions::ended_at.eq(now))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Starts a password reset: when `email` is a developer's login, a link valid for
    /// `lifetime` is stored and the message `message` builds around it is queued in the
    /// same transaction. An unknown address gets nothing (and the caller, which answers
    /// alike either way, learns nothing).
    pub async fn start_developer_reset<F>(
        &self,
        email: &str,
        now: DateTime<Utc>,
        lifetime: Duration,
        message: F,
    ) -> StoreResult<()>
    where
        F: FnOnce(&Developer, &str) -> NewMessage + Send + 'static,
    {
        let email = email.to_owned();
        self.write(move |conn| {
            let Some(dev) = load_by_email(conn, &email)? else {
                return Ok(());
            };
            let (row, token) =
                new_link(RESET, &dev.email, Some(dev.id.clone()), None, now, lifetime)?;
            diesel::insert_into(developer_links::table)
                .values(&row)
                .execute(conn)?;
            enqueue_in(conn, &message(&dev, &token), now)?;
            Ok(())
        })
        .await
    }

    /// Whether a reset link can still be used (for the page that asks the new password).
    pub async fn developer_reset_link_is_live(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let token = token.to_owned();
        let now = time::to_db(now);
        self.read(move |conn| Ok(live_link(conn, RESET, &token, now)?.is_some()))
            .await
    }

    /// Uses a reset link: sets the new password (an argon2id hash), ends every portal
    /// session of the developer and voids their other reset links. None when the link is
    /// unknown, used or expired.
    pub async fn reset_developer_password(
        &self,
        token: &str,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Developer>> {
        if !password_hash.starts_with("$argon2id$") {
            return Err(StoreError::Invalid(
                "a developer's password hash must be argon2id".into(),
            ));
        }
        let token = token.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let Some(link) = live_link(conn, RESET, &token, db_now)? else {
                return Ok(None);
            };
            let Some(developer_id) = link.developer_id.clone() else {
                return Ok(None);
            };
            if !consume_link(conn, &link.id, db_now)? {
                return Ok(None);
            }
            diesel::update(developers::table.find(&developer_id))
                .set((
                    developers::password_hash.eq(&password_hash),
                    developers::password_changed_at.eq(db_now),
                    developers::updated_at.eq(db_now),
                ))
                .execute(conn)?;
            diesel::update(developer_links::table)
                .filter(developer_links::developer_id.eq(&developer_id))
                .filter(developer_links::purpose.eq(RESET))
                .filter(developer_links::used_at.is_null())
                .set(developer_links::used_at.eq(db_now))
                .execute(conn)?;
            diesel::update(developer_sessions::table)
                .filter(developer_sessions::developer_id.eq(&developer_id))
                .filter(developer_sessions::ended_at.is_null())
                .set(developer_sessions::ended_at.eq(db_now))
                .execute(conn)?;
            Ok(developers::table
                .find(&developer_id)
                .select(DeveloperRow::as_select())
                .first(conn)
                .optional()?
                .map(Developer::from))
        })
        .await
    }

    /// The apps a developer registered (in the portal or with one of their initial
    /// access tokens), newest first.
    pub async fn clients_of_developer(&self, developer_id: &str) -> StoreResult<Vec<Client>> {
        let developer_id = developer_id.to_owned();
        self.read(move |conn| {
            clients::table
                .filter(clients::developer_id.eq(developer_id))
                .order(clients::created_at.desc())
                .select(ClientRow::as_select())
                .load(conn)?
                .into_iter()
                .map(Client::try_from)
                .collect()
        })
        .await
    }
}
