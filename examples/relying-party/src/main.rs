//! A minimal web app that signs a patient in with pfid through standard OpenID Connect
//! (authorization code + PKCE + nonce) using the `openidconnect` crate, then shows the
//! verified ID token claims and the UserInfo answer. Nothing in it is specific to pfid:
//! it knows only the issuer URL and its client credentials.
//!
//!     pfid client create --name "Example" --redirect-uri http://127.0.0.1:3000/callback --json
//!     cargo run -p relying-party -- --client-id ID --client-secret SECRET
//!     open http://127.0.0.1:3000/

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{http::header, web, App, HttpResponse, HttpServer};
use clap::Parser;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};

#[derive(Parser, Debug)]
#[command(about = "An OpenID Connect relying party for trying pfid")]
struct Args {
    /// The provider's issuer URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    issuer: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    /// Where this app listens; the redirect URI is http://127.0.0.1:PORT/callback.
    #[arg(long, default_value_t = 3000)]
    port: u16,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct AppState {
    client: Client,
    http: openidconnect::reqwest::Client,
    issuer: String,
    /// Pending sign-ins by `state`: the PKCE verifier and the nonce to check.
    pending: Mutex<HashMap<String, (PkceCodeVerifier, Nonce)>>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!("<!doctype html><title>Example app</title><body style=\"font-family:sans-serif\">{body}</body>"))
}

async fn home() -> HttpResponse {
    page("<h1>Example app</h1><p><a href=\"/signin\">Sign in with Patient Fusion</a></p>")
}

async fn signin(state: web::Data<AppState>) -> HttpResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = state
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    if let Ok(mut pending) = state.pending.lock() {
        pending.insert(csrf.secret().clone(), (verifier, nonce));
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.to_string()))
        .finish()
}

#[derive(serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

async fn callback(state: web::Data<AppState>, query: web::Query<Callback>) -> HttpResponse {
    let q = query.into_inner();
    if let Some(error) = q.error {
        return page(&format!("<h1>Sign-in failed</h1><p>{}</p>", escape(&error)));
    }
    // RFC 9207: the response must come from the issuer we sent the patient to.
    if q.iss.as_deref() != Some(state.issuer.as_str()) {
        return page("<h1>Sign-in failed</h1><p>The response came from an unexpected issuer.</p>");
    }
    let pending = q
        .state
        .and_then(|s| state.pending.lock().ok().and_then(|mut p| p.remove(&s)));
    let (Some(code), Some((verifier, nonce))) = (q.code, pending) else {
        return page("<h1>Sign-in failed</h1><p>Unknown or replayed sign-in.</p>");
    };
    let exchange = match state.client.exchange_code(AuthorizationCode::new(code)) {
        Ok(request) => {
            request
                .set_pkce_verifier(verifier)
                .request_async(&state.http)
                .await
        }
        Err(e) => return page(&format!("<p>{}</p>", escape(&e.to_string()))),
    };
    let tokens = match exchange {
        Ok(t) => t,
        Err(e) => {
            return page(&format!(
                "<h1>Token request failed</h1><p>{}</p>",
                escape(&e.to_string())
            ))
        }
    };
    let Some(id_token) = tokens.id_token() else {
        return page("<h1>No ID token</h1>");
    };
    let verifier = state.client.id_token_verifier().set_allowed_algs(vec![
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    ]);
    let claims = match id_token.claims(&verifier, &nonce) {
        Ok(c) => c,
        Err(e) => {
            return page(&format!(
                "<h1>Invalid ID token</h1><p>{}</p>",
                escape(&e.to_string())
            ))
        }
    };
    let userinfo: Result<CoreUserInfoClaims, String> =
        match state.client.user_info(tokens.access_token().clone(), None) {
            Ok(req) => req
                .request_async(&state.http)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
    let userinfo = match userinfo {
        Ok(u) => serde_json::to_string_pretty(&u).unwrap_or_default(),
        Err(e) => format!("userinfo failed: {e}"),
    };
    let id_claims = serde_json::to_string_pretty(claims).unwrap_or_default();
    page(&format!(
        "<h1>Signed in</h1><p>Subject: <code>{}</code></p><h2>ID token claims (verified)</h2><pre>{}</pre>\
         <h2>UserInfo</h2><pre>{}</pre><p><a href=\"/\">Home</a></p>",
        escape(claims.subject().as_str()),
        escape(&id_claims),
        escape(&userinfo)
    ))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let issuer = IssuerUrl::new(args.issuer.clone()).map_err(std::io::Error::other)?;
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .map_err(|e| std::io::Error::other(format!("discovery failed: {e}")))?;
    let redirect = RedirectUrl::new(format!("http://127.0.0.1:{}/callback", args.port))
        .map_err(std::io::Error::other)?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(args.client_id.clone()),
        Some(ClientSecret::new(args.client_secret.clone())),
    )
    .set_redirect_uri(redirect);
    let state = web::Data::new(AppState {
        client,
        http,
        issuer: args.issuer.clone(),
        pending: Mutex::new(HashMap::new()),
    });
    println!(
        "Example app on http://127.0.0.1:{}/ (issuer {})",
        args.port, args.issuer
    );
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/", web::get().to(home))
            .route("/signin", web::get().to(signin))
            .route("/callback", web::get().to(callback))
    })
    .bind(("127.0.0.1", args.port))?
    .run()
    .await
}
