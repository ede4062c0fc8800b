//! Apps in the portal: registration, settings, secret rotation, deletion, and what a
//! change means for review (shared with the registration endpoint).

use super::*;

/// The app form's values, as text.
#[derive(Debug, Clone, Default)]
pub struct AppForm {
    pub client_name: String,
    pub description: String,
    pub logo_uri: String,
    pub client_uri: String,
    pub policy_uri: String,
    pub tos_uri: String,
    pub app_type: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub scopes: Vec<String>,
    pub auth_method: String,
    pub jwks: String,
    pub jwks_uri: String,
    pub alg: String,
    pub backchannel_logout_uri: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn optional(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl AppForm {
    pub fn has_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }

    pub fn app_type_words(&self) -> &'static str {
        APP_TYPES
            .iter()
            .find(|(v, _, _)| *v == self.app_type)
            .map(|(_, w, _)| *w)
            .unwrap_or("Unknown")
    }

    fn from_fields(f: &Fields) -> AppForm {
        AppForm {
            client_name: f.text("client_name"),
            description: f.text("description"),
            logo_uri: f.text("logo_uri"),
            client_uri: f.text("client_uri"),
            policy_uri: f.text("policy_uri"),
            tos_uri: f.text("tos_uri"),
            app_type: f.text("app_type"),
            redirect_uris: f.text("redirect_uris"),
            post_logout_redirect_uris: f.text("post_logout_redirect_uris"),
            scopes: f.all("scope"),
            auth_method: f.text("token_endpoint_auth_method"),
            jwks: f.text("jwks"),
            jwks_uri: f.text("jwks_uri"),
            alg: f.text("id_token_signed_response_alg"),
            backchannel_logout_uri: f.text("backchannel_logout_uri"),
        }
    }

    fn from_client(c: &Client) -> AppForm {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        AppForm {
            client_name: c.name.clone(),
            description: s(&c.description),
            logo_uri: s(&c.logo_uri),
            client_uri: s(&c.client_uri),
            policy_uri: s(&c.policy_uri),
            tos_uri: s(&c.tos_uri),
            app_type: c.app_type.as_str().to_owned(),
            redirect_uris: c.redirect_uris.join("\n"),
            post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
            scopes: c.scopes.clone(),
            auth_method: c.auth_method.as_str().to_owned(),
            jwks: s(&c.jwks),
            jwks_uri: s(&c.jwks_uri),
            alg: c.id_token_signed_response_alg.clone(),
            backchannel_logout_uri: s(&c.backchannel_logout_uri),
        }
    }

    /// The draft the shared rules check. The portal derives the grant types from the
    /// app type and the scopes (offline_access brings refresh_token).
    fn draft(&self) -> Draft {
        Draft {
            name: optional(&self.client_name),
            description: optional(&self.description),
            logo_uri: optional(&self.logo_uri),
            client_uri: optional(&self.client_uri),
            policy_uri: optional(&self.policy_uri),
            tos_uri: optional(&self.tos_uri),
            app_type: optional(&self.app_type),
            redirect_uris: lines(&self.redirect_uris),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris),
            scopes: self.scopes.clone(),
            grant_types: None,
            response_types: None,
            auth_method: optional(&self.auth_method),
            jwks: optional(&self.jwks),
            jwks_uri: optional(&self.jwks_uri),
            id_token_signed_response_alg: optional(&self.alg),
            backchannel_logout_uri: optional(&self.backchannel_logout_uri),
            require_par: false,
            contacts: Vec::new(),
        }
    }
}

/// The app types a developer picks from: (value, label, explanation).
const APP_TYPES: [(&str, &str, &str); 4] = [
    (
        "web",
        "Web app",
        "Runs on your server and keeps a client secret.",
    ),
    (
        "spa",
        "Single-page app",
        "Runs in the browser: no secret, signs in with PKCE.",
    ),
    (
        "native",
        "Native app",
        "A mobile or desktop app: no secret, PKCE, loopback or private-use redirect URIs (RFC 8252).",
    ),
    (
        "service",
        "Back-end service",
        "A server talking to pfid on its own behalf (client_credentials), no patient sign-in.",
    ),
];

/// The token endpoint authentication methods: (value, explanation).
const AUTH_METHODS: [(&str, &str); 4] = [
    (
        "client_secret_basic",
        "The client secret in an HTTP Basic Authorization header (web apps and services).",
    ),
    (
        "client_secret_post",
        "The client secret in the form body (web apps and services).",
    ),
    (
        "private_key_jwt",
        "A JWT signed with your private key; give your public keys below (web apps and services).",
    ),
    (
        "none",
        "No client authentication: single-page and native apps, which use PKCE.",
    ),
];

fn scope_options() -> Vec<(&'static str, &'static str)> {
    scope::SUPPORTED
        .iter()
        .map(|s| (*s, scope::describe(s).unwrap_or("")))
        .collect()
}

#[derive(Template)]
#[template(path = "developers/app_new.html")]
struct NewAppPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    form: &'a AppForm,
    errors: &'a Errors,
    editing: bool,
    app_types: &'static [(&'static str, &'static str, &'static str)],
    auth_methods: &'static [(&'static str, &'static str)],
    scope_options: Vec<(&'static str, &'static str)>,
}

fn new_app_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    form: &AppForm,
    errors: &Errors,
) -> HttpResponse {
    let token = state.csrf.issue(req);
    let page = NewAppPage {
        product: state.product(),
        csrf_token: &token.token,
        form,
        errors,
        editing: false,
        app_types: &APP_TYPES,
        auth_methods: &AUTH_METHODS,
        scope_options: scope_options(),
    };
    pages::html(status, &page, token.cookies())
}

/// GET /developers/apps/new
pub(super) async fn new_app_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    if signed_in(&state, &req).await?.is_none() {
        return Ok(to_login());
    }
    let form = AppForm {
        scopes: vec!["openid".into()],
        alg: "ES256".into(),
        ..AppForm::default()
    };
    Ok(new_app_page(
        &state,
        &req,
        StatusCode::OK,
        &form,
        &Errors::default(),
    ))
}

fn errors_from(list: Vec<client_metadata::FieldError>) -> Errors {
    let mut e = Errors::default();
    for fe in list {
        e.add(fe.field, fe.message);
    }
    e
}

/// The status a new app starts in.
pub fn initial_status(state: &AppState) -> ClientStatus {
    if state.settings.developers.review_required {
        ClientStatus::Review
    } else {
        ClientStatus::Approved
    }
}

/// The review consequence of replacing an app's metadata, shared with the registration
/// endpoint: a rejected app that is fixed goes back to review; an approved app whose
/// reviewed details change goes back to review; otherwise the status stays.
pub fn status_after_update(
    state: &AppState,
    current: &Client,
    current_meta: &Metadata,
    new: &Metadata,
) -> Option<StatusChange> {
    if !state.settings.developers.review_required {
        return None;
    }
    match current.status {
        ClientStatus::Rejected => Some(StatusChange {
            status: ClientStatus::Review,
            reason: None,
        }),
        ClientStatus::Approved if new.changes_reviewed_fields(current_meta) => Some(StatusChange {
            status: ClientStatus::Review,
            reason: None,
        }),
        _ => None,
    }
}

/// POST /developers/apps: registers an app; the page shows its secret once.
pub(super) async fn create_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let f = Fields::parse(&body);
    let form = AppForm::from_fields(&f);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Ok(new_app_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &form,
            &Errors::of("", EXPIRED_FORM),
        ));
    }
    let meta = match client_metadata::validate(&form.draft()) {
        Ok(m) => m,
        Err(list) => {
            return Ok(new_app_page(
                &state,
                &req,
                StatusCode::BAD_REQUEST,
                &form,
                &errors_from(list),
            ))
        }
    };
    let now = state.now();
    let created = state
        .store
        .create_client(
            meta.to_new_client(initial_status(&state), Some(dev.id.clone())),
            now,
        )
        .await?;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    state
        .store
        .record_event(
            audit("client_registered", &dev, ip.as_deref()).client(&created.client.id),
            now,
        )
        .await?;
    let mut notices = vec!["Your app is registered.".to_owned()];
    if created.client.status == ClientStatus::Review {
        notices.push(
            "An operator will review it; patients can sign in to it once it is approved.".into(),
        );
    }
    app_page(
        &state,
        &req,
        AppView {
            client: &created.client,
            new_secret: created.secret.as_deref(),
            notices,
            form: None,
            errors: &Errors::default(),
            status: StatusCode::OK,
        },
    )
    .await
}

#[derive(Template)]
#[template(path = "developers/app.html")]
struct AppPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    app_name: &'a str,
    client_id: &'a str,
    status: &'static str,
    status_reason: Option<&'a str>,
    status_help: &'static str,
    approved: bool,
    notices: Vec<String>,
    new_secret: Option<&'a str>,
    uses_secret: bool,
    /// (created, valid until) in words
    secrets: Vec<(String, String)>,
    form: &'a AppForm,
    errors: &'a Errors,
    editing: bool,
    app_types: &'static [(&'static str, &'static str, &'static str)],
    auth_methods: &'static [(&'static str, &'static str)],
    scope_options: Vec<(&'static str, &'static str)>,
}

/// What an app page shows.
struct AppView<'a> {
    client: &'a Client,
    new_secret: Option<&'a str>,
    notices: Vec<String>,
    /// The submitted form when it was refused; None shows the app's settings.
    form: Option<&'a AppForm>,
    errors: &'a Errors,
    status: StatusCode,
}

async fn app_page(
    state: &AppState,
    req: &HttpRequest,
    view: AppView<'_>,
) -> Result<HttpResponse, PageError> {
    let c = view.client;
    let now = state.now();
    let secrets = if c.auth_method.uses_secret() {
        state
            .store
            .client_secrets(&c.id, now)
            .await?
            .into_iter()
            .map(|s| {
                (
                    when(s.created_at),
                    match s.expires_at {
                        Some(e) => format!("valid until {}", when(e)),
                        None => "valid until rotated".to_owned(),
                    },
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let current = AppForm::from_client(c);
    let form = view.form.unwrap_or(&current);
    let token = state.csrf.issue(req);
    let page = AppPage {
        product: state.product(),
        csrf_token: &token.token,
        app_name: &c.name,
        client_id: &c.id,
        status: status_words(c.status),
        status_reason: c.status_reason.as_deref(),
        status_help: status_help(c.status),
        approved: c.status == ClientStatus::Approved,
        notices: view.notices,
        new_secret: view.new_secret,
        uses_secret: c.auth_method.uses_secret(),
        secrets,
        form,
        errors: view.errors,
        editing: true,
        app_types: &APP_TYPES,
        auth_methods: &AUTH_METHODS,
        scope_options: scope_options(),
    };
    Ok(pages::html(view.status, &page, token.cookies()))
}

/// The developer's own app `id`, or a 404 page: another developer's app is not shown,
/// nor said to exist.
async fn own_app(state: &AppState, dev: &Developer, id: &str) -> Result<Client, PageError> {
    match state.store.client(id).await? {
        Some(c) if c.developer_id.as_deref() == Some(dev.id.as_str()) => Ok(c),
        _ => Err(PageError {
            status: StatusCode::NOT_FOUND,
            title: "App not found".into(),
            message: "You have no app with this id.".into(),
        }),
    }
}

/// GET /developers/apps/{id}
pub(super) async fn show_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let client = own_app(&state, &dev, &path).await?;
    app_page(
        &state,
        &req,
        AppView {
            client: &client,
            new_secret: None,
            notices: Vec::new(),
            form: None,
            errors: &Errors::default(),
            status: StatusCode::OK,
        },
    )
    .await
}

/// POST /developers/apps/{id}: saves new settings (same rules as registration).
pub(super) async fn update_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let client = own_app(&state, &dev, &path).await?;
    let f = Fields::parse(&body);
    let mut form = AppForm::from_fields(&f);
    // The app type is fixed at registration: whatever the form says, it is the app's.
    form.app_type = client.app_type.as_str().to_owned();
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        let errors = Errors::of("", EXPIRED_FORM);
        return app_page(
            &state,
            &req,
            AppView {
                client: &client,
                new_secret: None,
                notices: Vec::new(),
                form: Some(&form),
                errors: &errors,
                status: StatusCode::BAD_REQUEST,
            },
        )
        .await;
    }
    let meta = match client_metadata::validate(&form.draft()) {
        Ok(m) => m,
        Err(list) => {
            let errors = errors_from(list);
            return app_page(
                &state,
                &req,
                AppView {
                    client: &client,
                    new_secret: None,
                    notices: Vec::new(),
                    form: Some(&form),
                    errors: &errors,
                    status: StatusCode::BAD_REQUEST,
                },
            )
            .await;
        }
    };
    let contacts = state.store.client_contacts(&client.id).await?;
    let current_meta = Metadata::of_client(&client, &contacts);
    let change = status_after_update(&state, &client, &current_meta, &meta);
    let back_to_review = change.is_some();
    let now = state.now();
    let (updated, secret) = state
        .store
        .update_client(
            &client.id,
            meta.to_new_client(client.status, client.developer_id.clone()),
            None,
            change,
            now,
        )
        .await?;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    state
        .store
        .record_event(
            audit("client_updated", &dev, ip.as_deref()).client(&client.id),
            now,
        )
        .await?;
    let mut notices = vec!["Your changes are saved.".to_owned()];
    if back_to_review {
        notices.push(
            "The app is back in review: an operator approves the new details before patients can sign in to it again."
                .into(),
        );
    }
    app_page(
        &state,
        &req,
        AppView {
            client: &updated,
            new_secret: secret.as_deref(),
            notices,
            form: None,
            errors: &Errors::default(),
            status: StatusCode::OK,
        },
    )
    .await
}

/// POST /developers/apps/{id}/rotate-secret: a new secret, shown once; the old ones
/// keep working for the grace period the developer chose (at most 7 days).
pub(super) async fn rotate_secret(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let client = own_app(&state, &dev, &path).await?;
    let f = Fields::parse(&body);
    let grace = if !state.csrf.verify(&req, f.csrf().as_deref()) {
        Err(Errors::of("", EXPIRED_FORM))
    } else if !client.auth_method.uses_secret() {
        Err(Errors::of(
            "",
            "This app does not authenticate with a secret, so there is none to rotate.",
        ))
    } else {
        match f.text("grace").trim().parse::<i64>() {
            Ok(s) if s < 0 => Err(Errors::of("grace", "The grace period cannot be negative.")),
            Ok(s) if Duration::seconds(s) > MAX_SECRET_GRACE => Err(Errors::of(
                "grace",
                "The grace period can be at most 7 days.",
            )),
            Ok(s) => Ok(Duration::seconds(s)),
            Err(_) => Err(Errors::of(
                "grace",
                "Choose how long the old secret keeps working.",
            )),
        }
    };
    let grace = match grace {
        Ok(g) => g,
        Err(errors) => {
            return app_page(
                &state,
                &req,
                AppView {
                    client: &client,
                    new_secret: None,
                    notices: Vec::new(),
                    form: None,
                    errors: &errors,
                    status: StatusCode::BAD_REQUEST,
                },
            )
            .await
        }
    };
    let now = state.now();
    let secret = state
        .store
        .rotate_client_secret(&client.id, grace, now)
        .await?;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    state
        .store
        .record_event(
            audit("client_secret_rotated", &dev, ip.as_deref())
                .client(&client.id)
                .detail(serde_json::json!({"developer_id": dev.id, "grace_seconds": grace.num_seconds()})),
            now,
        )
        .await?;
    let notice = if grace.is_zero() {
        "A new secret is issued; the old one stopped working now.".to_owned()
    } else {
        format!(
            "A new secret is issued; the old one keeps working until {}.",
            when(now + grace)
        )
    };
    app_page(
        &state,
        &req,
        AppView {
            client: &client,
            new_secret: Some(&secret),
            notices: vec![notice],
            form: None,
            errors: &Errors::default(),
            status: StatusCode::OK,
        },
    )
    .await
}

/// POST /developers/apps/{id}/delete: the app and every token it holds go at once.
pub(super) async fn delete_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some((_, dev)) = signed_in(&state, &req).await? else {
        return Ok(to_login());
    };
    let client = own_app(&state, &dev, &path).await?;
    let f = Fields::parse(&body);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Err(PageError::forbidden(EXPIRED_FORM));
    }
    let now = state.now();
    state.store.delete_client(&client.id).await?;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    state
        .store
        .record_event(
            audit("client_deleted", &dev, ip.as_deref()).client(&client.id),
            now,
        )
        .await?;
    let notice = format!("{} is deleted.", client.name);
    dashboard(
        &state,
        &req,
        &dev,
        StatusCode::OK,
        Some(&notice),
        None,
        &Errors::default(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfid_store::clients::AuthMethod;

    #[test]
    fn portal_forms_derive_grants_from_scopes() {
        let form = AppForm {
            client_name: "A".into(),
            app_type: "web".into(),
            redirect_uris: "https://a.example/cb\n\n https://a.example/cb2 ".into(),
            scopes: vec!["openid".into(), "offline_access".into()],
            ..AppForm::default()
        };
        let d = form.draft();
        assert_eq!(
            d.redirect_uris,
            vec!["https://a.example/cb", "https://a.example/cb2"]
        );
        let m = client_metadata::validate(&d).unwrap();
        assert_eq!(m.grant_types, vec!["authorization_code", "refresh_token"]);
        assert_eq!(m.auth_method, AuthMethod::ClientSecretBasic);
    }
}
