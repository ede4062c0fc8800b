//! Delivery through the durable outbound queue to real servers: a mail-server outage
//! delays a reset email and loses nothing, a restarted node resumes sending, TLS modes
//! of `mail.smtp_url` are honoured, and a gateway outage delays texts.

use std::time::Duration;

use pfid_server::outbox::backoff;
use pfid_tests::mail::MailSink;
use pfid_tests::sms::SmsSink;
use pfid_tests::{both_backends_messaging, Backend, Inbox, TestServer};

use crate::selfservice::{get_page, patient_login, submit};

/// Waits until the queue shows a failed attempt at some message.
async fn wait_for_failed_attempt(srv: &TestServer) -> pfid_store::outbox::MessageStatus {
    for _ in 0..400 {
        let statuses = srv.store().message_statuses(20).await.unwrap();
        if let Some(m) = statuses
            .into_iter()
            .find(|m| m.attempts >= 1 && m.status == "pending")
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no delivery attempt failed");
}

async fn wait_until_sent(srv: &TestServer, id: &str) {
    for _ in 0..400 {
        let statuses = srv.store().message_statuses(50).await.unwrap();
        if statuses.iter().any(|m| m.id == id && m.status == "sent") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("message {id} was never sent");
}

/// "Forgot password?" for jane, over HTTP.
async fn request_reset(srv: &TestServer) {
    let browser = pfid_tests::new_browser();
    let (_, page) = get_page(srv, &browser, "/forgot-password").await;
    let resp = submit(
        srv,
        &browser,
        &page,
        "/forgot-password",
        &[("username", "jane")],
        "Reset password",
    )
    .await;
    assert_eq!(resp.status(), 200);
}

both_backends_messaging!(
    a_mail_outage_delays_a_reset_email_and_loses_nothing,
    a_gateway_outage_delays_a_code_and_loses_nothing,
);

async fn a_mail_outage_delays_a_reset_email_and_loses_nothing(srv: TestServer, mut inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    inbox.mail.stop();
    request_reset(&srv).await;
    let failed = wait_for_failed_attempt(&srv).await;
    assert_eq!(failed.recipient, "jane@example.com");
    assert!(failed.last_error.is_some());
    inbox.mail.resume().await;
    // Not before the backoff has passed...
    srv.state.outbox_wakeup.wake();
    // ...and then exactly once.
    srv.clock.advance(backoff(1) + chrono::Duration::seconds(1));
    srv.state.outbox_wakeup.wake();
    let mail = inbox.mail.wait_for("jane@example.com", "Reset your").await;
    wait_until_sent(&srv, &failed.id).await;
    assert_eq!(inbox.mail.mails_to("jane@example.com").len(), 1);
    // The link in the delayed email works.
    let link = mail.link_to("/reset-password/");
    assert_eq!(
        get_page(&srv, &pfid_tests::new_browser(), &link).await.0,
        200
    );
}

async fn a_gateway_outage_delays_a_code_and_loses_nothing(srv: TestServer, inbox: Inbox) {
    patient_login(&srv, "jane", "jane@example.com").await;
    request_reset(&srv).await;
    let link = inbox
        .mail
        .wait_for("jane@example.com", "Reset your")
        .await
        .link_to("/reset-password/");
    inbox.sms.set_down(true);
    let (browser, path, page) =
        crate::selfservice::mobile_path(&srv, &link, "555-010-2000", "text").await;
    let failed = wait_for_failed_attempt(&srv).await;
    assert_eq!(failed.recipient, "+15550102000");
    assert!(failed.last_error.unwrap().contains("503"));
    inbox.sms.set_down(false);
    srv.clock.advance(backoff(1) + chrono::Duration::seconds(1));
    srv.state.outbox_wakeup.wake();
    let sms = inbox.sms.wait_for("+15550102000").await;
    wait_until_sent(&srv, &failed.id).await;
    assert_eq!(inbox.sms.messages().len(), 1);
    let resp = submit(
        &srv,
        &browser,
        &page,
        &format!("{path}/code"),
        &[("code", &sms.code())],
        "Verify",
    )
    .await;
    assert_eq!(
        resp.status(),
        200,
        "the delayed code still works within its 10 minutes"
    );
}

/// Like `both_backends!`, for cases that start their own server (their sinks must be
/// in place, or down, before it starts).
macro_rules! both_backends_own_server {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(pfid_tests::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(pfid_tests::Backend::Postgres).await
                }
            }
        )+
    };
}

both_backends_own_server!(
    a_restarted_node_resumes_sending,
    tls_required_never_falls_back_to_clear_text,
    smtps_speaks_tls_from_the_first_byte,
);

async fn a_restarted_node_resumes_sending(backend: Backend) {
    let mut inbox = Inbox::start().await;
    inbox.mail.stop();
    let Some(mut srv) = TestServer::start_with(backend, &inbox.overrides()).await else {
        return;
    };
    patient_login(&srv, "jane", "jane@example.com").await;
    request_reset(&srv).await;
    let failed = wait_for_failed_attempt(&srv).await;
    srv.restart().await;
    inbox.mail.resume().await;
    srv.clock.advance(backoff(1) + chrono::Duration::seconds(1));
    srv.state.outbox_wakeup.wake();
    let mail = inbox.mail.wait_for("jane@example.com", "Reset your").await;
    wait_until_sent(&srv, &failed.id).await;
    assert_eq!(inbox.mail.mails_to("jane@example.com").len(), 1);
    // Links are built from the (new) issuer.
    assert!(mail
        .link_to("/reset-password/")
        .starts_with("http://127.0.0.1:"));
}

async fn start_with_mail(backend: Backend, url: String) -> Option<(TestServer, SmsSink)> {
    let sms = SmsSink::start().await;
    let srv = TestServer::start_with(
        backend,
        &[
            ("PFID__MAIL__SMTP_URL", url),
            ("PFID__SMS__GATEWAY_URL", sms.url.clone()),
        ],
    )
    .await?;
    Some((srv, sms))
}

async fn tls_required_never_falls_back_to_clear_text(backend: Backend) {
    let sink = MailSink::start_with(true).await;
    let url = format!("smtp://127.0.0.1:{}?tls=required", sink.port());
    let Some((srv, _sms)) = start_with_mail(backend, url).await else {
        return;
    };
    patient_login(&srv, "jane", "jane@example.com").await;
    request_reset(&srv).await;
    let failed = wait_for_failed_attempt(&srv).await;
    // The client asked for STARTTLS and began a handshake; it never sent the mail in
    // clear when the handshake could not complete.
    assert!(
        sink.commands().contains(&"STARTTLS".to_owned()),
        "{:?}",
        sink.commands()
    );
    assert!(sink.tls_hellos() >= 1);
    assert!(sink.mails().is_empty());
    assert!(!sink.commands().contains(&"MAIL".to_owned()));
    assert_eq!(failed.status, "pending", "kept for a retry");
}

async fn smtps_speaks_tls_from_the_first_byte(backend: Backend) {
    let sink = MailSink::start().await;
    let url = format!("smtps://127.0.0.1:{}", sink.port());
    let Some((srv, _sms)) = start_with_mail(backend, url).await else {
        return;
    };
    patient_login(&srv, "jane", "jane@example.com").await;
    request_reset(&srv).await;
    wait_for_failed_attempt(&srv).await;
    assert!(
        sink.tls_hellos() >= 1,
        "the first bytes were a TLS ClientHello"
    );
    assert!(
        sink.commands().is_empty(),
        "no SMTP command in clear: {:?}",
        sink.commands()
    );
    assert!(sink.mails().is_empty());
}
