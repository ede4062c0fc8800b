//! The patient's account page (`/account`): linked records, contact information,
//! username, password, security question, notification preferences, connected apps,
//! log out and deactivation. The forms post to `http/settings.rs`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use pfid_store::accounts::Relationship;

use crate::app::AppState;
use crate::http::errors::PageError;
use crate::http::pages;
use crate::http::session;
use crate::oauth::scope;

/// One connected app as the page lists it.
pub struct AppRow {
    pub client_id: String,
    pub name: String,
    /// What it may see, in plain words.
    pub sees: Vec<&'static str>,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub product: &'a str,
    pub csrf_token: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    pub username: &'a str,
    pub email: &'a str,
    pub pending_email: Option<String>,
    pub phone: &'a str,
    pub question: Option<&'a str>,
    pub notify_email: bool,
    pub notify_sms: bool,
    pub rule: &'static str,
    /// (name, relationship in words)
    pub records: Vec<(String, &'static str)>,
    pub apps: Vec<AppRow>,
}

fn relationship_words(r: Relationship) -> &'static str {
    match r {
        Relationship::Own => "you",
        Relationship::Guardian => "as guardian",
        Relationship::Proxy => "as proxy",
    }
}

/// What a `?done=` after a form says.
fn notice_for(done: &str) -> Option<&'static str> {
    Some(match done {
        "welcome" => "Your login is ready. Welcome!",
        "linked" => "The record was added to your login.",
        "contact" => "Your contact information was saved.",
        "email_sent" => "We sent a confirmation link to the new address. Your email address changes when you follow it.",
        "email_changed" => "Your email address was changed.",
        "username" => "Your username was changed.",
        "password" => "Your password was changed. You were signed out everywhere else.",
        "question" => "Your security question was changed.",
        "notifications" => "Your notification preferences were saved.",
        "app_removed" => "The app can no longer access your account.",
        _ => return None,
    })
}

#[derive(serde::Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

/// GET /account
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = query.done.as_deref().and_then(notice_for);
    render(&state, &req, StatusCode::OK, notice, None).await
}

/// Renders the page for the signed-in patient, with a notice or an error; without a
/// session, sends the browser to the login page.
pub async fn render(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let Some(session) = session::current(state, req).await? else {
        return Ok(pages::see_other("/login?return_to=%2Faccount", Vec::new()));
    };
    let Some(account) = state.store.account(&session.account_id).await? else {
        return Ok(pages::see_other(
            "/login?return_to=%2Faccount",
            vec![session::removal(state)],
        ));
    };
    let records = state
        .store
        .linked_patients(&account.id)
        .await?
        .into_iter()
        .map(|(p, r)| (p.full_name(), relationship_words(r)))
        .collect();
    let apps = state
        .store
        .grants_of_account(&account.id)
        .await?
        .into_iter()
        .map(|(g, c)| AppRow {
            client_id: c.id,
            name: c.name,
            sees: g.scopes.iter().filter_map(|s| scope::describe(s)).collect(),
            last_used: g
                .last_used_at
                .map(|t| t.format("%B %-d, %Y").to_string())
                .unwrap_or_else(|| "never".into()),
        })
        .collect();
    let pending_email = state
        .store
        .pending_email_change(&account.id, state.now())
        .await?;
    let token = state.csrf.issue(req);
    let page = AccountPage {
        product: state.product(),
        csrf_token: &token.token,
        notice,
        error,
        username: &account.username,
        email: &account.email,
        pending_email,
        phone: account.phone.as_deref().unwrap_or(""),
        question: account.security_question.as_deref(),
        notify_email: account.notify_email,
        notify_sms: account.notify_sms,
        rule: pfid_store::password::RULE_TEXT,
        records,
        apps,
    };
    Ok(pages::html(status, &page, token.cookies()))
}
