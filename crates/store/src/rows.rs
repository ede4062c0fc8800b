//! Row structs: the database's shape, private to the store. Public functions convert
//! them to domain types.
//!
//! Every insertable row binds a `None` as NULL (`treat_none_as_default_value = false`;
//! no nullable column has a default). With diesel's default, a `None` is written as
//! `DEFAULT`, so the INSERT's text depends on which fields are set and diesel never
//! keeps it as a prepared statement: PostgreSQL parsed and planned every token insert
//! afresh, SQLite compiled it again.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = patients, treat_none_as_default_value = false)]
pub(crate) struct PatientRow {
    pub id: String,
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub email: Option<String>,
    pub email_normalized: Option<String>,
    pub phone: Option<String>,
    pub address_street: Option<String>,
    pub address_locality: Option<String>,
    pub address_region: Option<String>,
    pub address_postal_code: Option<String>,
    pub address_country: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts, treat_none_as_default_value = false)]
pub(crate) struct AccountRow {
    pub id: String,
    pub username: String,
    pub username_normalized: String,
    pub email: String,
    pub email_normalized: String,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub legacy_password_hash: Option<String>,
    pub security_question: Option<String>,
    pub security_answer_hash: Option<String>,
    pub status: String,
    pub legacy_id: Option<String>,
    pub legacy_created_at: Option<NaiveDateTime>,
    pub notify_email: bool,
    pub notify_sms: bool,
    pub password_changed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = account_patients, treat_none_as_default_value = false)]
pub(crate) struct AccountPatientRow {
    pub account_id: String,
    pub patient_id: String,
    pub relationship: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clients, treat_none_as_default_value = false)]
pub(crate) struct ClientRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub app_type: String,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub id_token_signed_response_alg: String,
    pub backchannel_logout_uri: Option<String>,
    pub require_par: bool,
    pub status: String,
    pub status_reason: Option<String>,
    pub developer_id: Option<String>,
    pub registration_access_token_hash: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_secrets, treat_none_as_default_value = false)]
pub(crate) struct ClientSecretRow {
    pub id: String,
    pub client_id: String,
    pub secret_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = grants, treat_none_as_default_value = false)]
pub(crate) struct GrantRow {
    pub id: String,
    pub account_id: String,
    pub client_id: String,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
pub(crate) struct SessionRow {
    pub id: String,
    pub token_hash: String,
    pub account_id: String,
    pub auth_time: NaiveDateTime,
    pub amr: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes, treat_none_as_default_value = false)]
pub(crate) struct CodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub account_id: String,
    pub session_id: Option<String>,
    pub grant_id: Option<String>,
    pub redirect_uri: String,
    pub scopes: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: NaiveDateTime,
    pub amr: String,
    pub claims: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = token_families, treat_none_as_default_value = false)]
pub(crate) struct FamilyRow {
    pub id: String,
    pub client_id: String,
    pub account_id: String,
    pub grant_id: Option<String>,
    pub code_hash: Option<String>,
    pub session_id: Option<String>,
    pub scopes: String,
    pub auth_time: NaiveDateTime,
    pub amr: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens, treat_none_as_default_value = false)]
pub(crate) struct RefreshRow {
    pub token_hash: String,
    pub family_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_tokens, treat_none_as_default_value = false)]
pub(crate) struct AccessRow {
    pub token_hash: String,
    pub client_id: String,
    pub account_id: Option<String>,
    pub family_id: Option<String>,
    pub code_hash: Option<String>,
    pub session_id: Option<String>,
    pub scopes: String,
    pub auth_time: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, treat_none_as_default_value = false)]
pub(crate) struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub private_key_sealed: String,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
    pub unpublish_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = one_time_codes, treat_none_as_default_value = false)]
pub(crate) struct OneTimeCodeRow {
    pub id: String,
    pub purpose: String,
    pub code_hash: String,
    pub account_id: Option<String>,
    pub subject: Option<String>,
    pub data: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbound_messages, treat_none_as_default_value = false)]
pub(crate) struct OutboundRow {
    pub id: String,
    pub channel: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub(crate) struct AuditRow {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub kind: String,
    pub account_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_assertions, treat_none_as_default_value = false)]
pub(crate) struct ClientAssertionRow {
    pub client_id: String,
    pub jti_hash: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pushed_requests, treat_none_as_default_value = false)]
pub(crate) struct PushedRequestRow {
    pub handle_hash: String,
    pub client_id: String,
    pub params: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub opened_at: Option<NaiveDateTime>,
    pub used_at: Option<NaiveDateTime>,
}
