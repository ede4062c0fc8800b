//! Logout: RP-initiated (OpenID Connect RP-Initiated Logout 1.0) at the
//! `end_session_endpoint`, the portal's own button, and back-channel logout tokens
//! (OpenID Connect Back-Channel Logout 1.0) delivered through the outbound queue.

use chrono::Duration;
use pfid_server::crypto::jose::UnverifiedJws;
use pfid_tests::{both_backends, new_browser, query_param, Form, TestServer};
use serde_json::Value;

use crate::support::{self, jwt_claims, jwt_header, Rp};
use crate::token_support::{self as ts, refresh, server_jwks, userinfo_status, HttpStub};

both_backends!(
    logout_returns_to_a_registered_uri_with_state,
    without_a_post_logout_uri_pfid_shows_its_own_page,
    an_unregistered_post_logout_uri_is_never_followed,
    the_client_id_alone_names_the_app,
    an_id_token_hint_must_be_one_pfid_issued_to_that_app,
    an_expired_id_token_hint_is_still_a_hint,
    logging_out_needs_the_patients_confirmation,
    an_app_may_send_its_logout_request_as_a_form,
    without_a_session_logout_goes_straight_back,
    back_channel_logout_notifies_each_app_of_the_session,
    the_portals_log_out_button_notifies_apps_too,
    an_unreachable_back_channel_endpoint_does_not_hold_the_patient_up,
);

const AFTER: &str = "https://tracker.example/signed-out";

async fn app(srv: &TestServer, backchannel: Option<&str>) -> Rp {
    let backchannel = backchannel.map(str::to_owned);
    ts::client_with(srv, |c| {
        c.post_logout_redirect_uris = vec![AFTER.to_owned()];
        c.backchannel_logout_uri = backchannel;
    })
    .await
}

/// Signs jane in to `rp` in `browser` and returns the token response.
async fn sign_in(srv: &TestServer, browser: &reqwest::Client, rp: &Rp, scope: &str) -> Value {
    let url = support::authorize_url(srv, rp, &[("scope", scope)]);
    let redirect = support::authorize_as(srv, browser, &url, "jane", "Allow").await;
    let code = query_param(&redirect, "code").unwrap();
    let (status, body) = support::exchange(srv, rp, &code, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn signed_in(srv: &TestServer, rp: &Rp) -> (reqwest::Client, Value) {
    support::account(srv, "jane").await;
    let browser = new_browser();
    let tokens = sign_in(srv, &browser, rp, "openid profile").await;
    (browser, tokens)
}

fn logout_url(srv: &TestServer, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&srv.url("/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

async fn is_signed_in(srv: &TestServer, browser: &reqwest::Client) -> bool {
    browser
        .get(srv.url("/account"))
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

/// Opens a logout URL, expects the confirmation page, and presses "Log out".
async fn confirm(srv: &TestServer, browser: &reqwest::Client, url: &str) -> reqwest::Response {
    let resp = browser.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains(">Log out<"), "{page}");
    Form::find(&page, "/logout")
        .submit_with(browser, &srv.base, "Log out")
        .await
}

async fn logout_returns_to_a_registered_uri_with_state(srv: TestServer) {
    let rp = app(&srv, None).await;
    let (browser, tokens) = signed_in(&srv, &rp).await;
    let url = logout_url(
        &srv,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", AFTER),
            ("state", "bye-1"),
            ("ui_locales", "en"),
        ],
    );
    let resp = confirm(&srv, &browser, &url).await;
    assert_eq!(resp.status(), 303);
    let location = pfid_tests::location(&resp);
    assert!(location.starts_with(AFTER), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("bye-1"));
    assert!(!is_signed_in(&srv, &browser).await);
}

async fn without_a_post_logout_uri_pfid_shows_its_own_page(srv: TestServer) {
    let rp = app(&srv, None).await;
    let (browser, tokens) = signed_in(&srv, &rp).await;
    let url = logout_url(
        &srv,
        &[("id_token_hint", tokens["id_token"].as_str().unwrap())],
    );
    let resp = confirm(&srv, &browser, &url).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("You have logged out"));
    assert!(!is_signed_in(&srv, &browser).await);
}

async fn an_unregistered_post_logout_uri_is_never_followed(srv: TestServer) {
    let rp = app(&srv, None).await;
    let (browser, tokens) = signed_in(&srv, &rp).await;
    for uri in [
        "https://evil.example/",
        "https://tracker.example/signed-out/../x",
        "https://tracker.example/signed-out?extra=1",
    ] {
        let url = logout_url(
            &srv,
            &[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", uri),
                ("state", "s"),
            ],
        );
        let resp = browser.get(&url).send().await.unwrap();
        assert!(resp.headers().get("location").is_none(), "{uri}");
    }
    let url = logout_url(
        &srv,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
    );
    let resp = confirm(&srv, &browser, &url).await;
    assert_eq!(
        resp.status(),
        200,
        "pfid's page, never the unregistered URI"
    );
    assert!(resp.headers().get("location").is_none());
    assert!(resp.text().await.unwrap().contains("You have logged out"));
    assert!(!is_signed_in(&srv, &browser).await);
    // A registered URI with no way to tell which app asks is not followed either.
    let browser = new_browser();
    sign_in(&srv, &browser, &rp, "openid").await;
    let resp = confirm(
        &srv,
        &browser,
        &logout_url(&srv, &[("post_logout_redirect_uri", AFTER)]),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

async fn the_client_id_alone_names_the_app(srv: TestServer) {
    let rp = app(&srv, None).await;
    let (browser, _) = signed_in(&srv, &rp).await;
    let url = logout_url(
        &srv,
        &[
            ("client_id", &rp.client_id),
            ("post_logout_redirect_uri", AFTER),
        ],
    );
    let resp = browser.get(&url).send().await.unwrap();
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("Health Tracker"),
        "the page names the app: {page}"
    );
    let resp = Form::find(&page, "/logout")
        .submit_with(&browser, &srv.base, "Log out")
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(pfid_tests::location(&resp), AFTER);
}

async fn an_id_token_hint_must_be_one_pfid_issued_to_that_app(srv: TestServer) {
    let rp = app(&srv, None).await;
    let other = app(&srv, None).await;
    let (browser, tokens) = signed_in(&srv, &rp).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let tampered = {
        let parts: Vec<&str> = hint.split('.').collect();
        let mut claims = jwt_claims(hint);
        claims["sub"] = "someone-else".into();
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            claims.to_string(),
        );
        format!("{}.{}.{}", parts[0], payload, parts[2])
    };
    let foreign = {
        let key = ts::AppKey::new(pfid_server::crypto::jose::SigningAlg::Es256);
        key.key.sign("JWT", &jwt_claims(hint)).unwrap()
    };
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("tampered", vec![("id_token_hint", tampered.as_str())]),
        (
            "signed by someone else",
            vec![("id_token_hint", foreign.as_str())],
        ),
        ("not a JWT", vec![("id_token_hint", "nope")]),
        (
            "issued to another app",
            vec![
                ("id_token_hint", hint),
                ("client_id", other.client_id.as_str()),
            ],
        ),
        ("unknown app", vec![("client_id", "no-such-app")]),
    ];
    for (name, mut params) in cases {
        params.push(("post_logout_redirect_uri", AFTER));
        let resp = browser.get(logout_url(&srv, &params)).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{name}");
        assert!(resp.headers().get("location").is_none(), "{name}");
    }
    assert!(is_signed_in(&srv, &browser).await, "nothing was logged out");
}

async fn an_expired_id_token_hint_is_still_a_hint(srv: TestServer) {
    let rp = app(&srv, None).await;
    let (browser, tokens) = signed_in(&srv, &rp).await;
    // Keep the session alive (idle 30 minutes) past the ID token's hour.
    for _ in 0..3 {
        srv.clock.advance(Duration::minutes(22));
        assert!(is_signed_in(&srv, &browser).await);
    }
    let hint = tokens["id_token"].as_str().unwrap();
    assert!(jwt_claims(hint)["exp"].as_i64().unwrap() < srv.now().timestamp());
    let url = logout_url(
        &srv,
        &[("id_token_hint", hint), ("post_logout_redirect_uri", AFTER)],
    );
    let resp = confirm(&srv, &browser, &url).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(pfid_tests::location(&resp), AFTER);
}

async fn logging_out_needs_the_patients_confirmation(srv: TestServer) {
    let rp = app(&srv, None).await;
    let (browser, tokens) = signed_in(&srv, &rp).await;
    let url = logout_url(
        &srv,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", AFTER),
        ],
    );
    // Opening the link (an image tag on another site could) only asks.
    let resp = browser.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(is_signed_in(&srv, &browser).await);
    // A forged confirmation without this browser's CSRF token is refused.
    let resp = browser
        .post(srv.url("/logout"))
        .form(&[
            ("csrf_token", "forged"),
            ("post_logout_redirect_uri", AFTER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(is_signed_in(&srv, &browser).await);
}

async fn an_app_may_send_its_logout_request_as_a_form(srv: TestServer) {
    let rp = app(&srv, None).await;
    let (browser, tokens) = signed_in(&srv, &rp).await;
    let resp = browser
        .post(srv.url("/logout"))
        .form(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", AFTER),
            ("state", "form-state"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "a confirmation page");
    let page = resp.text().await.unwrap();
    assert!(is_signed_in(&srv, &browser).await);
    let resp = Form::find(&page, "/logout")
        .submit_with(&browser, &srv.base, "Log out")
        .await;
    assert_eq!(resp.status(), 303);
    let location = pfid_tests::location(&resp);
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some("form-state")
    );
    assert!(!is_signed_in(&srv, &browser).await);
}

async fn without_a_session_logout_goes_straight_back(srv: TestServer) {
    let rp = app(&srv, None).await;
    let url = logout_url(
        &srv,
        &[
            ("client_id", &rp.client_id),
            ("post_logout_redirect_uri", AFTER),
            ("state", "s1"),
        ],
    );
    let resp = new_browser().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(pfid_tests::location(&resp), format!("{AFTER}?state=s1"));
}

/// Checks a back-channel post: a form with a logout token signed by pfid for `rp`.
async fn check_logout_token(srv: &TestServer, received: &ts::Received, rp: &Rp, id_token: &str) {
    assert_eq!(received.method, "POST");
    assert_eq!(
        received.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let token = url::form_urlencoded::parse(received.body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("a logout_token parameter");
    let jws = UnverifiedJws::parse(&token).unwrap();
    jws.verify(&server_jwks(srv).await)
        .expect("the logout token verifies against the JWKS");
    assert_eq!(jwt_header(&token)["typ"], "logout+jwt");
    let c = jwt_claims(&token);
    let id = jwt_claims(id_token);
    assert_eq!(c["iss"], srv.base);
    assert_eq!(c["aud"], rp.client_id);
    assert_eq!(c["sub"], id["sub"]);
    assert_eq!(c["sid"], id["sid"], "the session the ID token named");
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let now = srv.now().timestamp();
    assert!((c["iat"].as_i64().unwrap() - now).abs() <= 2);
    assert!(c["exp"].as_i64().unwrap() > now);
    assert_eq!(
        c["events"]["http://schemas.openid.net/event/backchannel-logout"],
        serde_json::json!({})
    );
    assert!(c.get("nonce").is_none());
}

async fn back_channel_logout_notifies_each_app_of_the_session(srv: TestServer) {
    let sink = HttpStub::start("").await;
    let notified = app(&srv, Some(&sink.url)).await;
    let quiet = app(&srv, None).await;
    let untouched = app(&srv, Some(&sink.url)).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    let a = sign_in(&srv, &browser, &notified, "openid offline_access").await;
    let b = sign_in(&srv, &browser, &quiet, "openid").await;
    // `untouched` registered a back-channel endpoint but took no part in the session.
    let _ = &untouched;
    let url = logout_url(&srv, &[("id_token_hint", a["id_token"].as_str().unwrap())]);
    let resp = confirm(&srv, &browser, &url).await;
    assert_eq!(resp.status(), 200);
    let got = sink.wait_for(1).await;
    check_logout_token(&srv, &got[0], &notified, a["id_token"].as_str().unwrap()).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.received().len(), 1, "only the apps of this session");
    // Tokens that lived only for the session end with it; offline access stays, as the
    // patient allowed.
    assert_eq!(
        userinfo_status(&srv, b["access_token"].as_str().unwrap()).await,
        401
    );
    let (status, body) = refresh(&srv, &notified, a["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(status, 200, "{body}");
}

async fn the_portals_log_out_button_notifies_apps_too(srv: TestServer) {
    let sink = HttpStub::start("").await;
    let rp = app(&srv, Some(&sink.url)).await;
    let (browser, tokens) = signed_in(&srv, &rp).await;
    let page = browser
        .get(srv.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = Form::find(&page, "/logout")
        .submit_with(&browser, &srv.base, "Log out")
        .await;
    assert_eq!(resp.status(), 200);
    assert!(!is_signed_in(&srv, &browser).await);
    let got = sink.wait_for(1).await;
    check_logout_token(&srv, &got[0], &rp, tokens["id_token"].as_str().unwrap()).await;
}

async fn an_unreachable_back_channel_endpoint_does_not_hold_the_patient_up(srv: TestServer) {
    // Nothing listens on port 9: delivery fails and is retried later by the queue.
    let rp = app(&srv, Some("http://127.0.0.1:9/backchannel")).await;
    let (browser, tokens) = signed_in(&srv, &rp).await;
    let url = logout_url(
        &srv,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", AFTER),
        ],
    );
    let resp = confirm(&srv, &browser, &url).await;
    assert_eq!(resp.status(), 303, "the patient is on the way at once");
    assert!(!is_signed_in(&srv, &browser).await);
    let mut last = Vec::new();
    for _ in 0..100 {
        last = srv.store().message_statuses(10).await.unwrap();
        if last.iter().any(|m| m.attempts > 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let notice = last
        .iter()
        .find(|m| m.recipient == "http://127.0.0.1:9/backchannel")
        .expect("the notice is queued");
    assert_eq!(notice.status, "pending", "kept for a retry: {notice:?}");
    assert!(notice.attempts >= 1);
}
