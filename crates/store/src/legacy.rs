//! Legacy logins from the old portal: batched upserts keyed by `legacy_id`, the
//! unique-email rule (an address shared by two live logins flags the legacy ones
//! `needs_new_account`), and the migration report.
//!
//! Each batch costs a fixed number of lookups whatever its size: one each for existing
//! legacy ids, their record links, usernames, emails and records. New rows then go in
//! through one cached prepared INSERT per row on SQLite and binary COPY on PostgreSQL
//! (upserts only for logins the database already holds). Memory stays flat: the database, not a map in this process,
//! remembers which emails earlier batches and earlier imports brought.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;
use diesel::upsert::excluded;

use crate::accounts::{AccountStatus, Relationship};
use crate::db::{self, DbConn};
use crate::error::{StoreError, StoreResult};
use crate::password::HashFormat;
use crate::schema::{account_patients, accounts, patients};
use crate::writer::WRITER_AUTOCHECKPOINT_PAGES;
use crate::{normalize, time, Store};

/// Lookups bind one parameter per key; SQLite allows 32,766 per statement.
const LOOKUP_CHUNK: usize = 5_000;
/// Rows per multi-row upsert: 19 account columns x 1,000 stays under SQLite's limit.
const UPSERT_CHUNK: usize = 1_000;

/// One legacy login as the export describes it, before it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyAccount {
    /// The old portal's id for the login: the key a re-import updates by.
    pub legacy_id: String,
    pub username: String,
    pub email: String,
    pub phone: Option<String>,
    /// The holder's birth date; goes on the holder's own record when the import creates it.
    pub birth_date: NaiveDate,
    /// The holder's name, when the export carries it (used only for records the import creates).
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The old portal's hash, kept as it is (bcrypt, PBKDF2-SHA256 or argon2id PHC).
    pub password_hash: String,
    pub security_question: Option<String>,
    pub security_answer_hash: Option<String>,
    /// External ids of the records this login may see; the first is the holder's own.
    pub patient_ids: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
}

impl LegacyAccount {
    /// Checks every field the database relies on. The text names the field.
    pub fn validate(&self, today: NaiveDate) -> StoreResult<()> {
        let invalid = |field: &str, e: StoreError| match e {
            StoreError::Invalid(m) => StoreError::Invalid(format!("{field}: {m}")),
            other => other,
        };
        if self.legacy_id.trim().is_empty() {
            return Err(StoreError::Invalid("legacy_id: must not be empty".into()));
        }
        normalize::validate_username(&self.username).map_err(|e| invalid("username", e))?;
        normalize::validate_email(&self.email).map_err(|e| invalid("email", e))?;
        if let Some(phone) = &self.phone {
            normalize::validate_phone(phone).map_err(|e| invalid("phone", e))?;
        }
        if self.birth_date > today {
            return Err(StoreError::Invalid(
                "birth_date: must not be in the future".into(),
            ));
        }
        check_hash("password_hash", &self.password_hash)?;
        match (&self.security_question, &self.security_answer_hash) {
            (Some(q), Some(a)) => {
                if q.trim().is_empty() {
                    return Err(StoreError::Invalid(
                        "security_question: must not be empty".into(),
                    ));
                }
                check_hash("security_answer_hash", a)?;
            }
            (None, None) => {}
            _ => {
                return Err(StoreError::Invalid(
                    "security_question and security_answer_hash go together".into(),
                ))
            }
        }
        if self.patient_ids.iter().any(|p| p.trim().is_empty()) {
            return Err(StoreError::Invalid(
                "patient_ids: an id must not be empty".into(),
            ));
        }
        Ok(())
    }

    /// The record links this line asks for: the first id is the holder's own record,
    /// the others are family records the login looks after. Repeats are dropped.
    fn links(&self) -> Vec<(String, Relationship)> {
        let mut seen = HashSet::new();
        self.patient_ids
            .iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| seen.insert(p.clone()))
            .enumerate()
            .map(|(i, p)| {
                let rel = if i == 0 {
                    Relationship::Own
                } else {
                    Relationship::Guardian
                };
                (p, rel)
            })
            .collect()
    }
}

fn check_hash(field: &str, hash: &str) -> StoreResult<()> {
    match HashFormat::of(hash) {
        None => Err(StoreError::Invalid(format!(
            "{field}: unknown hash format (expected $2a$/$2b$ bcrypt, $pbkdf2-sha256$ or $argon2id$)"
        ))),
        Some(format) if !HashFormat::is_well_formed(hash) => Err(StoreError::Invalid(format!(
            "{field}: malformed {format:?} hash"
        ))),
        Some(_) => Ok(()),
    }
}

/// A validated account and the line of the file it came from, with the keys a batch
/// compares it by worked out once, where the line is read: the import's reader thread
/// has time to spare, its single writer thread has none.
#[derive(Debug, Clone)]
pub struct LegacyLine {
    line: u64,
    account: LegacyAccount,
    legacy_id: String,
    username_normalized: String,
    email_normalized: String,
    links: Vec<(String, Relationship)>,
}

impl LegacyLine {
    pub fn new(line: u64, account: LegacyAccount) -> Self {
        LegacyLine {
            line,
            legacy_id: account.legacy_id.trim().to_owned(),
            username_normalized: normalize::username(&account.username),
            email_normalized: normalize::email(&account.email),
            links: account.links(),
            account,
        }
    }
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Lines in the batch.
    pub lines: u64,
    /// Accounts inserted or updated.
    pub written: u64,
    /// Lines identical to what the database already holds.
    pub unchanged: u64,
    /// Lines of logins that finished their reset or were deactivated: pfid owns them now.
    pub kept_migrated: u64,
    /// Earlier lines of the batch whose legacy_id a later line repeats (the later wins).
    pub superseded: u64,
    /// Lines refused, with the reason (a username another login holds).
    pub rejected: Vec<(u64, String)>,
    /// Accounts outside the batch newly flagged because a line shares their email.
    pub flagged_others: u64,
}

/// What the whole import left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportTotals {
    /// Legacy accounts flagged `needs_new_account` in the database after the import.
    pub needs_new_account: u64,
    /// Accounts the closing duplicate pass flagged (zero unless something bypassed the
    /// per-batch rule, such as a login created with the same email mid-import).
    pub flagged_by_final_pass: u64,
}

/// Legacy accounts by migration status (`pfid legacy report`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LegacyReport {
    pub must_reset: u64,
    /// Legacy logins that completed their reset and are active now.
    pub reset_done: u64,
    pub needs_new_account: u64,
}

/// The batch's time, as every row it writes records it. SQLite stores a timestamp as
/// text: this one is formatted once per batch, not once per row and column (formatting
/// took a twentieth of the import writer's time).
#[derive(Debug, Clone, diesel::expression::AsExpression)]
#[diesel(sql_type = Timestamp)]
struct BatchTime(Arc<(NaiveDateTime, String)>);

impl BatchTime {
    fn new(at: NaiveDateTime) -> Self {
        // diesel's own text form for a NaiveDateTime on SQLite (a test holds the two
        // together), so these rows compare and sort with every other.
        BatchTime(Arc::new((at, at.format("%F %T%.f").to_string())))
    }
}

impl ToSql<Timestamp, Sqlite> for BatchTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0 .1.as_str());
        Ok(IsNull::No)
    }
}

impl ToSql<Timestamp, Pg> for BatchTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0 .0, out)
    }
}

#[derive(Insertable)]
#[diesel(table_name = accounts, treat_none_as_default_value = false)]
struct LegacyAccountRow {
    id: String,
    username: String,
    username_normalized: String,
    email: String,
    email_normalized: String,
    email_verified: bool,
    phone: Option<String>,
    password_hash: Option<String>,
    legacy_password_hash: Option<String>,
    security_question: Option<String>,
    security_answer_hash: Option<String>,
    status: String,
    legacy_id: Option<String>,
    legacy_created_at: Option<NaiveDateTime>,
    notify_email: bool,
    notify_sms: bool,
    password_changed_at: Option<NaiveDateTime>,
    created_at: BatchTime,
    updated_at: BatchTime,
}

#[derive(Insertable)]
#[diesel(table_name = patients, treat_none_as_default_value = false)]
struct LegacyPatientRow {
    id: String,
    external_id: Option<String>,
    first_name: String,
    last_name: String,
    birth_date: NaiveDate,
    email: Option<String>,
    email_normalized: Option<String>,
    phone: Option<String>,
    created_at: BatchTime,
    updated_at: BatchTime,
}

#[derive(Insertable)]
#[diesel(table_name = account_patients, treat_none_as_default_value = false)]
struct LinkRow {
    account_id: String,
    patient_id: String,
    relationship: String,
    created_at: BatchTime,
}

#[derive(Queryable)]
struct Existing {
    id: String,
    legacy_id: Option<String>,
    username: String,
    email: String,
    phone: Option<String>,
    legacy_password_hash: Option<String>,
    security_question: Option<String>,
    security_answer_hash: Option<String>,
    status: String,
    legacy_created_at: Option<NaiveDateTime>,
}

/// Loads rows for keys in chunks that every backend accepts.
fn chunked<K: Clone, T>(
    keys: &[K],
    mut load: impl FnMut(&[K]) -> QueryResult<Vec<T>>,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(LOOKUP_CHUNK) {
        out.extend(load(chunk)?);
    }
    Ok(out)
}

const MUST_RESET: &str = "must_reset";
const NEEDS_NEW: &str = "needs_new_account";

/// One accepted line, with what the batch decided for it.
struct Planned {
    line: LegacyLine,
    existing_id: Option<String>,
    status: &'static str,
}

/// Writes one batch. Runs inside the caller's transaction.
fn write_batch(
    conn: &mut DbConn,
    lines: Vec<LegacyLine>,
    now: DateTime<Utc>,
) -> StoreResult<BatchOutcome> {
    let mut out = BatchOutcome {
        lines: lines.len() as u64,
        ..BatchOutcome::default()
    };
    let db_now = time::to_db(now);
    let batch_time = BatchTime::new(db_now);

    // The last line with a legacy_id wins, as a later export row would on re-import.
    let keep: Vec<bool> = {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(lines.len());
        for (i, l) in lines.iter().enumerate() {
            last.insert(&l.legacy_id, i);
        }
        (0..lines.len())
            .map(|i| last.get(lines[i].legacy_id.as_str()) == Some(&i))
            .collect()
    };
    let lines: Vec<LegacyLine> = lines
        .into_iter()
        .zip(keep)
        .filter_map(|(l, kept)| {
            if !kept {
                out.superseded += 1;
            }
            kept.then_some(l)
        })
        .collect();

    let legacy_ids: Vec<String> = lines.iter().map(|l| l.legacy_id.clone()).collect();
    let existing: HashMap<String, Existing> = chunked(&legacy_ids, |ids| {
        accounts::table
            .filter(accounts::legacy_id.eq_any(ids))
            .select((
                accounts::id,
                accounts::legacy_id,
                accounts::username,
                accounts::email,
                accounts::phone,
                accounts::legacy_password_hash,
                accounts::security_question,
                accounts::security_answer_hash,
                accounts::status,
                accounts::legacy_created_at,
            ))
            .load::<Existing>(conn)
    })?
    .into_iter()
    .filter_map(|e| e.legacy_id.clone().map(|k| (k, e)))
    .collect();

    // Logins that finished their reset (or were deactivated) belong to pfid now: the
    // old portal's copy must not bring back its password, email or status.
    let mut candidates = Vec::with_capacity(lines.len());
    for line in lines {
        match existing.get(&line.legacy_id) {
            Some(e) if e.status != MUST_RESET && e.status != NEEDS_NEW => out.kept_migrated += 1,
            _ => candidates.push(line),
        }
    }

    // Usernames are unique whatever their case, among every login.
    let usernames: Vec<String> = candidates
        .iter()
        .map(|l| l.username_normalized.clone())
        .collect();
    let username_holders: HashMap<String, Option<String>> = chunked(&usernames, |names| {
        accounts::table
            .filter(accounts::username_normalized.eq_any(names))
            .select((accounts::username_normalized, accounts::legacy_id))
            .load::<(String, Option<String>)>(conn)
    })?
    .into_iter()
    .collect();
    let mut claimed: HashSet<String> = HashSet::with_capacity(candidates.len());
    let mut accepted = Vec::with_capacity(candidates.len());
    for line in candidates {
        let name = line.username_normalized.clone();
        let legacy_id = line.legacy_id.as_str();
        let taken_in_db = username_holders
            .get(&name)
            .is_some_and(|holder| holder.as_deref() != Some(legacy_id));
        if taken_in_db || !claimed.insert(name) {
            out.rejected.push((
                line.line,
                format!(
                    "username {} is already used by another account",
                    line.account.username.trim()
                ),
            ));
        } else {
            accepted.push(line);
        }
    }

    // Who holds each email once this batch is written: live or flagged logins outside
    // the batch (deactivated ones have given the address up) plus the batch's lines.
    let accepted_ids: HashSet<&str> = accepted.iter().map(|l| l.legacy_id.as_str()).collect();
    let emails: Vec<String> = accepted
        .iter()
        .map(|l| l.email_normalized.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let email_holders: Vec<(String, Option<String>, String, String)> = chunked(&emails, |es| {
        accounts::table
            .filter(accounts::email_normalized.eq_any(es))
            .filter(accounts::status.ne(AccountStatus::Deactivated.as_str()))
            .select((
                accounts::id,
                accounts::legacy_id,
                accounts::email_normalized,
                accounts::status,
            ))
            .load(conn)
    })?;
    let mut holders: HashMap<String, u32> = HashMap::with_capacity(emails.len());
    let mut outside = Vec::new();
    for (id, legacy_id, email, status) in email_holders {
        if legacy_id
            .as_deref()
            .is_some_and(|l| accepted_ids.contains(l))
        {
            continue;
        }
        *holders.entry(email.clone()).or_default() += 1;
        outside.push((id, email, status));
    }
    for l in &accepted {
        *holders.entry(l.email_normalized.clone()).or_default() += 1;
    }
    let shared = |email: &str| holders.get(email).copied().unwrap_or(0) > 1;
    // Only legacy logins awaiting their reset are flagged: an active login (new, or a
    // legacy one that proved the mailbox by resetting) keeps the address.
    let to_flag: Vec<String> = outside
        .into_iter()
        .filter(|(_, email, status)| status == MUST_RESET && shared(email))
        .map(|(id, _, _)| id)
        .collect();
    drop(accepted_ids);

    let existing_ids: Vec<String> = accepted
        .iter()
        .filter_map(|l| existing.get(&l.legacy_id).map(|e| e.id.clone()))
        .collect();
    let mut current_links: HashMap<String, BTreeSet<(String, String)>> = HashMap::new();
    for (account_id, external_id, rel) in chunked(&existing_ids, |ids| {
        account_patients::table
            .inner_join(patients::table)
            .filter(account_patients::account_id.eq_any(ids))
            .select((
                account_patients::account_id,
                patients::external_id,
                account_patients::relationship,
            ))
            .load::<(String, Option<String>, String)>(conn)
    })? {
        current_links
            .entry(account_id)
            .or_default()
            .insert((external_id.unwrap_or_default(), rel));
    }

    let mut planned = Vec::with_capacity(accepted.len());
    for line in accepted {
        let status = if shared(&line.email_normalized) {
            NEEDS_NEW
        } else {
            MUST_RESET
        };
        let prior = existing.get(&line.legacy_id);
        if let Some(e) = prior {
            let wanted: BTreeSet<(String, String)> = line
                .links
                .iter()
                .map(|(p, r)| (p.clone(), r.as_str().to_owned()))
                .collect();
            let have = current_links.remove(&e.id).unwrap_or_default();
            if same_account(e, &line.account, status) && wanted == have {
                out.unchanged += 1;
                continue;
            }
        }
        planned.push(Planned {
            existing_id: prior.map(|e| e.id.clone()),
            line,
            status,
        });
    }

    // Records: reuse the ones pfid has, create the rest from the first line naming them.
    let external_ids: Vec<String> = planned
        .iter()
        .flat_map(|p| p.line.links.iter().map(|(e, _)| e.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut record_ids: HashMap<String, String> = chunked(&external_ids, |ids| {
        patients::table
            .filter(patients::external_id.eq_any(ids))
            .select((patients::external_id, patients::id))
            .load::<(Option<String>, String)>(conn)
    })?
    .into_iter()
    .filter_map(|(e, id)| e.map(|e| (e, id)))
    .collect();
    let mut new_records = Vec::new();
    for p in &planned {
        for (external_id, rel) in &p.line.links {
            if record_ids.contains_key(external_id) {
                continue;
            }
            let id = new_row_id();
            record_ids.insert(external_id.clone(), id.clone());
            new_records.push(record_from_line(
                id,
                external_id,
                *rel,
                &p.line,
                &batch_time,
            ));
        }
    }

    // Rows can take their final status at once unless an existing login moves to
    // another address: two logins trading addresses would meet in the partial unique
    // index mid-statement. Only then are rows written flagged and promoted afterwards.
    let email_moves = planned.iter().any(|p| {
        prior_email(&existing, &p.line).is_some_and(|before| before != p.line.email_normalized)
    });
    let mut new_rows = Vec::with_capacity(planned.len());
    let mut changed_rows = Vec::new();
    let mut must_reset_ids = Vec::new();
    let mut relink = Vec::new();
    let mut links = Vec::new();
    for p in planned {
        let LegacyLine {
            account: a,
            legacy_id,
            username_normalized,
            email_normalized,
            links: wanted_links,
            ..
        } = p.line;
        let id = p.existing_id.clone().unwrap_or_else(new_row_id);
        if email_moves && p.status == MUST_RESET {
            must_reset_ids.push(id.clone());
        }
        if p.existing_id.is_some() {
            relink.push(id.clone());
        }
        for (external_id, rel) in &wanted_links {
            if let Some(patient_id) = record_ids.get(external_id) {
                links.push(LinkRow {
                    account_id: id.clone(),
                    patient_id: patient_id.clone(),
                    relationship: rel.as_str().to_owned(),
                    created_at: batch_time.clone(),
                });
            }
        }
        let row = LegacyAccountRow {
            id,
            username: trimmed(a.username),
            username_normalized,
            email: trimmed(a.email),
            email_normalized,
            email_verified: false,
            phone: a.phone.map(trimmed),
            password_hash: None,
            legacy_password_hash: Some(a.password_hash),
            security_question: a.security_question.map(trimmed),
            security_answer_hash: a.security_answer_hash,
            status: if email_moves { NEEDS_NEW } else { p.status }.to_owned(),
            legacy_id: Some(legacy_id),
            legacy_created_at: a.created_at.map(time::to_db),
            notify_email: true,
            notify_sms: false,
            password_changed_at: None,
            created_at: batch_time.clone(),
            updated_at: batch_time.clone(),
        };
        if p.existing_id.is_some() {
            changed_rows.push(row);
        } else {
            new_rows.push(row);
        }
    }

    for ids in to_flag.chunks(LOOKUP_CHUNK) {
        out.flagged_others += diesel::update(
            accounts::table
                .filter(accounts::id.eq_any(ids))
                .filter(accounts::status.eq(MUST_RESET)),
        )
        .set((
            accounts::status.eq(NEEDS_NEW),
            accounts::updated_at.eq(db_now),
        ))
        .execute(conn)? as u64;
    }
    insert_records(conn, &new_records)?;
    insert_accounts(conn, &new_rows)?;
    for chunk in changed_rows.chunks(UPSERT_CHUNK) {
        upsert_accounts(conn, chunk)?;
    }
    for ids in must_reset_ids.chunks(LOOKUP_CHUNK) {
        diesel::update(
            accounts::table
                .filter(accounts::id.eq_any(ids))
                .filter(accounts::status.eq(NEEDS_NEW)),
        )
        .set(accounts::status.eq(MUST_RESET))
        .execute(conn)?;
    }
    for ids in relink.chunks(LOOKUP_CHUNK) {
        diesel::delete(account_patients::table.filter(account_patients::account_id.eq_any(ids)))
            .execute(conn)?;
    }
    insert_links(conn, &links)?;
    out.written = (new_rows.len() + changed_rows.len()) as u64;
    Ok(out)
}

/// `text` without surrounding whitespace, reusing its allocation when it has none.
fn trimmed(text: String) -> String {
    if text.trim().len() == text.len() {
        text
    } else {
        text.trim().to_owned()
    }
}

/// The normalised email an existing legacy login has before this line is written.
fn prior_email(existing: &HashMap<String, Existing>, line: &LegacyLine) -> Option<String> {
    existing
        .get(&line.legacy_id)
        .map(|e| normalize::email(&e.email))
}

/// Ids for rows the import creates are time-ordered (UUIDv7): a million inserts then
/// land on the right-hand edge of each primary-key index instead of on random pages,
/// which is what keeps a large import's page cache and WAL small.
fn new_row_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn same_account(e: &Existing, a: &LegacyAccount, status: &str) -> bool {
    e.status == status
        && e.username == a.username.trim()
        && e.email == a.email.trim()
        && e.phone.as_deref() == a.phone.as_deref().map(str::trim)
        && e.legacy_password_hash.as_deref() == Some(a.password_hash.as_str())
        && e.security_question.as_deref() == a.security_question.as_deref().map(str::trim)
        && e.security_answer_hash == a.security_answer_hash
        && e.legacy_created_at == a.created_at.map(time::to_db)
}

/// A record the provider's system has and pfid did not: the holder's own record takes
/// the line's name, birth date and contacts. A family record has only its id in the
/// export, so it gets a placeholder name and the holder's birth date until the office
/// corrects it.
fn record_from_line(
    id: String,
    external_id: &str,
    rel: Relationship,
    line: &LegacyLine,
    now: &BatchTime,
) -> LegacyPatientRow {
    let a = &line.account;
    let own = rel == Relationship::Own;
    let name = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (first, last) = match (own, name(&a.first_name), name(&a.last_name)) {
        (true, Some(f), Some(l)) => (f, l),
        _ => ("Patient".to_owned(), external_id.to_owned()),
    };
    LegacyPatientRow {
        id,
        external_id: Some(external_id.to_owned()),
        first_name: first,
        last_name: last,
        birth_date: a.birth_date,
        email: own.then(|| a.email.trim().to_owned()),
        email_normalized: own.then(|| line.email_normalized.clone()),
        phone: if own {
            a.phone.as_deref().map(|p| p.trim().to_owned())
        } else {
            None
        },
        created_at: now.clone(),
        updated_at: now.clone(),
    }
}

/// Multi-row insert-or-update keyed by `legacy_id`. Upsert is spelled per backend
/// (the multi-connection enum does not carry ON CONFLICT).
fn upsert_accounts(conn: &mut DbConn, rows: &[LegacyAccountRow]) -> StoreResult<()> {
    use diesel::query_dsl::methods::FilterDsl;
    macro_rules! upsert {
        () => {
            diesel::insert_into(accounts::table)
                .values(rows)
                .on_conflict(accounts::legacy_id)
                .do_update()
                .set((
                    accounts::username.eq(excluded(accounts::username)),
                    accounts::username_normalized.eq(excluded(accounts::username_normalized)),
                    accounts::email.eq(excluded(accounts::email)),
                    accounts::email_normalized.eq(excluded(accounts::email_normalized)),
                    accounts::phone.eq(excluded(accounts::phone)),
                    accounts::legacy_password_hash.eq(excluded(accounts::legacy_password_hash)),
                    accounts::security_question.eq(excluded(accounts::security_question)),
                    accounts::security_answer_hash.eq(excluded(accounts::security_answer_hash)),
                    accounts::status.eq(excluded(accounts::status)),
                    accounts::legacy_created_at.eq(excluded(accounts::legacy_created_at)),
                    accounts::updated_at.eq(excluded(accounts::updated_at)),
                ))
        };
    }
    match conn {
        // The batch's lookups and this write share one IMMEDIATE transaction, which no
        // other writer can interleave (diesel's SQLite batch upsert takes no WHERE).
        DbConn::Sqlite(c) => upsert!().execute(c)?,
        // On PostgreSQL a reset may commit between the lookup and this write: the
        // login that finished it keeps its new password and status.
        DbConn::Postgres(c) => FilterDsl::filter(
            upsert!(),
            accounts::status
                .eq(MUST_RESET)
                .or(accounts::status.eq(NEEDS_NEW)),
        )
        .execute(c)?,
    };
    Ok(())
}

/// Plain inserts of new rows. SQLite: one cached prepared INSERT run once per row,
/// which beats multi-row INSERTs there (those are parsed afresh for every chunk and
/// keep a statement journal, since one of their rows could fail after others were
/// written): 10% more accounts per second. PostgreSQL: binary COPY, which skips
/// parsing and planning a statement with thousands of parameters for every chunk.
macro_rules! insert_all {
    ($fn:ident, $table:path, $row:ty) => {
        fn $fn(conn: &mut DbConn, rows: &[$row]) -> StoreResult<()> {
            if rows.is_empty() {
                return Ok(());
            }
            match conn {
                DbConn::Sqlite(c) => {
                    for row in rows {
                        diesel::insert_into($table).values(row).execute(c)?;
                    }
                }
                DbConn::Postgres(c) => {
                    diesel::copy_from($table).from_insertable(rows).execute(c)?;
                }
            }
            Ok(())
        }
    };
}

insert_all!(insert_accounts, accounts::table, LegacyAccountRow);
insert_all!(insert_records, patients::table, LegacyPatientRow);
insert_all!(insert_links, account_patients::table, LinkRow);

/// The closing pass: every legacy login awaiting its reset whose email another
/// non-deactivated login also uses is flagged. One GROUP BY over the table finds the
/// shared addresses (as many as there are duplicates, not accounts).
fn flag_shared_emails(conn: &mut DbConn, now: NaiveDateTime) -> StoreResult<u64> {
    let shared: Vec<String> = accounts::table
        .filter(accounts::status.ne(AccountStatus::Deactivated.as_str()))
        .group_by(accounts::email_normalized)
        .having(diesel::dsl::count_star().gt(1))
        .select(accounts::email_normalized)
        .load(conn)?;
    let mut flagged = 0;
    for emails in shared.chunks(LOOKUP_CHUNK) {
        flagged += diesel::update(
            accounts::table
                .filter(accounts::legacy_id.is_not_null())
                .filter(accounts::status.eq(MUST_RESET))
                .filter(accounts::email_normalized.eq_any(emails)),
        )
        .set((accounts::status.eq(NEEDS_NEW), accounts::updated_at.eq(now)))
        .execute(conn)? as u64;
    }
    Ok(flagged)
}

fn count_legacy(conn: &mut DbConn, status: &str) -> StoreResult<u64> {
    let n: i64 = accounts::table
        .filter(accounts::legacy_id.is_not_null())
        .filter(accounts::status.eq(status))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn finish(conn: &mut DbConn, now: NaiveDateTime) -> StoreResult<ImportTotals> {
    let flagged_by_final_pass = flag_shared_emails(conn, now)?;
    Ok(ImportTotals {
        needs_new_account: count_legacy(conn, NEEDS_NEW)?,
        flagged_by_final_pass,
    })
}

impl Store {
    /// Imports legacy logins batch by batch on one writer connection. Each batch commits
    /// on its own, so an interrupted import keeps what it wrote and a re-run continues
    /// idempotently. With `dry_run`, everything runs inside one transaction that is
    /// rolled back: the outcomes say what would happen and nothing is written.
    /// `on_batch` hears each batch's outcome as soon as it is done.
    pub async fn import_legacy<I, F>(
        &self,
        batches: I,
        dry_run: bool,
        now: DateTime<Utc>,
        mut on_batch: F,
    ) -> StoreResult<ImportTotals>
    where
        I: Iterator<Item = Vec<LegacyLine>> + Send + 'static,
        F: FnMut(BatchOutcome) + Send + 'static,
    {
        let db_now = time::to_db(now);
        self.with_writer(move |conn| {
            // SQLite's default page cache (2 MB) is far smaller than the indexes a
            // million accounts touch at random (emails, usernames): give the import's
            // connection 256 MB. Multi-row upserts keep a statement journal, which by
            // default is a temporary file: keep it in memory. Checkpoint every 1 GB of
            // WAL (262,144 pages) rather than every 4 MB, so an index page that many batches touch is
            // copied into the database once per checkpoint, not once per batch. The
            // connection goes back to the pool as it was.
            let sqlite = matches!(conn, DbConn::Sqlite(_));
            if sqlite {
                conn.batch_execute(
                    "PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY; \
                     PRAGMA wal_autocheckpoint = 262144;",
                )?;
            }
            let result = if dry_run {
                db::rolled_back_transaction(conn, |conn| {
                    for batch in batches {
                        on_batch(write_batch(conn, batch, now)?);
                    }
                    finish(conn, db_now)
                })
            } else {
                let written = || {
                    for (done, batch) in (1u64..).zip(batches) {
                        on_batch(db::write_transaction(conn, |conn| {
                            write_batch(conn, batch, now)
                        })?);
                        // PostgreSQL plans the batch lookups from table statistics, which
                        // autovacuum refreshes far too late for a table growing this fast:
                        // with a stale "empty table" estimate every lookup becomes a full
                        // scan. Refresh them after batches 1, 2, 4, 8, ...
                        if !sqlite && done.is_power_of_two() {
                            conn.batch_execute("ANALYZE accounts, patients, account_patients")?;
                        }
                    }
                    db::write_transaction(conn, |conn| finish(conn, db_now))
                };
                written()
            };
            if sqlite {
                conn.batch_execute(&format!(
                    "PRAGMA cache_size = -2000; PRAGMA temp_store = DEFAULT; \
                     PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}; \
                     PRAGMA wal_checkpoint(PASSIVE);",
                ))?;
            }
            result
        })
        .await
    }

    /// Legacy logins by migration status.
    pub async fn legacy_report(&self) -> StoreResult<LegacyReport> {
        self.read(|conn| {
            Ok(LegacyReport {
                must_reset: count_legacy(conn, MUST_RESET)?,
                reset_done: count_legacy(conn, AccountStatus::Active.as_str())?,
                needs_new_account: count_legacy(conn, NEEDS_NEW)?,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> LegacyAccount {
        LegacyAccount {
            legacy_id: "L1".into(),
            username: "jdoe".into(),
            email: "jane@example.com".into(),
            phone: Some("555-010-2000".into()),
            birth_date: NaiveDate::from_ymd_opt(1980, 2, 3).unwrap(),
            first_name: None,
            last_name: None,
            password_hash: "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy".into(),
            security_question: None,
            security_answer_hash: None,
            patient_ids: vec!["P1".into(), "C1".into(), "P1".into()],
            created_at: None,
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    #[test]
    fn the_first_record_is_the_holders_own_and_repeats_are_dropped() {
        assert_eq!(
            account().links(),
            vec![
                ("P1".to_owned(), Relationship::Own),
                ("C1".to_owned(), Relationship::Guardian)
            ]
        );
    }

    #[test]
    fn validation_names_the_field_at_fault() {
        assert!(account().validate(today()).is_ok());
        let reason = |a: LegacyAccount| match a.validate(today()) {
            Err(StoreError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        };
        let mut a = account();
        a.password_hash = "$2b$10$short".into();
        assert!(reason(a).starts_with("password_hash: malformed"));
        let mut a = account();
        a.password_hash = "{SSHA}abcdef".into();
        assert!(reason(a).starts_with("password_hash: unknown hash format"));
        let mut a = account();
        a.email = "jane@localhost".into();
        assert!(reason(a).starts_with("email:"));
        let mut a = account();
        a.security_answer_hash = Some(account().password_hash);
        assert!(reason(a).contains("go together"));
        let mut a = account();
        a.birth_date = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
        assert!(reason(a).starts_with("birth_date:"));
    }

    #[test]
    fn a_family_record_gets_a_placeholder_and_no_contacts() {
        let mut a = account();
        a.first_name = Some("Jane".into());
        a.last_name = Some("Doe".into());
        let now = BatchTime::new(
            NaiveDate::from_ymd_opt(2026, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        );
        let line = LegacyLine::new(1, a);
        let own = record_from_line("id1".into(), "P1", Relationship::Own, &line, &now);
        assert_eq!(
            (own.first_name.as_str(), own.last_name.as_str()),
            ("Jane", "Doe")
        );
        assert_eq!(own.email_normalized.as_deref(), Some("jane@example.com"));
        let child = record_from_line("id2".into(), "C1", Relationship::Guardian, &line, &now);
        assert_eq!(
            (child.first_name.as_str(), child.last_name.as_str()),
            ("Patient", "C1")
        );
        assert!(child.email.is_none() && child.phone.is_none());
    }

    /// A batch's preformatted time is stored exactly as diesel stores the same
    /// NaiveDateTime, so the two sort and compare as one.
    #[test]
    fn a_batch_time_is_stored_as_diesel_stores_a_timestamp() {
        use diesel::dsl::sql;
        use diesel::sql_types::Text;
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        for at in [
            "2026-12-04T17:52:29.123456",
            "2026-12-04T17:52:29",
            "1999-01-02T03:04:05.100",
        ] {
            let at: NaiveDateTime = at.parse().unwrap();
            let (ours, diesels): (String, String) = diesel::select((
                sql::<Text>("CAST(")
                    .bind::<Timestamp, _>(BatchTime::new(at))
                    .sql(" AS TEXT)"),
                sql::<Text>("CAST(")
                    .bind::<Timestamp, _>(at)
                    .sql(" AS TEXT)"),
            ))
            .get_result(&mut conn)
            .unwrap();
            assert_eq!(ours, diesels);
        }
    }
}
