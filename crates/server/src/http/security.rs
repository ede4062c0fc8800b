//! Headers every response carries, request metrics, and the 404 page.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{web, Error, HttpResponse, ResponseError};

use crate::app::AppState;
use crate::http::errors::PageError;

/// The content security policy of pfid's pages: no script, styles and images from pfid
/// (app logos over https), never framed. `form-action` is left open on purpose: after
/// consent the browser follows a redirect to the app, which Chrome checks against it.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; \
                       frame-ancestors 'none'; base-uri 'none'";

/// Defaults for every response; a handler's own value wins (the form_post page sets
/// its own CSP).
pub fn headers(hsts: bool) -> DefaultHeaders {
    let mut h = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Content-Security-Policy", CSP))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ));
    if hsts {
        h = h.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ));
    }
    h
}

/// Counts each request by route pattern and status, with its latency.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let seconds = started.elapsed().as_secs_f64();
        state
            .metrics
            .observe(&method, &route, res.status().as_u16(), seconds);
        // Inside the request's span, so the line carries its request id.
        tracing::info!(
            status = res.status().as_u16(),
            ms = seconds * 1000.0,
            "request finished"
        );
    }
    Ok(res)
}

pub async fn not_found() -> HttpResponse {
    PageError {
        status: StatusCode::NOT_FOUND,
        title: "Page not found".into(),
        message: "There is nothing at this address.".into(),
    }
    .error_response()
}
