//! The store's one error type.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong in the store. `Conflict` and `NotFound` are expected outcomes that
/// callers map to user-facing answers; the rest are operational failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness or integrity rule refused the write; the text names the rule.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Input that the store's validating constructors refuse.
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("schema migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Db(DieselError),
    #[error("crypto error: {0}")]
    Crypto(String),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(conflict_name(info.constraint_name(), info.message()))
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                StoreError::Conflict(format!("reference: {}", info.message()))
            }
            DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                StoreError::Invalid(info.message().to_owned())
            }
            other => StoreError::Db(other),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Names the violated rule the same way on both backends. PostgreSQL reports the index
/// name; SQLite reports "UNIQUE constraint failed: table.column".
fn conflict_name(constraint: Option<&str>, message: &str) -> String {
    let hay = constraint.unwrap_or(message);
    for (needle, name) in [
        ("username_normalized", "username"),
        ("accounts_email_unique_live", "email"),
        ("accounts.email_normalized", "email"),
        ("external_id", "external_id"),
        ("legacy_id", "legacy_id"),
        ("account_patients_one_self", "self_record"),
    ] {
        if hay.contains(needle) {
            return name.to_owned();
        }
    }
    hay.to_owned()
}

impl StoreError {
    /// True when the write broke the named uniqueness rule ("username", "email", ...).
    pub fn is_conflict_on(&self, rule: &str) -> bool {
        matches!(self, StoreError::Conflict(name) if name == rule)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
