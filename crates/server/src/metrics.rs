//! Prometheus metrics, kept per server instance (no global registry, so tests can run
//! many servers in one process): request counts and latency by route and status class,
//! plus a few counters of what pfid does.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct RouteStats {
    count: u64,
    sum_seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Counters of domain events.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    TokensIssued,
    CodeReused,
}

impl Event {
    const ALL: [Event; 5] = [
        Event::LoginSucceeded,
        Event::LoginFailed,
        Event::LoginThrottled,
        Event::TokensIssued,
        Event::CodeReused,
    ];
    fn name(self) -> &'static str {
        match self {
            Event::LoginSucceeded => "pfid_logins_succeeded_total",
            Event::LoginFailed => "pfid_logins_failed_total",
            Event::LoginThrottled => "pfid_logins_throttled_total",
            Event::TokensIssued => "pfid_token_responses_total",
            Event::CodeReused => "pfid_authorization_codes_reused_total",
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(String, String, &'static str), RouteStats>>,
    events: [AtomicU64; 5],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics(..)")
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        let stats = routes
            .entry((method.to_owned(), route.to_owned(), status_class(status)))
            .or_default();
        stats.count += 1;
        stats.sum_seconds += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                stats.buckets[i] += 1;
            }
        }
    }

    pub fn count(&self, event: Event) {
        self.events[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP pfid_http_requests_total HTTP requests by route and status class."
        );
        let _ = writeln!(out, "# TYPE pfid_http_requests_total counter");
        let routes = match self.routes.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        for ((method, route, class), s) in routes.iter() {
            let _ = writeln!(
                out,
                "pfid_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{class}\"}} {}",
                s.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP pfid_http_request_duration_seconds Request latency."
        );
        let _ = writeln!(out, "# TYPE pfid_http_request_duration_seconds histogram");
        for ((method, route, class), s) in routes.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{class}\"");
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "pfid_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "pfid_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "pfid_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "pfid_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        drop(routes);
        for e in Event::ALL {
            let _ = writeln!(out, "# TYPE {} counter", e.name());
            let _ = writeln!(
                out,
                "{} {}",
                e.name(),
                self.events[e as usize].load(Ordering::Relaxed)
            );
        }
        out
    }
}
