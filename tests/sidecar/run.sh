#!/usr/bin/env bash
# End-to-end tests of monitoring-sidecar (real processes on 127.0.0.1). Builds what it needs
# (the agent and libmonitoring, release, in the repository's target dir; a C app in sidecar
# mode) and ends with one line: "N passed, M failed". Exit status 1 if anything failed.
#
#   tests/sidecar/run.sh [--only NAME] [--keep]
#
# Needs python3 (stdlib only; with `jsonschema` installed, stored events are also checked
# against tests/schema/event-v1.schema.json) and a C compiler.
set -u
set -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
LIBDIR=$CARGO_TARGET_DIR/release
CC=${CC:-cc}
PY=${PYTHON:-python3}

fail() { echo "not ok - $1"; echo "0 passed, 1 failed"; exit 1; }

(cd "$ROOT" && cargo build --release -q -p monitoring-sidecar -p monitoring-ffi) >&2 || fail "cargo build"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mon-sidecar-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$CC" -O1 -g -Wall -Wextra -Werror -I "$ROOT/include" -o "$WORK/c_app" "$ROOT/tests/sidecar/c_app.c" \
  -L "$LIBDIR" -lmonitoring -Wl,-rpath,"$LIBDIR" -lpthread >&2 || fail "build tests/sidecar/c_app.c"
"$PY" "$ROOT/tests/sidecar/test_sidecar.py" --bin "$LIBDIR/monitoring-sidecar" --c-app "$WORK/c_app" "$@"
