//! Claims about the patient by scope (OpenID Connect Core §5.4), for UserInfo.

use pfid_store::accounts::Account;
use pfid_store::patients::Patient;
use serde_json::{json, Map, Value};

/// Every claim pfid can return (listed in discovery).
pub const SUPPORTED: [&str; 15] = [
    "sub",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "birthdate",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "address",
    "iss",
    "auth_time",
    "amr",
    "sid",
];

/// The claims the granted scopes allow. The holder's own record supplies name, birth
/// date, phone and address: the login's contact email supplies `email`.
pub fn for_scopes(
    account: &Account,
    own: Option<&Patient>,
    scopes: &[String],
) -> Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut m = Map::new();
    m.insert("sub".into(), json!(account.id));
    if has("profile") {
        m.insert("preferred_username".into(), json!(account.username));
        if let Some(p) = own {
            m.insert("name".into(), json!(p.full_name()));
            m.insert("given_name".into(), json!(p.first_name));
            m.insert("family_name".into(), json!(p.last_name));
            m.insert(
                "birthdate".into(),
                json!(p.birth_date.format("%Y-%m-%d").to_string()),
            );
        }
    }
    if has("email") {
        m.insert("email".into(), json!(account.email));
        m.insert("email_verified".into(), json!(account.email_verified));
    }
    if has("phone") {
        let phone = own
            .and_then(|p| p.phone.as_deref())
            .or(account.phone.as_deref());
        if let Some(phone) = phone {
            m.insert(
                "phone_number".into(),
                json!(pfid_store::normalize::phone_e164(phone)),
            );
            // The number comes from the provider's record, not from a code the patient
            // confirmed, so it is not claimed as verified.
            m.insert("phone_number_verified".into(), json!(false));
        }
    }
    if has("address") {
        if let Some(a) = own.map(|p| &p.address).filter(|a| !a.is_empty()) {
            let mut addr = Map::new();
            let mut formatted = Vec::new();
            for (claim, value) in [
                ("street_address", &a.street),
                ("locality", &a.locality),
                ("region", &a.region),
                ("postal_code", &a.postal_code),
                ("country", &a.country),
            ] {
                if let Some(v) = value {
                    addr.insert(claim.into(), json!(v));
                    formatted.push(v.clone());
                }
            }
            addr.insert("formatted".into(), json!(formatted.join(", ")));
            m.insert("address".into(), Value::Object(addr));
        }
    }
    m
}
