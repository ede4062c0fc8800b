//! Scopes pfid understands, and what each means in words a patient reads on the consent
//! page.

/// Every scope pfid supports (listed in discovery).
pub const SUPPORTED: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "offline_access",
];

/// What the patient allows, in plain words.
pub fn describe(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "Confirm who you are with your Patient Fusion login",
        "profile" => "See your name and date of birth",
        "email" => "See your email address",
        "phone" => "See your phone number",
        "address" => "See your postal address",
        "offline_access" => "Keep access when you are not using the app, until you remove it",
        _ => return None,
    })
}

/// Splits a `scope` parameter (RFC 6749 §3.3: space-delimited, case-sensitive) and keeps
/// the scopes that pfid supports and the client may request, in a stable order, without
/// repeats. Unknown scopes are ignored, as OpenID Connect Core §5.4 asks.
pub fn grantable(requested: &str, client_allows: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in SUPPORTED {
        if requested.split(' ').any(|r| r == s) && client_allows(s) {
            out.push(s.to_owned());
        }
    }
    out
}

/// Whether a scope string is syntactically valid (RFC 6749 §3.3 scope-token characters).
pub fn is_well_formed(requested: &str) -> bool {
    requested
        .chars()
        .all(|c| c == ' ' || (c as u32 >= 0x21 && c as u32 <= 0x7e && c != '"' && c != '\\'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_disallowed_scopes_drop_out() {
        let got = grantable("email openid bogus openid offline_access", |s| {
            s != "offline_access"
        });
        assert_eq!(got, vec!["openid", "email"]);
    }

    #[test]
    fn every_supported_scope_has_words() {
        for s in SUPPORTED {
            assert!(describe(s).is_some(), "{s}");
        }
    }
}
