//! CORS for the endpoints a browser app calls directly (a single-page app using PKCE
//! exchanges its code and calls UserInfo from the browser). These endpoints never rely
//! on cookies, so any origin may call them without credentials; every page and form
//! stays same-origin.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

/// Paths open to cross-origin calls.
const OPEN_PATHS: [&str; 5] = [
    "/token",
    "/userinfo",
    "/revoke",
    "/jwks",
    "/.well-known/openid-configuration",
];

fn is_open(path: &str) -> bool {
    OPEN_PATHS.contains(&path)
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let open = is_open(req.path()) && req.headers().contains_key(header::ORIGIN);
    if open && req.method() == Method::OPTIONS {
        let resp = HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Authorization, Content-Type",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .finish();
        return Ok(req.into_response(resp).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    if open {
        let h = res.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
    Ok(res.map_into_left_body())
}
