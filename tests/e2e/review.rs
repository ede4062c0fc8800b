//! What review means for patients: an app in review, rejected or suspended never
//! reaches login or consent and gets no token; suspension and a patient's "Remove
//! access" stop tokens at once; the consent page shows what the review approved.

use pfid_store::clients::{AuthMethod, ClientStatus};
use pfid_tests::{both_backends, location, new_browser, TestServer};

use crate::developer_support::{developer, register_app, unescape, web_app_fields, with};
use crate::support::{self, ClientOptions, Rp, PASSWORD};

both_backends!(
    an_app_not_approved_never_reaches_login_or_consent_nor_gets_tokens,
    approving_an_app_lets_patients_sign_in,
    suspension_stops_the_apps_tokens_at_once,
    removing_access_kills_that_patients_tokens_for_that_app_only,
    consent_shows_the_reviewed_name_logo_developer_and_links,
    a_native_app_may_return_to_any_loopback_port,
);

async fn userinfo_status(srv: &TestServer, token: &str) -> u16 {
    reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Signs `username` in with a fresh browser and returns it (holding the session).
async fn patient_session(srv: &TestServer, username: &str) -> reqwest::Client {
    let b = new_browser();
    let page = b
        .get(srv.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = support::submit_login(srv, &b, &page, username, PASSWORD).await;
    assert_eq!(resp.status(), 303);
    b
}

async fn an_app_not_approved_never_reaches_login_or_consent_nor_gets_tokens(srv: TestServer) {
    support::account(&srv, "jane").await;
    let signed_in = patient_session(&srv, "jane").await;
    for status in [
        ClientStatus::Review,
        ClientStatus::Rejected,
        ClientStatus::Suspended,
    ] {
        let rp = support::client(
            &srv,
            ClientOptions {
                status,
                ..ClientOptions::default()
            },
        )
        .await;
        for browser in [new_browser(), signed_in.clone()] {
            let resp = browser
                .get(support::authorize_url(&srv, &rp, &[]))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 400, "{status:?}");
            let page = resp.text().await.unwrap();
            assert!(page.contains("App not available"), "{status:?}: {page}");
            assert!(!page.contains("action=\"/login\""));
            assert!(!page.contains("action=\"/authorize/decision\""));
        }
        // The token endpoint refuses it even with its right secret.
        let resp = support::token_request(
            &srv,
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", "whatever"),
                ("redirect_uri", &rp.redirect_uri),
            ],
        )
        .await;
        assert_eq!(resp.status(), 401, "{status:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
}

async fn approving_an_app_lets_patients_sign_in(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "").await;
    let (id, secret) = register_app(&srv, &dev, &web_app_fields()).await;
    support::account(&srv, "jane").await;
    let rp = Rp {
        client_id: id.clone(),
        secret,
        redirect_uri: "https://heartlog.example/callback".into(),
    };
    let before = new_browser()
        .get(support::authorize_url(&srv, &rp, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), 400);
    srv.store()
        .set_client_status(&id, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (status, body) = support::exchange(&srv, &rp, &code, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        userinfo_status(&srv, body["access_token"].as_str().unwrap()).await,
        200
    );
}

async fn suspension_stops_the_apps_tokens_at_once(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let code = support::code_for(
        &srv,
        &rp,
        "jane",
        &[("scope", "openid email offline_access")],
    )
    .await;
    let (_, tokens) = support::exchange(&srv, &rp, &code, None).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo_status(&srv, &access).await, 200);
    srv.store()
        .set_client_status(
            &rp.client_id,
            ClientStatus::Suspended,
            Some("abuse report".into()),
            srv.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        userinfo_status(&srv, &access).await,
        401,
        "at once, not at expiry"
    );
    let resp = support::token_request(
        &srv,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(resp.status(), 401);
    let resp = new_browser()
        .get(support::authorize_url(&srv, &rp, &[]))
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("App not available"));
}

async fn removing_access_kills_that_patients_tokens_for_that_app_only(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let other_app = support::web_client(&srv).await;
    let jane = support::account(&srv, "jane").await;
    support::account_for(&srv, "john", "john@example.com", None).await;
    let scope = [("scope", "openid email offline_access")];
    let mut tokens = Vec::new();
    for (app, who) in [(&rp, "jane"), (&other_app, "jane"), (&rp, "john")] {
        let code = support::code_for(&srv, app, who, &scope).await;
        let (status, body) = support::exchange(&srv, app, &code, None).await;
        assert_eq!(status, 200, "{body}");
        tokens.push(body);
    }
    let access = |i: usize| tokens[i]["access_token"].as_str().unwrap().to_owned();
    for i in 0..3 {
        assert_eq!(userinfo_status(&srv, &access(i)).await, 200);
    }
    // What the account page's "Remove access" does.
    assert!(srv
        .store()
        .revoke_grant(&jane.id, &rp.client_id, srv.now())
        .await
        .unwrap());
    assert_eq!(userinfo_status(&srv, &access(0)).await, 401);
    assert_eq!(
        userinfo_status(&srv, &access(1)).await,
        200,
        "other apps keep theirs"
    );
    assert_eq!(
        userinfo_status(&srv, &access(2)).await,
        200,
        "other patients keep theirs"
    );
    // The refresh token buys nothing any more.
    let resp = support::token_request(
        &srv,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens[0]["refresh_token"].as_str().unwrap(),
            ),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body.get("access_token").is_none());
    assert_eq!(body["error"], "invalid_grant", "{body}");
    // The consent is gone too: the next sign-in asks again.
    assert!(srv
        .store()
        .grant_for(&jane.id, &rp.client_id)
        .await
        .unwrap()
        .is_none());
    let b = new_browser();
    let page = b
        .get(support::authorize_url(&srv, &rp, &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = support::submit_login(&srv, &b, &page, "jane", PASSWORD).await;
    let next = b
        .get(srv.url(&location(&resp)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        next.contains("action=\"/authorize/decision\""),
        "consent is asked again"
    );
}

async fn consent_shows_the_reviewed_name_logo_developer_and_links(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "Analytical Apps").await;
    let (id, secret) = register_app(&srv, &dev, &web_app_fields()).await;
    srv.store()
        .set_client_status(&id, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    support::account(&srv, "jane").await;
    let rp = Rp {
        client_id: id,
        secret,
        redirect_uri: "https://heartlog.example/callback".into(),
    };
    let b = patient_session(&srv, "jane").await;
    let page = unescape(
        &b.get(support::authorize_url(&srv, &rp, &[]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(page.contains("<h1>Heart Log wants to access your Patient Fusion account</h1>"));
    assert!(page.contains("<img class=\"logo\" src=\"https://heartlog.example/logo.png\""));
    assert!(page.contains("Made by Analytical Apps"));
    assert!(page.contains("href=\"https://heartlog.example/privacy\""));
    assert!(page.contains("href=\"https://heartlog.example/terms\""));
    // A developer without an organization is shown by name; an operator's app by none.
    let dev2 = developer(&srv, "solo@apps.example", "").await;
    let (id2, secret2) = register_app(
        &srv,
        &dev2,
        &with(web_app_fields(), "client_name", "Solo Tracker"),
    )
    .await;
    srv.store()
        .set_client_status(&id2, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    let rp2 = Rp {
        client_id: id2,
        secret: secret2,
        redirect_uri: "https://heartlog.example/callback".into(),
    };
    let page = b
        .get(support::authorize_url(&srv, &rp2, &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Made by Ada Lovelace"), "{page}");
    let operator_app = support::web_client(&srv).await;
    let page = b
        .get(support::authorize_url(&srv, &operator_app, &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Health Tracker") && !page.contains("Made by"));
}

async fn a_native_app_may_return_to_any_loopback_port(srv: TestServer) {
    let rp = support::client(
        &srv,
        ClientOptions {
            auth_method: AuthMethod::None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            ..ClientOptions::default()
        },
    )
    .await;
    support::account(&srv, "jane").await;
    let (verifier, challenge) = support::pkce();
    let at_port = Rp {
        redirect_uri: "http://127.0.0.1:53682/callback".into(),
        ..rp.clone()
    };
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let code = support::code_for(&srv, &at_port, "jane", &pkce).await;
    let (status, body) = support::exchange(&srv, &at_port, &code, Some(&verifier)).await;
    assert_eq!(status, 200, "{body}");
    // Another path, or another host, is not the registered URI.
    for uri in [
        "http://127.0.0.1:53682/elsewhere",
        "http://[::1]:53682/callback",
    ] {
        let other = Rp {
            redirect_uri: uri.into(),
            ..rp.clone()
        };
        let resp = new_browser()
            .get(support::authorize_url(&srv, &other, &pkce))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{uri}");
        assert!(resp
            .text()
            .await
            .unwrap()
            .contains("Invalid return address"));
    }
}
