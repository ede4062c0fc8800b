//! Pieces the self-service pages share: reading a typed date of birth, checking a typed
//! phone against a record, a new password against the rule, hashing off the event loop,
//! and the throttles of each step. The wording never says whether an account, an email
//! or a phone number exists.

use actix_web::HttpRequest;
use chrono::{Duration, NaiveDate};
use pfid_store::recovery::NewSecurityCode;
use pfid_store::{normalize, password};

use crate::app::AppState;
use crate::http::errors::PageError;
use crate::messages::{self, PhoneChannel};
use crate::selfservice::{self, Limit};

/// Shown when a step was tried too often.
pub const TOO_MANY: &str =
    "Too many attempts. For your security this step is paused; please try again in an hour.";
/// Shown when a form's CSRF token is missing or stale.
pub const EXPIRED_FORM: &str = "This page expired. Please try again.";
/// Shown after a code was requested, whether or not the phone matched the record.
pub const CODE_SENT: &str = "If this number matches the one on your record, a security code is on its way. It works for 10 minutes.";

/// Reads "YYYY/MM/DD" (also "YYYY-MM-DD"), as typed into "Date of Birth (YYYY/MM/DD)".
pub fn parse_birth_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    NaiveDate::parse_from_str(raw, "%Y/%m/%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%Y-%m-%d"))
        .ok()
}

/// Whether a typed phone number is the one on a record (digits compared, country code
/// of North America ignored).
pub fn phone_matches(typed: &str, on_record: Option<&str>) -> bool {
    let typed = pfid_store::normalize::phone(typed);
    match on_record {
        Some(r) => {
            let r = pfid_store::normalize::phone(r);
            !typed.is_empty() && pfid_store::secret::equal(&typed, &r)
        }
        None => false,
    }
}

/// Checks a new password and its retyped copy against the one rule; the error is the
/// sentence to show.
pub fn check_new_password(password: &str, retyped: &str) -> Result<(), String> {
    let missing = password::rule_violations(password);
    if !missing.is_empty() {
        return Err(password::describe_violations(&missing));
    }
    if password != retyped {
        return Err("The two passwords are not the same. Please type them again.".into());
    }
    Ok(())
}

/// argon2id of a password, on the blocking pool.
pub async fn hash_password(state: &AppState, password: String) -> Result<String, PageError> {
    let hasher = state.passwords.clone();
    state
        .password_work(move || hasher.hash(&password))
        .await
        .map_err(PageError::internal)?
        .map_err(PageError::internal)
}

/// Verifies a password or security answer against a stored hash on the blocking pool;
/// with no hash, spends the same time and answers false.
pub async fn verify_secret(
    state: &AppState,
    stored: Option<String>,
    typed: String,
) -> Result<bool, PageError> {
    let hasher = state.passwords.clone();
    state
        .password_work(move || match stored {
            Some(s) => hasher.verify(&s, &typed),
            None => hasher.verify_nothing(&typed),
        })
        .await
        .map_err(PageError::internal)
}

/// The client's address for per-address throttles ("unknown" when there is none).
pub fn address(state: &AppState, req: &HttpRequest) -> String {
    crate::http::client_ip(req, state.settings.server.trust_forwarded_for)
        .unwrap_or_else(|| "unknown".into())
}

/// The window of every self-service throttle.
pub fn hour() -> Duration {
    Duration::hours(1)
}

/// Limits on sending anything (an email, a code) for one step: per address and per
/// target (a username, an email address, a phone number, a flow).
pub fn send_limits(step: &str, ip: &str, targets: &[(&str, &str)]) -> Vec<Limit> {
    let mut v = vec![Limit::new(format!("{step}:ip:{ip}"), 20, hour())];
    for (kind, value) in targets {
        v.push(Limit::new(format!("{step}:{kind}:{value}"), 5, hour()));
    }
    v
}

/// Limits on wrong answers (date of birth, security answer, PIN, code) for one step:
/// per address, and per account or flow.
pub fn failure_limits(step: &str, ip: &str, targets: &[(&str, &str)]) -> Vec<Limit> {
    let mut v = vec![Limit::new(format!("{step}:fail:ip:{ip}"), 30, hour())];
    for (kind, value) in targets {
        v.push(Limit::new(
            format!("{step}:fail:{kind}:{value}"),
            10,
            Duration::hours(24),
        ));
    }
    v
}

/// Counts one wrong answer against each limit.
pub async fn count_failure(state: &AppState, limits: &[Limit]) -> Result<(), PageError> {
    crate::selfservice::hit_all(&state.store, limits, state.now()).await?;
    Ok(())
}

/// The flow a text or voice security code belongs to (a sign-up or a password reset).
pub struct CodeFlow<'a> {
    /// `SIGNUP_CODE` or `RESET_CODE`.
    pub purpose: &'static str,
    /// The throttle's step name and the key the flow is counted under.
    pub step: &'static str,
    pub flow_key: &'static str,
    /// The invitation's or reset link's id.
    pub subject: &'a str,
    pub account_id: Option<&'a str>,
    /// The phone on the patient's record: the only number a code is ever sent to.
    pub on_record: Option<&'a str>,
}

/// Sends a new code for `flow` to the phone on record when `typed` matches it (or, with
/// nothing typed, when the record has a phone), within the step's limits. Answers
/// `true` when the limits were hit. Whether a code went out is never told: the page
/// reads the same for a wrong number.
pub async fn send_security_code(
    state: &AppState,
    req: &HttpRequest,
    flow: CodeFlow<'_>,
    typed: Option<&str>,
    channel: PhoneChannel,
) -> Result<bool, PageError> {
    let now = state.now();
    let ip = address(state, req);
    let phone_key = normalize::phone(typed.or(flow.on_record).unwrap_or(""));
    let limits = send_limits(
        flow.step,
        &ip,
        &[(flow.flow_key, flow.subject), ("phone", &phone_key)],
    );
    if selfservice::hit_all(&state.store, &limits, now).await? {
        return Ok(true);
    }
    let matches = match typed {
        Some(t) => phone_matches(t, flow.on_record),
        None => flow.on_record.is_some(),
    };
    if let (true, Some(phone)) = (matches, flow.on_record) {
        let code = selfservice::new_code()?;
        let lifetime = state.settings.lifetimes.security_code.0;
        let message = messages::security_code(
            channel,
            phone,
            &code,
            lifetime.num_minutes(),
            &state.settings,
        )
        .map_err(PageError::internal)?;
        state
            .store
            .issue_security_code(
                NewSecurityCode {
                    purpose: flow.purpose,
                    subject: flow.subject.to_owned(),
                    account_id: flow.account_id.map(str::to_owned),
                    code_hash: state.codes.hash(flow.purpose, &code),
                    expires_at: now + lifetime,
                    max_attempts: selfservice::MAX_ATTEMPTS,
                },
                message,
                now,
            )
            .await?;
        state.outbox_wakeup.wake();
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates_read_both_separators() {
        assert_eq!(
            parse_birth_date(" 1980/04/02 "),
            NaiveDate::from_ymd_opt(1980, 4, 2)
        );
        assert_eq!(
            parse_birth_date("1980-04-02"),
            NaiveDate::from_ymd_opt(1980, 4, 2)
        );
        assert_eq!(parse_birth_date("04/02/1980"), None);
        assert_eq!(parse_birth_date(""), None);
    }

    #[test]
    fn phones_match_by_digits_only() {
        assert!(phone_matches("+1 (555) 010-2000", Some("555-010-2000")));
        assert!(!phone_matches("555-010-2001", Some("555-010-2000")));
        assert!(!phone_matches("", Some("")));
        assert!(!phone_matches("555-010-2000", None));
    }

    #[test]
    fn new_passwords_follow_the_rule_and_match() {
        assert!(check_new_password("Zebra-Lamp-8", "Zebra-Lamp-8").is_ok());
        assert!(check_new_password("Zebra-Lamp-8", "Zebra-Lamp-9").is_err());
        assert!(check_new_password("short", "short")
            .unwrap_err()
            .contains("at least 8 characters"));
        assert!(check_new_password("Password1", "Password1")
            .unwrap_err()
            .contains("most used"));
    }
}
