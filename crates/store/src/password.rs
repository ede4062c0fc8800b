//! Password hashing: argon2id for every password pfid sets, and verification of the
//! legacy formats the old portal exported (bcrypt, PBKDF2-SHA256, argon2id).

use argon2::{Algorithm, Argon2, Params, Version};
use password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};

use crate::error::StoreError;

/// argon2id with the deployment's parameters (OWASP's m=19456 KiB, t=2, p=1 by default).
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A real hash of a random password, verified when no account matched, so that a
    /// failed login costs the same time whether or not the account exists.
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PasswordHasher(m={}, t={}, p={})",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost()
        )
    }
}

/// Legacy hash formats accepted from the old portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFormat {
    Argon2id,
    Bcrypt,
    Pbkdf2Sha256,
}

impl HashFormat {
    /// Recognises a PHC / modular-crypt string, or `None` for an unknown format.
    pub fn of(hash: &str) -> Option<Self> {
        if hash.starts_with("$argon2id$") {
            Some(HashFormat::Argon2id)
        } else if hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") {
            Some(HashFormat::Bcrypt)
        } else if hash.starts_with("$pbkdf2-sha256$") {
            Some(HashFormat::Pbkdf2Sha256)
        } else {
            None
        }
    }

    /// Whether the string is well formed for its format (parsable parameters and salt).
    pub fn is_well_formed(hash: &str) -> bool {
        match HashFormat::of(hash) {
            Some(HashFormat::Bcrypt) => hash.len() == 60,
            Some(_) => PasswordHash::new(hash).is_ok_and(|h| h.salt.is_some() && h.hash.is_some()),
            None => false,
        }
    }
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, StoreError> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| StoreError::Invalid(format!("argon2 parameters: {e}")))?;
        let mut hasher = PasswordHasher {
            params,
            dummy_hash: String::new(),
        };
        let filler = crate::secret::new_token("")?;
        hasher.dummy_hash = hasher.hash(&filler)?;
        Ok(hasher)
    }

    /// Checks argon2 parameters without building a hasher (for configuration errors).
    pub fn check_params(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<(), String> {
        Params::new(memory_kib, iterations, parallelism, None)
            .map(|_| ())
            .map_err(|e| format!("invalid argon2 parameters: {e}"))
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A new argon2id PHC string with a random salt. CPU-heavy: call off the event loop.
    pub fn hash(&self, password: &str) -> Result<String, StoreError> {
        let salt_bytes = crate::secret::random_bytes::<16>()?;
        let salt =
            SaltString::encode_b64(&salt_bytes).map_err(|e| StoreError::Crypto(e.to_string()))?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Crypto(e.to_string()))
    }

    /// Checks a password against any accepted format (argon2id with its own parameters,
    /// or a legacy bcrypt / PBKDF2 hash). An unparsable hash never matches.
    pub fn verify(&self, stored: &str, password: &str) -> bool {
        match HashFormat::of(stored) {
            Some(HashFormat::Argon2id) => PasswordHash::new(stored)
                .map(|h| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false),
            Some(HashFormat::Bcrypt) => bcrypt::verify(password, stored).unwrap_or(false),
            Some(HashFormat::Pbkdf2Sha256) => PasswordHash::new(stored)
                .map(|h| {
                    pbkdf2::Pbkdf2
                        .verify_password(password.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false),
            None => false,
        }
    }

    /// Spends the time of one verification and returns false: for logins that matched
    /// no account, so their timing gives nothing away.
    pub fn verify_nothing(&self, password: &str) -> bool {
        let _ = self.verify(&self.dummy_hash, password);
        false
    }

    /// Security answers are compared ignoring case and surrounding space.
    pub fn normalize_answer(answer: &str) -> String {
        answer.trim().to_lowercase()
    }
}

/// The 10,000 most common passwords (source and license in the file's header).
const COMMON_PASSWORDS: &str = include_str!("../resources/common-passwords.txt");

fn common_passwords() -> &'static std::collections::HashSet<&'static str> {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| {
        // The header ends at the first empty line; every line after it is a password.
        let body = COMMON_PASSWORDS
            .split_once("\n\n")
            .map_or(COMMON_PASSWORDS, |(_, b)| b);
        body.lines().filter(|l| !l.is_empty()).collect()
    })
}

/// Whether a password is among the 10,000 most common ones, ignoring case: attackers
/// try those first, whatever character classes they contain ("Password1" passes the
/// composition rule and is still among the first to be guessed).
pub fn is_common(password: &str) -> bool {
    common_passwords().contains(password.to_lowercase().as_str())
}

/// The new system's password rule (SPEC): at least 8 characters, a lower-case letter,
/// an upper-case letter and a number; and not one of the most common passwords. Returns
/// what is missing or wrong, in words, or nothing. The one place the rule lives: every
/// page that sets a password and `pfid account create` ask this function.
pub fn rule_violations(password: &str) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if password.chars().count() < 8 {
        missing.push("at least 8 characters");
    }
    if !password.chars().any(char::is_lowercase) {
        missing.push("a lower-case letter");
    }
    if !password.chars().any(char::is_uppercase) {
        missing.push("an upper-case letter");
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a number");
    }
    if password.chars().count() > 256 {
        missing.push("at most 256 characters");
    }
    if missing.is_empty() && is_common(password) {
        missing.push(COMMON_TEXT);
    }
    missing
}

/// What `rule_violations` says about a password that is too common.
pub const COMMON_TEXT: &str = "to be less common (it is one of the 10,000 most used passwords)";

/// The rule as shown to a patient before they type.
pub const RULE_TEXT: &str =
    "Your password must be at least 8 characters long and contain a lower-case letter, an upper-case letter and a number. Commonly used passwords are refused.";

/// The rule's complaint as one sentence for a page or a command line.
pub fn describe_violations(missing: &[&str]) -> String {
    if missing == [COMMON_TEXT] {
        return "This password is one of the 10,000 most used passwords, which attackers try first. Please choose another.".to_owned();
    }
    format!("Your password needs {}.", missing.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(1024, 1, 1).unwrap()
    }

    #[test]
    fn argon2id_round_trip() {
        let h = fast();
        let phc = h.hash("Correct horse 1").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(h.verify(&phc, "Correct horse 1"));
        assert!(!h.verify(&phc, "correct horse 1"));
    }

    #[test]
    fn bcrypt_legacy_hashes_verify() {
        let phc = bcrypt::hash("Secret12", 4).unwrap();
        let phc_2a = phc.replacen("$2b$", "$2a$", 1);
        assert!(fast().verify(&phc, "Secret12"));
        assert!(fast().verify(&phc_2a, "Secret12"));
        assert!(!fast().verify(&phc, "Secret13"));
    }

    #[test]
    fn pbkdf2_legacy_hashes_verify() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = pbkdf2::Params {
            rounds: 1000,
            output_length: 32,
        };
        let phc = pbkdf2::Pbkdf2
            .hash_password_customized(
                b"Secret12",
                Some(pbkdf2::Algorithm::Pbkdf2Sha256.ident()),
                None,
                params,
                &salt,
            )
            .unwrap()
            .to_string();
        assert!(phc.starts_with("$pbkdf2-sha256$"));
        assert!(fast().verify(&phc, "Secret12"));
        assert!(!fast().verify(&phc, "secret12"));
    }

    #[test]
    fn the_rule_names_what_is_missing() {
        assert!(rule_violations("Zebra-Lamp-8").is_empty());
        assert_eq!(rule_violations("abcdefg1"), vec!["an upper-case letter"]);
        assert_eq!(rule_violations("Abc1"), vec!["at least 8 characters"]);
        assert_eq!(
            rule_violations("ABCDEFGH"),
            vec!["a lower-case letter", "a number"]
        );
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        assert!(is_common("password1"));
        assert!(is_common("Password1"));
        assert!(is_common("123456"));
        assert!(!is_common("Zebra-Lamp-8"));
        assert_eq!(rule_violations("Password1"), vec![COMMON_TEXT]);
        assert_eq!(rule_violations("Abcdefg1"), vec![COMMON_TEXT]);
        assert!(
            common_passwords().len() >= 9_990,
            "{}",
            common_passwords().len()
        );
    }

    #[test]
    fn unknown_formats_never_verify() {
        assert!(!fast().verify("$md5$abc", "x"));
        assert!(!fast().verify("", ""));
        assert_eq!(HashFormat::of("$1$abc"), None);
        assert!(!HashFormat::is_well_formed("$argon2id$garbage"));
    }
}
