//! Client authentication at the token endpoint (RFC 6749 §2.3, OpenID Connect Core §9).
//!
//! A client authenticates only with the method it registered; a request that carries
//! credentials in two ways is refused (RFC 6749 §2.3: MUST NOT use more than one).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pfid_store::clients::{AuthMethod, Client, ClientStatus};
use pfid_store::secret;

use crate::http::errors::OAuthError;
use crate::http::params::Params;

/// The credentials a request presents, before checking them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    Assertion {
        client_id: Option<String>,
        assertion_type: String,
        assertion: String,
    },
    PublicId {
        client_id: String,
    },
}

impl Presented {
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Presented::Basic { client_id, .. }
            | Presented::Post { client_id, .. }
            | Presented::PublicId { client_id } => Some(client_id),
            Presented::Assertion { client_id, .. } => client_id.as_deref(),
        }
    }
    pub fn used_basic(&self) -> bool {
        matches!(self, Presented::Basic { .. })
    }
}

/// Reads the credentials from the Authorization header and the form.
pub fn presented(authorization: Option<&str>, params: &Params) -> Result<Presented, OAuthError> {
    let basic = match authorization {
        Some(h) if h.len() > 6 && h[..6].eq_ignore_ascii_case("basic ") => {
            let decoded = STANDARD
                .decode(h[6..].trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OAuthError::invalid_client("malformed Basic credentials")
                        .with_basic_challenge(true)
                })?;
            let (id, secret) = decoded.split_once(':').ok_or_else(|| {
                OAuthError::invalid_client("malformed Basic credentials").with_basic_challenge(true)
            })?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
            let unescape = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((
                unescape(id).unwrap_or_default(),
                unescape(secret).unwrap_or_default(),
            ))
        }
        Some(_) => None,
        None => None,
    };
    let post_secret = params.get("client_secret");
    let assertion = params.get("client_assertion");
    let body_id = params.get("client_id");
    let ways = usize::from(basic.is_some())
        + usize::from(post_secret.is_some())
        + usize::from(assertion.is_some());
    if ways > 1 {
        return Err(
            OAuthError::invalid_request("use exactly one client authentication method")
                .with_basic_challenge(basic.is_some()),
        );
    }
    if let Some((client_id, secret)) = basic {
        if body_id.is_some_and(|b| b != client_id) {
            return Err(OAuthError::invalid_client(
                "client_id differs from the authenticated client",
            )
            .with_basic_challenge(true));
        }
        return Ok(Presented::Basic { client_id, secret });
    }
    if let Some(secret) = post_secret {
        let client_id = body_id.ok_or_else(|| {
            OAuthError::invalid_client("client_id is required with client_secret")
        })?;
        return Ok(Presented::Post {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
        });
    }
    if let Some(assertion) = assertion {
        let assertion_type = params.get("client_assertion_type").unwrap_or("").to_owned();
        return Ok(Presented::Assertion {
            client_id: body_id.map(str::to_owned),
            assertion_type,
            assertion: assertion.to_owned(),
        });
    }
    match body_id {
        Some(id) => Ok(Presented::PublicId {
            client_id: id.to_owned(),
        }),
        None => Err(OAuthError::invalid_client(
            "client authentication is required",
        )),
    }
}

/// Checks presented secret credentials against a client and its valid secret digests.
/// Assertions are checked by the caller (they need keys and replay protection).
pub fn check_secret_or_public(
    presented: &Presented,
    client: &Client,
    secret_digests: &[String],
) -> Result<(), OAuthError> {
    let basic = presented.used_basic();
    let fail = |d: &str| Err(OAuthError::invalid_client(d).with_basic_challenge(basic));
    if client.status != ClientStatus::Approved {
        return fail("client is not active");
    }
    let (method, secret) = match presented {
        Presented::Basic { secret, .. } => (AuthMethod::ClientSecretBasic, Some(secret)),
        Presented::Post { secret, .. } => (AuthMethod::ClientSecretPost, Some(secret)),
        Presented::PublicId { .. } => (AuthMethod::None, None),
        Presented::Assertion { .. } => (AuthMethod::PrivateKeyJwt, None),
    };
    if method != client.auth_method {
        return fail("the client must authenticate with the method it registered");
    }
    if let Some(secret) = secret {
        let digest = secret::digest(secret);
        // Compare against every valid digest without stopping early.
        let matched = secret_digests
            .iter()
            .fold(false, |acc, d| acc | secret::equal(d, &digest));
        if !matched {
            return fail("client authentication failed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Params {
        Params::parse(s.as_bytes())
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = format!("Basic {}", STANDARD.encode("my%20app:s%3Acret"));
        let p = presented(Some(&h), &params("grant_type=x")).unwrap();
        assert_eq!(
            p,
            Presented::Basic {
                client_id: "my app".into(),
                secret: "s:cret".into()
            }
        );
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let h = format!("Basic {}", STANDARD.encode("a:b"));
        let e = presented(Some(&h), &params("client_id=a&client_secret=b")).unwrap_err();
        assert_eq!(e.code, "invalid_request");
    }

    #[test]
    fn no_credentials_is_invalid_client() {
        assert_eq!(
            presented(None, &params("grant_type=x")).unwrap_err().code,
            "invalid_client"
        );
    }
}
