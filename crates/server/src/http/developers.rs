//! The developer portal (`/developers`): developer accounts (sign-up confirmed by an
//! emailed link, login, logout, password reset), app registration and settings, secret
//! rotation with a grace period, and initial access tokens for dynamic registration.
//!
//! Developer accounts are not patients' logins: their own table, their own session
//! cookie (`pfid_dev_session`, scoped to `/developers`), their own links. Like the
//! patient pages, every form carries a CSRF token, failures are throttled per address
//! and per email in the database, and no answer tells whether an email has an account.
//! The rules an app must follow live in `oauth::client_metadata`, shared with the
//! registration endpoint.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use pfid_store::audit::AuditEvent;
use pfid_store::clients::{Client, ClientStatus};
use pfid_store::developers::{
    Developer, DeveloperSession, NewDeveloper, SignupConfirmation, SignupMail,
};
use pfid_store::outbox::{Channel, NewMessage};
use pfid_store::registrations::StatusChange;
use pfid_store::{normalize, password, StoreError};

use crate::app::AppState;
use crate::http::errors::PageError;
use crate::http::pages::{self, MessagePage};
use crate::http::{client_ip, user_agent};
use crate::oauth::client_metadata::{self, Draft, Metadata};
use crate::oauth::scope;

/// The portal's session cookie.
pub const COOKIE: &str = "pfid_dev_session";
/// Where the portal lives; its cookie is sent nowhere else.
const PATH: &str = "/developers";
/// The longest grace period a rotated secret may keep.
pub const MAX_SECRET_GRACE: Duration = Duration::days(7);

const INCORRECT: &str = "Incorrect email or password";
const EXPIRED_FORM: &str = "This page expired. Please try again.";
const LINK_GONE: &str =
    "This link has expired or was already used. Links work once and for a limited time.";

/// Every route of the portal.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/developers", web::get().to(home))
        .route("/developers/signup", web::get().to(signup_form))
        .route("/developers/signup", web::post().to(signup))
        .route("/developers/verify", web::get().to(verify_form))
        .route("/developers/verify", web::post().to(verify))
        .route("/developers/login", web::get().to(login_form))
        .route("/developers/login", web::post().to(login))
        .route("/developers/logout", web::post().to(logout))
        .route("/developers/forgot-password", web::get().to(forgot_form))
        .route("/developers/forgot-password", web::post().to(forgot))
        .route("/developers/reset-password", web::get().to(reset_form))
        .route("/developers/reset-password", web::post().to(reset))
        .route("/developers/apps/new", web::get().to(new_app_form))
        .route("/developers/apps", web::post().to(create_app))
        .route("/developers/apps/{id}", web::get().to(show_app))
        .route("/developers/apps/{id}", web::post().to(update_app))
        .route(
            "/developers/apps/{id}/rotate-secret",
            web::post().to(rotate_secret),
        )
        .route("/developers/apps/{id}/delete", web::post().to(delete_app))
        .route("/developers/tokens", web::post().to(create_token))
        .route(
            "/developers/tokens/{id}/revoke",
            web::post().to(revoke_token),
        );
}

/// Who made an app, as patients see it on the consent page: the developer's
/// organization, or their name. None for apps an operator registered.
pub async fn maker_of(state: &AppState, client: &Client) -> Result<Option<String>, StoreError> {
    let Some(id) = &client.developer_id else {
        return Ok(None);
    };
    Ok(state
        .store
        .developer(id)
        .await?
        .map(|d| d.public_name().to_owned()))
}

// ---------------------------------------------------------------- forms and errors

/// A urlencoded form body, with repeated fields kept (checkboxes).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(body: &[u8]) -> Fields {
        Fields(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    /// The first value of a field, or "".
    fn text(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn csrf(&self) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == crate::http::csrf::FIELD)
            .map(|(_, v)| v.clone())
    }
}

/// Messages shown next to the fields they are about ("" for the whole form).
#[derive(Debug, Default)]
pub struct Errors(Vec<(String, String)>);

impl Errors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_owned(), message.into()));
    }
    /// The messages about one field.
    pub fn get(&self, field: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .collect()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn of(field: &str, message: impl Into<String>) -> Errors {
        let mut e = Errors::default();
        e.add(field, message);
        e
    }
}

/// "48 hours", "7 days", "15 minutes".
fn in_words(d: Duration) -> String {
    let s = d.num_seconds();
    let (n, unit) = if s % 86400 == 0 {
        (s / 86400, "day")
    } else if s % 3600 == 0 {
        (s / 3600, "hour")
    } else {
        ((s + 59) / 60, "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn render_or_log<T: Template>(t: &T) -> String {
    t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "email template failed");
        String::new()
    })
}

fn message_page(
    state: &AppState,
    title: &str,
    paragraphs: Vec<String>,
    link: Option<(&str, &str)>,
) -> HttpResponse {
    let page = MessagePage {
        product: state.product(),
        title,
        paragraphs,
        link: link.map(|(h, t)| (h.to_owned(), t.to_owned())),
    };
    pages::html(StatusCode::OK, &page, Vec::new())
}

// ---------------------------------------------------------------- sessions

fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path(PATH)
        .http_only(true)
        .secure(state.settings.server.issuer.is_https())
        .same_site(SameSite::Lax)
        .finish()
}

fn session_removal(state: &AppState) -> Cookie<'static> {
    let mut c = session_cookie(state, String::new());
    c.set_max_age(CookieDuration::ZERO);
    c
}

/// The developer signed in on this browser, if any. Notes activity at most once a
/// minute, so the idle timeout slides without a write on every page.
async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(DeveloperSession, Developer)>, StoreError> {
    let Some(cookie) = req.cookie(COOKIE) else {
        return Ok(None);
    };
    let now = state.now();
    let idle = state.settings.lifetimes.session_idle.0;
    let Some(session) = state
        .store
        .developer_session_by_cookie(cookie.value(), now, idle)
        .await?
    else {
        return Ok(None);
    };
    if now - session.last_seen_at > Duration::seconds(60) {
        state
            .store
            .touch_developer_session(&session.id, now)
            .await?;
    }
    Ok(state
        .store
        .developer(&session.developer_id)
        .await?
        .map(|d| (session, d)))
}

fn to_login() -> HttpResponse {
    pages::see_other("/developers/login", Vec::new())
}

fn audit(kind: &str, developer: &Developer, ip: Option<&str>) -> AuditEvent {
    AuditEvent::new(kind)
        .ip(ip)
        .detail(serde_json::json!({"developer_id": developer.id}))
}

/// Counts one request against each bucket; true when any is over its limit.
async fn over_limit(state: &AppState, buckets: &[(String, u32)]) -> Result<bool, StoreError> {
    let window = state.settings.throttle.login_window.0;
    let now = state.now();
    let mut over = false;
    for (bucket, limit) in buckets {
        over |= state
            .store
            .rate_hit(bucket, now, window)
            .await?
            .exceeds(*limit);
    }
    Ok(over)
}

fn throttled_message(state: &AppState) -> String {
    format!(
        "Too many requests. Please wait {} and try again.",
        in_words(state.settings.throttle.login_window.0)
    )
}

/// The throttling buckets of a request that sends email to `email`.
fn mail_buckets(
    state: &AppState,
    req: &HttpRequest,
    kind: &str,
    email: &str,
) -> Vec<(String, u32)> {
    let t = &state.settings.throttle;
    let mut buckets = vec![(
        format!("dev{kind}:email:{}", normalize::email(email)),
        t.login_failures_per_account,
    )];
    if let Some(ip) = client_ip(req, state.settings.server.trust_forwarded_for) {
        buckets.push((format!("dev{kind}:ip:{ip}"), t.login_failures_per_address));
    }
    buckets
}

async fn hash_password(state: &AppState, password: String) -> Result<String, PageError> {
    let hasher = state.passwords.clone();
    tokio::task::spawn_blocking(move || hasher.hash(&password))
        .await
        .map_err(PageError::internal)?
        .map_err(PageError::internal)
}

/// Checks a new password and its retyped copy, adding messages to `errors`.
fn check_new_password(password: &str, retyped: &str, errors: &mut Errors) {
    let missing = password::rule_violations(password);
    if !missing.is_empty() {
        errors.add(
            "password",
            format!("Your password must contain {}.", missing.join(", ")),
        );
    }
    if password != retyped {
        errors.add("password2", "The passwords do not match.");
    }
}

// ---------------------------------------------------------------- home

#[derive(Template)]
#[template(path = "developers/landing.html")]
struct LandingPage<'a> {
    product: &'a str,
}

/// One app in the dashboard's list.
struct AppLine {
    id: String,
    name: String,
    status: &'static str,
    reason: Option<String>,
}

/// One initial access token in the dashboard's list.
struct TokenLine {
    id: String,
    created: String,
    state: String,
    last_used: String,
    live: bool,
}

#[derive(Template)]
#[template(path = "developers/dashboard.html")]
struct DashboardPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    display_name: &'a str,
    email: &'a str,
    notice: Option<&'a str>,
    apps: Vec<AppLine>,
    tokens: Vec<TokenLine>,
    new_token: Option<&'a str>,
    registration_endpoint: String,
    errors: &'a Errors,
}

fn status_words(s: ClientStatus) -> &'static str {
    match s {
        ClientStatus::Review => "In review",
        ClientStatus::Approved => "Approved",
        ClientStatus::Rejected => "Rejected",
        ClientStatus::Suspended => "Suspended",
    }
}

fn status_help(s: ClientStatus) -> &'static str {
    match s {
        ClientStatus::Review => {
            "An operator reviews the app before patients can use it: until then nobody can sign in to it."
        }
        ClientStatus::Approved => "Patients can sign in to this app.",
        ClientStatus::Rejected => {
            "Fix what the reason says and save the app: that sends it back to review."
        }
        ClientStatus::Suspended => {
            "An operator suspended this app: its tokens do not work and patients cannot sign in. Contact the operator."
        }
    }
}

async fn dashboard(
    state: &AppState,
    req: &HttpRequest,
    developer: &Developer,
    status: StatusCode,
    notice: Option<&str>,
    new_token: Option<&str>,
    errors: &Errors,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let apps = state
        .store
        .clients_of_developer(&developer.id)
        .await?
        .into_iter()
        .map(|c| AppLine {
            status: status_words(c.status),
            reason: c.status_reason,
            id: c.id,
            name: c.name,
        })
        .collect();
    let tokens = state
        .store
        .initial_access_tokens_of(&developer.id)
        .await?
        .into_iter()
        .map(|t| TokenLine {
            live: t.is_live(now),
            state: match (t.revoked_at, t.expires_at) {
                (Some(r), _) => format!("revoked {}", when(r)),
                (None, Some(e)) if e <= now => format!("expired {}", when(e)),
                (None, Some(e)) => format!("valid until {}", when(e)),
                (None, None) => "valid until revoked".to_owned(),
            },
            last_used: t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            created: when(t.created_at),
            id: t.id,
        })
        .collect();
    let form = state.csrf.issue(req);
    let page = DashboardPage {
        product: state.product(),
        csrf_token: &form.token,
        display_name: &developer.display_name,
        email: &developer.email,
        notice,
        apps,
        tokens,
        new_token,
        registration_endpoint: state.settings.server.issuer.url("/register"),
        errors,
    };
    Ok(pages::html(status, &page, form.cookies()))
}

/// GET /developers: the dashboard, or what the portal is for.
async fn home(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    match signed_in(&state, &req).await? {
        Some((_, dev)) => {
            dashboard(
                &state,
                &req,
                &dev,
                StatusCode::OK,
                None,
                None,
                &Errors::default(),
            )
            .await
        }
        None => Ok(pages::html(
            StatusCode::OK,
            &LandingPage {
                product: state.product(),
            },
            Vec::new(),
        )),
    }
}

// ---------------------------------------------------------------- sign-up

#[derive(Template)]
#[template(path = "developers/signup.html")]
struct SignupPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    display_name: &'a str,
    organization: &'a str,
    email: &'a str,
    rule: &'static str,
    errors: &'a Errors,
}

fn signup_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    f: &Fields,
    errors: &Errors,
) -> HttpResponse {
    let form = state.csrf.issue(req);
    let (name, org, email) = (
        f.text("display_name"),
        f.text("organization"),
        f.text("email"),
    );
    let page = SignupPage {
        product: state.product(),
        csrf_token: &form.token,
        display_name: &name,
        organization: &org,
        email: &email,
        rule: password::RULE_TEXT,
        errors,
    };
    pages::html(status, &page, form.cookies())
}

/// GET /developers/signup
async fn signup_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    signup_page(
        &state,
        &req,
        StatusCode::OK,
        &Fields(Vec::new()),
        &Errors::default(),
    )
}

#[derive(Template)]
#[template(path = "developers/email/confirm.txt")]
struct ConfirmText<'a> {
    product: &'a str,
    name: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "developers/email/confirm.html")]
struct ConfirmHtml<'a> {
    product: &'a str,
    name: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "developers/email/already_registered.txt")]
struct AlreadyText<'a> {
    product: &'a str,
    login: &'a str,
    forgot: &'a str,
}

#[derive(Template)]
#[template(path = "developers/email/already_registered.html")]
struct AlreadyHtml<'a> {
    product: &'a str,
    login: &'a str,
    forgot: &'a str,
}

/// POST /developers/signup: always answers "check your email" once the form is valid,
/// whether or not the address has an account; the mailbox learns which.
async fn signup(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Ok(signup_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &f,
            &Errors::of("", EXPIRED_FORM),
        ));
    }
    let (name, org, email) = (
        f.text("display_name").trim().to_owned(),
        f.text("organization").trim().to_owned(),
        f.text("email").trim().to_owned(),
    );
    let mut errors = Errors::default();
    if let Err(StoreError::Invalid(m)) = pfid_store::developers::validate_name(&name, "Your name") {
        errors.add("display_name", format!("{m}."));
    }
    if !org.is_empty() {
        if let Err(StoreError::Invalid(m)) =
            pfid_store::developers::validate_name(&org, "The organization")
        {
            errors.add("organization", format!("{m}."));
        }
    }
    if normalize::validate_email(&email).is_err() {
        errors.add("email", "Enter a valid email address.");
    }
    check_new_password(&f.text("password"), &f.text("password2"), &mut errors);
    if !errors.is_empty() {
        return Ok(signup_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &f,
            &errors,
        ));
    }
    if over_limit(&state, &mail_buckets(&state, &req, "signup", &email)).await? {
        return Ok(signup_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &f,
            &Errors::of("", throttled_message(&state)),
        ));
    }
    // Hashed whether or not the address has an account, so the time taken tells nothing.
    let password_hash = hash_password(&state, f.text("password")).await?;
    let lifetime = state.settings.developers.verification_link.0;
    let issuer = state.settings.server.issuer.clone();
    let product = state.product().to_owned();
    let valid_for = in_words(lifetime);
    let (recipient, shown_name) = (email.clone(), name.clone());
    let new = NewDeveloper {
        email: email.clone(),
        display_name: name,
        organization: (!org.is_empty()).then_some(org),
        password_hash,
    };
    state
        .store
        .start_developer_signup(new, state.now(), lifetime, move |mail| match mail {
            SignupMail::Confirm { token } => {
                let link = issuer.url(&format!("/developers/verify?token={token}"));
                NewMessage {
                    channel: Channel::Email,
                    recipient,
                    subject: Some(format!("Confirm your {product} developer account")),
                    body_text: render_or_log(&ConfirmText {
                        product: &product,
                        name: &shown_name,
                        link: &link,
                        valid_for: &valid_for,
                    }),
                    body_html: Some(render_or_log(&ConfirmHtml {
                        product: &product,
                        name: &shown_name,
                        link: &link,
                        valid_for: &valid_for,
                    })),
                }
            }
            SignupMail::AlreadyRegistered => {
                let login = issuer.url("/developers/login");
                let forgot = issuer.url("/developers/forgot-password");
                NewMessage {
                    channel: Channel::Email,
                    recipient,
                    subject: Some(format!("Your {product} developer account")),
                    body_text: render_or_log(&AlreadyText {
                        product: &product,
                        login: &login,
                        forgot: &forgot,
                    }),
                    body_html: Some(render_or_log(&AlreadyHtml {
                        product: &product,
                        login: &login,
                        forgot: &forgot,
                    })),
                }
            }
        })
        .await?;
    state.outbox_wakeup.wake();
    Ok(message_page(
        &state,
        "Check your email",
        vec![
            format!(
                "We sent a message to {email}. Follow the link in it to confirm your address \
                 and finish creating your developer account."
            ),
            format!(
                "The link works for {}. Nothing arrived? Check your spam folder, or sign up again.",
                in_words(lifetime)
            ),
        ],
        None,
    ))
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

#[derive(Template)]
#[template(path = "developers/verify.html")]
struct VerifyPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
}

fn link_gone(state: &AppState, again: (&str, &str)) -> HttpResponse {
    message_page(
        state,
        "This link no longer works",
        vec![LINK_GONE.to_owned()],
        Some(again),
    )
}

/// GET /developers/verify?token=…: asks to confirm, so that a mail scanner following
/// the link does not use it up.
async fn verify_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let token = query.token.clone().unwrap_or_default();
    if token.is_empty()
        || !state
            .store
            .developer_signup_link_is_live(&token, state.now())
            .await?
    {
        return Ok(link_gone(&state, ("/developers/signup", "Sign up again")));
    }
    let form = state.csrf.issue(&req);
    let page = VerifyPage {
        product: state.product(),
        csrf_token: &form.token,
        token: &token,
    };
    Ok(pages::html(StatusCode::OK, &page, form.cookies()))
}

/// POST /developers/verify: creates the account and signs it in.
async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Err(PageError::forbidden(EXPIRED_FORM));
    }
    let now = state.now();
    match state
        .store
        .confirm_developer_signup(&f.text("token"), now)
        .await?
    {
        SignupConfirmation::Created(dev) => {
            let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
            state
                .store
                .record_event(audit("developer_signed_up", &dev, ip.as_deref()), now)
                .await?;
            // Whoever was signed in on this browser is not any more.
            if let Some((old, _)) = signed_in(&state, &req).await? {
                state.store.end_developer_session(&old.id, now).await?;
            }
            let (_, cookie) = state
                .store
                .create_developer_session(&dev.id, now, state.settings.lifetimes.session.0)
                .await?;
            Ok(pages::see_other(
                "/developers",
                vec![session_cookie(&state, cookie)],
            ))
        }
        SignupConfirmation::AlreadyRegistered => Ok(message_page(
            &state,
            "You already have an account",
            vec!["This address already has a developer account.".into()],
            Some(("/developers/login", "Log in")),
        )),
        SignupConfirmation::Invalid => {
            Ok(link_gone(&state, ("/developers/signup", "Sign up again")))
        }
    }
}

// ---------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "developers/login.html")]
struct LoginPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

fn login_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
) -> HttpResponse {
    let form = state.csrf.issue(req);
    let page = LoginPage {
        product: state.product(),
        csrf_token: &form.token,
        email,
        error,
        notice: None,
    };
    pages::html(status, &page, form.cookies())
}

/// GET /developers/login
async fn login_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    if signed_in(&state, &req).await?.is_some() {
        return Ok(pages::see_other("/developers", Vec::new()));
    }
    Ok(login_page(&state, &req, StatusCode::OK, "", None))
}

/// POST /developers/login: one message for every failure, one password verification
/// whether or not the email has an account, failures counted per email and per address.
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    let email = f.text("email").trim().to_owned();
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Ok(login_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &email,
            Some(EXPIRED_FORM),
        ));
    }
    let now = state.now();
    let throttle = &state.settings.throttle;
    let window = throttle.login_window.0;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    let name_bucket = format!("devlogin:email:{}", normalize::email(&email));
    let ip_bucket = ip.as_ref().map(|ip| format!("devlogin:ip:{ip}"));
    let by_name = state.store.rate_peek(&name_bucket, now, window).await?;
    let by_ip = match &ip_bucket {
        Some(b) => Some(state.store.rate_peek(b, now, window).await?),
        None => None,
    };
    if by_name.hits >= throttle.login_failures_per_account
        || by_ip.is_some_and(|s| s.hits >= throttle.login_failures_per_address)
    {
        let message = format!(
            "Too many failed attempts. Please wait {} and try again, or reset your password.",
            in_words(window)
        );
        return Ok(login_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            Some(&message),
        ));
    }
    let developer = if email.is_empty() {
        None
    } else {
        state.store.developer_by_email(&email).await?
    };
    let hasher = state.passwords.clone();
    let password = f.text("password");
    let verified = tokio::task::spawn_blocking(move || match developer {
        Some(dev) if hasher.verify(&dev.password_hash, &password) => Some(dev),
        Some(_) => None,
        None => {
            hasher.verify_nothing(&password);
            None
        }
    })
    .await
    .map_err(PageError::internal)?;
    let Some(dev) = verified else {
        state.store.rate_hit(&name_bucket, now, window).await?;
        if let Some(b) = &ip_bucket {
            state.store.rate_hit(b, now, window).await?;
        }
        state
            .store
            .record_event(
                AuditEvent::new("developer_login_failed")
                    .ip(ip.as_deref())
                    .detail(
                        serde_json::json!({"email": email.chars().take(64).collect::<String>()}),
                    ),
                now,
            )
            .await?;
        return Ok(login_page(
            &state,
            &req,
            StatusCode::OK,
            &email,
            Some(INCORRECT),
        ));
    };
    state.store.rate_clear(&name_bucket).await?;
    // A new session at every login (no fixation); the old one ends.
    if let Some((old, _)) = signed_in(&state, &req).await? {
        state.store.end_developer_session(&old.id, now).await?;
    }
    let (_, cookie) = state
        .store
        .create_developer_session(&dev.id, now, state.settings.lifetimes.session.0)
        .await?;
    let mut event = audit("developer_login", &dev, ip.as_deref());
    if let Some(ua) = user_agent(&req) {
        event = event.detail(serde_json::json!({"developer_id": dev.id, "user_agent": ua}));
    }
    state.store.record_event(event, now).await?;
    Ok(pages::see_other(
        "/developers",
        vec![session_cookie(&state, cookie)],
    ))
}

/// POST /developers/logout
async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Err(PageError::forbidden(EXPIRED_FORM));
    }
    if let Some((session, dev)) = signed_in(&state, &req).await? {
        let now = state.now();
        state.store.end_developer_session(&session.id, now).await?;
        state
            .store
            .record_event(audit("developer_logout", &dev, None), now)
            .await?;
    }
    let page = MessagePage {
        product: state.product(),
        title: "You have logged out",
        paragraphs: vec![
            "You are no longer signed in to the developer portal on this browser.".into(),
        ],
        link: Some(("/developers/login".into(), "Log in again".into())),
    };
    Ok(pages::html(
        StatusCode::OK,
        &page,
        vec![session_removal(&state)],
    ))
}

// ---------------------------------------------------------------- password reset

#[derive(Template)]
#[template(path = "developers/forgot.html")]
struct ForgotPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    email: &'a str,
    errors: &'a Errors,
}

fn forgot_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    email: &str,
    errors: &Errors,
) -> HttpResponse {
    let form = state.csrf.issue(req);
    let page = ForgotPage {
        product: state.product(),
        csrf_token: &form.token,
        email,
        errors,
    };
    pages::html(status, &page, form.cookies())
}

/// GET /developers/forgot-password
async fn forgot_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    forgot_page(&state, &req, StatusCode::OK, "", &Errors::default())
}

#[derive(Template)]
#[template(path = "developers/email/reset.txt")]
struct ResetText<'a> {
    product: &'a str,
    name: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "developers/email/reset.html")]
struct ResetHtml<'a> {
    product: &'a str,
    name: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

/// POST /developers/forgot-password: the same answer whether or not the address has an
/// account; only an account's address receives a link.
async fn forgot(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    let email = f.text("email").trim().to_owned();
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Ok(forgot_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &email,
            &Errors::of("", EXPIRED_FORM),
        ));
    }
    if normalize::validate_email(&email).is_err() {
        return Ok(forgot_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &email,
            &Errors::of("email", "Enter a valid email address."),
        ));
    }
    if over_limit(&state, &mail_buckets(&state, &req, "reset", &email)).await? {
        return Ok(forgot_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            &Errors::of("", throttled_message(&state)),
        ));
    }
    let lifetime = state.settings.lifetimes.reset_link.0;
    let issuer = state.settings.server.issuer.clone();
    let product = state.product().to_owned();
    let valid_for = in_words(lifetime);
    state
        .store
        .start_developer_reset(&email, state.now(), lifetime, move |dev, token| {
            let link = issuer.url(&format!("/developers/reset-password?token={token}"));
            NewMessage {
                channel: Channel::Email,
                recipient: dev.email.clone(),
                subject: Some(format!("Reset your {product} developer password")),
                body_text: render_or_log(&ResetText {
                    product: &product,
                    name: &dev.display_name,
                    link: &link,
                    valid_for: &valid_for,
                }),
                body_html: Some(render_or_log(&ResetHtml {
                    product: &product,
                    name: &dev.display_name,
                    link: &link,
                    valid_for: &valid_for,
                })),
            }
        })
        .await?;
    state.outbox_wakeup.wake();
    Ok(message_page(
        &state,
        "Check your email",
        vec![format!(
            "If {email} is the address of a developer account, we sent it a link to choose a \
             new password. The link works for {}.",
            in_words(lifetime)
        )],
        Some(("/developers/login", "Back to log in")),
    ))
}

#[derive(Template)]
#[template(path = "developers/reset.html")]
struct ResetPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
    rule: &'static str,
    errors: &'a Errors,
}

fn reset_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    token: &str,
    errors: &Errors,
) -> HttpResponse {
    let form = state.csrf.issue(req);
    let page = ResetPage {
        product: state.product(),
        csrf_token: &form.token,
        token,
        rule: password::RULE_TEXT,
        errors,
    };
    pages::html(status, &page, form.cookies())
}

/// GET /developers/reset-password?token=…
async fn reset_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let token = query.token.clone().unwrap_or_default();
    if token.is_empty()
        || !state
            .store
            .developer_reset_link_is_live(&token, state.now())
            .await?
    {
        return Ok(link_gone(
            &state,
            ("/developers/forgot-password", "Ask for a new link"),
        ));
    }
    Ok(reset_page(
        &state,
        &req,
        StatusCode::OK,
        &token,
        &Errors::default(),
    ))
}

/// POST /developers/reset-password: sets the password and signs out every browser.
async fn reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    let token = f.text("token");
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Ok(reset_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &token,
            &Errors::of("", EXPIRED_FORM),
        ));
    }
    let mut errors = Errors::default();
    check_new_password(&f.text("password"), &f.text("password2"), &mut errors);
    if !errors.is_empty() {
        return Ok(reset_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &token,
            &errors,
        ));
    }
    let hash = hash_password(&state, f.text("password")).await?;
    let now = state.now();
    match state
        .store
        .reset_developer_password(&token, hash, now)
        .await?
    {
        Some(dev) => {
            let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
            state
                .store
                .record_event(audit("developer_password_reset", &dev, ip.as_deref()), now)
                .await?;
            state
                .store
                .rate_clear(&format!("devlogin:email:{}", normalize::email(&dev.email)))
                .await?;
            let page = MessagePage {
                product: state.product(),
                title: "Your password was changed",
                paragraphs: vec![
                    "Log in with your new password. Every browser that was signed in has been signed out."
                        .into(),
                ],
                link: Some(("/developers/login".into(), "Log in".into())),
            };
            Ok(pages::html(
                StatusCode::OK,
                &page,
                vec![session_removal(&state)],
            ))
        }
        None => Ok(link_gone(
            &state,
            ("/developers/forgot-password", "Ask for a new link"),
        )),
    }
}

// ---------------------------------------------------------------- apps

/// The app form's values, as text.
#[derive(Debug, Clone, Default)]
pub struct AppForm {
    pub client_name: String,
    pub description: String,
    pub logo_uri: String,
    pub client_uri: String,
    pub policy_uri: String,
    pub tos_uri: String,
    pub app_type: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub scopes: Vec<String>,
    pub auth_method: String,
    pub jwks: String,
    pub jwks_uri: String,
    pub alg: String,
    pub backchannel_logout_uri: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn optional(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl AppForm {
    pub fn has_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }

    pub fn app_type_words(&self) -> &'static str {
        APP_TYPES
            .iter()
            .find(|(v, _, _)| *v == self.app_type)
            .map(|(_, w, _)| *w)
            .unwrap_or("Unknown")
    }

    fn from_fields(f: &Fields) -> AppForm {
        AppForm {
            client_name: f.text("client_name"),
            description: f.text("description"),
            logo_uri: f.text("logo_uri"),
            client_uri: f.text("client_uri"),
            policy_uri: f.text("policy_uri"),
            tos_uri: f.text("tos_uri"),
            app_type: f.text("app_type"),
            redirect_uris: f.text("redirect_uris"),
            post_logout_redirect_uris: f.text("post_logout_redirect_uris"),
            scopes: f.all("scope"),
            auth_method: f.text("token_endpoint_auth_method"),
            jwks: f.text("jwks"),
            jwks_uri: f.text("jwks_uri"),
            alg: f.text("id_token_signed_response_alg"),
            backchannel_logout_uri: f.text("backchannel_logout_uri"),
        }
    }

    fn from_client(c: &Client) -> AppForm {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        AppForm {
            client_name: c.name.clone(),
            description: s(&c.description),
            logo_uri: s(&c.logo_uri),
            client_uri: s(&c.client_uri),
            policy_uri: s(&c.policy_uri),
            tos_uri: s(&c.tos_uri),
            app_type: c.app_type.as_str().to_owned(),
            redirect_uris: c.redirect_uris.join("\n"),
            post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
            scopes: c.scopes.clone(),
            auth_method: c.auth_method.as_str().to_owned(),
            jwks: s(&c.jwks),
            jwks_uri: s(&c.jwks_uri),
            alg: c.id_token_signed_response_alg.clone(),
            backchannel_logout_uri: s(&c.backchannel_logout_uri),
        }
    }

    /// The draft the shared rules check. The portal derives the grant types from the
    /// app type and the scopes (offline_access brings refresh_token).
    fn draft(&self) -> Draft {
        Draft {
            name: optional(&self.client_name),
            description: optional(&self.description),
            logo_uri: optional(&self.logo_uri),
            client_uri: optional(&self.client_uri),
            policy_uri: optional(&self.policy_uri),
            tos_uri: optional(&self.tos_uri),
            app_type: optional(&self.app_type),
            redirect_uris: lines(&self.redirect_uris),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris),
            scopes: self.scopes.clone(),
            grant_types: None,
            response_types: None,
            auth_method: optional(&self.auth_method),
            jwks: optional(&self.jwks),
            jwks_uri: optional(&self.jwks_uri),
            id_token_signed_response_alg: optional(&self.alg),
            backchannel_logout_uri: optional(&self.backchannel_logout_uri),
            require_par: false,
            contacts: Vec::new(),
        }
    }
}

/// The app types a developer picks from: (value, label, explanation).
const APP_TYPES: [(&str, &str, &str); 4] = [
    (
        "web",
        "Web app",
        "Runs on your server and keeps a client secret.",
    ),
    (
        "spa",
        "Single-page app",
        "Runs in the browser: no secret, signs in with PKCE.",
    ),
    (
        "native",
        "Native app",
        "A mobile or desktop app: no secret, PKCE, loopback or private-use redirect URIs (RFC 8252).",
    ),
    (
        "service",
        "Back-end service",
        "A server talking to pfid on its own behalf (client_credentials), no patient sign-in.",
    ),
];

/// The token endpoint authentication methods: (value, explanation).
const AUTH_METHODS: [(&str, &str); 4] = [
    (
        "client_secret_basic",
        "The client secret in an HTTP Basic Authorization header (web apps and services).",
    ),
    (
        "client_secret_post",
        "The client secret in the form body (web apps and services).",
    ),
    (
        "private_key_jwt",
        "A JWT signed with your private key; give your public keys below (web apps and services).",
    ),
    (
        "none",
        "No client authentication: single-page and native apps, which use PKCE.",
    ),
];

fn scope_options() -> Vec<(&'static str, &'static str)> {
    scope::SUPPORTED
        .iter()
        .map(|s| (*s, scope::describe(s).unwrap_or("")))
        .collect()
}

#[derive(Template)]
#[template(path = "developers/app_new.html")]
struct NewAppPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    form: &'a AppForm,
    errors: &'a Errors,
    editing: bool,
    app_types: &'static [(&'static str, &'static str, &'static str)],
    auth_methods: &'static [(&'static str, &'static str)],
    scope_options: Vec<(&'static str, &'static str)>,
}

fn new_app_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    form: &AppForm,
    errors: &Errors,
) -> HttpResponse {
    let token = state.csrf.issue(req);
    let page = NewAppPage {
        product: state.product(),
        csrf_token: &token.token,
        form,
        errors,
        editing: false,
        app_types: &APP_TYPES,
        auth_methods: &AUTH_METHODS,
        scope_options: scope_options(),
    };
    pages::html(status, &page, token.cookies())
}

/// GET /developers/apps/new
async fn new_app_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    if signed_in(&state, &req).await?.is_none() {
        return Ok(to_login());
    }
    let form = AppForm {
        scopes: vec!["openid".into()],
        alg: "ES256".into(),
        ..AppForm::default()
    };
    Ok(new_app_page(
        &state,
        &req,
        StatusCode::OK,
        &form,
        &Errors::default(),
    ))
}

fn errors_from(list: Vec<client_metadata::FieldError>) -> Errors {
    let mut e = Errors::default();
    for fe in list {
        e.add(fe.field, fe.message);
    }
    e
}

/// The status a new app starts in.
pub fn initial_status(state: &AppState) -> ClientStatus {
    if state.settings.developers.review_required {
        ClientStatus::Review
    } else {
        ClientStatus::Approved
    }
}

/// The review consequence of replacing an app's metadata, shared with the registration
/// endpoint: a rejected app that is fixed goes back to review; an approved app whose
/// reviewed details change goes back to review; otherwise the status stays.
pub fn status_after_update(
    state: &AppState,
    current: &Client,
    current_meta: &Metadata,
    new: &Metadata,
) -> Option<StatusChange> {
    if !state.settings.developers.review_required {
        return None;
    }
    match current.status {
        ClientStatus::Rejected => Some(StatusChange {
            status: ClientStatus::Review,
            reason: None,
        }),
        ClientStatus::Approved if new.changes_reviewed_fields(current_meta) => Some(StatusChange {
            status: ClientStatus::Review,
            reason: None,
        }),
        _ => None,
    }
}

/// POST /developers/apps: registers an app; the page shows its secret once.
async fn create_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let f = Fields::parse(&body);
    let form = AppForm::from_fields(&f);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Ok(new_app_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &form,
            &Errors::of("", EXPIRED_FORM),
        ));
    }
    let meta = match client_metadata::validate(&form.draft()) {
        Ok(m) => m,
        Err(list) => {
            return Ok(new_app_page(
                &state,
                &req,
                StatusCode::BAD_REQUEST,
                &form,
                &errors_from(list),
            ))
        }
    };
    let now = state.now();
    let created = state
        .store
        .create_client(
            meta.to_new_client(initial_status(&state), Some(dev.id.clone())),
            now,
        )
        .await?;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    state
        .store
        .record_event(
            audit("client_registered", &dev, ip.as_deref()).client(&created.client.id),
            now,
        )
        .await?;
    let mut notices = vec!["Your app is registered.".to_owned()];
    if created.client.status == ClientStatus::Review {
        notices.push(
            "An operator will review it; patients can sign in to it once it is approved.".into(),
        );
    }
    app_page(
        &state,
        &req,
        AppView {
            client: &created.client,
            new_secret: created.secret.as_deref(),
            notices,
            form: None,
            errors: &Errors::default(),
            status: StatusCode::OK,
        },
    )
    .await
}

#[derive(Template)]
#[template(path = "developers/app.html")]
struct AppPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    app_name: &'a str,
    client_id: &'a str,
    status: &'static str,
    status_reason: Option<&'a str>,
    status_help: &'static str,
    approved: bool,
    notices: Vec<String>,
    new_secret: Option<&'a str>,
    uses_secret: bool,
    /// (created, valid until) in words
    secrets: Vec<(String, String)>,
    form: &'a AppForm,
    errors: &'a Errors,
    editing: bool,
    app_types: &'static [(&'static str, &'static str, &'static str)],
    auth_methods: &'static [(&'static str, &'static str)],
    scope_options: Vec<(&'static str, &'static str)>,
}

/// What an app page shows.
struct AppView<'a> {
    client: &'a Client,
    new_secret: Option<&'a str>,
    notices: Vec<String>,
    /// The submitted form when it was refused; None shows the app's settings.
    form: Option<&'a AppForm>,
    errors: &'a Errors,
    status: StatusCode,
}

async fn app_page(
    state: &AppState,
    req: &HttpRequest,
    view: AppView<'_>,
) -> Result<HttpResponse, PageError> {
    let c = view.client;
    let now = state.now();
    let secrets = if c.auth_method.uses_secret() {
        state
            .store
            .client_secrets(&c.id, now)
            .await?
            .into_iter()
            .map(|s| {
                (
                    when(s.created_at),
                    match s.expires_at {
                        Some(e) => format!("valid until {}", when(e)),
                        None => "valid until rotated".to_owned(),
                    },
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let current = AppForm::from_client(c);
    let form = view.form.unwrap_or(&current);
    let token = state.csrf.issue(req);
    let page = AppPage {
        product: state.product(),
        csrf_token: &token.token,
        app_name: &c.name,
        client_id: &c.id,
        status: status_words(c.status),
        status_reason: c.status_reason.as_deref(),
        status_help: status_help(c.status),
        approved: c.status == ClientStatus::Approved,
        notices: view.notices,
        new_secret: view.new_secret,
        uses_secret: c.auth_method.uses_secret(),
        secrets,
        form,
        errors: view.errors,
        editing: true,
        app_types: &APP_TYPES,
        auth_methods: &AUTH_METHODS,
        scope_options: scope_options(),
    };
    Ok(pages::html(view.status, &page, token.cookies()))
}

/// The developer's own app `id`, or a 404 page: another developer's app is not shown,
/// nor said to exist.
async fn own_app(state: &AppState, dev: &Developer, id: &str) -> Result<Client, PageError> {
    match state.store.client(id).await? {
        Some(c) if c.developer_id.as_deref() == Some(dev.id.as_str()) => Ok(c),
        _ => Err(PageError {
            status: StatusCode::NOT_FOUND,
            title: "App not found".into(),
            message: "You have no app with this id.".into(),
        }),
    }
}

/// GET /developers/apps/{id}
async fn show_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let client = own_app(&state, &dev, &path).await?;
    app_page(
        &state,
        &req,
        AppView {
            client: &client,
            new_secret: None,
            notices: Vec::new(),
            form: None,
            errors: &Errors::default(),
            status: StatusCode::OK,
        },
    )
    .await
}

/// POST /developers/apps/{id}: saves new settings (same rules as registration).
async fn update_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let client = own_app(&state, &dev, &path).await?;
    let f = Fields::parse(&body);
    let mut form = AppForm::from_fields(&f);
    // The app type is fixed at registration: whatever the form says, it is the app's.
    form.app_type = client.app_type.as_str().to_owned();
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        let errors = Errors::of("", EXPIRED_FORM);
        return app_page(
            &state,
            &req,
            AppView {
                client: &client,
                new_secret: None,
                notices: Vec::new(),
                form: Some(&form),
                errors: &errors,
                status: StatusCode::BAD_REQUEST,
            },
        )
        .await;
    }
    let meta = match client_metadata::validate(&form.draft()) {
        Ok(m) => m,
        Err(list) => {
            let errors = errors_from(list);
            return app_page(
                &state,
                &req,
                AppView {
                    client: &client,
                    new_secret: None,
                    notices: Vec::new(),
                    form: Some(&form),
                    errors: &errors,
                    status: StatusCode::BAD_REQUEST,
                },
            )
            .await;
        }
    };
    let contacts = state.store.client_contacts(&client.id).await?;
    let current_meta = Metadata::of_client(&client, &contacts);
    let change = status_after_update(&state, &client, &current_meta, &meta);
    let back_to_review = change.is_some();
    let now = state.now();
    let (updated, secret) = state
        .store
        .update_client(
            &client.id,
            meta.to_new_client(client.status, client.developer_id.clone()),
            None,
            change,
            now,
        )
        .await?;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    state
        .store
        .record_event(
            audit("client_updated", &dev, ip.as_deref()).client(&client.id),
            now,
        )
        .await?;
    let mut notices = vec!["Your changes are saved.".to_owned()];
    if back_to_review {
        notices.push(
            "The app is back in review: an operator approves the new details before patients can sign in to it again."
                .into(),
        );
    }
    app_page(
        &state,
        &req,
        AppView {
            client: &updated,
            new_secret: secret.as_deref(),
            notices,
            form: None,
            errors: &Errors::default(),
            status: StatusCode::OK,
        },
    )
    .await
}

/// POST /developers/apps/{id}/rotate-secret: a new secret, shown once; the old ones
/// keep working for the grace period the developer chose (at most 7 days).
async fn rotate_secret(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let client = own_app(&state, &dev, &path).await?;
    let f = Fields::parse(&body);
    let grace = if !state.csrf.verify(&req, f.csrf().as_deref()) {
        Err(Errors::of("", EXPIRED_FORM))
    } else if !client.auth_method.uses_secret() {
        Err(Errors::of(
            "",
            "This app does not authenticate with a secret, so there is none to rotate.",
        ))
    } else {
        match f.text("grace").trim().parse::<i64>() {
            Ok(s) if s < 0 => Err(Errors::of("grace", "The grace period cannot be negative.")),
            Ok(s) if Duration::seconds(s) > MAX_SECRET_GRACE => Err(Errors::of(
                "grace",
                "The grace period can be at most 7 days.",
            )),
            Ok(s) => Ok(Duration::seconds(s)),
            Err(_) => Err(Errors::of(
                "grace",
                "Choose how long the old secret keeps working.",
            )),
        }
    };
    let grace = match grace {
        Ok(g) => g,
        Err(errors) => {
            return app_page(
                &state,
                &req,
                AppView {
                    client: &client,
                    new_secret: None,
                    notices: Vec::new(),
                    form: None,
                    errors: &errors,
                    status: StatusCode::BAD_REQUEST,
                },
            )
            .await
        }
    };
    let now = state.now();
    let secret = state
        .store
        .rotate_client_secret(&client.id, grace, now)
        .await?;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    state
        .store
        .record_event(
            audit("client_secret_rotated", &dev, ip.as_deref())
                .client(&client.id)
                .detail(serde_json::json!({"developer_id": dev.id, "grace_seconds": grace.num_seconds()})),
            now,
        )
        .await?;
    let notice = if grace.is_zero() {
        "A new secret is issued; the old one stopped working now.".to_owned()
    } else {
        format!(
            "A new secret is issued; the old one keeps working until {}.",
            when(now + grace)
        )
    };
    app_page(
        &state,
        &req,
        AppView {
            client: &client,
            new_secret: Some(&secret),
            notices: vec![notice],
            form: None,
            errors: &Errors::default(),
            status: StatusCode::OK,
        },
    )
    .await
}

/// POST /developers/apps/{id}/delete: the app and every token it holds go at once.
async fn delete_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let client = own_app(&state, &dev, &path).await?;
    let f = Fields::parse(&body);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Err(PageError::forbidden(EXPIRED_FORM));
    }
    let now = state.now();
    state.store.delete_client(&client.id).await?;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    state
        .store
        .record_event(
            audit("client_deleted", &dev, ip.as_deref()).client(&client.id),
            now,
        )
        .await?;
    let notice = format!("{} is deleted.", client.name);
    dashboard(
        &state,
        &req,
        &dev,
        StatusCode::OK,
        Some(&notice),
        None,
        &Errors::default(),
    )
    .await
}

// ---------------------------------------------------------------- initial access tokens

/// POST /developers/tokens: an initial access token for the registration endpoint,
/// shown once.
async fn create_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let f = Fields::parse(&body);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return dashboard(
            &state,
            &req,
            &dev,
            StatusCode::BAD_REQUEST,
            None,
            None,
            &Errors::of("expires_in", EXPIRED_FORM),
        )
        .await;
    }
    let now = state.now();
    let expires_at = match f.text("expires_in").as_str() {
        "never" => None,
        "1d" => Some(now + Duration::days(1)),
        "7d" => Some(now + Duration::days(7)),
        "30d" => Some(now + Duration::days(30)),
        _ => {
            return dashboard(
                &state,
                &req,
                &dev,
                StatusCode::BAD_REQUEST,
                None,
                None,
                &Errors::of("expires_in", "Choose when the token expires."),
            )
            .await
        }
    };
    let (token, value) = state
        .store
        .create_initial_access_token(Some(&dev.id), expires_at, now)
        .await?;
    state
        .store
        .record_event(
            audit("initial_access_token_created", &dev, None)
                .detail(serde_json::json!({"developer_id": dev.id, "token_id": token.id})),
            now,
        )
        .await?;
    dashboard(
        &state,
        &req,
        &dev,
        StatusCode::OK,
        None,
        Some(&value),
        &Errors::default(),
    )
    .await
}

/// POST /developers/tokens/{id}/revoke
async fn revoke_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let f = Fields::parse(&body);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Err(PageError::forbidden(EXPIRED_FORM));
    }
    let now = state.now();
    let revoked = state
        .store
        .revoke_initial_access_token(&dev.id, &path, now)
        .await?;
    let notice = if revoked {
        "The registration token is revoked."
    } else {
        "That registration token was already revoked or is not yours."
    };
    dashboard(
        &state,
        &req,
        &dev,
        StatusCode::OK,
        Some(notice),
        None,
        &Errors::default(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfid_store::clients::AuthMethod;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(in_words(Duration::hours(48)), "2 days");
        assert_eq!(in_words(Duration::hours(1)), "1 hour");
        assert_eq!(in_words(Duration::minutes(15)), "15 minutes");
    }

    #[test]
    fn form_fields_keep_repeated_checkboxes() {
        let f = Fields::parse(b"scope=openid&scope=email&client_name=A%20B");
        assert_eq!(f.all("scope"), vec!["openid", "email"]);
        assert_eq!(f.text("client_name"), "A B");
        assert_eq!(f.text("missing"), "");
    }

    #[test]
    fn portal_forms_derive_grants_from_scopes() {
        let form = AppForm {
            client_name: "A".into(),
            app_type: "web".into(),
            redirect_uris: "https://a.example/cb\n\n https://a.example/cb2 ".into(),
            scopes: vec!["openid".into(), "offline_access".into()],
            ..AppForm::default()
        };
        let d = form.draft();
        assert_eq!(
            d.redirect_uris,
            vec!["https://a.example/cb", "https://a.example/cb2"]
        );
        let m = client_metadata::validate(&d).unwrap();
        assert_eq!(m.grant_types, vec!["authorization_code", "refresh_token"]);
        assert_eq!(m.auth_method, AuthMethod::ClientSecretBasic);
    }
}
