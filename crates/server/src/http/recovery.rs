//! "Forgot password?" and "Forgot username?" (seed 000, SPEC labels).
//!
//! Forgot password: "Enter username" → "Reset password" → the same answer whether or
//! not the username exists → an email with a single-use "Reset password" link → the
//! reset tool: "Answer your security question" (date of birth and the answer) or
//! "Request a security code via mobile" (the phone on the patient's own record, text
//! or voice, then the six-digit code) → "Password" and "Retype password". Completing it
//! ends every session and token of the login and emails a notice.
//!
//! Each step is throttled per address and per username, account, flow or phone, in the
//! database; no message says whether an account, an email or a phone number exists.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use pfid_store::accounts::{Account, AccountStatus};
use pfid_store::recovery::{CodeCheck, OneTimeLink, PasswordReset, ResetFlow};
use pfid_store::recovery::{RESET_CODE, RESET_LINK};
use pfid_store::{normalize, PasswordHasher, StoreError};

use crate::app::AppState;
use crate::http::errors::PageError;
use crate::http::identity::{self, CODE_SENT, EXPIRED_FORM, TOO_MANY};
use crate::http::pages::{self, MessagePage};
use crate::messages::{self, EmailKind, PhoneChannel, Vars};
use crate::selfservice::{self, ResetKind};

// ------------------------------------------------------------------ forgot password

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPasswordPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    username: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

/// The answer to every well-formed request, whether or not the username exists.
pub const RESET_SENT: &str = "If this username belongs to a login, we have sent an email with a link to reset the password to the address on file. The link works for one hour. Please also check your spam or junk folder.";

fn forgot_password_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    username: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let token = state.csrf.issue(req);
    let page = ForgotPasswordPage {
        product: state.product(),
        csrf_token: &token.token,
        username,
        notice,
        error,
    };
    pages::html(status, &page, token.cookies())
}

/// GET /forgot-password
pub async fn forgot_password_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    forgot_password_page(&state, &req, StatusCode::OK, "", None, None)
}

#[derive(serde::Deserialize)]
pub struct ForgotPasswordForm {
    csrf_token: Option<String>,
    username: Option<String>,
}

/// POST /forgot-password
pub async fn forgot_password_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ForgotPasswordForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let username = f.username.unwrap_or_default();
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return Ok(forgot_password_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &username,
            None,
            Some(EXPIRED_FORM),
        ));
    }
    if username.trim().is_empty() {
        return Ok(forgot_password_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            "",
            None,
            Some("Please enter your username."),
        ));
    }
    let now = state.now();
    let ip = identity::address(&state, &req);
    // Bounded: the name becomes part of a counter's key.
    let name: String = normalize::username(&username).chars().take(254).collect();
    // Counted for every username, known or not, so the throttle itself tells nothing.
    let limits = identity::send_limits("forgot-password", &ip, &[("name", &name)]);
    if selfservice::hit_all(&state.store, &limits, now).await? {
        return Ok(forgot_password_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &username,
            None,
            Some(TOO_MANY),
        ));
    }
    if let Some(account) = state.store.find_account_for_login(&username).await? {
        if matches!(
            account.status,
            AccountStatus::Active | AccountStatus::MustReset
        ) {
            selfservice::send_reset_link(
                &state.store,
                &state.settings,
                &account,
                ResetKind::Forgot,
                now,
            )
            .await
            .map_err(PageError::internal)?;
            state.outbox_wakeup.wake();
        }
    }
    Ok(forgot_password_page(
        &state,
        &req,
        StatusCode::OK,
        "",
        Some(RESET_SENT),
        None,
    ))
}

// ------------------------------------------------------------------ the reset tool

#[derive(Template)]
#[template(path = "reset_choose.html")]
struct ChoosePage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
    has_question: bool,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "reset_question.html")]
struct QuestionPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
    question: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "phone_request.html")]
pub(crate) struct PhoneRequestPage<'a> {
    pub product: &'a str,
    pub csrf_token: &'a str,
    pub action: &'a str,
    pub back: Option<(String, String)>,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "code_entry.html")]
pub(crate) struct CodeEntryPage<'a> {
    pub product: &'a str,
    pub csrf_token: &'a str,
    pub action: &'a str,
    pub resend: &'a str,
    pub ask_birth_date: bool,
    pub back: Option<(String, String)>,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "new_password.html")]
struct NewPasswordPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
    rule: &'a str,
    error: Option<&'a str>,
}

/// The page for a link that no longer works: expired, used, replaced or unknown.
fn link_dead(state: &AppState) -> HttpResponse {
    let page = MessagePage {
        product: state.product(),
        title: "This password reset link does not work",
        paragraphs: vec![
            "The link has expired, was already used, or was replaced by a newer one. Each link works once, for one hour.".into(),
            "You can ask for a new link.".into(),
        ],
        link: Some(("/forgot-password".into(), "Request a new link".into())),
    };
    pages::html(StatusCode::GONE, &page, Vec::new())
}

/// The live link a token names, with its login, or the page to show instead.
async fn live_link(
    state: &AppState,
    token: &str,
) -> Result<Result<(OneTimeLink, Account), HttpResponse>, PageError> {
    let now = state.now();
    let Some(link) = state
        .store
        .link_by_token(RESET_LINK, token)
        .await?
        .filter(|l| l.is_live(now))
    else {
        return Ok(Err(link_dead(state)));
    };
    match state.store.account(&link.account_id).await? {
        Some(a) if matches!(a.status, AccountStatus::Active | AccountStatus::MustReset) => {
            Ok(Ok((link, a)))
        }
        _ => Ok(Err(link_dead(state))),
    }
}

fn choose_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    token: &str,
    account: &Account,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = state.csrf.issue(req);
    let page = ChoosePage {
        product: state.product(),
        csrf_token: &csrf.token,
        token,
        has_question: account.security_question.is_some(),
        error,
    };
    pages::html(status, &page, csrf.cookies())
}

fn password_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    token: &str,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = state.csrf.issue(req);
    let page = NewPasswordPage {
        product: state.product(),
        csrf_token: &csrf.token,
        token,
        rule: pfid_store::password::RULE_TEXT,
        error,
    };
    pages::html(status, &page, csrf.cookies())
}

fn question_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    token: &str,
    account: &Account,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = state.csrf.issue(req);
    let page = QuestionPage {
        product: state.product(),
        csrf_token: &csrf.token,
        token,
        question: account.security_question.as_deref().unwrap_or("Answer"),
        error,
    };
    pages::html(status, &page, csrf.cookies())
}

fn phone_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    token: &str,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = state.csrf.issue(req);
    let action = format!("/reset-password/{token}/request-code");
    let page = PhoneRequestPage {
        product: state.product(),
        csrf_token: &csrf.token,
        action: &action,
        back: Some((
            format!("/reset-password/{token}"),
            "Choose another way".into(),
        )),
        error,
    };
    pages::html(status, &page, csrf.cookies())
}

fn code_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    token: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = state.csrf.issue(req);
    let action = format!("/reset-password/{token}/code");
    let resend = format!("/reset-password/{token}/resend?csrf_token={}", csrf.token);
    let page = CodeEntryPage {
        product: state.product(),
        csrf_token: &csrf.token,
        action: &action,
        resend: &resend,
        ask_birth_date: false,
        back: Some((
            format!("/reset-password/{token}"),
            "Choose another way".into(),
        )),
        notice,
        error,
    };
    pages::html(status, &page, csrf.cookies())
}

/// GET /reset-password/{token}: where the email's "Reset password" link lands. Opening
/// it changes nothing (mail scanners open links too).
pub async fn reset_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (link, account) = match live_link(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    if ResetFlow::of(&link).may_set_password() {
        return Ok(password_page(&state, &req, StatusCode::OK, &token, None));
    }
    Ok(choose_page(
        &state,
        &req,
        StatusCode::OK,
        &token,
        &account,
        None,
    ))
}

#[derive(serde::Deserialize)]
pub struct ContinueForm {
    csrf_token: Option<String>,
    method: Option<String>,
}

/// POST /reset-password/{token}/continue: the chosen way to prove who you are.
pub async fn reset_continue(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ContinueForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (_, account) = match live_link(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    if !state.csrf.verify(&req, form.csrf_token.as_deref()) {
        return Ok(choose_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &token,
            &account,
            Some(EXPIRED_FORM),
        ));
    }
    Ok(match form.method.as_deref() {
        Some("question") if account.security_question.is_some() => {
            question_page(&state, &req, StatusCode::OK, &token, &account, None)
        }
        Some("mobile") => phone_page(&state, &req, StatusCode::OK, &token, None),
        _ => choose_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &token,
            &account,
            Some("Please choose one of the two ways."),
        ),
    })
}

/// Counts a wrong answer in a reset flow; the link dies after five.
async fn reset_failure(
    state: &AppState,
    req: &HttpRequest,
    link: &OneTimeLink,
) -> Result<bool, PageError> {
    let ip = identity::address(state, req);
    identity::count_failure(
        state,
        &identity::failure_limits("reset", &ip, &[("acct", &link.account_id)]),
    )
    .await?;
    let after = state
        .store
        .link_failed_attempt(&link.id, state.now())
        .await?;
    Ok(after.is_live(state.now()))
}

async fn reset_throttled(
    state: &AppState,
    req: &HttpRequest,
    link: &OneTimeLink,
) -> Result<bool, PageError> {
    let ip = identity::address(state, req);
    Ok(selfservice::any_spent(
        &state.store,
        &identity::failure_limits("reset", &ip, &[("acct", &link.account_id)]),
        state.now(),
    )
    .await?)
}

#[derive(serde::Deserialize)]
pub struct QuestionForm {
    csrf_token: Option<String>,
    birth_date: Option<String>,
    answer: Option<String>,
}

const ANSWERS_WRONG: &str = "The date of birth or the answer is not correct. Please try again.";

/// POST /reset-password/{token}/question: date of birth and the security answer.
pub async fn reset_question(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<QuestionForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (link, account) = match live_link(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let f = form.into_inner();
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return Ok(question_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &token,
            &account,
            Some(EXPIRED_FORM),
        ));
    }
    if reset_throttled(&state, &req, &link).await? {
        return Ok(question_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &token,
            &account,
            Some(TOO_MANY),
        ));
    }
    let own = state.store.own_patient(&account.id).await?;
    let dob_ok = match (
        identity::parse_birth_date(f.birth_date.as_deref().unwrap_or("")),
        &own,
    ) {
        (Some(typed), Some(p)) => typed == p.birth_date,
        _ => false,
    };
    let answer = PasswordHasher::normalize_answer(f.answer.as_deref().unwrap_or(""));
    // Verified even when the date is wrong, so the timing does not tell which was.
    let answer_ok =
        identity::verify_secret(&state, account.security_answer_hash.clone(), answer).await?;
    if dob_ok && answer_ok {
        state
            .store
            .mark_reset_verified(&link.id, state.now())
            .await?;
        return Ok(password_page(&state, &req, StatusCode::OK, &token, None));
    }
    if !reset_failure(&state, &req, &link).await? {
        return Ok(link_dead(&state));
    }
    Ok(question_page(
        &state,
        &req,
        StatusCode::BAD_REQUEST,
        &token,
        &account,
        Some(ANSWERS_WRONG),
    ))
}

#[derive(serde::Deserialize)]
pub struct PhoneForm {
    csrf_token: Option<String>,
    phone: Option<String>,
    channel: Option<String>,
}

/// Sends a reset code to the phone on the login's own record (when `typed` matches
/// it), within the limits per flow, per phone and per address. True when throttled.
async fn send_reset_code(
    state: &AppState,
    req: &HttpRequest,
    link: &OneTimeLink,
    account: &Account,
    typed: Option<&str>,
    channel: PhoneChannel,
) -> Result<bool, PageError> {
    let on_record = state
        .store
        .own_patient(&account.id)
        .await?
        .and_then(|p| p.phone);
    let flow = identity::CodeFlow {
        purpose: RESET_CODE,
        step: "reset-code",
        flow_key: "flow",
        subject: &link.id,
        account_id: Some(&account.id),
        on_record: on_record.as_deref(),
    };
    identity::send_security_code(state, req, flow, typed, channel).await
}

/// POST /reset-password/{token}/request-code: "Phone number from doctor's record",
/// "Text" or "Voice", "Request".
pub async fn reset_request_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<PhoneForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (link, account) = match live_link(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let f = form.into_inner();
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return Ok(phone_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &token,
            Some(EXPIRED_FORM),
        ));
    }
    let phone = f.phone.unwrap_or_default();
    let Some(channel) = f.channel.as_deref().and_then(PhoneChannel::parse) else {
        return Ok(phone_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &token,
            Some("Please choose Text or Voice."),
        ));
    };
    if normalize::validate_phone(&phone).is_err() {
        return Ok(phone_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &token,
            Some("Please enter a phone number with 10 to 15 digits."),
        ));
    }
    if send_reset_code(&state, &req, &link, &account, Some(&phone), channel).await? {
        return Ok(phone_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &token,
            Some(TOO_MANY),
        ));
    }
    Ok(code_page(
        &state,
        &req,
        StatusCode::OK,
        &token,
        Some(CODE_SENT),
        None,
    ))
}

#[derive(serde::Deserialize)]
pub struct ResendQuery {
    csrf_token: Option<String>,
}

/// GET /reset-password/{token}/resend?csrf_token=...: "send me the code via text
/// message". A link, as the seed describes it; the CSRF token in its query keeps other
/// sites from triggering it. Only a flow that already sent a code (so the phone was
/// checked) sends another, always by text, within the same limits.
pub async fn reset_resend(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ResendQuery>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (link, account) = match live_link(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    if !state.csrf.verify(&req, query.csrf_token.as_deref()) {
        return Ok(code_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &token,
            None,
            Some(EXPIRED_FORM),
        ));
    }
    if state.store.security_code_sent(RESET_CODE, &link.id).await?
        && send_reset_code(&state, &req, &link, &account, None, PhoneChannel::Text).await?
    {
        return Ok(code_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &token,
            None,
            Some(TOO_MANY),
        ));
    }
    Ok(code_page(
        &state,
        &req,
        StatusCode::OK,
        &token,
        Some("We sent a new code by text message. Earlier codes no longer work."),
        None,
    ))
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    csrf_token: Option<String>,
    code: Option<String>,
}

/// POST /reset-password/{token}/code: "Security code" (six digits, ten minutes, five
/// tries, then the code dies).
pub async fn reset_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (link, _) = match live_link(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let f = form.into_inner();
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return Ok(code_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &token,
            None,
            Some(EXPIRED_FORM),
        ));
    }
    if reset_throttled(&state, &req, &link).await? {
        return Ok(code_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &token,
            None,
            Some(TOO_MANY),
        ));
    }
    let typed: String = f
        .code
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let check = state
        .store
        .check_security_code(
            RESET_CODE,
            &link.id,
            &state.codes.hash(RESET_CODE, &typed),
            state.now(),
        )
        .await?;
    match check {
        CodeCheck::Accepted => {
            state
                .store
                .mark_reset_verified(&link.id, state.now())
                .await?;
            Ok(password_page(&state, &req, StatusCode::OK, &token, None))
        }
        CodeCheck::Wrong { remaining } if remaining > 0 => {
            let ip = identity::address(&state, &req);
            identity::count_failure(
                &state,
                &identity::failure_limits("reset", &ip, &[("acct", &link.account_id)]),
            )
            .await?;
            let msg = format!(
                "This code is not correct. You can try {remaining} more time{}.",
                if remaining == 1 { "" } else { "s" }
            );
            Ok(code_page(
                &state,
                &req,
                StatusCode::BAD_REQUEST,
                &token,
                None,
                Some(&msg),
            ))
        }
        CodeCheck::Wrong { .. } | CodeCheck::NoLiveCode => {
            let ip = identity::address(&state, &req);
            identity::count_failure(
                &state,
                &identity::failure_limits("reset", &ip, &[("acct", &link.account_id)]),
            )
            .await?;
            Ok(code_page(&state, &req, StatusCode::BAD_REQUEST, &token, None, Some("This code no longer works: it expired or was typed wrong too many times. Use the link below to get a new code.")))
        }
    }
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    csrf_token: Option<String>,
    password: Option<String>,
    password2: Option<String>,
}

/// POST /reset-password/{token}/password: the new password, twice, under the rule.
pub async fn reset_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (link, account) = match live_link(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let flow = ResetFlow::of(&link);
    if !flow.may_set_password() {
        return Ok(choose_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &token,
            &account,
            Some("Please verify your identity first."),
        ));
    }
    let f = form.into_inner();
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return Ok(password_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &token,
            Some(EXPIRED_FORM),
        ));
    }
    let password = f.password.unwrap_or_default();
    if let Err(m) = identity::check_new_password(&password, f.password2.as_deref().unwrap_or("")) {
        return Ok(password_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &token,
            Some(&m),
        ));
    }
    let hash = identity::hash_password(&state, password).await?;
    let now = state.now();
    let vars = Vars {
        when: messages::human_time(now),
        apps_ended: true,
        ..Vars::new(&state.settings).link(state.settings.server.issuer.url("/forgot-password"))
    };
    let notice = messages::email(EmailKind::PasswordChanged, &account.email, &vars)
        .map_err(PageError::internal)?;
    match state
        .store
        .complete_password_reset(
            PasswordReset {
                link_id: link.id.clone(),
                password_hash: hash,
                notice: Some(notice),
            },
            now,
        )
        .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Ok(link_dead(&state)),
        Err(e) => return Err(e.into()),
    }
    state.outbox_wakeup.wake();
    state
        .store
        .rate_clear(&format!(
            "login:name:{}",
            normalize::username(&account.username)
        ))
        .await?;
    let page = MessagePage {
        product: state.product(),
        title: "Your password was changed",
        paragraphs: vec![
            "You can now log in with your username (or email address) and the new password.".into(),
            "For your safety you were signed out everywhere, and apps connected to your account must be allowed again.".into(),
        ],
        link: Some(("/login".into(), "Log in".into())),
    };
    Ok(pages::html(
        StatusCode::OK,
        &page,
        vec![crate::http::session::removal(&state)],
    ))
}

// ------------------------------------------------------------------ forgot username

#[derive(Template)]
#[template(path = "forgot_username.html")]
struct ForgotUsernamePage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    email: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

/// The answer to every well-formed request, whether or not the address is known.
pub const USERNAME_SENT: &str = "If this email address is on file with a login, we have sent the username to it. Please also check your spam or junk folder.";

fn forgot_username_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    email: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let token = state.csrf.issue(req);
    let page = ForgotUsernamePage {
        product: state.product(),
        csrf_token: &token.token,
        email,
        notice,
        error,
    };
    pages::html(status, &page, token.cookies())
}

/// GET /forgot-username
pub async fn forgot_username_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    forgot_username_page(&state, &req, StatusCode::OK, "", None, None)
}

#[derive(serde::Deserialize)]
pub struct ForgotUsernameForm {
    csrf_token: Option<String>,
    email: Option<String>,
}

/// POST /forgot-username: "Email address" → "Verify identity" → an email holding the
/// username.
pub async fn forgot_username_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ForgotUsernameForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let email = f.email.unwrap_or_default();
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return Ok(forgot_username_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &email,
            None,
            Some(EXPIRED_FORM),
        ));
    }
    if normalize::validate_email(&email).is_err() {
        return Ok(forgot_username_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &email,
            None,
            Some("Please enter a valid email address."),
        ));
    }
    let now = state.now();
    let ip = identity::address(&state, &req);
    let key = normalize::email(&email);
    let limits = identity::send_limits("forgot-username", &ip, &[("email", &key)]);
    if selfservice::hit_all(&state.store, &limits, now).await? {
        return Ok(forgot_username_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            None,
            Some(TOO_MANY),
        ));
    }
    if let Some(account) = state.store.live_account_by_email(&email).await? {
        let vars = Vars {
            username: account.username.clone(),
            ..Vars::new(&state.settings).link(state.settings.server.issuer.url("/login"))
        };
        let msg = messages::email(EmailKind::UsernameReminder, &account.email, &vars)
            .map_err(PageError::internal)?;
        state.send(msg).await?;
    }
    Ok(forgot_username_page(
        &state,
        &req,
        StatusCode::OK,
        "",
        Some(USERNAME_SENT),
        None,
    ))
}
