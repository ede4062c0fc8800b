//! Raw figures (results.json) and the Markdown summary (results.md): medians over the
//! runs, and every comparison with the anchor as a ratio taken within one run, then the
//! median of those ratios.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::load::Stats;
use crate::scenarios::SCENARIOS;
use crate::server::Target;
use crate::RunArgs;

#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub run: usize,
    pub target: Target,
    pub name: String,
    #[serde(flatten)]
    pub stats: Option<Stats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

impl Record {
    pub fn scenario(run: usize, target: Target, name: &str, stats: &Stats) -> Record {
        Record {
            run,
            target,
            name: name.to_owned(),
            stats: Some(stats.clone()),
            value: None,
        }
    }
    pub fn server(run: usize, target: Target, name: &str, value: f64) -> Record {
        Record {
            run,
            target,
            name: name.to_owned(),
            stats: None,
            value: Some(value),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Soak {
    pub seconds: u64,
    pub requests: u64,
    pub rps: f64,
    /// (seconds since the start, RSS in KiB)
    pub rss_kb: Vec<(f64, u64)>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub runs: usize,
    pub duration_s: u64,
    pub warmup_s: u64,
    pub conns: usize,
    pub signin_concurrency: usize,
    pub server_cpu: String,
    pub load_cpu: String,
    pub machine: String,
    pub command: String,
    pub pfid_binary_kb: u64,
    pub records: Vec<Record>,
    pub soak: Option<Soak>,
    pub failures: Vec<String>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

impl Report {
    pub fn new(args: &RunArgs, pfid_binary_kb: u64) -> Report {
        Report {
            runs: args.runs,
            duration_s: args.duration,
            warmup_s: args.warmup,
            conns: args.conns,
            signin_concurrency: args.signin_conc,
            server_cpu: args.server_cpu.clone(),
            load_cpu: args.load_cpu.clone(),
            machine: args.machine.clone(),
            command: args.command_line.clone(),
            pfid_binary_kb,
            records: Vec::new(),
            soak: None,
            failures: Vec::new(),
        }
    }

    pub fn push(&mut self, r: Record) {
        self.records.push(r);
    }

    fn per_run(
        &self,
        target: Target,
        name: &str,
        pick: fn(&Record) -> Option<f64>,
    ) -> BTreeMap<usize, f64> {
        self.records
            .iter()
            .filter(|r| r.target == target && r.name == name)
            .filter_map(|r| pick(r).map(|v| (r.run, v)))
            .collect()
    }

    fn med(&self, target: Target, name: &str, pick: fn(&Record) -> Option<f64>) -> Option<f64> {
        // Several samples per run (restarts) are all pooled.
        median(
            self.records
                .iter()
                .filter(|r| r.target == target && r.name == name)
                .filter_map(pick)
                .collect(),
        )
    }

    /// Median over runs of (a's figure ÷ b's figure in the same run).
    fn ratio(
        &self,
        a: Target,
        an: &str,
        b: Target,
        bn: &str,
        pick: fn(&Record) -> Option<f64>,
    ) -> Option<f64> {
        let x = self.per_run(a, an, pick);
        let y = self.per_run(b, bn, pick);
        median(
            x.iter()
                .filter_map(|(run, v)| y.get(run).filter(|d| **d > 0.0).map(|d| v / d))
                .collect(),
        )
    }

    pub fn write(&self, out: &Path) -> anyhow::Result<()> {
        std::fs::write(
            out.join("results.json"),
            serde_json::to_string_pretty(self)?,
        )?;
        std::fs::write(out.join("results.md"), self.markdown())?;
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let rps = |r: &Record| r.stats.as_ref().map(|s| s.rps);
        let p50 = |r: &Record| r.stats.as_ref().map(|s| s.p50_ms);
        let p99 = |r: &Record| r.stats.as_ref().map(|s| s.p99_ms);
        let errs = |r: &Record| r.stats.as_ref().map(|s| s.errors as f64);
        let value = |r: &Record| r.value;
        let targets = [Target::PfidSqlite, Target::PfidPostgres, Target::Anchor];
        let mut md = String::new();
        let _ = writeln!(
            md,
            "Median of {} run(s); {} s measured after {} s warm-up per scenario; {} connections \
             (sign-in: {} concurrent browsers); servers pinned to CPU {}, load generator and \
             PostgreSQL to CPU {}.\n",
            self.runs,
            self.duration_s,
            self.warmup_s,
            self.conns,
            self.signin_concurrency,
            self.server_cpu,
            self.load_cpu
        );
        if !self.machine.is_empty() {
            let _ = writeln!(md, "Machine: {}\n", self.machine);
        }
        if !self.command.is_empty() {
            let _ = writeln!(md, "Command: `{}`\n", self.command);
        }
        md.push_str("| scenario | pfid SQLite req/s (p50 / p99 ms) | pfid PostgreSQL req/s (p50 / p99 ms) | node-oidc-provider req/s (p50 / p99 ms) | SQLite ÷ anchor | PostgreSQL ÷ anchor |\n");
        md.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
        for sc in SCENARIOS {
            let mut row = format!("| {sc} |");
            for t in targets {
                match self.med(t, sc, rps) {
                    Some(v) => {
                        let e = self.med(t, sc, errs).unwrap_or(0.0);
                        let _ = write!(
                            row,
                            " {} ({:.2} / {:.2}){} |",
                            fmt_rate(v),
                            self.med(t, sc, p50).unwrap_or(0.0),
                            self.med(t, sc, p99).unwrap_or(0.0),
                            if e > 0.0 {
                                format!(", {e:.0} errors")
                            } else {
                                String::new()
                            }
                        );
                    }
                    None => row.push_str(" n/a |"),
                }
            }
            for t in [Target::PfidSqlite, Target::PfidPostgres] {
                match self.ratio(t, sc, Target::Anchor, sc, rps) {
                    Some(r) => {
                        let _ = write!(row, " {r:.2}× |");
                    }
                    None => row.push_str(" — |"),
                }
            }
            md.push_str(&row);
            md.push('\n');
        }

        md.push_str("\n| server figure | pfid SQLite | pfid PostgreSQL | node-oidc-provider |\n| --- | ---: | ---: | ---: |\n");
        let figures: [(&str, &str, f64, &str); 4] = [
            (
                "idle RSS (MiB, 2 s after ready, restarted on a populated database)",
                "idle_rss_kb",
                1024.0,
                "{:.1}",
            ),
            (
                "peak RSS under load (MiB)",
                "loaded_peak_rss_kb",
                1024.0,
                "{:.1}",
            ),
            (
                "spawn → ready (ms; pfid /readyz, anchor discovery; restarts)",
                "ready_ms",
                1.0,
                "{:.0}",
            ),
            (
                "first start on an empty database (ms; migrations, key generation)",
                "first_start_ms",
                1.0,
                "{:.0}",
            ),
        ];
        for (label, name, div, _) in figures {
            let mut row = format!("| {label} |");
            for t in targets {
                match self.med(t, name, value) {
                    Some(v) if div > 1.0 => {
                        let _ = write!(row, " {:.1} |", v / div);
                    }
                    Some(v) => {
                        let _ = write!(row, " {v:.0} |");
                    }
                    None => row.push_str(" n/a |"),
                }
            }
            md.push_str(&row);
            md.push('\n');
        }
        let _ = writeln!(
            md,
            "| release binary (MiB) | {:.1} | (same binary) | (node + node_modules) |",
            self.pfid_binary_kb as f64 / 1024.0
        );
        let argon = self.med(Target::PfidSqlite, "argon2_verify_per_s", value);
        if let Some(a) = argon {
            let _ = writeln!(
                md,
                "\nRaw argon2id verification on the servers' CPU (19456 KiB, t=2, p=1): {a:.1}/s."
            );
            for t in [Target::PfidSqlite, Target::PfidPostgres] {
                if let Some(s) = self.med(t, "sign_in", rps) {
                    let _ = writeln!(
                        md,
                        "{}: full sign-ins {s:.1}/s = {:.0}% of the raw argon2id rate.",
                        t.label(),
                        s / a * 100.0
                    );
                }
            }
        }
        if let Some(s) = &self.soak {
            let first = s
                .rss_kb
                .iter()
                .find(|(t, _)| *t >= 5.0)
                .or(s.rss_kb.first());
            let last = s.rss_kb.last();
            if let (Some(f), Some(l)) = (first, last) {
                let _ = writeln!(
                    md,
                    "\nSoak (pfid SQLite, client_credentials, {} s, {} requests at {:.0}/s): RSS {:.1} MiB at {:.0} s, {:.1} MiB at {:.0} s.",
                    s.seconds, s.requests, s.rps, f.1 as f64 / 1024.0, f.0, l.1 as f64 / 1024.0, l.0
                );
            }
        }
        md.push_str(&self.targets_md());
        if !self.failures.is_empty() {
            md.push_str("\nFailures during the run:\n");
            for f in &self.failures {
                let _ = writeln!(md, "- {f}");
            }
        }
        md
    }

    fn targets_md(&self) -> String {
        let rps = |r: &Record| r.stats.as_ref().map(|s| s.rps);
        let p99 = |r: &Record| r.stats.as_ref().map(|s| s.p99_ms);
        let value = |r: &Record| r.value;
        let (sq, pg, an) = (Target::PfidSqlite, Target::PfidPostgres, Target::Anchor);
        let mut rows: Vec<(String, String, Option<bool>)> = Vec::new();
        let mut ratio_row = |sc: &str, t: Target, min: f64| {
            let r = self.ratio(t, sc, an, sc, rps);
            rows.push((
                format!("{sc} on {} ≥ {min}× anchor", t.label()),
                r.map(|r| format!("{r:.2}×"))
                    .unwrap_or_else(|| "n/a".into()),
                r.map(|r| r >= min),
            ));
        };
        for sc in ["client_credentials", "introspection", "userinfo"] {
            ratio_row(sc, sq, 2.0);
            ratio_row(sc, pg, 1.0);
        }
        for sc in ["discovery", "jwks"] {
            ratio_row(sc, sq, 3.0);
            ratio_row(sc, pg, 3.0);
        }
        let argon = self.med(sq, "argon2_verify_per_s", value);
        for t in [sq, pg] {
            let s = self.med(t, "sign_in", rps);
            let r = s.zip(argon).map(|(s, a)| s / a);
            rows.push((
                format!("sign-in rate on {} ≥ 90% of raw argon2id", t.label()),
                r.map(|r| format!("{:.0}%", r * 100.0))
                    .unwrap_or_else(|| "n/a".into()),
                r.map(|r| r >= 0.9),
            ));
            for sc in ["client_credentials", "code_exchange", "refresh"] {
                let v = self.med(t, sc, p99);
                rows.push((
                    format!("p99 of {sc} on {} ≤ 10 ms", t.label()),
                    v.map(|v| format!("{v:.2} ms"))
                        .unwrap_or_else(|| "n/a".into()),
                    v.map(|v| v <= 10.0),
                ));
            }
        }
        let idle = self.med(sq, "idle_rss_kb", value);
        rows.push((
            "idle RSS ≤ 20 MiB (SQLite)".into(),
            idle.map(|v| format!("{:.1} MiB", v / 1024.0))
                .unwrap_or_else(|| "n/a".into()),
            idle.map(|v| v <= 20.0 * 1024.0),
        ));
        let ready = self.med(sq, "ready_ms", value);
        rows.push((
            "/readyz ≤ 100 ms after start (SQLite)".into(),
            ready
                .map(|v| format!("{v:.0} ms"))
                .unwrap_or_else(|| "n/a".into()),
            ready.map(|v| v <= 100.0),
        ));
        let mut md = String::from("\n| target | measured | met |\n| --- | ---: | :---: |\n");
        for (name, got, ok) in rows {
            let mark = match ok {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            };
            let _ = writeln!(md, "| {name} | {got} | {mark} |");
        }
        md
    }
}

fn fmt_rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
