//! Helpers for the token-lifecycle tests: clients with any metadata, client assertions,
//! a local HTTP server that plays an app's `jwks_uri` or back-channel logout endpoint,
//! and requests to the endpoints a client calls directly.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pfid_server::crypto::jose::{SigningAlg, SigningKey};
use pfid_store::clients::{AppType, AuthMethod, ClientStatus, NewClient};
use pfid_tests::TestServer;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, Rp, REDIRECT};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client like `support::web_client`, with `change` applied to its registration.
pub async fn client_with(srv: &TestServer, change: impl FnOnce(&mut NewClient)) -> Rp {
    let mut new = NewClient {
        name: "Health Tracker".into(),
        description: None,
        logo_uri: None,
        client_uri: None,
        policy_uri: None,
        tos_uri: None,
        app_type: AppType::Web,
        auth_method: AuthMethod::ClientSecretBasic,
        redirect_uris: vec![REDIRECT.to_owned()],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: [
            "openid",
            "profile",
            "email",
            "phone",
            "address",
            "offline_access",
        ]
        .map(str::to_owned)
        .to_vec(),
        jwks: None,
        jwks_uri: None,
        id_token_signed_response_alg: "ES256".into(),
        backchannel_logout_uri: None,
        require_par: false,
        status: ClientStatus::Approved,
        developer_id: None,
    };
    change(&mut new);
    let redirect_uri = new.redirect_uris.first().cloned().unwrap_or_default();
    let created = srv.store().create_client(new, srv.now()).await.unwrap();
    Rp {
        client_id: created.client.id,
        secret: created.secret,
        redirect_uri,
    }
}

/// A key pair an app signs its assertions with.
pub struct AppKey {
    pub key: SigningKey,
}

impl AppKey {
    pub fn new(alg: SigningAlg) -> AppKey {
        AppKey {
            key: SigningKey::generate(alg).unwrap().0,
        }
    }

    pub fn jwks(&self) -> Value {
        json!({"keys": [self.key.public_jwk]})
    }

    /// A well-formed assertion for `client_id` at `aud`, with `change` applied to its
    /// claims.
    pub fn assertion(
        &self,
        srv: &TestServer,
        client_id: &str,
        aud: &str,
        change: impl FnOnce(&mut serde_json::Map<String, Value>),
    ) -> String {
        let now = srv.now().timestamp();
        let mut claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": aud,
            "iat": now,
            "exp": now + 60,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        if let Value::Object(m) = &mut claims {
            change(m);
        }
        self.key.sign("JWT", &claims).unwrap()
    }
}

/// A JWT with any header and claims and a made-up signature (for `none`, `HS256`).
pub fn unsigned_jwt(header: Value, claims: Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Default claims of an assertion (for hand-built JWTs).
pub fn assertion_claims(srv: &TestServer, client_id: &str) -> Value {
    let now = srv.now().timestamp();
    json!({"iss": client_id, "sub": client_id, "aud": srv.url("/token"),
           "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string()})
}

/// How a request authenticates its client.
pub enum Auth<'a> {
    /// HTTP Basic with the client's secret.
    Basic(&'a Rp),
    /// `client_id` and `client_secret` in the body.
    Post(&'a Rp),
    /// `client_id` only (public clients).
    Public(&'a Rp),
    /// A client assertion (and no client_id parameter).
    Assertion(String),
    None,
}

/// Posts a form to a client-facing endpoint (`/token`, `/revoke`, `/introspect`, `/par`).
pub async fn post(
    srv: &TestServer,
    path: &str,
    auth: Auth<'_>,
    params: &[(&str, &str)],
) -> (reqwest::StatusCode, Value) {
    let mut form: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut req = reqwest::Client::new().post(srv.url(path));
    match auth {
        Auth::Basic(rp) => req = req.basic_auth(&rp.client_id, rp.secret.as_ref()),
        Auth::Post(rp) => {
            form.push(("client_id".into(), rp.client_id.clone()));
            form.push(("client_secret".into(), rp.secret.clone().unwrap()));
        }
        Auth::Public(rp) => form.push(("client_id".into(), rp.client_id.clone())),
        Auth::Assertion(a) => {
            form.push(("client_assertion_type".into(), JWT_BEARER.into()));
            form.push(("client_assertion".into(), a));
        }
        Auth::None => {}
    }
    let resp = req.form(&form).send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// Signs `username` in through `rp` (a confidential client) with `scope`, and returns
/// the token response.
pub async fn sign_in(srv: &TestServer, rp: &Rp, username: &str, scope: &str) -> Value {
    let code = support::code_for(srv, rp, username, &[("scope", scope)]).await;
    let (status, body) = support::exchange(srv, rp, &code, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Uses a refresh token with Basic authentication.
pub async fn refresh(
    srv: &TestServer,
    rp: &Rp,
    refresh_token: &str,
    scope: Option<&str>,
) -> (reqwest::StatusCode, Value) {
    let mut params = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(s) = scope {
        params.push(("scope", s));
    }
    post(srv, "/token", Auth::Basic(rp), &params).await
}

/// The status /userinfo answers for an access token.
pub async fn userinfo_status(srv: &TestServer, token: &str) -> u16 {
    reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Introspects `token` as `rp` (Basic) and returns the response body.
pub async fn introspect(srv: &TestServer, rp: &Rp, token: &str) -> Value {
    let (status, body) = post(srv, "/introspect", Auth::Basic(rp), &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The server's published keys.
pub async fn server_jwks(srv: &TestServer) -> Vec<Value> {
    let jwks: Value = reqwest::get(srv.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"].as_array().unwrap().clone()
}

/// One request an `HttpStub` received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub body: String,
}

/// A local HTTP server that answers every request with its current body (JSON) and
/// records what it received: an app's `jwks_uri`, or its back-channel logout endpoint.
pub struct HttpStub {
    pub url: String,
    pub body: Arc<Mutex<String>>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl HttpStub {
    pub async fn start(body: &str) -> HttpStub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hook",
            listener.local_addr().unwrap().port()
        );
        let body = Arc::new(Mutex::new(body.to_owned()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (serve, log) = (body.clone(), received.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (serve, log) = (serve.clone(), log.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    // Read the head, then as much body as Content-Length says.
                    let (head, mut rest) = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break (
                                String::from_utf8_lossy(&buf[..i]).to_string(),
                                buf[i + 4..].to_vec(),
                            );
                        }
                    };
                    let header = |name: &str| {
                        head.lines().find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.trim()
                                .eq_ignore_ascii_case(name)
                                .then(|| v.trim().to_owned())
                        })
                    };
                    let length: usize = header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    while rest.len() < length {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        rest.extend_from_slice(&chunk[..n]);
                    }
                    let mut first = head.lines().next().unwrap_or("").split_whitespace();
                    log.lock().unwrap().push(Received {
                        method: first.next().unwrap_or("").to_owned(),
                        path: first.next().unwrap_or("").to_owned(),
                        content_type: header("content-type"),
                        body: String::from_utf8_lossy(&rest).to_string(),
                    });
                    let body = serve.lock().unwrap().clone();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        HttpStub {
            url,
            body,
            received,
        }
    }

    pub fn set_body(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_owned();
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (the outbound queue delivers in the background) until `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} requests at {}, got {:?}",
            self.url,
            self.received()
        );
    }
}
