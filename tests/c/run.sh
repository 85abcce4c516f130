#!/usr/bin/env bash
# Builds and runs the C test suite, the acceptance program and the C examples against
# libmonitoring, and ends with one line: "N passed, M failed".
#
#   tests/c/run.sh [LIBDIR]        LIBDIR defaults to $LIBDIR or target/release of this repo
#
# Every test binary is built with
#   cc -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -I include ...
# and linked against LIBDIR/libmonitoring.so (rpath set, so no LD_LIBRARY_PATH is needed).
# AddressSanitizer works with the (uninstrumented) Rust .so because the test executable itself
# is instrumented: libasan is loaded first and intercepts malloc/free for the whole process, so
# the C side's overreads (emit_n), double frees (string_free) and leaks are caught. No
# LD_PRELOAD is needed. If a sanitizer-built probe cannot run here (for example a kernel with
# an address layout ASan does not support), the suite falls back to building without
# sanitizers and says so on a "# " line.
#
# The script starts its own HTTP sinks (tests/tools/http_sink.py) for the webhook tests and
# stops them at exit; everything it and the tests write goes to a temp dir that it removes at
# exit (KEEP=1 keeps it, with the directories of failed tests, named in "# kept" lines). Needs python3 with jsonschema (tests/requirements.txt; installed with pip
# when missing).
set -u
set -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIBDIR=${1:-${LIBDIR:-$ROOT/target/release}}
if [ ! -e "$LIBDIR/libmonitoring.so" ]; then
  echo "run.sh: $LIBDIR/libmonitoring.so not found; build it with: cargo build --release -p monitoring-ffi" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
LIBDIR=$(cd "$LIBDIR" && pwd)
CC=${CC:-cc}
PY=${PYTHON:-python3}
TOOLS=$ROOT/tests/tools
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mon-ctests.XXXXXX")
BIN=$WORK/bin
mkdir -p "$BIN" "$WORK/tmp"
# the tests' own temp dirs (mkdtemp under $TMPDIR) go in WORK too, so nothing is left behind
export TMPDIR=$WORK/tmp

SINK_PIDS=()
cleanup() {
  for p in "${SINK_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${SINK_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ "${KEEP:-0}" = 1 ]; then echo "# kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

PASSED=0
FAILED=0
ok() { echo "ok - $1"; PASSED=$((PASSED + 1)); }
not_ok() { echo "not ok - $1"; FAILED=$((FAILED + 1)); }

# ------------------------------------------------------------------ python deps
if ! "$PY" -c 'import jsonschema, fastjsonschema' 2>/dev/null; then
  echo "# installing tests/requirements.txt (jsonschema, fastjsonschema)" >&2
  "$PY" -m pip install -q -r "$ROOT/tests/requirements.txt" >&2 || true
fi
if ! "$PY" -c 'import jsonschema' 2>/dev/null; then
  not_ok "python3 jsonschema available (pip install -r tests/requirements.txt)"
fi

# ------------------------------------------------------------------ compiler flags
WARN="-O1 -g -Wall -Wextra -Werror"
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer"
LINK="-L$LIBDIR -lmonitoring -Wl,-rpath,$LIBDIR -lpthread"
# detect_leaks: the harness exits normally after a passing test, so LeakSanitizer checks it.
# halt_on_error: the first UBSan report fails the test (as ASan reports do).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allow_user_segv_handler=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

cat > "$WORK/probe.c" <<'EOF'
#include <monitoring.h>
#include <stdio.h>
int main(void) { monitoring_client *c = 0; int st = monitoring_configure(0, 0); (void)c;
                 printf("%s %u %d\n", monitoring_version(), monitoring_abi_version(), st); return 0; }
EOF
if $CC $WARN $SAN -I"$ROOT/include" "$WORK/probe.c" $LINK -o "$BIN/probe" 2>"$WORK/probe.err" &&
   "$BIN/probe" >/dev/null 2>>"$WORK/probe.err"; then
  CFLAGS="$WARN $SAN"
else
  echo "# AddressSanitizer/UBSan do not work here with libmonitoring.so (see below); building WITHOUT sanitizers" >&2
  sed 's/^/#   /' "$WORK/probe.err" >&2
  echo "# sanitizers: unavailable, tests built without -fsanitize"
  CFLAGS="$WARN"
fi

build() { # build NAME SOURCES...
  local name=$1; shift
  if $CC $CFLAGS -I"$ROOT/include" -I"$ROOT/tests/c" "$@" $LINK -o "$BIN/$name" 2>"$WORK/$name.build.log"; then
    return 0
  fi
  not_ok "build $name: $(head -c 600 "$WORK/$name.build.log" | tr '\n' ' ')"
  return 1
}

# ------------------------------------------------------------------ sinks
start_sink() { # start_sink NAME [http_sink args...]; exports CTEST_SINK_NAME_{URL,EVENTS,REQUESTS}
  local name=$1; shift
  local d=$WORK/sinks/$name
  mkdir -p "$d"
  "$PY" "$TOOLS/http_sink.py" --port 0 --out "$d/events.jsonl" --requests "$d/requests.log" "$@" \
    >"$d/port" 2>"$d/stderr" &
  SINK_PIDS+=($!)
  local port="" i
  for i in $(seq 1 100); do
    port=$(head -n1 "$d/port" 2>/dev/null)
    [ -n "$port" ] && break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    not_ok "start http_sink $name: $(cat "$d/stderr")"
    return 1
  fi
  export "CTEST_SINK_${name}_URL=http://127.0.0.1:$port"
  export "CTEST_SINK_${name}_EVENTS=$d/events.jsonl"
  export "CTEST_SINK_${name}_REQUESTS=$d/requests.log"
}
start_sink OK
start_sink 503 --status 503 --count 3
start_sink 400 --status 400 --count -1

# ------------------------------------------------------------------ test binaries
COMMON="$ROOT/tests/c/testutil.c $ROOT/tests/c/mini_json.c"
run_binary() { # run_binary NAME: counts its ok / not ok lines
  local name=$1 out=$WORK/$1.out rc
  ( cd "$WORK" && timeout 120 "$BIN/$name" ) >"$out" 2>"$WORK/$name.stderr"
  rc=$?
  cat "$out"
  local p f
  p=$(grep -c '^ok - ' "$out")
  f=$(grep -c '^not ok - ' "$out")
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
    # sanitizer reports and the library's own messages, for whoever reads the log
    local errs
    errs=$(grep -v '^  \[' "$WORK/$name.stderr" | tail -n 40)
    if [ -n "$errs" ]; then
      echo "# stderr of $name (last 40 lines):"
      echo "$errs" | sed 's/^/#   /'
    fi
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    not_ok "$name exited with code $rc without a failing test (crash of the harness, or timeout)"
  fi
}

for t in test_api test_runtime test_delivery; do
  build "$t" "$ROOT/tests/c/$t.c" $COMMON && run_binary "$t"
done

# webhook events as received by the sink are schema-valid
if [ -s "$WORK/sinks/OK/events.jsonl" ]; then
  if out=$("$PY" "$TOOLS/check_jsonl.py" "$WORK/sinks/OK" 2>&1); then
    ok "events received by the webhook sink are schema-valid (check_jsonl.py)"
  else
    not_ok "events received by the webhook sink are schema-valid: $(echo "$out" | head -n 5 | tr '\n' ' ')"
  fi
fi

# ------------------------------------------------------------------ acceptance
ACC=$WORK/acceptance
mkdir -p "$ACC"
cat > "$ACC/monitoring.yaml" <<EOF
# Acceptance run: 100,000 events from 4 threads + one job, to JSONL files.
mode: direct
app: {name: acceptance, version: 0.1.0, site_id: fab1}
direct_backends:
  - {type: filesystem, name: local, path: "$ACC/events", rotate_mb: 100, fsync: batch}
queue: {capacity: 65536, on_full: block, batch_max: 512, flush_interval_ms: 100}
spool: {path: "$ACC/spool"}
EOF
if build acceptance "$ROOT/tests/c/acceptance.c"; then
  start=$(date +%s.%N)
  if ( cd "$ACC" && timeout 120 "$BIN/acceptance" "$ACC/monitoring.yaml" ) >"$ACC/out" 2>"$ACC/err"; then
    ok "acceptance: 100,000 events from 4 threads + a job, configured from a YAML file ($(tail -n1 "$ACC/out"))"
  else
    not_ok "acceptance program failed: $(tail -n 5 "$ACC/err" "$ACC/out" | tr '\n' ' ')"
  fi
  # 100,000 metric events + started + 10 progress + 2 metric + finished = 100,014
  if out=$("$PY" "$TOOLS/check_jsonl.py" "$ACC/events" --expect-distinct 100014 --no-duplicates \
             --expect-lines 100014 --expect-kind metric=100002 --expect-kind progress=10 \
             --expect-kind started=1 --expect-kind finished=1 2>&1); then
    ok "acceptance: every event in the JSONL exactly once and schema-valid ($(echo "$out" | tail -n1))"
  else
    not_ok "acceptance JSONL check: $(echo "$out" | head -n 8 | tr '\n' ' ')"
  fi
fi

# ------------------------------------------------------------------ examples (config NULL)
for ex in job_demo threads_demo; do
  build "$ex" "$ROOT/examples/c/$ex.c" || continue
  d=$WORK/examples/$ex
  mkdir -p "$d"
  args=""
  [ "$ex" = threads_demo ] && args="4 500"
  if ( cd "$d" && timeout 60 "$BIN/$ex" $args ) >"$d/out" 2>"$d/err"; then
    if out=$("$PY" "$TOOLS/check_jsonl.py" "$d/monitoring-events" 2>&1); then
      ok "example $ex runs with the default configuration ($(echo "$out" | tail -n1 | sed "s|$d/||"))"
    else
      not_ok "example $ex output: $(echo "$out" | head -n 5 | tr '\n' ' ')"
    fi
  else
    not_ok "example $ex failed: $(tail -n 5 "$d/err" "$d/out" | tr '\n' ' ')"
  fi
done
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig:$LIBDIR:${PKG_CONFIG_PATH:-}"
if pkg-config --exists monitoring 2>/dev/null; then
  # the build line of examples/c/README.md
  if $CC -o "$BIN/job_demo_pc" "$ROOT/examples/c/job_demo.c" $(pkg-config --cflags --libs monitoring) 2>"$WORK/pc.log"; then
    ok "examples build with pkg-config --cflags --libs monitoring"
  else
    not_ok "examples build with pkg-config: $(head -c 400 "$WORK/pc.log" | tr '\n' ' ')"
  fi
else
  if [ -n "${REQUIRE_PKG_CONFIG:-}" ]; then
    not_ok "monitoring.pc not found on PKG_CONFIG_PATH=$PKG_CONFIG_PATH"
  else
    echo "# pkg-config: monitoring.pc is not installed; the README's pkg-config build line was not tried"
  fi
fi

if [ "$FAILED" -gt 0 ] && [ "${KEEP:-0}" != 1 ]; then
  echo "# the temp dirs named in '# kept' lines are removed at exit; rerun with KEEP=1 to keep them"
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
