//! Headers every response carries, request metrics, and the 404 page.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tracing::Instrument;

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

/// Numbers requests in this process, so a request's log lines can be told apart.
static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

/// Counts each request by route pattern and status, with its latency.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().as_str().to_owned();
    // A small span (method, path, a per-process sequence number) instead of
    // tracing-actix-web's root span, which formats a dozen fields, a random UUID and the
    // user agent into every request's log line: a measurable share of a token request.
    let span = tracing::info_span!(
        "request",
        method = %method,
        path = %req.path(),
        id = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let res = next.call(req).instrument(span.clone()).await?;
    let _entered = span.enter();
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
