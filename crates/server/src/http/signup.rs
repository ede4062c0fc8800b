//! Sign-up from an invitation, and adding an invited record to an existing login.
//!
//! The invitation link opens the sign-up: identity first ("Date of Birth
//! (YYYY/MM/DD)", then the invitation "PIN", or a security code sent by "Text" or
//! "Voice" to the "Phone number from doctor's record", with "send me the code via text
//! message" to resend), then the login ("Username", the email suggested, "Password",
//! "Retype password", "Security question", "Answer", "Create account").
//!
//! When the invitation's email already belongs to a login, the page offers to add the
//! record to that login after the patient logs in (seed 004: one login, the records of
//! a family; emails stay unique per login). `/account/link/{token}` does that.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use pfid_store::accounts::{NewAccount, Relationship};
use pfid_store::invitations::{Invitation, InvitationState, PIN_PURPOSE};
use pfid_store::patients::Patient;
use pfid_store::recovery::{CodeCheck, SIGNUP_CODE};
use pfid_store::sessions::ClientInfo;
use pfid_store::{normalize, PasswordHasher, StoreError};

use crate::app::AppState;
use crate::http::errors::PageError;
use crate::http::identity::{self, CODE_SENT, EXPIRED_FORM, TOO_MANY};
use crate::http::pages::{self, MessagePage};
use crate::http::recovery::CodeEntryPage;
use crate::http::{session, user_agent};
use crate::messages::PhoneChannel;
use crate::selfservice::{self, Limit};

/// Questions offered as suggestions; the patient may write their own.
const SUGGESTED_QUESTIONS: [&str; 5] = [
    "What was the name of your first pet?",
    "In what city were you born?",
    "What is your mother's maiden name?",
    "What was the name of your elementary school?",
    "What was the make of your first car?",
];

#[derive(Template)]
#[template(path = "signup_identity.html")]
struct IdentityPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
    first_name: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signup_account.html")]
struct AccountFormPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
    first_name: &'a str,
    username: &'a str,
    question: &'a str,
    suggestions: &'a [&'a str],
    rule: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "link_record.html")]
struct LinkRecordPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
    record_name: &'a str,
    username: &'a str,
    may_be_own: bool,
    error: Option<&'a str>,
}

/// The page for an invitation that no longer opens the sign-up.
fn closed(state: &AppState, why: Option<InvitationState>) -> HttpResponse {
    let first = match why {
        Some(InvitationState::Expired) => "This invitation has expired.",
        Some(InvitationState::Used) => "This invitation has already been used.",
        Some(InvitationState::Revoked) => "This invitation is no longer valid.",
        Some(InvitationState::Open) | None => "This invitation link is not valid.",
    };
    let page = MessagePage {
        product: state.product(),
        title: first,
        paragraphs: vec![
            "Please ask your healthcare provider for a new invitation.".into(),
            "If you already created your login, you can log in.".into(),
        ],
        link: Some(("/login".into(), "Log in".into())),
    };
    pages::html(StatusCode::GONE, &page, Vec::new())
}

/// The open invitation a token names, with its record, or the page to show instead.
async fn open_invitation(
    state: &AppState,
    token: &str,
) -> Result<Result<(Invitation, Patient), HttpResponse>, PageError> {
    match state.store.invitation_by_token(token).await? {
        Some((inv, patient)) => match inv.state(state.now()) {
            InvitationState::Open => Ok(Ok((inv, patient))),
            other => Ok(Err(closed(state, Some(other)))),
        },
        None => Ok(Err(closed(state, None))),
    }
}

fn identity_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    token: &str,
    patient: &Patient,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = state.csrf.issue(req);
    let page = IdentityPage {
        product: state.product(),
        csrf_token: &csrf.token,
        token,
        first_name: &patient.first_name,
        notice: None,
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
    let action = format!("/signup/{token}/verify");
    let resend = format!("/signup/{token}/resend?csrf_token={}", csrf.token);
    let page = CodeEntryPage {
        product: state.product(),
        csrf_token: &csrf.token,
        action: &action,
        resend: &resend,
        ask_birth_date: true,
        back: Some((format!("/signup/{token}"), "Use the PIN instead".into())),
        notice,
        error,
    };
    pages::html(status, &page, csrf.cookies())
}

struct AccountFields<'a> {
    username: &'a str,
    question: &'a str,
}

fn account_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    token: &str,
    patient: &Patient,
    fields: AccountFields<'_>,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = state.csrf.issue(req);
    let page = AccountFormPage {
        product: state.product(),
        csrf_token: &csrf.token,
        token,
        first_name: &patient.first_name,
        username: fields.username,
        question: fields.question,
        suggestions: &SUGGESTED_QUESTIONS,
        rule: pfid_store::password::RULE_TEXT,
        error,
    };
    pages::html(status, &page, csrf.cookies())
}

/// The offer to add the record to the login that already uses the invitation's email.
fn link_offer(state: &AppState, token: &str, patient: &Patient) -> HttpResponse {
    let page = MessagePage {
        product: state.product(),
        title: "You already have a login",
        paragraphs: vec![
            format!(
                "The email address this invitation was sent to already belongs to a {} login. Log in with it to add {}'s record to that login: one login can see the records of several family members, such as a spouse, children or the people you are guardian for.",
                state.product(),
                patient.first_name
            ),
            "If you would rather have a separate login for this record, a separate email address is necessary: please ask your provider to send the invitation to another address.".into(),
        ],
        link: Some((
            format!("/login?return_to=%2Faccount%2Flink%2F{token}"),
            "Log in to add this record".into(),
        )),
    };
    pages::html(StatusCode::OK, &page, Vec::new())
}

/// GET /signup/{token}: where the invitation email's link lands.
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (inv, patient) = match open_invitation(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    if state
        .store
        .live_account_by_email(&inv.email)
        .await?
        .is_some()
    {
        return Ok(link_offer(&state, &token, &patient));
    }
    if inv.verified_at.is_some() {
        return Ok(account_page(
            &state,
            &req,
            StatusCode::OK,
            &token,
            &patient,
            AccountFields {
                username: &inv.email,
                question: "",
            },
            None,
        ));
    }
    Ok(identity_page(
        &state,
        &req,
        StatusCode::OK,
        &token,
        &patient,
        None,
    ))
}

/// Limits on wrong answers for one invitation and one address. An invitation takes
/// five wrong answers in all; then only a new invitation helps.
fn verify_limits(state: &AppState, req: &HttpRequest, inv: &Invitation) -> Vec<Limit> {
    let ip = identity::address(state, req);
    vec![
        Limit::new(
            format!("signup:fail:inv:{}", inv.id),
            selfservice::MAX_ATTEMPTS,
            state.settings.lifetimes.invitation.0,
        ),
        Limit::new(format!("signup:fail:ip:{ip}"), 30, identity::hour()),
    ]
}

#[derive(serde::Deserialize)]
pub struct VerifyForm {
    csrf_token: Option<String>,
    birth_date: Option<String>,
    pin: Option<String>,
    code: Option<String>,
}

const NOT_VERIFIED: &str =
    "We could not verify your identity with these answers. Please check them and try again.";
const LOCKED: &str = "Too many wrong answers for this invitation. For your security, please ask your healthcare provider for a new invitation.";

/// POST /signup/{token}/verify: date of birth with the PIN, or with the security code.
pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<VerifyForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (inv, patient) = match open_invitation(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let f = form.into_inner();
    let by_code = f.code.as_deref().is_some_and(|c| !c.trim().is_empty());
    let again = |status: StatusCode, error: &str| {
        if by_code {
            code_page(&state, &req, status, &token, None, Some(error))
        } else {
            identity_page(&state, &req, status, &token, &patient, Some(error))
        }
    };
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return Ok(again(StatusCode::FORBIDDEN, EXPIRED_FORM));
    }
    let limits = verify_limits(&state, &req, &inv);
    if selfservice::any_spent(&state.store, &limits, state.now()).await? {
        return Ok(again(StatusCode::TOO_MANY_REQUESTS, LOCKED));
    }
    let dob_ok = identity::parse_birth_date(f.birth_date.as_deref().unwrap_or(""))
        .is_some_and(|d| d == patient.birth_date);
    let second_ok = if by_code {
        let typed: String = f
            .code
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        // The code is only tried once the date is right, so a wrong date does not
        // spend the code's tries.
        dob_ok
            && state
                .store
                .check_security_code(
                    SIGNUP_CODE,
                    &inv.id,
                    &state.codes.hash(SIGNUP_CODE, &typed),
                    state.now(),
                )
                .await?
                == CodeCheck::Accepted
    } else {
        let pin: String = f
            .pin
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        state
            .store
            .invitation_pin_matches(&inv.id, &state.codes.hash(PIN_PURPOSE, &pin))
            .await?
    };
    if dob_ok && second_ok {
        state
            .store
            .mark_invitation_verified(&inv.id, state.now())
            .await?;
        return Ok(pages::see_other(&format!("/signup/{token}"), Vec::new()));
    }
    identity::count_failure(&state, &limits).await?;
    if selfservice::any_spent(&state.store, &limits, state.now()).await? {
        return Ok(again(StatusCode::TOO_MANY_REQUESTS, LOCKED));
    }
    Ok(again(StatusCode::BAD_REQUEST, NOT_VERIFIED))
}

#[derive(serde::Deserialize)]
pub struct PhoneForm {
    csrf_token: Option<String>,
    phone: Option<String>,
    channel: Option<String>,
}

/// Sends a sign-up code to the record's phone when `typed` matches it (or, for a
/// resend, when a code was sent before). True when throttled.
async fn send_signup_code(
    state: &AppState,
    req: &HttpRequest,
    inv: &Invitation,
    patient: &Patient,
    typed: Option<&str>,
    channel: PhoneChannel,
) -> Result<bool, PageError> {
    let flow = identity::CodeFlow {
        purpose: SIGNUP_CODE,
        step: "signup-code",
        flow_key: "inv",
        subject: &inv.id,
        account_id: None,
        on_record: patient.phone.as_deref(),
    };
    identity::send_security_code(state, req, flow, typed, channel).await
}

/// POST /signup/{token}/request-code: "Phone number from doctor's record", "Text" or
/// "Voice", "Request".
pub async fn request_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<PhoneForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (inv, patient) = match open_invitation(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let f = form.into_inner();
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return Ok(identity_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &token,
            &patient,
            Some(EXPIRED_FORM),
        ));
    }
    let phone = f.phone.unwrap_or_default();
    let Some(channel) = f.channel.as_deref().and_then(PhoneChannel::parse) else {
        return Ok(identity_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &token,
            &patient,
            Some("Please choose Text or Voice."),
        ));
    };
    if normalize::validate_phone(&phone).is_err() {
        return Ok(identity_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &token,
            &patient,
            Some("Please enter a phone number with 10 to 15 digits."),
        ));
    }
    if send_signup_code(&state, &req, &inv, &patient, Some(&phone), channel).await? {
        return Ok(identity_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &token,
            &patient,
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

/// GET /signup/{token}/resend?csrf_token=...: "send me the code via text message".
pub async fn resend(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ResendQuery>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (inv, patient) = match open_invitation(&state, &token).await? {
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
    if state.store.security_code_sent(SIGNUP_CODE, &inv.id).await?
        && send_signup_code(&state, &req, &inv, &patient, None, PhoneChannel::Text).await?
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
pub struct CreateForm {
    csrf_token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password2: Option<String>,
    question: Option<String>,
    answer: Option<String>,
}

/// POST /signup/{token}/create: the new login, signed in at once.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let (inv, patient) = match open_invitation(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    if inv.verified_at.is_none() {
        return Ok(identity_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &token,
            &patient,
            Some("Please confirm who you are first."),
        ));
    }
    let f = form.into_inner();
    let username = f.username.unwrap_or_default().trim().to_owned();
    let question = f.question.unwrap_or_default().trim().to_owned();
    let fields = AccountFields {
        username: &username,
        question: &question,
    };
    let again = |status: StatusCode, error: &str, fields: AccountFields<'_>| {
        account_page(&state, &req, status, &token, &patient, fields, Some(error))
    };
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return Ok(again(StatusCode::FORBIDDEN, EXPIRED_FORM, fields));
    }
    if let Err(m) = crate::http::settings::check_username(&username, &inv.email) {
        return Ok(again(StatusCode::BAD_REQUEST, &m, fields));
    }
    let password = f.password.unwrap_or_default();
    if let Err(m) = identity::check_new_password(&password, f.password2.as_deref().unwrap_or("")) {
        return Ok(again(StatusCode::BAD_REQUEST, &m, fields));
    }
    let answer = PasswordHasher::normalize_answer(f.answer.as_deref().unwrap_or(""));
    if question.is_empty() || question.chars().count() > 200 || answer.is_empty() {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "Please choose a security question (at most 200 characters) and give its answer.",
            fields,
        ));
    }
    let password_hash = identity::hash_password(&state, password).await?;
    let answer_hash = identity::hash_password(&state, answer).await?;
    let now = state.now();
    let new = NewAccount {
        username: username.clone(),
        email: inv.email.clone(),
        email_verified: true,
        phone: patient.phone.clone(),
        password_hash,
        security_question: Some(question.clone()),
        security_answer_hash: Some(answer_hash),
        own_patient: Some(patient.id.clone()),
        linked_patients: vec![],
    };
    let account = match state.store.accept_invitation(&inv.id, new, now).await {
        Ok(a) => a,
        Err(e) if e.is_conflict_on("username") => {
            return Ok(again(
                StatusCode::CONFLICT,
                "This username is taken. Please choose another.",
                fields,
            ));
        }
        Err(e) if e.is_conflict_on("email") => return Ok(link_offer(&state, &token, &patient)),
        Err(e) if e.is_conflict_on("invitation_closed") => return Ok(closed(&state, None)),
        Err(StoreError::Invalid(m)) => {
            return Ok(again(StatusCode::BAD_REQUEST, &m, fields));
        }
        Err(e) => return Err(e.into()),
    };
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
        "/account?done=welcome",
        vec![session::cookie(&state, cookie)],
    ))
}

// ------------------------------------------------------------------ linking a record

fn wrong_login(state: &AppState) -> HttpResponse {
    let page = MessagePage {
        product: state.product(),
        title: "This invitation is for another login",
        paragraphs: vec![
            "The invitation was sent to an email address that this login does not use. Log out, then log in with the login that uses that address.".into(),
            "If you would like the record on this login, please ask your provider to send the invitation to this login's email address.".into(),
        ],
        link: Some(("/account".into(), "Go to your account".into())),
    };
    pages::html(StatusCode::FORBIDDEN, &page, Vec::new())
}

/// GET /account/link/{token}: after logging in from the sign-up page's offer.
pub async fn link_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    link_page(&state, &req, &token, StatusCode::OK, None).await
}

async fn link_page(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let back = format!("/login?return_to=%2Faccount%2Flink%2F{token}");
    let Some(s) = session::current(state, req).await? else {
        return Ok(pages::see_other(&back, Vec::new()));
    };
    let (inv, patient) = match open_invitation(state, token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let Some(account) = state.store.account(&s.account_id).await? else {
        return Ok(pages::see_other(&back, vec![session::removal(state)]));
    };
    if normalize::email(&account.email) != normalize::email(&inv.email) {
        return Ok(wrong_login(state));
    }
    let has_own = state.store.own_patient(&account.id).await?.is_some();
    let csrf = state.csrf.issue(req);
    let name = patient.full_name();
    let page = LinkRecordPage {
        product: state.product(),
        csrf_token: &csrf.token,
        token,
        record_name: &name,
        username: &account.username,
        may_be_own: !has_own,
        error,
    };
    Ok(pages::html(status, &page, csrf.cookies()))
}

#[derive(serde::Deserialize)]
pub struct LinkForm {
    csrf_token: Option<String>,
    relationship: Option<String>,
}

/// POST /account/link/{token}: adds the record to the signed-in login.
pub async fn link_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<LinkForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let f = form.into_inner();
    let Some(s) = session::current(&state, &req).await? else {
        return Ok(pages::see_other(
            &format!("/login?return_to=%2Faccount%2Flink%2F{token}"),
            Vec::new(),
        ));
    };
    if !state.csrf.verify(&req, f.csrf_token.as_deref()) {
        return link_page(
            &state,
            &req,
            &token,
            StatusCode::FORBIDDEN,
            Some(EXPIRED_FORM),
        )
        .await;
    }
    let (inv, _) = match open_invitation(&state, &token).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let relationship = match f.relationship.as_deref() {
        Some(r) => match Relationship::parse(r) {
            Ok(r) => r,
            Err(_) => {
                return link_page(
                    &state,
                    &req,
                    &token,
                    StatusCode::BAD_REQUEST,
                    Some("Please choose whose record it is."),
                )
                .await
            }
        },
        None => Relationship::Guardian,
    };
    match state
        .store
        .link_invitation_to_account(&inv.id, &s.account_id, relationship, state.now())
        .await
    {
        Ok(_) => Ok(pages::see_other("/account?done=linked", Vec::new())),
        Err(e) if e.is_conflict_on("invitation_email") => Ok(wrong_login(&state)),
        Err(e) if e.is_conflict_on("self_record") => link_page(
            &state,
            &req,
            &token,
            StatusCode::CONFLICT,
            Some("This login already has a record of its own. Please choose another relationship."),
        )
        .await,
        Err(e) if e.is_conflict_on("invitation_closed") => Ok(closed(&state, None)),
        Err(e) => Err(e.into()),
    }
}
