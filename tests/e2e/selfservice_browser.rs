//! The seeds' self-service steps in a real headless Chromium, by the labels a patient
//! reads: sign-up from an invitation, login, forgot password (question and text code),
//! forgot username, and linking a second record. Mail and texts go to real sinks.

use pfid_tests::browser::Browser;
use pfid_tests::{both_backends_messaging, Inbox, TestServer};

use crate::selfservice::{patient_login, record, ANSWER, NEW_PASSWORD, QUESTION};
use crate::signup::invite;
use crate::support::PASSWORD;

both_backends_messaging!(
    a_patient_signs_up_from_an_invitation_then_logs_in_in_chromium,
    forgot_password_by_security_question_in_chromium,
    forgot_password_by_text_code_in_chromium,
    forgot_username_in_chromium,
    linking_a_second_record_in_chromium,
);

async fn log_in(browser: &Browser, srv: &TestServer, username: &str, password: &str) {
    browser.goto(&srv.url("/login")).await;
    browser.fill("Username", username).await;
    browser.fill("Password", password).await;
    browser.press("Log in").await;
    browser.wait_for_url(&srv.url("/account")).await;
}

async fn a_patient_signs_up_from_an_invitation_then_logs_in_in_chromium(
    srv: TestServer,
    inbox: Inbox,
) {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let p = record(&srv, "Jane", "jane@example.com").await;
    let (link, _pin) = invite(&srv, &inbox, &p.id, "jane@example.com", 1).await;
    browser.goto(&link).await;
    browser.wait_for_text("Hello Jane").await;
    browser
        .fill("Phone number from doctor's record", "555 010 2000")
        .await;
    browser.choose("Text").await;
    browser.press("Request").await;
    inbox.sms.wait_for("+15550102000").await;
    // "Troubles with the security code? Click 'send me the code via text message'."
    browser.follow("send me the code via text message").await;
    let code = inbox.sms.wait_for_nth("+15550102000", 2).await.code();
    browser
        .fill("Date of Birth (YYYY/MM/DD)", "1980/04/02")
        .await;
    browser.fill("Security code", &code).await;
    browser.press("Verify").await;
    let text = browser.wait_for_text("Create your login").await;
    assert!(text.contains("at least 8 characters"));
    browser.fill("Username", "jane.doe").await;
    browser.fill("Password", NEW_PASSWORD).await;
    browser.fill("Retype password", NEW_PASSWORD).await;
    browser.fill("Security question", QUESTION).await;
    browser.fill("Answer", ANSWER).await;
    browser.press("Create account").await;
    browser
        .wait_for_url(&srv.url("/account?done=welcome"))
        .await;
    let text = browser.text().await;
    assert!(
        text.contains("Jane Doe") && text.contains("Your login is ready"),
        "{text}"
    );
    browser.press("Log out").await;
    browser.wait_for_text("You have logged out").await;
    log_in(&browser, &srv, "jane.doe", NEW_PASSWORD).await;
    browser.wait_for_text("jane.doe").await;
    browser.close().await;
}

async fn forgot_password_by_security_question_in_chromium(srv: TestServer, inbox: Inbox) {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    patient_login(&srv, "jane", "jane@example.com").await;
    browser.goto(&srv.url("/login")).await;
    browser.follow("Forgot password?").await;
    browser.fill("Enter username", "jane").await;
    browser.press("Reset password").await;
    browser.wait_for_text("we have sent an email").await;
    let mail = inbox.mail.wait_for("jane@example.com", "Reset your").await;
    browser.goto(&mail.link_to("/reset-password/")).await;
    browser.choose("Answer your security question").await;
    browser.press("Continue").await;
    browser
        .fill("Date of Birth (YYYY/MM/DD)", "1980/04/02")
        .await;
    browser.fill(QUESTION, "rex the dog").await;
    browser.press("Submit").await;
    browser.fill("Password", NEW_PASSWORD).await;
    browser.fill("Retype password", NEW_PASSWORD).await;
    browser.press("Save new password").await;
    browser.wait_for_text("Your password was changed").await;
    browser.follow("Log in").await;
    log_in(&browser, &srv, "jane", NEW_PASSWORD).await;
    browser.close().await;
}

async fn forgot_password_by_text_code_in_chromium(srv: TestServer, inbox: Inbox) {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    patient_login(&srv, "jane", "jane@example.com").await;
    browser.goto(&srv.url("/forgot-password")).await;
    browser.fill("Enter username", "jane@example.com").await;
    browser.press("Reset password").await;
    let mail = inbox.mail.wait_for("jane@example.com", "Reset your").await;
    browser.goto(&mail.link_to("/reset-password/")).await;
    browser.choose("Request a security code via mobile").await;
    browser.press("Continue").await;
    browser
        .fill("Phone number from doctor's record", "(555) 010-2000")
        .await;
    browser.choose("Text").await;
    browser.press("Request").await;
    let code = inbox.sms.wait_for("+15550102000").await.code();
    browser.fill("Security code", &code).await;
    browser.press("Verify").await;
    browser.fill("Password", NEW_PASSWORD).await;
    browser.fill("Retype password", NEW_PASSWORD).await;
    browser.press("Save new password").await;
    browser.wait_for_text("Your password was changed").await;
    log_in(&browser, &srv, "jane", NEW_PASSWORD).await;
    browser.close().await;
}

async fn forgot_username_in_chromium(srv: TestServer, inbox: Inbox) {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    patient_login(&srv, "jane.doe", "jane@example.com").await;
    browser.goto(&srv.url("/login")).await;
    browser.follow("Forgot username?").await;
    browser.fill("Email address", "jane@example.com").await;
    browser.press("Verify identity").await;
    browser.wait_for_text("we have sent the username").await;
    let mail = inbox.mail.wait_for("jane@example.com", "username").await;
    assert!(mail.text().contains("jane.doe"));
    log_in(&browser, &srv, "jane.doe", PASSWORD).await;
    browser.close().await;
}

async fn linking_a_second_record_in_chromium(srv: TestServer, inbox: Inbox) {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    patient_login(&srv, "jane", "jane@example.com").await;
    let child = record(&srv, "Tommy", "jane@example.com").await;
    let (link, _) = invite(&srv, &inbox, &child.id, "jane@example.com", 1).await;
    browser.goto(&link).await;
    browser.wait_for_text("You already have a login").await;
    browser.follow("Log in to add this record").await;
    browser.fill("Username", "jane").await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Log in").await;
    browser.wait_for_url(&srv.url("/account/link/")).await;
    browser.wait_for_text("Tommy Doe").await;
    browser.choose("I am a parent or guardian").await;
    browser.press("Link record").await;
    browser.wait_for_url(&srv.url("/account?done=linked")).await;
    let text = browser.text().await;
    assert!(
        text.contains("Jane Doe") && text.contains("Tommy Doe"),
        "{text}"
    );
    browser.close().await;
}
