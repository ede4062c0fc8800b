//! What developers and dynamic registration (RFC 7591, RFC 7592) do to apps after the
//! operator's `create_client`: initial access tokens, registration access tokens,
//! metadata updates, secret rotation with a grace period, and deletion.
//!
//! Every token here is 256 random bits, stored as its SHA-256 digest only.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::clients::{
    insert_client_in, json_list, prepare_client, to_json_list, Client, ClientStatus, NewClient,
};
use crate::error::{StoreError, StoreResult};
use crate::rows::{ClientRow, ClientSecretRow};
use crate::schema::{client_registrations, client_secrets, clients, initial_access_tokens};
use crate::{secret, time, Store};

/// Prefix of initial access tokens.
pub const INITIAL_ACCESS_TOKEN_PREFIX: &str = "pfiat_";
/// Prefix of registration access tokens.
pub const REGISTRATION_ACCESS_TOKEN_PREFIX: &str = "pfrat_";
/// Prefix of client secrets (as `create_client` issues them).
const CLIENT_SECRET_PREFIX: &str = "pfcs_";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = initial_access_tokens, treat_none_as_default_value = false)]
struct InitialTokenRow {
    id: String,
    token_hash: String,
    developer_id: Option<String>,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_registrations, treat_none_as_default_value = false)]
struct RegistrationRow {
    client_id: String,
    contacts: String,
    initial_access_token_id: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A token that lets its holder register apps at the registration endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialAccessToken {
    pub id: String,
    /// The developer whose apps those registrations become; None for an operator's.
    pub developer_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl InitialAccessToken {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

impl From<InitialTokenRow> for InitialAccessToken {
    fn from(r: InitialTokenRow) -> Self {
        InitialAccessToken {
            id: r.id,
            developer_id: r.developer_id,
            created_at: time::from_db(r.created_at),
            expires_at: r.expires_at.map(time::from_db),
            revoked_at: r.revoked_at.map(time::from_db),
            last_used_at: r.last_used_at.map(time::from_db),
        }
    }
}

/// A client created through the registration endpoint, with what is shown only once.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client: Client,
    pub contacts: Vec<String>,
    pub secret: Option<String>,
    pub registration_access_token: String,
}

/// One of a client's secrets, as its developer may see it (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub created_at: DateTime<Utc>,
    /// None: valid until rotated.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new status to set with a metadata update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub status: ClientStatus,
    pub reason: Option<String>,
}

fn load_client(conn: &mut crate::db::DbConn, id: &str) -> StoreResult<Option<Client>> {
    clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(Client::try_from)
        .transpose()
}

fn contacts_of(conn: &mut crate::db::DbConn, client_id: &str) -> StoreResult<Vec<String>> {
    let stored: Option<String> = client_registrations::table
        .find(client_id)
        .select(client_registrations::contacts)
        .first(conn)
        .optional()?;
    stored
        .as_deref()
        .map(json_list)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The condition "a secret of `client_id` valid at `now`".
type LiveSecret = diesel::dsl::And<
    diesel::dsl::Eq<client_secrets::client_id, String>,
    diesel::dsl::Or<
        diesel::dsl::IsNull<client_secrets::expires_at>,
        diesel::dsl::Gt<client_secrets::expires_at, NaiveDateTime>,
    >,
>;

/// Secrets valid at `now`.
fn live_secrets_filter(client_id: &str, now: NaiveDateTime) -> LiveSecret {
    client_secrets::client_id.eq(client_id.to_owned()).and(
        client_secrets::expires_at
            .is_null()
            .or(client_secrets::expires_at.gt(now)),
    )
}

fn new_secret_row(client_id: &str, now: NaiveDateTime) -> StoreResult<(ClientSecretRow, String)> {
    let value = secret::new_token(CLIENT_SECRET_PREFIX)?;
    Ok((
        ClientSecretRow {
            id: secret::new_id()?,
            client_id: client_id.to_owned(),
            secret_hash: secret::digest(&value),
            created_at: now,
            expires_at: None,
        },
        value,
    ))
}

impl Store {
    /// Creates an initial access token, for a developer or (None) an operator, valid
    /// until `expires_at` when given. Returns it with its value, shown once.
    pub async fn create_initial_access_token(
        &self,
        developer_id: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<(InitialAccessToken, String)> {
        if expires_at.is_some_and(|e| e <= now) {
            return Err(StoreError::Invalid(
                "an initial access token must expire in the future".into(),
            ));
        }
        let value = secret::new_token(INITIAL_ACCESS_TOKEN_PREFIX)?;
        let row = InitialTokenRow {
            id: secret::new_id()?,
            token_hash: secret::digest(&value),
            developer_id: developer_id.map(str::to_owned),
            created_at: time::to_db(now),
            expires_at: expires_at.map(time::to_db),
            revoked_at: None,
            last_used_at: None,
        };
        self.write(move |conn| {
            diesel::insert_into(initial_access_tokens::table)
                .values(&row)
                .execute(conn)?;
            Ok((InitialAccessToken::from(row), value))
        })
        .await
    }

    /// The live initial access token with this value, if any.
    pub async fn live_initial_access_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<InitialAccessToken>> {
        if !token.starts_with(INITIAL_ACCESS_TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = secret::digest(token);
        self.read(move |conn| {
            Ok(initial_access_tokens::table
                .filter(initial_access_tokens::token_hash.eq(hash))
                .select(InitialTokenRow::as_select())
                .first(conn)
                .optional()?
                .map(InitialAccessToken::from)
                .filter(|t| t.is_live(now)))
        })
        .await
    }

    /// A developer's initial access tokens, newest first, revoked and expired included.
    pub async fn initial_access_tokens_of(
        &self,
        developer_id: &str,
    ) -> StoreResult<Vec<InitialAccessToken>> {
        let developer_id = developer_id.to_owned();
        self.read(move |conn| {
            Ok(initial_access_tokens::table
                .filter(initial_access_tokens::developer_id.eq(developer_id))
                .order(initial_access_tokens::created_at.desc())
                .select(InitialTokenRow::as_select())
                .load(conn)?
                .into_iter()
                .map(InitialAccessToken::from)
                .collect())
        })
        .await
    }

    /// Revokes one of a developer's initial access tokens. False when the developer has
    /// no such live token.
    pub async fn revoke_initial_access_token(
        &self,
        developer_id: &str,
        token_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (developer_id, token_id) = (developer_id.to_owned(), token_id.to_owned());
        let now = time::to_db(now);
        self.write(move |conn| {
            let n = diesel::update(initial_access_tokens::table.find(token_id))
                .filter(initial_access_tokens::developer_id.eq(developer_id))
                .filter(initial_access_tokens::revoked_at.is_null())
                .set(initial_access_tokens::revoked_at.eq(now))
                .execute(conn)?;
            Ok(n > 0)
        })
        .await
    }

    /// Registers a client through the registration endpoint (RFC 7591 §3.1): the
    /// client, its secret when confidential, its registration access token (RFC 7592
    /// §3) and its contacts, in one transaction. The initial access token that allowed
    /// it is noted as used.
    pub async fn register_client(
        &self,
        new: NewClient,
        contacts: Vec<String>,
        initial_access_token_id: Option<String>,
        now: DateTime<Utc>,
    ) -> StoreResult<RegisteredClient> {
        let mut prepared = prepare_client(new, now)?;
        let registration_access_token = secret::new_token(REGISTRATION_ACCESS_TOKEN_PREFIX)?;
        prepared.row.registration_access_token_hash =
            Some(secret::digest(&registration_access_token));
        let secret_value = prepared.secret.clone();
        let db_now = time::to_db(now);
        let registration = RegistrationRow {
            client_id: prepared.row.id.clone(),
            contacts: to_json_list(&contacts),
            initial_access_token_id: initial_access_token_id.clone(),
            created_at: db_now,
            updated_at: db_now,
        };
        let client = self
            .write(move |conn| {
                let client = insert_client_in(conn, &prepared)?;
                diesel::insert_into(client_registrations::table)
                    .values(&registration)
                    .execute(conn)?;
                if let Some(id) = &initial_access_token_id {
                    diesel::update(initial_access_tokens::table.find(id))
                        .set(initial_access_tokens::last_used_at.eq(db_now))
                        .execute(conn)?;
                }
                Ok(client)
            })
            .await?;
        Ok(RegisteredClient {
            client,
            contacts,
            secret: secret_value,
            registration_access_token,
        })
    }

    /// The client a registration access token manages, with its contacts (RFC 7592
    /// §2): None unless `client_id` exists and the token is its own, compared in
    /// constant time.
    pub async fn client_for_registration(
        &self,
        client_id: &str,
        registration_access_token: &str,
    ) -> StoreResult<Option<(Client, Vec<String>)>> {
        if !registration_access_token.starts_with(REGISTRATION_ACCESS_TOKEN_PREFIX) {
            return Ok(None);
        }
        let client_id = client_id.to_owned();
        let presented = secret::digest(registration_access_token);
        self.read(move |conn| {
            let stored: Option<Option<String>> = clients::table
                .find(&client_id)
                .select(clients::registration_access_token_hash)
                .first(conn)
                .optional()?;
            let Some(Some(stored)) = stored else {
                return Ok(None);
            };
            if !secret::equal(&stored, &presented) {
                return Ok(None);
            }
            let Some(client) = load_client(conn, &client_id)? else {
                return Ok(None);
            };
            Ok(Some((client, contacts_of(conn, &client_id)?)))
        })
        .await
    }

    /// Replaces an app's metadata with `new` (its id, app type, developer and creation
    /// time stay), optionally its contacts and status, in one transaction. When the new
    /// authentication method uses a secret and the app holds no valid one, a new secret
    /// is issued and returned (shown once); when it no longer uses one, its secrets end
    /// now, so switching back never revives them.
    pub async fn update_client(
        &self,
        id: &str,
        new: NewClient,
        contacts: Option<Vec<String>>,
        status: Option<StatusChange>,
        now: DateTime<Utc>,
    ) -> StoreResult<(Client, Option<String>)> {
        new.validate()?;
        let id = id.to_owned();
        let db_now = time::to_db(now);
        self.write(move |conn| {
            let Some(current) = load_client(conn, &id)? else {
                return Err(StoreError::NotFound);
            };
            if current.app_type != new.app_type {
                return Err(StoreError::Invalid(
                    "an app's type cannot change after registration".into(),
                ));
            }
            diesel::update(clients::table.find(&id))
                .set((
                    clients::name.eq(new.name.trim()),
                    clients::description.eq(&new.description),
                    clients::logo_uri.eq(&new.logo_uri),
                    clients::client_uri.eq(&new.client_uri),
                    clients::policy_uri.eq(&new.policy_uri),
                    clients::tos_uri.eq(&new.tos_uri),
                    clients::token_endpoint_auth_method.eq(new.auth_method.as_str()),
                    clients::redirect_uris.eq(to_json_list(&new.redirect_uris)),
                    clients::post_logout_redirect_uris
                        .eq(to_json_list(&new.post_logout_redirect_uris)),
                    clients::grant_types.eq(to_json_list(&new.grant_types)),
                    clients::scopes.eq(new.scopes.join(" ")),
                    clients::jwks.eq(&new.jwks),
                    clients::jwks_uri.eq(&new.jwks_uri),
                    clients::id_token_signed_response_alg.eq(&new.id_token_signed_response_alg),
                    clients::backchannel_logout_uri.eq(&new.backchannel_logout_uri),
                    clients::require_par.eq(new.require_par),
                    clients::updated_at.eq(db_now),
                ))
                .execute(conn)?;
            if let Some(change) = &status {
                diesel::update(clients::table.find(&id))
                    .set((
                        clients::status.eq(change.status.as_str()),
                        clients::status_reason.eq(&change.reason),
                    ))
                    .execute(conn)?;
            }
            if let Some(contacts) = &contacts {
                diesel::update(client_registrations::table.find(&id))
                    .set((
                        client_registrations::contacts.eq(to_json_list(contacts)),
                        client_registrations::updated_at.eq(db_now),
                    ))
                    .execute(conn)?;
            }
            let mut issued = None;
            if new.auth_method.uses_secret() {
                let live: i64 = client_secrets::table
                    .filter(live_secrets_filter(&id, db_now))
                    .count()
                    .get_result(conn)?;
                if live == 0 {
                    let (row, value) = new_secret_row(&id, db_now)?;
                    diesel::insert_into(client_secrets::table)
                        .values(&row)
                        .execute(conn)?;
                    issued = Some(value);
                }
            } else {
                diesel::update(client_secrets::table.filter(live_secrets_filter(&id, db_now)))
                    .set(client_secrets::expires_at.eq(db_now))
                    .execute(conn)?;
            }
            let client = load_client(conn, &id)?.ok_or(StoreError::NotFound)?;
            Ok((client, issued))
        })
        .await
    }

    /// Issues a new secret for a confidential app. Every secret valid now stays valid
    /// for `grace` more (or less, if it was ending sooner): zero ends them at once.
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        grace: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<String> {
        if grace < Duration::zero() {
            return Err(StoreError::Invalid(
                "a grace period cannot be negative".into(),
            ));
        }
        let client_id = client_id.to_owned();
        let db_now = time::to_db(now);
        let until = time::to_db(now + grace);
        self.write(move |conn| {
            let Some(client) = load_client(conn, &client_id)? else {
                return Err(StoreError::NotFound);
            };
            if !client.auth_method.uses_secret() {
                return Err(StoreError::Invalid(
                    "this app does not authenticate with a secret".into(),
                ));
            }
            diesel::update(client_secrets::table.filter(live_secrets_filter(&client_id, db_now)))
                .filter(
                    client_secrets::expires_at
                        .is_null()
                        .or(client_secrets::expires_at.gt(until)),
                )
                .set(client_secrets::expires_at.eq(until))
                .execute(conn)?;
            let (row, value) = new_secret_row(&client_id, db_now)?;
            diesel::insert_into(client_secrets::table)
                .values(&row)
                .execute(conn)?;
            diesel::update(clients::table.find(&client_id))
                .set(clients::updated_at.eq(db_now))
                .execute(conn)?;
            Ok(value)
        })
        .await
    }

    /// An app's secrets valid at `now`, newest first (dates only, never values).
    pub async fn client_secrets(
        &self,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SecretInfo>> {
        let client_id = client_id.to_owned();
        let now = time::to_db(now);
        self.read(move |conn| {
            let rows: Vec<(NaiveDateTime, Option<NaiveDateTime>)> = client_secrets::table
                .filter(live_secrets_filter(&client_id, now))
                .order(client_secrets::created_at.desc())
                .select((client_secrets::created_at, client_secrets::expires_at))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(c, e)| SecretInfo {
                    created_at: time::from_db(c),
                    expires_at: e.map(time::from_db),
                })
                .collect())
        })
        .await
    }

    /// The contacts a client registered (RFC 7591 §2), empty for portal apps.
    pub async fn client_contacts(&self, client_id: &str) -> StoreResult<Vec<String>> {
        let client_id = client_id.to_owned();
        self.read(move |conn| contacts_of(conn, &client_id)).await
    }

    /// Whether `origin` (`scheme://host[:port]`) is where an approved single-page app
    /// runs: the origin of one of its redirect URIs. Browsers may then call the token
    /// and UserInfo endpoints from it (CORS).
    pub async fn is_browser_app_origin(&self, origin: &str) -> StoreResult<bool> {
        let origin = origin.to_owned();
        self.read(move |conn| {
            let lists: Vec<String> = clients::table
                .filter(clients::app_type.eq(crate::clients::AppType::Spa.as_str()))
                .filter(clients::status.eq(ClientStatus::Approved.as_str()))
                .select(clients::redirect_uris)
                .load(conn)?;
            for list in lists {
                for uri in json_list(&list)? {
                    if url::Url::parse(&uri)
                        .is_ok_and(|u| u.origin().ascii_serialization() == origin)
                    {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        })
        .await
    }

    /// Deletes an app: its secrets, consents, codes and every token it holds go with it
    /// (the schema cascades). False when there was no such app.
    pub async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |conn| {
            let n = diesel::delete(clients::table.find(id)).execute(conn)?;
            Ok(n > 0)
        })
        .await
    }
}
