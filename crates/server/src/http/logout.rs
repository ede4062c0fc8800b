//! Logging out: the portal's own "Log out" button and RP-initiated logout (OpenID
//! Connect RP-Initiated Logout 1.0) at the `end_session_endpoint`, with back-channel
//! logout notices (OpenID Connect Back-Channel Logout 1.0) to the apps that took part in
//! the session.
//!
//! One rule for both: a POST carrying a valid CSRF token logs out. Anything else (an
//! app's GET or POST) shows a confirmation page whose "Log out" button makes that POST,
//! so no other site can log a patient out unawares (RP-Initiated Logout §2: the OP
//! SHOULD ask).

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use pfid_store::audit::AuditEvent;
use pfid_store::clients::{Client, ClientStatus};
use pfid_store::outbox::{Channel, NewMessage};
use pfid_store::sessions::Session;
use serde_json::Value;

use crate::app::AppState;
use crate::crypto::jose::{SigningAlg, UnverifiedJws};
use crate::http::errors::PageError;
use crate::http::pages::{self, LogoutPage, MessagePage};
use crate::http::params::Params;
use crate::http::session;
use crate::oauth::logout_token::LogoutTokenClaims;

const EXPIRED_FORM: &str = "This page expired. Please try again.";
const MAX_STATE: usize = 2048;

/// A logout request, checked.
struct LogoutRequest {
    /// The app that asked, named by `client_id` or by the hint's audience.
    client: Option<Client>,
    /// The post-logout redirect URI, only when registered by that app, exactly.
    redirect_uri: Option<String>,
    state: Option<String>,
    /// Parameters to carry through the confirmation page.
    carried: Vec<(&'static str, String)>,
}

fn bad(message: &str) -> PageError {
    PageError::bad_request("Log out request not valid", message)
}

/// The claims of an ID token pfid signed, expired or not (RP-Initiated Logout §2: the
/// hint may have expired). None when it is not one of pfid's.
fn hint_claims<'a>(jws: &'a UnverifiedJws, issuer: &str, jwks: &[Value]) -> Option<&'a Value> {
    let claims = jws.verify(jwks).ok()?;
    (claims.get("iss").and_then(Value::as_str) == Some(issuer)).then_some(claims)
}

/// The audiences of a token's `aud` claim.
fn audiences(claims: &Value) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(v)) => v.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

async fn check(state: &AppState, params: &Params) -> Result<LogoutRequest, PageError> {
    if let Some(dup) = params.duplicated() {
        return Err(bad(&format!(
            "The parameter {dup} was sent more than once."
        )));
    }
    let mut client_id = params.get("client_id").map(str::to_owned);
    let hint = params.get("id_token_hint");
    if let Some(hint) = hint {
        let keys = state.keys.current();
        let jws =
            UnverifiedJws::parse(hint).map_err(|_| bad("The sign-out hint is not an ID token."))?;
        let claims = hint_claims(&jws, state.issuer(), &keys.public)
            .ok_or_else(|| bad("The sign-out hint is not an ID token we issued."))?;
        let auds = audiences(claims);
        match &client_id {
            Some(id) if !auds.contains(&id.as_str()) => {
                return Err(bad("The sign-out hint was issued to another app."));
            }
            Some(_) => {}
            None => match auds.as_slice() {
                [only] => client_id = Some((*only).to_owned()),
                _ => {
                    client_id = claims
                        .get("azp")
                        .and_then(Value::as_str)
                        .filter(|azp| auds.contains(azp))
                        .map(str::to_owned)
                }
            },
        }
    }
    let client = match &client_id {
        Some(id) => Some(
            state
                .store
                .client(id)
                .await?
                .ok_or_else(|| bad("The app that sent you here is not registered with us."))?,
        ),
        None => None,
    };
    let state_param = params.get("state").map(str::to_owned);
    if state_param.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        return Err(bad("The state parameter is too long."));
    }
    // §3: only a URI the app registered, compared exactly, and never for an app that
    // cannot be identified; anything else shows pfid's own page instead.
    let requested = params.get("post_logout_redirect_uri");
    let redirect_uri = match (&client, requested) {
        (Some(c), Some(uri))
            if c.status == ClientStatus::Approved
                && c.post_logout_redirect_uris.iter().any(|r| r == uri) =>
        {
            Some(uri.to_owned())
        }
        _ => None,
    };
    let mut carried = Vec::new();
    if let Some(c) = &client {
        carried.push(("client_id", c.id.clone()));
    }
    for name in [
        "id_token_hint",
        "post_logout_redirect_uri",
        "state",
        "ui_locales",
    ] {
        if let Some(v) = params.get(name) {
            carried.push((name, v.to_owned()));
        }
    }
    Ok(LogoutRequest {
        client,
        redirect_uri,
        state: state_param,
        carried,
    })
}

/// GET /logout: an app's logout request (RP-Initiated Logout §2).
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = Params::parse(req.query_string().as_bytes());
    handle(&state, &req, params, false).await
}

/// POST /logout: an app's logout request sent as a form, or the confirmation from a
/// page of pfid's (the portal's "Log out" button, or the confirmation page).
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    handle(&state, &req, Params::parse(&body), true).await
}

async fn handle(
    state: &AppState,
    req: &HttpRequest,
    params: Params,
    is_post: bool,
) -> Result<HttpResponse, PageError> {
    let request = check(state, &params).await?;
    let session = session::current(state, req).await?;
    if is_post && params.contains("csrf_token") {
        if !state.csrf.verify(req, params.get("csrf_token")) {
            return Err(PageError::forbidden(EXPIRED_FORM));
        }
        if let Some(s) = &session {
            end(state, s).await?;
        }
        return Ok(finished(state, &request));
    }
    let Some(session) = session else {
        // Nobody is signed in on this browser: nothing to confirm.
        return Ok(finished(state, &request));
    };
    let account = state.store.account(&session.account_id).await?;
    let form = state.csrf.issue(req);
    let page = LogoutPage {
        product: state.product(),
        csrf_token: &form.token,
        app_name: request.client.as_ref().map(|c| c.name.as_str()),
        username: account.as_ref().map(|a| a.username.as_str()),
        fields: request.carried.clone(),
    };
    Ok(pages::html(StatusCode::OK, &page, form.cookies()))
}

/// Ends the session, revokes what lived only for it, and queues a signed logout token
/// for every app in it that registered a `backchannel_logout_uri`, all in one
/// transaction; the outbound queue delivers, so a slow app never holds the patient up.
async fn end(state: &AppState, session: &Session) -> Result<(), PageError> {
    let now = state.now();
    let apps = state.store.clients_of_session(&session.id).await?;
    let mut notices = Vec::new();
    for app in &apps {
        let Some(uri) = &app.backchannel_logout_uri else {
            continue;
        };
        let alg = SigningAlg::parse(&app.id_token_signed_response_alg).unwrap_or(SigningAlg::Es256);
        let key =
            state.keys.current().signer(alg).ok_or_else(|| {
                PageError::internal(format!("no signing key for {}", alg.as_str()))
            })?;
        let jti = pfid_store::secret::new_id()?;
        let token = LogoutTokenClaims {
            issuer: state.issuer(),
            client_id: &app.id,
            subject: &session.account_id,
            session_id: &session.id,
            issued_at: now,
            jti: &jti,
        }
        .sign(&key)
        .map_err(PageError::internal)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("logout_token", &token)
            .finish();
        notices.push(NewMessage {
            channel: Channel::HttpPost,
            recipient: uri.clone(),
            subject: None,
            body_text: body,
            body_html: None,
        });
    }
    let notified = notices.len();
    if state
        .store
        .end_session_with_notices(&session.id, notices, now)
        .await?
    {
        if notified > 0 {
            state.outbox_wakeup.wake();
        }
        state
            .store
            .record_event(AuditEvent::new("logout").account(&session.account_id), now)
            .await?;
    }
    Ok(())
}

/// After logout: back to the app's registered URI with its `state`, or pfid's page.
fn finished(state: &AppState, request: &LogoutRequest) -> HttpResponse {
    let removal = session::removal(state);
    if let Some(uri) = &request.redirect_uri {
        if let Ok(mut url) = url::Url::parse(uri) {
            if let Some(s) = &request.state {
                url.query_pairs_mut().append_pair("state", s);
            }
            let mut resp = pages::see_other(url.as_str(), vec![removal]);
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            return resp;
        }
    }
    let page = MessagePage {
        product: state.product(),
        title: "You have logged out",
        paragraphs: vec!["You are no longer signed in on this browser.".into()],
        link: Some(("/login".into(), "Log in again".into())),
    };
    pages::html(StatusCode::OK, &page, vec![removal])
}
