#!/usr/bin/env bash
# Builds the Perl distribution against this source tree's libmonitoring and runs its tests.
#
#   perl/run-tests.sh [PROVE ARGS...]   build, then `prove -b -v t/` (prove's summary is the last output)
#   perl/run-tests.sh --build-only      build only (tests/conformance/run.sh perl uses this)
#
# The build happens in a fresh copy of the files listed in perl/MANIFEST, under the cargo target
# directory ($CARGO_TARGET_DIR or ./target): target/perl/Monitoring/ (so perl/ stays clean and
# a file missing from the MANIFEST shows up as a failure), with
#   MONITORING_LIBDIR=target/release MONITORING_INCDIR=include perl Makefile.PL && make
# Before that, `cargo build --release -p monitoring-ffi` (and -p monitoring-sidecar for the
# sidecar test, when that crate exists); PERL_NO_CARGO=1 skips cargo and uses target/release as
# it is. PERL=... picks the interpreter (default perl). Exit status: non-zero on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
T=$CARGO_TARGET_DIR
PERL=${PERL:-perl}
BUILD=$T/perl/Monitoring
log() { echo "[perl/run-tests] $*" >&2; }

BUILD_ONLY=0
if [ "${1:-}" = --build-only ]; then
    BUILD_ONLY=1
    shift
fi

if [ "${PERL_NO_CARGO:-0}" != 1 ]; then
    log "cargo build --release -p monitoring-ffi"
    (cd "$ROOT" && cargo build --release -q -p monitoring-ffi) >&2
    if [ "$BUILD_ONLY" = 0 ] && [ -f "$ROOT/sidecar/Cargo.toml" ]; then
        log "cargo build --release -p monitoring-sidecar (for t/60-sidecar.t)"
        (cd "$ROOT" && cargo build --release -q -p monitoring-sidecar) >&2 ||
            log "building monitoring-sidecar failed: t/60-sidecar.t will say so"
    fi
fi
[ -f "$T/release/libmonitoring.so" ] || { log "$T/release/libmonitoring.so is missing"; exit 2; }

log "copying the files of perl/MANIFEST to $BUILD"
rm -rf "$BUILD"
mkdir -p "$BUILD"
(cd "$ROOT/perl" && grep -v '^\s*\(#\|$\)' MANIFEST | awk '{print $1}' | tar -cf - -T -) | (cd "$BUILD" && tar -xf -)

log "perl Makefile.PL && make (libmonitoring from $T/release)"
cd "$BUILD"
MONITORING_LIBDIR="$T/release" MONITORING_INCDIR="$ROOT/include" "$PERL" Makefile.PL >&2
make >"$BUILD/make.log" 2>&1 || { cat "$BUILD/make.log" >&2; log "make failed"; exit 1; }
if grep -q 'warning:' "$BUILD/make.log"; then grep -A3 'warning:' "$BUILD/make.log" >&2; fi
[ "$BUILD_ONLY" = 1 ] && exit 0

# What the tests that need this source tree use (they skip, saying why, without it).
export PERL_MONITORING_ROOT=$ROOT
export PERL_MONITORING_SIDECAR=${PERL_MONITORING_SIDECAR:-$T/release/monitoring-sidecar}
export CONFORMANCE_PERL_BLIB=$BUILD
log "prove -b -v t/ in $BUILD"
exec prove -b -v "$@" t/
