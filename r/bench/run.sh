#!/usr/bin/env bash
# R benchmark: per-call cost of monitoring_emit() (list and JSON text) and of a job, against
# cat(jsonlite::toJSON(...)) lines to a file, in the same run. Writes bench/results/r.md.
#
#   r/bench/run.sh [N] [REPS]          defaults: 20000 calls per round, 5 rounds
#
# Installs the package from the checkout (release build, the repository's target directory) into a
# temporary library first; R_BENCH_LIB=DIR uses a library where it is installed already.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
for v in $(compgen -e); do case $v in MONITORING_*) unset "$v" ;; esac; done
N=${1:-20000}
REPS=${2:-5}

lib=${R_BENCH_LIB:-}
if [ -z "$lib" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/r-bench.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    lib="$work/lib"
    mkdir -p "$lib"
    echo "== r/bench/run.sh: R CMD INSTALL r (release build)"
    R CMD INSTALL --no-test-load -l "$lib" "$ROOT/r" >"$work/install.log" 2>&1 || {
        tail -40 "$work/install.log" >&2
        exit 1
    }
fi
mkdir -p "$ROOT/bench/results"
echo "== r/bench/run.sh: Rscript r/bench/emit_bench.R bench/results/r.md $N $REPS"
R_LIBS="$lib" Rscript --vanilla "$HERE/emit_bench.R" "$ROOT/bench/results/r.md" "$N" "$REPS"
