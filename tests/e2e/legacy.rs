//! Seed 003 at the login page: legacy logins imported by `pfid-migration`, before and
//! after the cut-over, for every legacy hash format; the forced reset; logins whose email
//! another login shares; and the office's way out for those (revoke, re-invite, sign up).

use chrono::Duration;
use pfid_server::http::login::{LEGACY_RESET_SENT, NEEDS_NEW_ACCOUNT};
use pfid_store::accounts::AccountStatus;
use pfid_tests::{location, new_browser, query_param, Inbox, TestServer};

use crate::selfservice::{get_page, submit, support_db, NEW_PASSWORD};
use crate::signup::{create_account, verify_with_pin};
use crate::support::{self, submit_login};

/// The old portal's password of every legacy login in these tests.
const OLD_PASSWORD: &str = "old-portal-pass1";

/// Every test here runs on both backends with mail and texts going to real sinks and a
/// cut-over one day after the server's clock starts, so a test moves the clock past it.
macro_rules! both_backends_with_cutover {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some((srv, inbox)) = super::start(pfid_tests::Backend::Sqlite).await {
                        super::$name(srv, inbox).await
                    }
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some((srv, inbox)) = super::start(pfid_tests::Backend::Postgres).await {
                        super::$name(srv, inbox).await
                    }
                }
            }
        )+
    };
}

async fn start(backend: pfid_tests::Backend) -> Option<(TestServer, Inbox)> {
    let inbox = Inbox::start().await;
    let mut overrides = inbox.overrides();
    let cutover = chrono::Utc::now() + Duration::days(1);
    overrides.push(("PFID__MIGRATION__CUTOVER", cutover.to_rfc3339()));
    let srv = TestServer::start_with(backend, &overrides).await?;
    Some((srv, inbox))
}

fn past_the_cutover(srv: &TestServer) {
    srv.clock.advance(Duration::days(2));
}

/// The legacy formats the old portal exported, each hashing `OLD_PASSWORD`.
fn legacy_hashes() -> Vec<(&'static str, String)> {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let bcrypt_2b = bcrypt::hash(OLD_PASSWORD, 4).unwrap();
    let bcrypt_2a = bcrypt_2b.replacen("$2b$", "$2a$", 1);
    let salt = SaltString::encode_b64(b"legacy-salt-0001").unwrap();
    let pbkdf2 = pbkdf2::Pbkdf2
        .hash_password_customized(
            OLD_PASSWORD.as_bytes(),
            Some(pbkdf2::Algorithm::Pbkdf2Sha256.ident()),
            None,
            pbkdf2::Params {
                rounds: 10_000,
                output_length: 32,
            },
            &salt,
        )
        .unwrap()
        .to_string();
    let argon2id = argon2::Argon2::default()
        .hash_password(OLD_PASSWORD.as_bytes(), &salt)
        .unwrap()
        .to_string();
    assert!(pbkdf2.starts_with("$pbkdf2-sha256$") && argon2id.starts_with("$argon2id$"));
    vec![
        ("bcrypt-2b", bcrypt_2b),
        ("bcrypt-2a", bcrypt_2a),
        ("pbkdf2", pbkdf2),
        ("argon2id", argon2id),
    ]
}

/// One line of the legacy export (SPEC "Legacy import file").
fn line(legacy_id: &str, username: &str, email: &str, hash: &str, records: &[&str]) -> String {
    serde_json::json!({
        "legacy_id": legacy_id,
        "username": username,
        "email": email,
        "phone": "555-010-2000",
        "birth_date": "1980-04-02",
        "password_hash": hash,
        "security_question": "What was the name of your first pet?",
        "security_answer_hash": bcrypt::hash("rex", 4).unwrap(),
        "patient_ids": records,
        "created_at": "2015-06-01T12:00:00Z",
    })
    .to_string()
}

/// Imports `lines` the way `pfid legacy import` does.
async fn import(srv: &TestServer, lines: &[String]) -> pfid_migration::ImportReport {
    let file = lines.join("\n") + "\n";
    let report = pfid_migration::import(
        srv.store(),
        std::io::Cursor::new(file.into_bytes()),
        pfid_migration::ImportOptions::default(),
        srv.now(),
        None,
    )
    .await
    .unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    report
}

/// Imports `user-<format>` with `<format>@example.com` and its own record, per format.
async fn import_one_login_per_format(srv: &TestServer, hashes: &[(&'static str, String)]) {
    let lines: Vec<String> = hashes
        .iter()
        .enumerate()
        .map(|(i, (format, hash))| {
            line(
                &format!("L{i}"),
                &format!("user-{format}"),
                &format!("{format}@example.com"),
                hash,
                &[&format!("MRN-{i}")],
            )
        })
        .collect();
    import(srv, &lines).await;
}

async fn login_page(srv: &TestServer, browser: &reqwest::Client) -> String {
    get_page(srv, browser, "/login").await.1
}

/// Whether a response set a session cookie (a sign-in happened).
fn signed_in(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("pfid_session="))
}

/// The notice and error paragraphs a login answer shows, without the form around them.
async fn login_answer(
    srv: &TestServer,
    login: &str,
    password: &str,
) -> (reqwest::StatusCode, bool, String) {
    let browser = new_browser();
    let page = login_page(srv, &browser).await;
    let resp = submit_login(srv, &browser, &page, login, password).await;
    let status = resp.status();
    let session = signed_in(&resp);
    (status, session, resp.text().await.unwrap())
}

fn legacy_reset_links_sent(srv: &TestServer, account_id: &str) -> i64 {
    support_db::count(
        srv,
        &format!(
            "SELECT COUNT(*) AS n FROM audit_events WHERE kind = 'legacy_reset_link_sent' \
             AND account_id = '{account_id}'"
        ),
    )
}

async fn account_id(srv: &TestServer, username: &str) -> String {
    srv.store()
        .find_account_for_login(username)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{username} was not imported"))
        .id
}

both_backends_with_cutover!(
    before_the_cutover_every_legacy_format_signs_in_with_the_old_password,
    after_the_cutover_the_old_password_mails_a_reset_link_instead_of_signing_in,
    a_wrong_legacy_password_reads_as_any_failure_and_mails_nothing,
    the_reset_link_is_mailed_at_most_once_per_quarter_hour,
    a_legacy_patient_resets_then_signs_in_to_a_third_party_app,
    logins_sharing_an_email_are_asked_to_get_a_new_account_and_nothing_else,
    the_office_reinvites_a_shared_email_login_and_the_records_follow,
);

async fn before_the_cutover_every_legacy_format_signs_in_with_the_old_password(
    srv: TestServer,
    _inbox: Inbox,
) {
    let hashes = legacy_hashes();
    import_one_login_per_format(&srv, &hashes).await;
    for (format, _) in &hashes {
        let username = format!("user-{format}");
        let (status, session, body) = login_answer(&srv, &username, OLD_PASSWORD).await;
        assert_eq!(status, 303, "{format}: {body}");
        assert!(session, "{format}");
        // The email signs in too, as for every login.
        let (status, _, _) =
            login_answer(&srv, &format!("{format}@example.com"), OLD_PASSWORD).await;
        assert_eq!(status, 303, "{format} by email");
        let id = account_id(&srv, &username).await;
        assert_eq!(legacy_reset_links_sent(&srv, &id), 0);
        // Still a legacy login: the forced reset waits for the cut-over.
        let account = srv.store().account(&id).await.unwrap().unwrap();
        assert_eq!(account.status, AccountStatus::MustReset);
    }
}

async fn after_the_cutover_the_old_password_mails_a_reset_link_instead_of_signing_in(
    srv: TestServer,
    inbox: Inbox,
) {
    let hashes = legacy_hashes();
    import_one_login_per_format(&srv, &hashes).await;
    past_the_cutover(&srv);
    for (format, _) in &hashes {
        let username = format!("user-{format}");
        let email = format!("{format}@example.com");
        let (status, session, body) = login_answer(&srv, &username, OLD_PASSWORD).await;
        assert_eq!(status, 200, "{format}");
        assert!(!session, "{format} must not be signed in");
        assert!(body.contains(LEGACY_RESET_SENT), "{format}: {body}");
        assert!(!body.contains("Incorrect email or password"));
        let mail = inbox.mail.wait_for(&email, "Reset your").await;
        assert!(mail.link_to("/reset-password/").starts_with(&srv.base));
        // Login stays refused until the reset is done, whichever way it is tried.
        let (status, session, body) = login_answer(&srv, &email, OLD_PASSWORD).await;
        assert!(status == 200 && !session && body.contains(LEGACY_RESET_SENT));
        let account = srv
            .store()
            .account(&account_id(&srv, &username).await)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.status, AccountStatus::MustReset);
        assert!(account.legacy_password_hash.is_some());
    }
    // The account page is out of reach without a session.
    let resp = new_browser().get(srv.url("/account")).send().await.unwrap();
    assert!(resp.status().is_redirection());
}

async fn a_wrong_legacy_password_reads_as_any_failure_and_mails_nothing(
    srv: TestServer,
    _inbox: Inbox,
) {
    let hashes = legacy_hashes();
    import_one_login_per_format(&srv, &hashes).await;
    past_the_cutover(&srv);
    for (format, _) in &hashes {
        let username = format!("user-{format}");
        let (status, session, body) = login_answer(&srv, &username, "not-the-password9").await;
        assert_eq!(status, 200);
        assert!(!session);
        assert!(body.contains("Incorrect email or password"), "{format}");
        assert!(!body.contains(LEGACY_RESET_SENT));
        let id = account_id(&srv, &username).await;
        assert_eq!(legacy_reset_links_sent(&srv, &id), 0, "{format}");
    }
    assert_eq!(
        support_db::count(
            &srv,
            "SELECT COUNT(*) AS n FROM outbound_messages WHERE channel = 'email'"
        ),
        0
    );
}

async fn the_reset_link_is_mailed_at_most_once_per_quarter_hour(srv: TestServer, inbox: Inbox) {
    let (_, hash) = legacy_hashes().remove(0);
    import(
        &srv,
        &[line("L1", "jdoe", "jdoe@example.com", &hash, &["MRN-1"])],
    )
    .await;
    past_the_cutover(&srv);
    let id = account_id(&srv, "jdoe").await;
    for _ in 0..3 {
        let (_, _, body) = login_answer(&srv, "jdoe", OLD_PASSWORD).await;
        assert!(body.contains(LEGACY_RESET_SENT));
    }
    assert_eq!(legacy_reset_links_sent(&srv, &id), 1);
    inbox.mail.wait_for("jdoe@example.com", "Reset your").await;

    srv.clock.advance(Duration::minutes(16));
    let (_, _, body) = login_answer(&srv, "jdoe", OLD_PASSWORD).await;
    assert!(body.contains(LEGACY_RESET_SENT));
    assert_eq!(legacy_reset_links_sent(&srv, &id), 2);
    let first = inbox
        .mail
        .wait_for_nth("jdoe@example.com", "Reset your", 1)
        .await;
    let second = inbox
        .mail
        .wait_for_nth("jdoe@example.com", "Reset your", 2)
        .await;
    // The newer link replaces the older one.
    let old_link = first.link_to("/reset-password/");
    let (_, page) = get_page(&srv, &new_browser(), &old_link).await;
    assert!(!page.contains("Retype password"), "{page}");
    let (status, page) = get_page(&srv, &new_browser(), &second.link_to("/reset-password/")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Retype password"));
}

/// Follows a legacy reset link and sets `NEW_PASSWORD`.
async fn complete_reset(srv: &TestServer, link: &str) {
    let browser = new_browser();
    let (status, page) = get_page(srv, &browser, link).await;
    assert_eq!(status, 200);
    let path = url::Url::parse(link).unwrap().path().to_owned();
    // The old rule is gone: a weak password is refused and changes nothing.
    let resp = submit(
        srv,
        &browser,
        &page,
        &format!("{path}/password"),
        &[("password", "short"), ("password2", "short")],
        "Save new password",
    )
    .await;
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("Retype password"),
        "weak password accepted: {page}"
    );
    let resp = submit(
        srv,
        &browser,
        &page,
        &format!("{path}/password"),
        &[("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)],
        "Save new password",
    )
    .await;
    assert_eq!(resp.status(), 200);
}

async fn a_legacy_patient_resets_then_signs_in_to_a_third_party_app(srv: TestServer, inbox: Inbox) {
    let (_, hash) = legacy_hashes().remove(2);
    import(
        &srv,
        &[line("L1", "jdoe", " JDoe@Example.com ", &hash, &["MRN-1"])],
    )
    .await;
    past_the_cutover(&srv);
    let rp = support::web_client(&srv).await;
    let url = support::authorize_url(&srv, &rp, &[]);

    // Through the app: the login page the authorization request leads to refuses the old
    // password and mails the link, as the portal's own login does.
    let browser = new_browser();
    let resp = browser.get(&url).send().await.unwrap();
    let page = if resp.status().is_redirection() {
        get_page(&srv, &browser, &srv.url(&location(&resp))).await.1
    } else {
        resp.text().await.unwrap()
    };
    assert!(page.contains("action=\"/login\""), "{page}");
    let resp = submit_login(&srv, &browser, &page, "jdoe", OLD_PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert!(!signed_in(&resp));
    let body = resp.text().await.unwrap();
    assert!(body.contains(LEGACY_RESET_SENT));
    assert!(!body.contains(&rp.redirect_uri), "no code for the app");

    let mail = inbox.mail.wait_for("jdoe@example.com", "Reset your").await;
    complete_reset(&srv, &mail.link_to("/reset-password/")).await;
    let id = account_id(&srv, "jdoe").await;
    let account = srv.store().account(&id).await.unwrap().unwrap();
    assert_eq!(account.status, AccountStatus::Active);
    assert!(account.legacy_password_hash.is_none(), "legacy hash erased");
    assert!(account.password_hash.unwrap().starts_with("$argon2id$"));

    // The old password is dead; the new one signs in to the app.
    let (_, session, body) = login_answer(&srv, "jdoe", OLD_PASSWORD).await;
    assert!(!session && body.contains("Incorrect email or password"));
    let browser = new_browser();
    let mut resp = browser.get(&url).send().await.unwrap();
    let mut redirect = None;
    for _ in 0..6 {
        if resp.status().is_redirection() {
            let loc = location(&resp);
            if loc.starts_with(&rp.redirect_uri) {
                redirect = Some(loc);
                break;
            }
            resp = browser
                .get(if loc.starts_with('/') {
                    srv.url(&loc)
                } else {
                    loc
                })
                .send()
                .await
                .unwrap();
            continue;
        }
        let page = resp.text().await.unwrap();
        resp = if page.contains("action=\"/login\"") {
            submit_login(&srv, &browser, &page, "jdoe", NEW_PASSWORD).await
        } else {
            pfid_tests::Form::find(&page, "/authorize/decision")
                .submit_with(&browser, &srv.base, "Allow")
                .await
        };
    }
    let redirect = redirect.expect("the app got its answer");
    let code = query_param(&redirect, "code").expect("a code");
    let (status, tokens) = support::exchange(&srv, &rp, &code, None).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = support::jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], id.as_str());
    let userinfo: serde_json::Value = reqwest::Client::new()
        .get(srv.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], id.as_str());
    // The address as the old portal held it, without the stray spaces.
    assert_eq!(userinfo["email"], "JDoe@Example.com");
    // No more reset mail: the migration is over for this login.
    assert_eq!(legacy_reset_links_sent(&srv, &id), 1);
}

async fn logins_sharing_an_email_are_asked_to_get_a_new_account_and_nothing_else(
    srv: TestServer,
    _inbox: Inbox,
) {
    let (_, hash) = legacy_hashes().remove(0);
    // An active login already holds one address; two legacy logins share another.
    support::account_for(&srv, "newjane", "jane@example.com", None).await;
    import(
        &srv,
        &[
            line(
                "L1",
                "mom",
                "family@example.com",
                &hash,
                &["MRN-1", "MRN-2"],
            ),
            line("L2", "dad", "  FAMILY@example.COM ", &hash, &["MRN-3"]),
            line("L3", "oldjane", "Jane@Example.com", &hash, &["MRN-4"]),
            line("L4", "solo", "solo@example.com", &hash, &["MRN-5"]),
        ],
    )
    .await;
    for username in ["mom", "dad", "oldjane"] {
        let id = account_id(&srv, username).await;
        let account = srv.store().account(&id).await.unwrap().unwrap();
        assert_eq!(account.status, AccountStatus::NeedsNewAccount, "{username}");
    }
    // The active login keeps working and is untouched.
    let (status, _, _) = login_answer(&srv, "newjane", support::PASSWORD).await;
    assert_eq!(status, 303);

    // Before and after the cut-over alike, the right password shows the one message.
    for after_cutover in [false, true] {
        if after_cutover {
            past_the_cutover(&srv);
        }
        for username in ["mom", "dad", "oldjane"] {
            let (status, session, body) = login_answer(&srv, username, OLD_PASSWORD).await;
            assert_eq!(status, 200);
            assert!(!session, "{username}");
            assert!(body.contains(NEEDS_NEW_ACCOUNT), "{username}: {body}");
            assert!(!body.contains(LEGACY_RESET_SENT));
            assert!(!body.contains("Incorrect email or password"));
            // A wrong password learns nothing more than any failure.
            let (_, _, body) = login_answer(&srv, username, "not-the-password9").await;
            assert!(body.contains("Incorrect email or password"));
            assert!(!body.contains(NEEDS_NEW_ACCOUNT));
        }
    }
    // Typing the shared address instead of a username gets the same answer.
    for login in ["family@example.com", " Family@Example.com"] {
        let (status, session, body) = login_answer(&srv, login, OLD_PASSWORD).await;
        assert_eq!(status, 200);
        assert!(!session);
        assert!(body.contains(NEEDS_NEW_ACCOUNT), "{login}: {body}");
        let (_, _, body) = login_answer(&srv, login, "not-the-password9").await;
        assert!(body.contains("Incorrect email or password"));
    }
    // Nothing is mailed to a shared mailbox.
    assert_eq!(
        support_db::count(
            &srv,
            "SELECT COUNT(*) AS n FROM outbound_messages WHERE recipient LIKE '%family%'"
        ),
        0
    );
    // A login with its own address goes through the normal forced reset.
    let (_, _, body) = login_answer(&srv, "solo", OLD_PASSWORD).await;
    assert!(body.contains(LEGACY_RESET_SENT));
}

async fn the_office_reinvites_a_shared_email_login_and_the_records_follow(
    srv: TestServer,
    inbox: Inbox,
) {
    let (_, hash) = legacy_hashes().remove(0);
    import(
        &srv,
        &[
            line("L1", "mom", "family@example.com", &hash, &["MRN-1"]),
            line("L2", "dad", "family@example.com", &hash, &["MRN-2"]),
        ],
    )
    .await;
    past_the_cutover(&srv);
    let record = srv
        .store()
        .patient_by_external_id("MRN-2")
        .await
        .unwrap()
        .expect("the record was created from the line");
    let dad = account_id(&srv, "dad").await;
    let linked = srv.store().linked_patients(&dad).await.unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].0.id, record.id);

    // The office: `pfid invite revoke --patient`, then `pfid invite create` to a new email.
    srv.store()
        .revoke_patient_access(&record.id, srv.now())
        .await
        .unwrap();
    assert!(srv.store().linked_patients(&dad).await.unwrap().is_empty());
    let created = pfid_server::selfservice::create_invitation(
        srv.store(),
        &srv.state.settings,
        &srv.state.codes,
        &record.id,
        Some("dad@example.com"),
        srv.now(),
    )
    .await
    .unwrap();
    srv.state.outbox_wakeup.wake();
    let link = inbox
        .mail
        .wait_for("dad@example.com", "invited")
        .await
        .link_to("/signup/");
    assert_eq!(link, created.url);

    let browser = new_browser();
    let page = verify_with_pin(&srv, &browser, &link, &created.pin).await;
    let resp = create_account(&srv, &browser, &link, &page, Some("dad2")).await;
    assert!(
        resp.status().is_success() || resp.status().is_redirection(),
        "{}",
        resp.text().await.unwrap()
    );
    let (status, session, _) = login_answer(&srv, "dad2", NEW_PASSWORD).await;
    assert_eq!(status, 303);
    assert!(session);
    let new_login = account_id(&srv, "dad2").await;
    assert_ne!(new_login, dad);
    let linked = srv.store().linked_patients(&new_login).await.unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].0.id, record.id, "the same record, nothing lost");
    // The old shared login still only says to ask the provider.
    let (_, session, body) = login_answer(&srv, "dad", OLD_PASSWORD).await;
    assert!(!session && body.contains(NEEDS_NEW_ACCOUNT));
    // The other family login is untouched.
    let mom = account_id(&srv, "mom").await;
    assert_eq!(srv.store().linked_patients(&mom).await.unwrap().len(), 1);
}
