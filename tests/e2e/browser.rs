//! The sign-in pages in a real headless Chromium, driven by the labels a patient reads.

use pfid_tests::browser::Browser;
use pfid_tests::{both_backends, query_param, Callback, TestServer};

use crate::support::{self, ClientOptions, PASSWORD};

both_backends!(a_patient_signs_in_and_allows_an_app_in_chromium);

async fn a_patient_signs_in_and_allows_an_app_in_chromium(srv: TestServer) {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let callback = Callback::start().await;
    let rp = support::client(
        &srv,
        ClientOptions {
            redirect_uris: vec![callback.url.clone()],
            ..ClientOptions::default()
        },
    )
    .await;
    support::account(&srv, "jane").await;

    browser.goto(&support::authorize_url(&srv, &rp, &[])).await;
    let text = browser.text().await;
    assert!(text.contains("Forgot password?") && text.contains("Forgot username?"));
    browser.fill("Username", "jane").await;
    browser.fill("Password", "Not-The-Password-9").await;
    browser.press("Log in").await;
    assert!(browser.text().await.contains("Incorrect email or password"));

    browser.fill("Username", "jane").await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Log in").await;
    let consent = browser.text().await;
    assert!(consent.contains("Health Tracker"), "{consent}");
    assert!(consent.contains("See your email address"));
    browser.press("Allow").await;

    let landed = browser.wait_for_url(&callback.url).await;
    assert!(query_param(&landed, "code").is_some(), "{landed}");
    assert_eq!(query_param(&landed, "state").as_deref(), Some("st-123"));
    assert!(browser.text().await.contains("Callback received"));
    browser.close().await;
}
