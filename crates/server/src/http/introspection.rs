//! Token introspection (RFC 7662) for authenticated clients.
//!
//! The rule: a client may introspect only tokens issued to it. Anything else (unknown,
//! expired, revoked, rotated out, or another client's) is `{"active": false}`, so the
//! answer reveals nothing about tokens the caller does not hold for itself (§2.2, §4).
//! Public clients cannot authenticate and are refused (§2.1).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use pfid_store::tokens::TokenKind;
use serde_json::{json, Map, Value};

use crate::app::AppState;
use crate::http::client_authn::ClientClaim;
use crate::http::errors::OAuthError;
use crate::http::token::form_params;

fn respond(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// POST /introspect
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = form_params(&req, &body)?;
    let claim = ClientClaim::of(&req, &params)?;
    // The client and the token are read together (one hand-over to the blocking pool);
    // the token's state is looked at only once the client has authenticated.
    let token = params.get("token");
    let (found, active) = state
        .store
        .client_and_active_token(&claim.client_id, token.unwrap_or_default(), state.now())
        .await?;
    let (client, presented) = claim.verify(&state, found, "/introspect").await?;
    if client.is_public() {
        return Err(
            OAuthError::invalid_client("public clients cannot use token introspection")
                .with_basic_challenge(presented.used_basic()),
        );
    }
    if token.is_none() {
        return Err(OAuthError::invalid_request("token is required"));
    }
    let inactive = json!({"active": false});
    let Some(active) = active else {
        return Ok(respond(inactive));
    };
    if active.client_id != client.id {
        return Ok(respond(inactive));
    }
    let mut m = Map::new();
    m.insert("active".into(), json!(true));
    if !active.scopes.is_empty() {
        m.insert("scope".into(), json!(active.scopes.join(" ")));
    }
    m.insert("client_id".into(), json!(active.client_id));
    if let Some(username) = &active.username {
        m.insert("username".into(), json!(username));
    }
    // A refresh token is not a bearer credential for resources: no token_type (RFC 7662
    // §2.2 takes token_type from RFC 6749 §7.1, which types access tokens).
    if active.kind == TokenKind::Access {
        m.insert("token_type".into(), json!("Bearer"));
    }
    m.insert("exp".into(), json!(active.expires_at.timestamp()));
    m.insert("iat".into(), json!(active.issued_at.timestamp()));
    // The patient's stable id; for a client-credentials token, the client itself.
    let sub = active.account_id.as_deref().unwrap_or(&active.client_id);
    m.insert("sub".into(), json!(sub));
    m.insert("aud".into(), json!(active.client_id));
    m.insert("iss".into(), json!(state.issuer()));
    Ok(respond(Value::Object(m)))
}
