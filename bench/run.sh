#!/usr/bin/env bash
# Measures pfid on SQLite and on PostgreSQL and, in the same run, node-oidc-provider:
# builds in release mode, starts every server on 127.0.0.1 (pinned to one CPU), runs
# every scenario, stops what it started, and writes bench/results/results.{md,json}.
#
# Usage: bench/run.sh
# Env (defaults):
#   RUNS=3           whole repetitions; every figure is the median over them
#   DURATION=15      measured seconds per scenario      WARMUP=3  unrecorded seconds first
#   CONNS=32         connections                        SIGNIN_CONC=8  browsers signing in
#   SOAK=60          seconds of load while watching pfid's memory (run 1, SQLite); 0 skips
#   TARGETS=sqlite,postgres,anchor
#   ANCHOR_SRC=/work/shared/anchors/node-oidc-provider   copied to ANCHOR_DIR, npm ci there
#   ANCHOR_DIR=/tmp/anchor
#   PG=postgres://postgres@127.0.0.1:5432   a database is created per run and dropped after
#   SERVER_CPU=0 LOAD_CPU=1   servers on one CPU; load generator and PostgreSQL on the other
#   OUT=bench/results
# Quick check: RUNS=1 DURATION=5 WARMUP=1 SOAK=10 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-32}
SIGNIN_CONC=${SIGNIN_CONC:-8}
SOAK=${SOAK:-60}
TARGETS=${TARGETS:-sqlite,postgres,anchor}
ANCHOR_SRC=${ANCHOR_SRC:-/work/shared/anchors/node-oidc-provider}
ANCHOR_DIR=${ANCHOR_DIR:-/tmp/anchor}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
OUT=${OUT:-bench/results}

cargo build --release -p pfid -p pfid-bench

if [[ $TARGETS == *anchor* ]]; then
  if [[ ! -d $ANCHOR_DIR/node_modules/oidc-provider ]]; then
    rm -rf "$ANCHOR_DIR"
    cp -a "$ANCHOR_SRC" "$ANCHOR_DIR"
    (cd "$ANCHOR_DIR" && npm ci --no-audit --no-fund)
  fi
else
  ANCHOR_DIR=""
fi

# PostgreSQL shares the load generator's CPU: new backends inherit the postmaster's
# affinity. Everything is given back all CPUs on exit.
ALL_CPUS="0-$(( $(nproc --all) - 1 ))"
pg_pids() { pgrep -u postgres 2>/dev/null || true; }
restore_pg() { for p in $(pg_pids); do taskset -a -p -c "$ALL_CPUS" "$p" >/dev/null 2>&1 || true; done; }
if [[ $TARGETS == *postgres* ]]; then
  for p in $(pg_pids); do taskset -a -p -c "$LOAD_CPU" "$p" >/dev/null 2>&1 || true; done
  trap restore_pg EXIT
fi

MACHINE="$(nproc --all) CPUs ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), \
$(free -g | awk '/^Mem:/ {print $2}') GiB RAM, Linux $(uname -r); shared with other work, \
load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
CMD="RUNS=$RUNS DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS SOAK=$SOAK bench/run.sh"

taskset -c "$LOAD_CPU" target/release/pfid-bench run \
  --pfid target/release/pfid --anchor-dir "$ANCHOR_DIR" --postgres "$PG" \
  --runs "$RUNS" --duration "$DURATION" --warmup "$WARMUP" --conns "$CONNS" \
  --signin-conc "$SIGNIN_CONC" --soak "$SOAK" --targets "$TARGETS" \
  --server-cpu "$SERVER_CPU" --load-cpu "$LOAD_CPU" --out "$OUT" \
  --machine "$MACHINE" --command-line "$CMD"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cat "$OUT/results.md"
