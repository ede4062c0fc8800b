//! Security audit trail: sign-ins, failures, password and consent changes, revocations.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::error::StoreResult;
use crate::rows::AuditRow;
use crate::schema::audit_events;
use crate::{secret, time, Store};

/// One security-relevant event. `detail` is free JSON; never put a secret in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub kind: String,
    pub account_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<serde_json::Value>,
}

impl AuditEvent {
    pub fn new(kind: &str) -> Self {
        AuditEvent {
            kind: kind.to_owned(),
            account_id: None,
            client_id: None,
            ip: None,
            detail: None,
        }
    }
    pub fn account(mut self, id: &str) -> Self {
        self.account_id = Some(id.to_owned());
        self
    }
    pub fn client(mut self, id: &str) -> Self {
        self.client_id = Some(id.to_owned());
        self
    }
    pub fn ip(mut self, ip: Option<&str>) -> Self {
        self.ip = ip.map(str::to_owned);
        self
    }
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub occurred_at: DateTime<Utc>,
    pub event: AuditEvent,
}

pub(crate) fn record_in(
    conn: &mut crate::db::DbConn,
    event: &AuditEvent,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    diesel::insert_into(audit_events::table)
        .values(AuditRow {
            id: secret::new_id()?,
            occurred_at: time::to_db(now),
            kind: event.kind.clone(),
            account_id: event.account_id.clone(),
            client_id: event.client_id.clone(),
            ip: event.ip.clone(),
            detail: event.detail.as_ref().map(|d| d.to_string()),
        })
        .execute(conn)?;
    Ok(())
}

impl Store {
    pub async fn record_event(&self, event: AuditEvent, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |conn| record_in(conn, &event, now)).await
    }

    /// An account's events, newest first.
    pub async fn events_of_account(
        &self,
        account_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<RecordedEvent>> {
        let account_id = account_id.to_owned();
        self.read(move |conn| {
            let rows: Vec<AuditRow> = audit_events::table
                .filter(audit_events::account_id.eq(account_id))
                .order(audit_events::occurred_at.desc())
                .limit(limit)
                .select(AuditRow::as_select())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|r| RecordedEvent {
                    occurred_at: time::from_db(r.occurred_at),
                    event: AuditEvent {
                        kind: r.kind,
                        account_id: r.account_id,
                        client_id: r.client_id,
                        ip: r.ip,
                        detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()),
                    },
                })
                .collect())
        })
        .await
    }
}
