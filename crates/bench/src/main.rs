//! `pfid-bench`: measures pfid on SQLite and on PostgreSQL and, in the same run,
//! node-oidc-provider, and writes the figures as JSON and a Markdown table of ratios.
//! `bench/run.sh` builds everything and calls `pfid-bench run`; see docs/performance.md.

mod flow;
mod load;
mod report;
mod scenarios;
mod server;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "pfid-bench", about = "pfid load harness")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The pfid binary (a release build).
    #[arg(long, default_value = "target/release/pfid")]
    pub pfid: PathBuf,
    /// node-oidc-provider's folder, `npm ci` done; empty: the anchor is skipped.
    #[arg(long, default_value = "")]
    pub anchor_dir: String,
    /// PostgreSQL server (a fresh database is created per run and dropped after).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres: String,
    /// Whole repetitions; every figure is the median over them.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 15)]
    pub duration: u64,
    /// Unrecorded seconds before each scenario.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Connections per HTTP scenario.
    #[arg(long, default_value_t = 32)]
    pub conns: usize,
    /// Concurrent browsers in the full sign-in scenario.
    #[arg(long, default_value_t = 8)]
    pub signin_conc: usize,
    /// Logins the anchor's own script makes (it runs a fixed count, not a duration).
    #[arg(long, default_value_t = 300)]
    pub anchor_logins: usize,
    /// Seconds of client_credentials load on pfid (SQLite) while watching memory, in
    /// the first run only; 0 skips it.
    #[arg(long, default_value_t = 60)]
    pub soak: u64,
    /// CPU the servers are pinned to.
    #[arg(long, default_value = "0")]
    pub server_cpu: String,
    /// CPU the load generator's helpers (node scripts) are pinned to.
    #[arg(long, default_value = "1")]
    pub load_cpu: String,
    /// Scratch folder for databases, logs and keys.
    #[arg(long, default_value = "/tmp/pfid-bench")]
    pub scratch: PathBuf,
    /// Where results.json and results.md go.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// Which targets to measure (comma separated: sqlite,postgres,anchor).
    #[arg(long, default_value = "sqlite,postgres,anchor")]
    pub targets: String,
    /// Only these scenarios (comma separated); empty: all.
    #[arg(long, default_value = "")]
    pub only: String,
    /// A free line describing the machine and its load, copied into the report.
    #[arg(long, default_value = "")]
    pub machine: String,
    /// The command line that produced the report, copied into it.
    #[arg(long, default_value = "")]
    pub command_line: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Runs every scenario against every target, `--runs` times.
    Run(Box<RunArgs>),
    /// Raw argon2id verifications per second on this thread, at pfid's default
    /// parameters (run it pinned to the servers' CPU).
    Argon2 {
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 19456)]
        memory_kib: u32,
        #[arg(long, default_value_t = 2)]
        iterations: u32,
        #[arg(long, default_value_t = 1)]
        parallelism: u32,
    },
}

/// Verifies one password hash in a loop for `seconds`; prints verifications per second.
fn argon2_rate(seconds: u64, m: u32, t: u32, p: u32) -> anyhow::Result<f64> {
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    let params = argon2::Params::new(m, t, p, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::generate(&mut rand_core::OsRng);
    let hash = a
        .hash_password(b"Bench-passw0rd", &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string();
    let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("{e}"))?;
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < Duration::from_secs(seconds) {
        a.verify_password(b"Bench-passw0rd", &parsed)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        n += 1;
    }
    Ok(n as f64 / t0.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Argon2 {
            seconds,
            memory_kib,
            iterations,
            parallelism,
        } => {
            let rate = argon2_rate(seconds, memory_kib, iterations, parallelism)?;
            println!("{}", serde_json::json!({ "verifications_per_s": rate }));
            Ok(())
        }
        Cmd::Run(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            rt.block_on(scenarios::run_all(*args))
        }
    }
}
