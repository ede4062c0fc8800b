//! The refresh_token grant: rotation, reuse detection (RFC 9700 §4.14.2), idle and
//! absolute lifetimes, scope narrowing (RFC 6749 §6), refreshed ID tokens (OpenID Connect
//! Core §12.2), and the events that end a family.

use chrono::Duration;
use openidconnect::core::{CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    ClientId, ClientSecret, IssuerUrl, Nonce, OAuth2TokenResponse, RefreshToken, TokenResponse,
};
use pfid_store::clients::ClientStatus;
use pfid_tests::{both_backends, TestServer};
use serde_json::Value;

use crate::support::{self, jwt_claims, Rp};
use crate::token_support::{self as ts, introspect, refresh, sign_in, userinfo_status, Auth};

both_backends!(
    a_standard_client_refreshes_and_gets_a_rotated_token_and_a_new_id_token,
    each_refresh_rotates_the_refresh_token,
    a_reused_refresh_token_revokes_the_family_and_its_access_tokens,
    a_refresh_token_unused_for_the_idle_lifetime_expires,
    using_a_refresh_token_slides_its_idle_lifetime,
    a_family_ends_at_its_absolute_lifetime,
    a_refresh_may_ask_for_fewer_scopes,
    a_refresh_may_never_ask_for_more_scopes,
    a_refresh_without_openid_has_no_id_token,
    a_refresh_token_is_bound_to_its_client,
    a_client_without_the_refresh_grant_cannot_refresh,
    refresh_is_refused_once_the_app_is_suspended,
    refresh_is_refused_once_the_account_is_deactivated,
    refresh_is_refused_once_consent_is_withdrawn,
    revoking_every_token_of_an_account_ends_its_families,
    a_refresh_request_needs_its_token,
    public_clients_refresh_with_rotation_too,
);

async fn offline(srv: &TestServer) -> (Rp, Value) {
    let rp = support::web_client(srv).await;
    support::account(srv, "jane").await;
    let body = sign_in(srv, &rp, "jane", "openid profile email offline_access").await;
    assert!(body["refresh_token"].is_string(), "{body}");
    (rp, body)
}

fn rt(body: &Value) -> String {
    body["refresh_token"].as_str().unwrap().to_owned()
}

fn at(body: &Value) -> String {
    body["access_token"].as_str().unwrap().to_owned()
}

async fn a_standard_client_refreshes_and_gets_a_rotated_token_and_a_new_id_token(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(srv.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.client_id.clone()),
        Some(ClientSecret::new(rp.secret.clone().unwrap())),
    );
    srv.clock.advance(Duration::minutes(5));
    let tokens = client
        .exchange_refresh_token(&RefreshToken::new(rt(&first)))
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let new_refresh = tokens.refresh_token().expect("a rotated refresh token");
    assert_ne!(new_refresh.secret(), &rt(&first));
    assert_ne!(tokens.access_token().secret(), &at(&first));
    assert_eq!(
        userinfo_status(&srv, tokens.access_token().secret()).await,
        200
    );

    // §12.2: the new ID token verifies, with the same iss, sub, aud and auth_time, and
    // carries no nonce.
    let id_token = tokens
        .id_token()
        .expect("openid is in scope: a new ID token");
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token
        .claims(&verifier, |n: Option<&Nonce>| match n {
            None => Ok(()),
            Some(_) => Err("a refreshed ID token must not carry a nonce".to_owned()),
        })
        .expect("the refreshed ID token verifies");
    let original = jwt_claims(first["id_token"].as_str().unwrap());
    assert_eq!(claims.subject().as_str(), original["sub"].as_str().unwrap());
    assert_eq!(claims.issuer().as_str(), srv.base);
    assert_eq!(
        claims.auth_time().unwrap().timestamp(),
        original["auth_time"].as_i64().unwrap(),
        "auth_time is the original authentication's"
    );
    let raw = jwt_claims(&id_token.to_string());
    assert_eq!(raw["aud"], original["aud"]);
    assert_eq!(raw["sid"], original["sid"]);
    assert!(raw.get("nonce").is_none());
    assert!(raw["iat"].as_i64().unwrap() > original["iat"].as_i64().unwrap());
}

async fn each_refresh_rotates_the_refresh_token(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let (status, second) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["expires_in"], 3600);
    assert_eq!(second["scope"], "openid profile email offline_access");
    let (status, third) = refresh(&srv, &rp, &rt(&second), None).await;
    assert_eq!(status, 200, "{third}");
    assert_ne!(rt(&second), rt(&third));
    // The rotated-out token is no longer active; the newest is.
    assert_eq!(introspect(&srv, &rp, &rt(&first)).await["active"], false);
    assert_eq!(introspect(&srv, &rp, &rt(&third)).await["active"], true);
}

async fn a_reused_refresh_token_revokes_the_family_and_its_access_tokens(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let (_, second) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(userinfo_status(&srv, &at(&first)).await, 200);
    assert_eq!(userinfo_status(&srv, &at(&second)).await, 200);

    // An attacker (or a confused client) presents the rotated-out token.
    let (status, body) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");

    // The whole family is dead: the newest refresh token and every access token.
    let (status, body) = refresh(&srv, &rp, &rt(&second), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(userinfo_status(&srv, &at(&first)).await, 401);
    assert_eq!(userinfo_status(&srv, &at(&second)).await, 401);
    assert_eq!(introspect(&srv, &rp, &rt(&second)).await["active"], false);
    assert_eq!(introspect(&srv, &rp, &at(&second)).await["active"], false);
}

async fn a_refresh_token_unused_for_the_idle_lifetime_expires(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    // lifetimes.refresh_token_idle defaults to 30 days.
    srv.clock.advance(Duration::days(30) + Duration::seconds(1));
    let (status, body) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(introspect(&srv, &rp, &rt(&first)).await["active"], false);
}

async fn using_a_refresh_token_slides_its_idle_lifetime(srv: TestServer) {
    let (rp, mut tokens) = offline(&srv).await;
    for _ in 0..2 {
        srv.clock.advance(Duration::days(29));
        let (status, next) = refresh(&srv, &rp, &rt(&tokens), None).await;
        assert_eq!(status, 200, "{next}");
        tokens = next;
    }
    let info = introspect(&srv, &rp, &rt(&tokens)).await;
    assert_eq!(info["active"], true);
    let idle_end = (srv.now() + Duration::days(30)).timestamp();
    assert!(
        (info["exp"].as_i64().unwrap() - idle_end).abs() <= 1,
        "{info}"
    );
}

async fn a_family_ends_at_its_absolute_lifetime(srv: TestServer) {
    let (rp, mut tokens) = offline(&srv).await;
    // lifetimes.refresh_token (absolute) defaults to 90 days; used every 25 days the
    // family stays alive until then, and no longer.
    for _ in 0..3 {
        srv.clock.advance(Duration::days(25));
        let (status, next) = refresh(&srv, &rp, &rt(&tokens), None).await;
        assert_eq!(status, 200, "{next}");
        tokens = next;
    }
    // At day 75 the newest token may live only to day 90, not day 105.
    let info = introspect(&srv, &rp, &rt(&tokens)).await;
    let family_end = (srv.now() + Duration::days(15)).timestamp();
    assert!(
        (info["exp"].as_i64().unwrap() - family_end).abs() <= 1,
        "{info}"
    );
    srv.clock.advance(Duration::days(15) + Duration::seconds(1));
    let (status, body) = refresh(&srv, &rp, &rt(&tokens), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

async fn a_refresh_may_ask_for_fewer_scopes(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let (status, narrow) = refresh(&srv, &rp, &rt(&first), Some("openid email")).await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "openid email");
    let info = introspect(&srv, &rp, &at(&narrow)).await;
    assert_eq!(info["scope"], "openid email");
    let claims: Value = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(at(&narrow))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(claims.get("email").is_some());
    assert!(
        claims.get("given_name").is_none(),
        "profile was not asked for"
    );
    // The family keeps what was granted: the next refresh may have it all again.
    let (status, full) = refresh(&srv, &rp, &rt(&narrow), None).await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(full["scope"], "openid profile email offline_access");
}

async fn a_refresh_may_never_ask_for_more_scopes(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let (status, body) = refresh(&srv, &rp, &rt(&first), Some("openid phone")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
    let (status, body) = refresh(&srv, &rp, &rt(&first), Some("openid bogus")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
    // Refused requests change nothing: the token was not used up.
    let (status, body) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(status, 200, "{body}");
}

async fn a_refresh_without_openid_has_no_id_token(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let (status, body) = refresh(&srv, &rp, &rt(&first), Some("email offline_access")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("id_token").is_none());
    let (_, body) = refresh(&srv, &rp, &rt(&body), None).await;
    assert!(body["id_token"].is_string());
}

async fn a_refresh_token_is_bound_to_its_client(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let other = support::web_client(&srv).await;
    let (status, body) = refresh(&srv, &other, &rt(&first), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    // The other client's attempt neither used up nor revoked the token.
    let (status, body) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(status, 200, "{body}");
}

async fn a_client_without_the_refresh_grant_cannot_refresh(srv: TestServer) {
    let (_, first) = offline(&srv).await;
    let other = ts::client_with(&srv, |c| c.grant_types = vec!["authorization_code".into()]).await;
    let (status, body) = refresh(&srv, &other, &rt(&first), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unauthorized_client");
}

async fn refresh_is_refused_once_the_app_is_suspended(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    srv.store()
        .set_client_status(&rp.client_id, ClientStatus::Suspended, None, srv.now())
        .await
        .unwrap();
    let (status, body) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(userinfo_status(&srv, &at(&first)).await, 401);
}

async fn refresh_is_refused_once_the_account_is_deactivated(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let account = srv
        .store()
        .find_account_for_login("jane")
        .await
        .unwrap()
        .unwrap();
    srv.store()
        .deactivate_account(&account.id, srv.now())
        .await
        .unwrap();
    let (status, body) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

async fn refresh_is_refused_once_consent_is_withdrawn(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let account = srv
        .store()
        .find_account_for_login("jane")
        .await
        .unwrap()
        .unwrap();
    assert!(srv
        .store()
        .revoke_grant(&account.id, &rp.client_id, srv.now())
        .await
        .unwrap());
    let (status, body) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(userinfo_status(&srv, &at(&first)).await, 401);
    // Consenting again later does not bring the old family back.
    srv.store()
        .save_grant(
            &account.id,
            &rp.client_id,
            &["openid".to_owned()],
            srv.now(),
        )
        .await
        .unwrap();
    let (status, _) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(status, 400);
}

async fn revoking_every_token_of_an_account_ends_its_families(srv: TestServer) {
    // What a password reset calls.
    let (rp, first) = offline(&srv).await;
    let account = srv
        .store()
        .find_account_for_login("jane")
        .await
        .unwrap()
        .unwrap();
    let ended = srv
        .store()
        .revoke_all_tokens_for_account(&account.id, srv.now())
        .await
        .unwrap();
    assert_eq!(ended, 1);
    let (status, body) = refresh(&srv, &rp, &rt(&first), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(userinfo_status(&srv, &at(&first)).await, 401);
}

async fn a_refresh_request_needs_its_token(srv: TestServer) {
    let (rp, _) = offline(&srv).await;
    let (status, body) = ts::post(
        &srv,
        "/token",
        Auth::Basic(&rp),
        &[("grant_type", "refresh_token")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    for bogus in ["nope", "pfrt_nope", "pfat_nope"] {
        let (status, body) = refresh(&srv, &rp, bogus, None).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "invalid_grant");
    }
}

async fn public_clients_refresh_with_rotation_too(srv: TestServer) {
    let rp = support::public_client(&srv).await;
    support::account(&srv, "jane").await;
    let (verifier, challenge) = support::pkce();
    let code = support::code_for(
        &srv,
        &rp,
        "jane",
        &[
            ("scope", "openid offline_access"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let (status, first) = support::exchange(&srv, &rp, &code, Some(&verifier)).await;
    assert_eq!(status, 200, "{first}");
    let first_rt = rt(&first);
    let p1 = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first_rt.as_str()),
    ];
    let (status, second) = ts::post(&srv, "/token", Auth::Public(&rp), &p1).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(rt(&first), rt(&second));
    let (status, _) = ts::post(&srv, "/token", Auth::Public(&rp), &p1).await;
    assert_eq!(status, 400, "reuse is detected for public clients");
    assert_eq!(userinfo_status(&srv, &at(&second)).await, 401);
}
