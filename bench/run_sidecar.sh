#!/usr/bin/env bash
# Benchmark of monitoring-sidecar against the OpenTelemetry Collector, in one run; writes
# bench/results/sidecar.md. Builds what it needs, caching under target/bench-cache:
#   - monitoring-sidecar (cargo, release, the repository's target dir);
#   - bench/sidecar/stack, the HTTP stack candidates (hyper vs axum), own cargo target dir;
#   - the Collector with its own builder (go.opentelemetry.io/collector/cmd/builder, from the Go
#     module proxy): otlp receiver + batch processor + file exporter (contrib).
#
#   bench/run_sidecar.sh                  # ~3 minutes once built (first build: a few minutes more)
#   DURATION=5 BATCH=500 bench/run_sidecar.sh
#
# Knobs: DURATION (seconds per batch/overload/Collector load, default 10), BATCH (events per batch
# request, default 500), ROUNDS and ROUND_DURATION (the single-event comparisons run as ROUNDS
# interleaved rounds of ROUND_DURATION seconds, medians reported; default 3 and 5),
# OTELCOL_VERSION (default v0.162.0, see OTELCOL below), SKIP_STACK=1 (skip the hyper/axum
# comparison), WAIT_QUIET=SECONDS (wait up to that long for the load average to fall below 1.0
# before measuring; default 0), KEEP_TMP=1. Needs wrk (apt-get install wrk: installed when missing), go, python3.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CACHE="$ROOT/target/bench-cache"
DURATION="${DURATION:-10}"
BATCH="${BATCH:-500}"
# The newest Collector release whose modules the Go module proxy here serves in full: from
# v0.163.0 the otlp receiver imports go.opentelemetry.io/collector/internal/statusutil, which
# the proxy refuses ("403 This module version is not available").
OTELCOL_VERSION="${OTELCOL_VERSION:-v0.162.0}"
log() { echo "[run_sidecar] $*" >&2; }

TMP="$(mktemp -d /tmp/monitoring-bench-sidecar.XXXXXX)"
cleanup() { if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
mkdir -p "$CACHE" bench/results

if ! command -v wrk >/dev/null; then
  log "installing wrk"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y wrk >"$TMP/apt.log" 2>&1 ||
    { $SUDO apt-get update >>"$TMP/apt.log" 2>&1 && $SUDO apt-get install -y wrk >>"$TMP/apt.log" 2>&1; }
fi

log "building monitoring-sidecar"
cargo build --release -q -p monitoring-sidecar
AGENT="$CARGO_TARGET_DIR/release/monitoring-sidecar"

STACK=""
if [ "${SKIP_STACK:-0}" != 1 ]; then
  log "building bench/sidecar/stack (hyper vs axum)"
  if (cd bench/sidecar/stack && CARGO_TARGET_DIR="$CACHE/stack" cargo build --release -q) >"$TMP/stack.log" 2>&1; then
    STACK="$CACHE/stack/release/sidecar-stack-bench"
  else
    log "stack comparison not built (see below); going on without it"; tail -20 "$TMP/stack.log" >&2
  fi
fi

# ------------------------------------------------------------------ the Collector
# The builder's own `go mod tidy` also resolves the components' test-only dependencies, and the
# proxy refuses one of them (contrib extension/encoding/otlpencodingextension), so the builder
# only generates the sources here; the modules are pinned with `go get` and compiled with
# `go build`, which needs only what the collector imports.
OC="$CACHE/otelcol-$OTELCOL_VERSION"
OTELCOL="$OC/dist/otelcol-bench"
OTELCOL_NOTE=""
build_otelcol() {
  mkdir -p "$OC"
  export GOPATH="$CACHE/go" GOMODCACHE="$CACHE/go/pkg/mod" GOCACHE="$CACHE/go/cache" GOFLAGS=-modcacherw GOBIN="$OC/bin"
  local V=$OTELCOL_VERSION C=go.opentelemetry.io/collector S
  go install "go.opentelemetry.io/collector/cmd/builder@$V"
  # the stable modules (pdata, component, confmap...) of that release
  S=$(go mod download -json "$C/receiver/otlpreceiver@$V" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])' |
      xargs sed -n 's|^\s*go.opentelemetry.io/collector/pdata \(v1[^ ]*\).*|\1|p' | head -1)
  [ -n "$S" ] || { echo "cannot find the pdata version of otlpreceiver $V"; return 1; }
  cat >"$OC/manifest.yaml" <<YAML
dist:
  name: otelcol-bench
  description: OpenTelemetry Collector (OTLP/HTTP receiver, file exporter) for bench/run_sidecar.sh
  output_path: $OC/dist
receivers:
  - gomod: $C/receiver/otlpreceiver $V
processors:
  - gomod: $C/processor/batchprocessor $V
exporters:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $V
YAML
  rm -rf "$OC/dist"
  "$OC/bin/builder" --config "$OC/manifest.yaml" --skip-get-modules --skip-compilation
  cd "$OC/dist"
  go mod init otelcol-bench
  go get "$C/receiver/otlpreceiver@$V" "$C/processor/batchprocessor@$V" \
    "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter@$V" \
    "$C/otelcol@$V" "$C/service@$V" "$C/connector@$V" \
    "$C/component@$S" "$C/confmap@$S" "$C/exporter@$S" "$C/extension@$S" "$C/processor@$S" "$C/receiver@$S" \
    "$C/pdata@$S" "$C/confmap/provider/envprovider@$S" "$C/confmap/provider/fileprovider@$S" \
    "$C/confmap/provider/httpprovider@$S" "$C/confmap/provider/httpsprovider@$S" "$C/confmap/provider/yamlprovider@$S"
  go build -mod=mod -trimpath -ldflags="-s -w" -o otelcol-bench .
  cd "$ROOT"
}
if [ ! -x "$OTELCOL" ]; then
  log "building the OpenTelemetry Collector $OTELCOL_VERSION with its builder (cached in $OC)"
  if ! (build_otelcol) >"$TMP/otelcol.log" 2>&1; then
    log "the Collector could not be built; the comparison is left out. Last lines:"
    tail -15 "$TMP/otelcol.log" >&2
    mkdir -p bench/results
    OTELCOL=""
    OTELCOL_NOTE="not built: $(grep -m1 -E '403|error|cannot' "$TMP/otelcol.log" | cut -c1-200)"
  fi
fi
if [ -n "$OTELCOL" ]; then
  OTELCOL_NOTE="$OTELCOL_VERSION (otlpreceiver, batchprocessor, contrib fileexporter), built here with ocb $OTELCOL_VERSION and $(go version | cut -d' ' -f3)"
fi

if [ "${WAIT_QUIET:-0}" -gt 0 ]; then
  log "waiting up to ${WAIT_QUIET}s for the 1-minute load average to fall below 1.0"
  for _ in $(seq "$WAIT_QUIET"); do
    awk '{exit !($1 < 1.0)}' /proc/loadavg && break
    sleep 1
  done
fi
log "running (DURATION=$DURATION s per load; load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 bench/sidecar/bench.py --agent "$AGENT" --otelcol "$OTELCOL" --otelcol-note "$OTELCOL_NOTE" \
  --stack "$STACK" --out bench/results/sidecar.md --duration "$DURATION" --batch "$BATCH" --work "$TMP" \
  --rounds "${ROUNDS:-3}" --round-duration "${ROUND_DURATION:-5}"
log "wrote bench/results/sidecar.md"
