//! The developer portal: accounts (sign-up confirmed by email, login, throttling,
//! password reset), app registration with every rule refused next to its field, secret
//! rotation with a grace period, review as the developer sees it, and the Chromium
//! walk from sign-up to an app a relying party uses.

use chrono::Duration;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use pfid_store::clients::ClientStatus;
use pfid_tests::browser::Browser;
use pfid_tests::{both_backends, location, new_browser, query_param, Backend, Form, TestServer};

use crate::developer_support::{
    all_mails_to, confirm, developer, link_in, log_in, mails_to, post_app_form, post_with_csrf,
    register_app, secret_authenticates, serve_page, spa_client, submit_signup, unescape,
    web_app_fields, with, without_csrf, DEV_PASSWORD,
};
use crate::support::{self, PASSWORD};

both_backends!(
    a_developer_signs_up_in_chromium_and_their_approved_app_signs_a_patient_in,
    sign_up_answers_alike_whether_or_not_the_email_has_an_account,
    a_confirmation_link_works_once_and_expires,
    signing_up_with_someone_elses_address_claims_nothing,
    sign_up_refuses_bad_fields_next_to_them,
    login_refuses_every_failure_alike_and_is_throttled,
    a_password_reset_link_sets_a_new_password_and_ends_every_session,
    portal_and_patient_sessions_never_open_each_others_pages,
    every_portal_form_needs_its_csrf_token,
    each_app_rule_is_refused_with_its_message_next_to_the_field,
    native_and_key_based_apps_register_without_a_secret,
    rotating_a_secret_keeps_the_old_one_for_the_grace_period_only,
    the_developer_sees_the_review_status_and_the_reason,
    changing_reviewed_details_sends_an_approved_app_back_to_review,
    a_developer_cannot_see_or_change_another_developers_app,
    deleting_an_app_ends_every_token_it_holds,
    the_single_page_app_example_signs_a_patient_in_from_chromium,
    browsers_may_call_the_token_endpoints_only_from_approved_app_origins,
);

mod review_off {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(srv) = TestServer::start_with(
            Backend::Sqlite,
            &[("PFID__DEVELOPERS__REVIEW_REQUIRED", "false".into())],
        )
        .await
        {
            with_review_off_new_apps_are_approved_at_once(srv).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(srv) = TestServer::start_with(
            Backend::Postgres,
            &[("PFID__DEVELOPERS__REVIEW_REQUIRED", "false".into())],
        )
        .await
        {
            with_review_off_new_apps_are_approved_at_once(srv).await
        }
    }
}

async fn a_developer_signs_up_in_chromium_and_their_approved_app_signs_a_patient_in(
    srv: TestServer,
) {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    // Sign-up, by the labels a developer reads.
    browser.goto(&srv.url("/developers")).await;
    browser.follow("Create a developer account").await;
    wait_for_text(&browser, "Retype password").await;
    browser.fill("Name", "Ada Lovelace").await;
    browser
        .fill("Organization (optional)", "Analytical Apps")
        .await;
    browser.fill("Email", "ada@apps.example").await;
    browser.fill("Password", DEV_PASSWORD).await;
    browser.fill("Retype password", DEV_PASSWORD).await;
    browser.press("Create developer account").await;
    wait_for_text(&browser, "Check your email").await;

    let mail = mails_to(&srv, "ada@apps.example", 1, |m| {
        m.contains("Subject: Confirm your Patient Fusion developer account")
    })
    .await;
    browser.goto(&link_in(&mail[0], "/developers/verify")).await;
    wait_for_text(&browser, "Confirm your email address").await;
    browser.press("Confirm email").await;
    wait_for_text(&browser, "Signed in as Ada Lovelace").await;

    // Registration.
    browser.follow("Register an app").await;
    wait_for_text(&browser, "Token endpoint authentication").await;
    browser.fill("App name", "Heart Log").await;
    browser
        .fill("Description", "Keeps a log of your heart rate.")
        .await;
    browser
        .fill("Logo URI", "https://heartlog.example/logo.png")
        .await;
    browser.fill("Homepage", "https://heartlog.example/").await;
    browser
        .fill("Privacy policy URI", "https://heartlog.example/privacy")
        .await;
    browser
        .fill("Terms of service URI", "https://heartlog.example/terms")
        .await;
    browser.choose("Web app").await;
    browser
        .fill(
            "Redirect URIs (one per line)",
            "https://heartlog.example/callback",
        )
        .await;
    browser.choose("profile").await;
    browser.choose("email").await;
    browser.choose("client_secret_basic").await;
    browser.press("Register app").await;
    let text = wait_for_text(&browser, "Your app is registered.").await;
    assert!(text.contains("Status: In review"), "{text}");
    let client_id = element(&browser, "client-id").await;
    let secret = element(&browser, "client-secret").await;
    assert!(secret.starts_with("pfcs_") && secret.len() > 40);

    // In review, no patient can sign in to it.
    support::account(&srv, "jane").await;
    let rp = support::Rp {
        client_id: client_id.clone(),
        secret: Some(secret.clone()),
        redirect_uri: "https://heartlog.example/callback".into(),
    };
    let refused = new_browser()
        .get(support::authorize_url(&srv, &rp, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("App not available"));

    // An operator approves it; the developer sees it.
    srv.store()
        .set_client_status(&client_id, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    browser
        .goto(&srv.url(&format!("/developers/apps/{client_id}")))
        .await;
    let text = browser.text().await;
    assert!(text.contains("Status: Approved"), "{text}");
    assert!(!text.contains(&secret), "the secret is shown only once");
    browser.close().await;

    // A standard relying party now signs a patient in with it.
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
        ClientId::new(client_id),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let patient = new_browser();
    let login_page = patient
        .get(auth_url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = support::submit_login(&srv, &patient, &login_page, "jane", PASSWORD).await;
    let consent = patient
        .get(srv.url(&location(&resp)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let consent = unescape(&consent);
    assert!(consent.contains("Heart Log wants to access"), "{consent}");
    assert!(consent.contains("Made by Analytical Apps"), "{consent}");
    assert!(consent.contains("src=\"https://heartlog.example/logo.png\""));
    assert!(consent.contains("href=\"https://heartlog.example/privacy\""));
    assert!(consent.contains("href=\"https://heartlog.example/terms\""));
    let back = Form::find(&consent, "/authorize/decision")
        .submit_with(&patient, &srv.base, "Allow")
        .await;
    let redirect = location(&back);
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    let tokens = client
        .exchange_code(AuthorizationCode::new(
            query_param(&redirect, "code").unwrap(),
        ))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange works with the portal's secret");
    let id_token = tokens.id_token().unwrap();
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.email().map(|e| e.as_str()), Some("jane@example.com"));
}

/// Waits until the page shows `needle` (a click's navigation may still be running).
async fn wait_for_text(browser: &Browser, needle: &str) -> String {
    let mut text = String::new();
    for _ in 0..200 {
        // Mid-navigation the page may have no body yet: look again.
        if let Ok(body) = browser.client.find(fantoccini::Locator::Css("body")).await {
            text = body.text().await.unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the page never showed {needle:?}: {text}");
}

async fn element(browser: &Browser, id: &str) -> String {
    browser
        .client
        .find(fantoccini::Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("no element #{id}"))
        .text()
        .await
        .unwrap()
}

async fn sign_up_answers_alike_whether_or_not_the_email_has_an_account(srv: TestServer) {
    developer(&srv, "ada@apps.example", "").await;
    let (status_known, page_known) = submit_signup(
        &srv,
        &new_browser(),
        "Someone Else",
        "",
        "ADA@apps.example",
        "Other-Password-77",
    )
    .await;
    let (status_new, page_new) = submit_signup(
        &srv,
        &new_browser(),
        "Bob",
        "",
        "bob@apps.example",
        "Other-Password-77",
    )
    .await;
    assert_eq!(status_known, 200);
    assert_eq!(status_new, 200);
    let strip = |p: &str, email: &str| p.replace(email, "EMAIL");
    assert_eq!(
        strip(&page_known, "ADA@apps.example"),
        strip(&page_new, "bob@apps.example"),
        "the answer must not tell whether the address has an account"
    );
    // The mailbox learns it instead, with no link that could create anything.
    let notes = mails_to(&srv, "ADA@apps.example", 1, |m| {
        m.contains("It already has one")
    })
    .await;
    assert!(!notes[0].contains("/developers/verify"));
    assert!(notes[0].contains("/developers/forgot-password"));
    mails_to(&srv, "bob@apps.example", 1, |m| {
        m.contains("/developers/verify?token=")
    })
    .await;
    // The first password still works; the second sign-up's does not.
    let (_, ok) = log_in(&srv, "ada@apps.example", DEV_PASSWORD).await;
    assert_eq!(ok.status(), 303);
    let (_, refused) = log_in(&srv, "ada@apps.example", "Other-Password-77").await;
    assert!(unescape(&refused.text().await.unwrap()).contains("Incorrect email or password"));

    // Forgot password: the same answer for a known and an unknown address.
    let forgot = |email: &'static str| {
        let srv = &srv;
        async move {
            let b = new_browser();
            let page = b
                .get(srv.url("/developers/forgot-password"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let resp = Form::find(&page, "/developers/forgot-password")
                .set("email", email)
                .submit_with(&b, &srv.base, "Send reset link")
                .await;
            (
                resp.status().as_u16(),
                resp.text().await.unwrap().replace(email, "EMAIL"),
            )
        }
    };
    assert_eq!(
        forgot("ada@apps.example").await,
        forgot("nobody@apps.example").await
    );
    mails_to(&srv, "ada@apps.example", 1, |m| {
        m.contains("/developers/reset-password?token=")
    })
    .await;
    assert!(all_mails_to(&srv, "nobody@apps.example").await.is_empty());
}

async fn a_confirmation_link_works_once_and_expires(srv: TestServer) {
    let browser = new_browser();
    submit_signup(&srv, &browser, "Ada", "", "ada@apps.example", DEV_PASSWORD).await;
    let mail = mails_to(&srv, "ada@apps.example", 1, |m| {
        m.contains("/developers/verify")
    })
    .await;
    let link = link_in(&mail[0], "/developers/verify");
    let first = confirm(&srv, &browser, &link).await;
    assert_eq!(first.status(), 303);
    let again = new_browser().get(&link).send().await.unwrap();
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("This link no longer works"));

    let browser = new_browser();
    submit_signup(&srv, &browser, "Bob", "", "bob@apps.example", DEV_PASSWORD).await;
    let mail = mails_to(&srv, "bob@apps.example", 1, |m| {
        m.contains("/developers/verify")
    })
    .await;
    assert!(mail[0].contains("The link works for 2 days"));
    let link = link_in(&mail[0], "/developers/verify");
    let page = browser
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    srv.clock.advance(Duration::hours(49));
    let late = Form::find(&page, "/developers/verify")
        .submit_with(&browser, &srv.base, "Confirm email")
        .await;
    assert!(late
        .text()
        .await
        .unwrap()
        .contains("This link no longer works"));
    assert!(srv
        .store()
        .developer_by_email("bob@apps.example")
        .await
        .unwrap()
        .is_none());
}

async fn signing_up_with_someone_elses_address_claims_nothing(srv: TestServer) {
    // An attacker signs up first with the victim's address and their own password...
    submit_signup(
        &srv,
        &new_browser(),
        "Mallory",
        "",
        "ada@apps.example",
        "Mallory-Pass-1",
    )
    .await;
    // ...then the victim signs up. Both links land in the victim's mailbox.
    let victim = new_browser();
    submit_signup(&srv, &victim, "Ada", "", "ada@apps.example", DEV_PASSWORD).await;
    let mails = mails_to(&srv, "ada@apps.example", 2, |m| {
        m.contains("/developers/verify")
    })
    .await;
    let ada_mail = mails.iter().find(|m| m.contains("Hello Ada,")).unwrap();
    let mallory_mail = mails.iter().find(|m| m.contains("Hello Mallory,")).unwrap();
    let resp = confirm(&srv, &victim, &link_in(ada_mail, "/developers/verify")).await;
    assert_eq!(resp.status(), 303);
    // The attacker's link is void now, and their password opens nothing.
    let again = new_browser()
        .get(link_in(mallory_mail, "/developers/verify"))
        .send()
        .await
        .unwrap();
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("This link no longer works"));
    let (_, resp) = log_in(&srv, "ada@apps.example", "Mallory-Pass-1").await;
    assert_eq!(resp.status(), 200);
    let (_, resp) = log_in(&srv, "ada@apps.example", DEV_PASSWORD).await;
    assert_eq!(resp.status(), 303);
}

async fn sign_up_refuses_bad_fields_next_to_them(srv: TestServer) {
    let browser = new_browser();
    let page = browser
        .get(srv.url("/developers/signup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for label in [
        "Name",
        "Organization (optional)",
        "Email",
        "Password",
        "Retype password",
    ] {
        assert!(page.contains(&format!(">{label}</label>")), "{label}");
    }
    let resp = Form::find(&page, "/developers/signup")
        .set("display_name", "")
        .set("email", "not-an-email")
        .set("password", "short")
        .set("password2", "different")
        .submit_with(&browser, &srv.base, "Create developer account")
        .await;
    assert_eq!(resp.status(), 400);
    let page = unescape(&resp.text().await.unwrap());
    assert!(
        page.contains("id=\"display_name-error\">Your name is required."),
        "{page}"
    );
    assert!(page.contains("id=\"email-error\">Enter a valid email address."));
    assert!(page.contains("id=\"password-error\">Your password must contain at least 8 characters"));
    assert!(page.contains("id=\"password2-error\">The passwords do not match."));
    assert!(all_mails_to(&srv, "not-an-email").await.is_empty());
}

async fn login_refuses_every_failure_alike_and_is_throttled(srv: TestServer) {
    developer(&srv, "ada@apps.example", "").await;
    let (_, unknown) = log_in(&srv, "nobody@apps.example", DEV_PASSWORD).await;
    let (_, wrong) = log_in(&srv, "ada@apps.example", "Wrong-Password-1").await;
    assert_eq!(unknown.status(), 200);
    assert_eq!(wrong.status(), 200);
    let unknown = without_csrf(&unknown.text().await.unwrap()).replace("nobody@apps.example", "E");
    let wrong = without_csrf(&wrong.text().await.unwrap()).replace("ada@apps.example", "E");
    assert!(unknown.contains("Incorrect email or password"));
    assert_eq!(unknown, wrong);
    for _ in 0..4 {
        log_in(&srv, "ada@apps.example", "Wrong-Password-1").await;
    }
    // Five failures: even the right password waits now.
    let (_, throttled) = log_in(&srv, "ada@apps.example", DEV_PASSWORD).await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled
        .text()
        .await
        .unwrap()
        .contains("Too many failed attempts. Please wait 15 minutes"));
    srv.clock.advance(Duration::minutes(16));
    let (browser, ok) = log_in(&srv, "ada@apps.example", DEV_PASSWORD).await;
    assert_eq!(ok.status(), 303);
    let cookie = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("pfid_dev_session="))
        .expect("a portal session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/developers"));
    let home = browser
        .get(srv.url("/developers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Signed in as Ada Lovelace"));
}

async fn a_password_reset_link_sets_a_new_password_and_ends_every_session(srv: TestServer) {
    let signed_in = developer(&srv, "ada@apps.example", "").await;
    let b = new_browser();
    let page = b
        .get(srv.url("/developers/forgot-password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Form::find(&page, "/developers/forgot-password")
        .set("email", "ada@apps.example")
        .submit_with(&b, &srv.base, "Send reset link")
        .await;
    let mail = mails_to(&srv, "ada@apps.example", 1, |m| {
        m.contains("/developers/reset-password")
    })
    .await;
    let link = link_in(&mail[0], "/developers/reset-password");
    let form_page = b.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(form_page.contains(">New password</label>"));
    let weak = Form::find(&form_page, "/developers/reset-password")
        .set("password", "weakpass")
        .set("password2", "weakpass")
        .submit_with(&b, &srv.base, "Set password")
        .await;
    assert_eq!(weak.status(), 400);
    assert!(weak.text().await.unwrap().contains("an upper-case letter"));
    let done = Form::find(&form_page, "/developers/reset-password")
        .set("password", "Brand-New-Pass-9")
        .set("password2", "Brand-New-Pass-9")
        .submit_with(&b, &srv.base, "Set password")
        .await;
    assert_eq!(done.status(), 200);
    assert!(done
        .text()
        .await
        .unwrap()
        .contains("Your password was changed"));
    // Every browser that was signed in is signed out.
    let home = signed_in
        .get(srv.url("/developers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Create a developer account") && !home.contains("Signed in as"));
    let (_, old) = log_in(&srv, "ada@apps.example", DEV_PASSWORD).await;
    assert_eq!(old.status(), 200);
    let (_, new) = log_in(&srv, "ada@apps.example", "Brand-New-Pass-9").await;
    assert_eq!(new.status(), 303);
    // The link worked once.
    let again = new_browser().get(&link).send().await.unwrap();
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("This link no longer works"));
    // A new link expires after lifetimes.reset_link (1h).
    let page = b
        .get(srv.url("/developers/forgot-password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Form::find(&page, "/developers/forgot-password")
        .set("email", "ada@apps.example")
        .submit_with(&b, &srv.base, "Send reset link")
        .await;
    let mails = mails_to(&srv, "ada@apps.example", 2, |m| {
        m.contains("/developers/reset-password")
    })
    .await;
    let fresh = mails
        .iter()
        .map(|m| link_in(m, "/developers/reset-password"))
        .find(|l| *l != link)
        .unwrap();
    srv.clock.advance(Duration::minutes(61));
    let late = new_browser().get(&fresh).send().await.unwrap();
    assert!(late
        .text()
        .await
        .unwrap()
        .contains("This link no longer works"));
}

async fn portal_and_patient_sessions_never_open_each_others_pages(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "").await;
    // The developer's browser is not signed in as a patient.
    let account = dev.get(srv.url("/account")).send().await.unwrap();
    assert_eq!(account.status(), 303);
    assert!(location(&account).starts_with("/login"));
    // A patient's browser is not signed in to the portal.
    support::account(&srv, "jane").await;
    let patient = new_browser();
    let page = patient
        .get(srv.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = support::submit_login(&srv, &patient, &page, "jane", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        patient
            .get(srv.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let portal = patient
        .get(srv.url("/developers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!portal.contains("Signed in as"));
    let new_app = patient
        .get(srv.url("/developers/apps/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&new_app), "/developers/login");
    // Logging out of the portal ends only the portal session.
    let (status, page) = post_with_csrf(&srv, &dev, "/developers/logout", &[]).await;
    assert_eq!(status, 200);
    assert!(page.contains("You have logged out"));
    let after = dev
        .get(srv.url("/developers/apps/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
}

async fn every_portal_form_needs_its_csrf_token(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "").await;
    let fields: Vec<(&str, String)> = web_app_fields();
    let app = dev
        .post(srv.url("/developers/apps"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(app.status(), 400);
    assert!(app.text().await.unwrap().contains("This page expired"));
    let token = dev
        .post(srv.url("/developers/tokens"))
        .form(&[("expires_in", "7d")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 400);
    let logout = dev
        .post(srv.url("/developers/logout"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 403);
    let signup = new_browser()
        .post(srv.url("/developers/signup"))
        .form(&[
            ("display_name", "Eve"),
            ("email", "eve@apps.example"),
            ("password", DEV_PASSWORD),
            ("password2", DEV_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 400);
    let login = new_browser()
        .post(srv.url("/developers/login"))
        .form(&[("email", "ada@apps.example"), ("password", DEV_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 400);
    // Nothing was done.
    let id = srv
        .store()
        .developer_by_email("ada@apps.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(srv
        .store()
        .clients_of_developer(&id)
        .await
        .unwrap()
        .is_empty());
    assert!(srv
        .store()
        .initial_access_tokens_of(&id)
        .await
        .unwrap()
        .is_empty());
    assert!(all_mails_to(&srv, "eve@apps.example").await.is_empty());
    assert!(dev
        .get(srv.url("/developers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("Signed in as"));
}

/// A form's fields, as the app form posts them.
type Fields = Vec<(&'static str, String)>;

const PRIVATE_JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}"#;
const PUBLIC_JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

async fn each_app_rule_is_refused_with_its_message_next_to_the_field(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "").await;
    let base = web_app_fields();
    let native = with(
        with(base.clone(), "app_type", "native"),
        "token_endpoint_auth_method",
        "none",
    );
    let spa = with(
        with(base.clone(), "app_type", "spa"),
        "token_endpoint_auth_method",
        "none",
    );
    let pkjwt = with(
        base.clone(),
        "token_endpoint_auth_method",
        "private_key_jwt",
    );
    let long_name = "x".repeat(101);
    let long_text = "y".repeat(1001);
    let cases: Vec<(Fields, &str, &str)> = vec![
        (
            with(base.clone(), "client_name", ""),
            "client_name",
            "Enter the app's name.",
        ),
        (
            with(base.clone(), "client_name", &long_name),
            "client_name",
            "at most 100 characters",
        ),
        (
            with(base.clone(), "description", &long_text),
            "description",
            "at most 1000 characters",
        ),
        (
            with(base.clone(), "logo_uri", "http://heartlog.example/logo.png"),
            "logo_uri",
            "The logo URI must be an https URL.",
        ),
        (
            with(base.clone(), "client_uri", "heartlog"),
            "client_uri",
            "The homepage \"heartlog\" is not a valid URL.",
        ),
        (
            with(base.clone(), "policy_uri", "http://heartlog.example/p"),
            "policy_uri",
            "The privacy policy URI must be an https URL.",
        ),
        (
            with(base.clone(), "tos_uri", "ftp://heartlog.example/t"),
            "tos_uri",
            "The terms of service URI must be an https URL.",
        ),
        (
            with(base.clone(), "app_type", ""),
            "app_type",
            "Choose the app type.",
        ),
        (
            with(base.clone(), "redirect_uris", ""),
            "redirect_uris",
            "Add at least one redirect URI",
        ),
        (
            with(base.clone(), "redirect_uris", "http://heartlog.example/cb"),
            "redirect_uris",
            "\"http://heartlog.example/cb\" must use https.",
        ),
        (
            with(
                base.clone(),
                "redirect_uris",
                "https://heartlog.example/cb#top",
            ),
            "redirect_uris",
            "must not contain a fragment (#)",
        ),
        (
            with(
                base.clone(),
                "redirect_uris",
                "https://*.heartlog.example/cb",
            ),
            "redirect_uris",
            "must not contain wildcards (*)",
        ),
        (
            with(
                base.clone(),
                "redirect_uris",
                "https://me:pw@heartlog.example/cb",
            ),
            "redirect_uris",
            "must not contain a user name or password",
        ),
        (
            with(base.clone(), "redirect_uris", "http://127.0.0.1:8080/cb"),
            "redirect_uris",
            "http on a loopback address is only for native apps",
        ),
        (
            with(spa.clone(), "redirect_uris", "com.heartlog.app:/cb"),
            "redirect_uris",
            "custom URI schemes are only for native apps",
        ),
        (
            with(native.clone(), "redirect_uris", "http://localhost:8080/cb"),
            "redirect_uris",
            "use the loopback address http://127.0.0.1",
        ),
        (
            with(native.clone(), "redirect_uris", "http://10.0.0.2/cb"),
            "redirect_uris",
            "allowed only for the loopback addresses 127.0.0.1 and [::1]",
        ),
        (
            with(native.clone(), "redirect_uris", "heartlog:/cb"),
            "redirect_uris",
            "must be a reverse domain name you control",
        ),
        (
            with(
                base.clone(),
                "post_logout_redirect_uris",
                "http://heartlog.example/bye",
            ),
            "post_logout_redirect_uris",
            "The post-logout redirect URI \"http://heartlog.example/bye\" must use https.",
        ),
        (
            with(with(base.clone(), "app_type", "service"), "scope", ""),
            "redirect_uris",
            "A back-end service does not sign patients in",
        ),
        (
            with(base.clone(), "token_endpoint_auth_method", "none"),
            "token_endpoint_auth_method",
            "authenticates at the token endpoint",
        ),
        (
            with(
                spa.clone(),
                "token_endpoint_auth_method",
                "client_secret_basic",
            ),
            "token_endpoint_auth_method",
            "cannot keep a secret",
        ),
        (
            pkjwt.clone(),
            "jwks",
            "private_key_jwt needs your public keys",
        ),
        (
            with(pkjwt.clone(), "jwks", PRIVATE_JWKS),
            "jwks",
            "holds private key material (\"d\"): register public keys only.",
        ),
        (
            with(pkjwt.clone(), "jwks", "{not json"),
            "jwks",
            "The JWKS is not valid JSON.",
        ),
        (
            with(
                with(pkjwt.clone(), "jwks", PUBLIC_JWKS),
                "jwks_uri",
                "https://heartlog.example/jwks",
            ),
            "jwks",
            "either a JWKS or a JWKS URI, not both",
        ),
        (
            with(pkjwt.clone(), "jwks_uri", "http://heartlog.example/jwks"),
            "jwks_uri",
            "The JWKS URI must be an https URL.",
        ),
        (
            with(base.clone(), "jwks", PUBLIC_JWKS),
            "jwks",
            "used only with the private_key_jwt",
        ),
        (
            with(base.clone(), "scope", ""),
            "scope",
            "Choose at least one scope",
        ),
        (
            with(base.clone(), "scope", "openid launch/patient"),
            "scope",
            "Unknown scope \"launch/patient\"",
        ),
        (
            with(base.clone(), "id_token_signed_response_alg", "HS256"),
            "id_token_signed_response_alg",
            "must be ES256 or RS256",
        ),
        (
            with(
                base.clone(),
                "backchannel_logout_uri",
                "http://heartlog.example/logout",
            ),
            "backchannel_logout_uri",
            "The back-channel logout URI must be an https URL.",
        ),
    ];
    for (fields, field, message) in cases {
        let (status, page) = post_app_form(&srv, &dev, "/developers/apps", &fields).await;
        assert_eq!(status, 400, "{field}: {message}");
        let marker = format!("id=\"{field}-error\">");
        let shown: Vec<&str> = page
            .match_indices(&marker)
            .map(|(i, _)| {
                &page[i + marker.len()
                    ..i + marker.len() + page[i + marker.len()..].find('<').unwrap()]
            })
            .collect();
        assert!(
            shown.iter().any(|m| m.contains(message)),
            "{field}: expected {message:?} next to the field, got {shown:?}"
        );
        // What the developer typed stays in the form.
        if let Some((_, v)) = fields.iter().find(|(k, _)| *k == "client_name") {
            if v.len() < 50 && !v.is_empty() {
                assert!(page.contains(&format!("value=\"{v}\"")));
            }
        }
    }
    let id = srv
        .store()
        .developer_by_email("ada@apps.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(
        srv.store()
            .clients_of_developer(&id)
            .await
            .unwrap()
            .is_empty(),
        "a refused form registers nothing"
    );
}

async fn native_and_key_based_apps_register_without_a_secret(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "").await;
    let native = with(
        with(
            with(web_app_fields(), "app_type", "native"),
            "token_endpoint_auth_method",
            "none",
        ),
        "redirect_uris",
        "http://127.0.0.1/callback\nhttp://[::1]:8400/callback\ncom.heartlog.app:/oauth2redirect",
    );
    let (id, secret) = register_app(&srv, &dev, &native).await;
    assert!(secret.is_none(), "a native app gets no secret");
    let c = srv.store().client(&id).await.unwrap().unwrap();
    assert_eq!(c.redirect_uris.len(), 3);
    assert_eq!(c.status, ClientStatus::Review);
    let spa = with(
        with(web_app_fields(), "app_type", "spa"),
        "token_endpoint_auth_method",
        "",
    );
    let (id, secret) = register_app(&srv, &dev, &spa).await;
    assert!(secret.is_none());
    assert!(srv.store().client(&id).await.unwrap().unwrap().is_public());
    let keys = with(
        with(
            web_app_fields(),
            "token_endpoint_auth_method",
            "private_key_jwt",
        ),
        "jwks",
        PUBLIC_JWKS,
    );
    let (id, secret) = register_app(&srv, &dev, &keys).await;
    assert!(secret.is_none(), "private_key_jwt needs no secret");
    let c = srv.store().client(&id).await.unwrap().unwrap();
    assert!(c.jwks.unwrap().contains("\"kid\":\"k1\""));
    let service = with(
        with(
            with(web_app_fields(), "app_type", "service"),
            "redirect_uris",
            "",
        ),
        "scope",
        "",
    );
    let (id, secret) = register_app(&srv, &dev, &service).await;
    assert!(secret.is_some(), "a back-end service keeps a secret");
    let c = srv.store().client(&id).await.unwrap().unwrap();
    assert_eq!(c.grant_types, vec!["client_credentials"]);
}

async fn rotating_a_secret_keeps_the_old_one_for_the_grace_period_only(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "").await;
    let (id, old) = register_app(&srv, &dev, &web_app_fields()).await;
    let old = old.unwrap();
    srv.store()
        .set_client_status(&id, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    assert!(secret_authenticates(&srv, &id, &old).await);

    // More than 7 days is refused, and changes nothing.
    let rotate = format!("/developers/apps/{id}/rotate-secret");
    let (status, page) = post_with_csrf(&srv, &dev, &rotate, &[("grace", "604801")]).await;
    assert_eq!(status, 400);
    assert!(page.contains("id=\"grace-error\">The grace period can be at most 7 days."));
    assert!(crate::developer_support::element_text(&page, "client-secret").is_none());
    assert!(secret_authenticates(&srv, &id, &old).await);

    // One day of grace: both secrets work, then only the new one.
    let (status, page) = post_with_csrf(&srv, &dev, &rotate, &[("grace", "86400")]).await;
    assert_eq!(status, 200, "{page}");
    let new = crate::developer_support::element_text(&page, "client-secret").unwrap();
    assert_ne!(new, old);
    assert!(page.contains("the old one keeps working until"));
    assert_eq!(page.matches("valid until").count(), 2, "{page}");
    assert!(secret_authenticates(&srv, &id, &old).await);
    assert!(secret_authenticates(&srv, &id, &new).await);
    // A full sign-in with the new secret.
    support::account(&srv, "jane").await;
    let rp = support::Rp {
        client_id: id.clone(),
        secret: Some(new.clone()),
        redirect_uri: "https://heartlog.example/callback".into(),
    };
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (status, body) = support::exchange(&srv, &rp, &code, None).await;
    assert_eq!(status, 200, "{body}");

    srv.clock.advance(Duration::hours(23));
    assert!(secret_authenticates(&srv, &id, &old).await);
    srv.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert!(
        !secret_authenticates(&srv, &id, &old).await,
        "the grace period is over"
    );
    assert!(secret_authenticates(&srv, &id, &new).await);

    // No grace: the previous secret stops at once. (A day later the portal session
    // has idled out: log in again.)
    let (dev, _) = log_in(&srv, "ada@apps.example", DEV_PASSWORD).await;
    let page = dev
        .get(srv.url(&format!("/developers/apps/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        page.matches("valid until").count(),
        1,
        "the old secret is gone: {page}"
    );
    let (status, page) = post_with_csrf(&srv, &dev, &rotate, &[("grace", "0")]).await;
    assert_eq!(status, 200);
    let newest = crate::developer_support::element_text(&page, "client-secret").unwrap();
    assert!(!secret_authenticates(&srv, &id, &new).await);
    assert!(secret_authenticates(&srv, &id, &newest).await);
}

async fn the_developer_sees_the_review_status_and_the_reason(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "").await;
    let (id, _) = register_app(&srv, &dev, &web_app_fields()).await;
    let home = dev
        .get(srv.url("/developers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("Heart Log</a> <span class=\"muted\">In review</span>"),
        "{home}"
    );
    srv.store()
        .set_client_status(
            &id,
            ClientStatus::Rejected,
            Some("The privacy policy link is broken".into()),
            srv.now(),
        )
        .await
        .unwrap();
    let home = dev
        .get(srv.url("/developers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Rejected") && home.contains("The privacy policy link is broken"));
    let page = dev
        .get(srv.url(&format!("/developers/apps/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"app-status\">Rejected<"));
    assert!(page.contains("id=\"status-reason\">The privacy policy link is broken<"));
    // Fixing it sends it back to review.
    let fixed = with(
        web_app_fields(),
        "policy_uri",
        "https://heartlog.example/privacy-policy",
    );
    let (status, page) = post_app_form(&srv, &dev, &format!("/developers/apps/{id}"), &fixed).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"app-status\">In review<"), "{page}");
    let c = srv.store().client(&id).await.unwrap().unwrap();
    assert_eq!(c.status, ClientStatus::Review);
    assert_eq!(
        c.policy_uri.as_deref(),
        Some("https://heartlog.example/privacy-policy")
    );
    assert!(c.status_reason.is_none());
}

async fn changing_reviewed_details_sends_an_approved_app_back_to_review(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "").await;
    let (id, _) = register_app(&srv, &dev, &web_app_fields()).await;
    srv.store()
        .set_client_status(&id, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    let action = format!("/developers/apps/{id}");
    // The description and narrower scopes are not what the review approved.
    let small = with(
        with(web_app_fields(), "description", "Now with charts."),
        "scope",
        "openid email",
    );
    let (status, page) = post_app_form(&srv, &dev, &action, &small).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"app-status\">Approved<"), "{page}");
    // A new redirect URI is.
    let wider = with(
        web_app_fields(),
        "redirect_uris",
        "https://heartlog.example/callback\nhttps://heartlog.example/other",
    );
    let (status, page) = post_app_form(&srv, &dev, &action, &wider).await;
    assert_eq!(status, 200);
    assert!(page.contains("The app is back in review"), "{page}");
    let c = srv.store().client(&id).await.unwrap().unwrap();
    assert_eq!(c.status, ClientStatus::Review);
    assert_eq!(c.redirect_uris.len(), 2);
    // A refused edit changes nothing.
    let (status, page) = post_app_form(
        &srv,
        &dev,
        &action,
        &with(
            web_app_fields(),
            "redirect_uris",
            "http://heartlog.example/cb",
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("id=\"redirect_uris-error\">"));
    assert_eq!(
        srv.store()
            .client(&id)
            .await
            .unwrap()
            .unwrap()
            .redirect_uris
            .len(),
        2
    );
}

async fn a_developer_cannot_see_or_change_another_developers_app(srv: TestServer) {
    let ada = developer(&srv, "ada@apps.example", "").await;
    let (id, secret) = register_app(&srv, &ada, &web_app_fields()).await;
    let bob = developer(&srv, "bob@apps.example", "").await;
    let show = bob
        .get(srv.url(&format!("/developers/apps/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(show.status(), 404);
    let (status, _) = post_app_form(
        &srv,
        &bob,
        &format!("/developers/apps/{id}"),
        &with(web_app_fields(), "client_name", "Stolen"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post_with_csrf(
        &srv,
        &bob,
        &format!("/developers/apps/{id}/rotate-secret"),
        &[("grace", "0")],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) =
        post_with_csrf(&srv, &bob, &format!("/developers/apps/{id}/delete"), &[]).await;
    assert_eq!(status, 404);
    let c = srv.store().client(&id).await.unwrap().unwrap();
    assert_eq!(c.name, "Heart Log");
    srv.store()
        .set_client_status(&id, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    assert!(secret_authenticates(&srv, &id, &secret.unwrap()).await);
    let home = bob
        .get(srv.url("/developers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!home.contains("Heart Log"));
}

async fn deleting_an_app_ends_every_token_it_holds(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "").await;
    let (id, secret) = register_app(&srv, &dev, &web_app_fields()).await;
    srv.store()
        .set_client_status(&id, ClientStatus::Approved, None, srv.now())
        .await
        .unwrap();
    support::account(&srv, "jane").await;
    let rp = support::Rp {
        client_id: id.clone(),
        secret,
        redirect_uri: "https://heartlog.example/callback".into(),
    };
    let code = support::code_for(&srv, &rp, "jane", &[]).await;
    let (_, body) = support::exchange(&srv, &rp, &code, None).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let userinfo = |t: String| {
        let srv = &srv;
        async move {
            reqwest::Client::new()
                .get(srv.url("/userinfo"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(userinfo(token.clone()).await, 200);
    let (status, page) =
        post_with_csrf(&srv, &dev, &format!("/developers/apps/{id}/delete"), &[]).await;
    assert_eq!(status, 200);
    assert!(page.contains("Heart Log is deleted."));
    assert!(srv.store().client(&id).await.unwrap().is_none());
    assert_eq!(userinfo(token).await, 401);
}

async fn with_review_off_new_apps_are_approved_at_once(srv: TestServer) {
    let dev = developer(&srv, "ada@apps.example", "").await;
    let (status, page) = post_app_form(&srv, &dev, "/developers/apps", &web_app_fields()).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"app-status\">Approved<"), "{page}");
    let id = crate::developer_support::element_text(&page, "client-id").unwrap();
    // And a change to reviewed details keeps it approved.
    let (_, page) = post_app_form(
        &srv,
        &dev,
        &format!("/developers/apps/{id}"),
        &with(web_app_fields(), "client_name", "Heart Log 2"),
    )
    .await;
    assert!(page.contains("id=\"app-status\">Approved<"), "{page}");
    // Dynamic registration follows the same rule.
    let (_, iat) = srv
        .store()
        .create_initial_access_token(None, None, srv.now())
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(srv.url("/register"))
        .bearer_auth(iat)
        .json(&serde_json::json!({
            "client_name": "Cli", "redirect_uris": ["https://cli.example/cb"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["pfid_status"], "approved");
}

async fn the_single_page_app_example_signs_a_patient_in_from_chromium(srv: TestServer) {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://{}/app", listener.local_addr().unwrap());
    let client_id = spa_client(&srv, &app_url, ClientStatus::Approved).await;
    let html = include_str!("../../examples/spa/index.html")
        .replace("__ISSUER__", &srv.base)
        .replace("__CLIENT_ID__", &client_id);
    serve_page(listener, html);
    support::account(&srv, "jane").await;

    browser.goto(&app_url).await;
    wait_for_text(&browser, "Not signed in.").await;
    browser.press("Sign in with Patient Fusion").await;
    wait_for_text(&browser, "Forgot password?").await;
    browser.fill("Username", "jane").await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Log in").await;
    wait_for_text(&browser, "Heart Log wants to access").await;
    browser.press("Allow").await;
    // Back in the app: the code is redeemed with PKCE and UserInfo read, cross-origin.
    wait_for_text(&browser, "Signed in as Jane Doe").await;
    let url = browser.client.current_url().await.unwrap().to_string();
    assert_eq!(url, app_url, "the code left the address bar");
    browser.close().await;
}

async fn browsers_may_call_the_token_endpoints_only_from_approved_app_origins(srv: TestServer) {
    spa_client(&srv, "http://127.0.0.1:4100/app", ClientStatus::Approved).await;
    spa_client(&srv, "http://127.0.0.1:4200/app", ClientStatus::Review).await;
    let c = reqwest::Client::new();
    let preflight = |origin: &'static str, path: &'static str| {
        let (c, url) = (c.clone(), srv.url(path));
        async move {
            c.request(reqwest::Method::OPTIONS, url)
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "GET")
                .header("Access-Control-Request-Headers", "authorization")
                .send()
                .await
                .unwrap()
        }
    };
    let ok = preflight("http://127.0.0.1:4100", "/userinfo").await;
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://127.0.0.1:4100"
    );
    assert!(ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Authorization"));
    for origin in ["http://127.0.0.1:4200", "https://evil.example"] {
        let no = preflight(origin, "/token").await;
        assert!(
            no.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
    }
    let token = |origin: &'static str| {
        let (c, url) = (c.clone(), srv.url("/token"));
        async move {
            c.post(url)
                .header("Origin", origin)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", "x"),
                    ("client_id", "nobody"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let allowed = token("http://127.0.0.1:4100").await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://127.0.0.1:4100"
    );
    assert_eq!(allowed.headers()["vary"], "Origin");
    let refused = token("https://evil.example").await;
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}
