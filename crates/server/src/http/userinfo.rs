//! The UserInfo endpoint (OpenID Connect Core §5.3) with bearer tokens (RFC 6750).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use pfid_store::accounts::AccountStatus;

use crate::app::AppState;
use crate::http::errors::BearerError;
use crate::http::params::Params;
use crate::oauth::claims;

/// The bearer token from the Authorization header or, for a form POST, the body
/// (RFC 6750 §2.1, §2.2). Sending it both ways is an error (§2).
fn bearer_token(req: &HttpRequest, body: Option<&[u8]>) -> Result<String, BearerError> {
    let from_header = match req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(h) if h.len() > 7 && h[..7].eq_ignore_ascii_case("bearer ") => {
            Some(h[7..].trim().to_owned())
        }
        Some(_) => {
            return Err(BearerError::InvalidRequest(
                "the Authorization header must use the Bearer scheme".into(),
            ))
        }
        None => None,
    };
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let from_body = match body {
        Some(b) if is_form => Params::parse(b).get("access_token").map(str::to_owned),
        _ => None,
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest(
            "send the access token one way only".into(),
        )),
        (Some(t), None) | (None, Some(t)) if !t.is_empty() => Ok(t),
        _ => Err(BearerError::Missing),
    }
}

pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, BearerError> {
    let token = bearer_token(&req, None)?;
    respond(&state, &token).await
}

pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, BearerError> {
    let token = bearer_token(&req, Some(&body))?;
    respond(&state, &token).await
}

async fn respond(state: &AppState, token: &str) -> Result<HttpResponse, BearerError> {
    let Some(access) = state.store.active_access_token(token, state.now()).await? else {
        return Err(BearerError::InvalidToken);
    };
    let Some(account_id) = &access.account_id else {
        return Err(BearerError::InvalidToken);
    };
    if !access.scopes.iter().any(|s| s == "openid") {
        return Err(BearerError::InsufficientScope("openid".into()));
    }
    let Some((account, own)) = state
        .store
        .account_with_own_patient(account_id)
        .await?
        .filter(|(a, _)| a.status == AccountStatus::Active)
    else {
        return Err(BearerError::InvalidToken);
    };
    let body = claims::for_scopes(&account, own.as_ref(), &access.scopes);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body))
}
