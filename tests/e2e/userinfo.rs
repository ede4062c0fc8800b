//! UserInfo: claims by scope, bearer token rules (RFC 6750).

use pfid_tests::{both_backends, TestServer};
use serde_json::Value;

use crate::support::{self, exchange};

both_backends!(
    claims_follow_the_granted_scopes,
    userinfo_answers_get_and_post,
    a_bad_token_gets_a_bearer_challenge,
    an_expired_token_is_refused,
    a_token_without_openid_is_insufficient_scope,
    a_token_sent_twice_is_invalid_request,
);

async fn token_for(srv: &TestServer, scope: &str) -> String {
    let rp = support::web_client(srv).await;
    if srv
        .store()
        .find_account_for_login("jane")
        .await
        .unwrap()
        .is_none()
    {
        support::account(srv, "jane").await;
    }
    let code = support::code_for(srv, &rp, "jane", &[("scope", scope)]).await;
    let (_, body) = exchange(srv, &rp, &code, None).await;
    body["access_token"].as_str().unwrap().to_owned()
}

async fn claims_follow_the_granted_scopes(srv: TestServer) {
    let token = token_for(&srv, "openid").await;
    let c: Value = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(c["sub"].is_string());
    assert!(c.get("email").is_none() && c.get("name").is_none());

    let token = token_for(&srv, "openid profile email phone address").await;
    let resp = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let c: Value = resp.json().await.unwrap();
    assert_eq!(c["name"], "Jane Doe");
    assert_eq!(c["given_name"], "Jane");
    assert_eq!(c["family_name"], "Doe");
    assert_eq!(c["birthdate"], "1980-04-02");
    assert_eq!(c["email"], "jane@example.com");
    assert_eq!(c["email_verified"], true);
    assert_eq!(c["phone_number"], "+15550102000");
    assert_eq!(c["phone_number_verified"], false);
    assert_eq!(c["address"]["locality"], "Springfield");
    assert_eq!(c["address"]["postal_code"], "62701");
}

async fn userinfo_answers_get_and_post(srv: TestServer) {
    let token = token_for(&srv, "openid email").await;
    let c = reqwest::Client::new();
    let get: Value = c
        .get(srv.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post: Value = c
        .post(srv.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get, post);
    let form: Value = c
        .post(srv.url("/userinfo"))
        .form(&[("access_token", &token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get, form);
}

async fn a_bad_token_gets_a_bearer_challenge(srv: TestServer) {
    let c = reqwest::Client::new();
    let resp = c
        .get(srv.url("/userinfo"))
        .bearer_auth("pfat_not-a-real-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    let resp = c.get(srv.url("/userinfo")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
}

async fn an_expired_token_is_refused(srv: TestServer) {
    let token = token_for(&srv, "openid").await;
    srv.clock.advance(chrono::Duration::seconds(3601));
    let resp = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
}

async fn a_token_without_openid_is_insufficient_scope(srv: TestServer) {
    let token = token_for(&srv, "profile").await;
    let resp = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
}

async fn a_token_sent_twice_is_invalid_request(srv: TestServer) {
    let token = token_for(&srv, "openid").await;
    let resp = reqwest::Client::new()
        .post(srv.url("/userinfo"))
        .bearer_auth(&token)
        .form(&[("access_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
