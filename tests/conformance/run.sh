#!/usr/bin/env bash
# Cross-language conformance suite: replay every scenario through each language's driver, then
# judge with check.py. Usage:
#
#   tests/conformance/run.sh [LANG...]        LANG: c (default) | python | java | r | perl
#
# Environment:
#   CONFORMANCE_ONLY=GLOB      run only scenarios whose name matches GLOB (e.g. 'job_*')
#   CONFORMANCE_WORK=DIR       where runs go (default target/conformance); DIR/LANG/SCENARIO/ keeps
#                              out/ (the events), results.jsonl, driver.log and check.log
#   CONFORMANCE_NO_BUILD=1     do not run cargo; use target/release/libmonitoring.so as it is
#   PYTHON=python3             interpreter for check.py (standard library only)
#
# The last line printed is always exactly "N passed, M failed" (one count per LANG x scenario);
# the exit status is non-zero when M > 0 or the suite could not run.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIBDIR="$ROOT/target/release"
WORK=${CONFORMANCE_WORK:-$ROOT/target/conformance}
PY=${PYTHON:-python3}
ONLY=${CONFORMANCE_ONLY:-*}
LANGS=("$@")
[ ${#LANGS[@]} -eq 0 ] && LANGS=(c)

# Hermetic runs: no MONITORING_* variable from the caller leaks into the clients, and the drivers run
# in a non-UTC zone so that local time written as UTC shows up as a skew in `at`.
for v in $(compgen -e); do case $v in MONITORING_*) unset "$v" ;; esac; done
export DRIVER_TZ=${DRIVER_TZ:-Asia/Kolkata}

SCENARIOS=()
for f in "$HERE"/scenarios/*.json; do
    n=$(basename "$f" .json)
    # shellcheck disable=SC2053
    [[ $n == $ONLY ]] && SCENARIOS+=("$f")
done

passed=0
failed=0
abort() {   # abort MESSAGE: the suite cannot run; count everything as failed
    echo "conformance: $1" >&2
    echo "$passed passed, $((${#SCENARIOS[@]} * ${#LANGS[@]} - passed)) failed"
    exit 2
}

mkdir -p "$WORK" || abort "cannot create $WORK"
[ ${#SCENARIOS[@]} -gt 0 ] || abort "no scenario matches '$ONLY'"
"$PY" "$HERE/check.py" --lint "${SCENARIOS[@]}" >"$WORK/lint.log" 2>&1 || {
    cat "$WORK/lint.log" >&2
    abort "invalid scenario file(s)"
}

if [ "${CONFORMANCE_NO_BUILD:-0}" != 1 ]; then
    (cd "$ROOT" && cargo build --release -p monitoring-ffi) >"$WORK/cargo.log" 2>&1 || {
        tail -40 "$WORK/cargo.log" >&2
        abort "cargo build --release -p monitoring-ffi failed (log: $WORK/cargo.log)"
    }
fi
[ -f "$LIBDIR/libmonitoring.so" ] || abort "$LIBDIR/libmonitoring.so is missing"

# setup_driver LANG: build what the language needs and set DRIVER to the command that runs
#   DRIVER... SCENARIO.json OUT_DIR RESULTS.jsonl
need() { [ -e "$1" ] || abort "no $LANG driver yet ($1 is missing)"; }
setup_driver() {
    case $1 in
    c)
        need "$HERE/c/driver.c"
        if [ ! -f /usr/include/cjson/cJSON.h ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "conformance: installing libcjson-dev" >&2
            { apt-get install -y -qq libcjson-dev || { apt-get update -qq && apt-get install -y -qq libcjson-dev; }; } \
                >"$WORK/apt.log" 2>&1 || echo "conformance: apt-get install libcjson-dev failed (see $WORK/apt.log)" >&2
        fi
        mkdir -p "$WORK/c"
        cc -std=c11 -Wall -Wextra -O1 -I"$ROOT/include" "$HERE/c/driver.c" -o "$WORK/c/driver" \
            -L"$LIBDIR" -lmonitoring -lcjson -lm -Wl,-rpath,"$LIBDIR" >"$WORK/c/build.log" 2>&1 || {
            cat "$WORK/c/build.log" >&2
            abort "building the C driver failed (needs libcjson-dev: apt-get install -y libcjson-dev)"
        }
        DRIVER=("$WORK/c/driver")
        ;;
    python)
        need "$HERE/python/driver.py"
        # The wheel, installed into a fresh venv as a user would (python/run-tests.sh builds it
        # with maturin); with CONFORMANCE_NO_BUILD=1 an existing target/py-venv is reused.
        mkdir -p "$WORK/python"
        PY_SKIP_BUILD=${CONFORMANCE_NO_BUILD:-0} "$ROOT/python/run-tests.sh" --install-only \
            >"$WORK/python/build.log" 2>&1 || {
            tail -40 "$WORK/python/build.log" >&2
            abort "building or installing the Python wheel failed (log: $WORK/python/build.log)"
        }
        DRIVER=("${CARGO_TARGET_DIR:-$ROOT/target}/py-venv/bin/python" "$HERE/python/driver.py")
        ;;
    java)
        need "$HERE/java/Driver.java"
        # The classpath under test: CONFORMANCE_JAVA_CP if set (the Java tests pass their
        # target/classes), else the jar java/target/monitoring-VERSION.jar (it carries the native
        # library), built here by Maven unless CONFORMANCE_NO_BUILD=1.
        mkdir -p "$WORK/java"
        if [ -n "${CONFORMANCE_JAVA_CP:-}" ]; then
            JAVA_CP=$CONFORMANCE_JAVA_CP
        else
            if [ "${CONFORMANCE_NO_BUILD:-0}" != 1 ]; then
                (cd "$ROOT/java" && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}" \
                    mvn -B -q package -DskipTests -Dmonitoring.cargo.targetDir="${CARGO_TARGET_DIR:-$ROOT/target}") \
                    >"$WORK/java/build.log" 2>&1 || {
                    tail -40 "$WORK/java/build.log" >&2
                    abort "building the Java package failed (cd java && mvn package; log: $WORK/java/build.log)"
                }
            fi
            JAVA_CP=$(ls "$ROOT"/java/target/monitoring-[0-9]*.jar 2>/dev/null | grep -v -e '-sources' -e '-javadoc' | head -1)
            [ -n "$JAVA_CP" ] || abort "no jar in java/target (build it: cd java && mvn package)"
        fi
        rm -rf "$WORK/java/classes"
        javac -encoding UTF-8 -d "$WORK/java/classes" -cp "$JAVA_CP" "$HERE/java/Driver.java" \
            >"$WORK/java/javac.log" 2>&1 || {
            cat "$WORK/java/javac.log" >&2
            abort "compiling the Java driver failed (needs a JDK 17+)"
        }
        DRIVER=(java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$JAVA_CP:$WORK/java/classes" Driver)
        ;;
    r)
        # The package is installed into a library of the run (or taken from CONFORMANCE_R_LIB, a
        # library where it is installed already), then driver.R runs with that library first.
        need "$HERE/r/driver.R"
        if ! command -v Rscript >/dev/null || ! Rscript -e 'library(jsonlite)' >/dev/null 2>&1; then
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                echo "conformance: installing r-base-dev r-cran-jsonlite" >&2
                { apt-get install -y -qq --no-install-recommends r-base-dev r-cran-jsonlite ||
                    { apt-get update -qq && apt-get install -y -qq --no-install-recommends r-base-dev r-cran-jsonlite; }; } \
                    >"$WORK/apt-r.log" 2>&1 || echo "conformance: apt-get install failed (see $WORK/apt-r.log)" >&2
            fi
            command -v Rscript >/dev/null || abort "R is not installed (apt-get install -y r-base-dev r-cran-jsonlite)"
        fi
        mkdir -p "$WORK/r"
        local rlib=${CONFORMANCE_R_LIB:-}
        if [ -z "$rlib" ]; then
            rlib="$WORK/r/lib"
            rm -rf "$rlib" && mkdir -p "$rlib"
            R CMD INSTALL --no-test-load -l "$rlib" "$ROOT/r" >"$WORK/r/install.log" 2>&1 || {
                tail -40 "$WORK/r/install.log" >&2
                abort "R CMD INSTALL r failed (log: $WORK/r/install.log)"
            }
        fi
        DRIVER=(env "R_LIBS=$rlib${R_LIBS:+:$R_LIBS}" Rscript --vanilla "$HERE/r/driver.R")
        ;;
    perl)
        need "$HERE/perl/driver.pl"
        # The distribution, built against $LIBDIR in target/perl/Monitoring by perl/run-tests.sh;
        # CONFORMANCE_PERL_BLIB=DIR uses DIR/blib as it is (perl/t/50-conformance.t does).
        PERL_BUILD=${CONFORMANCE_PERL_BLIB:-}
        if [ -z "$PERL_BUILD" ]; then
            CARGO_TARGET_DIR="$ROOT/target" PERL_NO_CARGO=1 "$ROOT/perl/run-tests.sh" --build-only \
                >"$WORK/perl-build.log" 2>&1 || {
                tail -30 "$WORK/perl-build.log" >&2
                abort "building the Perl distribution failed (log: $WORK/perl-build.log)"
            }
            PERL_BUILD="$ROOT/target/perl/Monitoring"
        fi
        [ -d "$PERL_BUILD/blib/arch" ] || abort "no Perl build in $PERL_BUILD (perl/run-tests.sh --build-only)"
        DRIVER=("${PERL:-perl}" -I"$PERL_BUILD/blib/lib" -I"$PERL_BUILD/blib/arch" "$HERE/perl/driver.pl")
        ;;
    *)
        abort "unknown language '$1' (c, python, java, r, perl)"
        ;;
    esac
}

for LANG in "${LANGS[@]}"; do
    setup_driver "$LANG"
    for scen in "${SCENARIOS[@]}"; do
        name=$(basename "$scen" .json)
        dir="$WORK/$LANG/$name"
        rm -rf "$dir" && mkdir -p "$dir" || abort "cannot prepare $dir"
        # cwd = the run's own directory, so default relative paths (./spool, ...) stay inside it
        (cd "$dir" && TZ=$DRIVER_TZ timeout 120 "${DRIVER[@]}" "$scen" "$dir/out" "$dir/results.jsonl") \
            >"$dir/driver.log" 2>&1
        drc=$?
        "$PY" "$HERE/check.py" "$scen" "$dir/results.jsonl" "$dir/out" >"$dir/check.log" 2>&1
        crc=$?
        if [ $drc -eq 0 ] && [ $crc -eq 0 ]; then
            passed=$((passed + 1))
            echo "PASS $LANG $name"
        else
            failed=$((failed + 1))
            echo "FAIL $LANG $name"
            grep -v '^ok:' "$dir/check.log" | sed 's/^/    /'
            if [ $drc -eq 124 ]; then
                echo "    driver timed out after 120 s (hung call?); last lines of $dir/driver.log:"
                tail -5 "$dir/driver.log" | sed 's/^/      | /'
            elif [ $drc -ne 0 ]; then
                echo "    driver exited with status $drc; last lines of $dir/driver.log:"
                tail -5 "$dir/driver.log" | sed 's/^/      | /'
            fi
        fi
    done
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
