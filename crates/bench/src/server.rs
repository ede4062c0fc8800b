//! Starting and stopping the servers under test on loopback, pinned to one CPU, and
//! watching their memory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Which server a measurement is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    PfidSqlite,
    PfidPostgres,
    Anchor,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::PfidSqlite => "pfid SQLite",
            Target::PfidPostgres => "pfid PostgreSQL",
            Target::Anchor => "node-oidc-provider",
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            Target::PfidSqlite => "pfid_sqlite",
            Target::PfidPostgres => "pfid_postgres",
            Target::Anchor => "anchor",
        }
    }
}

/// How to start one server: program, arguments, environment, working folder.
#[derive(Clone, Debug)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dir: PathBuf,
    pub cpu: String,
    pub log: PathBuf,
    /// The path that answers 200 once the server is ready.
    pub ready_path: &'static str,
    pub addr: SocketAddr,
}

/// A running server.
pub struct Running {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub ready_ms: f64,
    peak_kb: Arc<AtomicU64>,
    sampling: Arc<AtomicBool>,
}

/// Resident memory of a process, in KiB.
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

impl Launch {
    /// Spawns the server (under `taskset`) and waits until `ready_path` answers 200,
    /// polling every 5 ms; the time from spawn to that answer is `ready_ms`.
    pub async fn start(&self) -> anyhow::Result<Running> {
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()?;
        let url = format!("http://{}{}", self.addr, self.ready_path);
        if probe.get(&url).send().await.is_ok() {
            bail!("{} is already in use", self.addr);
        }
        let log = std::fs::File::create(&self.log)
            .with_context(|| format!("create {}", self.log.display()))?;
        let t0 = Instant::now();
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg(&self.cpu)
            .arg(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", self.program.display()))?;
        let pid = child.id();
        loop {
            if let Ok(r) = probe.get(&url).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{} exited with {status} before it was ready; see {}",
                    self.program.display(),
                    self.log.display()
                );
            }
            if t0.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                bail!("{} not ready after 60 s", self.program.display());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ready_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let peak_kb = Arc::new(AtomicU64::new(rss_kb(pid)));
        let sampling = Arc::new(AtomicBool::new(true));
        {
            let (peak, on) = (peak_kb.clone(), sampling.clone());
            tokio::spawn(async move {
                while on.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kb(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
        Ok(Running {
            child,
            pid,
            addr: self.addr,
            ready_ms,
            peak_kb,
            sampling,
        })
    }
}

impl Drop for Running {
    // A run that fails half-way must not leave its server holding the port.
    fn drop(&mut self) {
        self.sampling.store(false, Ordering::Relaxed);
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn rss_kb(&self) -> u64 {
        rss_kb(self.pid)
    }
    pub fn peak_kb(&self) -> u64 {
        self.peak_kb.load(Ordering::Relaxed)
    }

    /// SIGTERM, then up to 15 s for a graceful exit, then SIGKILL.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.sampling.store(false, Ordering::Relaxed);
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let t0 = Instant::now();
        while self.child.try_wait()?.is_none() {
            if t0.elapsed() > Duration::from_secs(15) {
                self.child.kill()?;
                self.child.wait()?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// Runs a command to completion and returns its stdout, failing with its stderr.
pub fn output(
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
    dir: &Path,
) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} {:?} failed: {}",
            program.display(),
            args,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}
