//! Client authentication: `private_key_jwt` (RFC 7523 §2.2 and §3, OpenID Connect Core
//! §9) with registered keys or a `jwks_uri`, replay protection across nodes, and the same
//! methods at every endpoint a client calls directly.

use std::sync::Arc;

use chrono::Duration;
use pfid_server::crypto::jose::SigningAlg;
use pfid_server::Application;
use pfid_store::clients::{AppType, AuthMethod};
use pfid_tests::{both_backends, TestServer};
use serde_json::{json, Value};

use crate::support::{self, Rp};
use crate::token_support::{self as ts, post, AppKey, Auth, HttpStub};

both_backends!(
    private_key_jwt_with_registered_keys_authenticates,
    the_assertion_audience_may_be_the_token_endpoint_or_the_issuer,
    keys_come_from_the_jwks_uri_and_are_cached,
    a_key_the_client_rotated_in_is_fetched_once,
    forged_assertions_are_refused,
    an_assertion_is_accepted_once,
    an_assertion_is_accepted_once_across_nodes,
    a_client_uses_only_the_method_it_registered,
    an_assertion_must_name_the_same_client_as_client_id,
    every_client_endpoint_takes_the_same_authentication,
    a_client_assertion_signs_in_a_patient,
);

const CC: [(&str, &str); 1] = [("grant_type", "client_credentials")];

async fn jwt_client(srv: &TestServer, key: &AppKey) -> Rp {
    let jwks = key.jwks().to_string();
    ts::client_with(srv, |c| {
        c.auth_method = AuthMethod::PrivateKeyJwt;
        c.jwks = Some(jwks);
        c.grant_types = vec![
            "authorization_code".into(),
            "refresh_token".into(),
            "client_credentials".into(),
        ];
        c.scopes.push("system/Patient.read".into());
    })
    .await
}

async fn uri_client(srv: &TestServer, jwks_uri: &str) -> Rp {
    let uri = jwks_uri.to_owned();
    ts::client_with(srv, |c| {
        c.app_type = AppType::Service;
        c.auth_method = AuthMethod::PrivateKeyJwt;
        c.jwks_uri = Some(uri);
        c.grant_types = vec!["client_credentials".into()];
        c.scopes = vec!["system/Patient.read".into()];
    })
    .await
}

async fn token_with(srv: &TestServer, assertion: String) -> (reqwest::StatusCode, Value) {
    post(srv, "/token", Auth::Assertion(assertion), &CC).await
}

async fn private_key_jwt_with_registered_keys_authenticates(srv: TestServer) {
    let key = AppKey::new(SigningAlg::Es256);
    let rp = jwt_client(&srv, &key).await;
    let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    let (status, body) = token_with(&srv, a).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    // With client_id sent as well (RFC 7523 §3 allows it).
    let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    let (status, body) = post(
        &srv,
        "/token",
        Auth::Assertion(a),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &rp.client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn the_assertion_audience_may_be_the_token_endpoint_or_the_issuer(srv: TestServer) {
    let key = AppKey::new(SigningAlg::Es256);
    let rp = jwt_client(&srv, &key).await;
    for aud in [
        json!(srv.base),
        json!(srv.url("/token")),
        json!(["https://elsewhere.example", srv.url("/token")]),
    ] {
        let a = key.assertion(&srv, &rp.client_id, "", |m| {
            m.insert("aud".into(), aud.clone());
        });
        let (status, body) = token_with(&srv, a).await;
        assert_eq!(status, 200, "aud {aud}: {body}");
    }
}

async fn keys_come_from_the_jwks_uri_and_are_cached(srv: TestServer) {
    let key = AppKey::new(SigningAlg::Rs256);
    let stub = HttpStub::start(&key.jwks().to_string()).await;
    let rp = uri_client(&srv, &stub.url).await;
    for _ in 0..2 {
        let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
        let (status, body) = token_with(&srv, a).await;
        assert_eq!(status, 200, "{body}");
    }
    let fetched = stub.received();
    assert_eq!(fetched.len(), 1, "the keys are cached: {fetched:?}");
    assert_eq!(fetched[0].method, "GET");
    assert_eq!(fetched[0].path, "/hook");
    // After the cache's few minutes the keys are fetched again.
    srv.clock.advance(Duration::minutes(6));
    let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    let (status, _) = token_with(&srv, a).await;
    assert_eq!(status, 200);
    assert_eq!(stub.received().len(), 2);
}

async fn a_key_the_client_rotated_in_is_fetched_once(srv: TestServer) {
    let old = AppKey::new(SigningAlg::Es256);
    let new = AppKey::new(SigningAlg::Es256);
    let stub = HttpStub::start(&old.jwks().to_string()).await;
    let rp = uri_client(&srv, &stub.url).await;
    let a = old.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    assert_eq!(token_with(&srv, a).await.0, 200);
    stub.set_body(&json!({"keys": [old.key.public_jwk, new.key.public_jwk]}).to_string());
    // Right after a fetch, an unknown key does not make pfid fetch again.
    let a = new.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    let (status, body) = token_with(&srv, a).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(stub.received().len(), 1);
    // A little later it does, once, and the new key works.
    srv.clock.advance(Duration::seconds(15));
    let a = new.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    let (status, body) = token_with(&srv, a).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stub.received().len(), 2);
    let a = new.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    assert_eq!(token_with(&srv, a).await.0, 200);
    assert_eq!(stub.received().len(), 2, "and is cached from then on");
}

async fn forged_assertions_are_refused(srv: TestServer) {
    let key = AppKey::new(SigningAlg::Es256);
    let rp = jwt_client(&srv, &key).await;
    let other = jwt_client(&srv, &AppKey::new(SigningAlg::Es256)).await;
    let stranger = AppKey::new(SigningAlg::Es256);
    let token_url = srv.url("/token");
    let now = srv.now().timestamp();
    let good = key.assertion(&srv, &rp.client_id, &token_url, |_| {});
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let mut claims = ts::assertion_claims(&srv, &rp.client_id);
        claims["exp"] = json!(now + 120);
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            claims.to_string(),
        );
        format!("{}.{}.{}", parts[0], payload, parts[2])
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "signed by another key",
            stranger.assertion(&srv, &rp.client_id, &token_url, |_| {}),
        ),
        ("tampered after signing", tampered),
        (
            "wrong aud",
            key.assertion(
                &srv,
                &rp.client_id,
                "https://elsewhere.example/token",
                |_| {},
            ),
        ),
        (
            "wrong iss",
            key.assertion(&srv, &rp.client_id, &token_url, |m| {
                m.insert("iss".into(), json!(other.client_id));
            }),
        ),
        (
            "wrong sub",
            key.assertion(&srv, &rp.client_id, &token_url, |m| {
                m.insert("sub".into(), json!(other.client_id));
            }),
        ),
        (
            "another client's name on my key",
            key.assertion(&srv, &other.client_id, &token_url, |_| {}),
        ),
        (
            "expired",
            key.assertion(&srv, &rp.client_id, &token_url, |m| {
                m.insert("iat".into(), json!(now - 200));
                m.insert("exp".into(), json!(now - 100));
            }),
        ),
        (
            "living an hour",
            key.assertion(&srv, &rp.client_id, &token_url, |m| {
                m.insert("exp".into(), json!(now + 3600));
            }),
        ),
        (
            "no exp",
            key.assertion(&srv, &rp.client_id, &token_url, |m| {
                m.remove("exp");
            }),
        ),
        (
            "no jti",
            key.assertion(&srv, &rp.client_id, &token_url, |m| {
                m.remove("jti");
            }),
        ),
        (
            "alg none",
            ts::unsigned_jwt(
                json!({"alg": "none", "typ": "JWT"}),
                ts::assertion_claims(&srv, &rp.client_id),
                b"",
            ),
        ),
        (
            "alg HS256",
            ts::unsigned_jwt(
                json!({"alg": "HS256", "typ": "JWT"}),
                ts::assertion_claims(&srv, &rp.client_id),
                b"0123456789abcdef0123456789abcdef",
            ),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    for (name, assertion) in cases {
        let (status, body) = token_with(&srv, assertion).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["error"], "invalid_client", "{name}");
    }
    // The assertion type must be RFC 7523's.
    let good = key.assertion(&srv, &rp.client_id, &token_url, |_| {});
    let (status, body) = post(
        &srv,
        "/token",
        Auth::None,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", &good),
        ],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    // None of the refused attempts used up the jti of a good assertion.
    let (status, body) = token_with(&srv, good).await;
    assert_eq!(status, 200, "{body}");
}

async fn an_assertion_is_accepted_once(srv: TestServer) {
    let key = AppKey::new(SigningAlg::Es256);
    let rp = jwt_client(&srv, &key).await;
    let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    assert_eq!(token_with(&srv, a.clone()).await.0, 200);
    let (status, body) = token_with(&srv, a).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    // A new assertion with the same jti is a replay too.
    let jti = "fixed-jti";
    let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |m| {
        m.insert("jti".into(), json!(jti));
    });
    assert_eq!(token_with(&srv, a).await.0, 200);
    let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |m| {
        m.insert("jti".into(), json!(jti));
        m.insert("exp".into(), json!(srv.now().timestamp() + 90));
    });
    assert_eq!(token_with(&srv, a).await.0, 401);
}

async fn an_assertion_is_accepted_once_across_nodes(srv: TestServer) {
    let key = AppKey::new(SigningAlg::Es256);
    let rp = jwt_client(&srv, &key).await;
    // A second pfid process on the same database, behind the same issuer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let settings =
        pfid_tests::test_settings(&srv.db, port, &[("PFID__SERVER__ISSUER", srv.base.clone())]);
    let node2 = Application::build_on(settings, Arc::new(srv.clock.clone()), listener)
        .await
        .unwrap();
    let handle = node2.handle();
    tokio::spawn(node2.run_until_stopped());
    let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    assert_eq!(token_with(&srv, a.clone()).await.0, 200);
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ts::JWT_BEARER),
            ("client_assertion", &a),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "the other node refuses the replay");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    handle.stop(false).await;
}

async fn a_client_uses_only_the_method_it_registered(srv: TestServer) {
    let key = AppKey::new(SigningAlg::Es256);
    let jwt = jwt_client(&srv, &key).await;
    // A private_key_jwt client cannot fall back to a secret or to nothing.
    let (status, _) = post(&srv, "/token", Auth::Public(&jwt), &CC).await;
    assert_eq!(status, 401);
    // A secret client cannot present an assertion, even a well-formed one.
    let secret_client = ts::client_with(&srv, |c| {
        c.grant_types = vec!["client_credentials".into()];
    })
    .await;
    let a = key.assertion(&srv, &secret_client.client_id, &srv.url("/token"), |_| {});
    let (status, body) = token_with(&srv, a).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    // Basic and post are distinct methods.
    let (status, _) = post(&srv, "/token", Auth::Post(&secret_client), &CC).await;
    assert_eq!(status, 401);
    let (status, body) = post(&srv, "/token", Auth::Basic(&secret_client), &CC).await;
    assert_eq!(status, 200, "{body}");
    let post_client = ts::client_with(&srv, |c| {
        c.auth_method = AuthMethod::ClientSecretPost;
        c.grant_types = vec!["client_credentials".into()];
    })
    .await;
    let (status, _) = post(&srv, "/token", Auth::Basic(&post_client), &CC).await;
    assert_eq!(status, 401);
    let (status, body) = post(&srv, "/token", Auth::Post(&post_client), &CC).await;
    assert_eq!(status, 200, "{body}");
}

async fn an_assertion_must_name_the_same_client_as_client_id(srv: TestServer) {
    let key = AppKey::new(SigningAlg::Es256);
    let rp = jwt_client(&srv, &key).await;
    let other = jwt_client(&srv, &key).await;
    let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    let (status, body) = post(
        &srv,
        "/token",
        Auth::Assertion(a),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &other.client_id),
        ],
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
}

async fn every_client_endpoint_takes_the_same_authentication(srv: TestServer) {
    let key = AppKey::new(SigningAlg::Es256);
    let jwt = jwt_client(&srv, &key).await;
    let basic = support::web_client(&srv).await;
    let posted = ts::client_with(&srv, |c| c.auth_method = AuthMethod::ClientSecretPost).await;
    let public = support::public_client(&srv).await;
    let (_, challenge) = support::pkce();
    for (path, extra) in [
        ("/revoke", vec![("token", "pfat_unknown")]),
        ("/introspect", vec![("token", "pfat_unknown")]),
        (
            "/par",
            vec![
                ("response_type", "code"),
                ("redirect_uri", support::REDIRECT),
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        ),
    ] {
        let ok = |s: reqwest::StatusCode| s == 200 || s == 201;
        // private_key_jwt, with the endpoint's own URL as audience (RFC 9126 §2).
        let a = key.assertion(&srv, &jwt.client_id, &srv.url(path), |_| {});
        let (status, body) = post(&srv, path, Auth::Assertion(a), &extra).await;
        assert!(ok(status), "{path} with an assertion: {status} {body}");
        let (status, body) = post(&srv, path, Auth::Basic(&basic), &extra).await;
        assert!(ok(status), "{path} with Basic: {status} {body}");
        let (status, body) = post(&srv, path, Auth::Post(&posted), &extra).await;
        assert!(
            ok(status),
            "{path} with client_secret_post: {status} {body}"
        );
        // Each refuses a client that does not authenticate as it registered.
        let (status, body) = post(&srv, path, Auth::Public(&basic), &extra).await;
        assert_eq!(status, 401, "{path}: {body}");
        let (status, body) = post(&srv, path, Auth::None, &extra).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"], "invalid_client");
        // Public clients revoke and push; they cannot introspect.
        let (status, body) = post(&srv, path, Auth::Public(&public), &extra).await;
        if path == "/introspect" {
            assert_eq!(status, 401, "{body}");
        } else {
            assert!(ok(status), "{path} as a public client: {status} {body}");
        }
    }
}

async fn a_client_assertion_signs_in_a_patient(srv: TestServer) {
    let key = AppKey::new(SigningAlg::Es256);
    let rp = jwt_client(&srv, &key).await;
    support::account(&srv, "jane").await;
    let code = support::code_for(&srv, &rp, "jane", &[("scope", "openid offline_access")]).await;
    let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    let (status, body) = post(
        &srv,
        "/token",
        Auth::Assertion(a),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", support::REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let a = key.assertion(&srv, &rp.client_id, &srv.url("/token"), |_| {});
    let (status, body) = post(
        &srv,
        "/token",
        Auth::Assertion(a),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
