//! Error responses, one family per kind of endpoint:
//! - `OAuthError`: JSON `{error, error_description}` (RFC 6749 §5.2, RFC 7009, RFC 7662);
//! - `BearerError`: 401/403 with `WWW-Authenticate: Bearer` (RFC 6750 §3);
//! - `PageError`: an HTML page for people (never a redirect to an unverified URI).
//!
//! Internal failures are logged with their cause and answered with a generic body.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use pfid_store::StoreError;
use serde_json::json;

/// An OAuth 2.0 error from the token, revocation, introspection or PAR endpoint.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
    pub status: StatusCode,
    /// Set when the client tried HTTP Basic: a 401 must then carry the challenge.
    pub basic_challenge: bool,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        let status = match code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            code,
            description: description.into(),
            status,
            basic_challenge: false,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        OAuthError::new("invalid_request", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        OAuthError::new("invalid_client", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        OAuthError::new("invalid_grant", d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        OAuthError::new("unauthorized_client", d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        OAuthError::new("unsupported_grant_type", d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        OAuthError::new("invalid_scope", d)
    }
    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        OAuthError::new("server_error", "the server could not complete the request")
    }
    pub fn with_basic_challenge(mut self, basic: bool) -> Self {
        self.basic_challenge = basic;
        self
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        OAuthError::server_error(e)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.status == StatusCode::UNAUTHORIZED && self.basic_challenge {
            resp.insert_header((
                header::WWW_AUTHENTICATE,
                "Basic realm=\"pfid\", charset=\"UTF-8\"",
            ));
        }
        resp.json(json!({"error": self.code, "error_description": self.description}))
    }
}

/// A failed bearer-token request (RFC 6750 §3.1).
#[derive(Debug, Clone)]
pub enum BearerError {
    /// No credentials at all: a bare challenge, no error code (§3.1).
    Missing,
    InvalidRequest(String),
    InvalidToken,
    InsufficientScope(String),
    Internal,
}

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl From<StoreError> for BearerError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "internal error");
        BearerError::Internal
    }
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self {
            BearerError::Missing | BearerError::InvalidToken => StatusCode::UNAUTHORIZED,
            BearerError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            BearerError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            BearerError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let challenge = match self {
            BearerError::Missing => "Bearer realm=\"pfid\"".to_owned(),
            BearerError::InvalidRequest(d) => {
                format!(
                    "Bearer realm=\"pfid\", error=\"invalid_request\", error_description=\"{}\"",
                    quote_safe(d)
                )
            }
            BearerError::InvalidToken => "Bearer realm=\"pfid\", error=\"invalid_token\", \
                 error_description=\"The access token is invalid, expired or revoked\""
                .to_owned(),
            BearerError::InsufficientScope(scope) => {
                format!(
                    "Bearer realm=\"pfid\", error=\"insufficient_scope\", scope=\"{}\"",
                    quote_safe(scope)
                )
            }
            BearerError::Internal => String::new(),
        };
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            if !challenge.is_empty() {
                resp.insert_header((header::WWW_AUTHENTICATE, v));
            }
        }
        match self {
            BearerError::Missing => resp.finish(),
            BearerError::InvalidRequest(d) => {
                resp.json(json!({"error": "invalid_request", "error_description": d}))
            }
            BearerError::InvalidToken => resp.json(json!({"error": "invalid_token"})),
            BearerError::InsufficientScope(_) => resp.json(json!({"error": "insufficient_scope"})),
            BearerError::Internal => resp.json(json!({"error": "server_error"})),
        }
    }
}

fn quote_safe(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

/// An error shown to a person as a page.
#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
}

impl PageError {
    pub fn bad_request(title: impl Into<String>, message: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::BAD_REQUEST,
            title: title.into(),
            message: message.into(),
        }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::FORBIDDEN,
            title: "This request was refused".into(),
            message: message.into(),
        }
    }
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong".into(),
            message: "We could not complete your request. Please try again in a few minutes."
                .into(),
        }
    }
    pub fn too_many(message: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many attempts".into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.message)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::internal(e)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let body = crate::http::pages::render_error_page(&self.title, &self.message);
        HttpResponse::build(self.status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body)
    }
}
