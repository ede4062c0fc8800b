//! Discovery and JWKS.

use pfid_tests::{both_backends, TestServer};
use serde_json::Value;

both_backends!(
    discovery_lists_what_pfid_supports,
    every_listed_endpoint_exists,
    jwks_publishes_both_algorithms
);

async fn discovery_lists_what_pfid_supports(srv: TestServer) {
    let resp = reqwest::get(srv.url("/.well-known/openid-configuration"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let d: Value = resp.json().await.unwrap();
    assert_eq!(d["issuer"], srv.base);
    assert_eq!(d["authorization_endpoint"], srv.url("/authorize"));
    assert_eq!(d["token_endpoint"], srv.url("/token"));
    assert_eq!(d["userinfo_endpoint"], srv.url("/userinfo"));
    assert_eq!(d["jwks_uri"], srv.url("/jwks"));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert_eq!(d["subject_types_supported"], serde_json::json!(["public"]));
    let algs = d["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&"ES256".into()) && algs.contains(&"RS256".into()));
    for scope in [
        "openid",
        "profile",
        "email",
        "phone",
        "address",
        "offline_access",
    ] {
        assert!(
            d["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&scope.into()),
            "{scope}"
        );
    }
    let modes = d["response_modes_supported"].as_array().unwrap();
    assert!(modes.contains(&"query".into()) && modes.contains(&"form_post".into()));
    assert!(!modes.contains(&"fragment".into()));
}

async fn every_listed_endpoint_exists(srv: TestServer) {
    let d: Value = reqwest::get(srv.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (key, value) in d.as_object().unwrap() {
        if !key.ends_with("_endpoint") && key != "jwks_uri" {
            continue;
        }
        let url = value.as_str().unwrap();
        let status = c.get(url).send().await.unwrap().status();
        let post_status = c.post(url).send().await.unwrap().status();
        assert!(
            status != 404 || post_status != 404,
            "{key} {url} is listed but not served"
        );
    }
}

async fn jwks_publishes_both_algorithms(srv: TestServer) {
    let resp = reqwest::get(srv.url("/jwks")).await.unwrap();
    assert!(resp.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let jwks: Value = resp.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let alg = |a: &str| {
        keys.iter()
            .find(|k| k["alg"] == a)
            .unwrap_or_else(|| panic!("no {a} key"))
    };
    let es = alg("ES256");
    assert_eq!(es["kty"], "EC");
    assert_eq!(es["crv"], "P-256");
    let rs = alg("RS256");
    assert_eq!(rs["kty"], "RSA");
    for k in keys {
        assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(k["use"], "sig");
        assert!(k.get("d").is_none(), "a private key part is published");
    }
}
