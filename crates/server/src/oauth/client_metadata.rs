//! Client metadata: the rules every app follows, whether it comes from the developer
//! portal's form or from the registration endpoint (RFC 7591 §2, OpenID Connect
//! Dynamic Client Registration 1.0 §2, RFC 8252 for native apps). One module, so the
//! pages and the API can never disagree about what a valid app is.
//!
//! `validate` checks a `Draft` (what the developer or the client sent, as text) and
//! returns either the clean `Metadata` or every problem, each naming its field with a
//! message a developer can act on.

use std::net::{Ipv4Addr, Ipv6Addr};

use pfid_store::clients::{AppType, AuthMethod, Client, ClientStatus, NewClient};
use serde_json::{json, Map, Value};
use url::{Host, Url};

use crate::oauth::scope;

/// Longest URI accepted anywhere in the metadata.
pub const MAX_URI_CHARS: usize = 2000;
/// Most redirect URIs (and post-logout redirect URIs) an app may register.
pub const MAX_REDIRECT_URIS: usize = 20;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
pub const MAX_CONTACTS: usize = 10;
pub const MAX_JWKS_BYTES: usize = 16 * 1024;
pub const MAX_JWKS_KEYS: usize = 10;

/// Grant types pfid supports.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// JWK members that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2).
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What a problem is, in RFC 7591 §3.2.2 terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `invalid_redirect_uri`: a redirect URI (or post-logout one) is refused.
    RedirectUri,
    /// `invalid_client_metadata`: any other field.
    Metadata,
    /// `invalid_software_statement`.
    SoftwareStatement,
}

impl ErrorKind {
    /// The RFC 7591 §3.2.2 error code.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::RedirectUri => "invalid_redirect_uri",
            ErrorKind::Metadata => "invalid_client_metadata",
            ErrorKind::SoftwareStatement => "invalid_software_statement",
        }
    }
}

/// One refused field, with the message shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The metadata name (RFC 7591 §2), which is also the form field's name.
    pub field: &'static str,
    pub kind: ErrorKind,
    pub message: String,
}

impl FieldError {
    fn metadata(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            kind: ErrorKind::Metadata,
            message: message.into(),
        }
    }
    fn redirect(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            kind: if field == "redirect_uris" || field == "post_logout_redirect_uris" {
                ErrorKind::RedirectUri
            } else {
                ErrorKind::Metadata
            },
            message: message.into(),
        }
    }
}

/// The RFC 7591 §3.2.2 error for a list of problems: the first redirect URI problem
/// if any (the more specific code), else the first problem; the description names
/// every problem.
pub fn registration_error(errors: &[FieldError]) -> (&'static str, String) {
    let code = errors
        .iter()
        .find(|e| e.kind == ErrorKind::SoftwareStatement)
        .or_else(|| errors.iter().find(|e| e.kind == ErrorKind::RedirectUri))
        .or(errors.first())
        .map(|e| e.kind.code())
        .unwrap_or("invalid_client_metadata");
    let description = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join(" ");
    (code, description)
}

/// An app's metadata as sent, before validation. `None` means "not given": defaults
/// apply where the specifications give one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub name: Option<String>,
    pub description: Option<String>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// `web`, `spa`, `native` or `service`.
    pub app_type: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    /// None: derived from the app type and the scopes.
    pub grant_types: Option<Vec<String>>,
    /// None: derived from the grant types.
    pub response_types: Option<Vec<String>>,
    /// None: the app type's default.
    pub auth_method: Option<String>,
    /// A JWK Set as JSON text.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub require_par: bool,
    pub contacts: Vec<String>,
}

/// Metadata that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub description: Option<String>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub app_type: AppType,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// Compact JSON of a validated JWK Set of public keys.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub id_token_signed_response_alg: String,
    pub backchannel_logout_uri: Option<String>,
    pub require_par: bool,
    pub contacts: Vec<String>,
}

impl Metadata {
    /// The store's view of a new app with this metadata.
    pub fn to_new_client(&self, status: ClientStatus, developer_id: Option<String>) -> NewClient {
        NewClient {
            name: self.name.clone(),
            description: self.description.clone(),
            logo_uri: self.logo_uri.clone(),
            client_uri: self.client_uri.clone(),
            policy_uri: self.policy_uri.clone(),
            tos_uri: self.tos_uri.clone(),
            app_type: self.app_type,
            auth_method: self.auth_method,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            scopes: self.scopes.clone(),
            jwks: self.jwks.clone(),
            jwks_uri: self.jwks_uri.clone(),
            id_token_signed_response_alg: self.id_token_signed_response_alg.clone(),
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            require_par: self.require_par,
            status,
            developer_id,
        }
    }

    /// The metadata an app holds now (to prefill a form, or to compare with a change).
    pub fn of_client(c: &Client, contacts: &[String]) -> Metadata {
        Metadata {
            name: c.name.clone(),
            description: c.description.clone(),
            logo_uri: c.logo_uri.clone(),
            client_uri: c.client_uri.clone(),
            policy_uri: c.policy_uri.clone(),
            tos_uri: c.tos_uri.clone(),
            app_type: c.app_type,
            auth_method: c.auth_method,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            scopes: c.scopes.clone(),
            jwks: c.jwks.clone(),
            jwks_uri: c.jwks_uri.clone(),
            id_token_signed_response_alg: c.id_token_signed_response_alg.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            require_par: c.require_par,
            contacts: contacts.to_vec(),
        }
    }

    /// Whether replacing `current` with this metadata changes what the review approved:
    /// what patients see on the consent page (name, logo, links), where their codes and
    /// logout tokens may go, or what the app may ask for. Keys, description, contacts
    /// and the authentication method within the app type do not.
    pub fn changes_reviewed_fields(&self, current: &Metadata) -> bool {
        let widened = |new: &[String], old: &[String]| new.iter().any(|item| !old.contains(item));
        self.name != current.name
            || self.logo_uri != current.logo_uri
            || self.client_uri != current.client_uri
            || self.policy_uri != current.policy_uri
            || self.tos_uri != current.tos_uri
            || self.backchannel_logout_uri != current.backchannel_logout_uri
            || widened(&self.redirect_uris, &current.redirect_uris)
            || widened(
                &self.post_logout_redirect_uris,
                &current.post_logout_redirect_uris,
            )
            || widened(&self.scopes, &current.scopes)
            || widened(&self.grant_types, &current.grant_types)
    }
}

/// Whether an app of this type signs patients in (and so has redirect URIs).
fn signs_patients_in(app_type: AppType) -> bool {
    app_type != AppType::Service
}

fn shown(raw: &str) -> String {
    let mut s: String = raw.chars().take(80).collect();
    if raw.chars().count() > 80 {
        s.push('…');
    }
    s
}

fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        _ => false,
    }
}

/// A private-use URI scheme must be a reverse domain name (RFC 8252 §7.1): at least two
/// dot-separated labels of letters, digits and hyphens.
fn is_reverse_dns_scheme(scheme: &str) -> bool {
    let labels: Vec<&str> = scheme.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Checks one redirect URI (or post-logout redirect URI, `what` says which) for an
/// app type. RFC 6749 §3.1.2 (absolute, no fragment), RFC 9700 §2.1 (exact matching,
/// so no wildcards), RFC 8252 §7 (native apps: private-use schemes, claimed https, or
/// loopback IP literals on any port; §8.3: not `localhost`).
pub fn check_redirect_uri(raw: &str, app_type: AppType, what: &str) -> Result<(), String> {
    let s = shown(raw);
    if raw.chars().count() > MAX_URI_CHARS {
        return Err(format!(
            "The {what} \"{s}\" is longer than {MAX_URI_CHARS} characters."
        ));
    }
    if raw.contains('*') {
        return Err(format!(
            "The {what} \"{s}\" must not contain wildcards (*): it is matched exactly."
        ));
    }
    if raw.contains('#') {
        return Err(format!(
            "The {what} \"{s}\" must not contain a fragment (#)."
        ));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("The {what} \"{s}\" must not contain spaces."));
    }
    let url = Url::parse(raw).map_err(|_| format!("The {what} \"{s}\" is not an absolute URI."))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "The {what} \"{s}\" must not contain a user name or password."
        ));
    }
    match url.scheme() {
        "https" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("The {what} \"{s}\" needs a host."));
            }
            Ok(())
        }
        "http" => {
            let loopback = is_loopback(url.host());
            match app_type {
                AppType::Native if loopback => Ok(()),
                AppType::Native if url.host_str() == Some("localhost") => Err(format!(
                    "The {what} \"{s}\" uses localhost: use the loopback address \
                     http://127.0.0.1 (or http://[::1]) instead (RFC 8252 §8.3)."
                )),
                AppType::Native => Err(format!(
                    "The {what} \"{s}\" uses http, which is allowed only for the loopback \
                     addresses 127.0.0.1 and [::1] (RFC 8252 §7.3); use https."
                )),
                _ if loopback || url.host_str() == Some("localhost") => Err(format!(
                    "The {what} \"{s}\" must use https: http on a loopback address is only \
                     for native apps."
                )),
                _ => Err(format!("The {what} \"{s}\" must use https.")),
            }
        }
        scheme => {
            if app_type != AppType::Native {
                return Err(format!(
                    "The {what} \"{s}\" must use https: custom URI schemes are only for \
                     native apps."
                ));
            }
            if !is_reverse_dns_scheme(scheme) {
                return Err(format!(
                    "The {what} \"{s}\" uses the scheme \"{scheme}\": a private-use URI \
                     scheme must be a reverse domain name you control, such as \
                     com.example.app (RFC 8252 §7.1)."
                ));
            }
            Ok(())
        }
    }
}

/// Whether `requested` matches the registered redirect URI `registered`: exactly
/// (RFC 9700 §4.1.3), except that for a native app's loopback IP redirect URI any port
/// is accepted (RFC 8252 §7.3: the port is chosen at run time).
pub fn redirect_uri_matches(registered: &str, requested: &str, app_type: AppType) -> bool {
    if registered == requested {
        return true;
    }
    if app_type != AppType::Native {
        return false;
    }
    let (Ok(reg), Ok(req)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    reg.scheme() == "http"
        && req.scheme() == "http"
        && is_loopback(reg.host())
        && reg.host() == req.host()
        && req.username().is_empty()
        && req.password().is_none()
        && reg.path() == req.path()
        && reg.query() == req.query()
        && req.fragment().is_none()
}

/// Checks an https URL that is not a redirect (homepage, logo, links, JWKS URI).
fn check_https_url(raw: &str, label: &str, allow_fragment: bool) -> Result<(), String> {
    let s = shown(raw);
    if raw.chars().count() > MAX_URI_CHARS {
        return Err(format!(
            "{label} is longer than {MAX_URI_CHARS} characters."
        ));
    }
    let url = Url::parse(raw).map_err(|_| format!("{label} \"{s}\" is not a valid URL."))?;
    if url.scheme() != "https" {
        return Err(format!("{label} must be an https URL."));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{label} \"{s}\" needs a host."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{label} must not contain a user name or password."));
    }
    if !allow_fragment && url.fragment().is_some() {
        return Err(format!("{label} must not contain a fragment (#)."));
    }
    Ok(())
}

fn is_base64url(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Checks a JWK Set of public keys (RFC 7517 §5) and returns it as compact JSON.
pub fn check_jwks(text: &str) -> Result<String, String> {
    if text.len() > MAX_JWKS_BYTES {
        return Err(format!(
            "The JWKS is larger than {} KB.",
            MAX_JWKS_BYTES / 1024
        ));
    }
    let set: Value =
        serde_json::from_str(text).map_err(|_| "The JWKS is not valid JSON.".to_owned())?;
    let Some(keys) = set.get("keys").and_then(Value::as_array) else {
        return Err(
            "The JWKS must be a JSON object with a \"keys\" array (a JWK Set, RFC 7517 §5).".into(),
        );
    };
    if keys.is_empty() {
        return Err("The JWKS holds no keys.".into());
    }
    if keys.len() > MAX_JWKS_KEYS {
        return Err(format!("The JWKS can hold at most {MAX_JWKS_KEYS} keys."));
    }
    let mut kids: Vec<&str> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let n = i + 1;
        let Some(obj) = key.as_object() else {
            return Err(format!("Key {n} of the JWKS is not a JSON object."));
        };
        let Some(kty) = obj.get("kty").and_then(Value::as_str) else {
            return Err(format!("Key {n} of the JWKS has no \"kty\"."));
        };
        if kty == "oct" {
            return Err(format!(
                "Key {n} of the JWKS is a symmetric key (\"oct\"): register public keys only."
            ));
        }
        if let Some(m) = PRIVATE_JWK_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(format!(
                "Key {n} of the JWKS holds private key material (\"{m}\"): register public keys only."
            ));
        }
        let required: &[&str] = match kty {
            "RSA" => &["n", "e"],
            "EC" => &["crv", "x", "y"],
            "OKP" => &["crv", "x"],
            other => {
                return Err(format!(
                    "Key {n} of the JWKS has the unsupported key type \"{}\": use RSA, EC or OKP.",
                    shown(other)
                ))
            }
        };
        for member in required {
            let Some(value) = obj.get(*member).and_then(Value::as_str) else {
                return Err(format!(
                    "Key {n} of the JWKS ({kty}) lacks its \"{member}\" member."
                ));
            };
            if *member != "crv" && !is_base64url(value) {
                return Err(format!(
                    "Key {n} of the JWKS: \"{member}\" is not base64url."
                ));
            }
        }
        if kty == "EC"
            && !matches!(
                obj.get("crv").and_then(Value::as_str),
                Some("P-256" | "P-384" | "P-521")
            )
        {
            return Err(format!(
                "Key {n} of the JWKS has an unsupported curve: use P-256, P-384 or P-521."
            ));
        }
        if kty == "OKP" && obj.get("crv").and_then(Value::as_str) != Some("Ed25519") {
            return Err(format!(
                "Key {n} of the JWKS has an unsupported curve: OKP keys must be Ed25519."
            ));
        }
        if let Some(u) = obj.get("use") {
            if u.as_str() != Some("sig") {
                return Err(format!(
                    "Key {n} of the JWKS is not a signing key: its \"use\" must be \"sig\"."
                ));
            }
        }
        if let Some(kid) = obj.get("kid").and_then(Value::as_str) {
            if kids.contains(&kid) {
                return Err(format!(
                    "Two keys of the JWKS share the kid \"{}\".",
                    shown(kid)
                ));
            }
            kids.push(kid);
        }
    }
    Ok(set.to_string())
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn parse_app_type(raw: &str) -> Option<AppType> {
    AppType::parse(raw).ok()
}

/// Validates a draft. Every problem is reported, each with its field.
pub fn validate(d: &Draft) -> Result<Metadata, Vec<FieldError>> {
    let mut errors = Vec::new();

    let name = match non_empty(&d.name) {
        None => {
            errors.push(FieldError::metadata("client_name", "Enter the app's name."));
            String::new()
        }
        Some(n) if n.chars().count() > MAX_NAME_CHARS => {
            errors.push(FieldError::metadata(
                "client_name",
                format!("The name can be at most {MAX_NAME_CHARS} characters."),
            ));
            String::new()
        }
        Some(n) if n.chars().any(char::is_control) => {
            errors.push(FieldError::metadata(
                "client_name",
                "The name must not contain control characters.",
            ));
            String::new()
        }
        Some(n) => n.to_owned(),
    };
    let description = non_empty(&d.description).map(str::to_owned);
    if description
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        errors.push(FieldError::metadata(
            "description",
            format!("The description can be at most {MAX_DESCRIPTION_CHARS} characters."),
        ));
    }

    let mut url_field = |field: &'static str, label: &str, value: &Option<String>| {
        let v = non_empty(value)?;
        match check_https_url(
            v,
            label,
            field != "jwks_uri" && field != "backchannel_logout_uri",
        ) {
            Ok(()) => Some(v.to_owned()),
            Err(m) => {
                errors.push(FieldError::metadata(field, m));
                None
            }
        }
    };
    let logo_uri = url_field("logo_uri", "The logo URI", &d.logo_uri);
    let client_uri = url_field("client_uri", "The homepage", &d.client_uri);
    let policy_uri = url_field("policy_uri", "The privacy policy URI", &d.policy_uri);
    let tos_uri = url_field("tos_uri", "The terms of service URI", &d.tos_uri);
    let jwks_uri = url_field("jwks_uri", "The JWKS URI", &d.jwks_uri);
    let backchannel_logout_uri = url_field(
        "backchannel_logout_uri",
        "The back-channel logout URI",
        &d.backchannel_logout_uri,
    );

    let app_type = match non_empty(&d.app_type) {
        None => {
            errors.push(FieldError::metadata("app_type", "Choose the app type."));
            None
        }
        Some(t) => match parse_app_type(t) {
            Some(t) => Some(t),
            None => {
                errors.push(FieldError::metadata(
                    "app_type",
                    "Choose the app type: web app, single-page app, native app or back-end service.",
                ));
                None
            }
        },
    };

    // Scopes: only those pfid supports, in its stable order.
    let mut scopes: Vec<String> = Vec::new();
    for s in &d.scopes {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        if !scope::SUPPORTED.contains(&s) {
            errors.push(FieldError::metadata(
                "scope",
                format!(
                    "Unknown scope \"{}\": pfid supports {}.",
                    shown(s),
                    scope::SUPPORTED.join(", ")
                ),
            ));
        }
    }
    for s in scope::SUPPORTED {
        if d.scopes.iter().any(|r| r.trim() == s) {
            scopes.push(s.to_owned());
        }
    }

    let auth_method = match non_empty(&d.auth_method) {
        None => app_type.map(|t| match t {
            AppType::Spa | AppType::Native => AuthMethod::None,
            AppType::Web | AppType::Service => AuthMethod::ClientSecretBasic,
        }),
        Some(m) => match AuthMethod::parse(m) {
            Ok(m) => Some(m),
            Err(_) => {
                errors.push(FieldError::metadata(
                    "token_endpoint_auth_method",
                    format!(
                        "Unknown token endpoint authentication method \"{}\": use \
                         client_secret_basic, client_secret_post, private_key_jwt or none.",
                        shown(m)
                    ),
                ));
                None
            }
        },
    };
    if let (Some(t), Some(m)) = (app_type, auth_method) {
        match t {
            AppType::Spa | AppType::Native if m != AuthMethod::None => {
                errors.push(FieldError::metadata(
                    "token_endpoint_auth_method",
                    "A single-page or native app cannot keep a secret: its token endpoint \
                     authentication method is none (it proves itself with PKCE instead).",
                ));
            }
            AppType::Web | AppType::Service if m == AuthMethod::None => {
                errors.push(FieldError::metadata(
                    "token_endpoint_auth_method",
                    "A web app or back-end service authenticates at the token endpoint: \
                     choose client_secret_basic, client_secret_post or private_key_jwt.",
                ));
            }
            _ => {}
        }
    }

    let jwks = match non_empty(&d.jwks) {
        None => None,
        Some(text) => match check_jwks(text) {
            Ok(j) => Some(j),
            Err(m) => {
                errors.push(FieldError::metadata("jwks", m));
                None
            }
        },
    };
    let jwks_given = non_empty(&d.jwks).is_some();
    let jwks_uri_given = non_empty(&d.jwks_uri).is_some();
    match auth_method {
        Some(AuthMethod::PrivateKeyJwt) => {
            if jwks_given && jwks_uri_given {
                errors.push(FieldError::metadata(
                    "jwks",
                    "Give either a JWKS or a JWKS URI, not both (RFC 7591 §2).",
                ));
            } else if !jwks_given && !jwks_uri_given {
                errors.push(FieldError::metadata(
                    "jwks",
                    "private_key_jwt needs your public keys: paste a JWKS or give a JWKS URI.",
                ));
            }
        }
        Some(_) if jwks_given || jwks_uri_given => {
            errors.push(FieldError::metadata(
                if jwks_given { "jwks" } else { "jwks_uri" },
                "A JWKS or JWKS URI is used only with the private_key_jwt authentication method.",
            ));
        }
        _ => {}
    }

    let grant_types: Vec<String> = match (&d.grant_types, app_type) {
        (Some(g), _) => {
            let mut out: Vec<String> = Vec::new();
            for g in g.iter().map(|g| g.trim()).filter(|g| !g.is_empty()) {
                if !GRANT_TYPES.contains(&g) {
                    let hint = match g {
                        "implicit" => " The implicit grant is not offered (RFC 9700 §2.1.2): use authorization_code with PKCE.",
                        "password" => " The password grant is not offered (RFC 9700 §2.4).",
                        _ => "",
                    };
                    errors.push(FieldError::metadata(
                        "grant_types",
                        format!(
                            "The grant type \"{}\" is not supported: pfid supports \
                             authorization_code, refresh_token and client_credentials.{hint}",
                            shown(g)
                        ),
                    ));
                } else if !out.iter().any(|o| o == g) {
                    out.push(g.to_owned());
                }
            }
            out
        }
        (None, Some(AppType::Service)) => vec!["client_credentials".to_owned()],
        (None, _) => {
            let mut g = vec!["authorization_code".to_owned()];
            if scopes.iter().any(|s| s == "offline_access") {
                g.push("refresh_token".to_owned());
            }
            g
        }
    };
    let has_grant = |g: &str| grant_types.iter().any(|x| x == g);
    if let Some(t) = app_type {
        if t == AppType::Service {
            if grant_types != ["client_credentials"] {
                errors.push(FieldError::metadata(
                    "grant_types",
                    "A back-end service uses the client_credentials grant only.",
                ));
            }
        } else {
            if !has_grant("authorization_code") {
                errors.push(FieldError::metadata(
                    "grant_types",
                    "An app that signs patients in uses the authorization_code grant.",
                ));
            }
            if has_grant("client_credentials") && matches!(t, AppType::Spa | AppType::Native) {
                errors.push(FieldError::metadata(
                    "grant_types",
                    "client_credentials needs an app that keeps a secret (a web app or a \
                     back-end service).",
                ));
            }
        }
    }
    if scopes.iter().any(|s| s == "offline_access") && !has_grant("refresh_token") {
        errors.push(FieldError::metadata(
            "scope",
            "The offline_access scope needs the refresh_token grant type.",
        ));
    }
    if let Some(t) = app_type {
        if signs_patients_in(t) && scopes.is_empty() && d.scopes.is_empty() {
            errors.push(FieldError::metadata(
                "scope",
                "Choose at least one scope (openid to sign patients in).",
            ));
        }
    }
    if let Some(rt) = &d.response_types {
        let mut code = false;
        for r in rt.iter().map(|r| r.trim()) {
            if r == "code" {
                code = true;
            } else {
                errors.push(FieldError::metadata(
                    "response_types",
                    format!(
                        "The response type \"{}\" is not supported: pfid supports \"code\" only.",
                        shown(r)
                    ),
                ));
            }
        }
        if code != has_grant("authorization_code") {
            errors.push(FieldError::metadata(
                "response_types",
                "response_types and grant_types disagree: the \"code\" response type goes \
                 with the authorization_code grant (RFC 7591 §2.1).",
            ));
        }
    }

    let mut uri_list = |field: &'static str, what: &str, list: &[String]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let Some(t) = app_type else {
            return out;
        };
        let given: Vec<&str> = list
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .collect();
        if !signs_patients_in(t) {
            if !given.is_empty() {
                errors.push(FieldError::redirect(
                    field,
                    format!("A back-end service does not sign patients in, so it has no {what}s."),
                ));
            }
            return out;
        }
        if given.len() > MAX_REDIRECT_URIS {
            errors.push(FieldError::redirect(
                field,
                format!("Register at most {MAX_REDIRECT_URIS} {what}s."),
            ));
            return out;
        }
        for u in given {
            match check_redirect_uri(u, t, what) {
                Ok(()) => {
                    if !out.iter().any(|o| o == u) {
                        out.push(u.to_owned());
                    }
                }
                Err(m) => errors.push(FieldError::redirect(field, m)),
            }
        }
        out
    };
    let redirect_uris = uri_list("redirect_uris", "redirect URI", &d.redirect_uris);
    let post_logout_redirect_uris = uri_list(
        "post_logout_redirect_uris",
        "post-logout redirect URI",
        &d.post_logout_redirect_uris,
    );
    if app_type.is_some_and(signs_patients_in)
        && !d.redirect_uris.iter().any(|u| !u.trim().is_empty())
    {
        errors.push(FieldError::redirect(
            "redirect_uris",
            "Add at least one redirect URI: where pfid sends patients back to your app.",
        ));
    }
    if app_type == Some(AppType::Service) && backchannel_logout_uri.is_some() {
        errors.push(FieldError::metadata(
            "backchannel_logout_uri",
            "A back-end service has no patient sessions, so it has no back-channel logout URI.",
        ));
    }

    let alg = non_empty(&d.id_token_signed_response_alg)
        .unwrap_or("ES256")
        .to_owned();
    if !matches!(alg.as_str(), "ES256" | "RS256") {
        errors.push(FieldError::metadata(
            "id_token_signed_response_alg",
            "The ID token signing algorithm must be ES256 or RS256.",
        ));
    }

    let mut contacts: Vec<String> = Vec::new();
    for c in d
        .contacts
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
    {
        if pfid_store::normalize::validate_email(c).is_err() {
            errors.push(FieldError::metadata(
                "contacts",
                format!("\"{}\" is not an email address.", shown(c)),
            ));
        } else if !contacts.iter().any(|o| o == c) {
            contacts.push(c.to_owned());
        }
    }
    if contacts.len() > MAX_CONTACTS {
        errors.push(FieldError::metadata(
            "contacts",
            format!("Give at most {MAX_CONTACTS} contacts."),
        ));
    }

    match (app_type, auth_method) {
        (Some(app_type), Some(auth_method)) if errors.is_empty() => Ok(Metadata {
            name,
            description,
            logo_uri,
            client_uri,
            policy_uri,
            tos_uri,
            app_type,
            auth_method,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            jwks,
            jwks_uri,
            id_token_signed_response_alg: alg,
            backchannel_logout_uri,
            require_par: d.require_par,
            contacts,
        }),
        _ => Err(errors),
    }
}

// ---------------------------------------------------------------- the registration API

/// Metadata that pfid understands but does not offer: a client asking for it must be
/// told rather than silently ignored (RFC 7591 §2 lets the server refuse values).
const UNSUPPORTED: [(&str, &str); 12] = [
    (
        "id_token_encrypted_response_alg",
        "pfid does not encrypt ID tokens",
    ),
    (
        "id_token_encrypted_response_enc",
        "pfid does not encrypt ID tokens",
    ),
    (
        "userinfo_encrypted_response_alg",
        "pfid does not encrypt UserInfo responses",
    ),
    (
        "userinfo_encrypted_response_enc",
        "pfid does not encrypt UserInfo responses",
    ),
    (
        "userinfo_signed_response_alg",
        "pfid returns UserInfo as plain JSON",
    ),
    (
        "request_object_signing_alg",
        "pfid does not accept request objects",
    ),
    (
        "request_object_encryption_alg",
        "pfid does not accept request objects",
    ),
    (
        "request_object_encryption_enc",
        "pfid does not accept request objects",
    ),
    ("request_uris", "pfid does not accept request objects"),
    (
        "sector_identifier_uri",
        "pfid supports the public subject type only",
    ),
    (
        "authorization_encrypted_response_alg",
        "pfid does not encrypt authorization responses",
    ),
    (
        "tls_client_certificate_bound_access_tokens",
        "pfid does not issue certificate-bound tokens",
    ),
];

fn string_member(
    body: &Map<String, Value>,
    name: &'static str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::metadata(
                name,
                format!("{name} must be a string."),
            ));
            None
        }
    }
}

fn list_member(
    body: &Map<String, Value>,
    name: &'static str,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<String>> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item.as_str() {
                    Some(s) => out.push(s.to_owned()),
                    None => {
                        errors.push(FieldError::redirect(
                            name,
                            format!("{name} must be an array of strings."),
                        ));
                        return None;
                    }
                }
            }
            Some(out)
        }
        Some(_) => {
            errors.push(FieldError::redirect(
                name,
                format!("{name} must be an array of strings."),
            ));
            None
        }
    }
}

/// Reads a registration request (RFC 7591 §3.1, OpenID Connect Dynamic Client
/// Registration 1.0 §3.1) into a draft. pfid's app type follows from the metadata:
/// `application_type` native is a native app; otherwise an app with only the
/// client_credentials grant is a back-end service, one with no client authentication
/// a single-page app, and the rest web apps. A native app's authentication method
/// defaults to none (it cannot keep a secret), others' to client_secret_basic (RFC 7591
/// §2). Metadata pfid does not know is ignored, as RFC 7591 §2 requires.
pub fn draft_from_registration(body: &Map<String, Value>) -> Result<Draft, Vec<FieldError>> {
    let mut errors = Vec::new();
    if body.contains_key("software_statement") {
        errors.push(FieldError {
            field: "software_statement",
            kind: ErrorKind::SoftwareStatement,
            message: "pfid does not accept software statements; register with an initial \
                      access token instead."
                .into(),
        });
    }
    for (name, why) in UNSUPPORTED {
        if body
            .get(name)
            .is_some_and(|v| !v.is_null() && *v != Value::Bool(false))
        {
            errors.push(FieldError::metadata(name, format!("{why}: remove {name}.")));
        }
    }
    if let Some(subject_type) = body.get("subject_type").filter(|v| !v.is_null()) {
        if subject_type.as_str() != Some("public") {
            errors.push(FieldError::metadata(
                "subject_type",
                "pfid supports the public subject type only.",
            ));
        }
    }
    let application_type = string_member(body, "application_type", &mut errors);
    let native = match application_type.as_deref() {
        None | Some("web") => false,
        Some("native") => true,
        Some(_) => {
            errors.push(FieldError::metadata(
                "application_type",
                "application_type must be web or native (OpenID Connect Dynamic Client \
                 Registration §2).",
            ));
            false
        }
    };
    let auth_method = string_member(body, "token_endpoint_auth_method", &mut errors)
        .unwrap_or_else(|| {
            if native {
                "none".into()
            } else {
                "client_secret_basic".into()
            }
        });
    let grant_types = list_member(body, "grant_types", &mut errors)
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    let app_type = if native {
        AppType::Native
    } else if grant_types.iter().all(|g| g == "client_credentials") && !grant_types.is_empty() {
        AppType::Service
    } else if auth_method == "none" {
        AppType::Spa
    } else {
        AppType::Web
    };
    let scope = string_member(body, "scope", &mut errors);
    let scopes: Vec<String> = match scope {
        Some(s) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None if app_type == AppType::Service => Vec::new(),
        None => vec!["openid".to_owned()],
    };
    let jwks = match body.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => {
            errors.push(FieldError::metadata(
                "jwks",
                "jwks must be a JSON object (a JWK Set).",
            ));
            None
        }
    };
    let require_par = match body.get("require_pushed_authorization_requests") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::metadata(
                "require_pushed_authorization_requests",
                "require_pushed_authorization_requests must be true or false.",
            ));
            false
        }
    };
    let draft = Draft {
        name: string_member(body, "client_name", &mut errors),
        description: None,
        logo_uri: string_member(body, "logo_uri", &mut errors),
        client_uri: string_member(body, "client_uri", &mut errors),
        policy_uri: string_member(body, "policy_uri", &mut errors),
        tos_uri: string_member(body, "tos_uri", &mut errors),
        app_type: Some(app_type.as_str().to_owned()),
        redirect_uris: list_member(body, "redirect_uris", &mut errors).unwrap_or_default(),
        post_logout_redirect_uris: list_member(body, "post_logout_redirect_uris", &mut errors)
            .unwrap_or_default(),
        scopes,
        grant_types: Some(grant_types),
        response_types: list_member(body, "response_types", &mut errors),
        auth_method: Some(auth_method),
        jwks,
        jwks_uri: string_member(body, "jwks_uri", &mut errors),
        id_token_signed_response_alg: string_member(
            body,
            "id_token_signed_response_alg",
            &mut errors,
        ),
        backchannel_logout_uri: string_member(body, "backchannel_logout_uri", &mut errors),
        require_par,
        contacts: list_member(body, "contacts", &mut errors).unwrap_or_default(),
    };
    if errors.is_empty() {
        Ok(draft)
    } else {
        Err(errors)
    }
}

/// A registered client's metadata as the registration API returns it (RFC 7591 §3.2.1,
/// RFC 7592 §3), without the secrets, which the caller adds when it has them. Also
/// `pfid_status` and `pfid_status_reason`: where the app stands in review.
pub fn registration_document(client: &Client, contacts: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("client_id".into(), json!(client.id));
    m.insert(
        "client_id_issued_at".into(),
        json!(client.created_at.timestamp()),
    );
    m.insert("client_name".into(), json!(client.name));
    for (k, v) in [
        ("logo_uri", &client.logo_uri),
        ("client_uri", &client.client_uri),
        ("policy_uri", &client.policy_uri),
        ("tos_uri", &client.tos_uri),
        ("jwks_uri", &client.jwks_uri),
        ("backchannel_logout_uri", &client.backchannel_logout_uri),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    m.insert(
        "application_type".into(),
        json!(if client.app_type == AppType::Native {
            "native"
        } else {
            "web"
        }),
    );
    m.insert("redirect_uris".into(), json!(client.redirect_uris));
    m.insert(
        "post_logout_redirect_uris".into(),
        json!(client.post_logout_redirect_uris),
    );
    m.insert("grant_types".into(), json!(client.grant_types));
    let response_types: Vec<&str> = if client.allows_grant("authorization_code") {
        vec!["code"]
    } else {
        vec![]
    };
    m.insert("response_types".into(), json!(response_types));
    m.insert(
        "token_endpoint_auth_method".into(),
        json!(client.auth_method.as_str()),
    );
    m.insert("scope".into(), json!(client.scopes.join(" ")));
    m.insert(
        "id_token_signed_response_alg".into(),
        json!(client.id_token_signed_response_alg),
    );
    if let Some(jwks) = client
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
    {
        m.insert("jwks".into(), jwks);
    }
    if !contacts.is_empty() {
        m.insert("contacts".into(), json!(contacts));
    }
    m.insert(
        "require_pushed_authorization_requests".into(),
        json!(client.require_par),
    );
    m.insert("pfid_status".into(), json!(client.status.as_str()));
    if let Some(reason) = &client.status_reason {
        m.insert("pfid_status_reason".into(), json!(reason));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> Draft {
        Draft {
            name: Some("Tracker".into()),
            app_type: Some("web".into()),
            redirect_uris: vec!["https://tracker.example/cb".into()],
            scopes: vec!["openid".into(), "email".into()],
            ..Draft::default()
        }
    }

    fn messages(d: &Draft) -> Vec<FieldError> {
        validate(d).expect_err("should be refused")
    }

    fn refused_on(d: &Draft, field: &str, needle: &str) {
        let errors = messages(d);
        assert!(
            errors
                .iter()
                .any(|e| e.field == field && e.message.contains(needle)),
            "expected {field} to mention {needle:?}, got {errors:?}"
        );
    }

    #[test]
    fn a_plain_web_app_gets_the_defaults() {
        let m = validate(&web()).unwrap();
        assert_eq!(m.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(m.grant_types, vec!["authorization_code"]);
        assert_eq!(m.id_token_signed_response_alg, "ES256");
        assert_eq!(m.scopes, vec!["openid", "email"]);
    }

    #[test]
    fn offline_access_brings_the_refresh_grant_on_pages() {
        let mut d = web();
        d.scopes.push("offline_access".into());
        let m = validate(&d).unwrap();
        assert_eq!(m.grant_types, vec!["authorization_code", "refresh_token"]);
        d.grant_types = Some(vec!["authorization_code".into()]);
        refused_on(&d, "scope", "refresh_token");
    }

    #[test]
    fn redirect_uris_follow_rfc_8252_and_exact_matching() {
        let mut d = web();
        for (uri, needle) in [
            ("http://tracker.example/cb", "must use https"),
            ("http://127.0.0.1:8080/cb", "only for native apps"),
            ("https://tracker.example/cb#x", "fragment"),
            ("https://*.tracker.example/cb", "wildcards"),
            (
                "https://user:pw@tracker.example/cb",
                "user name or password",
            ),
            ("/relative", "absolute URI"),
            ("com.example.app:/cb", "only for native apps"),
        ] {
            d.redirect_uris = vec![uri.into()];
            refused_on(&d, "redirect_uris", needle);
            assert!(messages(&d)
                .iter()
                .all(|e| e.kind == ErrorKind::RedirectUri));
        }
        d.app_type = Some("native".into());
        for ok in [
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51000/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/oauth2redirect",
            "https://app.example/cb",
        ] {
            d.redirect_uris = vec![ok.into()];
            assert!(validate(&d).is_ok(), "{ok}");
        }
        for (uri, needle) in [
            ("http://localhost:8080/cb", "localhost"),
            ("http://192.168.1.2/cb", "loopback"),
            ("myapp:/cb", "reverse domain name"),
            ("javascript:alert(1)", "reverse domain name"),
        ] {
            d.redirect_uris = vec![uri.into()];
            refused_on(&d, "redirect_uris", needle);
        }
    }

    #[test]
    fn loopback_redirects_match_on_any_port_for_native_apps_only() {
        let reg = "http://127.0.0.1/cb";
        assert!(redirect_uri_matches(
            reg,
            "http://127.0.0.1:51234/cb",
            AppType::Native
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1:51234/other",
            AppType::Native
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1:51234/cb",
            AppType::Web
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://[::1]:5/cb",
            AppType::Native
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example:444/cb",
            AppType::Native
        ));
    }

    #[test]
    fn the_auth_method_must_fit_the_app_type() {
        let mut d = web();
        d.auth_method = Some("none".into());
        refused_on(&d, "token_endpoint_auth_method", "authenticates");
        let mut d = web();
        d.app_type = Some("spa".into());
        d.auth_method = Some("client_secret_post".into());
        refused_on(&d, "token_endpoint_auth_method", "cannot keep a secret");
        d.auth_method = None;
        assert_eq!(validate(&d).unwrap().auth_method, AuthMethod::None);
    }

    #[test]
    fn private_key_jwt_needs_public_keys_only() {
        let mut d = web();
        d.auth_method = Some("private_key_jwt".into());
        refused_on(&d, "jwks", "needs your public keys");
        d.jwks = Some(r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"BB","d":"CC"}]}"#.into());
        refused_on(&d, "jwks", "private key material (\"d\")");
        d.jwks = Some(r#"{"keys":[{"kty":"oct","k":"AA"}]}"#.into());
        refused_on(&d, "jwks", "symmetric");
        d.jwks = Some("[1,2]".into());
        refused_on(&d, "jwks", "\"keys\" array");
        d.jwks = Some("{".into());
        refused_on(&d, "jwks", "not valid JSON");
        d.jwks = Some(r#"{"keys":[{"kty":"RSA","n":"AQAB"}]}"#.into());
        refused_on(&d, "jwks", "\"e\"");
        d.jwks =
            Some(r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"BB","use":"sig"}]}"#.into());
        assert!(validate(&d).is_ok());
        d.jwks_uri = Some("https://tracker.example/jwks".into());
        refused_on(&d, "jwks", "not both");
        d.jwks = None;
        assert!(validate(&d).is_ok());
        d.jwks_uri = Some("http://tracker.example/jwks".into());
        refused_on(&d, "jwks_uri", "https");
        let mut d = web();
        d.jwks_uri = Some("https://tracker.example/jwks".into());
        refused_on(&d, "jwks_uri", "only with the private_key_jwt");
    }

    #[test]
    fn services_have_no_redirects_and_only_client_credentials() {
        let d = Draft {
            name: Some("Sync".into()),
            app_type: Some("service".into()),
            ..Draft::default()
        };
        let m = validate(&d).unwrap();
        assert_eq!(m.grant_types, vec!["client_credentials"]);
        let mut bad = d.clone();
        bad.redirect_uris = vec!["https://x.example/cb".into()];
        refused_on(&bad, "redirect_uris", "back-end service");
        let mut bad = d.clone();
        bad.grant_types = Some(vec!["authorization_code".into()]);
        refused_on(&bad, "grant_types", "client_credentials grant only");
    }

    #[test]
    fn other_fields_are_checked_with_clear_messages() {
        let mut d = web();
        d.name = Some("  ".into());
        refused_on(&d, "client_name", "Enter the app's name");
        let mut d = web();
        d.logo_uri = Some("http://tracker.example/logo.png".into());
        refused_on(&d, "logo_uri", "https");
        let mut d = web();
        d.scopes = vec!["openid".into(), "patient/*.read".into()];
        refused_on(&d, "scope", "Unknown scope");
        let mut d = web();
        d.scopes = vec![];
        refused_on(&d, "scope", "at least one scope");
        let mut d = web();
        d.grant_types = Some(vec!["authorization_code".into(), "implicit".into()]);
        refused_on(&d, "grant_types", "implicit");
        let mut d = web();
        d.response_types = Some(vec!["code id_token".into()]);
        refused_on(&d, "response_types", "\"code\" only");
        let mut d = web();
        d.id_token_signed_response_alg = Some("HS256".into());
        refused_on(&d, "id_token_signed_response_alg", "ES256 or RS256");
        let mut d = web();
        d.contacts = vec!["not-an-email".into()];
        refused_on(&d, "contacts", "not an email");
        let mut d = web();
        d.redirect_uris = vec![];
        refused_on(&d, "redirect_uris", "at least one redirect URI");
        let d = Draft::default();
        refused_on(&d, "app_type", "Choose the app type");
    }

    #[test]
    fn registration_requests_map_to_app_types() {
        let body = |v: Value| v.as_object().unwrap().clone();
        let d = draft_from_registration(&body(json!({
            "client_name": "A", "redirect_uris": ["com.example.a:/cb"], "application_type": "native"
        })))
        .unwrap();
        assert_eq!(d.app_type.as_deref(), Some("native"));
        assert_eq!(validate(&d).unwrap().auth_method, AuthMethod::None);
        let d = draft_from_registration(&body(json!({
            "client_name": "S", "grant_types": ["client_credentials"], "response_types": []
        })))
        .unwrap();
        assert_eq!(validate(&d).unwrap().app_type, AppType::Service);
        let d = draft_from_registration(&body(json!({
            "client_name": "P", "redirect_uris": ["https://p.example/cb"],
            "token_endpoint_auth_method": "none"
        })))
        .unwrap();
        assert_eq!(validate(&d).unwrap().app_type, AppType::Spa);
        let e = draft_from_registration(&body(json!({"software_statement": "x.y.z"}))).unwrap_err();
        assert_eq!(registration_error(&e).0, "invalid_software_statement");
        let e = draft_from_registration(&body(json!({"redirect_uris": "https://x"}))).unwrap_err();
        assert_eq!(registration_error(&e).0, "invalid_redirect_uri");
        let e = draft_from_registration(&body(
            json!({"id_token_encrypted_response_alg": "RSA-OAEP"}),
        ))
        .unwrap_err();
        assert_eq!(registration_error(&e).0, "invalid_client_metadata");
    }

    #[test]
    fn reviewed_fields_are_name_links_and_widened_reach() {
        let current = validate(&web()).unwrap();
        assert!(!current.changes_reviewed_fields(&current));
        let mut narrower = current.clone();
        narrower.scopes = vec!["openid".into()];
        narrower.description = Some("new words".into());
        narrower.auth_method = AuthMethod::ClientSecretPost;
        assert!(!narrower.changes_reviewed_fields(&current));
        let mut renamed = current.clone();
        renamed.name = "Tracker Pro".into();
        assert!(renamed.changes_reviewed_fields(&current));
        let mut wider = current.clone();
        wider.redirect_uris.push("https://evil.example/cb".into());
        assert!(wider.changes_reviewed_fields(&current));
        let mut more = current.clone();
        more.scopes.push("phone".into());
        assert!(more.changes_reviewed_fields(&current));
    }
}
