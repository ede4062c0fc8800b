//! Expired rows are deleted, and nothing that still works is.

use chrono::Duration;
use pfid_store::housekeeping::Retention;
use pfid_tests::{both_backends, TestServer};

use crate::selfservice::support_db;
use crate::support;
use crate::token_support::{introspect, refresh, sign_in};

both_backends!(expired_codes_tokens_and_sessions_are_deleted_and_live_ones_kept);

fn rows(srv: &TestServer, table: &str) -> i64 {
    support_db::count(srv, &format!("SELECT COUNT(*) AS n FROM {table}"))
}

async fn expired_codes_tokens_and_sessions_are_deleted_and_live_ones_kept(srv: TestServer) {
    support::account(&srv, "jane").await;
    let rp = support::web_client(&srv).await;
    let tokens = sign_in(&srv, &rp, "jane", "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Nothing has expired yet: nothing goes.
    let purged = srv
        .store()
        .purge_expired(srv.now(), Retention::default())
        .await
        .unwrap();
    assert_eq!(
        purged.authorization_codes + purged.tokens + purged.sessions,
        0
    );
    assert_eq!(introspect(&srv, &rp, &access).await["active"], true);

    // A day and more later the code and the access token are gone; the refresh token
    // (90 days) still works.
    srv.clock.advance(Duration::hours(26));
    let purged = srv
        .store()
        .purge_expired(srv.now(), Retention::default())
        .await
        .unwrap();
    assert_eq!(purged.authorization_codes, 1);
    assert!(purged.tokens >= 1, "{purged:?}");
    assert_eq!(rows(&srv, "authorization_codes"), 0);
    assert_eq!(introspect(&srv, &rp, &access).await["active"], false);
    let (status, body) = refresh(&srv, &rp, &refresh_token, None).await;
    assert_eq!(status, 200, "{body}");
    let next = body["refresh_token"].as_str().unwrap().to_owned();

    // Past the family's absolute lifetime everything of it goes, and it stays dead.
    srv.clock.advance(Duration::days(92));
    let purged = srv
        .store()
        .purge_expired(srv.now(), Retention::default())
        .await
        .unwrap();
    assert!(purged.tokens >= 1 && purged.sessions >= 1, "{purged:?}");
    for table in [
        "token_families",
        "refresh_tokens",
        "access_tokens",
        "sessions",
    ] {
        assert_eq!(rows(&srv, table), 0, "{table}");
    }
    let (status, body) = refresh(&srv, &rp, &next, None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}
