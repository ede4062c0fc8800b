//! The authorization endpoint (RFC 6749 §3.1, OpenID Connect Core §3.1.2) and the
//! consent decision.
//!
//! The request travels through login and consent as its own query string: each step
//! validates it again, so nothing about it is trusted from the browser that was not
//! checked against the registered client. A pushed request (RFC 9126) travels as its
//! `client_id` and `request_uri`, and its stored parameters are loaded at each step.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use pfid_store::accounts::{Account, AccountStatus};
use pfid_store::codes::CodeGrant;
use pfid_store::sessions::Session;

use crate::app::AppState;
use crate::http::errors::PageError;
use crate::http::pages::{self, ConsentPage, FormPostPage, LoginPage};
use crate::http::params::Params;
use crate::http::session;
use crate::oauth::authorize_request::{
    self, AuthorizeError, AuthorizeRequest, HintKeys, PushedRef, RedirectError, ResponseMode,
    Source,
};
use crate::oauth::scope;

/// GET /authorize
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = Params::parse(req.query_string().as_bytes());
    handle(&state, &req, params).await
}

/// POST /authorize: answered with a 303 to the same request by GET. A login cookie is
/// SameSite=Lax, so a cross-site POST arrives without it; the GET that follows is a
/// top-level navigation and carries it.
pub async fn post(body: web::Bytes) -> HttpResponse {
    let params = Params::parse(&body);
    pages::see_other(&format!("/authorize?{}", params.to_query()), Vec::new())
}

/// The prefix of the `request_uri` values the PAR endpoint hands out (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// How long a patient has, once the browser brought a pushed request here, to sign in
/// and consent.
pub const PUSHED_SIGN_IN_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// The parameters of the request the browser brings: its query itself or, when it
/// names a `request_uri`, the parameters the client pushed (RFC 9126 §4: only those
/// count; anything else in the query is ignored).
async fn resolve(
    state: &AppState,
    outer: &Params,
) -> Result<(Params, Option<PushedRef>), AuthorizeError> {
    let Some(request_uri) = outer.get("request_uri") else {
        return Ok((outer.clone(), None));
    };
    let page = |title: &'static str, message: &str| AuthorizeError::Page {
        title,
        message: message.to_owned(),
    };
    if matches!(outer.duplicated(), Some("client_id" | "request_uri")) {
        return Err(page(
            "Invalid request",
            "The request names its app or its request more than once.",
        ));
    }
    let Some(client_id) = outer.get("client_id") else {
        return Err(page(
            "Invalid request",
            "The request does not say which app is asking (client_id is missing).",
        ));
    };
    let Some(handle) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else {
        return Err(page(
            "Invalid request",
            "The app sent a request by reference that we do not accept (only pushed authorization requests are).",
        ));
    };
    let pushed = state
        .store
        .open_pushed_request(handle, client_id, state.now(), PUSHED_SIGN_IN_WINDOW)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "pushed request lookup failed");
            page("Something went wrong", "Please try again in a few minutes.")
        })?;
    let Some(pushed) = pushed else {
        return Err(page(
            "This sign-in request has expired",
            "The app's sign-in request has expired or was already used. Go back to the app and try again.",
        ));
    };
    Ok((
        Params::parse(pushed.params.as_bytes()),
        Some(PushedRef {
            handle: handle.to_owned(),
            opened_at: pushed.opened_at,
        }),
    ))
}

/// Resolves and validates the request the browser brings.
async fn load(state: &AppState, outer: &Params) -> Result<AuthorizeRequest, AuthorizeError> {
    let (params, pushed) = resolve(state, outer).await?;
    let source = if pushed.is_some() {
        Source::Pushed
    } else {
        Source::Direct
    };
    let mut request = validate(state, &params, source).await?;
    request.pushed = pushed;
    Ok(request)
}

/// Marks a pushed request answered, so that its `request_uri` works no more. Returns
/// false when it had already been answered (or has expired) since it was loaded.
async fn finish_pushed(state: &AppState, request: &AuthorizeRequest) -> Result<bool, PageError> {
    match &request.pushed {
        Some(p) => Ok(state
            .store
            .consume_pushed_request(&p.handle, state.now())
            .await?),
        None => Ok(true),
    }
}

/// Validates parameters from `source` against the registered client.
pub async fn validate(
    state: &AppState,
    params: &Params,
    source: Source,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let client = match params.get("client_id") {
        Some(id) => state.store.client(id).await.map_err(|e| {
            tracing::error!(error = %e, "client lookup failed");
            AuthorizeError::Page {
                title: "Something went wrong",
                message: "Please try again in a few minutes.".into(),
            }
        })?,
        None => None,
    };
    let keys = state.keys.current();
    let hint_keys = HintKeys {
        issuer: state.issuer(),
        jwks: &keys.public,
    };
    authorize_request::validate_from(params, client, &hint_keys, source)
}

fn error_response(state: &AppState, e: AuthorizeError) -> Result<HttpResponse, PageError> {
    match e {
        AuthorizeError::Page { title, message } => Err(PageError::bad_request(title, message)),
        AuthorizeError::Redirect(r) => Ok(redirect_error(state, &r)),
    }
}

async fn handle(
    state: &AppState,
    req: &HttpRequest,
    params: Params,
) -> Result<HttpResponse, PageError> {
    let request = match load(state, &params).await {
        Ok(r) => r,
        Err(e) => return error_response(state, e),
    };
    let now = state.now();
    let session = session::current(state, req).await?;
    let account = match &session {
        Some(s) => state
            .store
            .account(&s.account_id)
            .await?
            .filter(|a| a.status == AccountStatus::Active),
        None => None,
    };
    // A pushed request keeps its prompt across the login round trip, so a login after
    // the browser brought it is what satisfies prompt=login.
    let logged_in_since_opened = |s: &Session| {
        request
            .pushed
            .as_ref()
            .is_some_and(|p| s.auth_time >= p.opened_at)
    };
    let needs_login = match (&session, &account) {
        (Some(s), Some(a)) => {
            ((request.prompt.login || request.prompt.select_account) && !logged_in_since_opened(s))
                || request
                    .max_age
                    .is_some_and(|max| (now - s.auth_time).num_seconds() > max)
                || request
                    .hinted_subject
                    .as_ref()
                    .is_some_and(|sub| sub != &a.id)
        }
        _ => true,
    };
    if needs_login {
        if request.prompt.none {
            finish_pushed(state, &request).await?;
            return Ok(redirect_error(
                state,
                &request.error("login_required", "the user must sign in"),
            ));
        }
        return Ok(login_page(state, req, &request, &params));
    }
    let (Some(session), Some(account)) = (session, account) else {
        return Ok(login_page(state, req, &request, &params));
    };
    let grant = state
        .store
        .grant_for(&account.id, &request.client.id)
        .await?;
    let needs_consent =
        request.prompt.consent || !grant.as_ref().is_some_and(|g| g.covers(&request.scopes));
    if needs_consent {
        if request.prompt.none {
            finish_pushed(state, &request).await?;
            return Ok(redirect_error(
                state,
                &request.error("consent_required", "the user must approve this app"),
            ));
        }
        let developer = crate::http::developers::maker_of(state, &request.client).await?;
        return Ok(consent_page(
            state,
            req,
            &request,
            &params,
            &account,
            developer.as_deref(),
        ));
    }
    issue_code(state, &request, &session, grant.map(|g| g.id)).await
}

/// The login page, returning to this request afterwards. `prompt=login` and
/// `select_account` are dropped from the way back: they are satisfied by this login.
fn login_page(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthorizeRequest,
    params: &Params,
) -> HttpResponse {
    let mut back = params.clone();
    if let Some(p) = back.remove("prompt") {
        let rest: Vec<&str> = p
            .split(' ')
            .filter(|v| !matches!(*v, "login" | "select_account" | ""))
            .collect();
        if !rest.is_empty() {
            back.insert("prompt", rest.join(" "));
        }
    }
    let return_to = format!("/authorize?{}", back.to_query());
    let form = state.csrf.issue(req);
    let page = LoginPage {
        product: state.product(),
        csrf_token: &form.token,
        return_to: &return_to,
        username: request.login_hint.as_deref().unwrap_or(""),
        app_name: Some(&request.client.name),
        error: None,
        notice: None,
    };
    pages::html(StatusCode::OK, &page, form.cookies())
}

fn consent_page(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthorizeRequest,
    params: &Params,
    account: &Account,
    developer: Option<&str>,
) -> HttpResponse {
    let form = state.csrf.issue(req);
    let client = &request.client;
    let https_only = |u: &Option<String>| u.clone().filter(|u| u.starts_with("https://"));
    let (logo, policy, tos) = (
        https_only(&client.logo_uri),
        https_only(&client.policy_uri),
        https_only(&client.tos_uri),
    );
    let request_query = params.to_query();
    let page = ConsentPage {
        product: state.product(),
        csrf_token: &form.token,
        request: &request_query,
        app_name: &client.name,
        developer,
        logo_uri: logo.as_deref(),
        policy_uri: policy.as_deref(),
        tos_uri: tos.as_deref(),
        username: &account.username,
        scope_descriptions: request
            .scopes
            .iter()
            .filter_map(|s| scope::describe(s))
            .collect(),
    };
    pages::html(StatusCode::OK, &page, form.cookies())
}

#[derive(serde::Deserialize)]
pub struct DecisionForm {
    csrf_token: Option<String>,
    request: Option<String>,
    decision: Option<String>,
}

/// POST /authorize/decision: the patient pressed Allow or Deny.
pub async fn decision(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    if !state.csrf.verify(&req, form.csrf_token.as_deref()) {
        return Err(PageError::forbidden(
            "This page expired. Go back to the app and try signing in again.",
        ));
    }
    let params = Params::parse(form.request.unwrap_or_default().as_bytes());
    let request = match load(&state, &params).await {
        Ok(r) => r,
        Err(e) => return error_response(&state, e),
    };
    let session = session::current(&state, &req).await?;
    let account = match &session {
        Some(s) => state
            .store
            .account(&s.account_id)
            .await?
            .filter(|a| a.status == AccountStatus::Active),
        None => None,
    };
    let (Some(session), Some(account)) = (session, account) else {
        return Ok(login_page(&state, &req, &request, &params));
    };
    match form.decision.as_deref() {
        Some("allow") => {
            let grant = state
                .store
                .save_grant(
                    &account.id,
                    &request.client.id,
                    &request.scopes,
                    state.now(),
                )
                .await?;
            state
                .store
                .record_event(
                    pfid_store::audit::AuditEvent::new("consent_granted")
                        .account(&account.id)
                        .client(&request.client.id)
                        .detail(serde_json::json!({"scopes": request.scopes})),
                    state.now(),
                )
                .await?;
            issue_code(&state, &request, &session, Some(grant.id)).await
        }
        Some("deny") => {
            finish_pushed(&state, &request).await?;
            Ok(redirect_error(
                &state,
                &request.error("access_denied", "the user denied the request"),
            ))
        }
        _ => Err(PageError::bad_request(
            "Invalid request",
            "Please choose Allow or Deny.",
        )),
    }
}

async fn issue_code(
    state: &AppState,
    request: &AuthorizeRequest,
    session: &Session,
    grant_id: Option<String>,
) -> Result<HttpResponse, PageError> {
    // One answer per pushed request (RFC 9126 §4): a second tab or a replayed form
    // finds it used.
    if !finish_pushed(state, request).await? {
        return Err(PageError::bad_request(
            "This sign-in request has expired",
            "The app's sign-in request has expired or was already used. Go back to the app and try again.",
        ));
    }
    let grant = CodeGrant {
        client_id: request.client.id.clone(),
        account_id: session.account_id.clone(),
        session_id: Some(session.id.clone()),
        grant_id,
        redirect_uri: request.redirect_uri.clone(),
        scopes: request.scopes.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        code_challenge_method: request.code_challenge.as_ref().map(|_| "S256".to_owned()),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        claims: None,
    };
    let code = state
        .store
        .issue_code(
            grant,
            state.now(),
            state.settings.lifetimes.authorization_code.0,
        )
        .await?;
    let mut fields = vec![("code", code)];
    if let Some(s) = &request.state {
        fields.push(("state", s.clone()));
    }
    fields.push(("iss", state.issuer().to_owned()));
    Ok(respond(
        &request.redirect_uri,
        request.response_mode,
        fields,
    ))
}

/// An error sent to the client's redirect URI, with `state` and `iss` (RFC 9207).
pub fn redirect_error(state: &AppState, e: &RedirectError) -> HttpResponse {
    let mut fields = vec![("error", e.error.to_owned())];
    if !e.description.is_empty() {
        fields.push(("error_description", e.description.clone()));
    }
    if let Some(s) = &e.state {
        fields.push(("state", s.clone()));
    }
    fields.push(("iss", state.issuer().to_owned()));
    respond(&e.redirect_uri, e.response_mode, fields)
}

/// Delivers an authorization response by redirect (query) or auto-submitted form.
fn respond(redirect_uri: &str, mode: ResponseMode, fields: Vec<(&str, String)>) -> HttpResponse {
    match mode {
        ResponseMode::Query => {
            let mut url = match url::Url::parse(redirect_uri) {
                Ok(u) => u,
                Err(_) => {
                    return PageError::bad_request(
                        "Invalid return address",
                        "The app's return address is not valid.",
                    )
                    .into_response()
                }
            };
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in &fields {
                    q.append_pair(k, v);
                }
            }
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, url.as_str()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        ResponseMode::FormPost => {
            let page = FormPostPage {
                action: redirect_uri,
                fields,
            };
            let mut resp = pages::html(StatusCode::OK, &page, Vec::new());
            // The page's only script is the auto-submit, allowed by its hash.
            if let Ok(v) = header::HeaderValue::from_str(&format!(
                "default-src 'none'; script-src '{}'; frame-ancestors 'none'; base-uri 'none'",
                FORM_POST_SCRIPT_HASH
            )) {
                resp.headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, v);
            }
            resp
        }
    }
}

/// sha256 of `document.getElementById("response").submit();`, the form_post script.
pub const FORM_POST_SCRIPT_HASH: &str = "sha256-mQ2oGECEQvP+Nu+by0UKX2wmZ+b33NETq1RQ2wOEDw0=";

impl PageError {
    fn into_response(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

/// Whether `return_to` is a safe place to go after login: a path on this server.
pub fn is_safe_return(return_to: &str) -> bool {
    (return_to.starts_with("/authorize?")
        || return_to == "/account"
        || return_to.starts_with("/account/"))
        && !return_to.contains("//")
        && !return_to.contains('\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn form_post_script_hash_matches_the_template() {
        let template = include_str!("../../templates/form_post.html");
        let script = template
            .split("<script>")
            .nth(1)
            .and_then(|s| s.split("</script>").next())
            .unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, script.as_bytes());
        let expected = format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        assert_eq!(expected, FORM_POST_SCRIPT_HASH);
    }

    #[test]
    fn only_local_paths_are_safe_returns() {
        assert!(is_safe_return("/authorize?client_id=x"));
        assert!(is_safe_return("/account"));
        assert!(!is_safe_return("https://evil.example/"));
        assert!(!is_safe_return("//evil.example/authorize?"));
        assert!(!is_safe_return("/authorize?x=1//evil"));
        assert!(!is_safe_return("/\\evil.example"));
    }
}
