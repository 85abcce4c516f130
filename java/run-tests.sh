#!/usr/bin/env bash
# Builds and tests the Java package (dev.monitoring:monitoring). The last line printed is
# Surefire's summary ("Tests run: N, Failures: F, Errors: E, Skipped: S"); the exit status is
# non-zero when a test or the build failed.
#
#   java/run-tests.sh [MAVEN ARGS...]      e.g. java/run-tests.sh -Dtest=JobTest
#
# Steps:
#   1. target/release/monitoring-sidecar, for the sidecar-mode tests (built if missing and the
#      sidecar crate exists; the test skips with a reason otherwise);
#   2. mvn install -DskipTests: cargo build --release -p monitoring-java, the jar with
#      /native/linux-x86_64/libmonitoring_jni.so inside, installed in the local Maven repository
#      (the consumer-project test depends on it from there);
#   3. mvn test: JUnit 5 under Surefire: every API, null and invalid inputs, 16 threads, the
#      native boundary under -Xcheck:jni, the conformance scenarios (tests/conformance/run.sh
#      java), sidecar mode against the real agent, a fresh Maven project outside the tree.
#
# Environment: CARGO_TARGET_DIR (default ./target, shared with the workspace), MAVEN_REPO_LOCAL
# (a local repository other than ~/.m2/repository), MAVEN_OFFLINE=1 (mvn -o, once the plugins are
# downloaded), MVN (the mvn command).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
MVN=${MVN:-mvn}
log() { echo "[java/run-tests] $*" >&2; }

command -v java >/dev/null && command -v "$MVN" >/dev/null || {
    log "needs a JDK 17+ and Maven (Debian: apt-get install -y openjdk-17-jdk-headless maven)"
    exit 2
}

MVN_OPTS=(-B -Dmonitoring.cargo.targetDir="$CARGO_TARGET_DIR")
[ -n "${MAVEN_REPO_LOCAL:-}" ] && MVN_OPTS+=(-Dmaven.repo.local="$MAVEN_REPO_LOCAL")
[ "${MAVEN_OFFLINE:-0}" = 1 ] && MVN_OPTS+=(-o)

if [ ! -x "$CARGO_TARGET_DIR/release/monitoring-sidecar" ] && [ -f "$ROOT/sidecar/Cargo.toml" ]; then
    log "building the agent for the sidecar tests: cargo build --release -p monitoring-sidecar"
    (cd "$ROOT" && cargo build --release -p monitoring-sidecar) >&2
fi

log "mvn install -DskipTests (native library, jar, local repository)"
(cd "$ROOT/java" && "$MVN" "${MVN_OPTS[@]}" -q install -DskipTests) >&2

mkdir -p "$ROOT/java/target"
LOG=$ROOT/java/target/run-tests.log
log "mvn test (log: $LOG)"
set +e
(cd "$ROOT/java" && "$MVN" "${MVN_OPTS[@]}" test -Dmonitoring.cargo.skip=true \
    -Dmonitoring.requireConsumerTest=true "$@") 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
summary=$(grep -E 'Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$' "$LOG" | tail -1 \
    | sed -E 's/^\[[A-Z]+\] //')
echo "${summary:-Tests run: 0 (Maven failed before Surefire; see $LOG)}"
exit "$status"
