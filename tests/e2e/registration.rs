//! Dynamic client registration (RFC 7591) and client configuration management
//! (RFC 7592), as a developer's tooling uses them.

use chrono::Duration;
use pfid_store::clients::ClientStatus;
use pfid_tests::{both_backends, TestServer};
use serde_json::{json, Value};

use crate::developer_support::{developer, element_text, post_with_csrf};
use crate::support::{self, Rp};

both_backends!(
    discovery_names_the_registration_endpoint,
    registration_needs_a_valid_initial_access_token,
    registration_answers_with_the_client_information_of_rfc_7591,
    a_native_client_registers_without_a_secret,
    bad_metadata_is_refused_with_the_rfc_7591_error_codes,
    a_registered_client_waits_for_review_then_signs_a_patient_in,
    a_portal_token_registers_apps_that_show_in_the_portal,
    rfc_7592_reads_updates_and_deletes_a_client,
    rfc_7592_refuses_a_wrong_registration_access_token,
    an_update_follows_the_registration_rules_and_review,
);

async fn operator_token(srv: &TestServer) -> String {
    srv.store()
        .create_initial_access_token(None, None, srv.now())
        .await
        .unwrap()
        .1
}

async fn post_register(srv: &TestServer, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(srv.url("/register")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

fn web_metadata() -> Value {
    json!({
        "client_name": "Med Reminder",
        "redirect_uris": ["https://medreminder.example/cb"],
        "post_logout_redirect_uris": ["https://medreminder.example/bye"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid email offline_access",
        "token_endpoint_auth_method": "client_secret_basic",
        "logo_uri": "https://medreminder.example/logo.png",
        "client_uri": "https://medreminder.example/",
        "policy_uri": "https://medreminder.example/privacy",
        "tos_uri": "https://medreminder.example/terms",
        "contacts": ["dev@medreminder.example"],
        "id_token_signed_response_alg": "RS256",
        "software_id": "ignored-because-unknown"
    })
}

async fn register(srv: &TestServer, token: &str, body: &Value) -> Value {
    let resp = post_register(srv, Some(token), body).await;
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

async fn discovery_names_the_registration_endpoint(srv: TestServer) {
    let d: Value = reqwest::get(srv.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["registration_endpoint"], srv.url("/register"));
}

async fn registration_needs_a_valid_initial_access_token(srv: TestServer) {
    let none = post_register(&srv, None, &web_metadata()).await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"pfid\"");
    let wrong = post_register(&srv, Some("pfiat_not-a-token"), &web_metadata()).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));
    // An expiring operator token works until it expires.
    let (_, expiring) = srv
        .store()
        .create_initial_access_token(None, Some(srv.now() + Duration::hours(1)), srv.now())
        .await
        .unwrap();
    register(&srv, &expiring, &web_metadata()).await;
    srv.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let late = post_register(&srv, Some(&expiring), &web_metadata()).await;
    assert_eq!(late.status(), 401);
    // A registration access token is not an initial access token.
    let tok = operator_token(&srv).await;
    let info = register(&srv, &tok, &web_metadata()).await;
    let rat = info["registration_access_token"].as_str().unwrap();
    assert_eq!(
        post_register(&srv, Some(rat), &web_metadata())
            .await
            .status(),
        401
    );
    assert_eq!(srv.store().list_clients(None).await.unwrap().len(), 2);
}

async fn registration_answers_with_the_client_information_of_rfc_7591(srv: TestServer) {
    let token = operator_token(&srv).await;
    let resp = post_register(&srv, Some(&token), &web_metadata()).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let info: Value = resp.json().await.unwrap();
    let id = info["client_id"].as_str().unwrap();
    let secret = info["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43);
    assert_eq!(info["client_secret_expires_at"], 0);
    assert_eq!(info["client_id_issued_at"], srv.now().timestamp());
    assert_eq!(info["client_name"], "Med Reminder");
    assert_eq!(
        info["redirect_uris"],
        json!(["https://medreminder.example/cb"])
    );
    assert_eq!(
        info["post_logout_redirect_uris"],
        json!(["https://medreminder.example/bye"])
    );
    assert_eq!(
        info["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(info["response_types"], json!(["code"]));
    assert_eq!(info["scope"], "openid email offline_access");
    assert_eq!(info["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(info["application_type"], "web");
    assert_eq!(info["id_token_signed_response_alg"], "RS256");
    assert_eq!(info["logo_uri"], "https://medreminder.example/logo.png");
    assert_eq!(info["policy_uri"], "https://medreminder.example/privacy");
    assert_eq!(info["tos_uri"], "https://medreminder.example/terms");
    assert_eq!(info["client_uri"], "https://medreminder.example/");
    assert_eq!(info["contacts"], json!(["dev@medreminder.example"]));
    assert!(
        info.get("software_id").is_none(),
        "unknown metadata is ignored"
    );
    assert_eq!(info["pfid_status"], "review");
    assert!(info["registration_access_token"]
        .as_str()
        .unwrap()
        .starts_with("pfrat_"));
    assert_eq!(
        info["registration_client_uri"],
        srv.url(&format!("/register/{id}"))
    );
    // Stored: in review, nobody's app, the secret as a digest.
    let (client, digests) = srv
        .store()
        .client_with_secrets(id, srv.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.status, ClientStatus::Review);
    assert!(client.developer_id.is_none());
    assert_eq!(digests, vec![pfid_store::secret::digest(secret)]);
}

async fn a_native_client_registers_without_a_secret(srv: TestServer) {
    let token = operator_token(&srv).await;
    let info = register(
        &srv,
        &token,
        &json!({
            "client_name": "Pill Box",
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/callback", "com.pillbox.app:/oauth"],
        }),
    )
    .await;
    assert!(info.get("client_secret").is_none());
    assert!(info.get("client_secret_expires_at").is_none());
    assert_eq!(info["token_endpoint_auth_method"], "none");
    assert_eq!(info["application_type"], "native");
    assert_eq!(info["scope"], "openid");
    assert_eq!(info["grant_types"], json!(["authorization_code"]));
    // A single-page app is a web application without client authentication.
    let spa = register(
        &srv,
        &token,
        &json!({
            "client_name": "Browser App",
            "redirect_uris": ["https://browserapp.example/"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    assert!(spa.get("client_secret").is_none());
    let id = spa["client_id"].as_str().unwrap();
    let c = srv.store().client(id).await.unwrap().unwrap();
    assert_eq!(c.app_type.as_str(), "spa");
}

async fn bad_metadata_is_refused_with_the_rfc_7591_error_codes(srv: TestServer) {
    let token = operator_token(&srv).await;
    let base = web_metadata();
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with("redirect_uris", json!(["http://medreminder.example/cb"])),
            "invalid_redirect_uri",
            "must use https",
        ),
        (
            with("redirect_uris", json!(["https://medreminder.example/cb#x"])),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            with("redirect_uris", json!(["https://*.medreminder.example/cb"])),
            "invalid_redirect_uri",
            "wildcards",
        ),
        (
            with(
                "redirect_uris",
                json!([
                    "https://medreminder.example/cb",
                    "https://a:b@medreminder.example/cb"
                ]),
            ),
            "invalid_redirect_uri",
            "user name or password",
        ),
        (
            without("redirect_uris"),
            "invalid_redirect_uri",
            "at least one redirect URI",
        ),
        (
            with("redirect_uris", json!("https://medreminder.example/cb")),
            "invalid_redirect_uri",
            "array of strings",
        ),
        (
            with("post_logout_redirect_uris", json!(["medreminder:/bye"])),
            "invalid_redirect_uri",
            "custom URI schemes are only for native apps",
        ),
        (
            with("response_types", json!(["token"])),
            "invalid_client_metadata",
            "\"code\" only",
        ),
        (
            with("response_types", json!(["code", "id_token"])),
            "invalid_client_metadata",
            "\"code\" only",
        ),
        (
            with("grant_types", json!(["implicit"])),
            "invalid_client_metadata",
            "implicit",
        ),
        (
            with("grant_types", json!(["authorization_code"])),
            "invalid_client_metadata",
            "offline_access scope needs the refresh_token grant",
        ),
        (
            with("token_endpoint_auth_method", json!("client_secret_jwt")),
            "invalid_client_metadata",
            "Unknown token endpoint authentication method",
        ),
        (
            with("token_endpoint_auth_method", json!("private_key_jwt")),
            "invalid_client_metadata",
            "needs your public keys",
        ),
        (
            with("jwks", json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
            "invalid_client_metadata",
            "symmetric",
        ),
        (
            with("scope", json!("openid patient/*.read")),
            "invalid_client_metadata",
            "Unknown scope",
        ),
        (
            with("logo_uri", json!("http://medreminder.example/logo.png")),
            "invalid_client_metadata",
            "https",
        ),
        (
            with("id_token_signed_response_alg", json!("none")),
            "invalid_client_metadata",
            "ES256 or RS256",
        ),
        (
            with("application_type", json!("desktop")),
            "invalid_client_metadata",
            "web or native",
        ),
        (
            with("client_name", json!(42)),
            "invalid_client_metadata",
            "client_name must be a string",
        ),
        (
            without("client_name"),
            "invalid_client_metadata",
            "Enter the app's name",
        ),
        (
            with("contacts", json!(["not an email"])),
            "invalid_client_metadata",
            "not an email address",
        ),
        (
            with("userinfo_encrypted_response_alg", json!("RSA-OAEP")),
            "invalid_client_metadata",
            "does not encrypt",
        ),
        (
            with("subject_type", json!("pairwise")),
            "invalid_client_metadata",
            "public subject type",
        ),
        (
            with("software_statement", json!("eyJ.eyJ.sig")),
            "invalid_software_statement",
            "software statements",
        ),
    ];
    for (body, code, needle) in cases {
        let resp = post_register(&srv, Some(&token), &body).await;
        assert_eq!(resp.status(), 400, "{code} {needle}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"], code, "{err}");
        assert!(
            err["error_description"].as_str().unwrap().contains(needle),
            "{needle}: {err}"
        );
    }
    let raw = |ct: &'static str, body: &'static str| {
        let srv = &srv;
        let token = token.clone();
        async move {
            reqwest::Client::new()
                .post(srv.url("/register"))
                .bearer_auth(token)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    for resp in [
        raw("application/json", "{not json").await,
        raw("application/json", "[1, 2]").await,
        raw("application/x-www-form-urlencoded", "client_name=x").await,
    ] {
        assert_eq!(resp.status(), 400);
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"], "invalid_client_metadata");
    }
    assert!(srv.store().list_clients(None).await.unwrap().is_empty());
}

async fn a_registered_client_waits_for_review_then_signs_a_patient_in(srv: TestServer) {
    let token = operator_token(&srv).await;
    let info = register(&srv, &token, &web_metadata()).await;
    let rp = Rp {
        client_id: info["client_id"].as_str().unwrap().to_owned(),
        secret: Some(info["client_secret"].as_str().unwrap().to_owned()),
        redirect_uri: "https://medreminder.example/cb".into(),
    };
    support::account(&srv, "jane").await;
    let refused = pfid_tests::new_browser()
        .get(support::authorize_url(
            &srv,
            &rp,
            &[("scope", "openid email")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("App not available"));
    srv.store()
        .set_client_status(&rp.client_id, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    let code = support::code_for(&srv, &rp, "jane", &[("scope", "openid email")]).await;
    let (status, body) = support::exchange(&srv, &rp, &code, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        support::jwt_header(body["id_token"].as_str().unwrap())["alg"],
        "RS256",
        "the registered id_token_signed_response_alg is honoured"
    );
    let info: Value = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], "jane@example.com");
}

async fn a_portal_token_registers_apps_that_show_in_the_portal(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "Analytical Apps").await;
    let (status, page) =
        post_with_csrf(&srv, &dev, "/developers/tokens", &[("expires_in", "30d")]).await;
    assert_eq!(status, 200, "{page}");
    let token = element_text(&page, "initial-access-token").expect("the token is shown once");
    assert!(token.starts_with("pfiat_"));
    let home = dev
        .get(srv.url("/developers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!home.contains(&token), "the token is shown only once");
    assert!(home.contains("valid until"));
    let info = register(&srv, &token, &web_metadata()).await;
    let id = info["client_id"].as_str().unwrap();
    let home = dev
        .get(srv.url("/developers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains(&format!("/developers/apps/{id}\">Med Reminder</a>")),
        "{home}"
    );
    assert!(home.contains("In review"));
    let c = srv.store().client(id).await.unwrap().unwrap();
    let ada = srv
        .store()
        .developer_by_email("ada@apps.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.developer_id.as_deref(), Some(ada.id.as_str()));
    // Revoked in the portal, it registers nothing more.
    let tokens = srv.store().initial_access_tokens_of(&ada.id).await.unwrap();
    let (status, page) = post_with_csrf(
        &srv,
        &dev,
        &format!("/developers/tokens/{}/revoke", tokens[0].id),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("The registration token is revoked."));
    let resp = post_register(&srv, Some(&token), &web_metadata()).await;
    assert_eq!(resp.status(), 401);
    // A bad expiry choice is refused next to the field.
    let (status, page) = post_with_csrf(
        &srv,
        &dev,
        "/developers/tokens",
        &[("expires_in", "forever")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("id=\"expires_in-error\">Choose when the token expires."));
}

async fn get_config(uri: &str, rat: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(uri)
        .bearer_auth(rat)
        .send()
        .await
        .unwrap()
}

async fn put_config(uri: &str, rat: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .put(uri)
        .bearer_auth(rat)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn rfc_7592_reads_updates_and_deletes_a_client(srv: TestServer) {
    let token = operator_token(&srv).await;
    let info = register(&srv, &token, &web_metadata()).await;
    let id = info["client_id"].as_str().unwrap().to_owned();
    let secret = info["client_secret"].as_str().unwrap().to_owned();
    let uri = info["registration_client_uri"].as_str().unwrap().to_owned();
    let rat = info["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Read (§2.1): the same metadata, the token, no secret.
    let resp = get_config(&uri, &rat).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let read: Value = resp.json().await.unwrap();
    for key in [
        "client_id",
        "client_name",
        "redirect_uris",
        "grant_types",
        "scope",
        "contacts",
        "client_id_issued_at",
    ] {
        assert_eq!(read[key], info[key], "{key}");
    }
    assert_eq!(read["registration_access_token"], rat);
    assert_eq!(read["registration_client_uri"], uri);
    assert!(read.get("client_secret").is_none());

    // Update (§2.2): a full replacement; what is left out is gone.
    let mut update = web_metadata();
    update["client_id"] = json!(id);
    update["client_secret"] = json!(secret);
    update["client_name"] = json!("Med Reminder 2");
    update["redirect_uris"] = json!(["https://medreminder.example/cb2"]);
    update.as_object_mut().unwrap().remove("tos_uri");
    let resp = put_config(&uri, &rat, &update).await;
    assert_eq!(resp.status(), 200);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["client_name"], "Med Reminder 2");
    assert_eq!(
        updated["redirect_uris"],
        json!(["https://medreminder.example/cb2"])
    );
    assert!(updated.get("tos_uri").is_none());
    assert_eq!(
        updated["registration_access_token"], rat,
        "pfid keeps the token"
    );
    assert!(
        updated.get("client_secret").is_none(),
        "the secret did not change"
    );
    let c = srv.store().client(&id).await.unwrap().unwrap();
    assert_eq!(c.name, "Med Reminder 2");
    assert!(c.tos_uri.is_none());

    // Switching to private_key_jwt drops the secret; switching back issues a new one.
    let mut keys = update.clone();
    keys.as_object_mut().unwrap().remove("client_secret");
    keys["token_endpoint_auth_method"] = json!("private_key_jwt");
    keys["jwks_uri"] = json!("https://medreminder.example/jwks");
    let resp = put_config(&uri, &rat, &keys).await;
    assert_eq!(resp.status(), 200);
    assert!(srv
        .store()
        .client_secrets(&id, srv.now())
        .await
        .unwrap()
        .is_empty());
    let mut back = update.clone();
    back.as_object_mut().unwrap().remove("client_secret");
    let resp = put_config(&uri, &rat, &back).await;
    let body: Value = resp.json().await.unwrap();
    let new_secret = body["client_secret"]
        .as_str()
        .expect("a new secret is issued");
    assert_ne!(new_secret, secret);
    assert_eq!(body["client_secret_expires_at"], 0);

    // Delete (§2.3): 204, then the client and its token are gone.
    srv.store()
        .set_client_status(&id, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    support::account(&srv, "jane").await;
    let rp = Rp {
        client_id: id.clone(),
        secret: Some(new_secret.to_owned()),
        redirect_uri: "https://medreminder.example/cb2".into(),
    };
    let code = support::code_for(
        &srv,
        &rp,
        "jane",
        &[("scope", "openid email offline_access")],
    )
    .await;
    let (_, tokens) = support::exchange(&srv, &rp, &code, None).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let resp = reqwest::Client::new()
        .delete(&uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(srv.store().client(&id).await.unwrap().is_none());
    assert_eq!(get_config(&uri, &rat).await.status(), 401);
    let userinfo = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    let refresh = support::token_request(
        &srv,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(refresh.status(), 401, "the client itself is gone");
}

async fn rfc_7592_refuses_a_wrong_registration_access_token(srv: TestServer) {
    let token = operator_token(&srv).await;
    let a = register(&srv, &token, &web_metadata()).await;
    let b = register(&srv, &token, &web_metadata()).await;
    let uri_a = a["registration_client_uri"].as_str().unwrap();
    let rat_b = b["registration_access_token"].as_str().unwrap();
    let c = reqwest::Client::new();
    for resp in [
        c.get(uri_a).send().await.unwrap(),
        c.get(uri_a).bearer_auth("pfrat_wrong").send().await.unwrap(),
        c.get(uri_a).bearer_auth(rat_b).send().await.unwrap(),
        c.get(uri_a).bearer_auth(&token).send().await.unwrap(),
        c.delete(uri_a).bearer_auth(rat_b).send().await.unwrap(),
        c.put(uri_a)
            .bearer_auth(rat_b)
            .json(&json!({"client_id": a["client_id"], "client_name": "x", "redirect_uris": ["https://x.example/cb"]}))
            .send()
            .await
            .unwrap(),
        c.get(srv.url("/register/no-such-client")).bearer_auth(rat_b).send().await.unwrap(),
    ] {
        assert_eq!(resp.status(), 401);
        assert!(resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
    }
    let a_id = a["client_id"].as_str().unwrap();
    assert_eq!(
        srv.store().client(a_id).await.unwrap().unwrap().name,
        "Med Reminder"
    );
}

async fn an_update_follows_the_registration_rules_and_review(srv: TestServer) {
    let token = operator_token(&srv).await;
    let info = register(&srv, &token, &web_metadata()).await;
    let id = info["client_id"].as_str().unwrap().to_owned();
    let uri = info["registration_client_uri"].as_str().unwrap().to_owned();
    let rat = info["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = web_metadata();
    body["client_id"] = json!(id);
    let refused = |b: Value, code: &'static str, needle: &'static str| {
        let (uri, rat) = (uri.clone(), rat.clone());
        async move {
            let resp = put_config(&uri, &rat, &b).await;
            assert_eq!(resp.status(), 400, "{needle}");
            let err: Value = resp.json().await.unwrap();
            assert_eq!(err["error"], code, "{err}");
            assert!(
                err["error_description"].as_str().unwrap().contains(needle),
                "{err}"
            );
        }
    };
    let mut b = body.clone();
    b["client_id"] = json!("someone-else");
    refused(b, "invalid_client_metadata", "client_id").await;
    let mut b = body.clone();
    b["registration_access_token"] = json!(rat);
    refused(b, "invalid_client_metadata", "must not be sent").await;
    let mut b = body.clone();
    b["client_secret"] = json!("pfcs_wrong");
    refused(b, "invalid_client_metadata", "client_secret").await;
    let mut b = body.clone();
    b["redirect_uris"] = json!(["http://medreminder.example/cb"]);
    refused(b, "invalid_redirect_uri", "https").await;
    let mut b = body.clone();
    b["application_type"] = json!("native");
    b["token_endpoint_auth_method"] = json!("none");
    refused(b, "invalid_client_metadata", "type cannot change").await;
    let c = srv.store().client(&id).await.unwrap().unwrap();
    assert_eq!(c.redirect_uris, vec!["https://medreminder.example/cb"]);

    // Approved: new contacts keep it approved, a new redirect URI sends it back.
    srv.store()
        .set_client_status(&id, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    let mut b = body.clone();
    b["contacts"] = json!(["ops@medreminder.example"]);
    let resp = put_config(&uri, &rat, &b).await;
    let r: Value = resp.json().await.unwrap();
    assert_eq!(r["pfid_status"], "approved");
    assert_eq!(r["contacts"], json!(["ops@medreminder.example"]));
    let mut b = body.clone();
    b["redirect_uris"] = json!(["https://medreminder.example/cb", "https://evil.example/cb"]);
    let r: Value = put_config(&uri, &rat, &b).await.json().await.unwrap();
    assert_eq!(r["pfid_status"], "review");
    assert_eq!(
        srv.store().client(&id).await.unwrap().unwrap().status,
        ClientStatus::Review
    );
}
