#!/usr/bin/env bash
# Benchmark of the disk spool; writes bench/results/spool.md (scripts/assemble-benchmarks.sh puts
# it into BENCHMARKS.md):
#   - spool write throughput (MB/s, events/s) for spool.fsync never | interval | always;
#   - replay rate (events/s) from the spool into a filesystem backend, and the time to open it;
#   - the agent's RSS during a long outage (backend down, sustained load, sampled over time).
#
#   bench/run_spool.sh                                    # about 2 minutes
#   EVENTS=200000 REPEATS=3 OUTAGE_S=30 bench/run_spool.sh
#
# Knobs: EVENTS (per write run, default 500000), REPEATS (write runs per fsync mode, median
# reported; default 3), OUTAGE_S (seconds of the outage, default 60), SPOOL_DIR (where the spools
# are written; default a temp dir under /var/tmp, i.e. the root filesystem), KEEP_TMP=1.
# Needs python3 and a C compiler.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LIBDIR="$CARGO_TARGET_DIR/release"
log() { echo "[run_spool] $*" >&2; }

TMP="$(mktemp -d "${SPOOL_DIR:-/var/tmp}/monitoring-bench-spool.XXXXXX")"
cleanup() { if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
mkdir -p bench/results

log "building libmonitoring and monitoring-sidecar"
cargo build --release -q -p monitoring-ffi -p monitoring-sidecar
"${CC:-cc}" -O2 -Wall -Wextra -Werror -I include -o "$TMP/faults_app" tests/faults/faults_app.c \
  -L "$LIBDIR" -lmonitoring -Wl,-rpath,"$LIBDIR" -lpthread
python3 bench/spool/bench.py --app "$TMP/faults_app" --bin "$LIBDIR/monitoring-sidecar" --work "$TMP" \
  --events "${EVENTS:-500000}" --repeats "${REPEATS:-3}" --outage "${OUTAGE_S:-60}" --out bench/results/spool.md
log "wrote bench/results/spool.md"
