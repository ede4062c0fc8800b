//! Every route pfid serves, in one table.

use actix_web::web;

use crate::http::{
    account, authorize, developers, discovery, health, introspection, login, logout, par,
    registration, revocation, token, userinfo,
};
use crate::http::{recovery, settings, signup};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/static/pfid.css", web::get().to(health::stylesheet))
        .route(
            "/.well-known/openid-configuration",
            web::get().to(discovery::openid_configuration),
        )
        .route("/jwks", web::get().to(discovery::jwks))
        .route("/authorize", web::get().to(authorize::get))
        .route("/authorize", web::post().to(authorize::post))
        .route("/authorize/decision", web::post().to(authorize::decision))
        .route("/login", web::get().to(login::get))
        .route("/login", web::post().to(login::post))
        .route("/logout", web::get().to(logout::get))
        .route("/logout", web::post().to(logout::post))
        .route("/account", web::get().to(account::get))
        .configure(self_service)
        .route("/token", web::post().to(token::token))
        .route("/revoke", web::post().to(revocation::revoke))
        .route("/introspect", web::post().to(introspection::introspect))
        .route("/par", web::post().to(par::push))
        .route("/userinfo", web::get().to(userinfo::get))
        .route("/userinfo", web::post().to(userinfo::post))
        .configure(developers::configure)
        .configure(registration::configure);
}

/// The patient's self-service pages: password and username recovery, sign-up from an
/// invitation, linking records, and the account page's forms.
fn self_service(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/forgot-password",
        web::get().to(recovery::forgot_password_get),
    )
    .route(
        "/forgot-password",
        web::post().to(recovery::forgot_password_post),
    )
    .route(
        "/forgot-username",
        web::get().to(recovery::forgot_username_get),
    )
    .route(
        "/forgot-username",
        web::post().to(recovery::forgot_username_post),
    )
    .route(
        "/reset-password/{token}",
        web::get().to(recovery::reset_get),
    )
    .route(
        "/reset-password/{token}/continue",
        web::post().to(recovery::reset_continue),
    )
    .route(
        "/reset-password/{token}/question",
        web::post().to(recovery::reset_question),
    )
    .route(
        "/reset-password/{token}/request-code",
        web::post().to(recovery::reset_request_code),
    )
    .route(
        "/reset-password/{token}/resend",
        web::get().to(recovery::reset_resend),
    )
    .route(
        "/reset-password/{token}/code",
        web::post().to(recovery::reset_code),
    )
    .route(
        "/reset-password/{token}/password",
        web::post().to(recovery::reset_password),
    )
    .route("/signup/{token}", web::get().to(signup::get))
    .route("/signup/{token}/verify", web::post().to(signup::verify))
    .route(
        "/signup/{token}/request-code",
        web::post().to(signup::request_code),
    )
    .route("/signup/{token}/resend", web::get().to(signup::resend))
    .route("/signup/{token}/create", web::post().to(signup::create))
    .route("/account/link/{token}", web::get().to(signup::link_get))
    .route("/account/link/{token}", web::post().to(signup::link_post))
    .route("/account/contact", web::post().to(settings::contact))
    .route(
        "/account/confirm-email/{token}",
        web::get().to(settings::confirm_email_page),
    )
    .route(
        "/account/confirm-email/{token}",
        web::post().to(settings::confirm_email),
    )
    .route("/account/username", web::post().to(settings::username))
    .route("/account/password", web::post().to(settings::password))
    .route(
        "/account/security-question",
        web::post().to(settings::security_question),
    )
    .route(
        "/account/notifications",
        web::post().to(settings::notifications),
    )
    .route("/account/apps/remove", web::post().to(settings::remove_app))
    .route("/account/deactivate", web::post().to(settings::deactivate));
}
