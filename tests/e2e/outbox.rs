//! The outbound queue's fallbacks when no mail server or gateway is configured: email
//! lands as `.eml` files in `data/outbox/`, texts in `data/outbox/sms.log`.

use std::time::Duration;

use pfid_store::outbox::{Channel, NewMessage};
use pfid_tests::{both_backends, TestServer};

both_backends!(without_servers_messages_land_in_the_outbox_folder);

async fn wait_for(path: &std::path::Path, pred: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                if pred(&text) {
                    return text;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing matching arrived in {}", path.display());
}

async fn without_servers_messages_land_in_the_outbox_folder(srv: TestServer) {
    srv.state
        .send(NewMessage {
            channel: Channel::Email,
            recipient: "jane@example.com".into(),
            subject: Some("Hello".into()),
            body_text: "plain body".into(),
            body_html: Some("<p>html body</p>".into()),
        })
        .await
        .unwrap();
    srv.state
        .send(NewMessage {
            channel: Channel::Voice,
            recipient: "+15550102000".into(),
            subject: None,
            body_text: "Your code is 123456".into(),
            body_html: None,
        })
        .await
        .unwrap();
    let outbox = srv.db.dir.path().join("data/outbox");
    let eml = wait_for(&outbox, |t| t.contains("Subject: Hello")).await;
    assert!(eml.contains("To: jane@example.com"));
    assert!(eml.contains("plain body") && eml.contains("html body"));
    let sms = wait_for(&outbox, |t| t.contains("123456")).await;
    let line: serde_json::Value = serde_json::from_str(sms.lines().next().unwrap()).unwrap();
    assert_eq!(line["channel"], "voice");
    assert_eq!(line["to"], "+15550102000");
    // Delivered messages keep no body in the database.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let statuses = srv.store().message_statuses(10).await.unwrap();
    assert!(statuses.iter().all(|m| m.status == "sent"), "{statuses:?}");
}
