//! One-time links (password reset, email confirmation), short security codes sent by
//! text or voice, and the password reset itself.
//!
//! Both live in `one_time_codes`. A link carries 256 random bits and is found by the
//! SHA-256 digest of its token; a security code has six digits, so it is stored as a
//! keyed hash (`CodeHasher`, computed by the caller, who holds the key), found by the
//! flow it belongs to (`subject`), and dies after `max_attempts` wrong tries.
//!
//! A reset link's `data` holds the state of its flow: whether the patient has proved
//! who they are yet, and whether the link skips that step (the forced reset of legacy
//! accounts after the cut-over, whose email was the proof). See `ResetFlow`.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::accounts::{load_account, Account, AccountStatus};
use crate::error::{StoreError, StoreResult};
use crate::outbox::{enqueue_in, NewMessage};
use crate::rows::OneTimeCodeRow;
use crate::schema::{accounts, one_time_codes};
use crate::{audit, secret, time, Store};

/// The purpose of a password reset link.
pub const RESET_LINK: &str = "reset_link";
/// The purpose of a link that confirms a new email address (`data` holds the address).
pub const CONFIRM_EMAIL: &str = "confirm_email";
/// The purpose of a security code in the password reset flow (subject: the link id).
pub const RESET_CODE: &str = "reset_code";
/// The purpose of a security code in the sign-up flow (subject: the invitation id).
pub const SIGNUP_CODE: &str = "signup_code";

/// A link to write. The caller generates the token (it needs it in clear for the email).
#[derive(Debug, Clone)]
pub struct NewLink {
    pub purpose: &'static str,
    pub account_id: String,
    /// `secret::digest` of the token.
    pub token_hash: String,
    pub data: serde_json::Value,
    pub expires_at: DateTime<Utc>,
    /// Wrong answers allowed in the link's flow before the link dies.
    pub max_attempts: u32,
}

/// A stored link, live or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeLink {
    pub id: String,
    pub purpose: String,
    pub account_id: String,
    pub data: serde_json::Value,
    pub attempts: u32,
    pub max_attempts: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

impl OneTimeLink {
    /// Neither used (nor killed by wrong answers) nor expired.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

/// The state of a password reset flow, kept in its link's `data`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResetFlow {
    /// The patient answered the security question or typed the code sent to their phone.
    #[serde(default)]
    pub verified: bool,
    /// The link leads straight to choosing a new password (legacy accounts at their
    /// first login after the cut-over: the old password and the mailbox are the proof).
    #[serde(default)]
    pub skip_identity: bool,
}

impl ResetFlow {
    pub fn of(link: &OneTimeLink) -> ResetFlow {
        serde_json::from_value(link.data.clone()).unwrap_or_default()
    }
    /// Whether the flow may set a new password now.
    pub fn may_set_password(&self) -> bool {
        self.verified || self.skip_identity
    }
}

fn to_link(r: OneTimeCodeRow) -> StoreResult<OneTimeLink> {
    Ok(OneTimeLink {
        account_id: r
            .account_id
            .ok_or_else(|| StoreError::Invalid("a link without an account".into()))?,
        id: r.id,
        purpose: r.purpose,
        data: r
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(serde_json::Value::Null),
        attempts: u32::try_from(r.attempts).unwrap_or(0),
        max_attempts: u32::try_from(r.max_attempts).unwrap_or(0),
        created_at: time::from_db(r.created_at),
        expires_at: time::from_db(r.expires_at),
        used_at: r.used_at.map(time::from_db),
    })
}

fn load_link(conn: &mut crate::db::DbConn, id: &str) -> StoreResult<OneTimeLink> {
    let row: OneTimeCodeRow = one_time_codes::table
        .find(id)
        .select(OneTimeCodeRow::as_select())
        .first(conn)?;
    to_link(row)
}

/// Ends every open link or code of one purpose for one account (a newer one replaces
/// them, or the flow they served is over).
fn close_open(
    conn: &mut crate::db::DbConn,
    purpose: &str,
    account_id: &str,
    now: NaiveDateTime,
) -> StoreResult<usize> {
    Ok(diesel::update(one_time_codes::table)
        .filter(one_time_codes::purpose.eq(purpose))
        .filter(one_time_codes::account_id.eq(account_id))
        .filter(one_time_codes::used_at.is_null())
        .set(one_time_codes::used_at.eq(now))
        .execute(conn)?)
}

/// A security code to write: six digits the caller generated and keyed-hashed.
#[derive(Debug, Clone)]
pub struct NewSecurityCode {
    pub purpose: &'static str,
    /// The flow the code belongs to (a reset link's id, an invitation's id).
    pub subject: String,
    pub account_id: Option<String>,
    /// `CodeHasher::hash(purpose, code)`.
    pub code_hash: String,
    pub expires_at: DateTime<Utc>,
    pub max_attempts: u32,
}

/// What checking a typed security code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code matched; it is used up.
    Accepted,
    /// It did not match; `remaining` tries are left (0: the code is dead now).
    Wrong { remaining: u32 },
    /// No live code for this flow: none was sent, it expired, or it died.
    NoLiveCode,
}

/// What the password-reset transaction needs besides the new hash.
#[derive(Debug, Clone)]
pub struct PasswordReset {
    pub link_id: String,
    /// argon2id PHC of the new password (hash before calling).
    pub password_hash: String,
    /// The "your password was changed" email, queued in the same transaction.
    pub notice: Option<NewMessage>,
}

impl Store {
    /// Writes a one-time link and queues its messages in one transaction. Open links
    /// of the same purpose for the account stop working: only the newest email counts.
    pub async fn create_link(
        &self,
        new: NewLink,
        messages: Vec<NewMessage>,
        now: DateTime<Utc>,
    ) -> StoreResult<String> {
        let db_now = time::to_db(now);
        let row = OneTimeCodeRow {
            id: secret::new_id()?,
            purpose: new.purpose.to_owned(),
            code_hash: new.token_hash,
            account_id: Some(new.account_id),
            subject: None,
            data: Some(new.data.to_string()),
            attempts: 0,
            max_attempts: i32::try_from(new.max_attempts).unwrap_or(i32::MAX),
            created_at: db_now,
            expires_at: time::to_db(new.expires_at),
            used_at: None,
        };
        self.write(move |conn| {
            if let Some(account_id) = &row.account_id {
                close_open(conn, &row.purpose, account_id, db_now)?;
            }
            diesel::insert_into(one_time_codes::table)
                .values(&row)
                .execute(conn)?;
            for msg in &messages {
                enqueue_in(conn, msg, now)?;
            }
            Ok(row.id)
        })
        .await
    }

    /// The link a token names for `purpose`, live or not (the page explains which).
    pub async fn link_by_token(
        &self,
        purpose: &str,
        token: &str,
    ) -> StoreResult<Option<OneTimeLink>> {
        let hash = secret::digest(token);
        let purpose = purpose.to_owned();
        self.read(move |conn| {
            one_time_codes::table
                .filter(one_time_codes::code_hash.eq(hash))
                .filter(one_time_codes::purpose.eq(purpose))
                .select(OneTimeCodeRow::as_select())
                .first(conn)
                .optional()?
                .map(to_link)
                .transpose()
        })
        .await
    }

    /// Counts one wrong answer in a link's flow; at `max_attempts` the link dies.
    pub async fn link_failed_attempt(
        &self,
        link_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<OneTimeLink> {
        let id = link_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            diesel::update(one_time_codes::table.find(&id))
                .set(one_time_codes::attempts.eq(one_time_codes::attempts + 1))
                .execute(conn)?;
            let link = load_link(conn, &id)?;
            if link.attempts >= link.max_attempts && link.used_at.is_none() {
                diesel::update(one_time_codes::table.find(&id))
                    .set(one_time_codes::used_at.eq(db_now))
                    .execute(conn)?;
                return load_link(conn, &id);
            }
            Ok(link)
        })
        .await
    }

    /// Marks a live reset link's flow as verified: the new password may be chosen.
    pub async fn mark_reset_verified(&self, link_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let id = link_id.to_owned();
        self.write(move |conn| {
            let link = load_link(conn, &id)?;
            if !link.is_live(now) {
                return Err(StoreError::Conflict("link_closed".into()));
            }
            let mut flow = ResetFlow::of(&link);
            flow.verified = true;
            let data =
                serde_json::to_string(&flow).map_err(|e| StoreError::Invalid(e.to_string()))?;
            diesel::update(one_time_codes::table.find(&id))
                .set(one_time_codes::data.eq(data))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Sets a new password through a reset link, all in one transaction: the link must
    /// be live and its flow verified (or skipping verification); the password hash is
    /// replaced, a legacy hash is cleared and a legacy account becomes active; the link
    /// and its codes are used up; every session ends and every token of every app is
    /// revoked; the notice is queued. A deactivated login, or a legacy login whose email
    /// another login shares, is refused (`Conflict("account_status")`).
    pub async fn complete_password_reset(
        &self,
        reset: PasswordReset,
        now: DateTime<Utc>,
    ) -> StoreResult<Account> {
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let link = load_link(conn, &reset.link_id)?;
            if link.purpose != RESET_LINK || !link.is_live(now) {
                return Err(StoreError::Conflict("link_closed".into()));
            }
            if !ResetFlow::of(&link).may_set_password() {
                return Err(StoreError::Invalid("identity not verified".into()));
            }
            let account = load_account(conn, &link.account_id)?.ok_or(StoreError::NotFound)?;
            if !matches!(
                account.status,
                AccountStatus::Active | AccountStatus::MustReset
            ) {
                return Err(StoreError::Conflict("account_status".into()));
            }
            diesel::update(accounts::table.find(&account.id))
                .set((
                    accounts::password_hash.eq(Some(&reset.password_hash)),
                    accounts::legacy_password_hash.eq(None::<String>),
                    accounts::status.eq(AccountStatus::Active.as_str()),
                    accounts::password_changed_at.eq(Some(db_now)),
                    accounts::updated_at.eq(db_now),
                ))
                .execute(conn)?;
            close_open(conn, RESET_LINK, &account.id, db_now)?;
            close_open(conn, RESET_CODE, &account.id, db_now)?;
            crate::sessions::end_all_in(conn, &account.id, db_now)?;
            crate::grants::revoke_tokens_of(conn, &account.id, None, db_now)?;
            if let Some(msg) = &reset.notice {
                enqueue_in(conn, msg, now)?;
            }
            audit::record_in(
                conn,
                &audit::AuditEvent::new("password_reset").account(&account.id),
                now,
            )?;
            load_account(conn, &account.id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Confirms a new email address through its link: the login's email becomes the
    /// address the link was sent to (`Conflict("email")` when another live login took it
    /// meanwhile), and `notices` are queued (the old address is told).
    pub async fn confirm_email_change(
        &self,
        link_id: &str,
        notices: Vec<NewMessage>,
        now: DateTime<Utc>,
    ) -> StoreResult<Account> {
        let id = link_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let link = load_link(conn, &id)?;
            if link.purpose != CONFIRM_EMAIL || !link.is_live(now) {
                return Err(StoreError::Conflict("link_closed".into()));
            }
            let email = link
                .data
                .get("email")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| StoreError::Invalid("a confirmation without an address".into()))?
                .to_owned();
            crate::normalize::validate_email(&email)?;
            let account = load_account(conn, &link.account_id)?.ok_or(StoreError::NotFound)?;
            if account.status != AccountStatus::Active {
                return Err(StoreError::Conflict("account_status".into()));
            }
            diesel::update(accounts::table.find(&account.id))
                .set((
                    accounts::email.eq(email.trim()),
                    accounts::email_normalized.eq(crate::normalize::email(&email)),
                    accounts::email_verified.eq(true),
                    accounts::updated_at.eq(db_now),
                ))
                .execute(conn)?;
            diesel::update(one_time_codes::table.find(&id))
                .set(one_time_codes::used_at.eq(db_now))
                .execute(conn)?;
            for msg in &notices {
                enqueue_in(conn, msg, now)?;
            }
            audit::record_in(
                conn,
                &audit::AuditEvent::new("email_changed").account(&account.id),
                now,
            )?;
            load_account(conn, &account.id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Writes a security code and queues the text or call that carries it, in one
    /// transaction. Earlier codes of the same flow stop working.
    pub async fn issue_security_code(
        &self,
        new: NewSecurityCode,
        message: NewMessage,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let db_now = time::to_db(now);
        let row = OneTimeCodeRow {
            id: secret::new_id()?,
            purpose: new.purpose.to_owned(),
            code_hash: new.code_hash,
            account_id: new.account_id,
            subject: Some(new.subject),
            data: None,
            attempts: 0,
            max_attempts: i32::try_from(new.max_attempts).unwrap_or(i32::MAX),
            created_at: db_now,
            expires_at: time::to_db(new.expires_at),
            used_at: None,
        };
        self.write(move |conn| {
            diesel::update(one_time_codes::table)
                .filter(one_time_codes::purpose.eq(&row.purpose))
                .filter(one_time_codes::subject.eq(&row.subject))
                .filter(one_time_codes::used_at.is_null())
                .set(one_time_codes::used_at.eq(db_now))
                .execute(conn)?;
            diesel::insert_into(one_time_codes::table)
                .values(&row)
                .execute(conn)?;
            enqueue_in(conn, &message, now)?;
            Ok(())
        })
        .await
    }

    /// Whether a security code was ever sent in this flow (a resend needs a first send:
    /// the phone number was checked then).
    pub async fn security_code_sent(&self, purpose: &str, subject: &str) -> StoreResult<bool> {
        let (purpose, subject) = (purpose.to_owned(), subject.to_owned());
        self.read(move |conn| {
            let n: i64 = one_time_codes::table
                .filter(one_time_codes::purpose.eq(purpose))
                .filter(one_time_codes::subject.eq(subject))
                .count()
                .get_result(conn)?;
            Ok(n > 0)
        })
        .await
    }

    /// Checks a typed code (its keyed hash) against the flow's live code. Every check
    /// counts as a try; a match uses the code up, and the last wrong try kills it.
    pub async fn check_security_code(
        &self,
        purpose: &str,
        subject: &str,
        typed_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<CodeCheck> {
        let (purpose, subject, typed) = (
            purpose.to_owned(),
            subject.to_owned(),
            typed_hash.to_owned(),
        );
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let row: Option<OneTimeCodeRow> = one_time_codes::table
                .filter(one_time_codes::purpose.eq(&purpose))
                .filter(one_time_codes::subject.eq(&subject))
                .filter(one_time_codes::used_at.is_null())
                .filter(one_time_codes::expires_at.gt(db_now))
                .order(one_time_codes::created_at.desc())
                .select(OneTimeCodeRow::as_select())
                .first(conn)
                .optional()?;
            let Some(row) = row else {
                return Ok(CodeCheck::NoLiveCode);
            };
            let attempts = row.attempts.saturating_add(1);
            if secret::equal(&row.code_hash, &typed) {
                diesel::update(one_time_codes::table.find(&row.id))
                    .set((
                        one_time_codes::attempts.eq(attempts),
                        one_time_codes::used_at.eq(db_now),
                    ))
                    .execute(conn)?;
                return Ok(CodeCheck::Accepted);
            }
            let remaining = row.max_attempts.saturating_sub(attempts).max(0);
            let dead = remaining == 0;
            diesel::update(one_time_codes::table.find(&row.id))
                .set((
                    one_time_codes::attempts.eq(attempts),
                    one_time_codes::used_at.eq(if dead { Some(db_now) } else { None }),
                ))
                .execute(conn)?;
            Ok(CodeCheck::Wrong {
                remaining: u32::try_from(remaining).unwrap_or(0),
            })
        })
        .await
    }
}

impl Store {
    /// The address a login asked to change its email to and has not confirmed yet.
    pub async fn pending_email_change(
        &self,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<String>> {
        let account_id = account_id.to_owned();
        let db_now = time::to_db(now);
        self.read(move |conn| {
            let data: Option<Option<String>> = one_time_codes::table
                .filter(one_time_codes::purpose.eq(CONFIRM_EMAIL))
                .filter(one_time_codes::account_id.eq(account_id))
                .filter(one_time_codes::used_at.is_null())
                .filter(one_time_codes::expires_at.gt(db_now))
                .order(one_time_codes::created_at.desc())
                .select(one_time_codes::data)
                .first(conn)
                .optional()?;
            Ok(data
                .flatten()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
                .and_then(|v| v.get("email").and_then(|e| e.as_str()).map(str::to_owned)))
        })
        .await
    }
}
