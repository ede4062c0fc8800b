//! Client apps, their secrets and their review status.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::{on_backend, DbConn};
use crate::error::{StoreError, StoreResult};
use crate::rows::{ClientRow, ClientSecretRow};
use crate::schema::{client_secrets, clients};
use crate::{secret, time, Store};

/// What kind of software the app is; decides whether it can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppType {
    /// A server-side web app, holding a secret.
    Web,
    /// A browser single-page app: public, PKCE.
    Spa,
    /// A native or mobile app: public, PKCE, loopback or private-use redirect URIs.
    Native,
    /// A back-end service using client credentials only.
    Service,
}

impl AppType {
    pub fn as_str(self) -> &'static str {
        match self {
            AppType::Web => "web",
            AppType::Spa => "spa",
            AppType::Native => "native",
            AppType::Service => "service",
        }
    }
    pub fn parse(s: &str) -> StoreResult<Self> {
        Ok(match s {
            "web" => AppType::Web,
            "spa" => AppType::Spa,
            "native" => AppType::Native,
            "service" => AppType::Service,
            other => return Err(StoreError::Invalid(format!("unknown app type {other}"))),
        })
    }
}

/// Token endpoint authentication methods (RFC 7591 §2 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::None,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
    pub fn parse(s: &str) -> StoreResult<Self> {
        AuthMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| StoreError::Invalid(format!("unknown token endpoint auth method {s}")))
    }
    /// Whether the client authenticates with a shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        )
    }
}

/// Review state: only approved apps reach patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    Review,
    Approved,
    Rejected,
    Suspended,
}

impl ClientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Review => "review",
            ClientStatus::Approved => "approved",
            ClientStatus::Rejected => "rejected",
            ClientStatus::Suspended => "suspended",
        }
    }
    pub fn parse(s: &str) -> StoreResult<Self> {
        Ok(match s {
            "review" => ClientStatus::Review,
            "approved" => ClientStatus::Approved,
            "rejected" => ClientStatus::Rejected,
            "suspended" => ClientStatus::Suspended,
            other => {
                return Err(StoreError::Invalid(format!(
                    "unknown client status {other}"
                )))
            }
        })
    }
}

/// A registered app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
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
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub id_token_signed_response_alg: String,
    pub backchannel_logout_uri: Option<String>,
    pub require_par: bool,
    pub status: ClientStatus,
    pub status_reason: Option<String>,
    pub developer_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Client {
    /// Public clients cannot keep a secret and must use PKCE.
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

pub(crate) fn json_list(s: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Invalid(format!("stored list is not JSON: {e}")))
}

pub(crate) fn to_json_list(v: &[String]) -> String {
    serde_json::Value::from(v.to_vec()).to_string()
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> StoreResult<Self> {
        Ok(Client {
            app_type: AppType::parse(&r.app_type)?,
            auth_method: AuthMethod::parse(&r.token_endpoint_auth_method)?,
            redirect_uris: json_list(&r.redirect_uris)?,
            post_logout_redirect_uris: json_list(&r.post_logout_redirect_uris)?,
            grant_types: json_list(&r.grant_types)?,
            scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
            status: ClientStatus::parse(&r.status)?,
            id: r.id,
            name: r.name,
            description: r.description,
            logo_uri: r.logo_uri,
            client_uri: r.client_uri,
            policy_uri: r.policy_uri,
            tos_uri: r.tos_uri,
            jwks: r.jwks,
            jwks_uri: r.jwks_uri,
            id_token_signed_response_alg: r.id_token_signed_response_alg,
            backchannel_logout_uri: r.backchannel_logout_uri,
            require_par: r.require_par,
            status_reason: r.status_reason,
            developer_id: r.developer_id,
            created_at: time::from_db(r.created_at),
            updated_at: time::from_db(r.updated_at),
        })
    }
}

/// An app to register. Protocol-level validation of the metadata (redirect URI rules,
/// auth method against app type) belongs to the server; the store checks consistency.
#[derive(Debug, Clone)]
pub struct NewClient {
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
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub id_token_signed_response_alg: String,
    pub backchannel_logout_uri: Option<String>,
    pub require_par: bool,
    pub status: ClientStatus,
    pub developer_id: Option<String>,
}

impl NewClient {
    pub(crate) fn validate(&self) -> StoreResult<()> {
        if self.name.trim().is_empty() {
            return Err(StoreError::Invalid("an app needs a name".into()));
        }
        if !matches!(
            self.id_token_signed_response_alg.as_str(),
            "ES256" | "RS256"
        ) {
            return Err(StoreError::Invalid(
                "id_token_signed_response_alg must be ES256 or RS256".into(),
            ));
        }
        if self.auth_method == AuthMethod::PrivateKeyJwt
            && self.jwks.is_none()
            && self.jwks_uri.is_none()
        {
            return Err(StoreError::Invalid(
                "private_key_jwt needs a JWKS or a jwks_uri".into(),
            ));
        }
        Ok(())
    }
}

/// A registered client with its one-time-visible secret, when it has one.
#[derive(Debug, Clone)]
pub struct CreatedClient {
    pub client: Client,
    pub secret: Option<String>,
}

/// A client's rows, ready to insert, with its secret in clear (shown once).
pub(crate) struct PreparedClient {
    pub row: ClientRow,
    pub secret_row: Option<ClientSecretRow>,
    pub secret: Option<String>,
}

/// Validates `new` and builds its rows: a new id and, for a confidential app, a new
/// 256-bit secret of which only the digest goes in the row.
pub(crate) fn prepare_client(new: NewClient, now: DateTime<Utc>) -> StoreResult<PreparedClient> {
    new.validate()?;
    let db_now = time::to_db(now);
    let id = secret::new_id()?;
    let secret_value = if new.auth_method.uses_secret() {
        Some(secret::new_token("pfcs_")?)
    } else {
        None
    };
    let secret_row = secret_value
        .as_ref()
        .map(|s| {
            Ok::<_, StoreError>(ClientSecretRow {
                id: secret::new_id()?,
                client_id: id.clone(),
                secret_hash: secret::digest(s),
                created_at: db_now,
                expires_at: None,
            })
        })
        .transpose()?;
    let row = ClientRow {
        id,
        name: new.name.trim().to_owned(),
        description: new.description,
        logo_uri: new.logo_uri,
        client_uri: new.client_uri,
        policy_uri: new.policy_uri,
        tos_uri: new.tos_uri,
        app_type: new.app_type.as_str().to_owned(),
        token_endpoint_auth_method: new.auth_method.as_str().to_owned(),
        redirect_uris: to_json_list(&new.redirect_uris),
        post_logout_redirect_uris: to_json_list(&new.post_logout_redirect_uris),
        grant_types: to_json_list(&new.grant_types),
        scopes: new.scopes.join(" "),
        jwks: new.jwks,
        jwks_uri: new.jwks_uri,
        id_token_signed_response_alg: new.id_token_signed_response_alg,
        backchannel_logout_uri: new.backchannel_logout_uri,
        require_par: new.require_par,
        status: new.status.as_str().to_owned(),
        status_reason: None,
        developer_id: new.developer_id,
        registration_access_token_hash: None,
        created_at: db_now,
        updated_at: db_now,
    };
    Ok(PreparedClient {
        row,
        secret_row,
        secret: secret_value,
    })
}

/// Inserts a prepared client inside the caller's transaction.
pub(crate) fn insert_client_in(
    conn: &mut crate::db::DbConn,
    prepared: &PreparedClient,
) -> StoreResult<Client> {
    diesel::insert_into(clients::table)
        .values(&prepared.row)
        .execute(conn)?;
    if let Some(secret_row) = &prepared.secret_row {
        diesel::insert_into(client_secrets::table)
            .values(secret_row)
            .execute(conn)?;
    }
    Client::try_from(prepared.row.clone())
}

impl Store {
    /// Registers an app. Confidential apps get a new 256-bit secret, returned here once
    /// and stored only as its SHA-256 digest.
    pub async fn create_client(
        &self,
        new: NewClient,
        now: DateTime<Utc>,
    ) -> StoreResult<CreatedClient> {
        let prepared = prepare_client(new, now)?;
        let secret_value = prepared.secret.clone();
        let client = self
            .write(move |conn| insert_client_in(conn, &prepared))
            .await?;
        Ok(CreatedClient {
            client,
            secret: secret_value,
        })
    }

    pub async fn client(&self, id: &str) -> StoreResult<Option<Client>> {
        let id = id.to_owned();
        self.read(move |conn| {
            clients::table
                .find(id)
                .select(ClientRow::as_select())
                .first(conn)
                .optional()?
                .map(Client::try_from)
                .transpose()
        })
        .await
    }

    /// A client with the digests of its secrets that are valid at `now` (more than one
    /// while a rotation's grace period runs), in one round trip.
    pub async fn client_with_secrets(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Client, Vec<String>)>> {
        let id = id.to_owned();
        let now = time::to_db(now);
        self.read(move |conn| load_client_with_secrets(conn, &id, now))
            .await
    }

    /// Apps, newest first, optionally only those in one review state.
    pub async fn list_clients(&self, status: Option<ClientStatus>) -> StoreResult<Vec<Client>> {
        self.read(move |conn| {
            let mut q = clients::table
                .select(ClientRow::as_select())
                .order(clients::created_at.desc())
                .into_boxed();
            if let Some(s) = status {
                q = q.filter(clients::status.eq(s.as_str()));
            }
            q.load(conn)?.into_iter().map(Client::try_from).collect()
        })
        .await
    }

    /// Moves an app to another review state, with the operator's reason.
    pub async fn set_client_status(
        &self,
        id: &str,
        status: ClientStatus,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> StoreResult<Client> {
        let id = id.to_owned();
        let now = time::to_db(now);
        self.write(move |conn| {
            let n = diesel::update(clients::table.find(&id))
                .set((
                    clients::status.eq(status.as_str()),
                    clients::status_reason.eq(reason),
                    clients::updated_at.eq(now),
                ))
                .execute(conn)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Client::try_from(
                clients::table
                    .find(&id)
                    .select(ClientRow::as_select())
                    .first(conn)?,
            )
        })
        .await
    }
}

/// A client with the digests of its live secrets, in one query for every
/// client-authenticated request: the client row comes once per live secret (two while a
/// rotation overlaps), or once with none.
pub(crate) fn load_client_with_secrets(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
) -> StoreResult<Option<(Client, Vec<String>)>> {
    let live_secret = client_secrets::client_id.eq(clients::id).and(
        client_secrets::expires_at
            .is_null()
            .or(client_secrets::expires_at.gt(now)),
    );
    let rows: Vec<(ClientRow, Option<String>)> = on_backend!(conn, |c| clients::table
        .left_join(client_secrets::table.on(live_secret))
        .filter(clients::id.eq(id))
        .select((
            ClientRow::as_select(),
            client_secrets::secret_hash.nullable(),
        ))
        .load(c))?;
    let mut rows = rows.into_iter();
    let Some((row, first)) = rows.next() else {
        return Ok(None);
    };
    let digests = first
        .into_iter()
        .chain(rows.filter_map(|(_, digest)| digest))
        .collect();
    Ok(Some((Client::try_from(row)?, digests)))
}
