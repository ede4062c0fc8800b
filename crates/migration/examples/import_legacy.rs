//! Times `pfid_migration::import`, the call `pfid legacy import` makes, without the
//! server crate (so the release build for a benchmark stays small):
//! `import_legacy DATABASE_URL FILE [BATCH_SIZE]`. Migrates the schema first (untimed),
//! then prints the report and the time as one JSON line.

use std::time::{Duration, Instant};

use pfid_migration::{import, ImportOptions};
use pfid_store::{DatabaseUrl, Store, StoreConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(file)) = (args.next(), args.next()) else {
        return Err("usage: import_legacy DATABASE_URL FILE [BATCH_SIZE]".into());
    };
    let batch_size = args
        .next()
        .and_then(|b| b.parse().ok())
        .unwrap_or(ImportOptions::default().batch_size);
    let store = Store::connect(&StoreConfig {
        url: DatabaseUrl::parse(&url)?,
        pool_size: 2,
        connect_timeout: Duration::from_secs(10),
    })
    .await?;
    store.migrate().await?;
    let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&file)?);
    let options = ImportOptions {
        dry_run: false,
        batch_size,
    };
    let started = Instant::now();
    let report = import(&store, input, options, chrono::Utc::now(), None).await?;
    let seconds = started.elapsed().as_secs_f64();
    let lines = report.imported + report.skipped;
    println!(
        "{}",
        serde_json::json!({
            "imported": report.imported,
            "skipped": report.skipped,
            "duplicate_email_accounts": report.duplicate_email_accounts,
            "errors": report.errors.len(),
            "seconds": (seconds * 10.0).round() / 10.0,
            "lines_per_second": (lines as f64 / seconds).round(),
        })
    );
    Ok(())
}
