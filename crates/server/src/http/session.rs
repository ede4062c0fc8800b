//! The browser's login session: a random cookie naming a row in the database, so any
//! node can serve the patient.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::HttpRequest;
use pfid_store::sessions::Session;
use pfid_store::StoreError;

use crate::app::AppState;

pub const COOKIE: &str = "pfid_session";

/// The live session this browser holds, if any. Notes activity at most once a minute,
/// so the idle timeout slides without a write on every page.
pub async fn current(state: &AppState, req: &HttpRequest) -> Result<Option<Session>, StoreError> {
    let Some(cookie) = req.cookie(COOKIE) else {
        return Ok(None);
    };
    let now = state.now();
    let idle = state.settings.lifetimes.session_idle.0;
    let Some(session) = state
        .store
        .session_by_cookie(cookie.value(), now, Some(idle))
        .await?
    else {
        return Ok(None);
    };
    if now - session.last_seen_at > chrono::Duration::seconds(60) {
        state.store.touch_session(&session.id, now).await?;
    }
    Ok(Some(session))
}

/// The cookie that carries a new session.
pub fn cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .secure(state.settings.server.issuer.is_https())
        .same_site(SameSite::Lax)
        .finish()
}

/// A cookie that removes the session cookie.
pub fn removal(state: &AppState) -> Cookie<'static> {
    let mut c = cookie(state, String::new());
    c.set_max_age(CookieDuration::ZERO);
    c
}
