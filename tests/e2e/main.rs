//! pfid end to end: the real server on an ephemeral port with a fresh database, on
//! SQLite and on PostgreSQL, driven over HTTP as apps and patients drive it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod authorize;
mod browser;
mod client_auth;
mod client_credentials;
mod delivery;
mod developer_support;
mod developers;
mod discovery;
mod foundation;
mod housekeeping;
mod legacy;
mod login;
mod logout;
mod outbox;
mod par;
mod refresh;
mod registration;
mod review;
mod revocation;
mod rp;
mod selfservice;
mod selfservice_browser;
mod signup;
mod support;
mod token;
mod token_support;
mod userinfo;
