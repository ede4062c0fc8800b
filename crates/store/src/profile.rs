//! What a patient changes on their account page: username, password, phone, security
//! question, notification preferences. (Email changes go through a confirmation link:
//! `recovery::CONFIRM_EMAIL`; deactivation is `Store::deactivate_account`.)

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::accounts::{load_account, Account, AccountStatus};
use crate::error::{StoreError, StoreResult};
use crate::outbox::{enqueue_in, NewMessage};
use crate::schema::accounts;
use crate::{audit, normalize, time, Store};

fn active(conn: &mut crate::db::DbConn, id: &str) -> StoreResult<Account> {
    let account = load_account(conn, id)?.ok_or(StoreError::NotFound)?;
    if account.status != AccountStatus::Active {
        return Err(StoreError::Conflict("account_status".into()));
    }
    Ok(account)
}

impl Store {
    /// Renames a login. Another login's username, whatever its case, is a
    /// `Conflict("username")`.
    pub async fn change_username(
        &self,
        account_id: &str,
        username: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Account> {
        normalize::validate_username(username)?;
        let (id, username) = (account_id.to_owned(), username.trim().to_owned());
        let db_now = time::to_db(now);
        self.write(move |conn| {
            active(conn, &id)?;
            diesel::update(accounts::table.find(&id))
                .set((
                    accounts::username.eq(&username),
                    accounts::username_normalized.eq(normalize::username(&username)),
                    accounts::updated_at.eq(db_now),
                ))
                .execute(conn)?;
            audit::record_in(
                conn,
                &audit::AuditEvent::new("username_changed").account(&id),
                now,
            )?;
            load_account(conn, &id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Replaces the password of a signed-in patient who typed the current one. Every
    /// session of the login ends (the caller starts a fresh one for this browser), and
    /// `notice` is queued.
    pub async fn change_password(
        &self,
        account_id: &str,
        password_hash: String,
        notice: Option<NewMessage>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let id = account_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            active(conn, &id)?;
            diesel::update(accounts::table.find(&id))
                .set((
                    accounts::password_hash.eq(Some(&password_hash)),
                    accounts::legacy_password_hash.eq(None::<String>),
                    accounts::password_changed_at.eq(Some(db_now)),
                    accounts::updated_at.eq(db_now),
                ))
                .execute(conn)?;
            crate::sessions::end_all_in(conn, &id, db_now)?;
            if let Some(msg) = &notice {
                enqueue_in(conn, msg, now)?;
            }
            audit::record_in(
                conn,
                &audit::AuditEvent::new("password_changed").account(&id),
                now,
            )?;
            Ok(())
        })
        .await
    }

    /// Sets (or clears, with None) the login's contact phone.
    pub async fn set_account_phone(
        &self,
        account_id: &str,
        phone: Option<String>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        if let Some(p) = &phone {
            normalize::validate_phone(p)?;
        }
        let id = account_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            active(conn, &id)?;
            diesel::update(accounts::table.find(&id))
                .set((
                    accounts::phone.eq(phone.map(|p| p.trim().to_owned())),
                    accounts::updated_at.eq(db_now),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Replaces the security question and its answer (argon2id of the normalised answer).
    pub async fn set_security_question(
        &self,
        account_id: &str,
        question: &str,
        answer_hash: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let question = question.trim().to_owned();
        if question.is_empty() || question.chars().count() > 200 {
            return Err(StoreError::Invalid(
                "a security question has 1 to 200 characters".into(),
            ));
        }
        let id = account_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            active(conn, &id)?;
            diesel::update(accounts::table.find(&id))
                .set((
                    accounts::security_question.eq(Some(&question)),
                    accounts::security_answer_hash.eq(Some(&answer_hash)),
                    accounts::updated_at.eq(db_now),
                ))
                .execute(conn)?;
            audit::record_in(
                conn,
                &audit::AuditEvent::new("security_question_changed").account(&id),
                now,
            )?;
            Ok(())
        })
        .await
    }

    /// Which notifications the patient wants: by email, by text message.
    pub async fn set_notification_preferences(
        &self,
        account_id: &str,
        by_email: bool,
        by_sms: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let id = account_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            active(conn, &id)?;
            diesel::update(accounts::table.find(&id))
                .set((
                    accounts::notify_email.eq(by_email),
                    accounts::notify_sms.eq(by_sms),
                    accounts::updated_at.eq(db_now),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }
}
