//! The account page's forms: contact information (a new email is confirmed by a link
//! sent to it), username, password (the current one required), security question,
//! notification preferences, removing an app's access, and deactivation.
//!
//! Every handler checks the CSRF token and the session again, and acts only on the
//! signed-in login. Success answers with a 303 back to `/account?done=...`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Duration;
use pfid_store::accounts::{Account, AccountStatus};
use pfid_store::audit::AuditEvent;
use pfid_store::recovery::CONFIRM_EMAIL;
use pfid_store::sessions::ClientInfo;
use pfid_store::{normalize, PasswordHasher, StoreError};

use crate::app::AppState;
use crate::http::account::render;
use crate::http::errors::PageError;
use crate::http::identity::{self, EXPIRED_FORM, TOO_MANY};
use crate::http::pages::{self, MessagePage};
use crate::http::{session, user_agent};
use crate::messages::{self, EmailKind, Vars};
use crate::selfservice::{self, Limit};

/// The signed-in, active login, or the response to send instead (to the login page
/// without a session; the account page with an error when the form is stale).
async fn guard(
    state: &AppState,
    req: &HttpRequest,
    csrf_token: Option<&str>,
) -> Result<Result<Account, HttpResponse>, PageError> {
    let Some(s) = session::current(state, req).await? else {
        return Ok(Err(pages::see_other(
            "/login?return_to=%2Faccount",
            Vec::new(),
        )));
    };
    let account = match state.store.account(&s.account_id).await? {
        Some(a) if a.status == AccountStatus::Active => a,
        _ => {
            return Ok(Err(pages::see_other(
                "/login?return_to=%2Faccount",
                vec![session::removal(state)],
            )))
        }
    };
    if !state.csrf.verify(req, csrf_token) {
        return Ok(Err(render(
            state,
            req,
            StatusCode::FORBIDDEN,
            None,
            Some(EXPIRED_FORM),
        )
        .await?));
    }
    Ok(Ok(account))
}

fn done(what: &str) -> HttpResponse {
    pages::see_other(&format!("/account?done={what}"), Vec::new())
}

async fn refuse(
    state: &AppState,
    req: &HttpRequest,
    error: &str,
) -> Result<HttpResponse, PageError> {
    render(state, req, StatusCode::BAD_REQUEST, None, Some(error)).await
}

#[derive(serde::Deserialize)]
pub struct ContactForm {
    csrf_token: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

/// POST /account/contact
pub async fn contact(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ContactForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let account = match guard(&state, &req, f.csrf_token.as_deref()).await? {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    let now = state.now();
    let phone = f
        .phone
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    if let Some(p) = &phone {
        if normalize::validate_phone(p).is_err() {
            return refuse(
                &state,
                &req,
                "Please enter a phone number with 10 to 15 digits.",
            )
            .await;
        }
    }
    let email = f.email.unwrap_or_default();
    let email_changes =
        !email.trim().is_empty() && normalize::email(&email) != normalize::email(&account.email);
    if email_changes && normalize::validate_email(&email).is_err() {
        return refuse(&state, &req, "Please enter a valid email address.").await;
    }
    if phone != account.phone {
        state
            .store
            .set_account_phone(&account.id, phone, now)
            .await?;
    }
    if !email_changes {
        return Ok(done("contact"));
    }
    let limits = [Limit::new(
        format!("email-change:acct:{}", account.id),
        5,
        identity::hour(),
    )];
    if selfservice::hit_all(&state.store, &limits, now).await? {
        return render(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some(TOO_MANY),
        )
        .await;
    }
    selfservice::request_email_change(&state.store, &state.settings, &account, &email, now)
        .await
        .map_err(PageError::internal)?;
    state.outbox_wakeup.wake();
    Ok(done("email_sent"))
}

#[derive(Template)]
#[template(path = "confirm_email.html")]
struct ConfirmEmailPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
    email: &'a str,
}

fn link_not_valid(state: &AppState) -> HttpResponse {
    let page = MessagePage {
        product: state.product(),
        title: "This link does not work",
        paragraphs: vec![
            "This confirmation link has expired, was already used, or was replaced by a newer one."
                .into(),
            "You can ask for a new one on your account page.".into(),
        ],
        link: Some(("/account".into(), "Go to your account".into())),
    };
    pages::html(StatusCode::BAD_REQUEST, &page, Vec::new())
}

/// GET /account/confirm-email/{token}: a button, so that mail scanners that open links
/// do not confirm anything.
pub async fn confirm_email_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let link = state.store.link_by_token(CONFIRM_EMAIL, &token).await?;
    let Some(link) = link.filter(|l| l.is_live(state.now())) else {
        return Ok(link_not_valid(&state));
    };
    let email = link
        .data
        .get("email")
        .and_then(|e| e.as_str())
        .unwrap_or_default()
        .to_owned();
    let csrf = state.csrf.issue(&req);
    let page = ConfirmEmailPage {
        product: state.product(),
        csrf_token: &csrf.token,
        token: &token,
        email: &email,
    };
    Ok(pages::html(StatusCode::OK, &page, csrf.cookies()))
}

#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    csrf_token: Option<String>,
}

/// POST /account/confirm-email/{token}
pub async fn confirm_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    if !state.csrf.verify(&req, form.csrf_token.as_deref()) {
        return Err(PageError::forbidden(EXPIRED_FORM));
    }
    let now = state.now();
    let token = path.into_inner();
    let Some(link) = state
        .store
        .link_by_token(CONFIRM_EMAIL, &token)
        .await?
        .filter(|l| l.is_live(now))
    else {
        return Ok(link_not_valid(&state));
    };
    let Some(before) = state.store.account(&link.account_id).await? else {
        return Ok(link_not_valid(&state));
    };
    let vars = Vars {
        when: messages::human_time(now),
        ..Vars::new(&state.settings)
    };
    let notice = messages::email(EmailKind::EmailChanged, &before.email, &vars)
        .map_err(PageError::internal)?;
    match state
        .store
        .confirm_email_change(&link.id, vec![notice], now)
        .await
    {
        Ok(_) => {
            state.outbox_wakeup.wake();
            let page = MessagePage {
                product: state.product(),
                title: "Your email address was changed",
                paragraphs: vec!["From now on we write to the new address.".into()],
                link: Some(("/account?done=email_changed".into(), "Go to your account".into())),
            };
            Ok(pages::html(StatusCode::OK, &page, Vec::new()))
        }
        Err(e) if e.is_conflict_on("email") => Ok(pages::html(
            StatusCode::CONFLICT,
            &MessagePage {
                product: state.product(),
                title: "This email address cannot be used",
                paragraphs: vec![
                    "Each login needs its own email address, and this one now belongs to another login. Nothing was changed.".into(),
                ],
                link: Some(("/account".into(), "Go to your account".into())),
            },
            Vec::new(),
        )),
        Err(StoreError::Conflict(_)) => Ok(link_not_valid(&state)),
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct UsernameForm {
    csrf_token: Option<String>,
    username: Option<String>,
}

/// POST /account/username
pub async fn username(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<UsernameForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let account = match guard(&state, &req, f.csrf_token.as_deref()).await? {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    let wanted = f.username.unwrap_or_default();
    if let Err(problem) = check_username(&wanted, &account.email) {
        return refuse(&state, &req, &problem).await;
    }
    match state
        .store
        .change_username(&account.id, &wanted, state.now())
        .await
    {
        Ok(_) => Ok(done("username")),
        Err(e) if e.is_conflict_on("username") => {
            refuse(
                &state,
                &req,
                "This username is taken. Please choose another.",
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// A username a patient may pick: the store's rules, and an email-shaped username must
/// be the login's own address (it would otherwise shadow another login's email at
/// sign-in, where a username is tried first).
pub fn check_username(wanted: &str, own_email: &str) -> Result<(), String> {
    if let Err(StoreError::Invalid(m)) = normalize::validate_username(wanted) {
        let mut m = m;
        if let Some(first) = m.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        return Err(format!("{m}."));
    }
    if wanted.contains('@') && normalize::email(wanted) != normalize::email(own_email) {
        return Err("A username that is an email address must be your own email address.".into());
    }
    Ok(())
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    csrf_token: Option<String>,
    current_password: Option<String>,
    password: Option<String>,
    password2: Option<String>,
}

/// Checks the current password, with failures throttled per login.
async fn current_password_ok(
    state: &AppState,
    account: &Account,
    typed: String,
) -> Result<Result<(), &'static str>, PageError> {
    let limits = [Limit::new(
        format!("account:pw:{}", account.id),
        5,
        Duration::minutes(15),
    )];
    if selfservice::any_spent(&state.store, &limits, state.now()).await? {
        return Ok(Err(TOO_MANY));
    }
    if identity::verify_secret(state, account.password_hash.clone(), typed).await? {
        return Ok(Ok(()));
    }
    identity::count_failure(state, &limits).await?;
    Ok(Err("Your current password is not correct."))
}

/// POST /account/password
pub async fn password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let account = match guard(&state, &req, f.csrf_token.as_deref()).await? {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    if let Err(m) =
        current_password_ok(&state, &account, f.current_password.unwrap_or_default()).await?
    {
        return refuse(&state, &req, m).await;
    }
    let new = f.password.unwrap_or_default();
    if let Err(m) = identity::check_new_password(&new, &f.password2.unwrap_or_default()) {
        return refuse(&state, &req, &m).await;
    }
    let hash = identity::hash_password(&state, new).await?;
    let now = state.now();
    let vars = Vars {
        when: messages::human_time(now),
        ..Vars::new(&state.settings).link(state.settings.server.issuer.url("/forgot-password"))
    };
    let notice = messages::email(EmailKind::PasswordChanged, &account.email, &vars)
        .map_err(PageError::internal)?;
    state
        .store
        .change_password(&account.id, hash, Some(notice), now)
        .await?;
    state.outbox_wakeup.wake();
    // Every session ended, this one too; the patient who just typed both passwords
    // stays signed in on this browser with a fresh session.
    let info = ClientInfo {
        ip: crate::http::client_ip(&req, state.settings.server.trust_forwarded_for),
        user_agent: user_agent(&req),
    };
    let (_, cookie) = state
        .store
        .create_session(
            &account.id,
            &["pwd"],
            info,
            now,
            state.settings.lifetimes.session.0,
        )
        .await?;
    Ok(pages::see_other(
        "/account?done=password",
        vec![session::cookie(&state, cookie)],
    ))
}

#[derive(serde::Deserialize)]
pub struct QuestionForm {
    csrf_token: Option<String>,
    question: Option<String>,
    answer: Option<String>,
}

/// POST /account/security-question
pub async fn security_question(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<QuestionForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let account = match guard(&state, &req, f.csrf_token.as_deref()).await? {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    let question = f.question.unwrap_or_default();
    let answer = PasswordHasher::normalize_answer(&f.answer.unwrap_or_default());
    if question.trim().is_empty() || question.chars().count() > 200 || answer.is_empty() {
        return refuse(
            &state,
            &req,
            "Please enter a question (at most 200 characters) and its answer.",
        )
        .await;
    }
    let answer_hash = identity::hash_password(&state, answer).await?;
    state
        .store
        .set_security_question(&account.id, &question, answer_hash, state.now())
        .await?;
    Ok(done("question"))
}

#[derive(serde::Deserialize)]
pub struct NotificationsForm {
    csrf_token: Option<String>,
    notify_email: Option<String>,
    notify_sms: Option<String>,
}

/// POST /account/notifications
pub async fn notifications(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NotificationsForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let account = match guard(&state, &req, f.csrf_token.as_deref()).await? {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    state
        .store
        .set_notification_preferences(
            &account.id,
            f.notify_email.is_some(),
            f.notify_sms.is_some(),
            state.now(),
        )
        .await?;
    Ok(done("notifications"))
}

#[derive(serde::Deserialize)]
pub struct RemoveAppForm {
    csrf_token: Option<String>,
    client_id: Option<String>,
}

/// POST /account/apps/remove: withdraws consent and ends the app's tokens at once.
pub async fn remove_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<RemoveAppForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let account = match guard(&state, &req, f.csrf_token.as_deref()).await? {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    let client_id = f.client_id.unwrap_or_default();
    let now = state.now();
    if state
        .store
        .revoke_grant(&account.id, &client_id, now)
        .await?
    {
        state
            .store
            .record_event(
                AuditEvent::new("grant_revoked")
                    .account(&account.id)
                    .client(&client_id),
                now,
            )
            .await?;
    }
    Ok(done("app_removed"))
}

#[derive(serde::Deserialize)]
pub struct DeactivateForm {
    csrf_token: Option<String>,
    current_password: Option<String>,
}

/// POST /account/deactivate: signs out everywhere and ends every token; the records
/// stay with the provider.
pub async fn deactivate(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DeactivateForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let account = match guard(&state, &req, f.csrf_token.as_deref()).await? {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    if let Err(m) =
        current_password_ok(&state, &account, f.current_password.unwrap_or_default()).await?
    {
        return refuse(&state, &req, m).await;
    }
    let now = state.now();
    state.store.deactivate_account(&account.id, now).await?;
    state
        .store
        .record_event(
            AuditEvent::new("account_deactivated").account(&account.id),
            now,
        )
        .await?;
    let page = MessagePage {
        product: state.product(),
        title: "Your account is deactivated",
        paragraphs: vec![
            "You were signed out everywhere, and no app can use your account any more.".into(),
            "Your provider keeps your health records. To use the portal again, ask your provider for a new invitation.".into(),
        ],
        link: None,
    };
    Ok(pages::html(
        StatusCode::OK,
        &page,
        vec![session::removal(&state)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shaped_usernames_must_be_the_own_address() {
        assert!(check_username("jane.doe", "jane@example.com").is_ok());
        assert!(check_username("Jane@Example.com", "jane@example.com").is_ok());
        assert!(check_username("bob@example.com", "jane@example.com").is_err());
        assert_eq!(
            check_username("jo", "jane@example.com").unwrap_err(),
            "Username must be at least 3 characters."
        );
    }
}
