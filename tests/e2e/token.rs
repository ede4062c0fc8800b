//! The token endpoint's authorization_code grant, client authentication and ID tokens.

use pfid_store::clients::AuthMethod;
use pfid_tests::{both_backends, TestServer};
use serde_json::Value;

use crate::support::{self, exchange, jwt_claims, jwt_header, token_request, ClientOptions};

both_backends!(
    a_code_buys_tokens_once,
    the_id_token_carries_every_required_claim,
    id_tokens_verify_against_the_jwks,
    rs256_clients_get_rs256_id_tokens,
    a_reused_code_is_refused_and_its_tokens_revoked,
    an_expired_code_is_refused,
    a_code_is_bound_to_its_client,
    a_code_is_bound_to_its_redirect_uri,
    pkce_binds_the_code_to_the_verifier,
    a_verifier_without_a_challenge_is_refused,
    public_clients_redeem_with_pkce_and_no_secret,
    client_secret_post_works_when_registered,
    a_client_uses_only_its_registered_method,
    a_wrong_secret_is_invalid_client_with_a_basic_challenge,
    an_unknown_client_is_invalid_client,
    malformed_token_requests_are_invalid_request,
    unsupported_grant_types_are_named,
    a_client_may_use_only_its_grant_types,
    offline_access_adds_a_refresh_token,
    key_rotation_signs_with_new_keys_and_keeps_old_ones_published,
);

async fn a_code_buys_tokens_once(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let resp = token_request(
        &srv,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &rp.redirect_uri),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].as_str().unwrap().len() >= 43);
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid profile email");
    assert!(body["id_token"].is_string());
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
}

async fn the_id_token_carries_every_required_claim(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let account = support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (_, body) = exchange(&srv, &rp, &code, None).await;
    let id_token = body["id_token"].as_str().unwrap();
    let c = jwt_claims(id_token);
    assert_eq!(c["iss"], srv.base);
    assert_eq!(c["sub"], account.id, "sub is the stable opaque id");
    assert_ne!(c["sub"], "jane");
    assert_eq!(c["aud"], rp.client_id);
    assert_eq!(c["nonce"], "n-456");
    let now = srv.now().timestamp();
    assert!((c["iat"].as_i64().unwrap() - now).abs() < 5);
    assert!(c["exp"].as_i64().unwrap() > now);
    assert!(c["auth_time"].as_i64().unwrap() <= now);
    assert!(c["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(c["amr"], serde_json::json!(["pwd"]));
    let expected_at_hash =
        pfid_server::crypto::jose::half_hash(body["access_token"].as_str().unwrap());
    assert_eq!(c["at_hash"], expected_at_hash);
    let h = jwt_header(id_token);
    assert_eq!(h["alg"], "ES256");
    assert!(h["kid"].is_string());
}

async fn id_tokens_verify_against_the_jwks(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (_, body) = exchange(&srv, &rp, &code, None).await;
    let jwks: Value = reqwest::get(srv.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jws = pfid_server::crypto::jose::UnverifiedJws::parse(body["id_token"].as_str().unwrap())
        .unwrap();
    jws.verify(jwks["keys"].as_array().unwrap())
        .expect("signature verifies with the published key");
}

async fn rs256_clients_get_rs256_id_tokens(srv: TestServer) {
    let rp = support::client(
        &srv,
        ClientOptions {
            alg: "RS256",
            ..ClientOptions::default()
        },
    )
    .await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (_, body) = exchange(&srv, &rp, &code, None).await;
    let id_token = body["id_token"].as_str().unwrap();
    assert_eq!(jwt_header(id_token)["alg"], "RS256");
    let jwks: Value = reqwest::get(srv.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jws = pfid_server::crypto::jose::UnverifiedJws::parse(id_token).unwrap();
    jws.verify(jwks["keys"].as_array().unwrap()).unwrap();
}

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

async fn a_reused_code_is_refused_and_its_tokens_revoked(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[("scope", "openid offline_access")]).await;
    let (status, first) = exchange(&srv, &rp, &code, None).await;
    assert_eq!(status, 200);
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&srv, access).await, 200);
    let (status, second) = exchange(&srv, &rp, &code, None).await;
    assert_eq!(status, 400);
    assert_eq!(second["error"], "invalid_grant");
    assert_eq!(
        userinfo_status(&srv, access).await,
        401,
        "tokens from a replayed code are revoked"
    );
}

async fn an_expired_code_is_refused(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    srv.clock.advance(chrono::Duration::seconds(61));
    let (status, body) = exchange(&srv, &rp, &code, None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

async fn a_code_is_bound_to_its_client(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let other = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (status, body) = exchange(&srv, &other, &code, None).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The rightful client can still redeem it.
    assert_eq!(exchange(&srv, &rp, &code, None).await.0, 200);
}

async fn a_code_is_bound_to_its_redirect_uri(srv: TestServer) {
    let rp = support::client(
        &srv,
        ClientOptions {
            redirect_uris: vec![support::REDIRECT.into(), "http://127.0.0.1:9/other".into()],
            ..ClientOptions::default()
        },
    )
    .await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let mut wrong = rp.clone();
    wrong.redirect_uri = "http://127.0.0.1:9/other".into();
    let (status, body) = exchange(&srv, &wrong, &code, None).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let resp = token_request(
        &srv,
        &rp,
        &[("grant_type", "authorization_code"), ("code", &code)],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

async fn pkce_binds_the_code_to_the_verifier(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let (verifier, challenge) = support::pkce();
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let code = support::code_for(&srv, &rp, "jane", &pkce).await;
    let (status, body) = exchange(&srv, &rp, &code, None).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_grant")),
        "missing verifier"
    );
    let (other_verifier, _) = support::pkce();
    let (status, body) = exchange(&srv, &rp, &code, Some(&other_verifier)).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_grant")),
        "wrong verifier"
    );
    let (status, _) = exchange(&srv, &rp, &code, Some(&verifier)).await;
    assert_eq!(status, 200);
}

async fn a_verifier_without_a_challenge_is_refused(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (verifier, _) = support::pkce();
    let (status, body) = exchange(&srv, &rp, &code, Some(&verifier)).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

async fn public_clients_redeem_with_pkce_and_no_secret(srv: TestServer) {
    let rp = support::public_client(&srv).await;
    support::account(&srv, "jane").await;
    let (verifier, challenge) = support::pkce();
    let code = support::code_for(
        &srv,
        &rp,
        "jane",
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let (status, body) = exchange(&srv, &rp, &code, Some(&verifier)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());
}

async fn client_secret_post_works_when_registered(srv: TestServer) {
    let rp = support::client(
        &srv,
        ClientOptions {
            auth_method: AuthMethod::ClientSecretPost,
            ..ClientOptions::default()
        },
    )
    .await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let resp = reqwest::Client::new()
        .post(srv.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &rp.redirect_uri),
            ("client_id", &rp.client_id),
            ("client_secret", rp.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn a_client_uses_only_its_registered_method(srv: TestServer) {
    let rp = support::web_client(&srv).await; // registered client_secret_basic
    let resp = reqwest::Client::new()
        .post(srv.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", &rp.client_id),
            ("client_secret", rp.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // Nor may a confidential client pretend to be public.
    let resp = reqwest::Client::new()
        .post(srv.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", &rp.client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

async fn a_wrong_secret_is_invalid_client_with_a_basic_challenge(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let resp = reqwest::Client::new()
        .post(srv.url("/token"))
        .basic_auth(&rp.client_id, Some("pfcs_wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", support::REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
}

async fn an_unknown_client_is_invalid_client(srv: TestServer) {
    let resp = reqwest::Client::new()
        .post(srv.url("/token"))
        .basic_auth("nobody", Some("nothing"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
}

async fn malformed_token_requests_are_invalid_request(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let c = reqwest::Client::new();
    let secret = rp.secret.clone().unwrap();
    let json = c
        .post(srv.url("/token"))
        .basic_auth(&rp.client_id, Some(&secret))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 400);
    assert_eq!(
        json.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let dup = c
        .post(srv.url("/token"))
        .basic_auth(&rp.client_id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=a&code=b")
        .send()
        .await
        .unwrap();
    assert_eq!(
        dup.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let missing = token_request(&srv, &rp, &[("code", "x")]).await;
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let no_code = token_request(&srv, &rp, &[("grant_type", "authorization_code")]).await;
    assert_eq!(
        no_code.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let bad_code = token_request(
        &srv,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", support::REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        bad_code.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

async fn unsupported_grant_types_are_named(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let resp = token_request(
        &srv,
        &rp,
        &[
            ("grant_type", "password"),
            ("username", "x"),
            ("password", "y"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

async fn a_client_may_use_only_its_grant_types(srv: TestServer) {
    let rp = support::client(
        &srv,
        ClientOptions {
            grant_types: vec!["client_credentials"],
            ..ClientOptions::default()
        },
    )
    .await;
    let resp = token_request(
        &srv,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", support::REDIRECT),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
}

async fn offline_access_adds_a_refresh_token(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[("scope", "openid offline_access")]).await;
    let (_, body) = exchange(&srv, &rp, &code, None).await;
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("pfrt_")),
        "{body}"
    );
    // A client not allowed the refresh_token grant gets none.
    let rp2 = support::client(
        &srv,
        ClientOptions {
            grant_types: vec!["authorization_code"],
            ..ClientOptions::default()
        },
    )
    .await;
    let code = support::code_for(&srv, &rp2, "jane", &[("scope", "openid offline_access")]).await;
    let (_, body) = exchange(&srv, &rp2, &code, None).await;
    assert!(body.get("refresh_token").is_none());
}

async fn key_rotation_signs_with_new_keys_and_keeps_old_ones_published(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (_, before) = exchange(&srv, &rp, &code, None).await;
    let old_kid = jwt_header(before["id_token"].as_str().unwrap())["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let kids = pfid_server::keys::KeyRing::rotate(
        srv.store(),
        &srv.state.sealer,
        srv.now(),
        chrono::Duration::hours(2),
    )
    .await
    .unwrap();
    srv.state
        .keys
        .refresh(srv.store(), srv.now())
        .await
        .unwrap();
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (_, after) = exchange(&srv, &rp, &code, None).await;
    let new_kid = jwt_header(after["id_token"].as_str().unwrap())["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(old_kid, new_kid);
    assert!(kids.contains(&new_kid));
    let jwks: Value = reqwest::get(srv.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(published.contains(&old_kid.as_str()) && published.contains(&new_kid.as_str()));
    // Once every token the old key signed has expired, it leaves the JWKS.
    srv.clock.advance(chrono::Duration::hours(3));
    srv.state
        .keys
        .refresh(srv.store(), srv.now())
        .await
        .unwrap();
    let jwks: Value = reqwest::get(srv.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(!published.contains(&old_kid.as_str()));
    assert!(published.contains(&new_kid.as_str()));
}
