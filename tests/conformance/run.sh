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
        DRIVER=("$PY" "$HERE/python/driver.py")
        ;;
    java)
        need "$HERE/java/Driver.java"
        DRIVER=(java -Djava.library.path="$LIBDIR" -cp "$ROOT/java/build/libs/*" "$HERE/java/Driver.java")
        ;;
    r)
        need "$HERE/r/driver.R"
        DRIVER=(Rscript "$HERE/r/driver.R")
        ;;
    perl)
        need "$HERE/perl/driver.pl"
        DRIVER=(perl "$HERE/perl/driver.pl")
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
