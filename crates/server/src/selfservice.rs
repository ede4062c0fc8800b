//! Self-service building blocks shared by the patient pages and the command line:
//! invitations, password reset links (also the entry point of the legacy migration's
//! forced reset), security codes, and the database-backed throttles every step uses.
//!
//! Nothing here names actix: `pfid invite create` calls the same functions as the pages.

use chrono::{DateTime, Duration, Utc};
use pfid_store::accounts::Account;
use pfid_store::invitations::{Invitation, NewInvitation, PIN_PURPOSE};
use pfid_store::recovery::{NewLink, ResetFlow, CONFIRM_EMAIL, RESET_LINK};
use pfid_store::secret::{self, CodeHasher};
use pfid_store::{Store, StoreError};

use crate::config::Settings;
use crate::messages::{self, EmailKind, Vars};

/// Wrong answers (date of birth, security answer, PIN) allowed in one reset or sign-up
/// flow before it stops accepting them; also the tries of one security code.
pub const MAX_ATTEMPTS: u32 = 5;
/// How long an email confirmation link works.
pub const CONFIRM_EMAIL_LIFETIME_HOURS: i64 = 24;
/// Digits of a security code and of an invitation PIN.
pub const CODE_DIGITS: usize = 6;

/// What can go wrong in a self-service step, besides the patient's own input.
#[derive(Debug, thiserror::Error)]
pub enum SelfServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot render a message: {0}")]
    Render(#[from] askama::Error),
    #[error("the record has no email address; pass one with --email")]
    NoEmail,
    #[error("no patient record with this id")]
    NoPatient,
    #[error("{0}")]
    Config(String),
}

/// The keyed hasher for short codes, derived from the deployment key exactly as the
/// server derives it (`app::build_state`), so a PIN the command line hashed verifies on
/// every node.
pub fn code_hasher(settings: &Settings) -> Result<CodeHasher, SelfServiceError> {
    let master = crate::app::encryption_key(settings)
        .map_err(|e| SelfServiceError::Config(e.to_string()))?;
    let sealer = crate::crypto::seal::Sealer::new(master).map_err(SelfServiceError::Config)?;
    Ok(CodeHasher::new(
        &sealer
            .derive("pfid code hashing")
            .map_err(SelfServiceError::Config)?,
    ))
}

/// An invitation the office just created.
#[derive(Debug, Clone)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    /// The link emailed to the patient.
    pub url: String,
    /// The PIN the office reads to the patient (shown once, stored only hashed).
    pub pin: String,
}

/// Invites the holder of a record: writes the invitation (earlier open ones for the
/// record stop working) and queues the email with the link, in one transaction. The
/// email goes to `email`, or else to the address on the record.
pub async fn create_invitation(
    store: &Store,
    settings: &Settings,
    codes: &CodeHasher,
    patient_id: &str,
    email: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CreatedInvitation, SelfServiceError> {
    let patient = store
        .patient(patient_id)
        .await?
        .ok_or(SelfServiceError::NoPatient)?;
    let to = match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => e.to_owned(),
        None => patient.email.clone().ok_or(SelfServiceError::NoEmail)?,
    };
    pfid_store::normalize::validate_email(&to)?;
    let token = secret::new_token("")?;
    let pin = secret::random_digits(CODE_DIGITS)?;
    let url = settings.server.issuer.url(&format!("/signup/{token}"));
    let expires_at = now + settings.lifetimes.invitation.0;
    let vars = Vars {
        name: patient.first_name.clone(),
        expires: messages::human_time(expires_at),
        ..Vars::new(settings).link(url.clone())
    };
    let message = messages::email(EmailKind::Invitation, &to, &vars)?;
    let invitation = store
        .create_invitation(
            NewInvitation {
                patient_id: patient.id.clone(),
                email: to,
                token_hash: secret::digest(&token),
                pin_hash: codes.hash(PIN_PURPOSE, &pin),
                expires_at,
            },
            Some(message),
            now,
        )
        .await?;
    Ok(CreatedInvitation {
        invitation,
        url,
        pin,
    })
}

/// Why a reset link is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetKind {
    /// "Forgot password?": the link opens the reset tool, which asks the patient to
    /// prove who they are (security question, or a code sent to their phone) first.
    Forgot,
    /// A legacy account at its first login after the cut-over (seed 003): the old
    /// password was just typed correctly and the link goes to the account's mailbox, so
    /// the link leads straight to "create and confirm a new password".
    LegacyUpgrade,
}

/// Sends `account` a single-use "Reset password" link valid `lifetimes.reset_link`.
/// Earlier links of the account stop working. Completing the reset
/// (`Store::complete_password_reset`) stores argon2id, clears `legacy_password_hash`,
/// sets the account active, ends every session and token, and emails a notice.
///
/// This is the entry point for the legacy migration's forced reset: call it with
/// `ResetKind::LegacyUpgrade` from the login step, then wake the outbound worker
/// (`AppState::send_reset_link` does both).
pub async fn send_reset_link(
    store: &Store,
    settings: &Settings,
    account: &Account,
    kind: ResetKind,
    now: DateTime<Utc>,
) -> Result<(), SelfServiceError> {
    let token = secret::new_token("")?;
    let url = settings
        .server
        .issuer
        .url(&format!("/reset-password/{token}"));
    let lifetime = settings.lifetimes.reset_link.0;
    let vars = Vars {
        minutes: lifetime.num_minutes(),
        ..Vars::new(settings).link(url)
    };
    let message = messages::email(EmailKind::ResetPassword, &account.email, &vars)?;
    let flow = ResetFlow {
        verified: false,
        skip_identity: kind == ResetKind::LegacyUpgrade,
    };
    store
        .create_link(
            NewLink {
                purpose: RESET_LINK,
                account_id: account.id.clone(),
                token_hash: secret::digest(&token),
                data: serde_json::to_value(flow).unwrap_or(serde_json::Value::Null),
                expires_at: now + lifetime,
                max_attempts: MAX_ATTEMPTS,
            },
            vec![message],
            now,
        )
        .await?;
    Ok(())
}

/// Sends a confirmation link to a new email address (or, when another live login
/// already uses it, a note to that address saying nothing changed: the page answers
/// the same either way, so it reveals nothing about other logins).
pub async fn request_email_change(
    store: &Store,
    settings: &Settings,
    account: &Account,
    new_email: &str,
    now: DateTime<Utc>,
) -> Result<(), SelfServiceError> {
    let new_email = new_email.trim();
    pfid_store::normalize::validate_email(new_email)?;
    let taken = store
        .live_account_by_email(new_email)
        .await?
        .is_some_and(|other| other.id != account.id);
    let token = secret::new_token("")?;
    let lifetime = Duration::hours(CONFIRM_EMAIL_LIFETIME_HOURS);
    let message = if taken {
        let vars = Vars::new(settings).link(settings.server.issuer.url("/forgot-password"));
        messages::email(EmailKind::EmailInUse, new_email, &vars)?
    } else {
        let url = settings
            .server
            .issuer
            .url(&format!("/account/confirm-email/{token}"));
        let vars = Vars {
            minutes: lifetime.num_minutes(),
            ..Vars::new(settings).link(url)
        };
        messages::email(EmailKind::ConfirmEmail, new_email, &vars)?
    };
    store
        .create_link(
            NewLink {
                purpose: CONFIRM_EMAIL,
                account_id: account.id.clone(),
                // A taken address gets no working link: a digest of a token nobody
                // holds can never be presented.
                token_hash: if taken {
                    secret::digest(&secret::new_token("")?)
                } else {
                    secret::digest(&token)
                },
                data: serde_json::json!({"email": new_email}),
                expires_at: now + lifetime,
                max_attempts: MAX_ATTEMPTS,
            },
            vec![message],
            now,
        )
        .await?;
    Ok(())
}

/// A new security code: six random digits.
pub fn new_code() -> Result<String, StoreError> {
    secret::random_digits(CODE_DIGITS)
}

/// A throttle: at most `limit` events per `window` in the named bucket.
#[derive(Debug, Clone)]
pub struct Limit {
    pub bucket: String,
    pub limit: u32,
    pub window: Duration,
}

impl Limit {
    pub fn new(bucket: impl Into<String>, limit: u32, window: Duration) -> Limit {
        Limit {
            bucket: bucket.into(),
            limit,
            window,
        }
    }
}

/// Counts one event against every limit; true when any of them is now exceeded. The
/// counters live in the database, so every node throttles alike.
pub async fn hit_all(
    store: &Store,
    limits: &[Limit],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut over = false;
    for l in limits {
        over |= store
            .rate_hit(&l.bucket, now, l.window)
            .await?
            .exceeds(l.limit);
    }
    Ok(over)
}

/// Whether any limit is already used up, without counting an event (for steps that
/// count only failures).
pub async fn any_spent(
    store: &Store,
    limits: &[Limit],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    for l in limits {
        if store.rate_peek(&l.bucket, now, l.window).await?.hits >= l.limit {
            return Ok(true);
        }
    }
    Ok(false)
}

impl crate::app::AppState {
    /// `send_reset_link` with this server's store, settings and clock, then wakes the
    /// outbound worker so the email leaves at once.
    pub async fn send_reset_link(
        &self,
        account: &Account,
        kind: ResetKind,
    ) -> Result<(), SelfServiceError> {
        send_reset_link(&self.store, &self.settings, account, kind, self.now()).await?;
        self.outbox_wakeup.wake();
        Ok(())
    }
}
