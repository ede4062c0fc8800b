//! What each command does.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{NaiveDate, Utc};
use clap::Args;
use pfid_server::app::{self, open_store};
use pfid_server::config::{LogFormat, Settings};
use pfid_server::crypto::seal::Sealer;
use pfid_server::keys::KeyRing;
use pfid_server::{Application, SystemClock};
use pfid_store::accounts::{NewAccount, Relationship};
use pfid_store::clients::{AppType, AuthMethod, ClientStatus, NewClient};
use pfid_store::patients::{Address, NewPatient};
use pfid_store::{password, PasswordHasher, Store};
use serde_json::json;
use tracing_subscriber::EnvFilter;

use crate::output::report;
use crate::{
    AccountCommand, Cli, ClientCommand, Command, DbCommand, InviteCommand, KeysCommand,
    LegacyCommand, PatientCommand, RegistrationTokenCommand,
};

fn init_logging(settings: &Settings, serving: bool) {
    let default = if serving {
        settings.server.log_level.as_str()
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.server.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub async fn run(cli: Cli) -> Result<()> {
    let settings =
        Settings::load(cli.config.as_deref(), std::env::vars()).map_err(|e| anyhow!("{e}"))?;
    let command = cli.command.unwrap_or(Command::Serve);
    init_logging(&settings, matches!(command, Command::Serve));
    match command {
        Command::Serve => serve(settings).await,
        Command::Db {
            command: DbCommand::Migrate { out },
        } => {
            let store = migrated_store_count(&settings).await?;
            report(out.json, &json!({"applied": store}), || {
                format!("applied {store} migration(s)")
            });
            Ok(())
        }
        Command::Client { command } => client(settings, command).await,
        Command::Patient {
            command: PatientCommand::Create(args),
        } => patient_create(settings, args).await,
        Command::Account {
            command: AccountCommand::Create(args),
        } => account_create(settings, args).await,
        Command::Keys {
            command: KeysCommand::Rotate { out },
        } => keys_rotate(settings, out.json).await,
        Command::Invite {
            command: InviteCommand::Create(args),
        } => invite_create(settings, args).await,
        Command::Invite {
            command: InviteCommand::Revoke(args),
        } => invite_revoke(settings, args).await,
        Command::RegistrationToken {
            command: RegistrationTokenCommand::Create { expires_in, out },
        } => registration_token_create(settings, expires_in.as_deref(), out.json).await,
        Command::Legacy {
            command:
                LegacyCommand::Import {
                    file,
                    dry_run,
                    batch_size,
                    out,
                },
        } => legacy_import(settings, &file, dry_run, batch_size, out.json).await,
        Command::Legacy {
            command: LegacyCommand::Report { out },
        } => legacy_report(settings, out.json).await,
    }
}

async fn serve(settings: Settings) -> Result<()> {
    let bind = settings.server.bind;
    let issuer = settings.server.issuer.as_str().to_owned();
    let backend = settings.database.url.backend().as_str();
    let app = Application::build(settings, Arc::new(SystemClock))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    tracing::info!(%bind, %issuer, backend, "pfid is serving");
    app.run_until_stopped()
        .await
        .context("server stopped with an error")?;
    tracing::info!("pfid stopped");
    Ok(())
}

/// Opens the store and applies pending migrations: every command may be the first to
/// touch a new database.
async fn store(settings: &Settings) -> Result<Store> {
    let store = open_store(settings).await.map_err(|e| anyhow!("{e}"))?;
    store
        .migrate()
        .await
        .map_err(|e| anyhow!("database.url: {e}"))?;
    Ok(store)
}

async fn migrated_store_count(settings: &Settings) -> Result<usize> {
    let store = open_store(settings).await.map_err(|e| anyhow!("{e}"))?;
    store
        .migrate()
        .await
        .map_err(|e| anyhow!("database.url: {e}"))
}

fn hasher(settings: &Settings) -> Result<PasswordHasher> {
    let p = &settings.passwords;
    PasswordHasher::new(
        p.argon2_memory_kib,
        p.argon2_iterations,
        p.argon2_parallelism,
    )
    .map_err(|e| anyhow!("{e}"))
}

// ---------------------------------------------------------------- patients

#[derive(Args, Debug)]
pub struct PatientCreate {
    #[arg(long)]
    first_name: String,
    #[arg(long)]
    last_name: String,
    /// YYYY-MM-DD
    #[arg(long)]
    birth_date: String,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    /// The record's id in the provider's EHR (unique).
    #[arg(long)]
    external_id: Option<String>,
    #[arg(long)]
    street: Option<String>,
    #[arg(long)]
    city: Option<String>,
    #[arg(long)]
    region: Option<String>,
    #[arg(long)]
    postal_code: Option<String>,
    #[arg(long)]
    country: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn parse_birth_date(raw: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw.trim(), "%Y/%m/%d"))
        .map_err(|_| anyhow!("--birth-date must be a date as YYYY-MM-DD, not {raw:?}"))
}

async fn patient_create(settings: Settings, a: PatientCreate) -> Result<()> {
    let new = NewPatient {
        external_id: a.external_id,
        first_name: a.first_name,
        last_name: a.last_name,
        birth_date: parse_birth_date(&a.birth_date)?,
        email: a.email,
        phone: a.phone,
        address: Address {
            street: a.street,
            locality: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
        },
    };
    new.validate(Utc::now().date_naive())
        .map_err(|e| anyhow!("{}", plain(&e)))?;
    let store = store(&settings).await?;
    let patient = store
        .create_patient(new, Utc::now())
        .await
        .map_err(|e| match &e {
            pfid_store::StoreError::Conflict(rule) if rule == "external_id" => {
                anyhow!("a patient record with this --external-id already exists")
            }
            _ => anyhow!("{}", plain(&e)),
        })?;
    report(a.json, &json!({"patient_id": patient.id}), || {
        format!("created patient record {}", patient.id)
    });
    Ok(())
}

// ---------------------------------------------------------------- accounts

#[derive(Args, Debug)]
pub struct AccountCreate {
    #[arg(long)]
    username: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    password: String,
    /// The holder's own record (name, birth date and phone claims come from it).
    #[arg(long)]
    patient: Option<String>,
    /// A family record the login may also see (repeat per record).
    #[arg(long = "linked-patient")]
    linked_patient: Vec<String>,
    #[arg(long, requires = "security_answer")]
    security_question: Option<String>,
    #[arg(long, requires = "security_question")]
    security_answer: Option<String>,
    #[arg(long)]
    json: bool,
}

fn plain(e: &pfid_store::StoreError) -> String {
    match e {
        pfid_store::StoreError::Invalid(m) => m.clone(),
        other => other.to_string(),
    }
}

async fn account_create(settings: Settings, a: AccountCreate) -> Result<()> {
    let missing = password::rule_violations(&a.password);
    if !missing.is_empty() {
        bail!("--password: {}", password::describe_violations(&missing));
    }
    pfid_store::normalize::validate_username(&a.username)
        .map_err(|e| anyhow!("--username: {}", plain(&e)))?;
    pfid_store::normalize::validate_email(&a.email)
        .map_err(|e| anyhow!("--email: {}", plain(&e)))?;
    if a.security_answer
        .as_deref()
        .is_some_and(|s| s.trim().is_empty())
    {
        bail!("--security-answer must not be empty");
    }
    let store = store(&settings).await?;
    let hasher = hasher(&settings)?;
    let (pw, answer) = (a.password.clone(), a.security_answer.clone());
    let (password_hash, answer_hash) = tokio::task::spawn_blocking(move || -> Result<_> {
        let ph = hasher.hash(&pw).map_err(|e| anyhow!("{e}"))?;
        let ah = match answer {
            Some(ans) => Some(
                hasher
                    .hash(&PasswordHasher::normalize_answer(&ans))
                    .map_err(|e| anyhow!("{e}"))?,
            ),
            None => None,
        };
        Ok((ph, ah))
    })
    .await??;
    let new = NewAccount {
        username: a.username,
        email: a.email,
        email_verified: true,
        phone: None,
        password_hash,
        security_question: a.security_question,
        security_answer_hash: answer_hash,
        own_patient: a.patient,
        linked_patients: a
            .linked_patient
            .into_iter()
            .map(|p| (p, Relationship::Guardian))
            .collect(),
    };
    let account = store
        .create_account(new, Utc::now())
        .await
        .map_err(|e| match &e {
            pfid_store::StoreError::Conflict(rule) if rule == "username" => {
                anyhow!("the username is already taken (usernames are compared ignoring case)")
            }
            pfid_store::StoreError::Conflict(rule) if rule == "email" => {
                anyhow!("another account already uses this email")
            }
            pfid_store::StoreError::Conflict(rule) if rule == "self_record" => {
                anyhow!("--patient given twice")
            }
            _ => anyhow!("{}", plain(&e)),
        })?;
    report(a.json, &json!({"account_id": account.id}), || {
        format!("created account {}", account.id)
    });
    Ok(())
}

// ---------------------------------------------------------------- clients

#[derive(Args, Debug)]
pub struct ClientCreate {
    #[arg(long)]
    name: String,
    /// A redirect URI (repeat per URI).
    #[arg(long = "redirect-uri")]
    redirect_uri: Vec<String>,
    /// A public client (same as --auth-method none).
    #[arg(long)]
    public: bool,
    #[arg(long, value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])]
    auth_method: Option<String>,
    /// A scope the client may request (repeat); default: openid profile email phone address offline_access.
    #[arg(long = "scope")]
    scope: Vec<String>,
    /// A grant type (repeat); default: authorization_code refresh_token.
    #[arg(long = "grant-type", value_parser = ["authorization_code", "refresh_token", "client_credentials"])]
    grant_type: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uri: Vec<String>,
    #[arg(long, conflicts_with = "jwks")]
    jwks_uri: Option<String>,
    /// A file holding the client's JWKS (for private_key_jwt).
    #[arg(long)]
    jwks: Option<std::path::PathBuf>,
    #[arg(long, value_parser = ["ES256", "RS256"], default_value = "ES256")]
    id_token_signed_response_alg: String,
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    #[arg(long)]
    require_par: bool,
    #[arg(long)]
    logo_uri: Option<String>,
    #[arg(long)]
    policy_uri: Option<String>,
    #[arg(long)]
    tos_uri: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    json: bool,
}

fn check_uri(flag: &str, raw: &str) -> Result<()> {
    let u =
        url::Url::parse(raw).map_err(|e| anyhow!("{flag} {raw:?} is not an absolute URI: {e}"))?;
    if u.fragment().is_some() {
        bail!("{flag} {raw:?} must not contain a fragment");
    }
    Ok(())
}

fn is_native_redirect(uri: &str) -> bool {
    uri.starts_with("http://127.0.0.1")
        || uri.starts_with("http://[::1]")
        || !uri.starts_with("http")
}

async fn client_create(settings: Settings, a: ClientCreate) -> Result<()> {
    let auth_method = match (a.public, a.auth_method.as_deref()) {
        (true, Some(m)) if m != "none" => bail!("--public conflicts with --auth-method {m}"),
        (true, _) => AuthMethod::None,
        (false, Some(m)) => AuthMethod::parse(m).map_err(|e| anyhow!("{}", plain(&e)))?,
        (false, None) => AuthMethod::ClientSecretBasic,
    };
    let grant_types = if a.grant_type.is_empty() {
        vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
    } else {
        a.grant_type.clone()
    };
    let uses_redirect = grant_types.iter().any(|g| g == "authorization_code");
    if uses_redirect && a.redirect_uri.is_empty() {
        bail!("--redirect-uri is required for the authorization_code grant");
    }
    for uri in &a.redirect_uri {
        check_uri("--redirect-uri", uri)?;
    }
    for uri in &a.post_logout_redirect_uri {
        check_uri("--post-logout-redirect-uri", uri)?;
    }
    for (flag, value) in [
        ("--jwks-uri", &a.jwks_uri),
        ("--backchannel-logout-uri", &a.backchannel_logout_uri),
        ("--logo-uri", &a.logo_uri),
        ("--policy-uri", &a.policy_uri),
        ("--tos-uri", &a.tos_uri),
    ] {
        if let Some(v) = value {
            check_uri(flag, v)?;
        }
    }
    if auth_method == AuthMethod::None && grant_types.iter().any(|g| g == "client_credentials") {
        bail!("a public client cannot use the client_credentials grant");
    }
    let jwks = match &a.jwks {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --jwks {}", path.display()))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| anyhow!("--jwks is not JSON: {e}"))?;
            if !v.get("keys").is_some_and(serde_json::Value::is_array) {
                bail!("--jwks must be a JWK Set: {{\"keys\": [...]}}");
            }
            Some(v.to_string())
        }
        None => None,
    };
    if auth_method == AuthMethod::PrivateKeyJwt && jwks.is_none() && a.jwks_uri.is_none() {
        bail!("--auth-method private_key_jwt needs --jwks FILE or --jwks-uri URI");
    }
    let scopes = if a.scope.is_empty() {
        [
            "openid",
            "profile",
            "email",
            "phone",
            "address",
            "offline_access",
        ]
        .map(str::to_owned)
        .to_vec()
    } else {
        a.scope
            .iter()
            .flat_map(|s| s.split_whitespace().map(str::to_owned))
            .collect()
    };
    let app_type = if auth_method == AuthMethod::None {
        if a.redirect_uri.iter().all(|u| is_native_redirect(u)) {
            AppType::Native
        } else {
            AppType::Spa
        }
    } else if !uses_redirect {
        AppType::Service
    } else {
        AppType::Web
    };
    let new = NewClient {
        name: a.name,
        description: a.description,
        logo_uri: a.logo_uri,
        client_uri: None,
        policy_uri: a.policy_uri,
        tos_uri: a.tos_uri,
        app_type,
        auth_method,
        redirect_uris: a.redirect_uri,
        post_logout_redirect_uris: a.post_logout_redirect_uri,
        grant_types,
        scopes,
        jwks,
        jwks_uri: a.jwks_uri,
        id_token_signed_response_alg: a.id_token_signed_response_alg,
        backchannel_logout_uri: a.backchannel_logout_uri,
        require_par: a.require_par,
        status: ClientStatus::Approved,
        developer_id: None,
    };
    let store = store(&settings).await?;
    let created = store
        .create_client(new, Utc::now())
        .await
        .map_err(|e| anyhow!("{}", plain(&e)))?;
    let mut out = json!({"client_id": created.client.id});
    if let Some(secret) = &created.secret {
        out["client_secret"] = json!(secret);
    }
    report(a.json, &out, || match &created.secret {
        Some(s) => format!(
            "client_id: {}\nclient_secret: {s}\n(the secret is shown only once)",
            created.client.id
        ),
        None => format!(
            "client_id: {} (public client, no secret)",
            created.client.id
        ),
    });
    Ok(())
}

fn client_json(c: &pfid_store::clients::Client) -> serde_json::Value {
    json!({
        "client_id": c.id,
        "name": c.name,
        "status": c.status.as_str(),
        "status_reason": c.status_reason,
        "app_type": c.app_type.as_str(),
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "redirect_uris": c.redirect_uris,
        "grant_types": c.grant_types,
        "scope": c.scopes.join(" "),
        "developer_id": c.developer_id,
        "created_at": c.created_at.to_rfc3339(),
    })
}

async fn client(settings: Settings, command: ClientCommand) -> Result<()> {
    match command {
        ClientCommand::Create(args) => client_create(settings, *args).await,
        ClientCommand::List { status, out } => client_list(settings, status, out.json).await,
        ClientCommand::Approve { id, out } => {
            client_status(settings, &id, ClientStatus::Approved, None, out.json).await
        }
        ClientCommand::Reject { id, reason, out } => {
            client_status(
                settings,
                &id,
                ClientStatus::Rejected,
                Some(reason),
                out.json,
            )
            .await
        }
        ClientCommand::Suspend { id, reason, out } => {
            client_status(settings, &id, ClientStatus::Suspended, reason, out.json).await
        }
    }
}

async fn client_list(settings: Settings, status: Option<String>, json: bool) -> Result<()> {
    let status = status
        .map(|s| ClientStatus::parse(&s))
        .transpose()
        .map_err(|e| anyhow!("{}", plain(&e)))?;
    let store = store(&settings).await?;
    let clients = store
        .list_clients(status)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let list: Vec<_> = clients.iter().map(client_json).collect();
    report(json, &json!({"clients": list}), || {
        clients
            .iter()
            .map(|c| format!("{}  {:<9}  {}", c.id, c.status.as_str(), c.name))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

async fn client_status(
    settings: Settings,
    id: &str,
    status: ClientStatus,
    reason: Option<String>,
    json: bool,
) -> Result<()> {
    let store = store(&settings).await?;
    let client = store
        .set_client_status(id, status, reason, Utc::now())
        .await
        .map_err(|e| match e {
            pfid_store::StoreError::NotFound => anyhow!("no client with id {id}"),
            other => anyhow!("{other}"),
        })?;
    report(
        json,
        &json!({"client_id": client.id, "status": client.status.as_str()}),
        || format!("{} is now {}", client.id, client.status.as_str()),
    );
    Ok(())
}

// ---------------------------------------------------------------- invitations

#[derive(Args, Debug)]
pub struct InviteCreate {
    /// The record the invitation is for.
    #[arg(long)]
    patient: String,
    /// Where to send it (default: the email on the record).
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    json: bool,
}

async fn invite_create(settings: Settings, a: InviteCreate) -> Result<()> {
    use pfid_server::selfservice::{self, SelfServiceError};
    let store = store(&settings).await?;
    let codes = selfservice::code_hasher(&settings).map_err(|e| anyhow!("{e}"))?;
    let created = selfservice::create_invitation(
        &store,
        &settings,
        &codes,
        &a.patient,
        a.email.as_deref(),
        Utc::now(),
    )
    .await
    .map_err(|e| match e {
        SelfServiceError::NoPatient => anyhow!("no patient record with id {}", a.patient),
        SelfServiceError::Store(pfid_store::StoreError::Invalid(m)) => anyhow!("--email: {m}"),
        other => anyhow!("{other}"),
    })?;
    // Send now when a mail server (or the outbox folder) is at hand; otherwise the
    // queued email leaves with the next `pfid serve` worker that sees it.
    match pfid_server::outbox::Delivery::from_settings(&settings) {
        Ok(delivery) => {
            pfid_server::outbox::deliver_due(&store, &delivery, Utc::now).await;
        }
        Err(e) => tracing::warn!(error = %e, "the invitation email stays queued"),
    }
    let expires = created
        .invitation
        .expires_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    report(
        a.json,
        &json!({"invite_url": created.url, "expires_at": expires, "pin": created.pin}),
        || {
            format!(
                "invitation emailed to {}\nlink: {}\nPIN (read it to the patient): {}\nvalid until {expires}",
                created.invitation.email, created.url, created.pin
            )
        },
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct InviteRevoke {
    /// The record whose portal access ends.
    #[arg(long)]
    patient: String,
    #[arg(long)]
    json: bool,
}

async fn invite_revoke(settings: Settings, a: InviteRevoke) -> Result<()> {
    let store = store(&settings).await?;
    let revoked = store
        .revoke_patient_access(&a.patient, Utc::now())
        .await
        .map_err(|e| match e {
            pfid_store::StoreError::NotFound => anyhow!("no patient record with id {}", a.patient),
            other => anyhow!("{other}"),
        })?;
    let n = revoked.links + revoked.invitations;
    report(a.json, &json!({"revoked": n}), || {
        format!(
            "revoked access of {} login(s) and {} open invitation(s)",
            revoked.links, revoked.invitations
        )
    });
    Ok(())
}

// ---------------------------------------------------------------- keys

async fn keys_rotate(settings: Settings, json: bool) -> Result<()> {
    let store = store(&settings).await?;
    let master = app::encryption_key(&settings).map_err(|e| anyhow!("{e}"))?;
    let sealer = Sealer::new(master).map_err(|e| anyhow!("{e}"))?;
    let l = &settings.lifetimes;
    // A retired key stays published while anything it signed may still be checked.
    let keep = l.id_token.0.max(l.access_token.0) + chrono::Duration::minutes(5);
    let kids = KeyRing::rotate(&store, &sealer, Utc::now(), keep)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    report(json, &json!({"kids": kids}), || {
        format!("new signing keys: {}", kids.join(", "))
    });
    Ok(())
}

// ---------------------------------------------------------------- registration tokens

async fn registration_token_create(
    settings: Settings,
    expires_in: Option<&str>,
    json: bool,
) -> Result<()> {
    let now = Utc::now();
    let expires_at = expires_in
        .map(|d| {
            pfid_server::config::Duration::parse(d)
                .map(|d| now + d.0)
                .map_err(|e| anyhow!("--expires-in: {e}"))
        })
        .transpose()?;
    let store = store(&settings).await?;
    let (token, value) = store
        .create_initial_access_token(None, expires_at, now)
        .await
        .map_err(|e| anyhow!("{}", plain(&e)))?;
    report(json, &json!({"initial_access_token": value}), || {
        let until = token
            .expires_at
            .map(|e| format!("valid until {}", e.to_rfc3339()))
            .unwrap_or_else(|| "does not expire".to_owned());
        format!(
            "initial access token: {value}
({until}; shown only once)"
        )
    });
    Ok(())
}

// ---------------------------------------------------------------- legacy import

async fn legacy_import(
    settings: Settings,
    file: &std::path::Path,
    dry_run: bool,
    batch_size: u32,
    json: bool,
) -> Result<()> {
    use std::io::IsTerminal;

    let opened =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let input = std::io::BufReader::with_capacity(1 << 20, opened);
    let store = store(&settings).await?;
    let options = pfid_migration::ImportOptions {
        dry_run,
        batch_size: batch_size as usize,
    };
    // A bar on a terminal; otherwise a plain line now and then, so logs stay readable.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {human_pos} lines read, {per_sec}, {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let last_line = std::cell::Cell::new(0u64);
    let progress = |lines: u64| match &bar {
        Some(bar) => bar.set_position(lines),
        None => {
            if lines / 100_000 > last_line.get() / 100_000 {
                eprintln!("{lines} lines read");
            }
            last_line.set(lines);
        }
    };
    let started = std::time::Instant::now();
    let result = pfid_migration::import(&store, input, options, Utc::now(), Some(&progress)).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let r = result.map_err(|e| anyhow!("{e}"))?;
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        bytes = size,
        imported = r.imported,
        "legacy import finished"
    );
    let value = serde_json::to_value(&r).context("cannot print the report")?;
    report(json, &value, || {
        let mut text =
            format!(
            "{}imported {}, skipped {}, {} legacy account(s) share an email and need a new account",
            if dry_run { "dry run, nothing written: would have " } else { "" },
            r.imported,
            r.skipped,
            r.duplicate_email_accounts
        );
        for e in &r.errors {
            text.push_str(&format!("\nline {}: {}", e.line, e.reason));
        }
        text
    });
    Ok(())
}

async fn legacy_report(settings: Settings, json: bool) -> Result<()> {
    let store = store(&settings).await?;
    let r = store.legacy_report().await.map_err(|e| anyhow!("{e}"))?;
    let value = serde_json::to_value(r).context("cannot print the report")?;
    report(json, &value, || {
        format!(
            "must reset: {}\nreset done: {}\nneeds new account: {}",
            r.must_reset, r.reset_done, r.needs_new_account
        )
    });
    Ok(())
}
