#!/usr/bin/env bash
# JMH benchmarks of the Java package, compared in the same run with Log4j2's async logger (LMAX
# disruptor, JsonTemplateLayout, file) and the OpenTelemetry Java SDK logs (BatchLogRecordProcessor,
# a file exporter). Writes bench/results/java.md (machine, method, results). About 6 minutes.
#
#   java/run-bench.sh                 build (mvn install of the library, the JMH jar), run, report
#   WAIT_QUIET=600 java/run-bench.sh  first wait up to 600 s for the 1-minute load average to drop
#                                     below 1.0 (the machine has 2 cores; other builds skew latency)
#   JMH_OPTS='-f 1 -wi 1 -w 1s -i 1 -r 1s -t 1' java/run-bench.sh   a quick smoke run (the default
#                                     is '-f 1 -wi 3 -w 3s -i 3 -r 5s -t 1')
#   JMH_ARGS='Monitoring' ...         more JMH arguments, e.g. a regex of the benchmarks to run
#
# Environment: CARGO_TARGET_DIR (default ./target; the run happens in $CARGO_TARGET_DIR/bench-java),
# MAVEN_REPO_LOCAL, MAVEN_OFFLINE=1, OUT (default bench/results/java.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$ROOT/bench/results/java.md}
log() { echo "[java/run-bench] $*" >&2; }

MVN_OPTS=(-B -q -Dmonitoring.cargo.targetDir="$CARGO_TARGET_DIR")
[ -n "${MAVEN_REPO_LOCAL:-}" ] && MVN_OPTS+=(-Dmaven.repo.local="$MAVEN_REPO_LOCAL")
[ "${MAVEN_OFFLINE:-0}" = 1 ] && MVN_OPTS+=(-o)

log "building: mvn install -DskipTests (library), mvn package (java/bench: JMH, Log4j2, OpenTelemetry)"
(cd "$ROOT/java" && mvn "${MVN_OPTS[@]}" install -DskipTests) >&2
(cd "$ROOT/java/bench" && mvn "${MVN_OPTS[@]}" package) >&2
JAR=$ROOT/java/bench/target/benchmarks.jar

if [ -n "${WAIT_QUIET:-}" ]; then
    end=$((SECONDS + WAIT_QUIET))
    while [ $SECONDS -lt $end ] && awk '{exit !($1 >= 1.0)}' /proc/loadavg; do
        log "waiting for a quieter machine (load $(cut -d' ' -f1-3 /proc/loadavg))"
        sleep 15
    done
fi

RUN=$CARGO_TARGET_DIR/bench-java
rm -rf "$RUN" && mkdir -p "$RUN"
cd "$RUN"
for v in $(compgen -e); do case $v in MONITORING_*) unset "$v" ;; esac; done

cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY_BEFORE=$(cpu_busy)
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$SECONDS
log "running JMH (log: $RUN/jmh.log)"
# shellcheck disable=SC2086
/usr/bin/time -f '%e %U %S' -o time.txt \
    java -jar "$JAR" ${JMH_OPTS:--f 1 -wi 3 -w 3s -i 3 -r 5s -t 1} -rf json -rff jmh.json ${JMH_ARGS:-} 2>&1 \
    | tee jmh.log >&2
BUSY_AFTER=$(cpu_busy)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T0))
HZ=$(getconf CLK_TCK)

export START ELAPSED LOAD_BEFORE LOAD_AFTER BUSY_BEFORE BUSY_AFTER HZ OUT ROOT
export CPU_MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
export CPUS=$(nproc)
export MEM=$(free -g | awk '/^Mem:/{print $2 " GiB"}')
export KERNEL=$(uname -r)
export JAVA_VERSION=$(java -version 2>&1 | sed -n 2p)
export MAVEN_VERSION=$(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g')
export RUSTC_VERSION=$(rustc --version 2>/dev/null || echo unknown)
export GIT_COMMIT=$(cd "$ROOT" && git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
export GIT_DIRTY=$(cd "$ROOT" && git status --porcelain 2>/dev/null | head -1)
python3 "$ROOT/java/bench/report.py" jmh.json bench-stats.jsonl time.txt > "$OUT"
log "wrote $OUT"
