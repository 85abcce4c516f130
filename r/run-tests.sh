#!/usr/bin/env bash
# Tests the R package `monitoring` (r/): installs what it needs from Debian (apt, when missing),
# checks that the roxygen documentation is current and the Rust crate is formatted and clippy-clean,
# builds the source tarball (with the engine vendored, tools/vendor-core.sh) and runs
# `R CMD check --no-manual` on it (no ERROR and no WARNING allowed), then installs the package from the checkout into a temporary library and runs the
# testthat suite there, conformance scenarios and sidecar tests included. The last line is the
# summary, "testthat: N passed, M failed, K skipped": testthat's expectations, plus one each for the
# roxygen check, rustfmt + clippy on the Rust crate, and R CMD check. The exit status is non-zero on
# any failure.
#
#   r/run-tests.sh              everything
#   R_TESTS_NO_CHECK=1 r/run-tests.sh    skip R CMD build/check (install + testthat only)
#
# Everything cargo builds goes to the repository's one target directory ($CARGO_TARGET_DIR, default
# <repo>/target). Nothing comes from CRAN: R packages are Debian's r-cran-*.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export MONITORING_REPO=$ROOT
# No MONITORING_* variable of the caller may change what the tests configure.
for v in $(compgen -e); do case $v in MONITORING_*) [ "$v" = MONITORING_REPO ] || unset "$v" ;; esac; done

say() { echo "== r/run-tests.sh: $*"; }
die() {
    echo "r/run-tests.sh: $*" >&2
    echo "testthat: 0 passed, 1 failed"
    exit 1
}

# --- Debian packages -----------------------------------------------------------------------------
DEBS=(r-base-dev r-cran-testthat r-cran-jsonlite r-cran-knitr r-cran-rmarkdown r-cran-roxygen2)
missing=()
for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing ${missing[*]} (apt)"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get install -y -q --no-install-recommends "${missing[@]}" ||
            { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }; } \
            >/tmp/r-run-tests-apt.log 2>&1 || die "apt-get install ${missing[*]} failed (log: /tmp/r-run-tests-apt.log)"
    else
        die "missing Debian packages: ${missing[*]} (apt-get install -y ${missing[*]})"
    fi
fi
command -v cargo >/dev/null || [ -x "$HOME/.cargo/bin/cargo" ] || die "cargo (Rust >= 1.85) is needed"
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/r-run-tests.XXXXXX") || die "mktemp failed"
# The logs are kept in <target>/r-tests/ (build.log, check.log, 00check.log, install.log, ...).
LOGS="$CARGO_TARGET_DIR/r-tests"
keep_logs() {
    rm -rf "$LOGS" && mkdir -p "$LOGS"
    cp "$WORK"/*.log "$LOGS/" 2>/dev/null
    cp "$WORK"/monitoring.Rcheck/00check.log "$WORK"/monitoring.Rcheck/00install.out "$LOGS/" 2>/dev/null
    cp "$WORK"/monitoring.Rcheck/tests/testthat.Rout* "$LOGS/" 2>/dev/null
    rm -rf "$WORK"
}
trap keep_logs EXIT
failed=0
cpass=0  # the roxygen check, rustfmt + clippy, and R CMD check, counted as one test each
cfail=0

# --- roxygen documentation is current --------------------------------------------------------------
say "checking that NAMESPACE and man/ match the roxygen comments"
mkdir -p "$WORK/rox"
cp -r "$HERE/DESCRIPTION" "$HERE/NAMESPACE" "$HERE/R" "$HERE/man" "$WORK/rox/"
if Rscript -e 'roxygen2::roxygenise("'"$WORK/rox"'", load_code = roxygen2::load_source)' >"$WORK/rox.log" 2>&1; then
    if ! diff -r "$HERE/man" "$WORK/rox/man" >"$WORK/rox.diff" || ! diff "$HERE/NAMESPACE" "$WORK/rox/NAMESPACE" >>"$WORK/rox.diff"; then
        cat "$WORK/rox.diff"
        echo "r/run-tests.sh: man/ or NAMESPACE is out of date: run  Rscript -e 'roxygen2::roxygenise(\"r\", load_code = roxygen2::load_source)'" >&2
        cfail=$((cfail + 1))
    else
        cpass=$((cpass + 1))
    fi
else
    cat "$WORK/rox.log" >&2
    cfail=$((cfail + 1))
fi

# --- the Rust crate: rustfmt and clippy -------------------------------------------------------------
# src/rust is a workspace of its own (see its Cargo.toml), so the repository's `cargo fmt --all` and
# `cargo clippy --workspace` do not cover it: it is checked here.
say "cargo fmt --check and cargo clippy -D warnings on r/src/rust"
if (cd "$ROOT" && cargo fmt --manifest-path r/src/rust/Cargo.toml -- --check) >"$WORK/fmt.log" 2>&1 &&
    (cd "$ROOT" && cargo clippy --manifest-path r/src/rust/Cargo.toml --all-targets -- -D warnings) >"$WORK/clippy.log" 2>&1; then
    cpass=$((cpass + 1))
else
    cat "$WORK/fmt.log" "$WORK/clippy.log" | tail -60
    cfail=$((cfail + 1))
fi

# --- R CMD build + R CMD check -------------------------------------------------------------------
if [ "${R_TESTS_NO_CHECK:-0}" != 1 ]; then
    say "vendoring the engine into the package (tools/vendor-core.sh)"
    "$HERE/tools/vendor-core.sh" || die "tools/vendor-core.sh failed"
    say "R CMD build r"
    (cd "$WORK" && R CMD build "$HERE") >"$WORK/build.log" 2>&1 || {
        tail -60 "$WORK/build.log"
        die "R CMD build failed"
    }
    tarball=$(ls "$WORK"/monitoring_*.tar.gz)
    say "R CMD check --no-manual $(basename "$tarball")"
    (cd "$WORK" && _R_CHECK_FORCE_SUGGESTS_=true R CMD check --no-manual "$tarball") >"$WORK/check.log" 2>&1
    check_rc=$?
    status_line=$(grep -E '^Status: ' "$WORK/check.log" | tail -1)
    grep -E '^\* checking .*\.\.\. (NOTE|WARNING|ERROR)' -A12 "$WORK/check.log" || true
    echo "R CMD check: ${status_line:-no status line}"
    if [ $check_rc -ne 0 ] || [ -z "$status_line" ] || echo "$status_line" | grep -qE 'WARNING|ERROR'; then
        tail -40 "$WORK/check.log"
        for f in "$WORK"/monitoring.Rcheck/tests/*.Rout.fail; do [ -f "$f" ] && tail -60 "$f"; done
        cfail=$((cfail + 1))
    else
        cpass=$((cpass + 1))
    fi
fi

# --- install from the checkout, then testthat ------------------------------------------------------
say "R CMD INSTALL r (into a temporary library)"
mkdir -p "$WORK/lib"
R CMD INSTALL --no-test-load -l "$WORK/lib" "$HERE" >"$WORK/install.log" 2>&1 || {
    tail -60 "$WORK/install.log"
    die "R CMD INSTALL failed"
}

say "testthat (conformance scenarios and sidecar tests included)"
cd "$HERE/tests/testthat" || die "no tests/testthat"
R_TESTS_COUNTS="$WORK/counts" R_LIBS="$WORK/lib" NOT_CRAN=true Rscript --vanilla -e '
library(testthat)
library(monitoring)
results <- as.data.frame(test_dir(".", reporter = ProgressReporter$new(show_praise = FALSE), stop_on_failure = FALSE))
counts <- c(sum(results$passed), sum(results$failed) + sum(results$error), sum(results$skipped))
writeLines(paste(counts, collapse = " "), Sys.getenv("R_TESTS_COUNTS"))
' 2>&1
read -r passed tfailed skipped <"$WORK/counts" 2>/dev/null || { passed=0; tfailed=1; skipped=0; }
[ "$tfailed" = 0 ] && [ $cfail -eq 0 ] || failed=1
echo "testthat: $((passed + cpass)) passed, $((tfailed + cfail)) failed, $skipped skipped"
exit $failed
