//! Cross-origin calls from single-page apps (the Fetch standard's CORS protocol) to the
//! endpoints a browser app calls itself: token, UserInfo and revocation.
//!
//! Only an origin where an approved single-page app runs (the origin of one of its
//! registered redirect URIs) is allowed; any other origin gets no
//! `Access-Control-Allow-Origin`, so the browser keeps the answer from the page.
//! Discovery and the JWKS are public and answer every origin on their own.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};

use crate::app::AppState;

/// The endpoints a single-page app calls from the browser.
const PATHS: [&str; 3] = ["/token", "/userinfo", "/revoke"];

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The middleware: answers preflight requests and marks allowed responses.
pub async fn browser_apps<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(origin) = origin.filter(|_| PATHS.contains(&req.path())) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let allowed = match req.app_data::<web::Data<AppState>>() {
        Some(state) => state
            .store
            .is_browser_app_origin(&origin)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot check a browser app's origin");
                false
            }),
        None => false,
    };
    let allow_origin = allowed
        .then(|| HeaderValue::from_str(&origin).ok())
        .flatten();
    if req.method() == Method::OPTIONS {
        let mut resp = HttpResponse::NoContent();
        resp.insert_header((header::VARY, "Origin"));
        if let Some(value) = allow_origin {
            resp.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, value))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "Authorization, Content-Type",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE));
        }
        return Ok(req.into_response(resp.finish()).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = allow_origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
    Ok(res.map_into_left_body())
}
