//! Logins: the account that signs in, and the records it may see.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::on_backend;
use crate::error::{StoreError, StoreResult};
use crate::patients::Patient;
use crate::rows::{AccountPatientRow, AccountRow, PatientRow};
use crate::schema::{account_patients, accounts, patients};
use crate::{normalize, time, Store};

/// Where an account stands. Only `Active` signs in normally; `MustReset` holds a legacy
/// password that must be replaced after the cut-over; `NeedsNewAccount` is a legacy login
/// whose email another account shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    MustReset,
    NeedsNewAccount,
    Deactivated,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::MustReset => "must_reset",
            AccountStatus::NeedsNewAccount => "needs_new_account",
            AccountStatus::Deactivated => "deactivated",
        }
    }

    pub fn parse(s: &str) -> StoreResult<Self> {
        Ok(match s {
            "active" => AccountStatus::Active,
            "must_reset" => AccountStatus::MustReset,
            "needs_new_account" => AccountStatus::NeedsNewAccount,
            "deactivated" => AccountStatus::Deactivated,
            other => {
                return Err(StoreError::Invalid(format!(
                    "unknown account status {other}"
                )))
            }
        })
    }
}

/// How a login relates to a record it may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    /// The login holder's own record (at most one per login).
    Own,
    Guardian,
    Proxy,
}

impl Relationship {
    pub fn as_str(self) -> &'static str {
        match self {
            Relationship::Own => "self",
            Relationship::Guardian => "guardian",
            Relationship::Proxy => "proxy",
        }
    }

    pub fn parse(s: &str) -> StoreResult<Self> {
        Ok(match s {
            "self" => Relationship::Own,
            "guardian" => Relationship::Guardian,
            "proxy" => Relationship::Proxy,
            other => return Err(StoreError::Invalid(format!("unknown relationship {other}"))),
        })
    }
}

/// A login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Stable, opaque, never reassigned: the OpenID Connect `sub`.
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub legacy_password_hash: Option<String>,
    pub security_question: Option<String>,
    pub security_answer_hash: Option<String>,
    pub status: AccountStatus,
    pub legacy_id: Option<String>,
    pub notify_email: bool,
    pub notify_sms: bool,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> StoreResult<Self> {
        Ok(Account {
            status: AccountStatus::parse(&r.status)?,
            id: r.id,
            username: r.username,
            email: r.email,
            email_verified: r.email_verified,
            phone: r.phone,
            password_hash: r.password_hash,
            legacy_password_hash: r.legacy_password_hash,
            security_question: r.security_question,
            security_answer_hash: r.security_answer_hash,
            legacy_id: r.legacy_id,
            notify_email: r.notify_email,
            notify_sms: r.notify_sms,
            password_changed_at: r.password_changed_at.map(time::from_db),
            created_at: time::from_db(r.created_at),
            updated_at: time::from_db(r.updated_at),
        })
    }
}

/// An active login to create, with the records it may see.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub phone: Option<String>,
    /// An argon2id PHC string (hash before calling: hashing is not the store's
    /// transaction's business and must not hold the writer).
    pub password_hash: String,
    pub security_question: Option<String>,
    pub security_answer_hash: Option<String>,
    /// The holder's own record.
    pub own_patient: Option<String>,
    /// Family records the login looks after.
    pub linked_patients: Vec<(String, Relationship)>,
}

impl NewAccount {
    pub fn validate(&self) -> StoreResult<()> {
        normalize::validate_username(&self.username)?;
        normalize::validate_email(&self.email)?;
        if let Some(phone) = &self.phone {
            normalize::validate_phone(phone)?;
        }
        if self.security_question.is_some() != self.security_answer_hash.is_some() {
            return Err(StoreError::Invalid(
                "a security question needs its answer".into(),
            ));
        }
        if self
            .linked_patients
            .iter()
            .any(|(_, r)| *r == Relationship::Own)
        {
            return Err(StoreError::Invalid(
                "the holder's own record goes in own_patient".into(),
            ));
        }
        Ok(())
    }
}

pub(crate) fn load_account(conn: &mut crate::db::DbConn, id: &str) -> StoreResult<Option<Account>> {
    on_backend!(conn, |c| accounts::table
        .find(id)
        .select(AccountRow::as_select())
        .first(c)
        .optional())?
    .map(Account::try_from)
    .transpose()
}

/// Links `account_id` to each record, checking first that the record exists so the
/// caller gets "no such patient" rather than a foreign-key error.
pub(crate) fn link_records(
    conn: &mut crate::db::DbConn,
    account_id: &str,
    links: &[(String, Relationship)],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    for (patient_id, relationship) in links {
        let exists: i64 = patients::table
            .filter(patients::id.eq(patient_id))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Err(StoreError::Invalid(format!(
                "no patient record with id {patient_id}"
            )));
        }
        let already: i64 = account_patients::table
            .filter(account_patients::account_id.eq(account_id))
            .filter(account_patients::patient_id.eq(patient_id))
            .count()
            .get_result(conn)?;
        if already > 0 {
            continue;
        }
        diesel::insert_into(account_patients::table)
            .values(AccountPatientRow {
                account_id: account_id.to_owned(),
                patient_id: patient_id.clone(),
                relationship: relationship.as_str().to_owned(),
                created_at: time::to_db(now),
            })
            .execute(conn)?;
    }
    Ok(())
}

/// Inserts an active login and links its records inside a caller's transaction.
pub(crate) fn insert_account(
    conn: &mut crate::db::DbConn,
    new: &NewAccount,
    now: DateTime<Utc>,
) -> StoreResult<Account> {
    new.validate()?;
    let db_now = time::to_db(now);
    let row = AccountRow {
        id: uuid::Uuid::new_v4().to_string(),
        username: new.username.trim().to_owned(),
        username_normalized: normalize::username(&new.username),
        email: new.email.trim().to_owned(),
        email_normalized: normalize::email(&new.email),
        email_verified: new.email_verified,
        phone: new.phone.clone(),
        password_hash: Some(new.password_hash.clone()),
        legacy_password_hash: None,
        security_question: new.security_question.clone(),
        security_answer_hash: new.security_answer_hash.clone(),
        status: AccountStatus::Active.as_str().to_owned(),
        legacy_id: None,
        legacy_created_at: None,
        notify_email: true,
        notify_sms: false,
        password_changed_at: Some(db_now),
        created_at: db_now,
        updated_at: db_now,
    };
    let mut links: Vec<(String, Relationship)> = new
        .own_patient
        .iter()
        .map(|p| (p.clone(), Relationship::Own))
        .collect();
    links.extend(new.linked_patients.iter().cloned());
    diesel::insert_into(accounts::table)
        .values(&row)
        .execute(conn)?;
    link_records(conn, &row.id, &links, now)?;
    Account::try_from(row)
}

impl Store {
    /// Creates an active login and links its records, all or nothing. A username that
    /// differs only in case from another, or an email another live login uses, is a
    /// `Conflict` naming "username" or "email".
    pub async fn create_account(
        &self,
        new: NewAccount,
        now: DateTime<Utc>,
    ) -> StoreResult<Account> {
        new.validate()?;
        self.write(move |conn| insert_account(conn, &new, now))
            .await
    }

    pub async fn account(&self, id: &str) -> StoreResult<Option<Account>> {
        let id = id.to_owned();
        self.read(move |conn| load_account(conn, &id)).await
    }

    /// The account a login form names: by username first, then by email among live
    /// accounts (where an email is unique). Legacy accounts flagged for sharing an email
    /// are found by username, or by email when the address is theirs alone.
    pub async fn find_account_for_login(&self, login: &str) -> StoreResult<Option<Account>> {
        let username = normalize::username(login);
        let email = normalize::email(login);
        self.read(move |conn| {
            if let Some(row) = accounts::table
                .filter(accounts::username_normalized.eq(&username))
                .select(AccountRow::as_select())
                .first(conn)
                .optional()?
            {
                return Account::try_from(row).map(Some);
            }
            if !email.contains('@') {
                return Ok(None);
            }
            let mut rows: Vec<AccountRow> = accounts::table
                .filter(accounts::email_normalized.eq(&email))
                .filter(accounts::status.ne(AccountStatus::Deactivated.as_str()))
                .select(AccountRow::as_select())
                .limit(2)
                .load(conn)?;
            let live = rows
                .iter()
                .position(|r| r.status == "active" || r.status == "must_reset");
            match (live, rows.len()) {
                (Some(i), _) => Account::try_from(rows.swap_remove(i)).map(Some),
                (None, 1) => rows.pop().map(Account::try_from).transpose(),
                _ => Ok(None),
            }
        })
        .await
    }

    /// The legacy logins flagged for sharing `email` (seed 003), at most `limit` of
    /// them: when such a patient types the shared address rather than their username,
    /// the login page still owes them the "ask your provider" answer.
    pub async fn shared_email_logins(&self, email: &str, limit: i64) -> StoreResult<Vec<Account>> {
        let email = normalize::email(email);
        self.read(move |conn| {
            accounts::table
                .filter(accounts::email_normalized.eq(&email))
                .filter(accounts::status.eq(AccountStatus::NeedsNewAccount.as_str()))
                .order(accounts::id)
                .limit(limit)
                .select(AccountRow::as_select())
                .load(conn)?
                .into_iter()
                .map(Account::try_from)
                .collect()
        })
        .await
    }

    /// Every record the account may see, its own first, then by name.
    pub async fn linked_patients(
        &self,
        account_id: &str,
    ) -> StoreResult<Vec<(Patient, Relationship)>> {
        let account_id = account_id.to_owned();
        self.read(move |conn| {
            let rows: Vec<(PatientRow, String)> = account_patients::table
                .inner_join(patients::table)
                .filter(account_patients::account_id.eq(account_id))
                .select((PatientRow::as_select(), account_patients::relationship))
                .load(conn)?;
            let mut out = rows
                .into_iter()
                .map(|(p, r)| Ok((Patient::from(p), Relationship::parse(&r)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            out.sort_by(|(a, ra), (b, rb)| {
                (*rb == Relationship::Own)
                    .cmp(&(*ra == Relationship::Own))
                    .then_with(|| (&a.last_name, &a.first_name).cmp(&(&b.last_name, &b.first_name)))
            });
            Ok(out)
        })
        .await
    }

    /// Deactivates a login: it can no longer sign in, every session ends and every token
    /// it granted is revoked at once. Its records stay with the provider.
    pub async fn deactivate_account(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let id = id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let n = diesel::update(accounts::table.find(&id))
                .set((
                    accounts::status.eq(AccountStatus::Deactivated.as_str()),
                    accounts::updated_at.eq(db_now),
                ))
                .execute(conn)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            crate::sessions::end_all_in(conn, &id, db_now)?;
            crate::grants::revoke_tokens_of(conn, &id, None, db_now)?;
            Ok(())
        })
        .await
    }

    /// The login holder's own record, which supplies name, birth date and phone claims.
    pub async fn own_patient(&self, account_id: &str) -> StoreResult<Option<Patient>> {
        let account_id = account_id.to_owned();
        self.read(move |conn| load_own_patient(conn, &account_id))
            .await
    }

    /// An account with its holder's own record, read on one pooled connection in one
    /// hand-over to the blocking pool (the userinfo endpoint's question).
    pub async fn account_with_own_patient(
        &self,
        id: &str,
    ) -> StoreResult<Option<(Account, Option<Patient>)>> {
        let id = id.to_owned();
        self.read(move |conn| {
            let Some(account) = load_account(conn, &id)? else {
                return Ok(None);
            };
            let own = load_own_patient(conn, &id)?;
            Ok(Some((account, own)))
        })
        .await
    }
}

fn load_own_patient(
    conn: &mut crate::db::DbConn,
    account_id: &str,
) -> StoreResult<Option<Patient>> {
    Ok(on_backend!(conn, |c| account_patients::table
        .inner_join(patients::table)
        .filter(account_patients::account_id.eq(account_id))
        .filter(account_patients::relationship.eq(Relationship::Own.as_str()))
        .select(PatientRow::as_select())
        .first(c)
        .optional())?
    .map(Patient::from))
}
