//! The pushed authorization request endpoint (RFC 9126): a client sends its
//! authorization request over the back channel, authenticated, and gets a short-lived
//! `request_uri` to send the browser to `/authorize` with.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::app::AppState;
use crate::http::authorize::{self, REQUEST_URI_PREFIX};
use crate::http::client_authn::authenticate_client;
use crate::http::errors::OAuthError;
use crate::http::token::form_params;
use crate::oauth::authorize_request::{AuthorizeError, Source};

/// Parameters that authenticate the client and are not part of the authorization request.
const AUTHENTICATION_PARAMS: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

/// POST /par: validates the request as `/authorize` would, stores it, and answers 201
/// with `request_uri` and `expires_in` (§2.2); errors are JSON (§2.3).
pub async fn push(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = form_params(&req, &body)?;
    let (client, _) = authenticate_client(&state, &req, &params, "/par").await?;
    // §2.1: a pushed request cannot itself point elsewhere.
    if params.contains("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri must not be sent to the pushed authorization request endpoint",
        ));
    }
    let mut request = params;
    for p in AUTHENTICATION_PARAMS {
        request.remove(p);
    }
    // With HTTP Basic or an assertion the client_id may be left out of the body; the
    // authorization request needs it.
    if request.get("client_id").is_none() {
        request.insert("client_id", client.id.clone());
    }
    if let Err(e) = authorize::validate(&state, &request, Source::Pushed).await {
        return Err(match e {
            AuthorizeError::Page { message, .. } => OAuthError::invalid_request(message),
            AuthorizeError::Redirect(r) => OAuthError::new(r.error, r.description),
        });
    }
    let lifetime = state.settings.lifetimes.pushed_request;
    let handle = state
        .store
        .create_pushed_request(&client.id, &request.to_query(), state.now(), lifetime.0)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(json!({
            "request_uri": format!("{REQUEST_URI_PREFIX}{handle}"),
            "expires_in": lifetime.seconds(),
        })))
}
