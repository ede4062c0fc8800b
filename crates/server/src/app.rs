//! Building and running the server: `Application::build(settings, clock)` binds the
//! listener (port 0 is fine), opens the store, prepares keys, and returns a handle that
//! tests and `pfid serve` run alike. No global state: one process can run many servers.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use pfid_store::secret::CodeHasher;
use pfid_store::{PasswordHasher, Store, StoreConfig};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::seal::{self, Sealer};
use crate::http;
use crate::http::csrf::Csrf;
use crate::keys::KeyRing;
use crate::metrics::Metrics;

/// Everything a request handler may use, shared by every worker.
pub struct AppState {
    pub settings: Settings,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub keys: KeyRing,
    pub sealer: Arc<Sealer>,
    pub passwords: PasswordHasher,
    /// One thread per core does every argon2 computation (see `password_threads`).
    pub password_threads: Arc<crate::password_threads::PasswordThreads>,
    pub codes: CodeHasher,
    pub csrf: Csrf,
    pub metrics: Metrics,
    /// The discovery document, serialised once.
    pub discovery_body: String,
    /// Wakes the outbound-queue worker when a message is queued.
    pub outbox_wakeup: crate::outbox::Wakeup,
    /// Clients' keys for `private_key_jwt`, fetched from their `jwks_uri` and cached.
    pub client_jwks: crate::client_jwks::ClientJwks,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
    pub fn issuer(&self) -> &str {
        self.settings.server.issuer.as_str()
    }
    pub fn product(&self) -> &str {
        &self.settings.server.product_name
    }
    /// Runs password hashing or verification on the password threads, at most one per
    /// core at once; the others wait their turn without holding a thread.
    pub async fn password_work<T, F>(&self, work: F) -> Result<T, String>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.password_threads.run(work).await
    }
    /// Queues a message durably and wakes the delivery worker.
    pub async fn send(
        &self,
        msg: pfid_store::outbox::NewMessage,
    ) -> Result<(), pfid_store::StoreError> {
        self.store.enqueue_message(msg, self.now()).await?;
        self.outbox_wakeup.wake();
        Ok(())
    }
}

/// Why the server could not start, as one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database.url: {0}")]
    Database(String),
    #[error("server.bind: cannot listen on {addr}: {cause}")]
    Bind { addr: String, cause: std::io::Error },
    #[error("keys.encryption_key: {0}")]
    EncryptionKey(String),
    #[error("{0}")]
    Other(String),
}

/// A built server, listening, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    background: Vec<JoinHandle<()>>,
}

/// Opens the store as configured.
pub async fn open_store(settings: &Settings) -> Result<Store, StartupError> {
    let config = StoreConfig {
        url: settings.database.url.clone(),
        pool_size: settings.database.pool_size,
        connect_timeout: settings.database.connect_timeout.std(),
    };
    Store::connect(&config)
        .await
        .map_err(|e| StartupError::Database(e.to_string()))
}

/// The deployment key: configured, or generated once into the data folder (laptops).
pub fn encryption_key(settings: &Settings) -> Result<[u8; 32], StartupError> {
    if !settings.keys.encryption_key.is_empty() {
        return seal::decode_key(settings.keys.encryption_key.expose())
            .map_err(StartupError::EncryptionKey);
    }
    let path = settings.server.data_dir.join("encryption.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return seal::decode_key(&text).map_err(|e| {
            StartupError::EncryptionKey(format!("{} is not a valid key: {e}", path.display()))
        });
    }
    let key = pfid_store::secret::random_bytes::<32>()
        .map_err(|e| StartupError::EncryptionKey(e.to_string()))?;
    write_private_file(&path, seal::encode_key(&key).as_bytes()).map_err(|e| {
        StartupError::EncryptionKey(format!("cannot write {}: {e}", path.display()))
    })?;
    tracing::warn!(
        path = %path.display(),
        "keys.encryption_key is not set: generated one into the data folder. Fine on a laptop; \
         in production set keys.encryption_key, the same on every node"
    );
    Ok(key)
}

fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)
}

/// Builds the shared state: store (migrated), keys, hashers.
pub async fn build_state(
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> Result<AppState, StartupError> {
    let store = open_store(&settings).await?;
    store
        .migrate()
        .await
        .map_err(|e| StartupError::Database(e.to_string()))?;
    let master = encryption_key(&settings)?;
    let sealer = Arc::new(Sealer::new(master).map_err(StartupError::EncryptionKey)?);
    let keys = KeyRing::open(&store, sealer.clone(), clock.now())
        .await
        .map_err(|e| StartupError::EncryptionKey(e.to_string()))?;
    let p = &settings.passwords;
    let (m, t, par) = (
        p.argon2_memory_kib,
        p.argon2_iterations,
        p.argon2_parallelism,
    );
    let passwords = tokio::task::spawn_blocking(move || PasswordHasher::new(m, t, par))
        .await
        .map_err(|e| StartupError::Other(e.to_string()))?
        .map_err(|e| StartupError::Other(format!("passwords: {e}")))?;
    let codes = CodeHasher::new(
        &sealer
            .derive("pfid code hashing")
            .map_err(StartupError::Other)?,
    );
    let csrf = Csrf::new(
        &sealer.derive("pfid csrf").map_err(StartupError::Other)?,
        settings.server.issuer.is_https(),
    );
    let discovery_body = http::discovery::document(&settings.server.issuer).to_string();
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    Ok(AppState {
        settings,
        store,
        clock,
        keys,
        sealer,
        passwords,
        password_threads: Arc::new(
            crate::password_threads::PasswordThreads::start(cores)
                .map_err(|e| StartupError::Other(format!("password threads: {e}")))?,
        ),
        codes,
        csrf,
        metrics: Metrics::default(),
        discovery_body,
        outbox_wakeup: crate::outbox::Wakeup::default(),
        client_jwks: crate::client_jwks::ClientJwks::new().map_err(StartupError::Other)?,
    })
}

impl Application {
    /// Opens everything and binds `server.bind`.
    pub async fn build(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartupError> {
        let bind = settings.server.bind;
        let listener = TcpListener::bind(bind).map_err(|cause| StartupError::Bind {
            addr: bind.to_string(),
            cause,
        })?;
        Application::build_on(settings, clock, listener).await
    }

    /// Opens everything and serves on a listener the caller bound (tests bind port 0
    /// first, to put the port in the issuer URL).
    pub async fn build_on(
        settings: Settings,
        clock: Arc<dyn Clock>,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1),
            n => n,
        };
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Other(e.to_string()))?
            .port();
        let delivery = Arc::new(
            crate::outbox::Delivery::from_settings(&settings).map_err(StartupError::Other)?,
        );
        let state = web::Data::new(build_state(settings, clock).await?);
        let background = vec![
            spawn_key_refresh(state.clone()),
            crate::outbox::spawn_worker(state.clone(), delivery),
            spawn_housekeeping(state.clone()),
        ];
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            let limit = app_state.settings.server.max_body_bytes;
            let hsts = app_state.settings.server.issuer.is_https();
            App::new()
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(limit))
                .app_data(web::FormConfig::default().limit(limit))
                .app_data(web::JsonConfig::default().limit(limit))
                .wrap(actix_web::middleware::from_fn(http::cors::browser_apps))
                .wrap(http::security::headers(hsts))
                .wrap(actix_web::middleware::from_fn(http::security::observe))
                .configure(http::routes::configure)
                .default_service(web::to(http::security::not_found))
        })
        .workers(workers)
        .shutdown_timeout(10)
        .listen(listener)
        .map_err(|e| StartupError::Other(e.to_string()))?
        .run();
        Ok(Application {
            port,
            server,
            state,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM (graceful: in-flight requests finish) or `stop`.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in self.background {
            task.abort();
        }
        result
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// How often each node deletes expired rows. Every node may run it at the same time:
/// the deletes are idempotent.
const HOUSEKEEPING_EVERY: StdDuration = StdDuration::from_secs(600);

/// Deletes expired codes, tokens, sessions and delivered messages now and then.
fn spawn_housekeeping(state: web::Data<AppState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Not at start-up: a fleet restarting together would all purge at once.
        let first = tokio::time::Instant::now() + HOUSEKEEPING_EVERY / 10;
        let mut tick = tokio::time::interval_at(first, HOUSEKEEPING_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let login_window = state.settings.throttle.login_window.0;
        let keep = pfid_store::housekeeping::Retention {
            rate_windows: std::cmp::max(
                pfid_store::housekeeping::Retention::default().rate_windows,
                login_window * 2,
            ),
            ..Default::default()
        };
        loop {
            tick.tick().await;
            match state.store.purge_expired(state.now(), keep).await {
                Ok(purged) if purged.total() > 0 => {
                    tracing::info!(?purged, "deleted expired rows");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not delete expired rows"),
            }
        }
    })
}

/// Every few seconds, pick up keys another process rotated.
fn spawn_key_refresh(state: web::Data<AppState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(StdDuration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = state.keys.refresh(&state.store, state.now()).await {
                tracing::warn!(error = %e, "could not refresh signing keys");
            }
        }
    })
}
