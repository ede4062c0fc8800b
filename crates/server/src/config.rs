//! Configuration: the defaults in `config/default.toml` (built in), a file layered on top,
//! then `PFID__SECTION__KEY` environment variables, into one typed, validated `Settings`.
//!
//! The built-in defaults double as the schema: a key that is not in them is unknown, and
//! an environment value is parsed as the type of the default it replaces. Every error is
//! one line naming the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use pfid_store::DatabaseUrl;
use serde::{Deserialize, Deserializer};

/// The built-in defaults (the same file operators read in `config/`).
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Every setting pfid reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub passwords: PasswordSettings,
    pub mail: MailSettings,
    pub sms: SmsSettings,
    pub migration: MigrationSettings,
    pub lifetimes: Lifetimes,
    pub keys: KeySettings,
    pub throttle: ThrottleSettings,
    pub developers: DeveloperSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    pub issuer: Issuer,
    pub workers: usize,
    pub log_format: LogFormat,
    pub log_level: String,
    pub max_body_bytes: usize,
    pub production: bool,
    pub product_name: String,
    pub data_dir: PathBuf,
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(deserialize_with = "database_url")]
    pub url: DatabaseUrl,
    pub pool_size: u32,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub from: String,
    pub smtp_url: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    pub gateway_url: String,
    pub gateway_token: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationSettings {
    #[serde(deserialize_with = "optional_time")]
    pub cutover: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    pub invitation: Duration,
    pub reset_link: Duration,
    pub security_code: Duration,
    pub authorization_code: Duration,
    pub access_token: Duration,
    pub id_token: Duration,
    pub refresh_token: Duration,
    pub refresh_token_idle: Duration,
    pub session: Duration,
    pub session_idle: Duration,
    pub pushed_request: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub encryption_key: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    pub login_failures_per_account: u32,
    pub login_failures_per_address: u32,
    pub login_window: Duration,
}

/// The developer portal and dynamic client registration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeveloperSettings {
    /// New apps from the portal or `/register` wait for an operator's approval.
    pub review_required: bool,
    /// How long a developer's email confirmation link works.
    pub verification_link: Duration,
}

/// A string that never shows in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
}

/// The issuer URL, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim().trim_end_matches('/');
        let url = url::Url::parse(trimmed).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or fragment (OpenID Connect Discovery §3)".into());
        }
        if url.host_str().is_none() {
            return Err("needs a host".into());
        }
        Ok(Issuer(trimmed.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
    /// An absolute URL under the issuer: `issuer.url("/token")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}

impl<'de> Deserialize<'de> for Issuer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Issuer::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A duration written as `90s`, `10m`, `48h` or `90d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub chrono::Duration);

impl Duration {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
        let (digits, unit) = raw.split_at(split);
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("`{raw}` is not a duration like 90s, 10m, 48h or 90d"))?;
        let seconds = match unit {
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86400,
            _ => {
                return Err(format!(
                    "`{raw}` is not a duration like 90s, 10m, 48h or 90d"
                ))
            }
        };
        if seconds <= 0 {
            return Err("a duration must be positive".into());
        }
        Ok(Duration(chrono::Duration::seconds(seconds)))
    }
    pub fn std(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::try_from(self.0.num_seconds()).unwrap_or(0))
    }
    pub fn seconds(&self) -> i64 {
        self.0.num_seconds()
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn database_url<'de, D: Deserializer<'de>>(d: D) -> Result<DatabaseUrl, D::Error> {
    let s = String::deserialize(d)?;
    DatabaseUrl::parse(&s).map_err(serde::de::Error::custom)
}

fn optional_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "not an RFC 3339 time ({e}), as in 2026-12-01T06:00:00Z"
            ))
        })
}

/// A configuration problem, displayed as one line that names the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "configuration error: {}", self.message)
        } else {
            write!(f, "configuration error in {}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn err(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

impl Settings {
    /// Loads the defaults, then `file`, then `PFID__*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let defaults: toml::Table = DEFAULT_TOML
            .parse()
            .map_err(|e| err("", format!("built-in defaults do not parse: {e}")))?;
        let mut merged = defaults.clone();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| err("", format!("cannot read {}: {e}", path.display())))?;
            let layer: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                err(
                    "",
                    format!(
                        "{} is not valid TOML: {}",
                        path.display(),
                        one_line(&e.to_string())
                    ),
                )
            })?;
            overlay(&defaults, &mut merged, layer)?;
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("PFID__") else {
                continue;
            };
            let parts: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            let [section, key] = parts.as_slice() else {
                return Err(err(name.clone(), "expected PFID__SECTION__KEY"));
            };
            let path = format!("{section}.{key}");
            let default = defaults
                .get(section)
                .and_then(toml::Value::as_table)
                .and_then(|t| t.get(key))
                .ok_or_else(|| err(path.clone(), format!("unknown key (from {name})")))?;
            let typed = typed_like(default, &value)
                .map_err(|m| err(path.clone(), format!("{m} (from {name})")))?;
            if let Some(table) = merged.get_mut(section).and_then(toml::Value::as_table_mut) {
                table.insert(key.clone(), typed);
            }
        }
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(merged))
            .map_err(|e| err(e.path().to_string(), one_line(&e.inner().to_string())))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The built-in defaults with `overrides` (TOML text) on top; for tests.
    pub fn from_toml(overrides: &str) -> Result<Settings, ConfigError> {
        let dir = std::env::temp_dir().join(format!("pfid-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| err("", e.to_string()))?;
        let file = dir.join("config.toml");
        std::fs::write(&file, overrides).map_err(|e| err("", e.to_string()))?;
        let result = Settings::load(Some(&file), std::iter::empty());
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.production {
            if self.keys.encryption_key.is_empty() {
                return Err(err(
                    "keys.encryption_key",
                    "required in production mode (base64 of 32 random bytes, shared by every node)",
                ));
            }
            if !self.server.issuer.is_https() {
                return Err(err("server.issuer", "must be https in production mode"));
            }
        }
        if !self.keys.encryption_key.is_empty() {
            crate::crypto::seal::decode_key(self.keys.encryption_key.expose())
                .map_err(|m| err("keys.encryption_key", m))?;
        }
        if self.database.pool_size == 0 {
            return Err(err("database.pool_size", "must be at least 1"));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(err("server.max_body_bytes", "must be at least 1024"));
        }
        if !self.sms.gateway_url.is_empty() {
            url::Url::parse(&self.sms.gateway_url)
                .map_err(|e| err("sms.gateway_url", format!("not a URL: {e}")))?;
        }
        if !self.mail.smtp_url.is_empty() {
            let scheme = self
                .mail
                .smtp_url
                .expose()
                .split("://")
                .next()
                .unwrap_or("");
            if !matches!(scheme, "smtp" | "smtps") || !self.mail.smtp_url.expose().contains("://") {
                return Err(err(
                    "mail.smtp_url",
                    "expected smtp://host:port or smtps://user:pass@host",
                ));
            }
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(err("mail.from", "not a valid sender address"));
        }
        pfid_store::PasswordHasher::check_params(
            self.passwords.argon2_memory_kib,
            self.passwords.argon2_iterations,
            self.passwords.argon2_parallelism,
        )
        .map_err(|m| err("passwords", m))?;
        let l = &self.lifetimes;
        if l.refresh_token_idle.0 > l.refresh_token.0 {
            return Err(err(
                "lifetimes.refresh_token_idle",
                "must not exceed lifetimes.refresh_token",
            ));
        }
        if l.pushed_request.seconds() > 600 {
            return Err(err(
                "lifetimes.pushed_request",
                "must be at most 10m (RFC 9126 §2.2: short-lived)",
            ));
        }
        if l.authorization_code.seconds() > 600 {
            return Err(err(
                "lifetimes.authorization_code",
                "must be at most 10m (RFC 6749 §4.1.2)",
            ));
        }
        Ok(())
    }
}

/// Lays `layer` over `merged`, refusing keys the defaults do not have.
fn overlay(
    defaults: &toml::Table,
    merged: &mut toml::Table,
    layer: toml::Table,
) -> Result<(), ConfigError> {
    for (section, value) in layer {
        let Some(default_section) = defaults.get(&section).and_then(toml::Value::as_table) else {
            return Err(err(section, "unknown section"));
        };
        let toml::Value::Table(entries) = value else {
            return Err(err(section, "must be a table ([section])"));
        };
        for (key, v) in entries {
            if !default_section.contains_key(&key) {
                return Err(err(format!("{section}.{key}"), "unknown key"));
            }
            if let Some(t) = merged.get_mut(&section).and_then(toml::Value::as_table_mut) {
                t.insert(key, v);
            }
        }
    }
    Ok(())
}

/// Parses an environment value as the type of the default it replaces.
fn typed_like(default: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    Ok(match default {
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("`{raw}` is not an integer"))?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(format!("`{raw}` is not true or false")),
        }),
        toml::Value::Float(_) => toml::Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| format!("`{raw}` is not a number"))?,
        ),
        _ => toml::Value::String(raw.to_owned()),
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_match_spec() {
        let s = Settings::load(None, env(&[])).unwrap();
        assert_eq!(s.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.server.issuer.as_str(), "http://127.0.0.1:8080");
        assert_eq!(
            s.database.url,
            DatabaseUrl::parse("sqlite://data/pfid.db").unwrap()
        );
        assert_eq!(s.lifetimes.invitation.seconds(), 48 * 3600);
        assert_eq!(s.lifetimes.reset_link.seconds(), 3600);
        assert_eq!(s.lifetimes.security_code.seconds(), 600);
        assert_eq!(s.lifetimes.authorization_code.seconds(), 60);
        assert_eq!(s.lifetimes.access_token.seconds(), 3600);
        assert_eq!(s.lifetimes.refresh_token.seconds(), 90 * 86400);
        assert!(s.keys.encryption_key.is_empty());
        assert!(s.mail.smtp_url.is_empty());
        assert!(s.migration.cutover.is_none());
        assert!(s.developers.review_required);
        assert_eq!(s.developers.verification_link.seconds(), 48 * 3600);
    }

    #[test]
    fn environment_overrides_with_the_defaults_types() {
        let s = Settings::load(
            None,
            env(&[
                (
                    "PFID__DATABASE__URL",
                    "postgres://postgres@127.0.0.1:5432/pfid",
                ),
                ("PFID__DATABASE__POOL_SIZE", "3"),
                ("PFID__SERVER__PRODUCTION", "false"),
                ("PFID__MIGRATION__CUTOVER", "2026-12-01T06:00:00Z"),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.pool_size, 3);
        assert_eq!(s.database.url.backend(), pfid_store::Backend::Postgres);
        assert!(s.migration.cutover.is_some());
    }

    #[test]
    fn an_unknown_key_is_named() {
        let e = Settings::from_toml("[server]\nbnd = \"x\"\n").unwrap_err();
        assert_eq!(e.key, "server.bnd");
        let e = Settings::load(None, env(&[("PFID__SERVER__BND", "x")])).unwrap_err();
        assert_eq!(e.key, "server.bnd");
        let e = Settings::from_toml("[nope]\na = 1\n").unwrap_err();
        assert_eq!(e.key, "nope");
    }

    #[test]
    fn a_malformed_value_is_named() {
        let e = Settings::from_toml("[database]\npool_size = \"many\"\n").unwrap_err();
        assert_eq!(e.key, "database.pool_size");
        let e = Settings::load(None, env(&[("PFID__DATABASE__POOL_SIZE", "many")])).unwrap_err();
        assert_eq!(e.key, "database.pool_size");
        let e = Settings::from_toml("[lifetimes]\ninvitation = \"2 days\"\n").unwrap_err();
        assert_eq!(e.key, "lifetimes.invitation");
        let e = Settings::from_toml("[server]\nbind = \"nowhere\"\n").unwrap_err();
        assert_eq!(e.key, "server.bind");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn a_bad_database_url_is_named() {
        let e = Settings::load(None, env(&[("PFID__DATABASE__URL", "mysql://x")])).unwrap_err();
        assert_eq!(e.key, "database.url");
        let e = Settings::load(None, env(&[("PFID__DATABASE__URL", "postgres://")])).unwrap_err();
        assert_eq!(e.key, "database.url");
    }

    #[test]
    fn production_needs_an_encryption_key_and_https() {
        let e = Settings::load(None, env(&[("PFID__SERVER__PRODUCTION", "true")])).unwrap_err();
        assert_eq!(e.key, "keys.encryption_key");
        let e = Settings::load(
            None,
            env(&[
                ("PFID__SERVER__PRODUCTION", "true"),
                (
                    "PFID__KEYS__ENCRYPTION_KEY",
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                ),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.key, "server.issuer");
        let e = Settings::load(None, env(&[("PFID__KEYS__ENCRYPTION_KEY", "short")])).unwrap_err();
        assert_eq!(e.key, "keys.encryption_key");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(Duration::parse("90s").unwrap().seconds(), 90);
        assert_eq!(Duration::parse("10m").unwrap().seconds(), 600);
        assert_eq!(Duration::parse("90d").unwrap().seconds(), 90 * 86400);
        assert!(Duration::parse("0s").is_err());
        assert!(Duration::parse("10").is_err());
        assert!(Duration::parse("h").is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = Settings::load(None, env(&[("PFID__SMS__GATEWAY_TOKEN", "hunter2")])).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
