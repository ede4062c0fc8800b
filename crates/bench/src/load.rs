//! The load generator: a fixed number of keep-alive HTTP/1.1 connections, each sending
//! its next request as soon as the previous answer is read (closed loop, like wrk), a
//! warm-up whose answers are not counted, then a fixed measured duration.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

/// One request, ready to send.
#[derive(Clone, Debug)]
pub struct Spec {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl Spec {
    pub fn get(path: &str) -> Spec {
        Spec {
            method: "GET",
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn form(path: &str, body: String) -> Spec {
        Spec {
            method: "POST",
            path: path.to_owned(),
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )],
            body: Some(body),
        }
    }

    pub fn header(mut self, name: &'static str, value: String) -> Spec {
        self.headers.push((name, value));
        self
    }
}

/// Where each connection's next request comes from.
pub enum Feed {
    /// The same request every time.
    Fixed(Spec),
    /// Single-use requests (authorization codes); a connection stops when none are left.
    Queue(Mutex<Vec<Spec>>),
    /// Refresh-token rotation: each connection holds one token family and always sends
    /// the refresh token the previous answer returned.
    Rotate {
        tokens: Mutex<Vec<String>>,
        make: Box<dyn Fn(&str) -> Spec + Send + Sync>,
    },
}

/// What one scenario measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first unexpected answer, to say why errors happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Stats {
    pub fn from_latencies(mut lat_us: Vec<u32>, errors: u64, seconds: f64) -> Stats {
        lat_us.sort_unstable();
        let pct = |q: f64| -> f64 {
            if lat_us.is_empty() {
                return 0.0;
            }
            let i = ((q * lat_us.len() as f64) as usize).min(lat_us.len() - 1);
            f64::from(lat_us[i]) / 1000.0
        };
        let requests = lat_us.len() as u64;
        Stats {
            requests,
            errors,
            seconds,
            rps: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            max_ms: lat_us.last().map_or(0.0, |v| f64::from(*v) / 1000.0),
            first_error: None,
        }
    }
}

struct ConnResult {
    latencies: Vec<u32>,
    errors: u64,
    last_done: Instant,
    first_error: Option<String>,
}

/// Runs `feed` against `addr` with `conns` connections: `warmup` unrecorded, then
/// `duration` recorded. A queue that runs dry ends the run early; the rate is then taken
/// over the time until the last answer.
pub async fn run(
    addr: SocketAddr,
    feed: Arc<Feed>,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let feed = feed.clone();
        tasks.push(tokio::spawn(async move {
            connection(addr, feed, measure_from, end).await
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut last_done = measure_from;
    let mut first_error = None;
    for t in tasks {
        let r = t.await.context("load task")??;
        latencies.extend(r.latencies);
        errors += r.errors;
        last_done = last_done.max(r.last_done);
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    let seconds = last_done
        .min(end)
        .saturating_duration_since(measure_from)
        .as_secs_f64();
    let mut stats = Stats::from_latencies(latencies, errors, seconds);
    stats.first_error = first_error;
    Ok(stats)
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the server closes it.
        let _ = conn.await;
    });
    Ok(sender)
}

async fn connection(
    addr: SocketAddr,
    feed: Arc<Feed>,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<ConnResult> {
    let host = addr.to_string();
    let mut sender = connect(addr).await?;
    let mut result = ConnResult {
        latencies: Vec::with_capacity(1 << 16),
        errors: 0,
        last_done: measure_from,
        first_error: None,
    };
    let mut held: Option<String> = match &*feed {
        Feed::Rotate { tokens, .. } => {
            let mut t = tokens.lock().map_err(|_| anyhow!("poisoned"))?;
            t.pop()
        }
        _ => None,
    };
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let spec = match &*feed {
            Feed::Fixed(s) => s.clone(),
            Feed::Queue(q) => {
                let next = q.lock().map_err(|_| anyhow!("poisoned"))?.pop();
                match next {
                    Some(s) => s,
                    None => break,
                }
            }
            Feed::Rotate { make, .. } => match &held {
                Some(t) => make(t),
                None => break,
            },
        };
        let mut req = Request::builder()
            .method(spec.method)
            .uri(&spec.path)
            .header("host", &host);
        for (k, v) in &spec.headers {
            req = req.header(*k, v);
        }
        let body = spec.body.map(Bytes::from).unwrap_or_default();
        let req = req.body(Full::new(body))?;
        if sender.ready().await.is_err() {
            sender = connect(addr).await?;
        }
        let sent = Instant::now();
        let answer = async {
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        let done = Instant::now();
        let recorded = sent >= measure_from && done <= end;
        match answer {
            Ok((status, body)) if status.is_success() => {
                if let Feed::Rotate { .. } = &*feed {
                    held = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["refresh_token"].as_str().map(str::to_owned))
                        .or(held);
                }
                if recorded {
                    let us = done.duration_since(sent).as_micros();
                    result.latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
                    result.last_done = done;
                }
            }
            Ok((status, body)) => {
                if recorded {
                    result.errors += 1;
                }
                if result.first_error.is_none() {
                    result.first_error = Some(format!(
                        "{status} {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    ));
                }
                if let Feed::Rotate { .. } = &*feed {
                    // A refused rotation ends this family: sending it again would only
                    // be refused again.
                    break;
                }
            }
            Err(e) => {
                if recorded {
                    result.errors += 1;
                }
                if result.first_error.is_none() {
                    result.first_error = Some(e.to_string());
                }
                sender = connect(addr).await?;
            }
        }
    }
    Ok(result)
}
