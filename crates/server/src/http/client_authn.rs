//! Client authentication for every endpoint a client calls directly: token, revocation,
//! introspection and pushed authorization requests (RFC 6749 §2.3, RFC 7009 §2.1,
//! RFC 7662 §2.1, RFC 9126 §2.1, OpenID Connect Core §9).
//!
//! Each client authenticates only with the method it registered: `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` or, for public clients, `none`.

use actix_web::http::header;
use actix_web::HttpRequest;
use pfid_store::clients::Client;
use serde_json::Value;

use crate::app::AppState;
use crate::crypto::jose::UnverifiedJws;
use crate::http::errors::OAuthError;
use crate::http::params::Params;
use crate::oauth::client_assertion::{self, JWT_BEARER};
use crate::oauth::client_auth::{self, Presented};

/// The client ids a request names before anything is verified: the `client_id`
/// parameter, or an assertion's `sub` (RFC 7523 §3 lets the parameter be left out).
fn claimed_client_id(presented: &Presented) -> Option<String> {
    if let Some(id) = presented.client_id() {
        return Some(id.to_owned());
    }
    let Presented::Assertion { assertion, .. } = presented else {
        return None;
    };
    let jws = UnverifiedJws::parse(assertion).ok()?;
    jws.claims
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Authenticates the client of a direct request to `endpoint` (a path such as
/// `/token`). Returns the client with the credentials it presented.
pub async fn authenticate_client(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
    endpoint: &str,
) -> Result<(Client, Presented), OAuthError> {
    ClientClaim::of(req, params)?
        .authenticate(state, endpoint)
        .await
}

/// What a request says about its client before the database is asked: the credentials
/// it presented and the client id they name. Endpoints that read more than the client
/// (introspection) look it up together with the rest, then call `verify`.
pub struct ClientClaim {
    pub presented: Presented,
    pub client_id: String,
}

impl ClientClaim {
    pub fn of(req: &HttpRequest, params: &Params) -> Result<Self, OAuthError> {
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let presented = client_auth::presented(authorization, params)?;
        let basic = presented.used_basic();
        if let Presented::Assertion { assertion_type, .. } = &presented {
            if assertion_type != JWT_BEARER {
                return Err(OAuthError::invalid_client(format!(
                    "client_assertion_type must be {JWT_BEARER}"
                )));
            }
        }
        let Some(client_id) = claimed_client_id(&presented) else {
            return Err(
                OAuthError::invalid_client("client_id is required").with_basic_challenge(basic)
            );
        };
        Ok(ClientClaim {
            presented,
            client_id,
        })
    }

    /// Looks the claimed client up and checks the presented credentials against it.
    pub async fn authenticate(
        self,
        state: &AppState,
        endpoint: &str,
    ) -> Result<(Client, Presented), OAuthError> {
        let found = state
            .store
            .client_with_secrets(&self.client_id, state.now())
            .await?;
        self.verify(state, found, endpoint).await
    }

    /// Checks the presented credentials against `found`, the claimed client with its
    /// live secret digests as the store returned them.
    pub async fn verify(
        self,
        state: &AppState,
        found: Option<(Client, Vec<String>)>,
        endpoint: &str,
    ) -> Result<(Client, Presented), OAuthError> {
        let presented = self.presented;
        let client = check_stored(&presented, found)?;
        if let Presented::Assertion { assertion, .. } = &presented {
            check_assertion(state, &client, assertion, endpoint).await?;
        }
        Ok((client, presented))
    }

    /// Whether the stored client alone can settle these credentials (a secret, or a
    /// public client's id): only an assertion needs keys and a replay record besides.
    pub fn settled_by_stored_client(&self) -> bool {
        !matches!(self.presented, Presented::Assertion { .. })
    }
}

/// Checks presented credentials against `found`, the claimed client with its live
/// secret digests as the store returned them. An assertion's signature and claims are
/// not checked here (see `ClientClaim::verify`).
pub fn check_stored(
    presented: &Presented,
    found: Option<(Client, Vec<String>)>,
) -> Result<Client, OAuthError> {
    let Some((client, digests)) = found else {
        return Err(OAuthError::invalid_client("client authentication failed")
            .with_basic_challenge(presented.used_basic()));
    };
    client_auth::check_secret_or_public(presented, &client, &digests)?;
    Ok(client)
}

/// Verifies a `private_key_jwt` assertion: signature with one of the client's keys,
/// claims, and a `jti` never seen before on any node.
async fn check_assertion(
    state: &AppState,
    client: &Client,
    assertion: &str,
    endpoint: &str,
) -> Result<(), OAuthError> {
    let fail = |d: &str| Err(OAuthError::invalid_client(d.to_owned()));
    let Ok(jws) = UnverifiedJws::parse(assertion) else {
        return fail("client_assertion is not a signed JWT");
    };
    if !client_assertion::accepts_alg(jws.alg()) {
        return fail("the client assertion's signature algorithm is not accepted");
    }
    let now = state.now();
    let keys = match state.client_jwks.keys(client, now).await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(client_id = %client.id, error = %e, "cannot get a client's keys");
            return fail("the client's keys could not be obtained");
        }
    };
    let mut verified = jws.verify(&keys).is_ok();
    if !verified {
        // Perhaps the client rotated its keys since pfid fetched them.
        match state.client_jwks.refetch(client, now).await {
            Ok(Some(fresh)) => verified = jws.verify(&fresh).is_ok(),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(client_id = %client.id, error = %e, "cannot refetch a client's keys")
            }
        }
    }
    if !verified {
        return fail("the client assertion's signature does not verify with the client's keys");
    }
    let audiences = [
        state.issuer().to_owned(),
        state.settings.server.issuer.url("/token"),
        state.settings.server.issuer.url(endpoint),
    ];
    let checked = match client_assertion::check_claims(&jws.claims, &client.id, &audiences, now) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    if !state
        .store
        .record_client_assertion(&client.id, &checked.jti, checked.expires_at, now)
        .await?
    {
        tracing::warn!(client_id = %client.id, "client assertion replayed");
        return fail("the client assertion was already used (jti)");
    }
    Ok(())
}
