//! The token endpoint (RFC 6749 §3.2, §5; OpenID Connect Core §3.1.3, §12): the
//! authorization_code, refresh_token and client_credentials grants.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use pfid_store::accounts::AccountStatus;
use pfid_store::clients::Client;
use pfid_store::tokens::{CodeExchange, IssuedTokens, RefreshOutcome, TokenLifetimes};
use serde_json::{json, Map, Value};

use crate::app::AppState;
use crate::crypto::jose::SigningAlg;
use crate::http::client_authn::{check_stored, ClientClaim};
use crate::http::errors::OAuthError;
use crate::http::params::Params;
use crate::metrics::Event;
use crate::oauth::id_token::IdTokenClaims;
use crate::oauth::{pkce, scope};

/// Reads a form-encoded POST body as OAuth parameters, refusing other content types and
/// repeated parameters.
pub fn form_params(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let params = Params::parse(body);
    if let Some(dup) = params.duplicated() {
        return Err(OAuthError::invalid_request(format!(
            "parameter {dup} was sent more than once"
        )));
    }
    Ok(params)
}

/// POST /token
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = form_params(&req, &body)?;
    let claim = ClientClaim::of(&req, &params)?;
    let grant_type = params.get("grant_type");
    let response = if grant_type == Some("client_credentials") && claim.settled_by_stored_client() {
        client_credentials_in_one_trip(&state, claim, &params).await?
    } else {
        let (client, _) = claim.authenticate(&state, "/token").await?;
        match grant_type {
            None => return Err(OAuthError::invalid_request("grant_type is required")),
            Some("authorization_code") => authorization_code(&state, &client, &params).await?,
            Some("refresh_token") => refresh_token(&state, &client, &params).await?,
            Some("client_credentials") => client_credentials(&state, &client, &params).await?,
            Some(other) => {
                return Err(OAuthError::unsupported_grant_type(format!(
                    "grant_type {other} is not supported"
                )));
            }
        }
    };
    state.metrics.count(Event::TokensIssued);
    Ok(token_response(response))
}

pub fn token_response(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

pub fn lifetimes(state: &AppState) -> TokenLifetimes {
    let l = &state.settings.lifetimes;
    TokenLifetimes {
        access: l.access_token.0,
        refresh_idle: l.refresh_token_idle.0,
        refresh_absolute: l.refresh_token.0,
    }
}

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6) and RFC 9700 §2.1.1's downgrade check.
async fn authorization_code(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the authorization_code grant",
        ));
    }
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let now = state.now();
    let Some(stored) = state.store.find_code(code).await? else {
        return Err(OAuthError::invalid_grant(
            "the authorization code is invalid",
        ));
    };
    if stored.used_at.is_some() {
        // A replay: refuse, and revoke what the first use issued.
        state
            .store
            .exchange_code(&stored.code_hash, false, now, lifetimes(state))
            .await?;
        state.metrics.count(Event::CodeReused);
        tracing::warn!(client_id = %client.id, "authorization code reused; tokens issued from it revoked");
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used",
        ));
    }
    let g = &stored.grant;
    if stored.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    if g.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    match params.get("redirect_uri") {
        Some(uri) if uri == g.redirect_uri => {}
        Some(_) => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ))
        }
        None => return Err(OAuthError::invalid_request("redirect_uri is required")),
    }
    match (&g.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !pkce::verify(verifier, challenge) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent but the authorization request had no code_challenge",
            ))
        }
        (None, None) => {}
    }
    let account = state.store.account(&g.account_id).await?;
    let Some(account) = account.filter(|a| a.status == AccountStatus::Active) else {
        return Err(OAuthError::invalid_grant("the account is no longer active"));
    };
    let with_refresh =
        g.scopes.iter().any(|s| s == "offline_access") && client.allows_grant("refresh_token");
    let issued = match state
        .store
        .exchange_code(&stored.code_hash, with_refresh, now, lifetimes(state))
        .await?
    {
        CodeExchange::Issued(t) => t,
        CodeExchange::AlreadyUsed => {
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ))
        }
    };
    let mut body = token_body(&issued, &g.scopes, now);
    if g.scopes.iter().any(|s| s == "openid") {
        let id_token = sign_id_token(
            state,
            client,
            IdTokenClaims {
                issuer: state.issuer(),
                subject: &account.id,
                client_id: &client.id,
                issued_at: now,
                expires_at: now + state.settings.lifetimes.id_token.0,
                auth_time: g.auth_time,
                nonce: g.nonce.as_deref(),
                access_token: Some(&issued.access_token),
                session_id: g.session_id.as_deref(),
                amr: &g.amr,
            },
        )?;
        body.insert("id_token".into(), json!(id_token));
    }
    Ok(Value::Object(body))
}

/// The scopes a `scope` parameter names (RFC 6749 §3.3), or None when it is absent.
fn requested_scopes(params: &Params) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(raw) = params.get("scope") else {
        return Ok(None);
    };
    if !scope::is_well_formed(raw) {
        return Err(OAuthError::invalid_scope(
            "scope contains characters that are not allowed",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for s in raw.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2), and a new ID
/// token when `openid` is in scope (OpenID Connect Core §12.2).
async fn refresh_token(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    if !client.allows_grant("refresh_token") {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the refresh_token grant",
        ));
    }
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let requested = requested_scopes(params)?;
    let now = state.now();
    let refreshed = match state
        .store
        .refresh(token, &client.id, requested, now, lifetimes(state))
        .await?
    {
        RefreshOutcome::Refreshed(r) => r,
        RefreshOutcome::Refused(why) => return Err(OAuthError::invalid_grant(why)),
        RefreshOutcome::ScopeExceeded => {
            return Err(OAuthError::invalid_scope(
                "a refresh may ask for the scopes originally granted or fewer, never more",
            ))
        }
        RefreshOutcome::Reused => {
            tracing::warn!(client_id = %client.id, "refresh token reused; its family is revoked");
            state
                .store
                .record_event(
                    pfid_store::audit::AuditEvent::new("refresh_token_reused").client(&client.id),
                    now,
                )
                .await?;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of this sign-in is revoked",
            ));
        }
    };
    let mut body = token_body(&refreshed.tokens, &refreshed.scopes, now);
    if refreshed.scopes.iter().any(|s| s == "openid") {
        // §12.2: same iss, sub, aud and auth_time as the original; no nonce.
        let id_token = sign_id_token(
            state,
            client,
            IdTokenClaims {
                issuer: state.issuer(),
                subject: &refreshed.account_id,
                client_id: &client.id,
                issued_at: now,
                expires_at: now + state.settings.lifetimes.id_token.0,
                auth_time: refreshed.auth_time,
                nonce: None,
                access_token: Some(&refreshed.tokens.access_token),
                session_id: refreshed.session_id.as_deref(),
                amr: &refreshed.amr,
            },
        )?;
        body.insert("id_token".into(), json!(id_token));
    }
    Ok(Value::Object(body))
}

/// Scopes a client-credentials token can never carry: they speak for a patient.
const PATIENT_ONLY_SCOPES: [&str; 2] = ["openid", "offline_access"];

/// RFC 6749 §4.4 for a client already authenticated (the `private_key_jwt` path).
async fn client_credentials(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    let scopes = client_credentials_scopes(client, requested_scopes(params))?;
    let now = state.now();
    let issued = state
        .store
        .issue_client_token(
            &client.id,
            &scopes,
            now,
            state.settings.lifetimes.access_token.0,
        )
        .await?;
    Ok(Value::Object(token_body(&issued, &scopes, now)))
}

/// `client_credentials` for a client that authenticates with a secret: the client's
/// lookup, its authentication, the grant's checks and the token's insert make one trip to
/// the database. Refusals come in the same order as on the general path: the client's
/// credentials first, then what the client may ask for.
async fn client_credentials_in_one_trip(
    state: &AppState,
    claim: ClientClaim,
    params: &Params,
) -> Result<Value, OAuthError> {
    let requested = requested_scopes(params);
    let now = state.now();
    let presented = claim.presented;
    let (issued, scopes) = state
        .store
        .issue_client_token_if(
            &claim.client_id,
            now,
            state.settings.lifetimes.access_token.0,
            move |found| {
                let client = check_stored(&presented, found)?;
                client_credentials_scopes(&client, requested)
            },
        )
        .await??;
    Ok(Value::Object(token_body(&issued, &scopes, now)))
}

/// The scopes of a client-credentials token for `client`, an authenticated client,
/// given the `scope` parameter as `requested_scopes` read it; or why it gets none.
/// RFC 6749 §4.4 is for confidential clients only. The token carries the requested
/// scopes that the client is registered for, minus `openid` and `offline_access`.
/// Without a `scope` parameter it carries every scope the client is registered for
/// (RFC 6749 §3.3's pre-defined default), which may be none: such a token proves only
/// which client holds it. Asking only for scopes the client may not have is
/// `invalid_scope`.
fn client_credentials_scopes(
    client: &Client,
    requested: Result<Option<Vec<String>>, OAuthError>,
) -> Result<Vec<String>, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use the client_credentials grant",
        ));
    }
    if !client.allows_grant("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the client_credentials grant",
        ));
    }
    let usable = |s: &str| client.allows_scope(s) && !PATIENT_ONLY_SCOPES.contains(&s);
    match requested? {
        None => Ok(client
            .scopes
            .iter()
            .filter(|s| usable(s))
            .cloned()
            .collect()),
        Some(requested) => {
            let granted: Vec<String> = requested.into_iter().filter(|s| usable(s)).collect();
            if granted.is_empty() {
                return Err(OAuthError::invalid_scope(
                    "none of the requested scopes is available to this client without a patient",
                ));
            }
            Ok(granted)
        }
    }
}

/// The common fields of a successful token response (RFC 6749 §5.1).
pub fn token_body(
    issued: &IssuedTokens,
    scopes: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("access_token".into(), json!(issued.access_token));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert(
        "expires_in".into(),
        json!((issued.access_expires_at - now).num_seconds()),
    );
    if !scopes.is_empty() {
        body.insert("scope".into(), json!(scopes.join(" ")));
    }
    if let Some(rt) = &issued.refresh_token {
        body.insert("refresh_token".into(), json!(rt));
    }
    body
}

/// Signs an ID token with the algorithm the client registered.
pub fn sign_id_token(
    state: &AppState,
    client: &Client,
    claims: IdTokenClaims<'_>,
) -> Result<String, OAuthError> {
    let alg = SigningAlg::parse(&client.id_token_signed_response_alg).unwrap_or(SigningAlg::Es256);
    let key =
        state.keys.current().signer(alg).ok_or_else(|| {
            OAuthError::server_error(format!("no signing key for {}", alg.as_str()))
        })?;
    claims.sign(&key).map_err(OAuthError::server_error)
}
