//! Authorization codes (RFC 6749 §4.1.2): single use, short-lived, bound to a client, a
//! redirect URI and a PKCE challenge. Only the SHA-256 digest of a code is stored.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::error::{StoreError, StoreResult};
use crate::rows::CodeRow;
use crate::schema::authorization_codes;
use crate::{secret, time, Store};

/// What the authorization step decided, for the token step to honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeGrant {
    pub client_id: String,
    pub account_id: String,
    pub session_id: Option<String>,
    pub grant_id: Option<String>,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    /// The `claims` request parameter, as JSON text, when the client sent one.
    pub claims: Option<String>,
}

/// A stored code as the token endpoint sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// The digest: the code itself is never stored.
    pub code_hash: String,
    pub grant: CodeGrant,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

impl From<CodeRow> for AuthorizationCode {
    fn from(r: CodeRow) -> Self {
        AuthorizationCode {
            code_hash: r.code_hash,
            expires_at: time::from_db(r.expires_at),
            used_at: r.used_at.map(time::from_db),
            grant: CodeGrant {
                client_id: r.client_id,
                account_id: r.account_id,
                session_id: r.session_id,
                grant_id: r.grant_id,
                redirect_uri: r.redirect_uri,
                scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
                nonce: r.nonce,
                code_challenge: r.code_challenge,
                code_challenge_method: r.code_challenge_method,
                auth_time: time::from_db(r.auth_time),
                amr: r.amr.split_whitespace().map(str::to_owned).collect(),
                claims: r.claims,
            },
        }
    }
}

impl Store {
    /// Issues a code valid for `lifetime`; returns the code to send to the client.
    pub async fn issue_code(
        &self,
        grant: CodeGrant,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> StoreResult<String> {
        if grant.scopes.is_empty() {
            return Err(StoreError::Invalid(
                "a code needs at least one scope".into(),
            ));
        }
        let code = secret::new_token("")?;
        let row = CodeRow {
            code_hash: secret::digest(&code),
            client_id: grant.client_id,
            account_id: grant.account_id,
            session_id: grant.session_id,
            grant_id: grant.grant_id,
            redirect_uri: grant.redirect_uri,
            scopes: grant.scopes.join(" "),
            nonce: grant.nonce,
            code_challenge: grant.code_challenge,
            code_challenge_method: grant.code_challenge_method,
            auth_time: time::to_db(grant.auth_time),
            amr: grant.amr.join(" "),
            claims: grant.claims,
            created_at: time::to_db(now),
            expires_at: time::to_db(now + lifetime),
            used_at: None,
        };
        self.write(move |conn| {
            diesel::insert_into(authorization_codes::table)
                .values(&row)
                .execute(conn)?;
            Ok(code)
        })
        .await
    }

    /// Looks a presented code up by its digest, used or not, expired or not: the caller
    /// decides, because a used code must also revoke what was issued from it.
    pub async fn find_code(&self, code: &str) -> StoreResult<Option<AuthorizationCode>> {
        let hash = secret::digest(code);
        self.read(move |conn| {
            Ok(authorization_codes::table
                .find(hash)
                .select(CodeRow::as_select())
                .first(conn)
                .optional()?
                .map(AuthorizationCode::from))
        })
        .await
    }
}
