//! Initial access tokens for dynamic client registration (RFC 7591 §3), made and
//! revoked in the portal.

use super::*;

/// POST /developers/tokens: an initial access token for the registration endpoint,
/// shown once.
pub(super) async fn create_token(
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
pub(super) async fn revoke_token(
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
