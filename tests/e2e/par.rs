//! Pushed authorization requests (RFC 9126): push, then authorize with `request_uri`;
//! expiry, binding to the client, one use, the per-client `require_par` flag; and the
//! discovery document listing the token lifecycle.

use chrono::Duration;
use pfid_tests::{both_backends, new_browser, query_param, TestServer};
use serde_json::Value;

use crate::support::{self, jwt_claims, Rp, REDIRECT};
use crate::token_support::{self as ts, post, Auth};

both_backends!(
    a_pushed_request_signs_a_patient_in,
    only_the_pushed_parameters_count,
    an_expired_request_uri_shows_an_error_page,
    a_request_uri_belongs_to_the_client_that_pushed_it,
    a_request_uri_is_answered_once,
    a_patient_has_time_to_sign_in_after_the_browser_arrives,
    prompt_login_in_a_pushed_request_is_satisfied_by_that_login,
    require_par_refuses_requests_that_were_not_pushed,
    pushed_requests_are_validated_like_authorization_requests,
    only_request_uris_pfid_handed_out_are_accepted,
    discovery_lists_the_token_lifecycle,
);

const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Pushes a request for `rp` (Basic) with sensible defaults and `extra` on top; returns
/// the status and body.
async fn push(srv: &TestServer, rp: &Rp, extra: &[(&str, &str)]) -> (reqwest::StatusCode, Value) {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile"),
        ("state", "par-state"),
        ("nonce", "par-nonce"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        params.push((k, v));
    }
    post(srv, "/par", Auth::Basic(rp), &params).await
}

async fn pushed(srv: &TestServer, rp: &Rp, extra: &[(&str, &str)]) -> String {
    let (status, body) = push(srv, rp, extra).await;
    assert_eq!(status, 201, "{body}");
    body["request_uri"].as_str().unwrap().to_owned()
}

fn authorize_url(
    srv: &TestServer,
    client_id: &str,
    request_uri: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = url::Url::parse(&srv.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .extend_pairs(extra);
    url.to_string()
}

async fn a_pushed_request_signs_a_patient_in(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let (verifier, challenge) = support::pkce();
    let (status, body) = push(
        &srv,
        &rp,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let request_uri = body["request_uri"].as_str().unwrap();
    assert!(request_uri.starts_with(PREFIX), "{request_uri}");
    assert!(request_uri.len() >= PREFIX.len() + 43, "256 random bits");
    assert_eq!(body["expires_in"], 60);

    let browser = new_browser();
    let url = authorize_url(&srv, &rp.client_id, request_uri, &[]);
    let redirect = support::authorize_as(&srv, &browser, &url, "jane", "Allow").await;
    assert!(redirect.starts_with(REDIRECT), "{redirect}");
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some("par-state")
    );
    let code = query_param(&redirect, "code").unwrap();
    let (status, tokens) = support::exchange(&srv, &rp, &code, Some(&verifier)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "openid profile");
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["nonce"],
        "par-nonce"
    );
}

async fn only_the_pushed_parameters_count(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let request_uri = pushed(&srv, &rp, &[]).await;
    // Parameters added in the browser's query are ignored (RFC 9126 §4).
    let url = authorize_url(
        &srv,
        &rp.client_id,
        &request_uri,
        &[
            ("state", "tampered"),
            ("scope", "openid profile email phone"),
            ("redirect_uri", "https://evil.example/cb"),
        ],
    );
    let redirect = support::authorize_as(&srv, &new_browser(), &url, "jane", "Allow").await;
    assert!(redirect.starts_with(REDIRECT), "{redirect}");
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some("par-state")
    );
    let (_, tokens) =
        support::exchange(&srv, &rp, &query_param(&redirect, "code").unwrap(), None).await;
    assert_eq!(tokens["scope"], "openid profile");
}

async fn expect_error_page(browser: &reqwest::Client, url: &str) {
    let resp = browser.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none(), "never redirected");
    let page = resp.text().await.unwrap();
    assert!(page.contains("<h1>"), "{page}");
}

async fn an_expired_request_uri_shows_an_error_page(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let request_uri = pushed(&srv, &rp, &[]).await;
    srv.clock.advance(Duration::seconds(61));
    expect_error_page(
        &new_browser(),
        &authorize_url(&srv, &rp.client_id, &request_uri, &[]),
    )
    .await;
}

async fn a_request_uri_belongs_to_the_client_that_pushed_it(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let other = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let request_uri = pushed(&srv, &rp, &[]).await;
    expect_error_page(
        &new_browser(),
        &authorize_url(&srv, &other.client_id, &request_uri, &[]),
    )
    .await;
    // Without a client_id the request is refused too.
    let mut url = url::Url::parse(&srv.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("request_uri", &request_uri);
    expect_error_page(&new_browser(), url.as_str()).await;
    // The rightful client's request is untouched.
    let url = authorize_url(&srv, &rp.client_id, &request_uri, &[]);
    let redirect = support::authorize_as(&srv, &new_browser(), &url, "jane", "Allow").await;
    assert!(query_param(&redirect, "code").is_some(), "{redirect}");
}

async fn a_request_uri_is_answered_once(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let request_uri = pushed(&srv, &rp, &[]).await;
    let browser = new_browser();
    let url = authorize_url(&srv, &rp.client_id, &request_uri, &[]);
    let redirect = support::authorize_as(&srv, &browser, &url, "jane", "Allow").await;
    assert!(query_param(&redirect, "code").is_some());
    // Same browser, signed in and consented: the used request_uri gives nothing more.
    expect_error_page(&browser, &url).await;
}

async fn a_patient_has_time_to_sign_in_after_the_browser_arrives(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let request_uri = pushed(&srv, &rp, &[]).await;
    let browser = new_browser();
    let url = authorize_url(&srv, &rp.client_id, &request_uri, &[]);
    let page = browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("action=\"/login\""));
    // The patient takes five minutes to remember the password.
    srv.clock.advance(Duration::minutes(5));
    let resp = support::submit_login(&srv, &browser, &page, "jane", support::PASSWORD).await;
    assert_eq!(resp.status(), 303);
    let back = pfid_tests::location(&resp);
    let page = browser
        .get(srv.url(&back))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = pfid_tests::Form::find(&page, "/authorize/decision")
        .submit_with(&browser, &srv.base, "Allow")
        .await;
    let redirect = pfid_tests::location(&resp);
    assert!(query_param(&redirect, "code").is_some(), "{redirect}");
}

async fn prompt_login_in_a_pushed_request_is_satisfied_by_that_login(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    // Signed in and consented already.
    let first = support::authorize_url(&srv, &rp, &[]);
    support::authorize_as(&srv, &browser, &first, "jane", "Allow").await;
    srv.clock.advance(Duration::seconds(5));
    let request_uri = pushed(&srv, &rp, &[("prompt", "login")]).await;
    let url = authorize_url(&srv, &rp.client_id, &request_uri, &[]);
    let page = browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("action=\"/login\""),
        "prompt=login asks again"
    );
    let resp = support::submit_login(&srv, &browser, &page, "jane", support::PASSWORD).await;
    let back = pfid_tests::location(&resp);
    let resp = browser.get(srv.url(&back)).send().await.unwrap();
    assert_eq!(
        resp.status(),
        303,
        "no second login: straight back to the app"
    );
    let redirect = pfid_tests::location(&resp);
    assert!(query_param(&redirect, "code").is_some(), "{redirect}");
}

async fn require_par_refuses_requests_that_were_not_pushed(srv: TestServer) {
    let rp = ts::client_with(&srv, |c| c.require_par = true).await;
    support::account(&srv, "jane").await;
    let resp = new_browser()
        .get(support::authorize_url(&srv, &rp, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = pfid_tests::location(&resp);
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("st-123"));
    // The same app's pushed request goes through.
    let request_uri = pushed(&srv, &rp, &[]).await;
    let url = authorize_url(&srv, &rp.client_id, &request_uri, &[]);
    let redirect = support::authorize_as(&srv, &new_browser(), &url, "jane", "Allow").await;
    assert!(query_param(&redirect, "code").is_some(), "{redirect}");
}

async fn pushed_requests_are_validated_like_authorization_requests(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "unregistered redirect_uri",
            vec![("redirect_uri", "https://evil.example/cb")],
            "invalid_request",
        ),
        (
            "implicit flow",
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            "no scope this app may have",
            vec![("scope", "bogus")],
            "invalid_scope",
        ),
        (
            "plain PKCE",
            vec![
                ("code_challenge", "abc"),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            "a request_uri inside",
            vec![("request_uri", "urn:ietf:params:oauth:request_uri:x")],
            "invalid_request",
        ),
        (
            "a request object",
            vec![("request", "eyJ.x.y")],
            "request_not_supported",
        ),
    ];
    for (name, extra, error) in cases {
        let (status, body) = push(&srv, &rp, &extra).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body["error"], error, "{name}");
        assert!(body["error_description"].is_string(), "{name}");
    }
    // Public clients push too, and PKCE is required of them as at /authorize.
    let public = support::public_client(&srv).await;
    let (status, body) = post(
        &srv,
        "/par",
        Auth::Public(&public),
        &[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    // Form encoding only.
    let resp = reqwest::Client::new()
        .post(srv.url("/par"))
        .basic_auth(&rp.client_id, rp.secret.as_ref())
        .json(&serde_json::json!({"response_type": "code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // A client_id in the body must be the authenticated client's.
    let other = support::web_client(&srv).await;
    let (status, body) = push(&srv, &rp, &[("client_id", &other.client_id)]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
}

async fn only_request_uris_pfid_handed_out_are_accepted(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let browser = new_browser();
    for uri in [
        "urn:ietf:params:oauth:request_uri:made-up",
        "https://tracker.example/request.jwt",
    ] {
        expect_error_page(&browser, &authorize_url(&srv, &rp.client_id, uri, &[])).await;
    }
}

async fn discovery_lists_the_token_lifecycle(srv: TestServer) {
    let d: Value = reqwest::get(srv.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = |k: &str| -> Vec<String> {
        d[k].as_array()
            .unwrap_or_else(|| panic!("{k} is listed"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    for g in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(list("grant_types_supported").contains(&g.to_owned()), "{g}");
    }
    for k in [
        "token_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
    ] {
        assert!(list(k).contains(&"private_key_jwt".to_owned()), "{k}");
        assert!(list(k).contains(&"client_secret_basic".to_owned()), "{k}");
    }
    assert!(list("token_endpoint_auth_methods_supported").contains(&"none".to_owned()));
    assert!(!list("introspection_endpoint_auth_methods_supported").contains(&"none".to_owned()));
    let algs = list("token_endpoint_auth_signing_alg_values_supported");
    for a in ["RS256", "PS256", "ES256"] {
        assert!(algs.contains(&a.to_owned()), "{a}");
    }
    assert!(!algs.iter().any(|a| a == "none" || a.starts_with("HS")));
    assert_eq!(d["revocation_endpoint"], srv.url("/revoke"));
    assert_eq!(d["introspection_endpoint"], srv.url("/introspect"));
    assert_eq!(d["end_session_endpoint"], srv.url("/logout"));
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
    assert_eq!(d["pushed_authorization_request_endpoint"], srv.url("/par"));
    assert_eq!(d["require_pushed_authorization_requests"], false);
}
