//! The black-box test harness: the real server on an ephemeral port with a fresh
//! database (a new SQLite file, or a new uniquely named PostgreSQL database dropped
//! afterwards), talked to over HTTP as a client app or a patient's browser would.
//!
//! Every test runs on both backends: `both_backends!(name)` turns `async fn name(srv:
//! TestServer)` into `name::sqlite` and `name::postgres`. PostgreSQL tests need
//! `PFID_TEST_POSTGRES_URL`; without it they are skipped with a note, except under
//! `CI=true`, where a missing PostgreSQL fails the run.

// Test support: a panic is how a test fails, with the message saying why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod forms;
pub mod mail;
pub mod sms;

use std::net::TcpListener;
use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use pfid_server::app::AppState;
use pfid_server::{Application, ManualClock, Settings};
use pfid_store::Store;

pub use forms::Form;

/// `both_backends_messaging!(case)` runs `async fn case(srv: TestServer, inbox: Inbox)`
/// on SQLite and PostgreSQL, with the server's mail going to a real SMTP listener and
/// its texts and calls to a real HTTP gateway sink (see `Inbox`).
#[macro_export]
macro_rules! both_backends_messaging {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some((srv, inbox)) = $crate::Inbox::start_server($crate::Backend::Sqlite).await {
                        super::$name(srv, inbox).await
                    }
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some((srv, inbox)) = $crate::Inbox::start_server($crate::Backend::Postgres).await {
                        super::$name(srv, inbox).await
                    }
                }
            }
        )+
    };
}

/// Where a test server's messages go: a real SMTP listener and a real HTTP sink for
/// the SMS gateway.
pub struct Inbox {
    pub mail: mail::MailSink,
    pub sms: sms::SmsSink,
}

impl Inbox {
    /// Starts both sinks.
    pub async fn start() -> Inbox {
        Inbox {
            mail: mail::MailSink::start().await,
            sms: sms::SmsSink::start().await,
        }
    }

    /// The overrides that send a server's messages here.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PFID__MAIL__SMTP_URL", self.mail.url()),
            ("PFID__SMS__GATEWAY_URL", self.sms.url.clone()),
            ("PFID__SMS__GATEWAY_TOKEN", "test-gateway-token".into()),
        ]
    }

    /// A test server whose mail and texts land in a new inbox.
    pub async fn start_server(backend: Backend) -> Option<(TestServer, Inbox)> {
        let inbox = Inbox::start().await;
        let srv = TestServer::start_with(backend, &inbox.overrides()).await?;
        Some((srv, inbox))
    }
}

/// Which database a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `both_backends!(case)` runs `async fn case(srv: TestServer)` on SQLite and PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(srv) = $crate::TestServer::start($crate::Backend::Sqlite).await {
                        super::$name(srv).await
                    }
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(srv) = $crate::TestServer::start($crate::Backend::Postgres).await {
                        super::$name(srv).await
                    }
                }
            }
        )+
    };
}

/// The admin URL of the test PostgreSQL server, or None when tests must skip it.
/// Under `CI=true` a missing URL is a failure, not a skip.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("PFID_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("CI=true but PFID_TEST_POSTGRES_URL is not set: PostgreSQL tests cannot be skipped in CI");
            }
            eprintln!("note: PFID_TEST_POSTGRES_URL is not set; skipping the PostgreSQL variant of this test");
            None
        }
    }
}

/// A database of its own for one test, removed when dropped.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("pfid.db").display());
                Some(TestDb {
                    url,
                    backend,
                    dir,
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url()?;
                let name = format!("pfid_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!("cannot reach PostgreSQL at PFID_TEST_POSTGRES_URL: {e}")
                });
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let mut url = url::Url::parse(&admin).expect("PFID_TEST_POSTGRES_URL is a URL");
                url.set_path(&format!("/{name}"));
                Some(TestDb {
                    url: url.to_string(),
                    backend,
                    dir,
                    postgres: Some((admin, name)),
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// Path of a file in the repository's `config/`.
pub fn config_path(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config")
        .join(file)
}

/// Settings for a test server: defaults, `config/test.toml`, then `overrides`.
pub fn test_settings(db: &TestDb, port: u16, overrides: &[(&str, String)]) -> Settings {
    let mut env: Vec<(String, String)> = vec![
        ("PFID__DATABASE__URL".into(), db.url.clone()),
        (
            "PFID__SERVER__ISSUER".into(),
            format!("http://127.0.0.1:{port}"),
        ),
        ("PFID__SERVER__BIND".into(), format!("127.0.0.1:{port}")),
        (
            "PFID__SERVER__DATA_DIR".into(),
            db.dir.path().join("data").display().to_string(),
        ),
        ("PFID__DATABASE__POOL_SIZE".into(), "4".into()),
    ];
    env.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Settings::load(Some(&config_path("test.toml")), env).expect("test settings load")
}

/// A running pfid on 127.0.0.1 with its own database and a clock the test moves.
pub struct TestServer {
    pub base: String,
    pub backend: Backend,
    pub state: actix_web::web::Data<AppState>,
    pub clock: ManualClock,
    /// A browser-like client: cookie store, redirects not followed.
    pub browser: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    pub db: TestDb,
}

impl TestServer {
    /// A server on `backend`, or None when that backend is not available here.
    pub async fn start(backend: Backend) -> Option<TestServer> {
        TestServer::start_with(backend, &[]).await
    }

    /// A server with `PFID__SECTION__KEY` overrides.
    pub async fn start_with(backend: Backend, overrides: &[(&str, String)]) -> Option<TestServer> {
        let db = TestDb::new(backend)?;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local addr").port();
        let settings = test_settings(&db, port, overrides);
        let clock = ManualClock::default();
        let app = Application::build_on(settings, Arc::new(clock.clone()), listener)
            .await
            .unwrap_or_else(|e| panic!("test server failed to start: {e}"));
        let state = app.state();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Some(TestServer {
            base: format!("http://127.0.0.1:{port}"),
            backend,
            state,
            clock,
            browser: new_browser(),
            handle,
            db,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops this server gracefully and starts a new one on the same database, data
    /// folder, settings and clock (on a new port): a node restart.
    pub async fn restart(&mut self) {
        self.handle.stop(true).await;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local addr").port();
        let mut settings = self.state.settings.clone();
        settings.server.bind = format!("127.0.0.1:{port}").parse().expect("socket address");
        settings.server.issuer =
            pfid_server::config::Issuer::parse(&format!("http://127.0.0.1:{port}"))
                .expect("issuer");
        let app = Application::build_on(settings, Arc::new(self.clock.clone()), listener)
            .await
            .unwrap_or_else(|e| panic!("test server failed to restart: {e}"));
        self.state = app.state();
        self.handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        self.base = format!("http://127.0.0.1:{port}");
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The time the server sees.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        use pfid_server::Clock;
        self.clock.now()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}

/// A fresh browser-like HTTP client: its own cookie jar, redirects not followed.
pub fn new_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// The `Location` of a redirect response.
pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("expected a redirect, got {}", resp.status()))
        .to_owned()
}

/// A local HTTP endpoint that answers every request with 200 and remembers the paths it
/// was asked for: a redirect URI a real browser can land on.
pub struct Callback {
    pub url: String,
    pub hits: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Callback {
    pub async fn start() -> Callback {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind callback");
        let url = format!(
            "http://127.0.0.1:{}/callback",
            listener.local_addr().expect("addr").port()
        );
        let hits = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16384];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    if let Some(line) = head.lines().next() {
                        if let Some(path) = line.split_whitespace().nth(1) {
                            seen.lock().expect("lock").push(path.to_owned());
                        }
                    }
                    let body = "<html><body><p>Callback received</p></body></html>";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        Callback { url, hits }
    }
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
