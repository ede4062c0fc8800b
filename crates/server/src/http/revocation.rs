//! Token revocation (RFC 7009): a client ends a refresh token (with its whole family
//! and every access token issued from it) or an access token it holds.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use pfid_store::audit::AuditEvent;
use pfid_store::tokens::Revocation;

use crate::app::AppState;
use crate::http::client_authn::authenticate_client;
use crate::http::errors::OAuthError;
use crate::http::token::form_params;

/// POST /revoke. The answer is 200 whether or not the token existed (§2.2: an invalid
/// token is no reason to fail, and the client could do nothing about it). A token that
/// belongs to another client is refused and stays valid (§2.1). `token_type_hint` is
/// accepted but not needed: pfid's tokens say their kind in their prefix, so the search
/// covers both kinds whatever the hint (§2.1).
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = form_params(&req, &body)?;
    let (client, _) = authenticate_client(&state, &req, &params, "/revoke").await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let now = state.now();
    match state.store.revoke_token(token, &client.id, now).await? {
        Revocation::Revoked => {
            state
                .store
                .record_event(AuditEvent::new("token_revoked").client(&client.id), now)
                .await?;
        }
        Revocation::Unknown => {}
        Revocation::OtherClient => {
            // RFC 6749 §5.2's words for a token "issued to another client".
            return Err(OAuthError::invalid_grant(
                "the token was issued to another client",
            ));
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .finish())
}
