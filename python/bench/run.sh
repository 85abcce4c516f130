#!/usr/bin/env bash
# Python benchmark: monitoring emit(dict) / job lifecycle vs logging (JSON lines to a file), the
# OpenTelemetry SDK (batch processor) and an HTTP POST per event to the agent, in one run.
# Writes bench/results/python.md.
#
#   python/bench/run.sh                    # full run (a few minutes on the 2-core machine)
#   SAMPLES=20000 python/bench/run.sh      # quicker
#
# Knobs: SAMPLES (timed calls per variant, default 100000), RATE (calls/s, default 50000),
# HTTP_SAMPLES (default 2000), PY_SKIP_BUILD=1 (reuse the built wheel and bench venv),
# PYTHON (interpreter, default python3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
T=$CARGO_TARGET_DIR
PY=${PYTHON:-python3}
VENV=$T/py-bench-venv
log() { echo "[python/bench] $*" >&2; }

if [ "${PY_SKIP_BUILD:-0}" != 1 ] || [ ! -x "$VENV/bin/python" ]; then
    "$ROOT/python/run-tests.sh" --install-only          # builds target/wheels/monitoring-*.whl
    log "making $VENV (the wheel, opentelemetry-sdk, requests)"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$(ls "$T"/wheels/monitoring-*.whl)" \
        'opentelemetry-sdk>=1.20' 'requests>=2' >&2
fi

TMP=$(mktemp -d /tmp/monitoring-bench-py.XXXXXX)
AGENT_PID=""
cleanup() {
    # The agent's exit status after the kill is not a failure: under `set -e` it would end the
    # trap before the temporary directory (about 1 GB of events) is removed.
    if [ -n "$AGENT_PID" ]; then
        kill "$AGENT_PID" 2>/dev/null || true
        wait "$AGENT_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# The agent for the HTTP variant: target/release/monitoring-sidecar, built if its crate exists.
AGENT=$T/release/monitoring-sidecar
export SIDECAR_URL="" SIDECAR_NOTE=""
if [ ! -x "$AGENT" ] && [ -f "$ROOT/sidecar/Cargo.toml" ]; then
    log "building the agent (cargo build --release -p monitoring-sidecar)"
    (cd "$ROOT" && cargo build --release -p monitoring-sidecar) >&2 || true
fi
if [ -x "$AGENT" ]; then
    PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$TMP/sidecar.yaml" <<YAML
ingest: {listen: "127.0.0.1:$PORT"}
backends:
  - {type: filesystem, name: local, path: "$TMP/agent-events", fsync: never}
spool: {path: "$TMP/agent-spool"}
YAML
    MONITORING_SIDECAR_LOG=error "$AGENT" --config "$TMP/sidecar.yaml" >"$TMP/agent.log" 2>&1 &
    AGENT_PID=$!
    for _ in $(seq 100); do
        if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=1)" 2>/dev/null; then
            SIDECAR_URL=http://127.0.0.1:$PORT
            break
        fi
        sleep 0.1
    done
    [ -n "$SIDECAR_URL" ] || SIDECAR_NOTE="the agent did not start ($(tail -3 "$TMP/agent.log" | tr '\n' ' '))"
else
    SIDECAR_NOTE="no agent binary ($AGENT) and no sidecar crate to build it from"
fi

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
MACHINE_MD="### Machine

| | |
|---|---|
| CPU (lscpu model name) | ${cpu:-unknown} |
| CPUs | $(nproc) |
| memory | $(free -g | awk '/^Mem:/{print $2}') GiB |
| kernel | $(uname -r) |
| load average before the run | $(cut -d' ' -f1-3 /proc/loadavg) |
| git commit | $(cd "$ROOT" && git rev-parse --short=12 HEAD 2>/dev/null || echo none)$(cd "$ROOT" && [ -n "$(git status --porcelain 2>/dev/null)" ] && echo ' (work tree has uncommitted changes)') |
| rustc | $(rustc --version 2>/dev/null || echo unknown) |"
export MACHINE_MD

mkdir -p "$ROOT/bench/results"
cd "$TMP"
"$VENV/bin/python" "$ROOT/python/bench/bench.py" --out "$ROOT/bench/results/python.md" >/dev/null
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
log "wrote bench/results/python.md"
