//! Validation of an authorization request (RFC 6749 §4.1.1, OpenID Connect Core
//! §3.1.2.1-2, RFC 7636, RFC 9207).
//!
//! The client and redirect URI are checked first: until both are trusted, an error is
//! shown to the person and never sent anywhere (RFC 6749 §4.1.2.1). After that, errors
//! go back to the client's redirect URI with `state` and `iss`.

use pfid_store::clients::{Client, ClientStatus};
use serde_json::Value;

use crate::http::params::Params;
use crate::oauth::{client_metadata, pkce, scope};

/// How the response reaches the client (OAuth 2.0 Multiple Response Types, Form Post).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// The `prompt` values (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    pub select_account: bool,
}

/// A request that passed validation.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    /// Scopes pfid supports and the client may ask for, in a stable order.
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `sub` of a valid `id_token_hint`.
    pub hinted_subject: Option<String>,
    /// Set when the request came from a pushed authorization request (RFC 9126).
    pub pushed: Option<PushedRef>,
}

/// Where a request's parameters came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The browser's query string.
    Direct,
    /// The client's back channel (RFC 9126): pushed now, or pushed earlier and named by a
    /// `request_uri`.
    Pushed,
}

/// The pushed request an authorization request was loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRef {
    /// The random part of the `request_uri`.
    pub handle: String,
    /// When the browser first brought it: a login after this satisfies `prompt=login`.
    pub opened_at: chrono::DateTime<chrono::Utc>,
}

impl AuthorizeRequest {
    pub fn is_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }
}

/// Where a failed request's error goes.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// Shown to the person: the client or the redirect URI cannot be trusted.
    Page {
        title: &'static str,
        message: String,
    },
    /// Returned to the client (RFC 6749 §4.1.2.1).
    Redirect(RedirectError),
}

/// An error response to send to a trusted redirect URI.
#[derive(Debug, Clone)]
pub struct RedirectError {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub error: &'static str,
    pub description: String,
}

impl AuthorizeRequest {
    /// The error to send back for this (valid) request, e.g. `login_required`.
    pub fn error(&self, error: &'static str, description: impl Into<String>) -> RedirectError {
        RedirectError {
            redirect_uri: self.redirect_uri.clone(),
            response_mode: self.response_mode,
            state: self.state.clone(),
            error,
            description: description.into(),
        }
    }
}

fn page(title: &'static str, message: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Page {
        title,
        message: message.into(),
    }
}

/// Limits that keep a request (and the URLs pfid builds from it) reasonable.
const MAX_STATE: usize = 2048;
const MAX_NONCE: usize = 512;
const MAX_LOGIN_HINT: usize = 254;

/// What `id_token_hint` checking needs: the issuer and every published public key.
pub struct HintKeys<'a> {
    pub issuer: &'a str,
    pub jwks: &'a [Value],
}

/// Validates `params`, sent directly by the browser, for `client` (None when the
/// client_id is unknown).
pub fn validate(
    params: &Params,
    client: Option<Client>,
    hint_keys: &HintKeys<'_>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    validate_from(params, client, hint_keys, Source::Direct)
}

/// Validates `params` from `source`. A client registered with `require_par` is refused
/// any request that was not pushed (RFC 9126 §6).
pub fn validate_from(
    params: &Params,
    client: Option<Client>,
    hint_keys: &HintKeys<'_>,
    source: Source,
) -> Result<AuthorizeRequest, AuthorizeError> {
    if matches!(params.duplicated(), Some("client_id" | "redirect_uri")) {
        return Err(page(
            "Invalid request",
            "The request names its app or its return address more than once.",
        ));
    }
    let Some(client_id) = params.get("client_id") else {
        return Err(page(
            "Invalid request",
            "The request does not say which app is asking (client_id is missing).",
        ));
    };
    let Some(client) = client.filter(|c| c.id == client_id) else {
        return Err(page(
            "Unknown app",
            "The app that sent you here is not registered with us.",
        ));
    };
    if client.status != ClientStatus::Approved {
        return Err(page(
            "App not available",
            "The app that sent you here cannot sign you in at the moment.",
        ));
    }
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri)
            if client
                .redirect_uris
                .iter()
                .any(|r| client_metadata::redirect_uri_matches(r, uri, client.app_type)) =>
        {
            uri.to_owned()
        }
        Some(_) => {
            return Err(page(
                "Invalid return address",
                "The app asked to send you to an address it has not registered, so we stopped here to protect you.",
            ))
        }
        None => {
            return Err(page(
                "Invalid request",
                "The request does not say where to return (redirect_uri is missing).",
            ))
        }
    };

    // From here on the redirect URI is trusted. Pick the response mode first, so errors
    // about everything else travel the way the client asked.
    let state = params.get("state").map(str::to_owned);
    let mut err = RedirectError {
        redirect_uri: redirect_uri.clone(),
        response_mode: ResponseMode::Query,
        state: state.clone(),
        error: "invalid_request",
        description: String::new(),
    };
    let fail = |mut e: RedirectError, code: &'static str, d: &str| {
        e.error = code;
        e.description = d.to_owned();
        Err(AuthorizeError::Redirect(e))
    };
    match params.get("response_mode") {
        None | Some("query") => {}
        Some("form_post") => err.response_mode = ResponseMode::FormPost,
        Some(_) => {
            return fail(
                err,
                "invalid_request",
                "response_mode must be query or form_post",
            )
        }
    }
    if let Some(dup) = params.duplicated() {
        return fail(
            err,
            "invalid_request",
            &format!("parameter {dup} was sent more than once"),
        );
    }
    if source == Source::Direct && client.require_par {
        return fail(
            err,
            "invalid_request",
            "this app must send its authorization requests to the pushed authorization request endpoint first",
        );
    }
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        return fail(err, "invalid_request", "state is too long");
    }
    match params.get("response_type") {
        None => return fail(err, "invalid_request", "response_type is required"),
        Some("code") => {}
        Some(_) => {
            return fail(
                err,
                "unsupported_response_type",
                "only response_type=code is supported",
            )
        }
    }
    if params.contains("request") {
        return fail(
            err,
            "request_not_supported",
            "request objects are not supported",
        );
    }
    if params.contains("request_uri") {
        return fail(
            err,
            "request_uri_not_supported",
            "request_uri is only accepted from pushed authorization requests",
        );
    }
    if params.contains("registration") {
        return fail(
            err,
            "registration_not_supported",
            "the registration parameter is not supported",
        );
    }
    let Some(requested_scope) = params.get("scope") else {
        return fail(err, "invalid_request", "scope is required");
    };
    if !scope::is_well_formed(requested_scope) {
        return fail(
            err,
            "invalid_scope",
            "scope contains characters that are not allowed",
        );
    }
    let scopes = scope::grantable(requested_scope, |s| client.allows_scope(s));
    if scopes.is_empty() {
        return fail(
            err,
            "invalid_scope",
            "none of the requested scopes is available to this app",
        );
    }
    // offline_access is meaningful only with consent (OpenID Connect Core §11); pfid
    // asks for consent whenever it is not already granted, so it is kept here and the
    // consent step decides.
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) => None,
        (None, Some(_)) => {
            return fail(
                err,
                "invalid_request",
                "code_challenge_method without code_challenge",
            )
        }
        (Some(_), None | Some("plain")) => {
            return fail(
                err,
                "invalid_request",
                "PKCE code_challenge_method must be S256 (plain is not accepted)",
            )
        }
        (Some(c), Some("S256")) => {
            if !pkce::is_valid_s256_challenge(c) {
                return fail(
                    err,
                    "invalid_request",
                    "code_challenge is not a valid S256 challenge",
                );
            }
            Some(c.to_owned())
        }
        (Some(_), Some(_)) => {
            return fail(err, "invalid_request", "code_challenge_method must be S256")
        }
    };
    if client.is_public() && code_challenge.is_none() {
        return fail(
            err,
            "invalid_request",
            "PKCE (code_challenge with S256) is required for this app",
        );
    }
    let nonce = params.get("nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE) {
        return fail(err, "invalid_request", "nonce is too long");
    }
    let mut prompt = Prompt::default();
    if let Some(p) = params.get("prompt") {
        for value in p.split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => prompt.select_account = true,
                _ => {
                    return fail(
                        err,
                        "invalid_request",
                        &format!("unknown prompt value {value}"),
                    )
                }
            }
        }
        if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
            return fail(
                err,
                "invalid_request",
                "prompt=none cannot be combined with other values",
            );
        }
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return fail(
                    err,
                    "invalid_request",
                    "max_age must be a non-negative integer",
                )
            }
        },
    };
    let login_hint = params
        .get("login_hint")
        .map(|h| h.chars().take(MAX_LOGIN_HINT).collect());
    let hinted_subject = match params.get("id_token_hint") {
        None => None,
        Some(hint) => match subject_of_hint(hint, &client.id, hint_keys) {
            Some(sub) => Some(sub),
            None => {
                return fail(
                    err,
                    "invalid_request",
                    "id_token_hint is not an ID token this server issued to this app",
                )
            }
        },
    };
    Ok(AuthorizeRequest {
        client,
        redirect_uri,
        response_mode: err.response_mode,
        state,
        scopes,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        hinted_subject,
        pushed: None,
    })
}

/// The `sub` of an ID token pfid signed for `client_id`. An expired hint is still a
/// hint (OpenID Connect Core §3.1.2.1), so `exp` is not checked.
pub fn subject_of_hint(hint: &str, client_id: &str, keys: &HintKeys<'_>) -> Option<String> {
    let jws = crate::crypto::jose::UnverifiedJws::parse(hint).ok()?;
    let claims = jws.verify(keys.jwks).ok()?;
    if claims.get("iss").and_then(Value::as_str) != Some(keys.issuer) {
        return None;
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(v)) => v.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return None;
    }
    claims.get("sub").and_then(Value::as_str).map(str::to_owned)
}
