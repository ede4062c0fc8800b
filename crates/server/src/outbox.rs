//! Delivery of the durable outbound queue (`outbound_messages`): email over SMTP (or as
//! `.eml` files when no server is configured), text and voice through the HTTP gateway
//! (or `sms.log`), and back-channel HTTP posts.
//!
//! Every node runs one worker. A worker claims due messages for a lease, so two nodes
//! never send the same message, and a node that dies mid-delivery only delays it.
//! Failures retry with exponential backoff; nothing is dropped until the retries run
//! out, so a mail server or gateway outage delays messages and loses none.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use pfid_store::outbox::{Channel, OutboundMessage};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::app::AppState;

/// How many times a message is tried before it is marked failed (about ten hours).
const MAX_ATTEMPTS: u32 = 16;
/// How long a claimed message is reserved for one worker.
const LEASE_SECONDS: i64 = 120;

/// When to try again after `attempts` failures: 30 s, doubling, at most an hour.
pub fn backoff(attempts: u32) -> Duration {
    let seconds = 30i64.saturating_mul(1i64 << attempts.min(7));
    Duration::seconds(seconds.min(3600))
}

enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

enum Gateway {
    Http { url: String, token: Option<String> },
    File(PathBuf),
}

/// The transports, built once from the settings.
pub struct Delivery {
    mailer: Mailer,
    gateway: Gateway,
    from: Mailbox,
    http: reqwest::Client,
}

impl Delivery {
    pub fn from_settings(settings: &crate::config::Settings) -> Result<Delivery, String> {
        let outbox_dir = settings.server.data_dir.join("outbox");
        let mailer = if settings.mail.smtp_url.is_empty() {
            Mailer::Files(outbox_dir.clone())
        } else {
            warn_on_clear_credentials(settings.mail.smtp_url.expose());
            let transport =
                AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.mail.smtp_url.expose())
                    .map_err(|e| format!("mail.smtp_url: {e}"))?
                    .timeout(Some(StdDuration::from_secs(20)))
                    .build();
            Mailer::Smtp(transport)
        };
        let gateway = if settings.sms.gateway_url.is_empty() {
            Gateway::File(outbox_dir.join("sms.log"))
        } else {
            let token = settings.sms.gateway_token.expose();
            Gateway::Http {
                url: settings.sms.gateway_url.clone(),
                token: (!token.is_empty()).then(|| token.to_owned()),
            }
        };
        let from = settings
            .mail
            .from
            .parse::<Mailbox>()
            .map_err(|e| format!("mail.from: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Delivery {
            mailer,
            gateway,
            from,
            http,
        })
    }

    /// Sends one message; an error means "try again later".
    pub async fn deliver(&self, msg: &OutboundMessage) -> Result<(), String> {
        match msg.channel {
            Channel::Email => self.email(msg).await,
            Channel::Sms | Channel::Voice => self.phone(msg).await,
            Channel::HttpPost => self.http_post(msg).await,
        }
    }

    fn build_email(&self, msg: &OutboundMessage) -> Result<Message, String> {
        let to: Mailbox = msg
            .recipient
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(msg.subject.clone().unwrap_or_default())
            .message_id(Some(format!("<{}@pfid>", msg.id)));
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(msg.body_text.clone());
        let built = match &msg.body_html {
            Some(html) => builder.multipart(
                MultiPart::alternative().singlepart(text).singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.clone()),
                ),
            ),
            None => builder.singlepart(text),
        };
        built.map_err(|e| format!("cannot build email: {e}"))
    }

    async fn email(&self, msg: &OutboundMessage) -> Result<(), String> {
        let email = self.build_email(msg)?;
        match &self.mailer {
            Mailer::Smtp(transport) => transport
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Mailer::Files(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| e.to_string())?;
                let name = format!("{}-{}.eml", msg.created_at.format("%Y%m%dT%H%M%S"), msg.id);
                tokio::fs::write(dir.join(name), email.formatted())
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn phone(&self, msg: &OutboundMessage) -> Result<(), String> {
        let channel = if msg.channel == Channel::Voice {
            "voice"
        } else {
            "text"
        };
        let payload =
            serde_json::json!({"to": msg.recipient, "channel": channel, "message": msg.body_text});
        match &self.gateway {
            Gateway::Http { url, token } => {
                let mut req = self.http.post(url).json(&payload);
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let resp = req.send().await.map_err(|e| e.to_string())?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("gateway answered {}", resp.status()))
                }
            }
            Gateway::File(path) => {
                if let Some(dir) = path.parent() {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                let mut f = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|e| e.to_string())?;
                f.write_all(format!("{payload}\n").as_bytes())
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn http_post(&self, msg: &OutboundMessage) -> Result<(), String> {
        let resp = self
            .http
            .post(&msg.recipient)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(msg.body_text.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("{} answered {}", msg.recipient, resp.status()))
        }
    }
}

/// `smtp://user:pass@host` without `?tls=required` would send the password in clear:
/// lettre allows it (some local relays want it), so say so once at start-up.
fn warn_on_clear_credentials(smtp_url: &str) {
    if let Ok(u) = url::Url::parse(smtp_url) {
        let tls = u.query_pairs().any(|(k, v)| k == "tls" && v == "required");
        if u.scheme() == "smtp" && u.password().is_some() && !tls {
            tracing::warn!(
                "mail.smtp_url has credentials but no ?tls=required: the password may cross \
                 the network in clear; use smtp://...?tls=required (STARTTLS) or smtps://"
            );
        }
    }
}

/// Wakes the worker as soon as something is queued.
#[derive(Default)]
pub struct Wakeup(Notify);

impl Wakeup {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Delivers what is due now; returns how many messages were handled.
pub async fn run_once(state: &AppState, delivery: &Delivery) -> usize {
    deliver_due(&state.store, delivery, || state.now()).await
}

/// Claims the messages due at `now()` and delivers them, recording each outcome (a
/// failure is retried after `backoff`). Used by every node's worker, and by commands
/// such as `pfid invite create` that want their email out before they exit.
pub async fn deliver_due(
    store: &pfid_store::Store,
    delivery: &Delivery,
    now: impl Fn() -> DateTime<Utc>,
) -> usize {
    let due = match store
        .claim_due_messages(now(), 20, Duration::seconds(LEASE_SECONDS))
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the outbound queue");
            return 0;
        }
    };
    let n = due.len();
    for msg in due {
        let outcome = delivery.deliver(&msg).await;
        let result = match outcome {
            Ok(()) => store.mark_message_sent(&msg.id, now()).await,
            Err(e) => {
                let attempts = msg.attempts + 1;
                let retry: Option<DateTime<Utc>> =
                    (attempts < MAX_ATTEMPTS).then(|| now() + backoff(attempts));
                tracing::warn!(id = %msg.id, channel = msg.channel.as_str(), attempts, error = %e, "delivery failed");
                store.mark_message_failed(&msg.id, &e, retry).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot record a delivery");
        }
    }
    n
}

/// The delivery loop: runs when woken, and at least every second.
pub fn spawn_worker(
    state: actix_web::web::Data<AppState>,
    delivery: Arc<Delivery>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            while run_once(&state, &delivery).await > 0 {}
            tokio::select! {
                _ = state.outbox_wakeup.0.notified() => {}
                _ = tokio::time::sleep(StdDuration::from_secs(1)) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1).num_seconds(), 60);
        assert_eq!(backoff(2).num_seconds(), 120);
        assert_eq!(backoff(10).num_seconds(), 3600);
    }
}
