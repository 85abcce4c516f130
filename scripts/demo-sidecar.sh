#!/usr/bin/env bash
# The sidecar part of `make demo`: starts monitoring-sidecar on its embedded default (no
# configuration file: JSONL under ./monitoring-events of its directory) on a free port, runs the
# C example examples/c/job_demo.c in sidecar mode against it, shows what arrived, stops the agent.
#
#   scripts/demo-sidecar.sh [STAGE_PREFIX]
#
# STAGE_PREFIX: where `make stage` installed the library (default target/stage); the demo uses
# target/demo/job_demo when scripts/demo.sh built it, and builds it otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
stage=${1:-$CARGO_TARGET_DIR/stage}
run=$CARGO_TARGET_DIR/demo-sidecar
rm -rf "$run" && mkdir -p "$run/agent" "$run/app"

echo "== building the agent: cargo build --release -p monitoring-sidecar"
cargo build --release -q -p monitoring-sidecar
agent_bin=$CARGO_TARGET_DIR/release/monitoring-sidecar

demo=$CARGO_TARGET_DIR/demo/job_demo
if [ ! -x "$demo" ]; then
  echo "== building examples/c/job_demo.c"
  demo=$run/job_demo
  if [ -f "$stage/lib/pkgconfig/monitoring.pc" ]; then
    PKG_CONFIG_PATH="$stage/lib/pkgconfig" cc -O2 -Wall -o "$demo" examples/c/job_demo.c \
      $(PKG_CONFIG_PATH="$stage/lib/pkgconfig" pkg-config --cflags --libs monitoring) -Wl,-rpath,"$stage/lib" -lpthread
  else
    cargo build --release -q -p monitoring-ffi
    cc -O2 -Wall -I include -o "$demo" examples/c/job_demo.c -L "$CARGO_TARGET_DIR/release" -lmonitoring \
      -Wl,-rpath,"$CARGO_TARGET_DIR/release" -lpthread
  fi
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
echo
echo "== starting the agent on its embedded default: monitoring-sidecar --listen 127.0.0.1:$port (in $run/agent)"
(cd "$run/agent" && exec "$agent_bin" --listen "127.0.0.1:$port" 2>agent.log) &
agent=$!
trap 'kill "$agent" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "$url/health" >/dev/null 2>&1 && break
  sleep 0.05
done
echo "   $(curl -sS "$url/health")"

echo
echo "== running job_demo in sidecar mode: MONITORING_MODE=sidecar MONITORING_SIDECAR_URL=$url"
(cd "$run/app" && MONITORING_MODE=sidecar MONITORING_SIDECAR_URL=$url MONITORING_APP_NAME=job-demo "$demo") || true

sleep 1.2   # the agent hands a partial batch to its backend after queue.flush_interval_ms (1 s)
echo
echo "== the agent's counters (GET $url/metrics):"
curl -sS "$url/metrics" | grep -E '^monitoring_sidecar_(events_(received|accepted|rejected|delivered)_total|backend_breaker_state)' || true

echo
echo "== stopping the agent (SIGTERM: it flushes its queue, then exits 0)"
kill -TERM "$agent"
wait "$agent" && echo "   exit 0"
trap - EXIT

echo
echo "== events the agent wrote to $run/agent/monitoring-events/:"
python3 scripts/show-events.py "$run/agent/monitoring-events" ", sent by job_demo through the agent"
if [ -z "$(ls -A "$run/app")" ]; then
  echo "(job_demo's own directory $run/app is empty: in sidecar mode the app writes no files)"
fi
