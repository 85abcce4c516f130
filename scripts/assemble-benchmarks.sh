#!/usr/bin/env bash
# Assembles BENCHMARKS.md from the sections the harnesses wrote to bench/results/*.md.
# Each section carries its own machine description, method and the run it came from.
set -euo pipefail
cd "$(dirname "$0")/.."
out=BENCHMARKS.md
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (\`scripts/assemble-benchmarks.sh\` joins the sections each harness"
  echo "writes to \`bench/results/\`). Every comparison is measured in the same run as the figures it is"
  echo "compared with; ratios are given beside absolute numbers. Timings are never asserted in tests."
  echo
  for section in instructions c sidecar python java r perl spool; do
    f=bench/results/$section.md
    [ -f "$f" ] || continue
    cat "$f"
    echo
  done
} > "$out"
echo "wrote $out"
