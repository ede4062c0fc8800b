//! pfid end to end: the real server on an ephemeral port with a fresh database, on
//! SQLite and on PostgreSQL, driven over HTTP as apps and patients drive it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod authorize;
mod browser;
mod delivery;
mod discovery;
mod foundation;
mod login;
mod outbox;
mod rp;
mod selfservice;
mod selfservice_browser;
mod signup;
mod support;
mod token;
mod userinfo;
