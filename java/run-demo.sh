#!/usr/bin/env bash
# The Java demo (for `make demo`): builds the jar if needed, runs java/examples/JobDemo.java with no
# configuration (the embedded default: JSONL under ./monitoring-events) in target/demo-java, and
# shows the events it wrote. A job that fails, under a lot that is canceled.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
JAR=$ROOT/java/target/monitoring-0.1.0.jar
if [ ! -f "$JAR" ] || [ "${DEMO_REBUILD:-1}" = 1 ]; then
    echo "== building the jar: (cd java && mvn package -DskipTests)"
    (cd "$ROOT/java" && mvn -B -q package -DskipTests -Dmonitoring.cargo.targetDir="$CARGO_TARGET_DIR")
fi
run=$CARGO_TARGET_DIR/demo-java
rm -rf "$run" && mkdir -p "$run"
for v in $(compgen -e); do case $v in MONITORING_*) unset "$v" ;; esac; done
echo "== running java -cp $(basename "$JAR") java/examples/JobDemo.java in $run (no configuration)"
cd "$run" && java -cp "$JAR" "$ROOT/java/examples/JobDemo.java"
