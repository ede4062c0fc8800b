//! Protocol logic with no HTTP types: parsing and validating requests, deciding what to
//! issue, building tokens. Handlers in `http/` call into here and map the results.

pub mod authorize_request;
pub mod claims;
pub mod client_assertion;
pub mod client_auth;
pub mod client_metadata;
pub mod id_token;
pub mod logout_token;
pub mod pkce;
pub mod scope;
