#!/usr/bin/env bash
# C benchmark of libmonitoring vs spdlog async and fprintf, in one run.
# Builds everything with -O2, runs all variants, writes bench/results/c.md.
#
#   bench/run_c.sh                 # full run (~2-3 minutes on the 2-core bench machine)
#   SAMPLES=200000 EVENTS=1000000 bench/run_c.sh   # quicker, smaller run
#
# Knobs (environment): SAMPLES (timed emit calls per latency config, default 1000000),
# RATE (events/s for latency runs, all threads together, default 100000), BURST (default 1000),
# EVENTS (events per throughput run, default 2000000), MEM_EVENTS (events of the memory-bound
# runs, default 5000000), CAPACITY (default 65536),
# KEEP_TMP=1 (keep the temporary directory), SKIP_CARGO=1 (use the existing library),
# LIBDIR (directory holding libmonitoring.so, default target/release), WAIT_QUIET=SECONDS (wait up
# to that long for the 1-minute load average to fall below 0.5 before measuring; default 0).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SAMPLES="${SAMPLES:-1000000}"
RATE="${RATE:-100000}"
BURST="${BURST:-1000}"
EVENTS="${EVENTS:-2000000}"
MEM_EVENTS="${MEM_EVENTS:-5000000}"
CAPACITY="${CAPACITY:-65536}"
T_START=$(date +%s)

TMP="$(mktemp -d /tmp/monitoring-bench-c.XXXXXX)"
cleanup() { if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
BIN="$TMP/bin"; OUT="$TMP/out"; RES="$TMP/results.jsonl"; CHECKS="$TMP/checks.jsonl"
mkdir -p "$BIN" "$OUT" bench/results
: >"$RES"; : >"$CHECKS"
log() { echo "[run_c] $*" >&2; }

# ---------------------------------------------------------------- prerequisites and build
if ! dpkg -s libspdlog-dev >/dev/null 2>&1; then
  log "installing libspdlog-dev"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y libspdlog-dev >"$TMP/apt.log" 2>&1 ||
    { $SUDO apt-get update >>"$TMP/apt.log" 2>&1 && $SUDO apt-get install -y libspdlog-dev >>"$TMP/apt.log" 2>&1; } ||
    { tail -20 "$TMP/apt.log"; exit 1; }
fi
if [ "${SKIP_CARGO:-0}" != 1 ]; then
  log "cargo build --release -p monitoring-ffi"
  cargo build --release -p monitoring-ffi >"$TMP/cargo.log" 2>&1 || { tail -30 "$TMP/cargo.log"; exit 1; }
fi
LIBDIR="$(cd "${LIBDIR:-target/release}" && pwd)"
[ -f "$LIBDIR/libmonitoring.so" ] || { log "$LIBDIR/libmonitoring.so missing"; exit 1; }

CFLAGS="-O2 -g -Wall -Wextra -Iinclude -Ibench/c"
SDKLIBS="-L$LIBDIR -lmonitoring -Wl,-rpath,$LIBDIR -lpthread"
log "compiling benchmarks (-O2)"
cc $CFLAGS -o "$BIN/emit_latency" bench/c/emit_latency.c $SDKLIBS
cc $CFLAGS -o "$BIN/throughput" bench/c/throughput.c $SDKLIBS
cc $CFLAGS -o "$BIN/alt_fprintf" bench/c/alt_fprintf.c -lpthread
# shellcheck disable=SC2046
g++ $CFLAGS -o "$BIN/alt_spdlog" bench/c/alt_spdlog.cpp $(pkg-config --cflags --libs spdlog) -lpthread

# ---------------------------------------------------------------- machine
{
  echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cpus=$(nproc)"
  echo "cores_per_socket=$(lscpu | sed -n 's/^Core(s) per socket: *//p' | head -1)"
  echo "threads_per_core=$(lscpu | sed -n 's/^Thread(s) per core: *//p' | head -1)"
  echo "hypervisor=$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -1)"
  echo "mem=$(free -g | awk '/^Mem:/{print $2" GiB"}')"
  echo "kernel=$(uname -r)"
  echo "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo '?')"
  echo "fs=$(findmnt -no FSTYPE,SOURCE -T "$TMP" | tr -s ' ' | head -1)"
  echo "cc=$(cc --version | head -1)"
  echo "cxx=$(g++ --version | head -1)"
  echo "rustc=$(rustc --version 2>/dev/null || echo '?')"
  echo "spdlog=$(dpkg-query -W -f '${Version}' libspdlog-dev)"
  echo "fmt=$(dpkg-query -W -f '${Version}' libfmt-dev 2>/dev/null || echo '?')"
  echo "glibc=$(ldd --version | head -1 | sed 's/^ldd //')"
  if c=$(git rev-parse --short=12 HEAD 2>/dev/null); then
    echo "commit=$c$( [ -n "$(git status --porcelain 2>/dev/null)" ] && echo ' (work tree has uncommitted changes)')"
  else
    echo "commit=none (repository has no commits yet; uncommitted work tree)"
  fi
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$TMP/machine.txt"

# Page-cache write ceiling of the output filesystem, for context (dd, 1 MiB and 4 KiB writes).
sync
dd_rate() { dd if=/dev/zero of="$OUT/dd" bs="$1" count="$2" 2>&1 | sed -n 's/.*copied, \([0-9.]*\) s, \(.*\)$/\2/p'; rm -f "$OUT/dd"; sync; }
echo "dd_1m=$(dd_rate 1M 800)" >>"$TMP/machine.txt"
echo "dd_4k=$(dd_rate 4k 100000)" >>"$TMP/machine.txt"

# Other load on the machine: CPU seconds used by everything (from /proc/stat) minus what this
# script's children used (bash `times`), over the measured part of the run.
if [ "${WAIT_QUIET:-0}" -gt 0 ]; then
  waited=0
  while awk '{exit !($1 >= 0.5)}' /proc/loadavg && [ "$waited" -lt "$WAIT_QUIET" ]; do
    log "load average $(cut -d' ' -f1 /proc/loadavg), waiting for a quiet machine ($waited/$WAIT_QUIET s)"
    sleep 10; waited=$((waited + 10))
  done
fi
T_MEASURE=$(date +%s)
cpu_busy_s() { awk -v hz="$(getconf CLK_TCK)" '/^cpu /{print ($2+$3+$4+$7+$8+$9)/hz; exit}' /proc/stat; }
echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$TMP/machine.txt"
BUSY0=$(cpu_busy_s); WALL0=$(date +%s.%N)
if awk '{exit !($1 > 0.5)}' /proc/loadavg; then
  log "WARNING: load average $(cut -d' ' -f1 /proc/loadavg) before the run: other work on this machine will distort the numbers"
fi

# ---------------------------------------------------------------- runs
# run NAME CMD...: runs one benchmark with a fresh output dir, keeps its RESULT line.
run() {
  local name="$1"; shift
  local dir="$OUT/$name"
  rm -rf "$dir"; mkdir -p "$dir"
  sync
  log "$name: $*"
  if ! "$@" --dir "$dir" --label "$name" >"$TMP/$name.out" 2>"$TMP/$name.err"; then
    log "$name FAILED"; tail -20 "$TMP/$name.err" >&2
    echo "{\"kind\":\"failed\",\"label\":\"$name\"}" >>"$RES"
    return 0
  fi
  grep -v '^stats:' "$TMP/$name.err" | sed 's/^/    /' >&2 || true
  sed -n 's/^RESULT //p' "$TMP/$name.out" >>"$RES"
}
# verify NAME [uniq]: counts JSONL lines in the run's output (all files, any depth), checks the
# first and last line parse as JSON with the schema's top-level fields, optionally that the
# idempotency keys are all distinct; then deletes the output.
verify() {
  local name="$1" uniq="${2:-}" dir="$OUT/$1"
  local files lines first last keys="null" valid
  files=$(find "$dir" -type f | sort)
  lines=$(find "$dir" -type f -print0 | xargs -0 cat | wc -l)
  first=$(head -n 1 "$(echo "$files" | head -n 1)")
  last=$(tail -n 1 "$(echo "$files" | tail -n 1)")
  valid=$(printf '%s\n%s\n' "$first" "$last" | python3 -c '
import json,sys
ok=True
for l in sys.stdin:
    try:
        d=json.loads(l); ok = ok and all(k in d for k in ("idempotency_key","app","entity","event")) and "at" in d["event"]
    except Exception: ok=False
print("true" if ok else "false")')
  if [ "$uniq" = uniq ]; then
    keys=$(find "$dir" -type f -print0 | xargs -0 cat | grep -o '"idempotency_key":"[^"]*"' | LC_ALL=C sort -u -S 25% | wc -l)
  fi
  python3 - "$name" "$lines" "$keys" "$valid" "$(echo "$files" | wc -l)" "$first" >>"$CHECKS" <<'PY'
import json,sys
n,lines,keys,valid,nfiles,first=sys.argv[1:7]
print(json.dumps({"label":n,"lines":int(lines),"distinct_keys":None if keys=="null" else int(keys),
                  "valid":valid=="true","files":int(nfiles),"first_line":first}))
PY
  log "$name: $lines lines in $(echo "$files" | wc -l) file(s), distinct keys=$keys, json ok=$valid"
  rm -rf "$dir"; sync
}

LAT="--samples $SAMPLES --rate $RATE --burst $BURST --warmup 20000 --capacity $CAPACITY"
for t in 1 2; do
  run "lat_monitoring_t$t" "$BIN/emit_latency" --threads $t --on-full drop $LAT; rm -rf "$OUT/lat_monitoring_t$t"
  run "lat_spdlog_t$t" "$BIN/alt_spdlog" --mode latency --threads $t $LAT; rm -rf "$OUT/lat_spdlog_t$t"
  run "lat_fprintf_t$t" "$BIN/alt_fprintf" --mode latency --threads $t $LAT; rm -rf "$OUT/lat_fprintf_t$t"
done

# The same harness with other events than the one static text (see bench/c/sdk_common.h): values
# that change every call, and four shapes of event in turn.
for vary in values shapes; do
  run "lat_monitoring_${vary}_t1" "$BIN/emit_latency" --threads 1 --on-full drop --vary $vary $LAT; rm -rf "$OUT/lat_monitoring_${vary}_t1"
done

TP="--events $EVENTS --capacity $CAPACITY"
for t in 1 2; do
  run "tp_monitoring_t$t" "$BIN/throughput" --threads $t --on-full block $TP
  if [ $t = 2 ]; then verify "tp_monitoring_t$t" uniq; else verify "tp_monitoring_t$t"; fi
  run "tp_spdlog_t$t" "$BIN/alt_spdlog" --mode throughput --threads $t $TP; verify "tp_spdlog_t$t"
  run "tp_fprintf_t$t" "$BIN/alt_fprintf" --mode throughput --threads $t $TP; verify "tp_fprintf_t$t"
done
# Memory: same capacity, MEM_EVENTS (far more than the capacity; peak RSS must not grow with the
# event count, compare with the EVENTS run above), and a flood with on_full: drop (producers far
# faster than the writer).
run "mem_monitoring_big" "$BIN/throughput" --threads 1 --on-full block --events "$MEM_EVENTS" --capacity "$CAPACITY"
verify "mem_monitoring_big"
run "mem_monitoring_drop" "$BIN/throughput" --threads 2 --on-full drop --events "$MEM_EVENTS" --capacity "$CAPACITY"
verify "mem_monitoring_drop"

BUSY1=$(cpu_busy_s); WALL1=$(date +%s.%N)
times >"$TMP/times.txt"   # (not in $(...): a subshell would report its own children)
OURS=$(tail -1 "$TMP/times.txt" | awk '{ split($1,a,"m"); split($2,b,"m"); sub("s","",a[2]); sub("s","",b[2]); print a[1]*60+a[2]+b[1]*60+b[2] }')
awk -v b0="$BUSY0" -v b1="$BUSY1" -v w0="$WALL0" -v w1="$WALL1" -v ours="$OURS" -v n="$(nproc)" 'BEGIN{
  printf "cpu_other_s=%.1f\ncpu_avail_s=%.1f\n", (b1-b0)-ours, n*(w1-w0);
  other = (b1-b0)-ours
  # The system-wide count (/proc/stat, without steal) can fall below our children'"'"'s own
  # (getrusage): then nothing else measurable ran.
  if (other < 0) printf "cpu_other=none measurable (the machine'"'"'s busy time, %.1f s, is %.1f s below this script'"'"'s own %.1f s) during the %.0f s of runs (%d CPUs = %.0f CPU-s available)\n", b1-b0, -other, ours, w1-w0, n, n*(w1-w0)
  else printf "cpu_other=%.1f s of CPU used by other processes and the kernel (incl. writeback of our files) during the %.0f s of runs (%d CPUs = %.0f CPU-s available; this script used %.1f s)\n", other, w1-w0, n, n*(w1-w0), ours }' >>"$TMP/machine.txt"
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$TMP/machine.txt"
T_END=$(date +%s)
echo "elapsed_s=$((T_END - T_MEASURE))" >>"$TMP/machine.txt"
echo "waited_s=$((T_MEASURE - T_START))" >>"$TMP/machine.txt"
echo "params=SAMPLES=$SAMPLES RATE=$RATE BURST=$BURST EVENTS=$EVENTS MEM_EVENTS=$MEM_EVENTS CAPACITY=$CAPACITY" >>"$TMP/machine.txt"

# ---------------------------------------------------------------- report
python3 - "$TMP/machine.txt" "$RES" "$CHECKS" bench/results/c.md <<'PY'
import json, sys
machine_f, res_f, checks_f, out_f = sys.argv[1:5]
M = dict(l.rstrip("\n").split("=", 1) for l in open(machine_f) if "=" in l)
R = {}
for l in open(res_f):
    l = l.strip()
    if l:
        d = json.loads(l); R[d["label"]] = d
C = {}
for l in open(checks_f):
    if l.strip():
        d = json.loads(l); C[d["label"]] = d

def get(label):
    d = R.get(label)
    return d if d and d.get("kind") != "failed" else None

def ns(v): return "n/a" if v is None else f"{v:,.0f} ns" if v < 10000 else f"{v/1000:,.1f} us"
def ratio(a, b):
    if a is None or b is None or b == 0: return "n/a"
    return f"{a/b:.2f}x"
def mib(kb): return f"{kb/1024:.1f} MiB"

L = []
w = L.append
w("## C: libmonitoring vs spdlog async vs fprintf")
w("")
w(f"Generated by `bench/run_c.sh` on {M.get('date')} (measurements: {M.get('elapsed_s')} s after {M.get('waited_s')} s of build/setup/waiting; {M.get('params')}).")
w("")
try:
    other, avail = float(M.get("cpu_other_s", "0")), float(M.get("cpu_avail_s", "1"))
except ValueError:
    other, avail = 0.0, 1.0
if avail > 0 and other / avail > 0.10:
    w(f"> **Warning: measured on a busy machine.** Other processes (and the kernel) used {other:.0f} of the {avail:.0f} CPU-seconds")
    w(f"> available during the runs ({100*other/avail:.0f}%; load average before: {M.get('loadavg_start')}). Wall-clock figures (latency")
    w("> percentiles, events/s) are pessimistic for every variant; the CPU/event figures are the least affected.")
    w("> Re-run on an idle machine (`WAIT_QUIET=600 bench/run_c.sh` waits for one) before quoting numbers.")
    w("")
w("### Machine")
w("")
w("| | |")
w("|---|---|")
for k, name in [("cpu","CPU (lscpu model name)"),("cpus","CPUs"),("cores_per_socket","cores per socket"),
                ("threads_per_core","threads per core"),("hypervisor","hypervisor"),("mem","memory"),
                ("kernel","kernel"),("clocksource","clocksource"),("fs","output filesystem"),
                ("dd_1m","page-cache write ceiling (dd, 1 MiB writes)"),("dd_4k","page-cache write (dd, 4 KiB writes)"),
                ("loadavg_start","load average before the runs"),("cpu_other","other CPU use during the runs"),
                ("cc","C compiler"),("cxx","C++ compiler"),("rustc","rustc"),("spdlog","libspdlog-dev"),
                ("fmt","libfmt-dev"),("glibc","glibc"),("commit","git commit")]:
    w(f"| {name} | {M.get(k,'?')} |")
w("")
w("### Method")
w("")
w("""All variants are built with `-O2` and run one after another in the same invocation; output goes to a
`mktemp -d` directory on the filesystem above (deleted at the end; `sync` before every run so one run's
writeback does not land in the next). Nothing is pinned.

The event. The SDK gets a static string, `monitoring_emit(c, EVENT)` with
`{"entity":{"type":"tool","id":"ETCH-07"},"event":{"kind":"metric","metrics":{"temp_c":21.5,"pressure_pa":101325.0},"metadata":{"lot":"LOT-42"}}}`;
the SDK validates it and adds `idempotency_key` (UUIDv7), `event.at`, `site_id` and `app.*` (the
configuration names app `bench`/`1.0.0`, site `fab1`, instance `bench-host`). The alternatives write the
same complete line themselves, per event: `clock_gettime(CLOCK_REALTIME)`; a UUIDv7-shaped key built from
the millisecond time, the thread number and a per-thread counter (hand-written hex, no RNG); an RFC 3339
UTC microsecond timestamp (seconds part cached per thread and re-rendered with `gmtime_r`+`strftime` when the
second changes, microseconds appended by hand); then
- **fprintf**: `fprintf(f, LINE_FMT "\\n", key, ts)` into one `FILE*` shared by the threads (stdio's own lock,
  default glibc buffering = 4 KiB for a regular file); throughput stops when `fclose` returns.
- **spdlog async** (1.10, Debian): `snprintf(buf, LINE_FMT, key, ts)` on the stack, then
  `logger->log(level::info, string_view(buf, n))` on an `async_logger` with one worker thread, a queue of
  `CAPACITY` slots, a `basic_file_sink_mt` and pattern `%v` (message + newline only). Overflow policy
  `block` for throughput, `overrun_oldest` for latency (1.10 has no discard-new). Throughput stops when the
  thread pool's destructor has drained the queue and joined its worker and the sink has closed the file.
- **monitoring** (direct mode): one client shared by the threads, inline YAML config: one filesystem
  backend `{type: filesystem, name: bench, path: DIR, fsync: never, rotate_mb: 1024}`,
  `queue: {capacity: CAPACITY, on_full: block|drop, batch_max: 512, flush_interval_ms: 100}`
  (`drop` for latency, `block` for throughput). Throughput stops when `monitoring_flush` returns OK.

The lines written by the three variants carry the same fields; the bytes/event column below shows how
close their sizes are.

Latency (`emit_latency`, `alt_* --mode latency`): each thread first makes 20,000 untimed warm-up calls,
then the timed calls (SAMPLES in total, split over the threads) in bursts of BURST calls, all threads
on one common schedule that totals RATE events/s (threads burst at the same moments, so with 2 threads
they contend), sleeping (`clock_nanosleep`, absolute) between bursts. The pace keeps every queue far
from full: a run only counts as "queue not full" if it reports 0 drops (SDK: `MONITORING_ERR_QUEUE_FULL`
returns with `on_full: drop`; spdlog: its overrun counter). Each call is timed with two
`clock_gettime(CLOCK_MONOTONIC)` calls (vDSO) into a preallocated array, sorted, nearest-rank
percentiles. The cost of the timing itself (two back-to-back `clock_gettime`, 1M samples) is measured in
the same process and shown in the "timer" column; the percentiles are **raw** (timer overhead included);
"net" figures subtract the timer p50. A second pass of SAMPLES/10 calls times whole bursts only (no
per-call timer): "mean (burst)" is that time / calls. "late bursts": bursts of pass 1 that ran past the
start of their thread's next slot (the pace was not held; informative only).

Throughput (`throughput`, `alt_* --mode throughput`): EVENTS events in total from 1 or 2 threads, as fast
as they go, clock from the release of the threads to the end condition above (all events in the
page cache: the SDK's `fsync: never`, spdlog/fprintf never fsync either). events/s = lines written / time;
MB/s = bytes of all output files / time (10^6 bytes). After each run the harness counts the lines of all
output files (must equal events - drops), checks the first and last lines parse as JSON with the schema's
fields, and for the 2-thread SDK run that all idempotency keys are distinct.

Memory: `getrusage(RUSAGE_SELF).ru_maxrss` at the end of each process ("before" = peak RSS after setup,
before the first event). The harness allocates nothing per event, so growth is the logger's.""")
w("")

# ---------------- latency
w("### monitoring_emit latency (queue not full)")
w("")
w("| variant | threads | timed calls | p50 | p90 | p99 | p99.9 | max | mean (burst) | timer p50 | drops | late bursts |")
w("|---|---|---|---|---|---|---|---|---|---|---|---|")
names = {"monitoring":"monitoring_emit","spdlog":"spdlog async","fprintf":"fprintf"}
for t in (1, 2):
    for v in ("monitoring","spdlog","fprintf"):
        d = get(f"lat_{v}_t{t}")
        if not d: w(f"| {names[v]} | {t} | FAILED | | | | | | | | | |"); continue
        l = d["lat"]
        drops = d.get("sdk_dropped", d["drops"]) if v == "monitoring" else d["drops"]
        w(f"| {names[v]} | {t} | {l['n']:,} | {ns(l['p50'])} | {ns(l['p90'])} | {ns(l['p99'])} | {ns(l['p999'])} | {ns(l['max'])} | "
          f"{d['burst_mean_ns']:.0f} ns | {d['overhead']['p50']} ns | {drops} | {d['late_bursts']} |")
w("")
w("The same `monitoring_emit` harness, 1 thread, with other events than the one static text: `values`, 64 events of the")
w("benchmark's shape whose values all differ (entity id, metric values, lot) taken in turn; `shapes`, 64 events of four")
w("shapes in turn (the benchmark's metric, a job's progress with status and message, a log with metadata, a heartbeat),")
w("values differing too (`--vary`, bench/c/sdk_common.h). `emit` reads an event whose text outside its values is that of")
w("one of the last four shapes its thread emitted by comparing that text (`event/shape.rs`); these rows show that its")
w("figures do not come from the same text being passed again.")
w("")
w("| events | p50 | p90 | p99 | p99.9 | max | mean (burst) | drops |")
w("|---|---|---|---|---|---|---|---|")
for label, name in (("lat_monitoring_t1", "the static event"), ("lat_monitoring_values_t1", "values vary"),
                    ("lat_monitoring_shapes_t1", "four shapes in turn")):
    d = get(label)
    if not d: w(f"| {name} | FAILED | | | | | | |"); continue
    l = d["lat"]
    w(f"| {name} | {ns(l['p50'])} | {ns(l['p90'])} | {ns(l['p99'])} | {ns(l['p999'])} | {ns(l['max'])} | "
      f"{d['burst_mean_ns']:.0f} ns | {d.get('sdk_dropped', d['drops'])} |")
w("")
w("Ratios (monitoring / alternative, same percentile, raw; < 1 means monitoring is faster):")
w("")
w("| threads | percentile | monitoring | vs spdlog async | vs fprintf |")
w("|---|---|---|---|---|")
for t in (1, 2):
    m, s, f = get(f"lat_monitoring_t{t}"), get(f"lat_spdlog_t{t}"), get(f"lat_fprintf_t{t}")
    if not m: continue
    for p, pn in (("p50","p50"),("p99","p99"),("p999","p99.9")):
        mv = m["lat"][p]
        w(f"| {t} | {pn} | {ns(mv)} | {ratio(mv, s['lat'][p] if s else None)} (spdlog {ns(s['lat'][p]) if s else 'n/a'}) | "
          f"{ratio(mv, f['lat'][p] if f else None)} (fprintf {ns(f['lat'][p]) if f else 'n/a'}) |")
    w(f"| {t} | mean (burst) | {m['burst_mean_ns']:.0f} ns | {ratio(m['burst_mean_ns'], s['burst_mean_ns'] if s else None)} | "
      f"{ratio(m['burst_mean_ns'], f['burst_mean_ns'] if f else None)} |")
w("")

# ---------------- throughput
w("### Sustained throughput into JSONL (until flush / drain / fclose returns)")
w("")
w("| variant | threads | events | lines in files | drops | time | emit phase | events/s | MB/s | bytes/event | CPU/event | peak RSS | RSS before | check |")
w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
def tp_row(label, name):
    d = get(label); c = C.get(label, {})
    if not d: w(f"| {name} | | FAILED | | | | | | | | | | | |"); return
    written = d["events"] - d["drops"]
    ok = c.get("lines") == written and c.get("valid") and (c.get("distinct_keys") in (None, written))
    chk = ("ok" if ok else "**MISMATCH**") + (f", {c['distinct_keys']:,} distinct keys" if c.get("distinct_keys") is not None else "")
    bpe = d["bytes"] / written if written else 0
    w(f"| {name} | {d['threads']} | {d['events']:,} | {c.get('lines', 'n/a'):,} | {d['drops']:,} | {d['total_s']:.2f} s | {d['emit_s']:.2f} s | "
      f"{d['events_per_s']:,.0f} | {d['mb_per_s']:,.1f} | {bpe:.0f} | {d['cpu_ns_per_event']:,.0f} ns | {mib(d['peak_rss_kb'])} | {mib(d['rss_before_kb'])} | {chk} |")
for t in (1, 2):
    for v in ("monitoring","spdlog","fprintf"):
        tp_row(f"tp_{v}_t{t}", names[v].replace("_emit",""))
w("")
w("CPU/event = CPU time (user+system, all threads of the process, from the release of the emitting threads to the end) / events.")
w("")
w("Where the SDK's time goes (its internal threads, from `/proc/self/task/*/schedstat` after the flush; the emitting")
w("threads' share is the process CPU minus these):")
w("")
w("| run | thread | CPU s | CPU per event | run-queue wait s |")
w("|---|---|---|---|---|")
for t in (1, 2):
    d = get(f"tp_monitoring_t{t}")
    if not d or not isinstance(d.get("threads_cpu"), dict): continue
    inner = 0.0
    for comm, v in d["threads_cpu"].items():
        if comm.startswith("mon-") or comm not in ("throughput",):
            if v["run_s"] < 0.01: continue
            inner += v["run_s"]
            w(f"| {t} thread{'s' if t>1 else ''} | {comm} (x{v['n']}) | {v['run_s']:.2f} | {v['run_s']*1e9/d['events']:,.0f} ns | {v['runq_wait_s']:.2f} |")
    rest = d["cpu_s"] - inner
    w(f"| {t} thread{'s' if t>1 else ''} | emitting thread(s) (rest) | {rest:.2f} | {rest*1e9/d['events']:,.0f} ns | |")
w("")
w("Ratios (monitoring events/s / alternative events/s; > 1 means monitoring is faster):")
w("")
w("| threads | monitoring events/s | vs spdlog async | vs fprintf |")
w("|---|---|---|---|")
for t in (1, 2):
    m, s, f = get(f"tp_monitoring_t{t}"), get(f"tp_spdlog_t{t}"), get(f"tp_fprintf_t{t}")
    if not m: continue
    w(f"| {t} | {m['events_per_s']:,.0f} | {ratio(m['events_per_s'], s['events_per_s'] if s else None)} | "
      f"{ratio(m['events_per_s'], f['events_per_s'] if f else None)} |")
w("")

# ---------------- memory
w("### Memory bound (peak RSS)")
w("")
w("| run | events | on_full | capacity | drops | peak RSS | RSS before emitting | growth | data written |")
w("|---|---|---|---|---|---|---|---|---|")
for label, name in (("tp_monitoring_t1","monitoring, 1 thread"),("mem_monitoring_big","monitoring, 1 thread"),
                    ("tp_monitoring_t2","monitoring, 2 threads"),("mem_monitoring_drop","monitoring, 2 threads, flood"),
                    ("tp_spdlog_t1","spdlog async, 1 thread"),("tp_fprintf_t1","fprintf, 1 thread")):
    d = get(label)
    if not d: continue
    w(f"| {name} | {d['events']:,} | {d.get('on_full') or '-'} | {d['capacity']:,} | {d['drops']:,} | {mib(d['peak_rss_kb'])} | "
      f"{mib(d['rss_before_kb'])} | {mib(d['peak_rss_kb']-d['rss_before_kb'])} | {d['bytes']/1e6:,.0f} MB |")
w("")

# ---------------- example lines
w("### One line of each variant's output (from the 1-thread throughput runs)")
w("")
for label, name in (("tp_monitoring_t1","monitoring"),("tp_spdlog_t1","spdlog async"),("tp_fprintf_t1","fprintf")):
    c = C.get(label)
    if c:
        w(f"{name} ({len(c['first_line'].encode())} bytes + newline):")
        w("")
        w("```json"); w(c["first_line"]); w("```")
        w("")

# ---------------- targets
w("### Targets")
w("")
def verdict(ok): return "met" if ok else "**not met**"
rows = []
for t in (1, 2):
    m = get(f"lat_monitoring_t{t}")
    if not m: rows.append((f"emit p50 <= 200 ns ({t} thread)", "run failed")); continue
    drops = m.get("sdk_dropped", m["drops"])
    ov = m["overhead"]["p50"]
    for p, lim, pn in (("p50", 200, "p50 <= 200 ns"), ("p99", 1000, "p99 <= 1 us")):
        raw = m["lat"][p]; net = raw - ov
        v = verdict(raw <= lim) if raw <= lim or net > lim else f"met only net of the timer ({net} ns net)"
        rows.append((f"emit {pn}, {t} thread{'s' if t>1 else ''}", f"{v}: {raw} ns raw, {net} ns net" + (f" (drops {drops}: queue was full at times)" if drops else "")))
best = max([get(f"tp_monitoring_t{t}") for t in (1,2) if get(f"tp_monitoring_t{t}")], key=lambda d: d["events_per_s"], default=None)
for t in (1, 2):
    d = get(f"tp_monitoring_t{t}")
    if d: rows.append((f">= 1,000,000 events/s to file, {t} thread{'s' if t>1 else ''}", f"{verdict(d['events_per_s'] >= 1e6)}: {d['events_per_s']:,.0f} events/s, {d['mb_per_s']:,.1f} MB/s"))
small, big, flood = get("tp_monitoring_t1"), get("mem_monitoring_big"), get("mem_monitoring_drop")
if small and big:
    g_big = big["peak_rss_kb"]-big["rss_before_kb"]
    bpe = big["bytes"] / max(1, big["events"] - big["drops"])
    nominal_kb = big["capacity"] * bpe / 1024
    # Bounded by the capacity, not by the smaller run: how full the queue gets in either run
    # depends on the machine's load, so their peaks can differ by up to a full queue. The bound:
    # 1.5 x a full queue of events (each queued with its offsets and allocator overhead) plus
    # 8 MiB for the batches in flight, plus the emitting thread's ring of blocks (256 KiB, a
    # fixed cost per thread like its stack: core/src/event/blocks.rs).
    bound_kb = 1.5 * nominal_kb + 8192 + 256
    bounded = g_big <= bound_kb
    txt = (f"{verdict(bounded)}: peak RSS {mib(big['peak_rss_kb'])} after {big['events']:,} events vs {mib(small['peak_rss_kb'])} after "
           f"{small['events']:,} (capacity {big['capacity']:,}; {big['bytes']/1e6:,.0f} MB written)")
    txt += (f"; growth {g_big/1024:.1f} MiB, bound 1.5 x (queue capacity x bytes/event = {nominal_kb/1024:.1f} MiB)"
            f" + 8 MiB + the thread's 0.25 MiB ring = {bound_kb/1024:.1f} MiB")
    if flood: txt += f"; flood with on_full: drop: {mib(flood['peak_rss_kb'])}, {flood['drops']:,} dropped"
    rows.append(("memory bounded by queue capacity", txt))
w("| target | result |")
w("|---|---|")
for a, b in rows: w(f"| {a} | {b} |")
w("")
open(out_f, "w").write("\n".join(L))
print("\n".join(L))
PY
log "wrote bench/results/c.md in $(( $(date +%s) - T_START )) s"
