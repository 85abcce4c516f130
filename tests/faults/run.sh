#!/usr/bin/env bash
# The fault-injection suite: real processes on 127.0.0.1 and real faults (kill -9, a full
# filesystem, a backend that never answers, a backend that is down, fork). Builds what it needs
# (the agent and libmonitoring, release, in the repository's target dir; tests/faults/faults_app.c)
# and ends with one line: "N passed, M failed". Exit status 1 if anything failed.
#
#   tests/faults/run.sh [--only NAME] [--keep]
#   SOAK=1 tests/faults/run.sh          the long variant (`make soak`): more kills, more load
#   FAULTS_NO_BUILD=1 tests/faults/run.sh   without building (the binaries are already there)
#
# Needs python3 (stdlib only) and a C compiler; the disk-full test needs root (it mounts a
# tmpfs) and says so when skipped.
set -u
set -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
LIBDIR=$CARGO_TARGET_DIR/release
CC=${CC:-cc}
PY=${PYTHON:-python3}

fail() { echo "not ok - $1"; echo "0 passed, 1 failed"; exit 1; }

# FAULTS_NO_BUILD=1: use what is in target/release already (make builds it first).
if [ "${FAULTS_NO_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p monitoring-sidecar -p monitoring-ffi) >&2 || fail "cargo build"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mon-faults-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$CC" -O2 -g -Wall -Wextra -Werror -I "$ROOT/include" -o "$WORK/faults_app" "$ROOT/tests/faults/faults_app.c" \
  -L "$LIBDIR" -lmonitoring -Wl,-rpath,"$LIBDIR" -lpthread >&2 || fail "build tests/faults/faults_app.c"
"$PY" "$ROOT/tests/faults/test_faults.py" --bin "$LIBDIR/monitoring-sidecar" --app "$WORK/faults_app" "$@"
