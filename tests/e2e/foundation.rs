//! The foundation: health, headers, limits, metrics, and the store's rules.

use pfid_store::accounts::{NewAccount, Relationship};
use pfid_store::patients::{Address, NewPatient};
use pfid_store::StoreError;
use pfid_tests::{both_backends, TestServer};

use crate::support;

both_backends!(
    health_and_readiness_answer,
    every_response_carries_security_headers,
    unknown_paths_get_a_404_page,
    oversized_bodies_are_refused,
    metrics_are_exposed,
    usernames_are_unique_ignoring_case,
    emails_are_unique_among_live_accounts_only,
    migrations_apply_once_and_revert_cleanly,
    external_ids_are_unique,
    a_login_sees_its_own_and_linked_records,
    linking_an_unknown_record_is_refused_and_writes_nothing,
    concurrent_writes_that_fail_undo_only_their_own_work,
);

async fn health_and_readiness_answer(srv: TestServer) {
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(srv.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        c.get(srv.url("/readyz")).send().await.unwrap().status(),
        200
    );
}

async fn every_response_carries_security_headers(srv: TestServer) {
    for path in ["/login", "/.well-known/openid-configuration", "/nowhere"] {
        let resp = reqwest::get(srv.url(path)).await.unwrap();
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    let login = reqwest::get(srv.url("/login")).await.unwrap();
    assert_eq!(login.headers()["cache-control"], "no-store");
}

async fn unknown_paths_get_a_404_page(srv: TestServer) {
    let resp = reqwest::get(srv.url("/no/such/page")).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("Page not found"));
}

async fn oversized_bodies_are_refused(srv: TestServer) {
    let body = format!("grant_type=authorization_code&code={}", "a".repeat(70_000));
    let resp = reqwest::Client::new()
        .post(srv.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

async fn metrics_are_exposed(srv: TestServer) {
    reqwest::get(srv.url("/healthz")).await.unwrap();
    let text = reqwest::get(srv.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "pfid_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"2xx\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("pfid_http_request_duration_seconds_bucket"));
}

async fn usernames_are_unique_ignoring_case(srv: TestServer) {
    support::account_for(&srv, "Jane.Doe", "jane1@example.com", None).await;
    let hash = srv.state.passwords.hash(support::PASSWORD).unwrap();
    let err = srv
        .store()
        .create_account(
            NewAccount {
                username: " jane.doe".into(),
                email: "other@example.com".into(),
                email_verified: false,
                phone: None,
                password_hash: hash,
                security_question: None,
                security_answer_hash: None,
                own_patient: None,
                linked_patients: vec![],
            },
            srv.now(),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("username"), "{err:?}");
}

fn new_account(username: &str, email: &str, hash: String) -> NewAccount {
    NewAccount {
        username: username.into(),
        email: email.into(),
        email_verified: false,
        phone: None,
        password_hash: hash,
        security_question: None,
        security_answer_hash: None,
        own_patient: None,
        linked_patients: vec![],
    }
}

async fn emails_are_unique_among_live_accounts_only(srv: TestServer) {
    let first = support::account_for(&srv, "first", "Family@Example.com", None).await;
    let hash = srv.state.passwords.hash(support::PASSWORD).unwrap();
    let err = srv
        .store()
        .create_account(
            new_account("second", "  family@example.COM ", hash.clone()),
            srv.now(),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("email"), "{err:?}");
    // The rule holds among live accounts: once the first login is deactivated, the
    // address may serve a new one.
    srv.store()
        .deactivate_account(&first.id, srv.now())
        .await
        .unwrap();
    srv.store()
        .create_account(new_account("second", "family@example.com", hash), srv.now())
        .await
        .unwrap();
}

async fn migrations_apply_once_and_revert_cleanly(srv: TestServer) {
    // The server migrated at start; a second run applies nothing.
    assert_eq!(srv.store().migrate().await.unwrap(), 0);
    let reverted = srv.store().revert_all_migrations().await.unwrap();
    assert!(reverted > 0);
    assert_eq!(srv.store().migrate().await.unwrap(), reverted);
}

async fn external_ids_are_unique(srv: TestServer) {
    let new = NewPatient {
        external_id: Some("EHR-1".into()),
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
        email: None,
        phone: None,
        address: Address::default(),
    };
    srv.store()
        .create_patient(new.clone(), srv.now())
        .await
        .unwrap();
    let err = srv
        .store()
        .create_patient(new, srv.now())
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("external_id"), "{err:?}");
    assert!(srv
        .store()
        .patient_by_external_id(" EHR-1 ")
        .await
        .unwrap()
        .is_some());
}

async fn a_login_sees_its_own_and_linked_records(srv: TestServer) {
    let me = support::patient(&srv, "Maria", "Garcia").await;
    let child = support::patient(&srv, "Leo", "Garcia").await;
    let hash = srv.state.passwords.hash(support::PASSWORD).unwrap();
    let mut new = new_account("maria", "maria@example.com", hash);
    new.own_patient = Some(me.id.clone());
    new.linked_patients = vec![(child.id.clone(), Relationship::Guardian)];
    let account = srv.store().create_account(new, srv.now()).await.unwrap();
    let records = srv.store().linked_patients(&account.id).await.unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].0.id, me.id);
    assert_eq!(records[0].1, Relationship::Own);
    assert_eq!(records[1].1, Relationship::Guardian);
    assert_eq!(
        srv.store()
            .own_patient(&account.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        me.id
    );
}

async fn linking_an_unknown_record_is_refused_and_writes_nothing(srv: TestServer) {
    let hash = srv.state.passwords.hash(support::PASSWORD).unwrap();
    let mut new = new_account("ghost", "ghost@example.com", hash);
    new.own_patient = Some("no-such-record".into());
    let err = srv
        .store()
        .create_account(new, srv.now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(srv
        .store()
        .find_account_for_login("ghost")
        .await
        .unwrap()
        .is_none());
}

/// On SQLite, writes that arrive together commit together (one transaction, a savepoint
/// each): a failing write must undo only its own rows, whatever else shares its commit.
async fn concurrent_writes_that_fail_undo_only_their_own_work(srv: TestServer) {
    let hash = srv.state.passwords.hash(support::PASSWORD).unwrap();
    let record = |external_id: String| NewPatient {
        external_id: Some(external_id),
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
        email: None,
        phone: None,
        address: Address::default(),
    };
    let mut writes = Vec::new();
    for i in 0..60 {
        let store = srv.store().clone();
        let now = srv.now();
        let hash = hash.clone();
        writes.push(tokio::spawn(async move {
            match i % 3 {
                // Every third write creates a record under one shared external id: only
                // one of them may win.
                0 => store
                    .create_patient(record("SHARED".into()), now)
                    .await
                    .map(|_| ()),
                // Every third inserts a login, then fails on an unknown record: the
                // login it inserted must not survive.
                1 => {
                    let mut new =
                        new_account(&format!("ghost{i}"), &format!("g{i}@example.com"), hash);
                    new.own_patient = Some("no-such-record".into());
                    store.create_account(new, now).await.map(|_| ())
                }
                _ => store
                    .create_patient(record(format!("OWN-{i}")), now)
                    .await
                    .map(|_| ()),
            }
        }));
    }
    let mut outcomes = Vec::new();
    for w in writes {
        outcomes.push(w.await.unwrap());
    }
    let by_kind = |kind: usize| -> Vec<&Result<(), StoreError>> {
        outcomes
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == kind)
            .map(|(_, o)| o)
            .collect()
    };
    let shared = by_kind(0);
    assert_eq!(shared.iter().filter(|o| o.is_ok()).count(), 1);
    assert!(shared
        .iter()
        .filter_map(|o| o.as_ref().err())
        .all(|e| e.is_conflict_on("external_id")));
    assert!(by_kind(1)
        .iter()
        .all(|o| matches!(o, Err(StoreError::Invalid(_)))));
    assert!(by_kind(2).iter().all(|o| o.is_ok()), "{outcomes:?}");
    for i in (1..60).step_by(3) {
        assert!(srv
            .store()
            .find_account_for_login(&format!("ghost{i}"))
            .await
            .unwrap()
            .is_none());
    }
    for i in (2..60).step_by(3) {
        assert!(srv
            .store()
            .patient_by_external_id(&format!("OWN-{i}"))
            .await
            .unwrap()
            .is_some());
    }
}

#[test]
fn every_migration_exists_for_both_backends() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let names = |backend: &str| {
        let mut v: Vec<String> = std::fs::read_dir(root.join(backend))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    };
    let (sqlite, postgres) = (names("sqlite"), names("postgres"));
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must hold the same folders"
    );
    for name in &sqlite {
        for backend in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                assert!(
                    root.join(backend).join(name).join(file).exists(),
                    "{backend}/{name}/{file}"
                );
            }
        }
    }
}
