//! OpenID Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414) and the JWKS.
//! Only what pfid implements is listed.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::app::AppState;
use crate::config::Issuer;
use crate::oauth::{claims, client_assertion, scope};

/// The metadata document for an issuer.
pub fn document(issuer: &Issuer) -> Value {
    json!({
        "issuer": issuer.as_str(),
        "authorization_endpoint": issuer.url("/authorize"),
        "token_endpoint": issuer.url("/token"),
        "userinfo_endpoint": issuer.url("/userinfo"),
        "jwks_uri": issuer.url("/jwks"),
        "registration_endpoint": issuer.url("/register"),
        "scopes_supported": scope::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": client_assertion::SIGNING_ALGS,
        "revocation_endpoint": issuer.url("/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": client_assertion::SIGNING_ALGS,
        "introspection_endpoint": issuer.url("/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": client_assertion::SIGNING_ALGS,
        "end_session_endpoint": issuer.url("/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "pushed_authorization_request_endpoint": issuer.url("/par"),
        "require_pushed_authorization_requests": false,
        "claims_supported": claims::SUPPORTED,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "service_documentation": issuer.url("/docs"),
    })
}

pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(state.discovery_body.clone())
}

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(state.keys.current().jwks_body.clone())
}
