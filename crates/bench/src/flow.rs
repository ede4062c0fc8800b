//! A scripted browser for pfid's sign-in: /authorize, the login form (argon2id), the
//! consent page when the grant is not yet remembered, the redirect with the code, and
//! the code exchange at /token.

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand_core::{OsRng, RngCore};
use reqwest::header::LOCATION;
use reqwest::redirect::Policy;
use serde_json::Value;

pub const REDIRECT: &str = "http://127.0.0.1:9999/cb";
pub const PASSWORD: &str = "Bench-passw0rd";

/// A registered client.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub secret: String,
}

impl Client {
    pub fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                form_encode(&self.id),
                form_encode(&self.secret)
            ))
        )
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// One browser: its own cookies, no automatic redirects.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    verifier: String,
}

/// The value of a hidden form field, with the template's HTML escaping undone.
fn hidden(page: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = page.find(&needle)? + needle.len();
    let len = page[start..].find('"')?;
    Some(unescape(&page[start..start + len]))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn location(resp: &reqwest::Response) -> anyhow::Result<String> {
    Ok(resp
        .headers()
        .get(LOCATION)
        .ok_or_else(|| anyhow!("{} without Location", resp.status()))?
        .to_str()?
        .to_owned())
}

impl Browser {
    pub fn new(base: &str) -> anyhow::Result<Browser> {
        Ok(Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .cookie_store(true)
                .build()?,
            base: base.to_owned(),
            verifier: random_b64(32),
        })
    }

    fn absolute(&self, loc: &str) -> String {
        if loc.starts_with('/') {
            format!("{}{loc}", self.base)
        } else {
            loc.to_owned()
        }
    }

    fn authorize_url(&self, client: &Client, scope: &str) -> String {
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            self.verifier.as_bytes(),
        ));
        let mut url = format!("{}/authorize?", self.base);
        let params = [
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", &random_b64(8)),
            ("nonce", &random_b64(8)),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect();
        url.push_str(&query.join("&"));
        url
    }

    /// Walks /authorize to the redirect that carries the code, logging in as `username`
    /// and allowing the app when asked.
    pub async fn code(
        &self,
        client: &Client,
        username: &str,
        scope: &str,
    ) -> anyhow::Result<String> {
        let mut resp = self
            .http
            .get(self.authorize_url(client, scope))
            .send()
            .await?;
        for _ in 0..8 {
            if resp.status().is_redirection() {
                let loc = location(&resp)?;
                if loc.starts_with(REDIRECT) {
                    let url = url::Url::parse(&loc)?;
                    return url
                        .query_pairs()
                        .find(|(k, _)| k == "code")
                        .map(|(_, v)| v.into_owned())
                        .ok_or_else(|| anyhow!("no code in {loc}"));
                }
                resp = self.http.get(self.absolute(&loc)).send().await?;
                continue;
            }
            let status = resp.status();
            let page = resp.text().await?;
            if status != 200 {
                bail!("unexpected {status}: {}", &page[..page.len().min(300)]);
            }
            let csrf = hidden(&page, "csrf_token").context("no csrf_token in page")?;
            if page.contains("action=\"/login\"") {
                let return_to = hidden(&page, "return_to").context("no return_to")?;
                let body = format!(
                    "csrf_token={}&return_to={}&username={}&password={}",
                    form_encode(&csrf),
                    form_encode(&return_to),
                    form_encode(username),
                    form_encode(PASSWORD)
                );
                resp = self
                    .http
                    .post(format!("{}/login", self.base))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await?;
                if resp.status() == 200 {
                    bail!("login refused for {username}");
                }
            } else if page.contains("action=\"/authorize/decision\"") {
                let request = hidden(&page, "request").context("no request field")?;
                let body = format!(
                    "csrf_token={}&request={}&decision=allow",
                    form_encode(&csrf),
                    form_encode(&request)
                );
                resp = self
                    .http
                    .post(format!("{}/authorize/decision", self.base))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await?;
            } else {
                bail!("unexpected page: {}", &page[..page.len().min(300)]);
            }
        }
        bail!("too many steps")
    }

    /// The body of the code exchange, with this browser's PKCE verifier.
    pub fn exchange_body(&self, code: &str) -> String {
        format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
            form_encode(code),
            form_encode(REDIRECT),
            form_encode(&self.verifier)
        )
    }

    /// Exchanges a code at /token.
    pub async fn exchange(&self, client: &Client, code: &str) -> anyhow::Result<Value> {
        let resp = self
            .http
            .post(format!("{}/token", self.base))
            .header("authorization", client.basic())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(self.exchange_body(code))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if status != 200 {
            bail!("token {status}: {body}");
        }
        Ok(body)
    }

    /// One full sign-in as a new browser would do it.
    pub async fn sign_in(
        base: &str,
        client: &Client,
        username: &str,
        scope: &str,
    ) -> anyhow::Result<Value> {
        let b = Browser::new(base)?;
        let code = b.code(client, username, scope).await?;
        b.exchange(client, &code).await
    }
}

/// A client_credentials token for `client`.
pub async fn client_credentials(base: &str, client: &Client) -> anyhow::Result<String> {
    let resp = reqwest::Client::new()
        .post(format!("{base}/token"))
        .header("authorization", client.basic())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    if status != 200 {
        bail!("client_credentials {status}: {body}");
    }
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no access_token in {body}"))
}
