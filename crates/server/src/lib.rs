//! pfid's authorization server: OpenID Connect and OAuth 2.0 endpoints, and the pages
//! patients see (login, consent, account). Built on actix-web; storage through
//! `pfid-store`, which this crate never bypasses.

pub mod app;
pub mod client_jwks;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod http;
pub mod keys;
pub mod messages;
pub mod metrics;
pub mod oauth;
pub mod outbox;
pub mod password_threads;
pub mod selfservice;

pub use app::{AppState, Application, StartupError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Settings;
