//! Revocation (RFC 7009) and introspection (RFC 7662). Introspection is driven by a
//! standard client library; so would revocation be, but the `oauth2` crate refuses to
//! revoke over plain http (RFC 7009 §5 wants TLS) and the test server speaks http, so
//! revocation requests are made by hand, as the RFC spells them.

use chrono::Duration;
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessToken, ClientId, ClientSecret, IntrospectionUrl, IssuerUrl, TokenIntrospectionResponse,
};
use pfid_tests::{both_backends, TestServer};
use serde_json::Value;

use crate::support::{self, Rp};
use crate::token_support::{introspect, post, refresh, sign_in, userinfo_status, Auth};

both_backends!(
    revoking_a_refresh_token_ends_its_family_at_once,
    revoking_an_access_token_leaves_the_refresh_token,
    revoking_an_unknown_or_revoked_token_answers_200,
    a_client_cannot_revoke_another_clients_token,
    the_token_type_hint_is_only_a_hint,
    revocation_needs_a_token_and_a_client,
    introspection_describes_an_active_access_token,
    introspection_describes_an_active_refresh_token,
    another_clients_token_introspects_as_inactive,
    expired_revoked_and_unknown_tokens_are_inactive,
    introspection_needs_an_authenticated_client,
);

async fn offline(srv: &TestServer) -> (Rp, Value) {
    let rp = support::web_client(srv).await;
    support::account(srv, "jane").await;
    let body = sign_in(srv, &rp, "jane", "openid profile offline_access").await;
    (rp, body)
}

fn s<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name].as_str().unwrap()
}

fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A standard OAuth client for `rp` that takes the introspection endpoint from discovery.
macro_rules! library_client {
    ($srv:expr, $rp:expr, $http:expr) => {{
        let doc: Value = reqwest::get($srv.url("/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new($srv.base.clone()).unwrap(), $http)
                .await
                .unwrap();
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new($rp.client_id.clone()),
            Some(ClientSecret::new($rp.secret.clone().unwrap())),
        )
        .set_introspection_url(
            IntrospectionUrl::new(s(&doc, "introspection_endpoint").to_owned()).unwrap(),
        )
    }};
}

async fn revoking_a_refresh_token_ends_its_family_at_once(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let (_, second) = refresh(&srv, &rp, s(&first, "refresh_token"), None).await;
    let (status, _) = post(
        &srv,
        "/revoke",
        Auth::Basic(&rp),
        &[
            ("token", s(&second, "refresh_token")),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = refresh(&srv, &rp, s(&second, "refresh_token"), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    // RFC 7009 §2.1: the access tokens of the same grant go too.
    for t in [&first, &second] {
        assert_eq!(userinfo_status(&srv, s(t, "access_token")).await, 401);
    }
    let http = http();
    let client = library_client!(srv, rp, &http);
    let info = client
        .introspect(&AccessToken::new(s(&second, "access_token").to_owned()))
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(!info.active());
}

async fn revoking_an_access_token_leaves_the_refresh_token(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let (status, _) = post(
        &srv,
        "/revoke",
        Auth::Basic(&rp),
        &[
            ("token", s(&first, "access_token")),
            ("token_type_hint", "access_token"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(userinfo_status(&srv, s(&first, "access_token")).await, 401);
    let (status, body) = refresh(&srv, &rp, s(&first, "refresh_token"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(userinfo_status(&srv, s(&body, "access_token")).await, 200);
}

async fn revoking_an_unknown_or_revoked_token_answers_200(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    for token in [
        "nonsense",
        "pfat_unknownunknownunknownunknownunknownunkno",
        "pfrt_unknownunknownunknownunknownunknownunkno",
        s(&first, "access_token"),
        s(&first, "access_token"),
    ] {
        let (status, body) = post(&srv, "/revoke", Auth::Basic(&rp), &[("token", token)]).await;
        assert_eq!(status, 200, "{token}: {body}");
    }
}

async fn a_client_cannot_revoke_another_clients_token(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let other = support::web_client(&srv).await;
    for name in ["access_token", "refresh_token"] {
        let (status, body) = post(
            &srv,
            "/revoke",
            Auth::Basic(&other),
            &[("token", s(&first, name))],
        )
        .await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body["error"], "invalid_grant");
    }
    assert_eq!(userinfo_status(&srv, s(&first, "access_token")).await, 200);
    assert_eq!(
        introspect(&srv, &rp, s(&first, "refresh_token")).await["active"],
        true
    );
}

async fn the_token_type_hint_is_only_a_hint(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    // A wrong hint: the refresh token is found and revoked anyway (§2.1).
    let (status, _) = post(
        &srv,
        "/revoke",
        Auth::Basic(&rp),
        &[
            ("token", s(&first, "refresh_token")),
            ("token_type_hint", "access_token"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        introspect(&srv, &rp, s(&first, "refresh_token")).await["active"],
        false
    );
    // An unknown hint is ignored too.
    support::account(&srv, "john").await;
    let second = sign_in(&srv, &rp, "john", "openid offline_access").await;
    let (status, _) = post(
        &srv,
        "/revoke",
        Auth::Basic(&rp),
        &[
            ("token", s(&second, "access_token")),
            ("token_type_hint", "id_token"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(userinfo_status(&srv, s(&second, "access_token")).await, 401);
}

async fn revocation_needs_a_token_and_a_client(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let (status, body) = post(&srv, "/revoke", Auth::Basic(&rp), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    let (status, body) = post(
        &srv,
        "/revoke",
        Auth::None,
        &[("token", s(&first, "access_token"))],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    let wrong = Rp {
        secret: Some("pfcs_wrong".into()),
        ..rp.clone()
    };
    let (status, _) = post(
        &srv,
        "/revoke",
        Auth::Basic(&wrong),
        &[("token", s(&first, "access_token"))],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(userinfo_status(&srv, s(&first, "access_token")).await, 200);
}

async fn introspection_describes_an_active_access_token(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let account = srv
        .store()
        .find_account_for_login("jane")
        .await
        .unwrap()
        .unwrap();
    let http = http();
    let client = library_client!(srv, rp, &http);
    let info = client
        .introspect(&AccessToken::new(s(&first, "access_token").to_owned()))
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(info.active());
    assert_eq!(
        info.client_id().map(|c| c.as_str()),
        Some(rp.client_id.as_str())
    );
    assert_eq!(info.username(), Some("jane"));
    assert_eq!(info.sub(), Some(account.id.as_str()));
    assert_eq!(info.iss(), Some(srv.base.as_str()));
    let raw = introspect(&srv, &rp, s(&first, "access_token")).await;
    assert_eq!(raw["active"], true);
    assert_eq!(raw["scope"], "openid profile offline_access");
    assert_eq!(raw["token_type"], "Bearer");
    assert_eq!(raw["aud"], rp.client_id);
    let now = srv.now().timestamp();
    assert!((raw["iat"].as_i64().unwrap() - now).abs() <= 1);
    assert!((raw["exp"].as_i64().unwrap() - (now + 3600)).abs() <= 1);
}

async fn introspection_describes_an_active_refresh_token(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let raw = introspect(&srv, &rp, s(&first, "refresh_token")).await;
    assert_eq!(raw["active"], true);
    assert_eq!(raw["client_id"], rp.client_id);
    assert_eq!(raw["scope"], "openid profile offline_access");
    assert_eq!(raw["username"], "jane");
    assert!(
        raw.get("token_type").is_none(),
        "a refresh token is no bearer token"
    );
    let idle_end = (srv.now() + Duration::days(30)).timestamp();
    assert!(
        (raw["exp"].as_i64().unwrap() - idle_end).abs() <= 1,
        "{raw}"
    );
}

async fn another_clients_token_introspects_as_inactive(srv: TestServer) {
    let (_, first) = offline(&srv).await;
    let other = support::web_client(&srv).await;
    for name in ["access_token", "refresh_token"] {
        let raw = introspect(&srv, &other, s(&first, name)).await;
        assert_eq!(raw, serde_json::json!({"active": false}), "{name}");
    }
}

async fn expired_revoked_and_unknown_tokens_are_inactive(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let inactive = serde_json::json!({"active": false});
    assert_eq!(introspect(&srv, &rp, "pfat_nothing").await, inactive);
    assert_eq!(introspect(&srv, &rp, "garbage").await, inactive);
    let (status, _) = post(
        &srv,
        "/revoke",
        Auth::Basic(&rp),
        &[("token", s(&first, "access_token"))],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        introspect(&srv, &rp, s(&first, "access_token")).await,
        inactive
    );
    let (_, second) = refresh(&srv, &rp, s(&first, "refresh_token"), None).await;
    assert_eq!(
        introspect(&srv, &rp, s(&second, "access_token")).await["active"],
        true
    );
    srv.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert_eq!(
        introspect(&srv, &rp, s(&second, "access_token")).await,
        inactive
    );
    assert_eq!(
        introspect(&srv, &rp, s(&second, "refresh_token")).await["active"],
        true
    );
}

async fn introspection_needs_an_authenticated_client(srv: TestServer) {
    let (rp, first) = offline(&srv).await;
    let (status, body) = post(
        &srv,
        "/introspect",
        Auth::None,
        &[("token", s(&first, "access_token"))],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    let public = support::public_client(&srv).await;
    let (status, body) = post(
        &srv,
        "/introspect",
        Auth::Public(&public),
        &[("token", s(&first, "access_token"))],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    let (status, body) = post(&srv, "/introspect", Auth::Basic(&rp), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
}
