//! Invitations to the portal: an office invites the holder of one record, the patient
//! follows the emailed link, proves who they are and creates a login (or adds the record
//! to the login they already have). The link token and the PIN are stored only as hashes.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::accounts::{link_records, Account, AccountStatus, NewAccount, Relationship};
use crate::error::{StoreError, StoreResult};
use crate::outbox::{enqueue_in, NewMessage};
use crate::patients::Patient;
use crate::rows::{AccountRow, PatientRow};
use crate::schema::{account_patients, accounts, invitations, patients};
use crate::{audit, normalize, secret, time, Store};

/// One invitation, as the sign-up pages see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub patient_id: String,
    /// Where the link was sent; the new login's email.
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the patient proved who they are (date of birth and PIN or code).
    pub verified_at: Option<DateTime<Utc>>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The login the invitation ended in, once used.
    pub account_id: Option<String>,
}

/// Whether an invitation still opens the sign-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Open,
    Expired,
    Used,
    Revoked,
}

impl Invitation {
    pub fn state(&self, now: DateTime<Utc>) -> InvitationState {
        if self.revoked_at.is_some() {
            InvitationState::Revoked
        } else if self.used_at.is_some() {
            InvitationState::Used
        } else if self.expires_at <= now {
            InvitationState::Expired
        } else {
            InvitationState::Open
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations, treat_none_as_default_value = false)]
struct InvitationRow {
    id: String,
    patient_id: String,
    email: String,
    token_hash: String,
    pin_hash: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    verified_at: Option<NaiveDateTime>,
    used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
    account_id: Option<String>,
}

impl From<InvitationRow> for Invitation {
    fn from(r: InvitationRow) -> Self {
        Invitation {
            id: r.id,
            patient_id: r.patient_id,
            email: r.email,
            created_at: time::from_db(r.created_at),
            expires_at: time::from_db(r.expires_at),
            verified_at: r.verified_at.map(time::from_db),
            used_at: r.used_at.map(time::from_db),
            revoked_at: r.revoked_at.map(time::from_db),
            account_id: r.account_id,
        }
    }
}

/// An invitation to write. The caller generates the link token and the PIN (it needs
/// them in clear for the email and for the office) and passes their hashes.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub patient_id: String,
    pub email: String,
    /// `secret::digest` of the link token.
    pub token_hash: String,
    /// `CodeHasher::hash(PIN_PURPOSE, pin)`.
    pub pin_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// The purpose an invitation PIN is hashed under.
pub const PIN_PURPOSE: &str = "invitation_pin";

/// What `revoke_patient_access` ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Revoked {
    /// Logins that could see the record and no longer can.
    pub links: usize,
    /// Open invitations for the record that no longer work.
    pub invitations: usize,
}

fn open_invitation(
    conn: &mut crate::db::DbConn,
    id: &str,
    now: DateTime<Utc>,
) -> StoreResult<InvitationRow> {
    let row: InvitationRow = invitations::table
        .find(id)
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound)?;
    match Invitation::from(row.clone()).state(now) {
        InvitationState::Open => Ok(row),
        _ => Err(StoreError::Conflict("invitation_closed".into())),
    }
}

impl Store {
    /// Writes an invitation and queues its email in the same transaction, so the office
    /// never holds an invitation whose email was lost. Open invitations for the same
    /// record stop working: the newest link is the one the patient should follow.
    pub async fn create_invitation(
        &self,
        new: NewInvitation,
        email: Option<NewMessage>,
        now: DateTime<Utc>,
    ) -> StoreResult<Invitation> {
        normalize::validate_email(&new.email)?;
        let db_now = time::to_db(now);
        let row = InvitationRow {
            id: secret::new_id()?,
            patient_id: new.patient_id,
            email: new.email.trim().to_owned(),
            token_hash: new.token_hash,
            pin_hash: new.pin_hash,
            created_at: db_now,
            expires_at: time::to_db(new.expires_at),
            verified_at: None,
            used_at: None,
            revoked_at: None,
            account_id: None,
        };
        self.write(move |conn| {
            let exists: i64 = patients::table
                .find(&row.patient_id)
                .count()
                .get_result(conn)?;
            if exists == 0 {
                return Err(StoreError::NotFound);
            }
            diesel::update(invitations::table)
                .filter(invitations::patient_id.eq(&row.patient_id))
                .filter(invitations::used_at.is_null())
                .filter(invitations::revoked_at.is_null())
                .set(invitations::revoked_at.eq(db_now))
                .execute(conn)?;
            diesel::insert_into(invitations::table)
                .values(&row)
                .execute(conn)?;
            if let Some(msg) = &email {
                enqueue_in(conn, msg, now)?;
            }
            audit::record_in(
                conn,
                &audit::AuditEvent::new("invitation_created").detail(
                    serde_json::json!({"patient_id": row.patient_id, "invitation_id": row.id}),
                ),
                now,
            )?;
            Ok(Invitation::from(row))
        })
        .await
    }

    /// The invitation a link names, whatever its state, with its record.
    pub async fn invitation_by_token(
        &self,
        token: &str,
    ) -> StoreResult<Option<(Invitation, Patient)>> {
        let hash = secret::digest(token);
        self.read(move |conn| {
            let row: Option<(InvitationRow, PatientRow)> = invitations::table
                .inner_join(patients::table)
                .filter(invitations::token_hash.eq(hash))
                .select((InvitationRow::as_select(), PatientRow::as_select()))
                .first(conn)
                .optional()?;
            Ok(row.map(|(i, p)| (Invitation::from(i), Patient::from(p))))
        })
        .await
    }

    /// Checks a typed PIN's keyed hash against the invitation's, in constant time.
    pub async fn invitation_pin_matches(
        &self,
        invitation_id: &str,
        pin_hash: &str,
    ) -> StoreResult<bool> {
        let (id, typed) = (invitation_id.to_owned(), pin_hash.to_owned());
        self.read(move |conn| {
            let stored: Option<String> = invitations::table
                .find(id)
                .select(invitations::pin_hash)
                .first(conn)
                .optional()?;
            Ok(stored.is_some_and(|s| secret::equal(&s, &typed)))
        })
        .await
    }

    /// Notes that the patient proved who they are; the account step may follow.
    pub async fn mark_invitation_verified(
        &self,
        invitation_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let id = invitation_id.to_owned();
        self.write(move |conn| {
            open_invitation(conn, &id, now)?;
            diesel::update(invitations::table.find(&id))
                .set(invitations::verified_at.eq(time::to_db(now)))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Creates the login an invitation leads to, all or nothing: the invitation must
    /// still be open and verified; the login gets the record as its own and the
    /// invitation is used up. A `Conflict` names "username", "email" or
    /// "invitation_closed"; `Invalid` means the invitation was not verified.
    pub async fn accept_invitation(
        &self,
        invitation_id: &str,
        mut new: NewAccount,
        now: DateTime<Utc>,
    ) -> StoreResult<Account> {
        let id = invitation_id.to_owned();
        self.write(move |conn| {
            let inv = open_invitation(conn, &id, now)?;
            if inv.verified_at.is_none() {
                return Err(StoreError::Invalid("the invitation is not verified".into()));
            }
            new.email = inv.email.clone();
            new.email_verified = true;
            new.own_patient = Some(inv.patient_id.clone());
            let account = crate::accounts::insert_account(conn, &new, now)?;
            diesel::update(invitations::table.find(&id))
                .set((
                    invitations::used_at.eq(time::to_db(now)),
                    invitations::account_id.eq(&account.id),
                ))
                .execute(conn)?;
            audit::record_in(
                conn,
                &audit::AuditEvent::new("signup")
                    .account(&account.id)
                    .detail(serde_json::json!({"invitation_id": id})),
                now,
            )?;
            Ok(account)
        })
        .await
    }

    /// Adds an invitation's record to an existing login (seed 004: one login, the
    /// records of a family) and uses the invitation up. The login's email must be the
    /// one the invitation was sent to: following the link proved that mailbox, and
    /// signing in proved the login. A login has at most one record of its own, so
    /// `Relationship::Own` is refused when it already has one (`Conflict("self_record")`).
    pub async fn link_invitation_to_account(
        &self,
        invitation_id: &str,
        account_id: &str,
        relationship: Relationship,
        now: DateTime<Utc>,
    ) -> StoreResult<Patient> {
        let (id, account_id) = (invitation_id.to_owned(), account_id.to_owned());
        self.write(move |conn| {
            let inv = open_invitation(conn, &id, now)?;
            let account =
                crate::accounts::load_account(conn, &account_id)?.ok_or(StoreError::NotFound)?;
            if normalize::email(&account.email) != normalize::email(&inv.email)
                || account.status != AccountStatus::Active
            {
                return Err(StoreError::Conflict("invitation_email".into()));
            }
            link_records(
                conn,
                &account_id,
                &[(inv.patient_id.clone(), relationship)],
                now,
            )?;
            diesel::update(invitations::table.find(&id))
                .set((
                    invitations::used_at.eq(time::to_db(now)),
                    invitations::account_id.eq(&account_id),
                ))
                .execute(conn)?;
            audit::record_in(
                conn,
                &audit::AuditEvent::new("record_linked")
                    .account(&account_id)
                    .detail(serde_json::json!({"invitation_id": id, "patient_id": inv.patient_id})),
                now,
            )?;
            let patient: PatientRow = patients::table
                .find(&inv.patient_id)
                .select(PatientRow::as_select())
                .first(conn)?;
            Ok(Patient::from(patient))
        })
        .await
    }

    /// Ends portal access to a record: every login stops seeing it, every token those
    /// logins granted ends (an app may hold the record's data in its context), and its
    /// open invitations stop working. The record itself stays with the provider.
    pub async fn revoke_patient_access(
        &self,
        patient_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Revoked> {
        let patient_id = patient_id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let exists: i64 = patients::table.find(&patient_id).count().get_result(conn)?;
            if exists == 0 {
                return Err(StoreError::NotFound);
            }
            let holders: Vec<String> = account_patients::table
                .filter(account_patients::patient_id.eq(&patient_id))
                .select(account_patients::account_id)
                .load(conn)?;
            let links = diesel::delete(
                account_patients::table.filter(account_patients::patient_id.eq(&patient_id)),
            )
            .execute(conn)?;
            for account_id in &holders {
                crate::grants::revoke_tokens_of(conn, account_id, None, db_now)?;
            }
            let invitations = diesel::update(invitations::table)
                .filter(invitations::patient_id.eq(&patient_id))
                .filter(invitations::used_at.is_null())
                .filter(invitations::revoked_at.is_null())
                .set(invitations::revoked_at.eq(db_now))
                .execute(conn)?;
            audit::record_in(
                conn,
                &audit::AuditEvent::new("record_access_revoked").detail(serde_json::json!({
                    "patient_id": patient_id, "links": links, "invitations": invitations
                })),
                now,
            )?;
            Ok(Revoked { links, invitations })
        })
        .await
    }

    /// The live login (active or awaiting its legacy reset) that uses an email, if any.
    pub async fn live_account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        let email = normalize::email(email);
        self.read(move |conn| {
            accounts::table
                .filter(accounts::email_normalized.eq(email))
                .filter(
                    accounts::status
                        .eq(AccountStatus::Active.as_str())
                        .or(accounts::status.eq(AccountStatus::MustReset.as_str())),
                )
                .select(AccountRow::as_select())
                .first(conn)
                .optional()?
                .map(Account::try_from)
                .transpose()
        })
        .await
    }
}
