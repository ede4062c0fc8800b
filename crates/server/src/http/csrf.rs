//! CSRF protection for every form: a signed double-submit token.
//!
//! The browser holds a random `pfid_csrf` cookie; each form carries
//! HMAC-SHA-256(key, cookie). A cross-site page can make the browser send the cookie
//! but can neither read it nor compute the token. The key is derived from the
//! deployment key, so any node accepts a token another node issued.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

pub const COOKIE: &str = "pfid_csrf";
pub const FIELD: &str = "csrf_token";

/// The CSRF key and cookie policy.
#[derive(Clone)]
pub struct Csrf {
    key: hmac::Key,
    secure: bool,
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf(..)")
    }
}

/// A token to put in a form, with the cookie to set when the browser had none.
pub struct FormToken {
    pub token: String,
    pub cookie: Option<Cookie<'static>>,
}

impl FormToken {
    pub fn cookies(&self) -> Vec<Cookie<'static>> {
        self.cookie.iter().cloned().collect()
    }
}

impl Csrf {
    pub fn new(key: &[u8; 32], secure: bool) -> Self {
        Csrf {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            secure,
        }
    }

    fn token_for(&self, cookie_value: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, cookie_value.as_bytes()).as_ref())
    }

    /// The token for this browser, creating its cookie when needed.
    pub fn issue(&self, req: &HttpRequest) -> FormToken {
        if let Some(c) = req.cookie(COOKIE).filter(|c| c.value().len() >= 32) {
            return FormToken {
                token: self.token_for(c.value()),
                cookie: None,
            };
        }
        let value = pfid_store::secret::new_token("")
            .unwrap_or_else(|_| uuid::Uuid::new_v4().simple().to_string());
        let token = self.token_for(&value);
        let cookie = Cookie::build(COOKIE, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish();
        FormToken {
            token,
            cookie: Some(cookie),
        }
    }

    /// Checks a submitted token against this browser's cookie, in constant time.
    pub fn verify(&self, req: &HttpRequest, submitted: Option<&str>) -> bool {
        let (Some(cookie), Some(submitted)) = (req.cookie(COOKIE), submitted) else {
            return false;
        };
        let Ok(sig) = URL_SAFE_NO_PAD.decode(submitted) else {
            return false;
        };
        hmac::verify(&self.key, cookie.value().as_bytes(), &sig).is_ok()
    }
}
