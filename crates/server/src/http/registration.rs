//! Dynamic client registration (RFC 7591) at `/register` and client configuration
//! management (RFC 7592) at `/register/{client_id}`, with OpenID Connect Dynamic Client
//! Registration 1.0 metadata.
//!
//! Registration needs an initial access token (RFC 7591 §3: a developer makes one in
//! the portal, an operator with `pfid registration-token create`); the app belongs to
//! that token's developer. The metadata follows the same rules as the portal
//! (`oauth::client_metadata`), and a new app waits in review the same way.
//!
//! Each registered client gets a registration access token (RFC 7592 §3), stored as a
//! digest. It is not rotated on read or update: the same token keeps working until the
//! client is deleted, and responses echo the token the request presented (pfid cannot
//! show a stored one). Likewise a client secret appears only in the response that
//! issued it.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use pfid_store::audit::AuditEvent;
use pfid_store::clients::Client;
use pfid_store::StoreError;
use serde_json::{json, Map, Value};

use crate::app::AppState;
use crate::http::developers::{initial_status, status_after_update};
use crate::http::errors::BearerError;
use crate::oauth::client_metadata::{self, FieldError, Metadata};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/register", web::post().to(register))
        .route("/register/{client_id}", web::get().to(read))
        .route("/register/{client_id}", web::put().to(update))
        .route("/register/{client_id}", web::delete().to(delete));
}

/// A registration error response (RFC 7591 §3.2.2): 400 with a JSON body.
#[derive(Debug, Clone)]
pub struct RegistrationError {
    pub code: &'static str,
    pub description: String,
}

impl RegistrationError {
    fn metadata(description: impl Into<String>) -> Self {
        RegistrationError {
            code: "invalid_client_metadata",
            description: description.into(),
        }
    }
    fn from_fields(errors: &[FieldError]) -> Self {
        let (code, description) = client_metadata::registration_error(errors);
        RegistrationError { code, description }
    }
}

impl std::fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl ResponseError for RegistrationError {
    fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::BadRequest()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"error": self.code, "error_description": self.description}))
    }
}

/// Either failure of a registration request: the bearer token, or the metadata.
#[derive(Debug)]
pub enum Failure {
    Bearer(BearerError),
    Registration(RegistrationError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Bearer(e) => e.fmt(f),
            Failure::Registration(e) => e.fmt(f),
        }
    }
}

impl ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        match self {
            Failure::Bearer(e) => e.status_code(),
            Failure::Registration(e) => e.status_code(),
        }
    }
    fn error_response(&self) -> HttpResponse {
        match self {
            Failure::Bearer(e) => e.error_response(),
            Failure::Registration(e) => e.error_response(),
        }
    }
}

impl From<BearerError> for Failure {
    fn from(e: BearerError) -> Self {
        Failure::Bearer(e)
    }
}

impl From<RegistrationError> for Failure {
    fn from(e: RegistrationError) -> Self {
        Failure::Registration(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Bearer(BearerError::from(e))
    }
}

/// The bearer token of the request (RFC 6750 §2.1). None of it: a bare challenge.
fn bearer(req: &HttpRequest) -> Result<String, BearerError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(BearerError::Missing);
    };
    let value = value.to_str().map_err(|_| BearerError::InvalidToken)?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_owned())
        }
        _ => Err(BearerError::Missing),
    }
}

/// The JSON object a request carries (RFC 7591 §3.1: `application/json`).
fn json_object(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, RegistrationError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(RegistrationError::metadata(
            "the request body must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(RegistrationError::metadata(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(RegistrationError::metadata(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

fn respond(status: StatusCode, body: Map<String, Value>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(Value::Object(body))
}

/// The client information response (RFC 7592 §3): the metadata, the registration
/// access token the client holds, and where to manage it.
fn information(
    state: &AppState,
    client: &Client,
    contacts: &[String],
    registration_access_token: &str,
    secret: Option<&str>,
) -> Map<String, Value> {
    let mut body = client_metadata::registration_document(client, contacts);
    if let Some(secret) = secret {
        body.insert("client_secret".into(), json!(secret));
        // RFC 7591 §3.2.1: 0 means the secret does not expire (it ends by rotation).
        body.insert("client_secret_expires_at".into(), json!(0));
    }
    body.insert(
        "registration_access_token".into(),
        json!(registration_access_token),
    );
    body.insert(
        "registration_client_uri".into(),
        json!(state
            .settings
            .server
            .issuer
            .url(&format!("/register/{}", client.id))),
    );
    body
}

/// POST /register (RFC 7591 §3.1): 201 with the client information, or 400 with
/// `invalid_redirect_uri` / `invalid_client_metadata` / `invalid_software_statement`,
/// or 401 without a valid initial access token.
async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Failure> {
    let token = bearer(&req)?;
    let now = state.now();
    let Some(iat) = state.store.live_initial_access_token(&token, now).await? else {
        return Err(BearerError::InvalidToken.into());
    };
    let object = json_object(&req, &body)?;
    let draft = client_metadata::draft_from_registration(&object)
        .map_err(|e| RegistrationError::from_fields(&e))?;
    let meta = client_metadata::validate(&draft).map_err(|e| RegistrationError::from_fields(&e))?;
    let registered = state
        .store
        .register_client(
            meta.to_new_client(initial_status(&state), iat.developer_id.clone()),
            meta.contacts.clone(),
            Some(iat.id.clone()),
            now,
        )
        .await?;
    state
        .store
        .record_event(
            AuditEvent::new("client_registered")
                .client(&registered.client.id)
                .detail(json!({"via": "registration_endpoint", "initial_access_token_id": iat.id, "developer_id": iat.developer_id})),
            now,
        )
        .await?;
    Ok(respond(
        StatusCode::CREATED,
        information(
            &state,
            &registered.client,
            &registered.contacts,
            &registered.registration_access_token,
            registered.secret.as_deref(),
        ),
    ))
}

/// The client the request's registration access token manages (RFC 7592 §2: an
/// unknown client or a wrong token is 401 alike).
async fn managed(
    state: &AppState,
    req: &HttpRequest,
    client_id: &str,
) -> Result<(Client, Vec<String>, String), Failure> {
    let token = bearer(req)?;
    match state
        .store
        .client_for_registration(client_id, &token)
        .await?
    {
        Some((client, contacts)) => Ok((client, contacts, token)),
        None => Err(BearerError::InvalidToken.into()),
    }
}

/// GET /register/{client_id} (RFC 7592 §2.1)
async fn read(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let (client, contacts, token) = managed(&state, &req, &path).await?;
    Ok(respond(
        StatusCode::OK,
        information(&state, &client, &contacts, &token, None),
    ))
}

/// Fields a client must not send in an update (RFC 7592 §2.2).
const NOT_IN_UPDATE: [&str; 4] = [
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
];

/// PUT /register/{client_id} (RFC 7592 §2.2): replaces the metadata; fields left out
/// are removed or take their defaults. The same rules and review as registration.
async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Failure> {
    let (client, contacts, token) = managed(&state, &req, &path).await?;
    let object = json_object(&req, &body)?;
    if object.get("client_id").and_then(Value::as_str) != Some(client.id.as_str()) {
        return Err(RegistrationError::metadata(
            "client_id must be sent and be this client's identifier (RFC 7592 §2.2)",
        )
        .into());
    }
    if let Some(field) = NOT_IN_UPDATE.iter().find(|f| object.contains_key(**f)) {
        return Err(RegistrationError::metadata(format!(
            "{field} must not be sent in an update (RFC 7592 §2.2)"
        ))
        .into());
    }
    let now = state.now();
    if let Some(presented) = object.get("client_secret") {
        let digests = state
            .store
            .client_with_secrets(&client.id, now)
            .await?
            .map(|(_, d)| d)
            .unwrap_or_default();
        let matches = presented.as_str().is_some_and(|s| {
            let digest = pfid_store::secret::digest(s);
            digests
                .iter()
                .fold(false, |acc, d| acc | pfid_store::secret::equal(d, &digest))
        });
        if !matches {
            return Err(RegistrationError::metadata(
                "client_secret does not match the client's current secret (RFC 7592 §2.2)",
            )
            .into());
        }
    }
    let mut draft = client_metadata::draft_from_registration(&object)
        .map_err(|e| RegistrationError::from_fields(&e))?;
    // The description is the portal's, not registration metadata: an update keeps it.
    draft.description = client.description.clone();
    let meta = client_metadata::validate(&draft).map_err(|e| RegistrationError::from_fields(&e))?;
    if meta.app_type != client.app_type {
        return Err(RegistrationError::metadata(format!(
            "this client is a {} app; its type cannot change (application_type, grant_types \
             and token_endpoint_auth_method decide it): register a new client instead",
            client.app_type.as_str()
        ))
        .into());
    }
    let current = Metadata::of_client(&client, &contacts);
    let change = status_after_update(&state, &client, &current, &meta);
    let (updated, secret) = state
        .store
        .update_client(
            &client.id,
            meta.to_new_client(client.status, client.developer_id.clone()),
            Some(meta.contacts.clone()),
            change,
            now,
        )
        .await?;
    state
        .store
        .record_event(
            AuditEvent::new("client_updated")
                .client(&client.id)
                .detail(json!({"via": "registration_endpoint"})),
            now,
        )
        .await?;
    Ok(respond(
        StatusCode::OK,
        information(&state, &updated, &meta.contacts, &token, secret.as_deref()),
    ))
}

/// DELETE /register/{client_id} (RFC 7592 §2.3): 204; the client, its consents and
/// every token it holds are gone, and its registration access token with it.
async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let (client, _, _) = managed(&state, &req, &path).await?;
    state.store.delete_client(&client.id).await?;
    state
        .store
        .record_event(
            AuditEvent::new("client_deleted")
                .client(&client.id)
                .detail(json!({"via": "registration_endpoint"})),
            state.now(),
        )
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
