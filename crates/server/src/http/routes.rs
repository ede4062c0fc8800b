//! Every route pfid serves, in one table.

use actix_web::web;

use crate::http::{
    account, authorize, developers, discovery, health, login, registration, token, userinfo,
};

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
        .route("/logout", web::post().to(login::logout))
        .route("/account", web::get().to(account::get))
        .route("/token", web::post().to(token::token))
        .route("/userinfo", web::get().to(userinfo::get))
        .route("/userinfo", web::post().to(userinfo::post))
        .configure(developers::configure)
        .configure(registration::configure);
}
