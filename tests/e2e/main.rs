//! pfid end to end: the real server on an ephemeral port with a fresh database, on
//! SQLite and on PostgreSQL, driven over HTTP as apps and patients drive it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod authorize;
mod browser;
mod developer_support;
mod developers;
mod discovery;
mod foundation;
mod login;
mod outbox;
mod registration;
mod review;
mod rp;
mod support;
mod token;
mod userinfo;
