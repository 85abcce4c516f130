#!/usr/bin/env bash
# `make demo`: builds the C example against the installed library (pkg-config), runs it with
# no configuration at all (the embedded default: direct mode, JSONL under ./monitoring-events),
# and shows the events it wrote; then the same failing job from Python, Perl, Java and R.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: demo.sh STAGE_PREFIX}
export PKG_CONFIG_PATH="$stage/lib/pkgconfig"
run=target/demo
rm -rf "$run" && mkdir -p "$run"

echo "== building examples/c/job_demo.c with: cc \$(pkg-config --cflags --libs monitoring)"
cc -O2 -Wall -o "$run/job_demo" examples/c/job_demo.c $(pkg-config --cflags --libs monitoring) \
   -Wl,-rpath,"$stage/lib" -lpthread

echo "== running it in $run (no configuration: the embedded default)"
(cd "$run" && ./job_demo) || true

echo
echo "== events written to $run/monitoring-events/:"
python3 scripts/show-events.py "$run/monitoring-events"

echo
echo "== Python: the same failing job from python/examples/job_fails.py (wheel installed into target/py-venv)"
python/run-tests.sh --install-only >/dev/null
rm -rf target/demo-python-events
target/py-venv/bin/python python/examples/job_fails.py target/demo-python-events

echo
echo "== Perl: the same failing job from perl/examples/job_fails.pl (the XS distribution, built in target/perl)"
PERL_NO_CARGO=1 perl/run-tests.sh --build-only >/dev/null
rm -rf target/demo-perl && mkdir -p target/demo-perl
(cd target/demo-perl && perl -Mblib="$OLDPWD/target/perl/Monitoring" "$OLDPWD/perl/examples/job_fails.pl")

echo
echo "== Java: the same failing job from java/examples/JobDemo.java (the jar carries its native library)"
java/run-demo.sh

echo
echo "== R: the same failing job from r/inst/examples/job_fails.R (R CMD INSTALL into target/demo-r/lib)"
rm -rf target/demo-r && mkdir -p target/demo-r/lib
R CMD INSTALL --no-test-load -l target/demo-r/lib r >target/demo-r/install.log 2>&1 || {
  tail -30 target/demo-r/install.log; exit 1; }
(cd target/demo-r && R_LIBS="$PWD/lib" Rscript "$OLDPWD/r/inst/examples/job_fails.R" r-events)
