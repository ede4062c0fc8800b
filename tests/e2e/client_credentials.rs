//! The client_credentials grant (RFC 6749 §4.4): back-end services get tokens of their
//! own, with no patient, no refresh token and no ID token.

use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, Scope};
use pfid_store::clients::{AppType, AuthMethod};
use pfid_tests::{both_backends, TestServer};

use crate::support::{self, Rp};
use crate::token_support::{self as ts, introspect, userinfo_status, Auth};

both_backends!(
    a_standard_client_gets_a_service_token,
    a_service_token_carries_the_requested_scopes_it_may_have,
    without_a_scope_parameter_every_registered_scope_applies,
    a_service_registered_for_no_usable_scope_gets_a_scopeless_token,
    asking_only_for_scopes_the_client_may_not_have_is_invalid_scope,
    a_client_without_the_grant_is_unauthorized_client,
    public_clients_cannot_use_client_credentials,
    a_service_token_is_not_a_patients_token,
    credentials_are_checked_before_what_the_client_asks_for,
);

async fn service(srv: &TestServer, scopes: &[&str]) -> Rp {
    ts::client_with(srv, |c| {
        c.app_type = AppType::Service;
        c.redirect_uris = vec![];
        c.grant_types = vec!["client_credentials".into()];
        c.scopes = scopes.iter().map(|s| s.to_string()).collect();
    })
    .await
}

async fn a_standard_client_gets_a_service_token(srv: TestServer) {
    let rp = service(&srv, &["system/Patient.read", "system/Observation.read"]).await;
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
    let tokens = client
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("system/Patient.read".into()))
        .request_async(&http)
        .await
        .expect("client credentials");
    assert!(tokens.refresh_token().is_none());
    assert_eq!(
        tokens
            .scopes()
            .map(|s| s.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>()),
        Some(vec!["system/Patient.read".to_owned()])
    );
    let info = introspect(&srv, &rp, tokens.access_token().secret()).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], rp.client_id);
    assert_eq!(
        info["sub"], rp.client_id,
        "the service itself is the subject"
    );
    assert!(info.get("username").is_none());
}

async fn a_service_token_carries_the_requested_scopes_it_may_have(srv: TestServer) {
    let rp = service(
        &srv,
        &["openid", "offline_access", "system/Patient.read", "email"],
    )
    .await;
    let (status, body) = ts::post(
        &srv,
        "/token",
        Auth::Basic(&rp),
        &[
            ("grant_type", "client_credentials"),
            (
                "scope",
                "openid offline_access system/Patient.read system/Other.write",
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "system/Patient.read");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("id_token").is_none());
}

async fn without_a_scope_parameter_every_registered_scope_applies(srv: TestServer) {
    let rp = service(&srv, &["openid", "system/Patient.read", "email"]).await;
    let (status, body) = ts::post(
        &srv,
        "/token",
        Auth::Basic(&rp),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "system/Patient.read email");
}

async fn a_service_registered_for_no_usable_scope_gets_a_scopeless_token(srv: TestServer) {
    let rp = service(&srv, &["openid", "offline_access"]).await;
    let (status, body) = ts::post(
        &srv,
        "/token",
        Auth::Basic(&rp),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("scope").is_none(), "{body}");
    let info = introspect(&srv, &rp, body["access_token"].as_str().unwrap()).await;
    assert_eq!(info["active"], true);
    assert!(info.get("scope").is_none());
}

async fn asking_only_for_scopes_the_client_may_not_have_is_invalid_scope(srv: TestServer) {
    let rp = service(&srv, &["openid", "system/Patient.read"]).await;
    for scope in [
        "openid",
        "offline_access",
        "system/Other.write",
        "bad\"scope",
    ] {
        let (status, body) = ts::post(
            &srv,
            "/token",
            Auth::Basic(&rp),
            &[("grant_type", "client_credentials"), ("scope", scope)],
        )
        .await;
        assert_eq!(status, 400, "{scope}: {body}");
        assert_eq!(body["error"], "invalid_scope");
    }
}

async fn a_client_without_the_grant_is_unauthorized_client(srv: TestServer) {
    let rp = support::web_client(&srv).await;
    let (status, body) = ts::post(
        &srv,
        "/token",
        Auth::Basic(&rp),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unauthorized_client");
}

async fn public_clients_cannot_use_client_credentials(srv: TestServer) {
    let rp = ts::client_with(&srv, |c| {
        c.app_type = AppType::Native;
        c.auth_method = AuthMethod::None;
        c.grant_types = vec!["client_credentials".into()];
    })
    .await;
    let (status, body) = ts::post(
        &srv,
        "/token",
        Auth::Public(&rp),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unauthorized_client");
}

async fn a_service_token_is_not_a_patients_token(srv: TestServer) {
    let rp = service(&srv, &["openid", "email"]).await;
    let (_, body) = ts::post(
        &srv,
        "/token",
        Auth::Basic(&rp),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        userinfo_status(&srv, body["access_token"].as_str().unwrap()).await,
        401,
        "no patient stands behind a service token"
    );
}

/// RFC 6749 §5.2: a client whose credentials fail hears `invalid_client` (401, with a
/// Basic challenge when it used Basic), whatever else is wrong with its request, and
/// learns nothing about the grant or scopes it asked for.
async fn credentials_are_checked_before_what_the_client_asks_for(srv: TestServer) {
    let rp = service(&srv, &["system/Patient.read"]).await;
    let mut wrong_secret = rp.clone();
    wrong_secret.secret = Some("not-the-secret".into());
    let mut unknown = rp.clone();
    unknown.client_id = "no-such-client".into();
    for (who, caller) in [
        ("wrong secret", &wrong_secret),
        ("unknown client", &unknown),
    ] {
        for scope in ["system/Patient.read", "openid", "bad\"scope"] {
            let resp = reqwest::Client::new()
                .post(srv.url("/token"))
                .basic_auth(&caller.client_id, caller.secret.as_ref())
                .form(&[("grant_type", "client_credentials"), ("scope", scope)])
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 401, "{who}, scope {scope}");
            assert!(
                resp.headers().contains_key("www-authenticate"),
                "{who}, scope {scope}"
            );
            let body: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client", "{who}, scope {scope}");
        }
    }
    // The method it did not register (client_secret_post for a Basic client).
    let (status, body) = ts::post(
        &srv,
        "/token",
        Auth::Post(&rp),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "bad\"scope"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    // With the right credentials the same malformed scope is the error.
    let (status, body) = ts::post(
        &srv,
        "/token",
        Auth::Basic(&rp),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "bad\"scope"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
}
