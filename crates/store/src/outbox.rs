//! The durable outbound queue: email, text and voice messages, and back-channel HTTP
//! posts. A message is committed with the change that causes it, so nothing the patient
//! was told about is lost when a mail server or a gateway is down or a node restarts.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::error::{StoreError, StoreResult};
use crate::rows::OutboundRow;
use crate::schema::outbound_messages;
use crate::{secret, time, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
    Voice,
    /// A form POST to a client's back-channel endpoint.
    HttpPost,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Voice => "voice",
            Channel::HttpPost => "http_post",
        }
    }
    pub fn parse(s: &str) -> StoreResult<Self> {
        Ok(match s {
            "email" => Channel::Email,
            "sms" => Channel::Sms,
            "voice" => Channel::Voice,
            "http_post" => Channel::HttpPost,
            other => return Err(StoreError::Invalid(format!("unknown channel {other}"))),
        })
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub channel: Channel,
    /// An email address, an E.164 phone number, or a URL.
    pub recipient: String,
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
}

/// A queued message claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub id: String,
    pub channel: Channel,
    pub recipient: String,
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// Delivery state of one message, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageStatus {
    pub id: String,
    pub channel: Channel,
    pub recipient: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

pub(crate) fn enqueue_in(
    conn: &mut crate::db::DbConn,
    msg: &NewMessage,
    now: DateTime<Utc>,
) -> StoreResult<String> {
    let row = OutboundRow {
        id: secret::new_id()?,
        channel: msg.channel.as_str().to_owned(),
        recipient: msg.recipient.clone(),
        subject: msg.subject.clone(),
        body_text: msg.body_text.clone(),
        body_html: msg.body_html.clone(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: time::to_db(now),
        locked_until: None,
        last_error: None,
        created_at: time::to_db(now),
        sent_at: None,
    };
    diesel::insert_into(outbound_messages::table)
        .values(&row)
        .execute(conn)?;
    Ok(row.id)
}

impl Store {
    /// Queues a message; it is durable when this returns.
    pub async fn enqueue_message(
        &self,
        msg: NewMessage,
        now: DateTime<Utc>,
    ) -> StoreResult<String> {
        self.write(move |conn| enqueue_in(conn, &msg, now)).await
    }

    /// Claims up to `limit` due messages for `lease`: another node will not take them
    /// until the lease runs out, so a node that dies mid-delivery delays them only.
    pub async fn claim_due_messages(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        lease: Duration,
    ) -> StoreResult<Vec<OutboundMessage>> {
        let db_now = time::to_db(now);
        let until = time::to_db(now + lease);
        self.write(move |conn| {
            let rows: Vec<OutboundRow> = outbound_messages::table
                .filter(outbound_messages::status.eq("pending"))
                .filter(outbound_messages::next_attempt_at.le(db_now))
                .filter(
                    outbound_messages::locked_until
                        .is_null()
                        .or(outbound_messages::locked_until.le(db_now)),
                )
                .order(outbound_messages::next_attempt_at.asc())
                .limit(limit)
                .select(OutboundRow::as_select())
                .load(conn)?;
            let mut claimed = Vec::with_capacity(rows.len());
            for r in rows {
                let n = diesel::update(outbound_messages::table.find(&r.id))
                    .filter(
                        outbound_messages::locked_until
                            .is_null()
                            .or(outbound_messages::locked_until.le(db_now)),
                    )
                    .set(outbound_messages::locked_until.eq(until))
                    .execute(conn)?;
                if n == 1 {
                    claimed.push(OutboundMessage {
                        channel: Channel::parse(&r.channel)?,
                        id: r.id,
                        recipient: r.recipient,
                        subject: r.subject,
                        body_text: r.body_text,
                        body_html: r.body_html,
                        attempts: u32::try_from(r.attempts).unwrap_or(0),
                        created_at: time::from_db(r.created_at),
                    });
                }
            }
            Ok(claimed)
        })
        .await
    }

    /// Records a delivery. The bodies are erased: they may hold reset links and codes,
    /// which must not outlive their purpose in the database.
    pub async fn mark_message_sent(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let id = id.to_owned();
        let now = time::to_db(now);
        self.write(move |conn| {
            diesel::update(outbound_messages::table.find(id))
                .set((
                    outbound_messages::status.eq("sent"),
                    outbound_messages::sent_at.eq(now),
                    outbound_messages::locked_until.eq(None::<chrono::NaiveDateTime>),
                    outbound_messages::attempts.eq(outbound_messages::attempts + 1),
                    outbound_messages::body_text.eq(""),
                    outbound_messages::body_html.eq(None::<String>),
                    outbound_messages::last_error.eq(None::<String>),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Records a failed attempt: retried at `retry_at`, or given up when None.
    pub async fn mark_message_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let id = id.to_owned();
        let error: String = error.chars().take(500).collect();
        self.write(move |conn| {
            let target = outbound_messages::table.find(&id);
            match retry_at {
                Some(at) => diesel::update(target)
                    .set((
                        outbound_messages::next_attempt_at.eq(time::to_db(at)),
                        outbound_messages::locked_until.eq(None::<chrono::NaiveDateTime>),
                        outbound_messages::attempts.eq(outbound_messages::attempts + 1),
                        outbound_messages::last_error.eq(&error),
                    ))
                    .execute(conn)?,
                None => diesel::update(target)
                    .set((
                        outbound_messages::status.eq("failed"),
                        outbound_messages::locked_until.eq(None::<chrono::NaiveDateTime>),
                        outbound_messages::attempts.eq(outbound_messages::attempts + 1),
                        outbound_messages::last_error.eq(&error),
                        outbound_messages::body_text.eq(""),
                        outbound_messages::body_html.eq(None::<String>),
                    ))
                    .execute(conn)?,
            };
            Ok(())
        })
        .await
    }

    /// Every message's delivery state, newest first (operators, tests).
    pub async fn message_statuses(&self, limit: i64) -> StoreResult<Vec<MessageStatus>> {
        self.read(move |conn| {
            let rows: Vec<OutboundRow> = outbound_messages::table
                .order(outbound_messages::created_at.desc())
                .limit(limit)
                .select(OutboundRow::as_select())
                .load(conn)?;
            rows.into_iter()
                .map(|r| {
                    Ok(MessageStatus {
                        channel: Channel::parse(&r.channel)?,
                        id: r.id,
                        recipient: r.recipient,
                        status: r.status,
                        attempts: u32::try_from(r.attempts).unwrap_or(0),
                        last_error: r.last_error,
                    })
                })
                .collect()
        })
        .await
    }
}
