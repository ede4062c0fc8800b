//! The authorization endpoint: validation, errors as OpenID Connect Core §3.1.2.6 says,
//! prompt, max_age, hints, response modes, consent.

use pfid_store::clients::ClientStatus;
use pfid_tests::{both_backends, location, new_browser, query_param, Form, TestServer};

use crate::support::{self, authorize_url, ClientOptions, Rp};

both_backends!(
    an_unknown_client_gets_an_error_page_and_no_redirect,
    an_unregistered_redirect_uri_gets_an_error_page,
    a_missing_redirect_uri_gets_an_error_page,
    an_app_in_review_cannot_start_a_sign_in,
    unsupported_response_types_are_refused_with_state_and_iss,
    a_missing_response_type_is_invalid_request,
    plain_pkce_is_refused,
    public_clients_must_use_pkce,
    a_malformed_challenge_is_refused,
    repeated_parameters_are_refused,
    request_objects_are_not_supported,
    only_unknown_scopes_is_invalid_scope,
    unknown_prompt_values_are_refused,
    prompt_none_without_a_session_is_login_required,
    prompt_none_without_consent_is_consent_required,
    a_signed_in_patient_with_consent_gets_a_code_at_once,
    login_hint_prefills_the_username,
    a_post_request_is_turned_into_a_get,
    form_post_delivers_the_code_in_an_auto_submitted_form,
    an_unknown_response_mode_is_refused,
    deny_returns_access_denied,
    a_new_scope_asks_for_consent_again,
    prompt_consent_always_asks,
    prompt_login_asks_for_the_password_again,
    max_age_forces_a_fresh_login,
    id_token_hint_for_someone_else_is_login_required,
    a_forged_decision_without_csrf_token_is_refused,
);

fn assert_error_page(status: reqwest::StatusCode, resp_has_location: bool) {
    assert_eq!(status, 400);
    assert!(
        !resp_has_location,
        "an untrusted redirect must never happen"
    );
}

async fn an_unknown_client_gets_an_error_page_and_no_redirect(srv: TestServer) {
    let rp = Rp {
        client_id: "nobody".into(),
        secret: None,
        redirect_uri: "https://evil.example/cb".into(),
    };
    let resp = new_browser()
        .get(authorize_url(&srv, &rp, &[]))
        .send()
        .await
        .unwrap();
    let has_location = resp.headers().contains_key("location");
    assert_error_page(resp.status(), has_location);
    assert!(resp.text().await.unwrap().contains("not registered"));
}

async fn an_unregistered_redirect_uri_gets_an_error_page(srv: TestServer) {
    let mut rp = support::web_client(&srv).await;
    rp.redirect_uri = "http://127.0.0.1:9/callback/other".into();
    let resp = new_browser()
        .get(authorize_url(&srv, &rp, &[]))
        .send()
        .await
        .unwrap();
    let has_location = resp.headers().contains_key("location");
    assert_error_page(resp.status(), has_location);
    // Even an error that would normally go back to the app stays here.
    let resp = new_browser()
        .get(authorize_url(&srv, &rp, &[("response_type", "token")]))
        .send()
        .await
        .unwrap();
    let has_location = resp.headers().contains_key("location");
    assert_error_page(resp.status(), has_location);
}

async fn a_missing_redirect_uri_gets_an_error_page(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let resp = new_browser()
        .get(authorize_url(&srv, &rp, &[("redirect_uri", "")]))
        .send()
        .await
        .unwrap();
    let has_location = resp.headers().contains_key("location");
    assert_error_page(resp.status(), has_location);
}

async fn an_app_in_review_cannot_start_a_sign_in(srv: TestServer) {
    let rp = support::client(
        &srv,
        ClientOptions {
            status: ClientStatus::Review,
            ..ClientOptions::default()
        },
    )
    .await;
    let resp = new_browser()
        .get(authorize_url(&srv, &rp, &[]))
        .send()
        .await
        .unwrap();
    let has_location = resp.headers().contains_key("location");
    assert_error_page(resp.status(), has_location);
}

/// The error redirect for `extra`, with its parameters.
async fn error_redirect(srv: &TestServer, rp: &Rp, extra: &[(&str, &str)]) -> String {
    let resp = new_browser()
        .get(authorize_url(srv, rp, extra))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        303,
        "expected an error redirect for {extra:?}"
    );
    let loc = location(&resp);
    assert!(loc.starts_with(&rp.redirect_uri), "{loc}");
    assert_eq!(
        query_param(&loc, "iss").as_deref(),
        Some(srv.base.as_str()),
        "RFC 9207 iss in {loc}"
    );
    assert!(query_param(&loc, "code").is_none());
    loc
}

async fn unsupported_response_types_are_refused_with_state_and_iss(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    for rt in ["token", "id_token", "code id_token"] {
        let loc = error_redirect(&srv, &rp, &[("response_type", rt)]).await;
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some("unsupported_response_type"),
            "{rt}"
        );
        assert_eq!(query_param(&loc, "state").as_deref(), Some("st-123"));
    }
}

async fn a_missing_response_type_is_invalid_request(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let loc = error_redirect(&srv, &rp, &[("response_type", "")]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
}

async fn plain_pkce_is_refused(srv: TestServer) {
    let rp = support::public_client(&srv).await;
    let (verifier, _) = support::pkce();
    for method in ["plain", ""] {
        let loc = error_redirect(
            &srv,
            &rp,
            &[
                ("code_challenge", &verifier),
                ("code_challenge_method", method),
            ],
        )
        .await;
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some("invalid_request"),
            "method {method:?}"
        );
    }
}

async fn public_clients_must_use_pkce(srv: TestServer) {
    let rp = support::public_client(&srv).await;
    let loc = error_redirect(&srv, &rp, &[]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
    assert!(query_param(&loc, "error_description")
        .unwrap()
        .contains("PKCE"));
}

async fn a_malformed_challenge_is_refused(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let loc = error_redirect(
        &srv,
        &rp,
        &[
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
}

async fn repeated_parameters_are_refused(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let url = format!("{}&scope=openid", authorize_url(&srv, &rp, &[]));
    let resp = new_browser().get(url).send().await.unwrap();
    let loc = location(&resp);
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
}

async fn request_objects_are_not_supported(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let loc = error_redirect(&srv, &rp, &[("request", "eyJhbGciOiJub25lIn0.e30.")]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("request_not_supported")
    );
}

async fn only_unknown_scopes_is_invalid_scope(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let loc = error_redirect(&srv, &rp, &[("scope", "launch/patient admin")]).await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_scope"));
}

async fn unknown_prompt_values_are_refused(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let loc = error_redirect(&srv, &rp, &[("prompt", "sometimes")]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
    let loc = error_redirect(&srv, &rp, &[("prompt", "none login")]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
}

async fn prompt_none_without_a_session_is_login_required(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let loc = error_redirect(&srv, &rp, &[("prompt", "none")]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required")
    );
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st-123"));
}

/// Signs `username` in on `browser` through the portal's own login page.
async fn sign_in(srv: &TestServer, browser: &reqwest::Client, username: &str) {
    let page = browser
        .get(srv.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = support::submit_login(srv, browser, &page, username, support::PASSWORD).await;
    assert_eq!(resp.status(), 303, "login failed");
}

async fn prompt_none_without_consent_is_consent_required(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    sign_in(&srv, &browser, "jane").await;
    let resp = browser
        .get(authorize_url(&srv, &rp, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    let loc = location(&resp);
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("consent_required"),
        "{loc}"
    );
}

async fn a_signed_in_patient_with_consent_gets_a_code_at_once(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    let first = support::authorize_as(
        &srv,
        &browser,
        &authorize_url(&srv, &rp, &[]),
        "jane",
        "Allow",
    )
    .await;
    assert!(query_param(&first, "code").is_some());
    // Consent is remembered: the next request, even with prompt=none, returns a code.
    let resp = browser
        .get(authorize_url(
            &srv,
            &rp,
            &[("prompt", "none"), ("state", "again")],
        ))
        .send()
        .await
        .unwrap();
    let loc = location(&resp);
    assert!(query_param(&loc, "code").is_some(), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("again"));
    assert_eq!(query_param(&loc, "iss").as_deref(), Some(srv.base.as_str()));
}

async fn login_hint_prefills_the_username(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let page = new_browser()
        .get(authorize_url(
            &srv,
            &rp,
            &[("login_hint", "jane@example.com")],
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        Form::find(&page, "/login").get("username"),
        Some("jane@example.com")
    );
    assert!(
        page.contains("Health Tracker"),
        "the login page names the app"
    );
}

async fn a_post_request_is_turned_into_a_get(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    support::authorize_as(
        &srv,
        &browser,
        &authorize_url(&srv, &rp, &[]),
        "jane",
        "Allow",
    )
    .await;
    let url = authorize_url(&srv, &rp, &[]);
    let query = url.split_once('?').unwrap().1.to_owned();
    let resp = browser
        .post(srv.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let next = location(&resp);
    assert!(next.starts_with("/authorize?"), "{next}");
    // Following it by GET finds the patient's session (a Lax cookie travels on GET).
    let resp = browser.get(srv.url(&next)).send().await.unwrap();
    assert!(query_param(&location(&resp), "code").is_some());
}

async fn form_post_delivers_the_code_in_an_auto_submitted_form(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    support::authorize_as(
        &srv,
        &browser,
        &authorize_url(&srv, &rp, &[]),
        "jane",
        "Allow",
    )
    .await;
    let resp = browser
        .get(authorize_url(&srv, &rp, &[("response_mode", "form_post")]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    let page = resp.text().await.unwrap();
    let form = Form::find(&page, &rp.redirect_uri);
    assert_eq!(form.method, "post");
    assert!(form.get("code").is_some());
    assert_eq!(form.get("state"), Some("st-123"));
    assert_eq!(form.get("iss"), Some(srv.base.as_str()));
    // Errors travel the same way.
    let resp = new_browser()
        .get(authorize_url(
            &srv,
            &rp,
            &[("response_mode", "form_post"), ("prompt", "none")],
        ))
        .send()
        .await
        .unwrap();
    let page = resp.text().await.unwrap();
    assert_eq!(
        Form::find(&page, &rp.redirect_uri).get("error"),
        Some("login_required")
    );
}

async fn an_unknown_response_mode_is_refused(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let loc = error_redirect(&srv, &rp, &[("response_mode", "fragment")]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
}

async fn deny_returns_access_denied(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let loc = support::authorize_as(
        &srv,
        &new_browser(),
        &authorize_url(&srv, &rp, &[]),
        "jane",
        "Deny",
    )
    .await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&loc, "iss").as_deref(), Some(srv.base.as_str()));
}

/// The page the browser lands on for `url` (the consent page, or a redirect).
async fn step(browser: &reqwest::Client, url: &str) -> (u16, String) {
    let resp = browser.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    if status == 303 {
        return (status, location(&resp));
    }
    (status, resp.text().await.unwrap())
}

async fn a_new_scope_asks_for_consent_again(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    support::authorize_as(
        &srv,
        &browser,
        &authorize_url(&srv, &rp, &[("scope", "openid email")]),
        "jane",
        "Allow",
    )
    .await;
    let (status, _) = step(
        &browser,
        &authorize_url(&srv, &rp, &[("scope", "openid email")]),
    )
    .await;
    assert_eq!(status, 303, "same scopes: no consent page");
    let (status, page) = step(
        &browser,
        &authorize_url(&srv, &rp, &[("scope", "openid email phone")]),
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("See your phone number"), "{page}");
    assert!(page.contains(">Allow<") && page.contains(">Deny<"));
}

async fn prompt_consent_always_asks(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    support::authorize_as(
        &srv,
        &browser,
        &authorize_url(&srv, &rp, &[]),
        "jane",
        "Allow",
    )
    .await;
    let (status, page) = step(
        &browser,
        &authorize_url(&srv, &rp, &[("prompt", "consent")]),
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("action=\"/authorize/decision\""));
    assert!(
        page.contains("https://tracker.example/privacy"),
        "policy link shown"
    );
}

async fn prompt_login_asks_for_the_password_again(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    support::authorize_as(
        &srv,
        &browser,
        &authorize_url(&srv, &rp, &[]),
        "jane",
        "Allow",
    )
    .await;
    let (status, page) = step(&browser, &authorize_url(&srv, &rp, &[("prompt", "login")])).await;
    assert_eq!(status, 200);
    let form = Form::find(&page, "/login");
    assert!(
        !form.get("return_to").unwrap().contains("prompt"),
        "the way back must not loop"
    );
    let loc = support::authorize_as(
        &srv,
        &browser,
        &authorize_url(&srv, &rp, &[("prompt", "login")]),
        "jane",
        "Allow",
    )
    .await;
    assert!(query_param(&loc, "code").is_some());
}

async fn max_age_forces_a_fresh_login(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    support::authorize_as(
        &srv,
        &browser,
        &authorize_url(&srv, &rp, &[]),
        "jane",
        "Allow",
    )
    .await;
    srv.clock.advance(chrono::Duration::seconds(120));
    let (status, _) = step(&browser, &authorize_url(&srv, &rp, &[("max_age", "600")])).await;
    assert_eq!(status, 303, "a recent login satisfies max_age");
    let (status, page) = step(&browser, &authorize_url(&srv, &rp, &[("max_age", "60")])).await;
    assert_eq!(status, 200);
    assert!(page.contains("action=\"/login\""));
    let (_, loc) = step(
        &browser,
        &authorize_url(&srv, &rp, &[("max_age", "60"), ("prompt", "none")]),
    )
    .await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required")
    );
    let (_, loc) = step(&browser, &authorize_url(&srv, &rp, &[("max_age", "-1")])).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
}

async fn id_token_hint_for_someone_else_is_login_required(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    support::account_for(&srv, "john", "john@example.com", None).await;
    // Jane's ID token.
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (_, body) = support::exchange(&srv, &rp, &code, None).await;
    let jane_hint = body["id_token"].as_str().unwrap().to_owned();
    // John is signed in on this browser.
    let browser = new_browser();
    support::authorize_as(
        &srv,
        &browser,
        &authorize_url(&srv, &rp, &[]),
        "john",
        "Allow",
    )
    .await;
    let (_, loc) = step(
        &browser,
        &authorize_url(
            &srv,
            &rp,
            &[("prompt", "none"), ("id_token_hint", &jane_hint)],
        ),
    )
    .await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required"),
        "{loc}"
    );
    // A hint for John himself is satisfied silently.
    let code = query_param(
        &support::authorize_as(
            &srv,
            &browser,
            &authorize_url(&srv, &rp, &[]),
            "john",
            "Allow",
        )
        .await,
        "code",
    )
    .unwrap();
    let (_, body) = support::exchange(&srv, &rp, &code, None).await;
    let john_hint = body["id_token"].as_str().unwrap().to_owned();
    let (_, loc) = step(
        &browser,
        &authorize_url(
            &srv,
            &rp,
            &[("prompt", "none"), ("id_token_hint", &john_hint)],
        ),
    )
    .await;
    assert!(query_param(&loc, "code").is_some(), "{loc}");
    // A forged hint is refused.
    let (_, loc) = step(
        &browser,
        &authorize_url(&srv, &rp, &[("id_token_hint", "e30.e30.sig")]),
    )
    .await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
}

async fn a_forged_decision_without_csrf_token_is_refused(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let browser = new_browser();
    sign_in(&srv, &browser, "jane").await;
    let url = authorize_url(&srv, &rp, &[]);
    let query = url.split_once('?').unwrap().1.to_owned();
    let resp = browser
        .post(srv.url("/authorize/decision"))
        .form(&[("request", query.as_str()), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(srv
        .store()
        .grants_of_account(
            &srv.store()
                .find_account_for_login("jane")
                .await
                .unwrap()
                .unwrap()
                .id
        )
        .await
        .unwrap()
        .is_empty());
}
