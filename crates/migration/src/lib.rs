//! Moving the old portal's logins into pfid: the JSON Lines import (SPEC "Legacy import
//! file"), streamed in batches through pfid-store, idempotent by `legacy_id`.
//!
//! Reading and checking lines happens here; deciding statuses and writing happens in
//! `pfid_store::legacy`, one transaction per batch. Memory stays flat: one batch of
//! lines is held at a time, and duplicate emails are found in the database.

use std::io::BufRead;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use pfid_store::legacy::{BatchOutcome, LegacyAccount, LegacyLine};
use pfid_store::{Store, StoreError};
use serde::Deserialize;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// How to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Check and plan everything, then roll back: nothing is written.
    pub dry_run: bool,
    /// Lines per transaction.
    pub batch_size: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            batch_size: 50_000,
        }
    }
}

/// The import's result (`pfid legacy import --json`).
///
/// Every non-blank line is either `imported` or `skipped`: `imported` counts accounts
/// inserted or updated; `skipped` counts lines that wrote nothing (identical to what
/// the database holds, a login that already finished its reset, an earlier line
/// repeated by a later one with the same `legacy_id`, or a line in `errors`).
/// `duplicate_email_accounts` is the number of legacy accounts the database holds
/// flagged `needs_new_account` once the import is done (earlier imports included).
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct ImportReport {
    pub imported: u64,
    pub duplicate_email_accounts: u64,
    pub skipped: u64,
    pub errors: Vec<LineError>,
}

/// A line that was not imported, and why.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct LineError {
    /// 1-based line number in the file.
    pub line: u64,
    pub reason: String,
}

/// What stops an import as a whole (a bad line never does).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the import file: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A callback told how many lines have been read and handled so far.
pub type Progress<'a> = &'a dyn Fn(u64);

/// Imports a legacy export. Batches that finished stay committed if a later one fails,
/// and running the same file again is safe (it reports `imported: 0`).
pub async fn import<R: BufRead + Send + 'static>(
    store: &Store,
    input: R,
    options: ImportOptions,
    now: DateTime<Utc>,
    progress: Option<Progress<'_>>,
) -> Result<ImportReport, ImportError> {
    let (events, mut received) = unbounded_channel();
    let reader = Batches {
        input,
        line: 0,
        batch_size: options.batch_size.max(1),
        today: now.date_naive(),
        events: events.clone(),
        done: false,
    };
    // Reading and checking lines runs on its own thread, a batch ahead of the writer, so
    // parsing overlaps the database's work. The bounded hand-over keeps memory flat: at
    // most two parsed batches wait while one is written. When the writer stops early its
    // end of the channel closes and the reader stops at its next batch.
    let (parsed, to_write) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("legacy-reader".into())
        .spawn(move || {
            for batch in reader {
                if parsed.send(batch).is_err() {
                    break;
                }
            }
        })?;
    let written = store.import_legacy(to_write.into_iter(), options.dry_run, now, move |outcome| {
        let _ = events.send(Event::Batch(outcome));
    });
    let mut report = ImportReport {
        imported: 0,
        duplicate_email_accounts: 0,
        skipped: 0,
        errors: Vec::new(),
    };
    let mut read_failure = None;
    let drain = async {
        let mut lines = 0;
        let mut read_so_far = 0;
        while let Some(event) = received.recv().await {
            match event {
                Event::Bad(line, reason) => {
                    lines += 1;
                    report.errors.push(LineError { line, reason });
                }
                Event::Read(n) => read_so_far = n,
                Event::Batch(o) => {
                    lines += o.lines;
                    report.imported += o.written;
                    report.errors.extend(
                        o.rejected
                            .into_iter()
                            .map(|(line, reason)| LineError { line, reason }),
                    );
                    if let Some(progress) = progress {
                        progress(read_so_far);
                    }
                }
                Event::ReadFailed(e) => read_failure = Some(e),
            }
        }
        lines
    };
    let (totals, lines) = tokio::join!(written, drain);
    let totals = totals?;
    if let Some(e) = read_failure {
        return Err(ImportError::Read(e));
    }
    report.errors.sort_by_key(|e| e.line);
    report.skipped = lines - report.imported;
    report.duplicate_email_accounts = totals.needs_new_account;
    if totals.flagged_by_final_pass > 0 {
        tracing::warn!(
            flagged = totals.flagged_by_final_pass,
            "the closing pass flagged accounts whose email another login took during the import"
        );
    }
    Ok(report)
}

enum Event {
    /// A line that did not parse or validate.
    Bad(u64, String),
    /// The reader handed over a batch, having read this many lines.
    Read(u64),
    Batch(BatchOutcome),
    ReadFailed(std::io::Error),
}

/// Reads the file a batch at a time, on the reader thread.
struct Batches<R> {
    input: R,
    line: u64,
    batch_size: usize,
    today: NaiveDate,
    events: UnboundedSender<Event>,
    done: bool,
}

impl<R: BufRead> Iterator for Batches<R> {
    type Item = Vec<LegacyLine>;

    fn next(&mut self) -> Option<Vec<LegacyLine>> {
        if self.done {
            return None;
        }
        let mut batch = Vec::with_capacity(self.batch_size);
        let mut buf = Vec::new();
        while batch.len() < self.batch_size {
            buf.clear();
            match self.input.read_until(b'\n', &mut buf) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = self.events.send(Event::ReadFailed(e));
                    self.done = true;
                    break;
                }
            }
            self.line += 1;
            let text = match std::str::from_utf8(&buf) {
                Ok(t) => t,
                Err(_) => {
                    let _ = self
                        .events
                        .send(Event::Bad(self.line, "the line is not UTF-8".into()));
                    continue;
                }
            };
            let text = text.trim_start_matches('\u{feff}').trim();
            if text.is_empty() {
                continue;
            }
            match parse_line(text, self.today) {
                Ok(account) => batch.push(LegacyLine::new(self.line, account)),
                Err(reason) => {
                    let _ = self.events.send(Event::Bad(self.line, reason));
                }
            }
        }
        let _ = self.events.send(Event::Read(self.line));
        if batch.is_empty() && self.done {
            None
        } else {
            Some(batch)
        }
    }
}

/// An id the export may write as a string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(i64),
}

impl Id {
    fn into_string(self) -> String {
        match self {
            Id::Text(s) => s.trim().to_owned(),
            Id::Number(n) => n.to_string(),
        }
    }
}

/// One line of the export (SPEC "Legacy import file"). Unknown fields are ignored;
/// `first_name` and `last_name` are optional extras that name the holder's own record
/// when the import creates it.
#[derive(Deserialize)]
struct RawLine {
    legacy_id: Id,
    username: String,
    email: String,
    #[serde(default)]
    phone: Option<String>,
    birth_date: String,
    password_hash: String,
    #[serde(default)]
    security_question: Option<String>,
    #[serde(default)]
    security_answer_hash: Option<String>,
    patient_ids: Vec<Id>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

/// Parses and checks one line; the error is the reason shown to the operator.
fn parse_line(text: &str, today: NaiveDate) -> Result<LegacyAccount, String> {
    let raw: RawLine = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        // serde_json appends the position within the line; the line number says more.
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        if e.is_data() {
            message
        } else {
            format!("not valid JSON: {message}")
        }
    })?;
    let present = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let birth_date = parse_date(&raw.birth_date)
        .ok_or_else(|| format!("birth_date: not a date as YYYY-MM-DD: {:?}", raw.birth_date))?;
    let created_at = match present(raw.created_at) {
        None => None,
        Some(s) => {
            Some(parse_time(&s).ok_or_else(|| format!("created_at: not an RFC 3339 time: {s:?}"))?)
        }
    };
    let account = LegacyAccount {
        legacy_id: raw.legacy_id.into_string(),
        username: raw.username,
        email: raw.email,
        phone: present(raw.phone),
        birth_date,
        first_name: present(raw.first_name),
        last_name: present(raw.last_name),
        password_hash: raw.password_hash.trim().to_owned(),
        security_question: present(raw.security_question),
        security_answer_hash: present(raw.security_answer_hash),
        patient_ids: raw.patient_ids.into_iter().map(Id::into_string).collect(),
        created_at,
    };
    account.validate(today).map_err(|e| match e {
        StoreError::Invalid(m) => m,
        other => other.to_string(),
    })?;
    Ok(account)
}

fn parse_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%Y/%m/%d"))
        .ok()
}

/// RFC 3339, or a zone-less `YYYY-MM-DD[T ]HH:MM:SS` read as UTC.
fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S"))
                .ok()
                .map(|t| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BCRYPT: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn line(extra: &str) -> String {
        format!(
            r#"{{"legacy_id": 17, "username": "jdoe", "email": " Jane@Example.com ", "phone": "555-010-2000", "birth_date": "1980-02-03", "password_hash": "{BCRYPT}", "security_question": null, "security_answer_hash": null, "patient_ids": ["P1", 2], "created_at": "2015-06-01T10:00:00Z"{extra}}}"#
        )
    }

    #[test]
    fn a_well_formed_line_parses_with_ids_as_text() {
        let a = parse_line(&line(""), today()).unwrap();
        assert_eq!(a.legacy_id, "17");
        assert_eq!(a.patient_ids, vec!["P1", "2"]);
        assert_eq!(a.password_hash, BCRYPT);
        assert_eq!(a.birth_date, NaiveDate::from_ymd_opt(1980, 2, 3).unwrap());
        assert!(a.created_at.is_some());
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let missing = parse_line(r#"{"legacy_id": "1", "username": "abc"}"#, today());
        assert!(missing.unwrap_err().contains("missing field"));
        assert!(parse_line("{not json", today())
            .unwrap_err()
            .starts_with("not valid JSON"));
        let md5 = line("").replace(BCRYPT, "$1$abc$def");
        assert!(parse_line(&md5, today())
            .unwrap_err()
            .contains("password_hash: unknown hash format"));
        let date = line("").replace("1980-02-03", "1980-13-40");
        assert!(parse_line(&date, today())
            .unwrap_err()
            .starts_with("birth_date"));
        let future = line("").replace("1980-02-03", "2099-01-01");
        assert!(parse_line(&future, today()).unwrap_err().contains("future"));
        let half = line("").replace(
            r#""security_question": null"#,
            r#""security_question": "Pet?""#,
        );
        assert!(parse_line(&half, today())
            .unwrap_err()
            .contains("go together"));
    }
}
