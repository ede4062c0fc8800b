//! The login page (SPEC labels: "Username", "Password", "Log in", "Forgot password?",
//! "Forgot username?"). Logging out lives in `logout.rs`.
//!
//! Every failure reads "Incorrect email or password" and costs one password
//! verification, whether or not the account exists. Failures are counted per login name
//! and per client address in the database, so every node throttles alike.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use pfid_store::accounts::{Account, AccountStatus};
use pfid_store::audit::AuditEvent;
use pfid_store::normalize;
use pfid_store::sessions::ClientInfo;

use crate::app::AppState;
use crate::http::errors::PageError;
use crate::http::pages::{self, LoginPage};
use crate::http::{client_ip, session, user_agent};
use crate::metrics::Event;
use crate::selfservice::ResetKind;

pub const INCORRECT: &str = "Incorrect email or password";
pub const THROTTLED: &str =
    "Too many failed attempts. Please wait 15 minutes and try again, or reset your password.";
/// Seed 003, graphic 1: the first login of a legacy account after the cut-over.
pub const LEGACY_RESET_SENT: &str = "We have upgraded the Patient Fusion login system. A password reset email has been sent \
     to the email address linked to your Patient Fusion account. Follow the link in it to create a new password, \
     then log in again.";
pub const NEEDS_NEW_ACCOUNT: &str =
    "Please ask your healthcare provider to create a new Patient Fusion account for you";
/// How many logins sharing one email the login page checks a password against: enough
/// for a family, few enough that one attempt stays cheap.
const MAX_SHARED_EMAIL_LOGINS: i64 = 8;
const EXPIRED_FORM: &str = "This page expired. Please try again.";

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

fn safe_return(return_to: Option<&str>) -> String {
    match return_to {
        Some(r) if crate::http::authorize::is_safe_return(r) => r.to_owned(),
        _ => "/account".to_owned(),
    }
}

/// Renders the login form with an optional message.
fn form(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    return_to: &str,
    username: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> HttpResponse {
    let token = state.csrf.issue(req);
    let page = LoginPage {
        product: state.product(),
        csrf_token: &token.token,
        return_to,
        username,
        app_name: None,
        error,
        notice,
    };
    pages::html(status, &page, token.cookies())
}

/// GET /login
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = safe_return(query.return_to.as_deref());
    if return_to == "/account" && session::current(&state, &req).await?.is_some() {
        return Ok(pages::see_other("/account", Vec::new()));
    }
    Ok(form(
        &state,
        &req,
        StatusCode::OK,
        &return_to,
        "",
        None,
        None,
    ))
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    csrf_token: Option<String>,
    return_to: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// What a login attempt comes to.
enum Outcome {
    SignedIn(Box<Account>),
    Refused,
    /// A legacy login whose email another account shares (seed 003).
    NeedsNewAccount,
    /// A legacy login, after the cut-over, with its correct old password: it is not
    /// signed in but sent a reset link (seed 003).
    MustReset(Box<Account>),
}

/// POST /login
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    form_data: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let f = form_data.into_inner();
    let return_to = safe_return(f.return_to.as_deref());
    let login = f.username.unwrap_or_default();
    let password = f.password.unwrap_or_default();
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return Ok(form(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &return_to,
            &login,
            Some(EXPIRED_FORM),
            None,
        ));
    }
    let now = state.now();
    let throttle = &state.settings.throttle;
    let window = throttle.login_window.0;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    let name_bucket = format!("login:name:{}", normalize::username(&login));
    let ip_bucket = ip.as_ref().map(|ip| format!("login:ip:{ip}"));
    let by_name = state.store.rate_peek(&name_bucket, now, window).await?;
    let by_ip = match &ip_bucket {
        Some(b) => Some(state.store.rate_peek(b, now, window).await?),
        None => None,
    };
    if by_name.hits >= throttle.login_failures_per_account
        || by_ip.is_some_and(|s| s.hits >= throttle.login_failures_per_address)
    {
        state.metrics.count(Event::LoginThrottled);
        return Ok(form(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &return_to,
            &login,
            Some(THROTTLED),
            None,
        ));
    }

    let candidates = if login.trim().is_empty() || password.is_empty() {
        Vec::new()
    } else {
        match state.store.find_account_for_login(&login).await? {
            Some(account) => vec![account],
            None if login.contains('@') => {
                state
                    .store
                    .shared_email_logins(&login, MAX_SHARED_EMAIL_LOGINS)
                    .await?
            }
            None => Vec::new(),
        }
    };
    let outcome = authenticate(&state, candidates, password).await?;
    match outcome {
        Outcome::SignedIn(account) => {
            // A clean sign-in has no failures to forget: skipping the delete spares the
            // single SQLite writer one transaction per login.
            if by_name.hits > 0 {
                state.store.rate_clear(&name_bucket).await?;
            }
            let info = ClientInfo {
                ip: ip.clone(),
                user_agent: user_agent(&req),
            };
            let lifetime = state.settings.lifetimes.session.0;
            // A new session id at every login (no fixation); the old one ends.
            if let Some(old) = session::current(&state, &req).await? {
                state.store.end_session(&old.id, now).await?;
            }
            let (_, cookie) = state
                .store
                .create_session(&account.id, &["pwd"], info, now, lifetime)
                .await?;
            state
                .store
                .record_event(
                    AuditEvent::new("login")
                        .account(&account.id)
                        .ip(ip.as_deref()),
                    now,
                )
                .await?;
            state.metrics.count(Event::LoginSucceeded);
            Ok(pages::see_other(
                &return_to,
                vec![session::cookie(&state, cookie)],
            ))
        }
        Outcome::MustReset(account) => {
            // At most one email per quarter hour, however often the patient tries.
            let sent = state
                .store
                .rate_hit(
                    &format!("legacy-reset:{}", account.id),
                    now,
                    chrono::Duration::minutes(15),
                )
                .await?;
            if sent.hits == 1 {
                state
                    .send_reset_link(&account, ResetKind::LegacyUpgrade)
                    .await
                    .map_err(PageError::internal)?;
                state
                    .store
                    .record_event(
                        AuditEvent::new("legacy_reset_link_sent")
                            .account(&account.id)
                            .ip(ip.as_deref()),
                        now,
                    )
                    .await?;
            }
            Ok(form(
                &state,
                &req,
                StatusCode::OK,
                &return_to,
                &login,
                None,
                Some(LEGACY_RESET_SENT),
            ))
        }
        Outcome::NeedsNewAccount => Ok(form(
            &state,
            &req,
            StatusCode::OK,
            &return_to,
            &login,
            Some(NEEDS_NEW_ACCOUNT),
            None,
        )),
        Outcome::Refused => {
            state.store.rate_hit(&name_bucket, now, window).await?;
            if let Some(b) = &ip_bucket {
                state.store.rate_hit(b, now, window).await?;
            }
            state
                .store
                .record_event(
                    AuditEvent::new("login_failed").ip(ip.as_deref()).detail(
                        serde_json::json!({"login": login.chars().take(64).collect::<String>()}),
                    ),
                    now,
                )
                .await?;
            state.metrics.count(Event::LoginFailed);
            Ok(form(
                &state,
                &req,
                StatusCode::OK,
                &return_to,
                &login,
                Some(INCORRECT),
                None,
            ))
        }
    }
}

/// Verifies the password for whatever the login named, spending one verification even
/// when it named nothing. Several candidates only arise for an email that legacy logins
/// share; none of them may sign in, but the right password earns them seed 003's answer.
async fn authenticate(
    state: &AppState,
    candidates: Vec<Account>,
    password: String,
) -> Result<Outcome, PageError> {
    let hasher = state.passwords.clone();
    let cutover = state.settings.migration.cutover;
    let now = state.now();
    let result = state
        .password_work(move || {
            if candidates.len() > 1 {
                let any_matches = candidates.iter().any(|account| {
                    account
                        .legacy_password_hash
                        .as_deref()
                        .or(account.password_hash.as_deref())
                        .is_some_and(|stored| hasher.verify(stored, &password))
                });
                return if any_matches {
                    Outcome::NeedsNewAccount
                } else {
                    Outcome::Refused
                };
            }
            let Some(account) = candidates.into_iter().next() else {
                hasher.verify_nothing(&password);
                return Outcome::Refused;
            };
            let stored = account
                .password_hash
                .as_deref()
                .or(account.legacy_password_hash.as_deref());
            let Some(stored) = stored else {
                hasher.verify_nothing(&password);
                return Outcome::Refused;
            };
            if !hasher.verify(stored, &password) {
                return Outcome::Refused;
            }
            match account.status {
                AccountStatus::Active => Outcome::SignedIn(Box::new(account)),
                // Before the cut-over a legacy login still works with its old password.
                AccountStatus::MustReset if cutover.is_none_or(|c| now < c) => {
                    Outcome::SignedIn(Box::new(account))
                }
                AccountStatus::MustReset => Outcome::MustReset(Box::new(account)),
                AccountStatus::Deactivated => Outcome::Refused,
                AccountStatus::NeedsNewAccount => Outcome::NeedsNewAccount,
            }
        })
        .await
        .map_err(PageError::internal)?;
    Ok(result)
}
