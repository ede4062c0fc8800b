//! The scenarios, and one whole run: every target started fresh, prepared through its
//! own interfaces (pfid's command line and HTTP; the anchor's scripts), measured, and
//! stopped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::flow::{self, Browser, Client};
use crate::load::{self, Feed, Spec, Stats};
use crate::report::{Record, Report};
use crate::server::{self, Launch, Running, Target};
use crate::RunArgs;

pub const SCENARIOS: &[&str] = &[
    "discovery",
    "jwks",
    "client_credentials",
    "introspection",
    "userinfo",
    "code_exchange",
    "refresh",
    "sign_in",
];

const SCOPE: &str = "openid profile email offline_access";
const PFID_PORT: u16 = 18080;
const ANCHOR_PORT: u16 = 13000;

impl Ctx {
    fn wants(&self, scenario: &str) -> bool {
        self.args.only.is_empty() || self.args.only.split(',').any(|s| s.trim() == scenario)
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[pfid-bench] {}", msg.as_ref());
}

struct Ctx {
    args: RunArgs,
    pfid: PathBuf,
    report: Report,
    anchor_secrets: Option<String>,
}

/// Everything one pfid instance needs, for the server and for its command line alike.
fn pfid_env(args: &RunArgs, target: Target, dir: &Path, db: &str) -> Vec<(String, String)> {
    let url = match target {
        Target::PfidPostgres => format!("{}/{db}", args.postgres.trim_end_matches('/')),
        _ => format!("sqlite://{}", dir.join("pfid.db").display()),
    };
    vec![
        ("PFID__DATABASE__URL".into(), url),
        (
            "PFID__SERVER__BIND".into(),
            format!("127.0.0.1:{PFID_PORT}"),
        ),
        (
            "PFID__SERVER__ISSUER".into(),
            format!("http://127.0.0.1:{PFID_PORT}"),
        ),
        (
            "PFID__SERVER__DATA_DIR".into(),
            dir.join("data").display().to_string(),
        ),
        // Codes are minted before the exchange scenario starts; a run of tens of
        // thousands takes longer than the default 60 s lifetime.
        ("PFID__LIFETIMES__AUTHORIZATION_CODE".into(), "10m".into()),
    ]
}

fn psql(args: &RunArgs, sql: &str) -> anyhow::Result<()> {
    let url = format!("{}/postgres", args.postgres.trim_end_matches('/'));
    let out = Command::new("psql")
        .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .context("psql")?;
    if !out.status.success() {
        bail!(
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub async fn run_all(args: RunArgs) -> anyhow::Result<()> {
    let pfid = std::fs::canonicalize(&args.pfid).with_context(|| {
        format!(
            "{} (build it with cargo build --release)",
            args.pfid.display()
        )
    })?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::create_dir_all(&args.scratch)?;
    let targets: Vec<Target> = args
        .targets
        .split(',')
        .filter_map(|t| match t.trim() {
            "sqlite" => Some(Target::PfidSqlite),
            "postgres" => Some(Target::PfidPostgres),
            "anchor" if !args.anchor_dir.is_empty() => Some(Target::Anchor),
            _ => None,
        })
        .collect();
    let binary_kb = std::fs::metadata(&pfid)?.len() / 1024;
    let mut ctx = Ctx {
        report: Report::new(&args, binary_kb),
        anchor_secrets: None,
        pfid,
        args,
    };
    if targets.contains(&Target::Anchor) {
        ctx.anchor_secrets = Some(anchor_secrets(&ctx.args)?);
    }
    for run in 1..=ctx.args.runs {
        log(format!("run {run}/{}", ctx.args.runs));
        let rate = argon2_rate(&ctx.args)?;
        ctx.report.push(Record::server(
            run,
            Target::PfidSqlite,
            "argon2_verify_per_s",
            rate,
        ));
        for &target in &targets {
            let result = match target {
                Target::Anchor => anchor_run(&mut ctx, run).await,
                _ => pfid_run(&mut ctx, run, target).await,
            };
            if let Err(e) = result {
                log(format!("run {run} {}: {e:#}", target.label()));
                ctx.report
                    .failures
                    .push(format!("run {run} {}: {e:#}", target.label()));
            }
            ctx.report.write(&ctx.args.out)?;
        }
    }
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        let l: Vec<&str> = l.split_whitespace().take(3).collect();
        ctx.report
            .machine
            .push_str(&format!(", at end {}", l.join(" ")));
    }
    ctx.report.write(&ctx.args.out)?;
    log(format!("wrote {}", ctx.args.out.display()));
    Ok(())
}

/// Raw argon2id verifications per second on the servers' CPU (nothing else running).
fn argon2_rate(args: &RunArgs) -> anyhow::Result<f64> {
    let me = std::env::current_exe()?;
    let out = Command::new("taskset")
        .args(["-c", &args.server_cpu])
        .arg(me)
        .args(["argon2", "--seconds", "4"])
        .output()?;
    let v: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| String::from_utf8_lossy(&out.stderr).into_owned())?;
    v["verifications_per_s"]
        .as_f64()
        .ok_or_else(|| anyhow!("no rate"))
}

async fn measure(
    ctx: &mut Ctx,
    run: usize,
    target: Target,
    scenario: &str,
    srv: &Running,
    feed: Feed,
) -> anyhow::Result<Stats> {
    if !ctx.wants(scenario) {
        return Ok(Stats::default());
    }
    let stats = load::run(
        srv.addr,
        Arc::new(feed),
        ctx.args.conns,
        Duration::from_secs(ctx.args.warmup),
        Duration::from_secs(ctx.args.duration),
    )
    .await?;
    log(format!(
        "  {:<16} {:<18} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}{}",
        target.label(),
        scenario,
        stats.rps,
        stats.p50_ms,
        stats.p99_ms,
        stats.errors,
        stats
            .first_error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    ));
    ctx.report
        .push(Record::scenario(run, target, scenario, &stats));
    Ok(stats)
}

fn pfid_cli(
    ctx: &Ctx,
    env: &[(String, String)],
    dir: &Path,
    args: &[&str],
) -> anyhow::Result<Value> {
    let out = server::output(&ctx.pfid, args, env, dir)?;
    Ok(serde_json::from_str(out.trim())?)
}

async fn pfid_run(ctx: &mut Ctx, run: usize, target: Target) -> anyhow::Result<()> {
    let dir = ctx.args.scratch.join(format!("{}-run{run}", target.key()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let db = format!("pfid_bench_{}_{run}", std::process::id());
    if target == Target::PfidPostgres {
        psql(&ctx.args, &format!("DROP DATABASE IF EXISTS {db}"))?;
        psql(&ctx.args, &format!("CREATE DATABASE {db}"))?;
    }
    let env = pfid_env(&ctx.args, target, &dir, &db);
    let launch = Launch {
        program: ctx.pfid.clone(),
        args: vec!["serve".into()],
        env: env.clone(),
        dir: dir.clone(),
        cpu: ctx.args.server_cpu.clone(),
        log: dir.join("server.log"),
        ready_path: "/readyz",
        addr: addr(PFID_PORT),
    };
    let result = pfid_measure(ctx, run, target, &launch, &env, &dir).await;
    if target == Target::PfidPostgres {
        psql(
            &ctx.args,
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        )?;
    }
    result
}

async fn pfid_measure(
    ctx: &mut Ctx,
    run: usize,
    target: Target,
    launch: &Launch,
    env: &[(String, String)],
    dir: &Path,
) -> anyhow::Result<()> {
    // First start: migrations and key generation on an empty database.
    let srv = launch.start().await?;
    ctx.report
        .push(Record::server(run, target, "first_start_ms", srv.ready_ms));
    let base = srv.base();

    // Data, through the command line as an operator would make it.
    let created = pfid_cli(
        ctx,
        env,
        dir,
        &[
            "client",
            "create",
            "--name",
            "Bench",
            "--redirect-uri",
            flow::REDIRECT,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            "client_credentials",
            "--json",
        ],
    )?;
    let client = Client {
        id: created["client_id"]
            .as_str()
            .context("client_id")?
            .to_owned(),
        secret: created["client_secret"]
            .as_str()
            .context("client_secret")?
            .to_owned(),
    };
    let users: Vec<String> = (0..ctx.args.signin_conc.max(1))
        .map(|i| format!("bench{i}"))
        .collect();
    for u in &users {
        pfid_cli(
            ctx,
            env,
            dir,
            &[
                "account",
                "create",
                "--username",
                u,
                "--email",
                &format!("{u}@bench.test"),
                "--password",
                flow::PASSWORD,
                "--json",
            ],
        )?;
    }
    // One real login per user (consent given once, then remembered); these browsers
    // keep their sessions to mint codes without another password check.
    let mut browsers = Vec::new();
    let mut userinfo_token = String::new();
    for u in &users {
        let b = Browser::new(&base)?;
        let code = b.code(&client, u, SCOPE).await?;
        let tokens = b.exchange(&client, &code).await?;
        userinfo_token = tokens["access_token"]
            .as_str()
            .context("access_token")?
            .to_owned();
        browsers.push((b, u.clone()));
    }
    let cc_token = flow::client_credentials(&base, &client).await?;
    let basic = client.basic();

    measure(
        ctx,
        run,
        target,
        "discovery",
        &srv,
        Feed::Fixed(Spec::get("/.well-known/openid-configuration")),
    )
    .await?;
    measure(
        ctx,
        run,
        target,
        "jwks",
        &srv,
        Feed::Fixed(Spec::get("/jwks")),
    )
    .await?;
    measure(
        ctx,
        run,
        target,
        "client_credentials",
        &srv,
        Feed::Fixed(
            Spec::form("/token", "grant_type=client_credentials".into())
                .header("authorization", basic.clone()),
        ),
    )
    .await?;
    measure(
        ctx,
        run,
        target,
        "introspection",
        &srv,
        Feed::Fixed(
            Spec::form(
                "/introspect",
                format!("token={}", flow::form_encode(&cc_token)),
            )
            .header("authorization", basic.clone()),
        ),
    )
    .await?;
    measure(
        ctx,
        run,
        target,
        "userinfo",
        &srv,
        Feed::Fixed(
            Spec::get("/userinfo").header("authorization", format!("Bearer {userinfo_token}")),
        ),
    )
    .await?;

    if ctx.wants("code_exchange") {
        code_exchange(ctx, run, target, &srv, &browsers, &client, &basic).await?;
    }
    if ctx.wants("refresh") {
        refresh(ctx, run, target, &srv, &browsers, &client, &basic).await?;
    }
    if ctx.wants("sign_in") {
        let signin = sign_in_loop(ctx, &base, &client, &users).await?;
        log(format!(
            "  {:<16} {:<18} {:>9.1} /s     p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
            target.label(),
            "sign_in",
            signin.rps,
            signin.p50_ms,
            signin.p99_ms,
            signin.errors
        ));
        ctx.report
            .push(Record::scenario(run, target, "sign_in", &signin));
    }
    ctx.report.push(Record::server(
        run,
        target,
        "loaded_peak_rss_kb",
        srv.peak_kb() as f64,
    ));

    if target == Target::PfidSqlite && run == 1 && ctx.args.soak > 0 {
        soak(ctx, &srv, &basic).await?;
    }
    srv.stop().await?;

    // Restarts on the now-populated database: time to ready and idle memory.
    for _ in 0..3 {
        let srv = launch.start().await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        ctx.report
            .push(Record::server(run, target, "ready_ms", srv.ready_ms));
        ctx.report.push(Record::server(
            run,
            target,
            "idle_rss_kb",
            srv.rss_kb() as f64,
        ));
        srv.stop().await?;
    }
    Ok(())
}

/// Exchanges codes minted beforehand by the signed-in browsers, as many as the
/// exchange could use at a generous rate.
async fn code_exchange(
    ctx: &mut Ctx,
    run: usize,
    target: Target,
    srv: &Running,
    browsers: &[(Browser, String)],
    client: &Client,
    basic: &str,
) -> anyhow::Result<()> {
    let wanted = (ctx.args.duration + ctx.args.warmup) as usize * 1500;
    let t0 = Instant::now();
    let codes = mint_codes(browsers, client, wanted, basic).await?;
    log(format!(
        "  minted {} codes in {:.1} s",
        codes.len(),
        t0.elapsed().as_secs_f64()
    ));
    let exchange = measure(
        ctx,
        run,
        target,
        "code_exchange",
        srv,
        Feed::Queue(Mutex::new(codes)),
    )
    .await?;
    if exchange.requests > 0 && exchange.seconds + 0.5 < ctx.args.duration as f64 {
        log("  code_exchange ran out of codes before the end: its rate is over the time it ran");
    }
    Ok(())
}

/// Refresh with rotation: one token family per connection, each rotated at every
/// request (the next request always carries the refresh token the last one returned).
async fn refresh(
    ctx: &mut Ctx,
    run: usize,
    target: Target,
    srv: &Running,
    browsers: &[(Browser, String)],
    client: &Client,
    basic: &str,
) -> anyhow::Result<()> {
    let base = srv.base();
    let mut refresh = Vec::new();
    let families = mint_codes(browsers, client, ctx.args.conns, basic).await?;
    for spec in families {
        let resp = reqwest::Client::new()
            .post(format!("{base}/token"))
            .header("authorization", basic)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(spec.body.unwrap_or_default())
            .send()
            .await?;
        let v: Value = resp.json().await?;
        refresh.push(
            v["refresh_token"]
                .as_str()
                .context("no refresh_token")?
                .to_owned(),
        );
    }
    let refresh_basic = basic.to_owned();
    let rotate = Feed::Rotate {
        tokens: Mutex::new(refresh),
        make: Box::new(move |token: &str| {
            Spec::form(
                "/token",
                format!(
                    "grant_type=refresh_token&refresh_token={}",
                    flow::form_encode(token)
                ),
            )
            .header("authorization", refresh_basic.clone())
        }),
    };
    measure(ctx, run, target, "refresh", srv, rotate).await?;
    Ok(())
}

/// Codes from the signed-in browsers (each /authorize answers with a code at once: the
/// session is live and the consent remembered), as ready-to-send exchange requests.
async fn mint_codes(
    browsers: &[(Browser, String)],
    client: &Client,
    wanted: usize,
    basic: &str,
) -> anyhow::Result<Vec<Spec>> {
    let per = wanted.div_ceil(browsers.len().max(1));
    let mut tasks = Vec::new();
    for (b, user) in browsers {
        let mut out = Vec::with_capacity(per);
        let fut = async move {
            for _ in 0..per {
                let code = b.code(client, user, SCOPE).await?;
                out.push(
                    Spec::form("/token", b.exchange_body(&code))
                        .header("authorization", basic.to_owned()),
                );
            }
            anyhow::Ok(out)
        };
        tasks.push(fut);
    }
    let mut all = Vec::with_capacity(wanted);
    for r in futures_util::future::join_all(tasks).await {
        all.extend(r?);
    }
    all.truncate(wanted);
    Ok(all)
}

/// Full sign-ins for `duration`: each a new browser, `/authorize` → login (argon2id) →
/// remembered consent → code → token.
async fn sign_in_loop(
    ctx: &Ctx,
    base: &str,
    client: &Client,
    users: &[String],
) -> anyhow::Result<Stats> {
    let warm_end = Instant::now() + Duration::from_secs(ctx.args.warmup);
    let end = warm_end + Duration::from_secs(ctx.args.duration);
    let mut tasks = Vec::new();
    for u in users {
        let (base, client, u) = (base.to_owned(), client.clone(), u.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            while Instant::now() < end {
                let t0 = Instant::now();
                let r = Browser::sign_in(&base, &client, &u, SCOPE).await;
                let t1 = Instant::now();
                let counted = t0 >= warm_end && t1 <= end;
                match r {
                    Ok(_) if counted => lat
                        .push(u32::try_from(t1.duration_since(t0).as_micros()).unwrap_or(u32::MAX)),
                    Ok(_) => {}
                    Err(e) => {
                        if counted {
                            errors += 1;
                        }
                        first_error.get_or_insert(format!("{e:#}"));
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        let (l, e, f) = t.await?;
        lat.extend(l);
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    let mut stats = Stats::from_latencies(lat, errors, ctx.args.duration as f64);
    stats.first_error = first_error;
    Ok(stats)
}

/// client_credentials load for `--soak` seconds, sampling memory every 5 s.
async fn soak(ctx: &mut Ctx, srv: &Running, basic: &str) -> anyhow::Result<()> {
    log(format!("  soak: {} s of client_credentials", ctx.args.soak));
    let addr = srv.addr;
    let feed = Arc::new(Feed::Fixed(
        Spec::form("/token", "grant_type=client_credentials".into())
            .header("authorization", basic.to_owned()),
    ));
    let conns = ctx.args.conns;
    let secs = ctx.args.soak;
    let job = tokio::spawn(async move {
        load::run(addr, feed, conns, Duration::ZERO, Duration::from_secs(secs)).await
    });
    let mut samples = Vec::new();
    let t0 = Instant::now();
    while !job.is_finished() {
        samples.push((t0.elapsed().as_secs_f64(), srv.rss_kb()));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let stats = job.await??;
    ctx.report.soak = Some(crate::report::Soak {
        seconds: secs,
        requests: stats.requests,
        rps: stats.rps,
        rss_kb: samples,
    });
    Ok(())
}

/// Keys for the anchor, made once so that key generation does not count in its start.
fn anchor_secrets(args: &RunArgs) -> anyhow::Result<String> {
    let script = r#"
      import { generateKeyPairSync, randomBytes } from "node:crypto";
      const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
      const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
      console.log(JSON.stringify({ jwks: { keys: [{ ...ec, kid: "es256-1", alg: "ES256", use: "sig" },
        { ...rsa, kid: "rs256-1", alg: "RS256", use: "sig" }] }, cookieKeys: [randomBytes(32).toString("base64url")] }));"#;
    let out = server::output(
        Path::new("node"),
        &["--input-type=module", "-e", script],
        &[],
        Path::new(&args.anchor_dir),
    )?;
    Ok(out.trim().to_owned())
}

fn anchor_node(ctx: &Ctx, args: &[&str]) -> anyhow::Result<String> {
    let env = vec![(
        "ISSUER".to_owned(),
        format!("http://127.0.0.1:{ANCHOR_PORT}"),
    )];
    let mut full = vec!["-c", &ctx.args.load_cpu, "node"];
    full.extend_from_slice(args);
    server::output(
        Path::new("taskset"),
        &full,
        &env,
        Path::new(&ctx.args.anchor_dir),
    )
}

async fn anchor_run(ctx: &mut Ctx, run: usize) -> anyhow::Result<()> {
    let dir = ctx.args.scratch.join(format!("anchor-run{run}"));
    std::fs::create_dir_all(&dir)?;
    let env = vec![
        ("NODE_ENV".to_owned(), "production".to_owned()),
        ("PORT".to_owned(), ANCHOR_PORT.to_string()),
        (
            "BENCH_SECRETS".to_owned(),
            ctx.anchor_secrets.clone().unwrap_or_default(),
        ),
    ];
    let launch = Launch {
        program: PathBuf::from("node"),
        args: vec!["server.mjs".into()],
        env,
        dir: PathBuf::from(&ctx.args.anchor_dir),
        cpu: ctx.args.server_cpu.clone(),
        log: dir.join("server.log"),
        ready_path: "/.well-known/openid-configuration",
        addr: addr(ANCHOR_PORT),
    };
    let srv = launch.start().await?;
    ctx.report.push(Record::server(
        run,
        Target::Anchor,
        "first_start_ms",
        srv.ready_ms,
    ));
    let basic = Client {
        id: "bench".into(),
        secret: "bench-secret".into(),
    }
    .basic();
    let t = Target::Anchor;
    measure(
        ctx,
        run,
        t,
        "discovery",
        &srv,
        Feed::Fixed(Spec::get("/.well-known/openid-configuration")),
    )
    .await?;
    measure(ctx, run, t, "jwks", &srv, Feed::Fixed(Spec::get("/jwks"))).await?;
    measure(
        ctx,
        run,
        t,
        "client_credentials",
        &srv,
        Feed::Fixed(
            Spec::form("/token", "grant_type=client_credentials".into())
                .header("authorization", basic.clone()),
        ),
    )
    .await?;
    // Fetched just before use: the anchor keeps tokens in an LRU of about 2,000
    // entries, which the client_credentials scenario would flush.
    let cc_token = anchor_node(ctx, &["tokens.mjs", "cc"])?;
    measure(
        ctx,
        run,
        t,
        "introspection",
        &srv,
        Feed::Fixed(
            Spec::form(
                "/token/introspection",
                format!("token={}", flow::form_encode(cc_token.trim())),
            )
            .header("authorization", basic.clone()),
        ),
    )
    .await?;
    let user_token = anchor_node(ctx, &["tokens.mjs", "code"])?;
    measure(
        ctx,
        run,
        t,
        "userinfo",
        &srv,
        Feed::Fixed(
            Spec::get("/me").header("authorization", format!("Bearer {}", user_token.trim())),
        ),
    )
    .await?;
    if ctx.wants("sign_in") {
        // The anchor's own login script: a fixed number of scripted logins (its dev login
        // page takes any password, so no hashing), 8 at a time.
        let n = ctx.args.anchor_logins.to_string();
        let conc = ctx.args.signin_conc.to_string();
        let out = anchor_node(ctx, &["tokens.mjs", "logins", &n, &conc])?;
        let v: Value = serde_json::from_str(out.trim())?;
        let stats = Stats {
            requests: v["logins"].as_u64().unwrap_or(0),
            errors: 0,
            seconds: v["seconds"].as_f64().unwrap_or(0.0),
            rps: v["logins_per_s"].as_f64().unwrap_or(0.0),
            p50_ms: v["p50_ms"].as_f64().unwrap_or(0.0),
            p99_ms: v["p99_ms"].as_f64().unwrap_or(0.0),
            max_ms: 0.0,
            first_error: None,
        };
        log(format!(
            "  {:<16} {:<18} {:>9.1} /s",
            t.label(),
            "sign_in",
            stats.rps
        ));
        ctx.report.push(Record::scenario(run, t, "sign_in", &stats));
    }
    ctx.report.push(Record::server(
        run,
        t,
        "loaded_peak_rss_kb",
        srv.peak_kb() as f64,
    ));
    srv.stop().await?;
    for _ in 0..3 {
        let srv = launch.start().await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        ctx.report
            .push(Record::server(run, t, "ready_ms", srv.ready_ms));
        ctx.report
            .push(Record::server(run, t, "idle_rss_kb", srv.rss_kb() as f64));
        srv.stop().await?;
    }
    Ok(())
}
