//! The `pfid` command line end to end: the real binary against a fresh database, on
//! SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use pfid_tests::{config_path, Backend, TestDb};
use serde_json::Value;

struct Pfid {
    db: TestDb,
}

impl Pfid {
    fn new(backend: Backend) -> Option<Pfid> {
        Some(Pfid {
            db: TestDb::new(backend)?,
        })
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pfid"));
        cmd.arg("--config")
            .arg(config_path("test.toml"))
            .env("PFID__DATABASE__URL", &self.db.url)
            .env("PFID__SERVER__DATA_DIR", self.db.dir.path().join("data"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run pfid")
    }

    /// Runs a command that must succeed and print one JSON object.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "pfid {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            stdout.trim().lines().count(),
            1,
            "one JSON line on stdout: {stdout}"
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
    }

    /// Runs a command that must fail with one line on stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "pfid {args:?} should have failed");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.trim().is_empty());
        stderr
    }
}

macro_rules! both {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    if let Some(p) = super::Pfid::new(pfid_tests::Backend::Sqlite) { super::$name(p) }
                }
                #[test]
                fn postgres() {
                    if let Some(p) = super::Pfid::new(pfid_tests::Backend::Postgres) { super::$name(p) }
                }
            }
        )+
    };
}

both!(
    db_migrate_reports_what_it_applied,
    account_create_refuses_a_username_differing_only_in_case,
    account_create_refuses_a_weak_password_and_writes_nothing,
    patient_create_prints_its_id_and_refuses_a_duplicate_external_id,
    patient_create_refuses_a_bad_birth_date,
    client_create_prints_credentials_once,
    client_review_commands_change_status,
    keys_rotate_prints_the_new_kids,
);

fn db_migrate_reports_what_it_applied(p: Pfid) {
    let first = p.json(&["db", "migrate", "--json"]);
    assert!(first["applied"].as_u64().unwrap() > 0);
    assert_eq!(
        p.json(&["db", "migrate", "--json"]),
        serde_json::json!({"applied": 0})
    );
}

fn account_create_refuses_a_username_differing_only_in_case(p: Pfid) {
    let a = p.json(&[
        "account",
        "create",
        "--username",
        "JaneDoe",
        "--email",
        "jane@example.com",
        "--password",
        "Correct-Horse-42",
        "--json",
    ]);
    assert!(a["account_id"].as_str().is_some_and(|s| !s.is_empty()));
    let err = p.fails(&[
        "account",
        "create",
        "--username",
        "janedoe",
        "--email",
        "other@example.com",
        "--password",
        "Correct-Horse-42",
        "--json",
    ]);
    assert!(err.contains("username is already taken"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
    let err = p.fails(&[
        "account",
        "create",
        "--username",
        "someone",
        "--email",
        " JANE@example.com",
        "--password",
        "Correct-Horse-42",
    ]);
    assert!(err.contains("email"), "{err}");
}

fn account_create_refuses_a_weak_password_and_writes_nothing(p: Pfid) {
    let err = p.fails(&[
        "account",
        "create",
        "--username",
        "jane",
        "--email",
        "jane@example.com",
        "--password",
        "password",
    ]);
    assert!(err.contains("upper-case"), "{err}");
    // Nothing was written: the same username is free.
    p.json(&[
        "account",
        "create",
        "--username",
        "jane",
        "--email",
        "jane@example.com",
        "--password",
        "Correct-Horse-42",
        "--json",
    ]);
    let err = p.fails(&[
        "account",
        "create",
        "--username",
        "x y",
        "--email",
        "a@example.com",
        "--password",
        "Correct-Horse-42",
    ]);
    assert!(err.contains("--username"), "{err}");
    let err = p.fails(&[
        "account",
        "create",
        "--username",
        "ok",
        "--email",
        "not-an-email",
        "--password",
        "Correct-Horse-42",
    ]);
    assert!(
        err.contains("--email") || err.contains("--username"),
        "{err}"
    );
}

fn patient_create_prints_its_id_and_refuses_a_duplicate_external_id(p: Pfid) {
    let args = [
        "patient",
        "create",
        "--first-name",
        "Ann",
        "--last-name",
        "Lee",
        "--birth-date",
        "1990-05-06",
        "--email",
        "ann@example.com",
        "--phone",
        "555-010-3000",
        "--external-id",
        "EHR-77",
        "--json",
    ];
    let first = p.json(&args);
    assert!(first["patient_id"].is_string());
    let err = p.fails(&args);
    assert!(err.contains("external-id"), "{err}");
    // The record can be the holder's own record of a login.
    let id = first["patient_id"].as_str().unwrap();
    p.json(&[
        "account",
        "create",
        "--username",
        "ann",
        "--email",
        "ann@example.com",
        "--password",
        "Correct-Horse-42",
        "--patient",
        id,
        "--json",
    ]);
    let err = p.fails(&[
        "account",
        "create",
        "--username",
        "bob",
        "--email",
        "bob@example.com",
        "--password",
        "Correct-Horse-42",
        "--patient",
        "no-such-id",
    ]);
    assert!(err.contains("no-such-id"), "{err}");
}

fn patient_create_refuses_a_bad_birth_date(p: Pfid) {
    for date in ["1990-13-01", "yesterday", "2999-01-01"] {
        let err = p.fails(&[
            "patient",
            "create",
            "--first-name",
            "A",
            "--last-name",
            "B",
            "--birth-date",
            date,
        ]);
        assert!(err.contains("birth"), "{date}: {err}");
    }
}

fn client_create_prints_credentials_once(p: Pfid) {
    let c = p.json(&[
        "client",
        "create",
        "--name",
        "Tracker",
        "--redirect-uri",
        "https://tracker.example/cb",
        "--json",
    ]);
    assert!(c["client_id"].is_string());
    assert!(
        c["client_secret"].as_str().unwrap().len() >= 43,
        "256 random bits"
    );
    let public = p.json(&[
        "client",
        "create",
        "--name",
        "Mobile",
        "--public",
        "--redirect-uri",
        "com.example.app:/cb",
        "--json",
    ]);
    assert!(public.get("client_secret").is_none(), "{public}");
    let err = p.fails(&[
        "client",
        "create",
        "--name",
        "Bad",
        "--redirect-uri",
        "https://x.example/cb#frag",
    ]);
    assert!(err.contains("fragment"), "{err}");
    let err = p.fails(&[
        "client",
        "create",
        "--name",
        "Bad",
        "--redirect-uri",
        "not a uri",
    ]);
    assert!(err.contains("--redirect-uri"), "{err}");
    let list = p.json(&["client", "list", "--json"]);
    assert_eq!(list["clients"].as_array().unwrap().len(), 2);
    assert!(
        !list
            .to_string()
            .contains(c["client_secret"].as_str().unwrap()),
        "secrets are never shown again"
    );
}

fn client_review_commands_change_status(p: Pfid) {
    let c = p.json(&[
        "client",
        "create",
        "--name",
        "Tracker",
        "--redirect-uri",
        "https://tracker.example/cb",
        "--json",
    ]);
    let id = c["client_id"].as_str().unwrap();
    assert_eq!(
        p.json(&["client", "suspend", id, "--json"])["status"],
        "suspended"
    );
    assert_eq!(
        p.json(&["client", "list", "--status", "suspended", "--json"])["clients"][0]["client_id"],
        id
    );
    assert_eq!(
        p.json(&[
            "client",
            "reject",
            id,
            "--reason",
            "no privacy policy",
            "--json"
        ])["status"],
        "rejected"
    );
    assert_eq!(
        p.json(&["client", "approve", id, "--json"])["status"],
        "approved"
    );
    let err = p.fails(&["client", "approve", "nope"]);
    assert!(err.contains("no client"), "{err}");
    // An id that begins with '-' (older ids could) is an id, not an option.
    let err = p.fails(&["client", "suspend", "-lh2KRAUWtSa_s030Pp9fA", "--json"]);
    assert!(err.contains("no client"), "{err}");
}

fn keys_rotate_prints_the_new_kids(p: Pfid) {
    p.json(&["db", "migrate", "--json"]);
    let out = p.json(&["keys", "rotate", "--json"]);
    assert_eq!(out["kids"].as_array().unwrap().len(), 2);
}

#[test]
fn configuration_errors_name_the_key() {
    let Some(p) = Pfid::new(Backend::Sqlite) else {
        return;
    };
    let out = p
        .command()
        .args(["db", "migrate"])
        .env("PFID__SERVER__BND", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("server.bnd"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = p
        .command()
        .args(["db", "migrate"])
        .env("PFID__DATABASE__URL", "mysql://db")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("database.url"));

    let out = p
        .command()
        .args(["db", "migrate"])
        .env("PFID__DATABASE__POOL_SIZE", "lots")
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("database.pool_size"));

    let dir = tempfile_dir();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[server]\nbind = \"127.0.0.1:1\"\nsurprise = true\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pfid"))
        .args(["--config", file.to_str().unwrap(), "db", "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("server.surprise"));
}

#[test]
fn an_unreachable_postgres_stops_start_up_with_one_line() {
    let Some(p) = Pfid::new(Backend::Sqlite) else {
        return;
    };
    let out = p
        .command()
        .args(["db", "migrate"])
        .env("PFID__DATABASE__URL", "postgres://nobody@127.0.0.1:1/none")
        .env("PFID__DATABASE__CONNECT_TIMEOUT", "2s")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("database.url"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pfid-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn serve_answers_health_and_readiness_then_stops_on_sigterm() {
    let Some(p) = Pfid::new(Backend::Sqlite) else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = p
        .command()
        .env("PFID__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("PFID__SERVER__ISSUER", format!("http://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ready = rt.block_on(async {
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await {
                if r.status() == 200 {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    });
    assert!(ready, "pfid serve never became ready");
    let health = rt.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(health, 200);
    assert!(
        p.db.dir.path().join("data/encryption.key").exists(),
        "a laptop key is generated into the data folder"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

both!(
    invite_create_prints_the_link_and_pin_and_emails_the_link,
    invite_revoke_ends_access_and_open_invitations,
    account_create_refuses_a_common_password,
);

fn new_patient(p: &Pfid, email: Option<&str>) -> String {
    let mut args = vec![
        "patient",
        "create",
        "--first-name",
        "Jane",
        "--last-name",
        "Doe",
        "--birth-date",
        "1980-04-02",
        "--phone",
        "555-010-2000",
        "--json",
    ];
    if let Some(e) = email {
        args.extend(["--email", e]);
    }
    p.json(&args)["patient_id"].as_str().unwrap().to_owned()
}

fn invite_create_prints_the_link_and_pin_and_emails_the_link(p: Pfid) {
    let id = new_patient(&p, Some("jane@example.com"));
    let before = chrono::Utc::now();
    let out = p.json(&["invite", "create", "--patient", &id, "--json"]);
    let url = out["invite_url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:8080/signup/"), "{url}");
    let expires =
        chrono::DateTime::parse_from_rfc3339(out["expires_at"].as_str().unwrap()).unwrap();
    let hours = (expires.with_timezone(&chrono::Utc) - before).num_minutes() as f64 / 60.0;
    assert!((47.9..48.1).contains(&hours), "valid 48 hours: {hours}");
    let pin = out["pin"].as_str().unwrap();
    assert!(pin.len() == 6 && pin.chars().all(|c| c.is_ascii_digit()));
    // Without a mail server the email lands in the outbox folder, link and all.
    let outbox = p.db.dir.path().join("data/outbox");
    let eml = std::fs::read_dir(&outbox)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("an .eml file");
    let mail = pfid_tests::mail::Mail {
        from: String::new(),
        to: vec![],
        data: eml,
    };
    assert_eq!(mail.header("To").as_deref(), Some("jane@example.com"));
    assert_eq!(mail.link_to("/signup/"), url);
    // Another address may be given; a record without email needs one.
    let other = p.json(&[
        "invite",
        "create",
        "--patient",
        &id,
        "--email",
        "guardian@example.com",
        "--json",
    ]);
    assert_ne!(other["invite_url"], out["invite_url"]);
    let bare = new_patient(&p, None);
    let err = p.fails(&["invite", "create", "--patient", &bare, "--json"]);
    assert!(err.contains("--email"), "{err}");
    let err = p.fails(&["invite", "create", "--patient", "no-such-record", "--json"]);
    assert!(err.contains("no patient record"), "{err}");
}

fn invite_revoke_ends_access_and_open_invitations(p: Pfid) {
    let id = new_patient(&p, Some("jane@example.com"));
    p.json(&[
        "account",
        "create",
        "--username",
        "jane",
        "--email",
        "jane@example.com",
        "--password",
        "Correct-Horse-42",
        "--patient",
        &id,
        "--json",
    ]);
    p.json(&[
        "invite",
        "create",
        "--patient",
        &id,
        "--email",
        "x@example.com",
        "--json",
    ]);
    assert_eq!(
        p.json(&["invite", "revoke", "--patient", &id, "--json"]),
        serde_json::json!({"revoked": 2})
    );
    assert_eq!(
        p.json(&["invite", "revoke", "--patient", &id, "--json"]),
        serde_json::json!({"revoked": 0})
    );
    let err = p.fails(&["invite", "revoke", "--patient", "nope", "--json"]);
    assert!(err.contains("no patient record"), "{err}");
}

fn account_create_refuses_a_common_password(p: Pfid) {
    let err = p.fails(&[
        "account",
        "create",
        "--username",
        "jane",
        "--email",
        "jane@example.com",
        "--password",
        "Password1",
    ]);
    assert!(err.contains("most used passwords"), "{err}");
}

// ---------------------------------------------------------------- developers' apps

both!(
    registration_token_create_prints_a_live_initial_access_token,
    client_list_shows_the_apps_waiting_for_review,
);

/// Opens the test database directly, to check what a command wrote.
fn open_store(p: &Pfid) -> (tokio::runtime::Runtime, pfid_store::Store) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt
        .block_on(pfid_store::Store::connect(&pfid_store::StoreConfig {
            url: pfid_store::DatabaseUrl::parse(&p.db.url).unwrap(),
            pool_size: 1,
            connect_timeout: Duration::from_secs(5),
        }))
        .unwrap();
    (rt, store)
}

fn registration_token_create_prints_a_live_initial_access_token(p: Pfid) {
    let out = p.json(&[
        "registration-token",
        "create",
        "--expires-in",
        "2h",
        "--json",
    ]);
    assert_eq!(out.as_object().unwrap().len(), 1, "{out}");
    let token = out["initial_access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pfiat_") && token.len() >= 49);
    let (rt, store) = open_store(&p);
    let now = chrono::Utc::now();
    let live = rt
        .block_on(store.live_initial_access_token(&token, now))
        .unwrap()
        .expect("the token works now");
    assert!(live.developer_id.is_none(), "an operator's token");
    assert!(rt
        .block_on(store.live_initial_access_token(&token, now + chrono::Duration::hours(3)))
        .unwrap()
        .is_none());
    // Without --expires-in it does not expire.
    let forever = p.json(&["registration-token", "create", "--json"]);
    let forever = forever["initial_access_token"].as_str().unwrap();
    assert!(rt
        .block_on(store.live_initial_access_token(forever, now + chrono::Duration::days(3650)))
        .unwrap()
        .is_some());
    let err = p.fails(&["registration-token", "create", "--expires-in", "soon"]);
    assert!(err.contains("--expires-in"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
    let human = p.run(&["registration-token", "create", "--expires-in", "1d"]);
    assert!(human.status.success());
    assert!(String::from_utf8(human.stdout).unwrap().contains("pfiat_"));
}

fn client_list_shows_the_apps_waiting_for_review(p: Pfid) {
    p.json(&["db", "migrate", "--json"]);
    let approved = p.json(&[
        "client",
        "create",
        "--name",
        "Operator App",
        "--redirect-uri",
        "https://op.example/cb",
        "--json",
    ]);
    let (rt, store) = open_store(&p);
    let created = rt
        .block_on(store.create_client(
            pfid_store::clients::NewClient {
                name: "Portal App".into(),
                description: None,
                logo_uri: None,
                client_uri: None,
                policy_uri: None,
                tos_uri: None,
                app_type: pfid_store::clients::AppType::Web,
                auth_method: pfid_store::clients::AuthMethod::ClientSecretBasic,
                redirect_uris: vec!["https://portal.example/cb".into()],
                post_logout_redirect_uris: vec![],
                grant_types: vec!["authorization_code".into()],
                scopes: vec!["openid".into()],
                jwks: None,
                jwks_uri: None,
                id_token_signed_response_alg: "ES256".into(),
                backchannel_logout_uri: None,
                require_par: false,
                status: pfid_store::clients::ClientStatus::Review,
                developer_id: None,
            },
            chrono::Utc::now(),
        ))
        .unwrap();
    let id = created.client.id.as_str();
    let review = p.json(&["client", "list", "--status", "review", "--json"]);
    let list = review["clients"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{review}");
    assert_eq!(list[0]["client_id"], id);
    assert_eq!(list[0]["status"], "review");
    assert_eq!(list[0]["name"], "Portal App");
    assert_eq!(
        p.json(&["client", "approve", id, "--json"]),
        serde_json::json!({"client_id": id, "status": "approved"})
    );
    let review = p.json(&["client", "list", "--status", "review", "--json"]);
    assert!(review["clients"].as_array().unwrap().is_empty());
    let all = p.json(&["client", "list", "--status", "approved", "--json"]);
    let ids: Vec<&str> = all["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&id) && ids.contains(&approved["client_id"].as_str().unwrap()));
    let out = p.json(&[
        "client",
        "reject",
        id,
        "--reason",
        "no privacy policy",
        "--json",
    ]);
    assert_eq!(out["status"], "rejected");
    let c = rt.block_on(store.client(id)).unwrap().unwrap();
    assert_eq!(c.status_reason.as_deref(), Some("no privacy policy"));
}

// ---------------------------------------------------------------- legacy import

both!(
    legacy_import_flags_shared_emails_and_reports_bad_lines_by_number,
    legacy_reimport_changes_nothing_and_a_changed_line_updates_its_account,
    legacy_dry_run_writes_nothing,
    legacy_import_flags_earlier_holders_of_an_email_but_not_active_logins,
    legacy_reimport_keeps_a_login_that_finished_its_reset,
);

const BCRYPT: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
const PBKDF2: &str =
    "$pbkdf2-sha256$i=600000,l=32$c2FsdHNhbHRzYWx0$K4Iq3n6Ov0rHAM8Tn58vaE3uA/0fkXbgYgPdqq0n8kA";

/// One export line as JSON text.
fn legacy_line(id: &str, username: &str, email: &str, hash: &str, patients: &[&str]) -> String {
    serde_json::json!({
        "legacy_id": id,
        "username": username,
        "email": email,
        "phone": "555-010-2000",
        "birth_date": "1980-02-03",
        "password_hash": hash,
        "security_question": "What was the name of your first pet?",
        "security_answer_hash": BCRYPT,
        "patient_ids": patients,
        "created_at": "2016-05-04T10:00:00Z",
    })
    .to_string()
}

fn write_export(p: &Pfid, name: &str, lines: &[String]) -> String {
    let path = p.db.dir.path().join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.display().to_string()
}

fn legacy_status(
    rt: &tokio::runtime::Runtime,
    store: &pfid_store::Store,
    username: &str,
) -> String {
    let a = rt
        .block_on(store.find_account_for_login(username))
        .unwrap()
        .unwrap_or_else(|| panic!("no account {username}"));
    a.status.as_str().to_owned()
}

fn legacy_import_flags_shared_emails_and_reports_bad_lines_by_number(p: Pfid) {
    let known = p.json(&[
        "patient",
        "create",
        "--first-name",
        "Jane",
        "--last-name",
        "Doe",
        "--birth-date",
        "1980-02-03",
        "--external-id",
        "EXT-1",
        "--json",
    ]);
    let lines = vec![
        legacy_line("L1", "janedoe", "Dup@Example.com", BCRYPT, &["EXT-9"]),
        legacy_line("L2", "johndoe", "  dup@example.COM ", PBKDF2, &["EXT-8"]),
        "{\"legacy_id\": \"L3\", \"username\": ".to_owned(),
        legacy_line("L4", "nomail", "x@example.com", BCRYPT, &[]).replace("\"email\"", "\"e_mail\""),
        legacy_line("L5", "md5user", "md5@example.com", "$1$saltsalt$abcdefghijklmnopqrstuv", &[]),
        legacy_line("L6", "baddate", "bd@example.com", BCRYPT, &[]).replace("1980-02-03", "1980-02-31"),
        legacy_line("L7", "family", "family@example.com", BCRYPT, &["EXT-1", "EXT-2", "EXT-3"]),
        String::new(),
        legacy_line("L8", "argon", "argon@example.com", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$K4Iq3n6Ov0rHAM8Tn58vaE3uA/0fkXbgYgPdqq0n8kA", &["EXT-2"]),
    ];
    let file = write_export(&p, "export.jsonl", &lines);
    let report = p.json(&["legacy", "import", &file, "--json"]);
    assert_eq!(report["imported"], 4, "{report}");
    assert_eq!(report["duplicate_email_accounts"], 2, "{report}");
    assert_eq!(report["skipped"], 4, "{report}");
    let errors = report["errors"].as_array().unwrap();
    let lines_with_errors: Vec<u64> = errors.iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines_with_errors, vec![3, 4, 5, 6], "{report}");
    let reason = |i: usize| errors[i]["reason"].as_str().unwrap().to_owned();
    assert!(reason(0).contains("JSON"), "{}", reason(0));
    assert!(reason(1).contains("missing field `email`"), "{}", reason(1));
    assert!(reason(2).contains("unknown hash format"), "{}", reason(2));
    assert!(reason(3).contains("birth_date"), "{}", reason(3));
    assert_eq!(
        p.json(&["legacy", "report", "--json"]),
        serde_json::json!({"must_reset": 2, "reset_done": 0, "needs_new_account": 2})
    );

    let (rt, store) = open_store(&p);
    assert_eq!(legacy_status(&rt, &store, "janedoe"), "needs_new_account");
    assert_eq!(legacy_status(&rt, &store, "johndoe"), "needs_new_account");
    let family = rt
        .block_on(store.find_account_for_login("family"))
        .unwrap()
        .unwrap();
    assert_eq!(family.status.as_str(), "must_reset");
    assert_eq!(family.legacy_password_hash.as_deref(), Some(BCRYPT));
    assert!(family.password_hash.is_none());
    // The record pfid knew is reused; the others are created, keyed by their ids, once.
    let linked = rt.block_on(store.linked_patients(&family.id)).unwrap();
    let mut ids: Vec<String> = linked
        .iter()
        .map(|(r, _)| r.external_id.clone().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["EXT-1", "EXT-2", "EXT-3"]);
    let own = rt.block_on(store.own_patient(&family.id)).unwrap().unwrap();
    assert_eq!(own.id, known["patient_id"].as_str().unwrap());
    let argon = rt
        .block_on(store.find_account_for_login("argon"))
        .unwrap()
        .unwrap();
    let argon_own = rt.block_on(store.own_patient(&argon.id)).unwrap().unwrap();
    assert_eq!(argon_own.external_id.as_deref(), Some("EXT-2"));
    assert!(
        linked.iter().any(|(r, _)| r.id == argon_own.id),
        "one EXT-2 record"
    );
    let human = p.run(&["legacy", "report"]);
    assert!(String::from_utf8(human.stdout)
        .unwrap()
        .contains("needs new account: 2"));
}

fn legacy_reimport_changes_nothing_and_a_changed_line_updates_its_account(p: Pfid) {
    let mut lines = vec![
        legacy_line("L1", "alice", "alice@example.com", BCRYPT, &["A1"]),
        legacy_line("L2", "bob", "bob@example.com", PBKDF2, &["B1", "K1"]),
        legacy_line("L3", "carol", "Bob@Example.com", BCRYPT, &["C1", "K1"]),
    ];
    let file = write_export(&p, "first.jsonl", &lines);
    let first = p.json(&["legacy", "import", &file, "--json"]);
    assert_eq!(
        first,
        serde_json::json!({"imported": 3, "duplicate_email_accounts": 2, "skipped": 0, "errors": []})
    );
    let again = p.json(&["legacy", "import", &file, "--json"]);
    assert_eq!(
        again,
        serde_json::json!({"imported": 0, "duplicate_email_accounts": 2, "skipped": 3, "errors": []})
    );
    // Alice's phone changed in the old portal; Carol fixed her email, so Bob's address
    // is his alone again: statuses are worked out afresh for every line of the file.
    lines[0] = lines[0].replace("555-010-2000", "555-010-9999");
    lines[2] = legacy_line("L3", "carol", "carol@example.com", BCRYPT, &["C1", "K1"]);
    let file = write_export(&p, "second.jsonl", &lines);
    let changed = p.json(&["legacy", "import", &file, "--json"]);
    assert_eq!(
        changed,
        serde_json::json!({"imported": 3, "duplicate_email_accounts": 0, "skipped": 0, "errors": []})
    );
    let (rt, store) = open_store(&p);
    let alice = rt
        .block_on(store.find_account_for_login("alice"))
        .unwrap()
        .unwrap();
    assert_eq!(alice.phone.as_deref(), Some("555-010-9999"));
    assert_eq!(legacy_status(&rt, &store, "carol"), "must_reset");
    assert_eq!(legacy_status(&rt, &store, "bob"), "must_reset");
    // Only Alice's line changes now.
    lines[0] = lines[0].replace("555-010-9999", "555-010-7777");
    let file = write_export(&p, "third.jsonl", &lines);
    let one = p.json(&["legacy", "import", &file, "--json"]);
    assert_eq!(one["imported"], 1, "{one}");
    assert_eq!(one["skipped"], 2, "{one}");
    assert_eq!(
        p.json(&["legacy", "import", &file, "--json"])["imported"],
        0
    );
}

fn legacy_dry_run_writes_nothing(p: Pfid) {
    let lines = vec![
        legacy_line("L1", "alice", "same@example.com", BCRYPT, &["A1"]),
        legacy_line("L2", "bob", "SAME@example.com", PBKDF2, &["B1"]),
        legacy_line("L3", "carol", "carol@example.com", BCRYPT, &["C1"]),
        "not json".to_owned(),
    ];
    let file = write_export(&p, "export.jsonl", &lines);
    let dry = p.json(&["legacy", "import", &file, "--dry-run", "--json"]);
    assert_eq!(dry["imported"], 3, "{dry}");
    assert_eq!(dry["duplicate_email_accounts"], 2, "{dry}");
    assert_eq!(dry["errors"][0]["line"], 4, "{dry}");
    assert_eq!(
        p.json(&["legacy", "report", "--json"]),
        serde_json::json!({"must_reset": 0, "reset_done": 0, "needs_new_account": 0})
    );
    let (rt, store) = open_store(&p);
    assert!(rt
        .block_on(store.patient_by_external_id("A1"))
        .unwrap()
        .is_none());
    assert!(rt
        .block_on(store.find_account_for_login("alice"))
        .unwrap()
        .is_none());
    // The real run then does what the dry run announced.
    let real = p.json(&["legacy", "import", &file, "--json"]);
    assert_eq!(real, dry);
}

fn legacy_import_flags_earlier_holders_of_an_email_but_not_active_logins(p: Pfid) {
    let file = write_export(
        &p,
        "first.jsonl",
        &[legacy_line(
            "L1",
            "alice",
            "alice@example.com",
            BCRYPT,
            &["A1"],
        )],
    );
    p.json(&["legacy", "import", &file, "--json"]);
    p.json(&[
        "account",
        "create",
        "--username",
        "newbie",
        "--email",
        "newbie@example.com",
        "--password",
        "Correct-Horse-42",
        "--json",
    ]);
    // A later file brings a second login for Alice's address, and one for the address
    // an active (new-system) login already holds.
    let file = write_export(
        &p,
        "second.jsonl",
        &[
            legacy_line("L2", "alice2", " ALICE@example.com", PBKDF2, &["A2"]),
            legacy_line("L3", "newbie-old", "Newbie@Example.com", BCRYPT, &["N1"]),
        ],
    );
    let report = p.json(&["legacy", "import", &file, "--json"]);
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["duplicate_email_accounts"], 3, "{report}");
    let (rt, store) = open_store(&p);
    assert_eq!(legacy_status(&rt, &store, "alice"), "needs_new_account");
    assert_eq!(legacy_status(&rt, &store, "alice2"), "needs_new_account");
    assert_eq!(
        legacy_status(&rt, &store, "newbie-old"),
        "needs_new_account"
    );
    assert_eq!(legacy_status(&rt, &store, "newbie"), "active");
    assert_eq!(
        p.json(&["legacy", "report", "--json"]),
        serde_json::json!({"must_reset": 0, "reset_done": 0, "needs_new_account": 3})
    );
}

fn legacy_reimport_keeps_a_login_that_finished_its_reset(p: Pfid) {
    let lines = vec![
        legacy_line("L1", "alice", "alice@example.com", BCRYPT, &["A1"]),
        legacy_line("L2", "bob", "bob@example.com", BCRYPT, &["B1"]),
    ];
    let file = write_export(&p, "export.jsonl", &lines);
    p.json(&["legacy", "import", &file, "--json"]);
    // Alice resets her password the way the reset page leaves a legacy login.
    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdG5ld3NhbHQ$K4Iq3n6Ov0rHAM8Tn58vaE3uA/0fkXbgYgPdqq0n8kA";
    execute(
        &p,
        &format!(
            "UPDATE accounts SET status = 'active', password_hash = '{new_hash}', \
             legacy_password_hash = NULL WHERE legacy_id = 'L1'"
        ),
    );
    // The old portal's copy of Alice changed too (and now shares an address with
    // Bob's new line): her new password, status and email stay; Bob is flagged.
    let changed = vec![
        legacy_line(
            "L1",
            "alice",
            "alice-old@example.com",
            PBKDF2,
            &["A1", "A9"],
        ),
        legacy_line("L2", "bob", "alice@example.com", BCRYPT, &["B1"]),
    ];
    let file = write_export(&p, "changed.jsonl", &changed);
    let report = p.json(&["legacy", "import", &file, "--json"]);
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["skipped"], 1, "{report}");
    let (rt, store) = open_store(&p);
    let alice = rt
        .block_on(store.find_account_for_login("alice"))
        .unwrap()
        .unwrap();
    assert_eq!(alice.status.as_str(), "active");
    assert_eq!(alice.password_hash.as_deref(), Some(new_hash));
    assert!(alice.legacy_password_hash.is_none());
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(legacy_status(&rt, &store, "bob"), "needs_new_account");
    assert_eq!(
        p.json(&["legacy", "report", "--json"]),
        serde_json::json!({"must_reset": 0, "reset_done": 1, "needs_new_account": 1})
    );
}

/// Runs one statement on the test database (a state no command produces, such as a
/// legacy login after its reset).
fn execute(p: &Pfid, sql: &str) {
    use diesel::{Connection, RunQueryDsl};
    match p.db.backend {
        pfid_tests::Backend::Sqlite => {
            let path = p.db.url.trim_start_matches("sqlite://").to_owned();
            let mut c = diesel::SqliteConnection::establish(&path).unwrap();
            diesel::sql_query(sql).execute(&mut c).unwrap();
        }
        pfid_tests::Backend::Postgres => {
            let mut c = diesel::PgConnection::establish(&p.db.url).unwrap();
            diesel::sql_query(sql).execute(&mut c).unwrap();
        }
    }
}
