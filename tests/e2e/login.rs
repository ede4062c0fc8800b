//! The login page: labels, one message for every failure, throttling, sessions.

use pfid_tests::{both_backends, location, new_browser, Backend, Form, TestServer};

use crate::support::{self, submit_login, PASSWORD};

both_backends!(
    the_login_page_reads_as_the_seeds_say,
    every_failure_reads_the_same,
    username_or_email_signs_in,
    a_login_without_its_csrf_token_is_refused,
    the_session_cookie_is_http_only_and_lax,
    repeated_failures_pause_the_login_name,
    repeated_failures_pause_the_address,
    a_signed_in_patient_sees_the_account_page,
    log_out_ends_the_session,
    deactivated_accounts_cannot_sign_in,
    an_open_redirect_through_return_to_is_impossible,
);

async fn login_page(srv: &TestServer, browser: &reqwest::Client) -> String {
    browser
        .get(srv.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn the_login_page_reads_as_the_seeds_say(srv: TestServer) {
    let page = login_page(&srv, &new_browser()).await;
    for label in [
        ">Username<",
        ">Password<",
        ">Log in<",
        ">Forgot password?<",
        ">Forgot username?<",
    ] {
        assert!(page.contains(label), "missing {label}");
    }
    // The links sit under the password field.
    assert!(page.find(">Password<").unwrap() < page.find(">Forgot password?<").unwrap());
}

async fn every_failure_reads_the_same(srv: TestServer) {
    support::account(&srv, "jane").await;
    let browser = new_browser();
    for (user, pw) in [
        ("jane", "Wrong-Password-1"),
        ("nobody", PASSWORD),
        ("", ""),
        ("jane", ""),
    ] {
        let page = login_page(&srv, &browser).await;
        let resp = submit_login(&srv, &browser, &page, user, pw).await;
        assert_eq!(resp.status(), 200, "{user}");
        assert!(resp
            .headers()
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().contains("pfid_session=")));
        let body = resp.text().await.unwrap();
        assert!(
            body.contains("Incorrect email or password"),
            "{user}: {body}"
        );
    }
}

async fn username_or_email_signs_in(srv: TestServer) {
    support::account(&srv, "jane").await;
    for login in ["jane", "JANE", "jane@example.com", " Jane@Example.com "] {
        let browser = new_browser();
        let page = login_page(&srv, &browser).await;
        let resp = submit_login(&srv, &browser, &page, login, PASSWORD).await;
        assert_eq!(resp.status(), 303, "{login}");
        assert_eq!(location(&resp), "/account");
    }
}

async fn a_login_without_its_csrf_token_is_refused(srv: TestServer) {
    support::account(&srv, "jane").await;
    let browser = new_browser();
    let page = login_page(&srv, &browser).await;
    let resp = Form::find(&page, "/login")
        .set("username", "jane")
        .set("password", PASSWORD)
        .set("csrf_token", "forged")
        .submit(&browser, &srv.base)
        .await;
    assert_eq!(resp.status(), 400);
    // A browser that never loaded the page (no CSRF cookie) fares no better.
    let resp = new_browser()
        .post(srv.url("/login"))
        .form(&[
            ("username", "jane"),
            ("password", PASSWORD),
            (
                "csrf_token",
                Form::find(&page, "/login").get("csrf_token").unwrap(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

async fn the_session_cookie_is_http_only_and_lax(srv: TestServer) {
    support::account(&srv, "jane").await;
    let browser = new_browser();
    let page = login_page(&srv, &browser).await;
    let resp = submit_login(&srv, &browser, &page, "jane", PASSWORD).await;
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("pfid_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "http issuer: not Secure");
    let sessions = srv
        .store()
        .events_of_account(
            &srv.store()
                .find_account_for_login("jane")
                .await
                .unwrap()
                .unwrap()
                .id,
            10,
        )
        .await
        .unwrap();
    assert!(sessions.iter().any(|e| e.event.kind == "login"));
}

async fn repeated_failures_pause_the_login_name(srv: TestServer) {
    support::account(&srv, "jane").await;
    let browser = new_browser();
    for _ in 0..5 {
        let page = login_page(&srv, &browser).await;
        submit_login(&srv, &browser, &page, "jane", "Wrong-Password-1").await;
    }
    let page = login_page(&srv, &browser).await;
    let resp = submit_login(&srv, &browser, &page, "jane", PASSWORD).await;
    assert_eq!(resp.status(), 429);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Too many failed attempts"));
    // The same answer for a name that has no account: throttling reveals nothing.
    for _ in 0..5 {
        let page = login_page(&srv, &browser).await;
        submit_login(&srv, &browser, &page, "nobody-here", "Wrong-Password-1").await;
    }
    let page = login_page(&srv, &browser).await;
    assert_eq!(
        submit_login(&srv, &browser, &page, "nobody-here", PASSWORD)
            .await
            .status(),
        429
    );
    // The pause ends with the window.
    srv.clock.advance(chrono::Duration::minutes(16));
    let page = login_page(&srv, &browser).await;
    assert_eq!(
        submit_login(&srv, &browser, &page, "jane", PASSWORD)
            .await
            .status(),
        303
    );
}

async fn repeated_failures_pause_the_address(srv: TestServer) {
    support::account(&srv, "jane").await;
    let browser = new_browser();
    for i in 0..20 {
        let page = login_page(&srv, &browser).await;
        submit_login(
            &srv,
            &browser,
            &page,
            &format!("user{i}"),
            "Wrong-Password-1",
        )
        .await;
    }
    let page = login_page(&srv, &browser).await;
    assert_eq!(
        submit_login(&srv, &browser, &page, "jane", PASSWORD)
            .await
            .status(),
        429
    );
}

async fn a_signed_in_patient_sees_the_account_page(srv: TestServer) {
    let account = support::account(&srv, "jane").await;
    let browser = new_browser();
    let resp = browser.get(srv.url("/account")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with("/login"));
    let page = login_page(&srv, &browser).await;
    submit_login(&srv, &browser, &page, "jane", PASSWORD).await;
    let page = browser
        .get(srv.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Jane Doe"), "the linked record by name");
    assert!(page.contains(&account.email));
    assert!(page.contains(">Log out<"));
}

async fn log_out_ends_the_session(srv: TestServer) {
    support::account(&srv, "jane").await;
    let browser = new_browser();
    let page = login_page(&srv, &browser).await;
    submit_login(&srv, &browser, &page, "jane", PASSWORD).await;
    let page = browser
        .get(srv.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = Form::find(&page, "/logout")
        .submit_with(&browser, &srv.base, "Log out")
        .await;
    assert_eq!(resp.status(), 200);
    let resp = browser.get(srv.url("/account")).send().await.unwrap();
    assert_eq!(resp.status(), 303, "signed out");
}

async fn deactivated_accounts_cannot_sign_in(srv: TestServer) {
    let account = support::account(&srv, "jane").await;
    srv.store()
        .deactivate_account(&account.id, srv.now())
        .await
        .unwrap();
    let browser = new_browser();
    let page = login_page(&srv, &browser).await;
    let resp = submit_login(&srv, &browser, &page, "jane", PASSWORD).await;
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Incorrect email or password"));
}

async fn an_open_redirect_through_return_to_is_impossible(srv: TestServer) {
    support::account(&srv, "jane").await;
    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
    ] {
        let browser = new_browser();
        let page = login_page(&srv, &browser).await;
        let resp = Form::find(&page, "/login")
            .set("username", "jane")
            .set("password", PASSWORD)
            .set("return_to", evil)
            .submit_with(&browser, &srv.base, "Log in")
            .await;
        assert_eq!(location(&resp), "/account", "{evil}");
    }
}

/// The OWASP argon2id parameters (the default) work end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_password_hashing_parameters_sign_in() {
    let srv = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("PFID__PASSWORDS__ARGON2_MEMORY_KIB", "19456".into()),
            ("PFID__PASSWORDS__ARGON2_ITERATIONS", "2".into()),
        ],
    )
    .await
    .unwrap();
    let account = support::account(&srv, "jane").await;
    let stored = srv
        .store()
        .account(&account.id)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    let browser = new_browser();
    let page = login_page(&srv, &browser).await;
    assert_eq!(
        submit_login(&srv, &browser, &page, "jane", PASSWORD)
            .await
            .status(),
        303
    );
}

/// With an https issuer the session cookie is Secure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_issuer_makes_cookies_secure() {
    let srv = TestServer::start_with(
        Backend::Sqlite,
        &[("PFID__SERVER__ISSUER", "https://login.example".into())],
    )
    .await
    .unwrap();
    let resp = new_browser().get(srv.url("/login")).send().await.unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(resp.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .contains("max-age"));
}
