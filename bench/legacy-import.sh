#!/usr/bin/env bash
# Benchmark of the legacy import (docs/migration.md, "Speed").
#
#   bench/legacy-import.sh [ACCOUNTS] [POSTGRES_ADMIN_URL]
#
# Generates a synthetic export of ACCOUNTS lines (default 1,000,000) with the
# `gen_legacy` example, then imports it (release build) into a fresh SQLite file and,
# when a PostgreSQL admin URL is given (or PFID_BENCH_POSTGRES_URL is set), into a fresh
# PostgreSQL database that is dropped afterwards. Each import runs twice: the first
# writes everything, the second is the idempotent re-run that writes nothing.
#
# By default the import runs through the `import_legacy` example, which makes the same
# library call as `pfid legacy import` without building the server crate in release
# mode. PFID_BENCH_CLI=1 times the `pfid` binary itself instead.
set -euo pipefail

accounts="${1:-1000000}"
pg_admin="${2:-${PFID_BENCH_POSTGRES_URL:-}}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/pfid-legacy-bench.XXXXXX")"
pg_db=""
cleanup() {
    if [ -n "$pg_db" ]; then
        psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
cargo build --release -p pfid-migration --example gen_legacy --example import_legacy >&2
if [ "${PFID_BENCH_CLI:-0}" = 1 ]; then
    cargo build --release -p pfid >&2
fi
export_file="$work/legacy.jsonl"

echo "generating $accounts accounts..." >&2
"$root/target/release/examples/gen_legacy" "$accounts" > "$export_file"
echo "export: $(du -h "$export_file" | cut -f1), $(wc -l < "$export_file") lines" >&2

# One import; prints "<label>: <seconds> s, <lines/s> lines/s, <report>".
run() {
    local label="$1" url="$2" start end report
    start=$(date +%s.%N)
    if [ "${PFID_BENCH_CLI:-0}" = 1 ]; then
        report=$(PFID__DATABASE__URL="$url" PFID__SERVER__DATA_DIR="$work/data" \
            "$root/target/release/pfid" legacy import "$export_file" --json 2>/dev/null \
            | sed -E 's/"errors":\[[^]]*\]/"errors":[...]/')
    else
        report=$("$root/target/release/examples/import_legacy" "$url" "$export_file")
    fi
    end=$(date +%s.%N)
    awk -v l="$label" -v s="$start" -v e="$end" -v n="$accounts" -v r="$report" \
        'BEGIN { t = e - s; printf "%s: %.1f s wall, %.0f lines/s, %s\n", l, t, n / t, r }'
}

migrate() {
    if [ "${PFID_BENCH_CLI:-0}" = 1 ]; then
        PFID__DATABASE__URL="$1" PFID__SERVER__DATA_DIR="$work/data" \
            "$root/target/release/pfid" db migrate --json >/dev/null
    fi
}

sqlite_url="sqlite://$work/pfid.db"
migrate "$sqlite_url"
run "sqlite import" "$sqlite_url"
run "sqlite re-import" "$sqlite_url"
echo "sqlite database: $(du -h "$work/pfid.db" | cut -f1)"
rm -f "$work"/pfid.db*

if [ -n "$pg_admin" ]; then
    pg_db="legacybench_$$"
    pg_url="${pg_admin%/*}/$pg_db"
    psql "$pg_admin" -qc "CREATE DATABASE $pg_db" >/dev/null
    migrate "$pg_url"
    run "postgres import" "$pg_url"
    run "postgres re-import" "$pg_url"
fi
