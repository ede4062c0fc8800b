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

mod accounts;
mod apps;
mod tokens;

use accounts::*;
use apps::*;
pub use apps::{initial_status, status_after_update};
use tokens::*;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
