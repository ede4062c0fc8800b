//! Fixtures (seeded through the store, as an office or operator would with the CLI) and
//! relying-party steps over raw HTTP.

use base64::Engine;
use pfid_store::accounts::{Account, NewAccount};
use pfid_store::clients::{AppType, AuthMethod, ClientStatus, NewClient};
use pfid_store::patients::{Address, NewPatient, Patient};
use pfid_tests::{location, Form, TestServer};

pub const PASSWORD: &str = "Correct-Horse-42";
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

pub async fn patient(srv: &TestServer, first: &str, last: &str) -> Patient {
    srv.store()
        .create_patient(
            NewPatient {
                external_id: None,
                first_name: first.into(),
                last_name: last.into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1980, 4, 2).unwrap(),
                email: Some(format!("{}@example.com", first.to_lowercase())),
                phone: Some("555-010-2000".into()),
                address: Address {
                    street: Some("1 Main St".into()),
                    locality: Some("Springfield".into()),
                    region: Some("IL".into()),
                    postal_code: Some("62701".into()),
                    country: Some("US".into()),
                },
            },
            srv.now(),
        )
        .await
        .unwrap()
}

/// An active login with its own record.
pub async fn account(srv: &TestServer, username: &str) -> Account {
    let p = patient(srv, "Jane", "Doe").await;
    account_for(
        srv,
        username,
        &format!("{username}@example.com"),
        Some(&p.id),
    )
    .await
}

pub async fn account_for(
    srv: &TestServer,
    username: &str,
    email: &str,
    own: Option<&str>,
) -> Account {
    let hash = srv.state.passwords.hash(PASSWORD).unwrap();
    srv.store()
        .create_account(
            NewAccount {
                username: username.into(),
                email: email.into(),
                email_verified: true,
                phone: None,
                password_hash: hash,
                security_question: None,
                security_answer_hash: None,
                own_patient: own.map(str::to_owned),
                linked_patients: vec![],
            },
            srv.now(),
        )
        .await
        .unwrap()
}

/// A registered app as a relying party sees itself.
#[derive(Debug, Clone)]
pub struct Rp {
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

pub struct ClientOptions {
    pub auth_method: AuthMethod,
    pub alg: &'static str,
    pub grant_types: Vec<&'static str>,
    pub scopes: Vec<&'static str>,
    pub redirect_uris: Vec<String>,
    pub status: ClientStatus,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            auth_method: AuthMethod::ClientSecretBasic,
            alg: "ES256",
            grant_types: vec!["authorization_code", "refresh_token"],
            scopes: vec![
                "openid",
                "profile",
                "email",
                "phone",
                "address",
                "offline_access",
            ],
            redirect_uris: vec![REDIRECT.to_owned()],
            status: ClientStatus::Approved,
        }
    }
}

pub async fn client(srv: &TestServer, opts: ClientOptions) -> Rp {
    let created = srv
        .store()
        .create_client(
            NewClient {
                name: "Health Tracker".into(),
                description: None,
                logo_uri: Some("https://tracker.example/logo.png".into()),
                client_uri: None,
                policy_uri: Some("https://tracker.example/privacy".into()),
                tos_uri: Some("https://tracker.example/terms".into()),
                app_type: if opts.auth_method == AuthMethod::None {
                    AppType::Native
                } else {
                    AppType::Web
                },
                auth_method: opts.auth_method,
                redirect_uris: opts.redirect_uris.clone(),
                post_logout_redirect_uris: vec![],
                grant_types: opts.grant_types.iter().map(|s| s.to_string()).collect(),
                scopes: opts.scopes.iter().map(|s| s.to_string()).collect(),
                jwks: None,
                jwks_uri: None,
                id_token_signed_response_alg: opts.alg.into(),
                backchannel_logout_uri: None,
                require_par: false,
                status: opts.status,
                developer_id: None,
            },
            srv.now(),
        )
        .await
        .unwrap();
    Rp {
        client_id: created.client.id,
        secret: created.secret,
        redirect_uri: opts.redirect_uris[0].clone(),
    }
}

pub async fn web_client(srv: &TestServer) -> Rp {
    client(srv, ClientOptions::default()).await
}

pub async fn public_client(srv: &TestServer) -> Rp {
    client(
        srv,
        ClientOptions {
            auth_method: AuthMethod::None,
            ..ClientOptions::default()
        },
    )
    .await
}

/// A PKCE verifier and its S256 challenge (computed independently of the server, with
/// openidconnect's implementation).
pub fn pkce() -> (String, String) {
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    (verifier.secret().clone(), challenge.as_str().to_owned())
}

/// An authorization URL with sensible defaults; `extra` adds or replaces parameters.
pub fn authorize_url(srv: &TestServer, rp: &Rp, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), rp.client_id.clone()),
        ("redirect_uri".into(), rp.redirect_uri.clone()),
        ("scope".into(), "openid profile email".into()),
        ("state".into(), "st-123".into()),
        ("nonce".into(), "n-456".into()),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            params.push((k.to_string(), v.to_string()));
        }
    }
    let mut url = url::Url::parse(&srv.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// Submits the login form on `page` and returns the response (a 303 on success).
pub async fn submit_login(
    srv: &TestServer,
    browser: &reqwest::Client,
    page: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    Form::find(page, "/login")
        .set("username", username)
        .set("password", password)
        .submit_with(browser, &srv.base, "Log in")
        .await
}

/// Walks authorize → login → consent (pressing `decision`) with `browser`, and returns
/// the final redirect to the client.
pub async fn authorize_as(
    srv: &TestServer,
    browser: &reqwest::Client,
    url: &str,
    username: &str,
    decision: &str,
) -> String {
    let mut resp = browser.get(url).send().await.unwrap();
    for _ in 0..6 {
        if resp.status().is_redirection() {
            let loc = location(&resp);
            if !loc.starts_with('/') && !loc.starts_with(&srv.base) {
                return loc;
            }
            let next = if loc.starts_with('/') {
                srv.url(&loc)
            } else {
                loc
            };
            resp = browser.get(next).send().await.unwrap();
            continue;
        }
        let status = resp.status();
        let page = resp.text().await.unwrap();
        assert_eq!(status, 200, "unexpected page: {page}");
        if page.contains("action=\"/login\"") {
            resp = submit_login(srv, browser, &page, username, PASSWORD).await;
        } else if page.contains("action=\"/authorize/decision\"") {
            resp = Form::find(&page, "/authorize/decision")
                .submit_with(browser, &srv.base, decision)
                .await;
        } else {
            panic!("unexpected page: {page}");
        }
    }
    panic!("too many steps");
}

/// Signs in `username` through `rp` and returns the authorization code.
pub async fn code_for(srv: &TestServer, rp: &Rp, username: &str, extra: &[(&str, &str)]) -> String {
    let browser = pfid_tests::new_browser();
    let url = authorize_url(srv, rp, extra);
    let redirect = authorize_as(srv, &browser, &url, username, "Allow").await;
    pfid_tests::query_param(&redirect, "code").unwrap_or_else(|| panic!("no code in {redirect}"))
}

/// Posts to the token endpoint with the client's secret (Basic) and `params`.
pub async fn token_request(
    srv: &TestServer,
    rp: &Rp,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(srv.url("/token"));
    let mut form: Vec<(&str, &str)> = params.to_vec();
    match &rp.secret {
        Some(secret) => req = req.basic_auth(&rp.client_id, Some(secret)),
        None => form.push(("client_id", &rp.client_id)),
    }
    req.form(&form).send().await.unwrap()
}

/// Exchanges a code (with a PKCE verifier when given) and returns the JSON body.
pub async fn exchange(
    srv: &TestServer,
    rp: &Rp,
    code: &str,
    verifier: Option<&str>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", rp.redirect_uri.as_str()),
    ];
    if let Some(v) = verifier {
        params.push(("code_verifier", v));
    }
    let resp = token_request(srv, rp, &params).await;
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

/// Decodes a JWT's payload without checking it (tests check signatures elsewhere).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

pub fn jwt_header(jwt: &str) -> serde_json::Value {
    let header = jwt.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap()
}
