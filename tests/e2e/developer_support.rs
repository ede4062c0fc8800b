//! Steps a developer takes, over raw HTTP with a cookie-keeping client, and reading the
//! emails pfid writes to `data/outbox/` when no mail server is configured.

use std::time::Duration;

use base64::Engine;
use pfid_tests::{location, new_browser, Form, TestServer};

/// A password that satisfies the rule.
pub const DEV_PASSWORD: &str = "Dev-Portal-2026";

/// Undoes the HTML escaping askama applies, so tests can look for messages as written.
pub fn unescape(html: &str) -> String {
    html.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// A page without its CSRF token's value (which differs per browser), for comparing
/// what two browsers were told.
pub fn without_csrf(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    match page.find(marker) {
        Some(i) => {
            let start = i + marker.len();
            let end = start + page[start..].find('"').unwrap_or(0);
            format!("{}{}", &page[..start], without_csrf(&page[end..]))
        }
        None => page.to_owned(),
    }
}

fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_part(headers: &str, body: &str) -> String {
    let h = headers.to_ascii_lowercase();
    if h.contains("content-transfer-encoding: quoted-printable") {
        quoted_printable(body)
    } else if h.contains("content-transfer-encoding: base64") {
        let compact: String = body.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    } else {
        body.to_owned()
    }
}

/// An `.eml` file as readable text: its headers, then every part decoded.
pub fn decode_eml(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let (headers, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let boundary = headers
        .split("boundary=")
        .nth(1)
        .map(|b| {
            b.trim_start_matches('"')
                .split(['"', '\n', ';'])
                .next()
                .unwrap_or("")
        })
        .filter(|b| !b.is_empty());
    let mut out = format!("{headers}\n\n");
    match boundary {
        Some(b) => {
            for part in body.split(&format!("--{b}")) {
                if let Some((h, content)) = part.trim_start_matches('\n').split_once("\n\n") {
                    out.push_str(&decode_part(h, content));
                    out.push('\n');
                }
            }
        }
        None => out.push_str(&decode_part(headers, body)),
    }
    out
}

/// Waits until at least `n` delivered emails to `to` match `pred`, and returns them
/// decoded.
pub async fn mails_to(
    srv: &TestServer,
    to: &str,
    n: usize,
    pred: impl Fn(&str) -> bool,
) -> Vec<String> {
    let dir = srv.db.dir.path().join("data/outbox");
    let mut found = Vec::new();
    for _ in 0..200 {
        found.clear();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "eml") {
                    let text = decode_eml(&std::fs::read_to_string(e.path()).unwrap_or_default());
                    if text.contains(&format!("To: {to}")) && pred(&text) {
                        found.push(text);
                    }
                }
            }
        }
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} matching email(s) to {to}, found {}",
        found.len()
    );
}

/// Every email to `to` delivered so far (after letting the worker run).
pub async fn all_mails_to(srv: &TestServer, to: &str) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = srv.db.dir.path().join("data/outbox");
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "eml") {
                let text = decode_eml(&std::fs::read_to_string(e.path()).unwrap_or_default());
                if text.contains(&format!("To: {to}")) {
                    found.push(text);
                }
            }
        }
    }
    found
}

/// The first absolute link in `mail` whose path starts with `path`.
pub fn link_in(mail: &str, path: &str) -> String {
    let at = mail
        .find(path)
        .unwrap_or_else(|| panic!("no {path} link in:\n{mail}"));
    let start = mail[..at].rfind("http").expect("absolute link");
    let end = mail[at..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .map(|e| at + e)
        .unwrap_or(mail.len());
    mail[start..end].to_owned()
}

/// Fills and sends the sign-up form; returns the page pfid answered with.
pub async fn submit_signup(
    srv: &TestServer,
    browser: &reqwest::Client,
    name: &str,
    org: &str,
    email: &str,
    password: &str,
) -> (u16, String) {
    let page = browser
        .get(srv.url("/developers/signup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = Form::find(&page, "/developers/signup")
        .set("display_name", name)
        .set("organization", org)
        .set("email", email)
        .set("password", password)
        .set("password2", password)
        .submit_with(browser, &srv.base, "Create developer account")
        .await;
    let status = resp.status().as_u16();
    (status, unescape(&resp.text().await.unwrap()))
}

/// Follows a confirmation link and presses "Confirm email"; returns the response.
pub async fn confirm(srv: &TestServer, browser: &reqwest::Client, link: &str) -> reqwest::Response {
    let page = browser
        .get(link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Form::find(&page, "/developers/verify")
        .submit_with(browser, &srv.base, "Confirm email")
        .await
}

/// A developer who signed up, confirmed their address and is signed in: the browser
/// holding their session.
pub async fn developer(srv: &TestServer, email: &str, org: &str) -> reqwest::Client {
    let browser = new_browser();
    let (status, page) =
        submit_signup(srv, &browser, "Ada Lovelace", org, email, DEV_PASSWORD).await;
    assert_eq!(status, 200, "{page}");
    let mail = mails_to(srv, email, 1, |m| m.contains("/developers/verify?token=")).await;
    let resp = confirm(srv, &browser, &link_in(&mail[0], "/developers/verify")).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/developers");
    browser
}

/// Logs in to the portal with a fresh browser; returns it and pfid's answer.
pub async fn log_in(
    srv: &TestServer,
    email: &str,
    password: &str,
) -> (reqwest::Client, reqwest::Response) {
    let browser = new_browser();
    let page = browser
        .get(srv.url("/developers/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = Form::find(&page, "/developers/login")
        .set("email", email)
        .set("password", password)
        .submit_with(&browser, &srv.base, "Log in")
        .await;
    (browser, resp)
}

/// The app form's fields for a valid web app; tests change what they test.
pub fn web_app_fields() -> Vec<(&'static str, String)> {
    vec![
        ("client_name", "Heart Log".into()),
        ("description", "Keeps a log of your heart rate.".into()),
        ("logo_uri", "https://heartlog.example/logo.png".into()),
        ("client_uri", "https://heartlog.example/".into()),
        ("policy_uri", "https://heartlog.example/privacy".into()),
        ("tos_uri", "https://heartlog.example/terms".into()),
        ("app_type", "web".into()),
        ("redirect_uris", "https://heartlog.example/callback".into()),
        ("post_logout_redirect_uris", String::new()),
        ("scope", "openid".into()),
        ("scope", "profile".into()),
        ("scope", "email".into()),
        ("token_endpoint_auth_method", "client_secret_basic".into()),
        ("jwks", String::new()),
        ("jwks_uri", String::new()),
        ("id_token_signed_response_alg", "ES256".into()),
        ("backchannel_logout_uri", String::new()),
    ]
}

/// Replaces a field of a field list (every occurrence; several for `scope` when the
/// value holds spaces).
pub fn with(
    mut fields: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    fields.retain(|(k, _)| *k != name);
    if name == "scope" {
        for s in value.split_whitespace() {
            fields.push((name, s.to_owned()));
        }
    } else {
        fields.push((name, value.to_owned()));
    }
    fields
}

/// The CSRF token of a portal page the browser fetches.
pub async fn csrf_of(srv: &TestServer, browser: &reqwest::Client, path: &str) -> String {
    let page = browser
        .get(srv.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF token on {path}:\n{page}"))
        + marker.len();
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

/// Posts the app form (to register, or to an app's page to save) with a valid CSRF
/// token; returns the status and the page, unescaped.
pub async fn post_app_form(
    srv: &TestServer,
    browser: &reqwest::Client,
    action: &str,
    fields: &[(&'static str, String)],
) -> (u16, String) {
    let csrf = csrf_of(srv, browser, "/developers/apps/new").await;
    let mut body: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    body.push(("csrf_token", &csrf));
    let resp = browser
        .post(srv.url(action))
        .form(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, unescape(&resp.text().await.unwrap()))
}

/// The text of the element with `id` on a page (`<code id="client-id">…</code>`).
pub fn element_text(page: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\">");
    let at = page.find(&marker)? + marker.len();
    Some(page[at..at + page[at..].find('<')?].to_owned())
}

/// Registers `fields` as an app; returns (client_id, secret when shown).
pub async fn register_app(
    srv: &TestServer,
    browser: &reqwest::Client,
    fields: &[(&'static str, String)],
) -> (String, Option<String>) {
    let (status, page) = post_app_form(srv, browser, "/developers/apps", fields).await;
    assert_eq!(status, 200, "{page}");
    (
        element_text(&page, "client-id").expect("the client id is shown"),
        element_text(&page, "client-secret"),
    )
}

/// Posts a portal form with the browser's CSRF token and extra fields.
pub async fn post_with_csrf(
    srv: &TestServer,
    browser: &reqwest::Client,
    action: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let csrf = csrf_of(srv, browser, "/developers").await;
    let mut body: Vec<(&str, &str)> = fields.to_vec();
    body.push(("csrf_token", &csrf));
    let resp = browser
        .post(srv.url(action))
        .form(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, unescape(&resp.text().await.unwrap()))
}

/// Whether the token endpoint accepts `secret` as the client's credentials: a bogus
/// code then fails as invalid_grant (400) after authentication, or as invalid_client
/// (401) before.
pub async fn secret_authenticates(srv: &TestServer, client_id: &str, secret: &str) -> bool {
    let resp = reqwest::Client::new()
        .post(srv.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "not-a-real-code"),
            ("redirect_uri", "https://heartlog.example/callback"),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    match status {
        400 => {
            assert_eq!(body["error"], "invalid_grant", "{body}");
            true
        }
        401 => {
            assert_eq!(body["error"], "invalid_client", "{body}");
            false
        }
        other => panic!("unexpected token endpoint answer {other}: {body}"),
    }
}

/// Serves `html` for every GET on `listener`: the page of a single-page app, from its
/// own origin.
pub fn serve_page(listener: tokio::net::TcpListener, html: String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let html = html.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let _ = sock.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
}

/// A single-page app registered straight in the store (its loopback http redirect URI
/// is not one the portal would accept: a browser test cannot serve https).
pub async fn spa_client(
    srv: &TestServer,
    redirect_uri: &str,
    status: pfid_store::clients::ClientStatus,
) -> String {
    use pfid_store::clients::{AppType, AuthMethod, NewClient};
    srv.store()
        .create_client(
            NewClient {
                name: "Heart Log".into(),
                description: None,
                logo_uri: None,
                client_uri: None,
                policy_uri: None,
                tos_uri: None,
                app_type: AppType::Spa,
                auth_method: AuthMethod::None,
                redirect_uris: vec![redirect_uri.to_owned()],
                post_logout_redirect_uris: vec![],
                grant_types: vec!["authorization_code".into()],
                scopes: vec!["openid".into(), "profile".into()],
                jwks: None,
                jwks_uri: None,
                id_token_signed_response_alg: "ES256".into(),
                backchannel_logout_uri: None,
                require_par: false,
                status,
                developer_id: None,
            },
            srv.now(),
        )
        .await
        .unwrap()
        .client
        .id
}
