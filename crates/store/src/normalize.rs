//! The one place where usernames, emails and phone numbers are normalised, so that the
//! uniqueness rules in the database and the lookups at login always agree.

use crate::error::StoreError;

/// Case-folded, trimmed username: "Jane.Doe " and "jane.doe" are the same login.
pub fn username(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Trimmed, lower-cased email address (the whole address: providers differ on whether
/// the local part is case-sensitive, and a patient never means two mailboxes by case).
pub fn email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Digits only, with a leading North American country code dropped, so that
/// "+1 (555) 010-2000", "555.010.2000" and "15550102000" compare equal.
pub fn phone(raw: &str) -> String {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix('1') {
        Some(rest) if digits.len() == 11 => rest.to_owned(),
        _ => digits,
    }
}

/// The E.164 form sent to the SMS gateway: "+1" and ten digits for North American
/// numbers, "+" and the digits otherwise.
pub fn phone_e164(raw: &str) -> String {
    let national = phone(raw);
    if national.len() == 10 {
        format!("+1{national}")
    } else {
        format!("+{national}")
    }
}

/// Checks a username as a patient types it.
pub fn validate_username(raw: &str) -> Result<(), StoreError> {
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len < 3 {
        return Err(StoreError::Invalid(
            "username must be at least 3 characters".into(),
        ));
    }
    if len > 254 {
        return Err(StoreError::Invalid(
            "username must be at most 254 characters".into(),
        ));
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::Invalid(
            "username must not contain spaces".into(),
        ));
    }
    Ok(())
}

/// A light syntactic check: one `@`, something on each side, a dot in the domain, no
/// spaces. Deliverability is proven by the confirmation link, not by a regex.
pub fn validate_email(raw: &str) -> Result<(), StoreError> {
    let e = raw.trim();
    let ok = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && match e.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "not a valid email address: {e}"
        )))
    }
}

/// A phone number needs 10 to 15 digits.
pub fn validate_phone(raw: &str) -> Result<(), StoreError> {
    let n = raw.chars().filter(char::is_ascii_digit).count();
    let allowed = raw
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if allowed && (10..=15).contains(&n) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "not a valid phone number: {raw}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_compare_by_digits() {
        assert_eq!(phone("+1 (555) 010-2000"), "5550102000");
        assert_eq!(phone("555.010.2000"), "5550102000");
        assert_eq!(phone_e164("555-010-2000"), "+15550102000");
        assert_eq!(phone_e164("+44 20 7946 0958"), "+442079460958");
    }

    #[test]
    fn emails_and_usernames_fold_case_and_space() {
        assert_eq!(email("  Jane@Example.COM "), "jane@example.com");
        assert_eq!(username(" JaneDoe"), "janedoe");
    }

    #[test]
    fn validation_refuses_obvious_garbage() {
        assert!(validate_email("jane@example.com").is_ok());
        assert!(validate_email("jane@localhost").is_err());
        assert!(validate_email("ja ne@example.com").is_err());
        assert!(validate_email("@example.com").is_err());
        assert!(validate_username("jo").is_err());
        assert!(validate_username("jo hn").is_err());
        assert!(validate_phone("555-010-2000").is_ok());
        assert!(validate_phone("12345").is_err());
    }
}
