//! HTML pages: askama templates (checked at compile time, auto-escaped) and the helpers
//! that turn them into responses with the right headers.

use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

/// The stylesheet, built into the binary.
pub const STYLESHEET: &str = include_str!("../../templates/pfid.css");

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub product: &'a str,
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub product: &'a str,
    pub title: &'a str,
    pub paragraphs: Vec<String>,
    pub link: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub product: &'a str,
    pub csrf_token: &'a str,
    pub return_to: &'a str,
    pub username: &'a str,
    pub app_name: Option<&'a str>,
    pub error: Option<&'a str>,
    pub notice: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub product: &'a str,
    pub csrf_token: &'a str,
    pub request: &'a str,
    pub app_name: &'a str,
    pub developer: Option<&'a str>,
    pub logo_uri: Option<&'a str>,
    pub policy_uri: Option<&'a str>,
    pub tos_uri: Option<&'a str>,
    pub username: &'a str,
    pub scope_descriptions: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    pub action: &'a str,
    pub fields: Vec<(&'a str, String)>,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub product: &'a str,
    pub csrf_token: &'a str,
    pub app_name: Option<&'a str>,
    pub username: Option<&'a str>,
    /// The logout request, carried to the confirming POST.
    pub fields: Vec<(&'static str, String)>,
}

/// The product name used when a page is rendered outside a request's state.
const FALLBACK_PRODUCT: &str = "Patient Fusion";

/// Renders the generic error page (used by `PageError`).
pub fn render_error_page(title: &str, message: &str) -> String {
    ErrorPage {
        product: FALLBACK_PRODUCT,
        title,
        message,
    }
    .render()
    .unwrap_or_else(|_| format!("<!doctype html><title>{0}</title><h1>{0}</h1>", "Error"))
}

/// An HTML response that is never cached, with cookies to set.
pub fn html<T: Template>(
    status: StatusCode,
    page: &T,
    cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    match page.render() {
        Ok(body) => {
            let mut resp = HttpResponse::build(status);
            resp.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                .insert_header((header::CACHE_CONTROL, "no-store"));
            for c in cookies {
                resp.cookie(c);
            }
            resp.body(body)
        }
        Err(e) => crate::http::errors::PageError::internal(e).error_response_owned(),
    }
}

/// A 303 See Other, the redirect that turns a POST into a GET.
pub fn see_other(location: &str, cookies: Vec<Cookie<'static>>) -> HttpResponse {
    let mut resp = HttpResponse::SeeOther();
    resp.insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    for c in cookies {
        resp.cookie(c);
    }
    resp.finish()
}

impl crate::http::errors::PageError {
    fn error_response_owned(&self) -> HttpResponse {
        actix_web::ResponseError::error_response(self)
    }
}
