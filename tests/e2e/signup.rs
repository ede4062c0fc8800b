//! Invitations and sign-up, linking family records to one login, revoking access, and
//! the account page's settings, over HTTP with mail and texts delivered to real sinks.

use pfid_server::selfservice;
use pfid_tests::{both_backends_messaging, location, Form, Inbox, TestServer};

use crate::selfservice::{
    can_log_in, get_page, patient_login, record, signed_in, submit, NEW_PASSWORD,
};
use crate::support::{self, PASSWORD};

/// The office invites the holder of `patient` (as `pfid invite create` does); returns
/// the link read from the email and the PIN.
pub async fn invite(
    srv: &TestServer,
    inbox: &Inbox,
    patient_id: &str,
    email: &str,
    nth: usize,
) -> (String, String) {
    let created = selfservice::create_invitation(
        srv.store(),
        &srv.state.settings,
        &srv.state.codes,
        patient_id,
        None,
        srv.now(),
    )
    .await
    .unwrap();
    srv.state.outbox_wakeup.wake();
    let mail = inbox.mail.wait_for_nth(email, "invited", nth).await;
    let link = mail.link_to("/signup/");
    assert_eq!(link, created.url);
    (link, created.pin)
}

/// Identity by date of birth and PIN; returns the account form page.
pub async fn verify_with_pin(
    srv: &TestServer,
    browser: &reqwest::Client,
    link: &str,
    pin: &str,
) -> String {
    let path = url::Url::parse(link).unwrap().path().to_owned();
    let (status, page) = get_page(srv, browser, link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Date of Birth (YYYY/MM/DD)") && page.contains(">PIN</label>"));
    let resp = submit(
        srv,
        browser,
        &page,
        &format!("{path}/verify"),
        &[("birth_date", "1980/04/02"), ("pin", pin)],
        "Verify",
    )
    .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let (status, page) = get_page(srv, browser, &srv.url(&location(&resp))).await;
    assert_eq!(status, 200);
    page
}

pub async fn create_account(
    srv: &TestServer,
    browser: &reqwest::Client,
    link: &str,
    page: &str,
    username: Option<&str>,
) -> reqwest::Response {
    let path = url::Url::parse(link).unwrap().path().to_owned();
    let mut fields = vec![
        ("password", NEW_PASSWORD),
        ("password2", NEW_PASSWORD),
        ("question", "In what city were you born?"),
        ("answer", "Springfield"),
    ];
    if let Some(u) = username {
        fields.push(("username", u));
    }
    submit(
        srv,
        browser,
        page,
        &format!("{path}/create"),
        &fields,
        "Create account",
    )
    .await
}

both_backends_messaging!(
    an_invited_patient_signs_up_with_date_of_birth_and_pin,
    an_invited_patient_signs_up_with_a_text_code_and_can_resend_it,
    wrong_answers_lock_an_invitation,
    expired_used_and_revoked_invitations_say_so,
    an_invitation_to_an_email_with_a_login_links_the_record_after_login,
    revoking_a_record_ends_its_access_and_its_invitations,
    the_account_page_changes_password_username_and_preferences,
    a_new_email_is_confirmed_by_a_link_and_stays_unique,
    removing_an_app_ends_its_tokens_at_once,
    deactivating_signs_out_everywhere_and_keeps_the_records,
);

async fn an_invited_patient_signs_up_with_date_of_birth_and_pin(srv: TestServer, inbox: Inbox) {
    let p = record(&srv, "Jane", "jane@example.com").await;
    let (link, pin) = invite(&srv, &inbox, &p.id, "jane@example.com", 1).await;
    let mail = inbox.mail.wait_for("jane@example.com", "invited").await;
    assert!(mail.text().contains("Hello Jane"));
    assert!(mail.html().unwrap().contains(&format!("href=\"{link}\"")));

    let browser = pfid_tests::new_browser();
    let page = verify_with_pin(&srv, &browser, &link, &pin).await;
    // The email is the suggested username; the rule shows before anything is typed.
    assert_eq!(
        Form::find(
            &page,
            &format!("{}/create", url::Url::parse(&link).unwrap().path())
        )
        .get("username"),
        Some("jane@example.com")
    );
    assert!(page.contains(pfid_store::password::RULE_TEXT));
    for label in [
        "Username",
        "Password",
        "Retype password",
        "Security question",
        "Answer",
    ] {
        assert!(page.contains(&format!("\">{label}</label>")), "{label}");
    }
    // A weak password is refused and nothing is created.
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/create"),
        &[
            ("password", "weakpass"),
            ("password2", "weakpass"),
            ("question", "Q?"),
            ("answer", "A"),
        ],
        "Create account",
    )
    .await;
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    assert!(page.contains("an upper-case letter"));
    let resp = create_account(&srv, &browser, &link, &page, Some("jane@example.com")).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/account?done=welcome");
    let (_, account_page) = get_page(&srv, &browser, "/account?done=welcome").await;
    assert!(account_page.contains("Jane Doe") && account_page.contains("Your login is ready"));
    assert!(can_log_in(&srv, "jane@example.com", NEW_PASSWORD).await);
    // The answer is stored hashed and compared ignoring case and space.
    let account = srv
        .store()
        .find_account_for_login("jane@example.com")
        .await
        .unwrap()
        .unwrap();
    let stored = account.security_answer_hash.unwrap();
    assert!(stored.starts_with("$argon2id$"));
    assert!(srv.state.passwords.verify(
        &stored,
        &pfid_store::PasswordHasher::normalize_answer("  SPRINGFIELD ")
    ));
    // The link is used up.
    let (status, page) = get_page(&srv, &pfid_tests::new_browser(), &link).await;
    assert_eq!(status, 410);
    assert!(page.contains("already been used") && page.contains("ask your healthcare provider"));
}

async fn an_invited_patient_signs_up_with_a_text_code_and_can_resend_it(
    srv: TestServer,
    inbox: Inbox,
) {
    let p = record(&srv, "Jane", "jane@example.com").await;
    let (link, _) = invite(&srv, &inbox, &p.id, "jane@example.com", 1).await;
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    let browser = pfid_tests::new_browser();
    let (_, page) = get_page(&srv, &browser, &link).await;
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/request-code"),
        &[("phone", "(555) 010-2000"), ("channel", "voice")],
        "Request",
    )
    .await;
    let page = resp.text().await.unwrap();
    assert!(page.contains("Security code") && page.contains("send me the code via text message"));
    let first = inbox.sms.wait_for("+15550102000").await;
    assert_eq!(first.channel, "voice");
    // "send me the code via text message": a new code by text; the first one dies.
    let resend = format!(
        "{path}/resend?csrf_token={}",
        Form::find(&page, &format!("{path}/verify"))
            .get("csrf_token")
            .unwrap()
    );
    let (status, page) = get_page(&srv, &browser, &resend).await;
    assert_eq!(status, 200);
    let second = inbox.sms.wait_for_nth("+15550102000", 2).await;
    assert_eq!(second.channel, "text");
    if first.code() != second.code() {
        let resp = submit(
            &srv,
            &browser,
            &page,
            &format!("{path}/verify"),
            &[("birth_date", "1980/04/02"), ("code", &first.code())],
            "Verify",
        )
        .await;
        assert_eq!(resp.status(), 400, "the replaced code no longer works");
    }
    let (_, page) = get_page(&srv, &browser, &resend).await;
    let third = inbox.sms.wait_for_nth("+15550102000", 3).await;
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/verify"),
        &[("birth_date", "1980-04-02"), ("code", &third.code())],
        "Verify",
    )
    .await;
    assert_eq!(resp.status(), 303);
    let (_, page) = get_page(&srv, &browser, &link).await;
    let resp = create_account(&srv, &browser, &link, &page, Some("janedoe")).await;
    assert_eq!(resp.status(), 303);
    assert!(can_log_in(&srv, "janedoe", NEW_PASSWORD).await);
    // Resending is limited: five sends per hour for one invitation.
    let p2 = record(&srv, "Jim", "jim@example.com").await;
    let (link2, _) = invite(&srv, &inbox, &p2.id, "jim@example.com", 1).await;
    let path2 = url::Url::parse(&link2).unwrap().path().to_owned();
    let b2 = pfid_tests::new_browser();
    let mut last = reqwest::StatusCode::OK;
    for _ in 0..6 {
        let (_, page) = get_page(&srv, &b2, &link2).await;
        last = submit(
            &srv,
            &b2,
            &page,
            &format!("{path2}/request-code"),
            &[("phone", "555-010-2000"), ("channel", "text")],
            "Request",
        )
        .await
        .status();
    }
    assert_eq!(last, 429);
}

async fn wrong_answers_lock_an_invitation(srv: TestServer, inbox: Inbox) {
    let p = record(&srv, "Jane", "jane@example.com").await;
    let (link, pin) = invite(&srv, &inbox, &p.id, "jane@example.com", 1).await;
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    let browser = pfid_tests::new_browser();
    let (_, mut page) = get_page(&srv, &browser, &link).await;
    for i in 0..5 {
        let resp = submit(
            &srv,
            &browser,
            &page,
            &format!("{path}/verify"),
            &[("birth_date", "1980/04/02"), ("pin", "000000x")],
            "Verify",
        )
        .await;
        let status = resp.status();
        page = resp.text().await.unwrap();
        assert_eq!(status, if i < 4 { 400 } else { 429 }, "{page}");
    }
    assert!(page.contains("ask your healthcare provider for a new invitation"));
    // Even the right answers no longer open this invitation.
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/verify"),
        &[("birth_date", "1980/04/02"), ("pin", &pin)],
        "Verify",
    )
    .await;
    assert_eq!(resp.status(), 429);
}

async fn expired_used_and_revoked_invitations_say_so(srv: TestServer, inbox: Inbox) {
    let p = record(&srv, "Jane", "jane@example.com").await;
    let (first, _) = invite(&srv, &inbox, &p.id, "jane@example.com", 1).await;
    // A new invitation for the record replaces the first.
    let (second, _) = invite(&srv, &inbox, &p.id, "jane@example.com", 2).await;
    let (status, page) = get_page(&srv, &pfid_tests::new_browser(), &first).await;
    assert_eq!(status, 410);
    assert!(page.contains("no longer valid") && page.contains("ask your healthcare provider"));
    srv.clock.advance(chrono::Duration::hours(47));
    assert_eq!(
        get_page(&srv, &pfid_tests::new_browser(), &second).await.0,
        200
    );
    srv.clock.advance(chrono::Duration::hours(2));
    let (status, page) = get_page(&srv, &pfid_tests::new_browser(), &second).await;
    assert_eq!(status, 410);
    assert!(
        page.contains("expired")
            && page.contains("ask your healthcare provider for a new invitation")
    );
    let (status, _) = get_page(
        &srv,
        &pfid_tests::new_browser(),
        &srv.url("/signup/not-a-real-token"),
    )
    .await;
    assert_eq!(status, 410);
}

async fn an_invitation_to_an_email_with_a_login_links_the_record_after_login(
    srv: TestServer,
    inbox: Inbox,
) {
    let parent = patient_login(&srv, "jane", "jane@example.com").await;
    let child = record(&srv, "Tommy", "jane@example.com").await;
    let (link, _) = invite(&srv, &inbox, &child.id, "jane@example.com", 1).await;
    let browser = pfid_tests::new_browser();
    let (status, page) = get_page(&srv, &browser, &link).await;
    assert_eq!(status, 200);
    assert!(page.contains("You already have a login"), "{page}");
    let start = page.find("/login?return_to=").expect("a link to log in");
    let login_link = page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(login_link.starts_with("/login?return_to="), "{login_link}");
    let (_, login_page) = get_page(&srv, &browser, &login_link).await;
    let resp = support::submit_login(&srv, &browser, &login_page, "jane", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    let back = location(&resp);
    assert!(back.starts_with("/account/link/"), "{back}");
    let (_, page) = get_page(&srv, &browser, &back).await;
    assert!(page.contains("Tommy Doe"));
    assert!(
        !page.contains("value=\"self\""),
        "the login already has its own record"
    );
    let resp = submit(
        &srv,
        &browser,
        &page,
        &back,
        &[("relationship", "guardian")],
        "Link record",
    )
    .await;
    assert_eq!(resp.status(), 303);
    let (_, account) = get_page(&srv, &browser, &location(&resp)).await;
    assert!(
        account.contains("Jane Doe")
            && account.contains("Tommy Doe")
            && account.contains("as guardian")
    );
    let linked = srv.store().linked_patients(&parent.id).await.unwrap();
    assert_eq!(linked.len(), 2);
    // Used: the invitation does not open again, and no second login was made.
    assert_eq!(
        get_page(&srv, &pfid_tests::new_browser(), &link).await.0,
        410
    );
    // Another login cannot take a record invited for someone else's email.
    let spouse = record(&srv, "Sam", "jane@example.com").await;
    let (link3, _) = invite(&srv, &inbox, &spouse.id, "jane@example.com", 2).await;
    crate::selfservice::patient_login(&srv, "bob", "bob@example.com").await;
    let bob = signed_in(&srv, "bob", PASSWORD).await;
    let token = link3.rsplit('/').next().unwrap();
    let (status, page) = get_page(&srv, &bob, &format!("/account/link/{token}")).await;
    assert_eq!(status, 403);
    assert!(page.contains("another login"));
}

async fn revoking_a_record_ends_its_access_and_its_invitations(srv: TestServer, inbox: Inbox) {
    let account = patient_login(&srv, "jane", "jane@example.com").await;
    let own = srv.store().own_patient(&account.id).await.unwrap().unwrap();
    let rp = support::web_client(&srv).await;
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (_, tokens) = support::exchange(&srv, &rp, &code, None).await;
    let other = record(&srv, "Jim", "jim@example.com").await;
    let (link, _) = invite(&srv, &inbox, &other.id, "jim@example.com", 1).await;
    let revoked = srv
        .store()
        .revoke_patient_access(&own.id, srv.now())
        .await
        .unwrap();
    assert_eq!(revoked.links, 1);
    assert!(srv
        .store()
        .linked_patients(&account.id)
        .await
        .unwrap()
        .is_empty());
    let userinfo = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    let revoked = srv
        .store()
        .revoke_patient_access(&other.id, srv.now())
        .await
        .unwrap();
    assert_eq!(revoked.invitations, 1);
    assert_eq!(
        get_page(&srv, &pfid_tests::new_browser(), &link).await.0,
        410
    );
}

async fn the_account_page_changes_password_username_and_preferences(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    patient_login(&srv, "bob", "bob@example.com").await;
    let other_browser = signed_in(&srv, "jane", PASSWORD).await;
    let browser = signed_in(&srv, "jane", PASSWORD).await;
    let (_, page) = get_page(&srv, &browser, "/account").await;
    for label in [
        "Email address",
        "Phone number",
        "New username",
        "Current password",
        "New password",
        "Retype new password",
        "Email notifications",
        "Text message notifications",
    ] {
        assert!(
            page.contains(&format!("\">{label}</label>"))
                || page.contains(&format!("> {label}</label>")),
            "{label}"
        );
    }
    assert!(page.contains("Log out") && page.contains("Deactivate account"));
    // The current password is required.
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/password",
        &[
            ("current_password", "Wrong-Pass-1"),
            ("password", NEW_PASSWORD),
            ("password2", NEW_PASSWORD),
        ],
        "Change password",
    )
    .await;
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    assert!(page.contains("current password is not correct"));
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("password", "Password1"),
            ("password2", "Password1"),
        ],
        "Change password",
    )
    .await;
    assert_eq!(resp.status(), 400, "common passwords are refused here too");
    let page = resp.text().await.unwrap();
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("password", NEW_PASSWORD),
            ("password2", NEW_PASSWORD),
        ],
        "Change password",
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/account?done=password");
    // This browser stays signed in; the other session ended.
    assert_eq!(get_page(&srv, &browser, "/account").await.0, 200);
    assert_eq!(
        other_browser
            .get(srv.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    inbox
        .mail
        .wait_for("jane@example.com", "password was changed")
        .await;
    assert!(can_log_in(&srv, "jane", NEW_PASSWORD).await);

    // Username: another login's (whatever the case) is taken; a free one works.
    let (_, page) = get_page(&srv, &browser, "/account").await;
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/username",
        &[("username", "BOB")],
        "Change username",
    )
    .await;
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    assert!(page.contains("taken"));
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/username",
        &[("username", "bob@example.com")],
        "Change username",
    )
    .await;
    assert_eq!(
        resp.status(),
        400,
        "another login's email cannot become this username"
    );
    let page = resp.text().await.unwrap();
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/username",
        &[("username", "jane.doe")],
        "Change username",
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert!(can_log_in(&srv, "jane.doe", NEW_PASSWORD).await);

    // Notification preferences.
    let (_, page) = get_page(&srv, &browser, "/account").await;
    let mut form = Form::find(&page, "/account/notifications");
    form.fields.retain(|(k, _)| k != "notify_email");
    form = form.set("notify_sms", "on");
    let resp = form
        .submit_with(&browser, &srv.base, "Save preferences")
        .await;
    assert_eq!(resp.status(), 303);
    let account = srv
        .store()
        .find_account_for_login("jane.doe")
        .await
        .unwrap()
        .unwrap();
    assert!(!account.notify_email && account.notify_sms);

    // Phone and security question.
    let (_, page) = get_page(&srv, &browser, "/account").await;
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/contact",
        &[("email", "jane@example.com"), ("phone", "555-010-3000")],
        "Save contact information",
    )
    .await;
    assert_eq!(location(&resp), "/account?done=contact");
    let (_, page) = get_page(&srv, &browser, "/account").await;
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/security-question",
        &[("question", "Favourite colour?"), ("answer", " Green ")],
        "Change security question",
    )
    .await;
    assert_eq!(resp.status(), 303);
    let account = srv
        .store()
        .find_account_for_login("jane.doe")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.phone.as_deref(), Some("555-010-3000"));
    assert_eq!(
        account.security_question.as_deref(),
        Some("Favourite colour?")
    );
    assert!(srv
        .state
        .passwords
        .verify(account.security_answer_hash.as_deref().unwrap(), "green"));
}

async fn a_new_email_is_confirmed_by_a_link_and_stays_unique(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    patient_login(&srv, "bob", "bob@example.com").await;
    let browser = signed_in(&srv, "jane", PASSWORD).await;
    // Asking for another login's address answers the same, and that address is only
    // told that nothing changed.
    let (_, page) = get_page(&srv, &browser, "/account").await;
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/contact",
        &[("email", "bob@example.com"), ("phone", "")],
        "Save contact information",
    )
    .await;
    assert_eq!(location(&resp), "/account?done=email_sent");
    let note = inbox.mail.wait_for("bob@example.com", "About your").await;
    assert!(note.text().contains("already belongs"));
    assert!(note
        .links()
        .iter()
        .all(|l| !l.contains("/account/confirm-email/")));

    let (_, page) = get_page(&srv, &browser, "/account").await;
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/contact",
        &[("email", "jane.new@example.com"), ("phone", "")],
        "Save contact information",
    )
    .await;
    assert_eq!(location(&resp), "/account?done=email_sent");
    let mail = inbox.mail.wait_for("jane.new@example.com", "Confirm").await;
    let link = mail.link_to("/account/confirm-email/");
    // Until confirmed, the old address stays.
    assert!(can_log_in(&srv, "jane@example.com", PASSWORD).await);
    let anywhere = pfid_tests::new_browser();
    let (status, page) = get_page(&srv, &anywhere, &link).await;
    assert_eq!(status, 200);
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    let resp = submit(&srv, &anywhere, &page, &path, &[], "Confirm email address").await;
    assert_eq!(resp.status(), 200);
    assert!(can_log_in(&srv, "jane.new@example.com", PASSWORD).await);
    assert!(!can_log_in(&srv, "jane@example.com", PASSWORD).await);
    inbox
        .mail
        .wait_for("jane@example.com", "email address was changed")
        .await;
    // The link works once.
    assert_eq!(get_page(&srv, &anywhere, &link).await.0, 400);
}

async fn removing_an_app_ends_its_tokens_at_once(srv: TestServer, _inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    let rp = support::web_client(&srv).await;
    let code = support::code_for(&srv, &rp, "jane", &[("scope", "openid email")]).await;
    let (_, tokens) = support::exchange(&srv, &rp, &code, None).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let browser = signed_in(&srv, "jane", PASSWORD).await;
    let (_, page) = get_page(&srv, &browser, "/account").await;
    assert!(
        page.contains("Health Tracker")
            && page.contains("See your email address")
            && page.contains("Last used")
    );
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/apps/remove",
        &[],
        "Remove access",
    )
    .await;
    assert_eq!(location(&resp), "/account?done=app_removed");
    let userinfo = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    let (_, page) = get_page(&srv, &browser, "/account").await;
    assert!(!page.contains("Health Tracker"));
}

async fn deactivating_signs_out_everywhere_and_keeps_the_records(srv: TestServer, _inbox: Inbox) {
    let account = patient_login(&srv, "jane", "jane@example.com").await;
    let own = srv.store().own_patient(&account.id).await.unwrap().unwrap();
    let other = signed_in(&srv, "jane", PASSWORD).await;
    let browser = signed_in(&srv, "jane", PASSWORD).await;
    let (_, page) = get_page(&srv, &browser, "/account").await;
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/deactivate",
        &[("current_password", "Wrong-Pass-1")],
        "Deactivate account",
    )
    .await;
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    let resp = submit(
        &srv,
        &browser,
        &page,
        "/account/deactivate",
        &[("current_password", PASSWORD)],
        "Deactivate account",
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("deactivated"));
    assert_eq!(
        other
            .get(srv.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    assert!(!can_log_in(&srv, "jane", PASSWORD).await);
    assert!(
        srv.store().patient(&own.id).await.unwrap().is_some(),
        "the record stays"
    );
}
