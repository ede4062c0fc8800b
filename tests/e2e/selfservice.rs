//! Patient self-service over HTTP, with the server's mail delivered over SMTP to a real
//! listener and its texts posted to a real gateway sink: forgot password (both ways),
//! forgot username, sign-up from an invitation, linking a family record, and the
//! account page's forms. Every link a test follows is read out of a received message.

use pfid_server::selfservice;
use pfid_store::accounts::{Account, NewAccount};
use pfid_store::patients::{Address, NewPatient, Patient};
use pfid_tests::{both_backends_messaging, location, Form, Inbox, TestServer};
use reqwest::StatusCode;

use crate::support::{self, PASSWORD};

pub const QUESTION: &str = "What was the name of your first pet?";
pub const ANSWER: &str = "Rex the Dog";
pub const NEW_PASSWORD: &str = "Blue-Harbor-73";

/// A record as an office keeps it: born 1980-04-02, phone 555-010-2000.
pub async fn record(srv: &TestServer, first: &str, email: &str) -> Patient {
    srv.store()
        .create_patient(
            NewPatient {
                external_id: None,
                first_name: first.into(),
                last_name: "Doe".into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1980, 4, 2).unwrap(),
                email: Some(email.into()),
                phone: Some("555-010-2000".into()),
                address: Address::default(),
            },
            srv.now(),
        )
        .await
        .unwrap()
}

/// An active login with its own record, password `PASSWORD`, and a security question.
pub async fn patient_login(srv: &TestServer, username: &str, email: &str) -> Account {
    let p = record(srv, "Jane", email).await;
    let hasher = srv.state.passwords.clone();
    let answer = pfid_store::PasswordHasher::normalize_answer(ANSWER);
    srv.store()
        .create_account(
            NewAccount {
                username: username.into(),
                email: email.into(),
                email_verified: true,
                phone: None,
                password_hash: hasher.hash(PASSWORD).unwrap(),
                security_question: Some(QUESTION.into()),
                security_answer_hash: Some(hasher.hash(&answer).unwrap()),
                own_patient: Some(p.id),
                linked_patients: vec![],
            },
            srv.now(),
        )
        .await
        .unwrap()
}

pub async fn get_page(
    srv: &TestServer,
    browser: &reqwest::Client,
    url: &str,
) -> (StatusCode, String) {
    let url = if url.starts_with('/') {
        srv.url(url)
    } else {
        url.to_owned()
    };
    let resp = browser.get(url).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

pub async fn submit(
    srv: &TestServer,
    browser: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
    button: &str,
) -> reqwest::Response {
    let mut form = Form::find(page, action);
    for (k, v) in fields {
        form = form.set(k, v);
    }
    form.submit_with(browser, &srv.base, button).await
}

/// Signs in through the portal's own login page; returns the browser.
pub async fn signed_in(srv: &TestServer, login: &str, password: &str) -> reqwest::Client {
    let browser = pfid_tests::new_browser();
    let (_, page) = get_page(srv, &browser, "/login").await;
    let resp = support::submit_login(srv, &browser, &page, login, password).await;
    assert_eq!(resp.status(), 303, "login as {login} failed");
    browser
}

/// Whether a password signs `login` in.
pub async fn can_log_in(srv: &TestServer, login: &str, password: &str) -> bool {
    let browser = pfid_tests::new_browser();
    let (_, page) = get_page(srv, &browser, "/login").await;
    support::submit_login(srv, &browser, &page, login, password)
        .await
        .status()
        == 303
}

/// Asks for a reset of `username` and returns the n-th reset link mailed to `email`.
pub async fn reset_link(
    srv: &TestServer,
    inbox: &Inbox,
    username: &str,
    email: &str,
    n: usize,
) -> String {
    let browser = pfid_tests::new_browser();
    let (_, page) = get_page(srv, &browser, "/forgot-password").await;
    let resp = submit(
        srv,
        &browser,
        &page,
        "/forgot-password",
        &[("username", username)],
        "Reset password",
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("we have sent an email"));
    let mail = inbox.mail.wait_for_nth(email, "Reset your", n).await;
    mail.link_to("/reset-password/")
}

/// The page's text with the per-browser CSRF token taken out, to compare answers.
fn without_csrf(html: &str) -> String {
    html.lines()
        .filter(|l| !l.contains("csrf_token"))
        .collect::<Vec<_>>()
        .join("\n")
}

both_backends_messaging!(
    forgot_password_by_security_question_resets_and_ends_every_session_and_token,
    forgot_password_by_text_code_resets_the_password,
    a_voice_code_is_spoken_digit_by_digit_and_works,
    forgot_password_answers_the_same_whether_or_not_the_username_exists,
    a_reset_link_works_once_and_a_newer_link_replaces_it,
    a_reset_link_expires_after_an_hour,
    a_wrong_code_five_times_kills_the_code,
    wrong_answers_five_times_kill_the_reset_link,
    a_reset_refuses_weak_common_and_mismatched_passwords,
    the_phone_must_be_the_one_on_the_patients_own_record,
    self_service_forms_refuse_a_missing_csrf_token,
    forgot_username_mails_the_username_and_answers_the_same_for_unknown_addresses,
    forgot_password_requests_are_throttled_per_username,
    a_legacy_reset_link_goes_straight_to_a_new_password_and_activates_the_login,
);

async fn forgot_password_by_security_question_resets_and_ends_every_session_and_token(
    srv: TestServer,
    inbox: Inbox,
) {
    let account = patient_login(&srv, "jane", "jane@example.com").await;
    let rp = support::web_client(&srv).await;
    let code = support::code_for(
        &srv,
        &rp,
        "jane",
        &[("scope", "openid email offline_access")],
    )
    .await;
    let (_, tokens) = support::exchange(&srv, &rp, &code, None).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let session = signed_in(&srv, "jane", PASSWORD).await;
    assert_eq!(get_page(&srv, &session, "/account").await.0, 200);

    let link = reset_link(&srv, &inbox, "jane", "jane@example.com", 1).await;
    let mail = inbox.mail.wait_for("jane@example.com", "Reset your").await;
    assert!(mail.html().unwrap().contains(">Reset password</a>"));
    assert!(
        link.starts_with(&srv.base),
        "links are built from server.issuer: {link}"
    );

    let browser = pfid_tests::new_browser();
    let (status, page) = get_page(&srv, &browser, &link).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Answer your security question")
            && page.contains("Request a security code via mobile")
    );
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/continue"),
        &[("method", "question")],
        "Continue",
    )
    .await;
    let page = resp.text().await.unwrap();
    assert!(page.contains("Date of Birth (YYYY/MM/DD)"));
    assert!(
        page.contains(&format!("<label for=\"answer\">{QUESTION}</label>")),
        "{page}"
    );
    // The answer is compared ignoring case and surrounding space.
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/question"),
        &[("birth_date", "1980/04/02"), ("answer", "  rex THE dog ")],
        "Submit",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Retype password") && page.contains("at least 8 characters"));
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/password"),
        &[("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)],
        "Save new password",
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Your password was changed"));

    let notice = inbox
        .mail
        .wait_for("jane@example.com", "password was changed")
        .await;
    assert!(notice.text().contains("signed out everywhere"));
    // Every session ended, and every token the login granted.
    let (status, _) = {
        let r = session.get(srv.url("/account")).send().await.unwrap();
        (r.status(), location(&r))
    };
    assert_eq!(status, 303);
    let userinfo = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    assert_eq!(support_db::live_token_families(&srv, &account.id), 0);
    assert!(can_log_in(&srv, "jane", NEW_PASSWORD).await);
    assert!(!can_log_in(&srv, "jane", PASSWORD).await);
    // The stored hash is argon2id.
    let stored = srv.store().account(&account.id).await.unwrap().unwrap();
    assert!(stored.password_hash.unwrap().starts_with("$argon2id$"));
}

/// Walks the mobile path up to the code page; returns (browser, reset path, code page).
pub async fn mobile_path(
    srv: &TestServer,
    link: &str,
    phone: &str,
    channel: &str,
) -> (reqwest::Client, String, String) {
    let browser = pfid_tests::new_browser();
    let path = url::Url::parse(link).unwrap().path().to_owned();
    let (_, page) = get_page(srv, &browser, link).await;
    let resp = submit(
        srv,
        &browser,
        &page,
        &format!("{path}/continue"),
        &[("method", "mobile")],
        "Continue",
    )
    .await;
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("Phone number from doctor&#39;s record")
            || page.contains("Phone number from doctor's record"),
        "{page}"
    );
    let resp = submit(
        srv,
        &browser,
        &page,
        &format!("{path}/request-code"),
        &[("phone", phone), ("channel", channel)],
        "Request",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Security code") && page.contains("send me the code via text message"));
    (browser, path, page)
}

async fn forgot_password_by_text_code_resets_the_password(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let link = reset_link(&srv, &inbox, "jane", "jane@example.com", 1).await;
    let (browser, path, page) = mobile_path(&srv, &link, "+1 (555) 010-2000", "text").await;
    let sms = inbox.sms.wait_for("+15550102000").await;
    assert_eq!(sms.channel, "text");
    assert_eq!(
        sms.authorization.as_deref(),
        Some("Bearer test-gateway-token")
    );
    assert!(sms.message.contains("Patient Fusion"));
    let code = sms.code();
    assert_eq!(code.len(), 6);
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/code"),
        &[("code", &code)],
        "Verify",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/password"),
        &[("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)],
        "Save new password",
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(can_log_in(&srv, "jane@example.com", NEW_PASSWORD).await);
}

async fn a_voice_code_is_spoken_digit_by_digit_and_works(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let link = reset_link(&srv, &inbox, "jane", "jane@example.com", 1).await;
    let (browser, path, page) = mobile_path(&srv, &link, "555.010.2000", "voice").await;
    let call = inbox.sms.wait_for("+15550102000").await;
    assert_eq!(call.channel, "voice");
    let code = call.code();
    let spelled = code
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(", ");
    assert!(call.message.contains(&spelled), "{}", call.message);
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/code"),
        &[("code", &code)],
        "Verify",
    )
    .await;
    assert!(resp.text().await.unwrap().contains("Retype password"));
    // The resend link sends a new code by text; the earlier one stops working.
    let resend = {
        let (_, fresh) = get_page(&srv, &browser, &link).await;
        fresh
    };
    assert!(
        resend.contains("Retype password"),
        "a verified flow goes straight to the password"
    );
}

async fn forgot_password_answers_the_same_whether_or_not_the_username_exists(
    srv: TestServer,
    inbox: Inbox,
) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let browser = pfid_tests::new_browser();
    let mut answers = Vec::new();
    for username in ["jane", "nobody-here", "jane"] {
        let (_, page) = get_page(&srv, &browser, "/forgot-password").await;
        let resp = submit(
            &srv,
            &browser,
            &page,
            "/forgot-password",
            &[("username", username)],
            "Reset password",
        )
        .await;
        answers.push((resp.status(), without_csrf(&resp.text().await.unwrap())));
    }
    assert_eq!(
        answers[0], answers[1],
        "known and unknown usernames get the same page"
    );
    assert_eq!(answers[0], answers[2]);
    inbox
        .mail
        .wait_for_nth("jane@example.com", "Reset your", 2)
        .await;
    assert!(inbox
        .mail
        .mails()
        .iter()
        .all(|m| m.to == vec!["jane@example.com".to_owned()]));
}

async fn a_reset_link_works_once_and_a_newer_link_replaces_it(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let first = reset_link(&srv, &inbox, "jane", "jane@example.com", 1).await;
    let second = reset_link(&srv, &inbox, "jane", "jane@example.com", 2).await;
    assert_ne!(first, second);
    let browser = pfid_tests::new_browser();
    let (status, page) = get_page(&srv, &browser, &first).await;
    assert_eq!(status, 410, "the older link was replaced");
    assert!(page.contains("does not work") && page.contains("/forgot-password"));

    let (browser, path, page) = mobile_path(&srv, &second, "555-010-2000", "text").await;
    let code = inbox.sms.wait_for("+15550102000").await.code();
    let page = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/code"),
        &[("code", &code)],
        "Verify",
    )
    .await
    .text()
    .await
    .unwrap();
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/password"),
        &[("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)],
        "Save new password",
    )
    .await;
    assert_eq!(resp.status(), 200);
    // Used once: the same link, and a replay of the last form, no longer work.
    let (status, page) = get_page(&srv, &browser, &second).await;
    assert_eq!(status, 410);
    assert!(page.contains("already used"));
    let replay = browser
        .post(srv.url(&format!("{path}/password")))
        .form(&[
            ("password", "Other-Pass-99"),
            ("password2", "Other-Pass-99"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 410);
    assert!(can_log_in(&srv, "jane", NEW_PASSWORD).await);
}

async fn a_reset_link_expires_after_an_hour(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let link = reset_link(&srv, &inbox, "jane", "jane@example.com", 1).await;
    srv.clock.advance(chrono::Duration::minutes(59));
    assert_eq!(
        get_page(&srv, &pfid_tests::new_browser(), &link).await.0,
        200
    );
    srv.clock.advance(chrono::Duration::minutes(2));
    let (status, page) = get_page(&srv, &pfid_tests::new_browser(), &link).await;
    assert_eq!(status, 410);
    assert!(page.contains("expired"));
}

async fn a_wrong_code_five_times_kills_the_code(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let link = reset_link(&srv, &inbox, "jane", "jane@example.com", 1).await;
    let (browser, path, mut page) = mobile_path(&srv, &link, "555-010-2000", "text").await;
    let code = inbox.sms.wait_for("+15550102000").await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for tries_left in (0..5).rev() {
        let resp = submit(
            &srv,
            &browser,
            &page,
            &format!("{path}/code"),
            &[("code", wrong)],
            "Verify",
        )
        .await;
        assert_eq!(resp.status(), 400);
        page = resp.text().await.unwrap();
        if tries_left > 0 {
            assert!(
                page.contains(&format!("try {tries_left} more time")),
                "{page}"
            );
        } else {
            assert!(page.contains("no longer works"), "{page}");
        }
    }
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/code"),
        &[("code", &code)],
        "Verify",
    )
    .await;
    assert_eq!(
        resp.status(),
        400,
        "the right code no longer works after five wrong tries"
    );
    assert!(resp.text().await.unwrap().contains("no longer works"));
    // A new code, sent by the resend link, works again.
    let resend = format!(
        "{path}/resend?csrf_token={}",
        Form::find(&page, &format!("{path}/code"))
            .get("csrf_token")
            .unwrap()
    );
    let (status, page) = get_page(&srv, &browser, &resend).await;
    assert_eq!(status, 200);
    let fresh = inbox.sms.wait_for_nth("+15550102000", 2).await;
    assert_eq!(fresh.channel, "text");
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/code"),
        &[("code", &fresh.code())],
        "Verify",
    )
    .await;
    assert!(resp.text().await.unwrap().contains("Retype password"));
}

async fn wrong_answers_five_times_kill_the_reset_link(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let link = reset_link(&srv, &inbox, "jane", "jane@example.com", 1).await;
    let browser = pfid_tests::new_browser();
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    let (_, page) = get_page(&srv, &browser, &link).await;
    let mut page = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/continue"),
        &[("method", "question")],
        "Continue",
    )
    .await
    .text()
    .await
    .unwrap();
    // A right answer with a wrong birth date is still wrong, and says nothing of which.
    for i in 0..5 {
        let resp = submit(
            &srv,
            &browser,
            &page,
            &format!("{path}/question"),
            &[("birth_date", "1981/04/02"), ("answer", ANSWER)],
            "Submit",
        )
        .await;
        let status = resp.status();
        page = resp.text().await.unwrap();
        if i < 4 {
            assert_eq!(status, 400);
            assert!(page.contains("The date of birth or the answer is not correct"));
        } else {
            assert_eq!(status, 410, "the fifth wrong answer ends the link");
        }
    }
    assert_eq!(get_page(&srv, &browser, &link).await.0, 410);
}

async fn a_reset_refuses_weak_common_and_mismatched_passwords(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let link = reset_link(&srv, &inbox, "jane", "jane@example.com", 1).await;
    let (browser, path, page) = mobile_path(&srv, &link, "555-010-2000", "text").await;
    let code = inbox.sms.wait_for("+15550102000").await.code();
    let mut page = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/code"),
        &[("code", &code)],
        "Verify",
    )
    .await
    .text()
    .await
    .unwrap();
    // The rule is on the page before anything is typed.
    assert!(page.contains(pfid_store::password::RULE_TEXT));
    for (pw, retyped, says) in [
        ("password", "password", "an upper-case letter"),
        ("Short1", "Short1", "at least 8 characters"),
        ("Password1", "Password1", "most used passwords"),
        ("Abcdefg1", "Abcdefg1", "most used passwords"),
        (NEW_PASSWORD, "Blue-Harbor-74", "not the same"),
    ] {
        let resp = submit(
            &srv,
            &browser,
            &page,
            &format!("{path}/password"),
            &[("password", pw), ("password2", retyped)],
            "Save new password",
        )
        .await;
        assert_eq!(resp.status(), 400, "{pw}");
        page = resp.text().await.unwrap();
        assert!(page.contains(says), "{pw}: {page}");
    }
    assert!(can_log_in(&srv, "jane", PASSWORD).await, "nothing changed");
}

async fn the_phone_must_be_the_one_on_the_patients_own_record(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let link = reset_link(&srv, &inbox, "jane", "jane@example.com", 1).await;
    // Another number gets the same answer on screen, and nothing is sent anywhere.
    let (browser, path, page) = mobile_path(&srv, &link, "555-010-9999", "text").await;
    assert!(page.contains("If this number matches the one on your record"));
    let resend = format!(
        "{path}/resend?csrf_token={}",
        Form::find(&page, &format!("{path}/code"))
            .get("csrf_token")
            .unwrap()
    );
    assert_eq!(get_page(&srv, &browser, &resend).await.0, 200);
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/code"),
        &[("code", "123456")],
        "Verify",
    )
    .await;
    assert_eq!(resp.status(), 400);
    // The right number works in the same flow.
    let (_, _, _) = mobile_path(&srv, &link, "555-010-2000", "text").await;
    inbox.sms.wait_for("+15550102000").await;
    assert!(inbox.sms.messages().iter().all(|m| m.to == "+15550102000"));
    assert_eq!(inbox.sms.messages().len(), 1);
}

async fn self_service_forms_refuse_a_missing_csrf_token(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let browser = pfid_tests::new_browser();
    get_page(&srv, &browser, "/forgot-password").await;
    for (path, fields) in [
        ("/forgot-password", vec![("username", "jane")]),
        ("/forgot-username", vec![("email", "jane@example.com")]),
    ] {
        let resp = browser
            .post(srv.url(path))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{path}");
        assert!(resp.text().await.unwrap().contains("This page expired"));
    }
    let link = reset_link(&srv, &inbox, "jane", "jane@example.com", 1).await;
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    let resp = browser
        .post(srv.url(&format!("{path}/question")))
        .form(&[("birth_date", "1980/04/02"), ("answer", ANSWER)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = browser
        .get(srv.url(&format!("{path}/resend")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "the resend link needs its token too");
    // Signed in, the account forms refuse a missing token and change nothing.
    let session = signed_in(&srv, "jane", PASSWORD).await;
    for (path, fields) in [
        ("/account/username", vec![("username", "janet")]),
        (
            "/account/password",
            vec![
                ("current_password", PASSWORD),
                ("password", NEW_PASSWORD),
                ("password2", NEW_PASSWORD),
            ],
        ),
        ("/account/deactivate", vec![("current_password", PASSWORD)]),
        (
            "/account/contact",
            vec![("email", "other@example.com"), ("phone", "")],
        ),
    ] {
        let resp = session
            .post(srv.url(path))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{path}");
    }
    assert!(can_log_in(&srv, "jane", PASSWORD).await);
    assert_eq!(inbox.mail.mails_to("other@example.com").len(), 0);
}

async fn forgot_username_mails_the_username_and_answers_the_same_for_unknown_addresses(
    srv: TestServer,
    inbox: Inbox,
) {
    patient_login(&srv, "jane.doe", "jane@example.com").await;
    let browser = pfid_tests::new_browser();
    let mut answers = Vec::new();
    for email in ["Jane@Example.com", "nobody@example.com"] {
        let (_, page) = get_page(&srv, &browser, "/forgot-username").await;
        assert!(page.contains("<label for=\"email\">Email address</label>"));
        let resp = submit(
            &srv,
            &browser,
            &page,
            "/forgot-username",
            &[("email", email)],
            "Verify identity",
        )
        .await;
        answers.push((resp.status(), without_csrf(&resp.text().await.unwrap())));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 200);
    let mail = inbox.mail.wait_for("jane@example.com", "username").await;
    assert!(mail.text().contains("jane.doe"));
    assert!(mail.html().unwrap().contains("jane.doe"));
    assert_eq!(inbox.mail.mails_to("nobody@example.com").len(), 0);
}

async fn forgot_password_requests_are_throttled_per_username(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let browser = pfid_tests::new_browser();
    let mut last = StatusCode::OK;
    for _ in 0..6 {
        let (_, page) = get_page(&srv, &browser, "/forgot-password").await;
        last = submit(
            &srv,
            &browser,
            &page,
            "/forgot-password",
            &[("username", "JANE")],
            "Reset password",
        )
        .await
        .status();
    }
    assert_eq!(last, 429, "the sixth request within the hour is refused");
    inbox
        .mail
        .wait_for_nth("jane@example.com", "Reset your", 5)
        .await;
    // An unknown username is throttled alike, so the throttle reveals nothing.
    let mut unknown = StatusCode::OK;
    for _ in 0..6 {
        let (_, page) = get_page(&srv, &browser, "/forgot-password").await;
        unknown = submit(
            &srv,
            &browser,
            &page,
            "/forgot-password",
            &[("username", "ghost")],
            "Reset password",
        )
        .await
        .status();
    }
    assert_eq!(unknown, 429);
    srv.clock.advance(chrono::Duration::minutes(61));
    let (_, page) = get_page(&srv, &browser, "/forgot-password").await;
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/forgot-password",
        &[("username", "jane")],
        "Reset password",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let _ = selfservice::MAX_ATTEMPTS;
}

async fn a_legacy_reset_link_goes_straight_to_a_new_password_and_activates_the_login(
    srv: TestServer,
    inbox: Inbox,
) {
    let account = patient_login(&srv, "jane", "jane@example.com").await;
    // A legacy login as the migration leaves it: its old hash, awaiting the reset.
    support_db::execute(
        &srv,
        &format!(
            "UPDATE accounts SET status = 'must_reset', legacy_password_hash = password_hash, \
             password_hash = NULL WHERE id = '{}'",
            account.id
        ),
    );
    let legacy = srv.store().account(&account.id).await.unwrap().unwrap();
    srv.state
        .send_reset_link(&legacy, selfservice::ResetKind::LegacyUpgrade)
        .await
        .unwrap();
    let link = inbox
        .mail
        .wait_for("jane@example.com", "Reset your")
        .await
        .link_to("/reset-password/");
    let browser = pfid_tests::new_browser();
    let (status, page) = get_page(&srv, &browser, &link).await;
    assert_eq!(status, 200);
    assert!(page.contains("Retype password"), "no identity step: {page}");
    assert!(!page.contains("Answer your security question"));
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/password"),
        &[("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)],
        "Save new password",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let after = srv.store().account(&account.id).await.unwrap().unwrap();
    assert_eq!(after.status, pfid_store::accounts::AccountStatus::Active);
    assert!(after.legacy_password_hash.is_none());
    assert!(after.password_hash.unwrap().starts_with("$argon2id$"));
    assert!(can_log_in(&srv, "jane", NEW_PASSWORD).await);
    inbox
        .mail
        .wait_for("jane@example.com", "password was changed")
        .await;
    // A forgot-password link (not a legacy one) still asks who you are first.
    let link = reset_link(&srv, &inbox, "jane", "jane@example.com", 2).await;
    let (_, page) = get_page(&srv, &pfid_tests::new_browser(), &link).await;
    assert!(page.contains("Answer your security question"));
}

/// Direct looks at the database for what HTTP cannot show (token families).
pub mod support_db {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    use pfid_tests::{Backend, TestServer};

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// Runs one statement (fixtures the store has no function for, such as a legacy
    /// login, which the migration crate creates).
    pub fn execute(srv: &TestServer, sql: &str) {
        match srv.backend {
            Backend::Sqlite => {
                let path = srv.db.url.trim_start_matches("sqlite://").to_owned();
                let mut c = diesel::SqliteConnection::establish(&path).unwrap();
                diesel::sql_query(sql).execute(&mut c).unwrap();
            }
            Backend::Postgres => {
                let mut c = diesel::PgConnection::establish(&srv.db.url).unwrap();
                diesel::sql_query(sql).execute(&mut c).unwrap();
            }
        }
    }

    /// Token families of an account not yet revoked.
    pub fn live_token_families(srv: &TestServer, account_id: &str) -> i64 {
        count(
            srv,
            &format!(
                "SELECT COUNT(*) AS n FROM token_families WHERE account_id = '{account_id}' AND revoked_at IS NULL"
            ),
        )
    }

    /// Runs a `SELECT COUNT(*) AS n ...` query.
    pub fn count(srv: &TestServer, sql: &str) -> i64 {
        match srv.backend {
            Backend::Sqlite => {
                let path = srv.db.url.trim_start_matches("sqlite://").to_owned();
                let mut c = diesel::SqliteConnection::establish(&path).unwrap();
                diesel::sql_query(sql)
                    .get_result::<Count>(&mut c)
                    .unwrap()
                    .n
            }
            Backend::Postgres => {
                let mut c = diesel::PgConnection::establish(&srv.db.url).unwrap();
                diesel::sql_query(sql)
                    .get_result::<Count>(&mut c)
                    .unwrap()
                    .n
            }
        }
    }
}
