#!/usr/bin/env bash
# Builds the Python wheel (maturin, abi3), installs it into a fresh virtualenv and runs pytest.
#
#   python/run-tests.sh [PYTEST ARGS...]    build, install, test (pytest's summary is the last line)
#   python/run-tests.sh --install-only      build and install only (used by tests/conformance/run.sh)
#
# Layout (all under the shared cargo target directory, $CARGO_TARGET_DIR or ./target):
#   py-build-venv/   maturin, reused between runs
#   wheels/          the built wheel: monitoring-VERSION-cp39-abi3-*.whl
#   py-venv/         recreated on every run: the wheel + pytest, as a user would install it
# Environment: PYTHON (interpreter for the venvs, default python3), PY_SKIP_BUILD=1 (reuse the
# wheel already in wheels/ and the existing py-venv).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
T=$CARGO_TARGET_DIR
PY=${PYTHON:-python3}
BUILD_VENV=$T/py-build-venv
VENV=$T/py-venv
WHEELS=$T/wheels
log() { echo "[python/run-tests] $*" >&2; }

INSTALL_ONLY=0
if [ "${1:-}" = --install-only ]; then
    INSTALL_ONLY=1
    shift
fi

if [ "${PY_SKIP_BUILD:-0}" != 1 ] || [ ! -x "$VENV/bin/python" ]; then
    if ! "$BUILD_VENV/bin/maturin" --version >/dev/null 2>&1; then
        log "installing maturin into $BUILD_VENV"
        rm -rf "$BUILD_VENV"
        "$PY" -m venv "$BUILD_VENV"
        "$BUILD_VENV/bin/pip" install -q --disable-pip-version-check 'maturin>=1.7,<2'
    fi
    log "building the wheel (cargo target dir $T)"
    mkdir -p "$WHEELS"
    rm -f "$WHEELS"/monitoring-*.whl
    (cd "$ROOT/python" && "$BUILD_VENV/bin/maturin" build --release --quiet --out "$WHEELS") >&2
    WHEEL=$(ls "$WHEELS"/monitoring-*.whl)
    log "installing $(basename "$WHEEL") into a fresh $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$WHEEL" 'pytest>=7' >&2
fi
[ "$INSTALL_ONLY" = 1 ] && exit 0

# Run from a scratch directory with the pytest script (not `python -m pytest`, which puts the
# working directory on sys.path): `import monitoring` must find the installed wheel, never the
# source tree under python/.
export MONITORING_WHEEL=$(ls "$WHEELS"/monitoring-*.whl)
export MONITORING_ROOT=$ROOT
mkdir -p "$T/py-tests"
cd "$T/py-tests"
exec "$VENV/bin/pytest" -c "$ROOT/python/pyproject.toml" --rootdir "$ROOT/python" "$ROOT/python/tests" "$@"
