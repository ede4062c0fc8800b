//! HTTP: one module per endpoint family. Handlers extract input, call `oauth::` or the
//! store, and map results to responses; the protocol rules live in `oauth/`.

pub mod account;
pub mod authorize;
pub mod client_authn;
pub mod cors;
pub mod csrf;
pub mod developers;
pub mod discovery;
pub mod errors;
pub mod health;
pub mod identity;
pub mod introspection;
pub mod login;
pub mod logout;
pub mod pages;
pub mod par;
pub mod params;
pub mod recovery;
pub mod registration;
pub mod revocation;
pub mod routes;
pub mod security;
pub mod session;
pub mod settings;
pub mod signup;
pub mod token;
pub mod userinfo;

use actix_web::HttpRequest;

/// The client's address for throttling and audit: the TCP peer, or the right-most
/// `X-Forwarded-For` hop when `server.trust_forwarded_for` says a proxy sets it.
pub fn client_ip(req: &HttpRequest, trust_forwarded_for: bool) -> Option<String> {
    if trust_forwarded_for {
        if let Some(hop) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return Some(hop.chars().take(64).collect());
        }
    }
    req.peer_addr().map(|a| a.ip().to_string())
}

/// The User-Agent, shortened, for the sessions list and audit.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}
