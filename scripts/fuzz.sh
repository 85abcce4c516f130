#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 20: the short run of `make test`;
# `make fuzz SECONDS=600` by hand). Needs the nightly toolchain and cargo-fuzz (installed here
# if missing). A crash is copied to fuzz/regressions/<target>/, which `cargo test` replays
# (core/tests/fuzz_regressions.rs), so that every crash found becomes a regression test; each
# run also starts with them (a second corpus directory), the only replay for `request`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET=${1:-20}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal ||
  { echo "fuzz: the nightly toolchain is required (rustup toolchain install nightly)" >&2; exit 1; }
status=0
for target in event shape config spool_segment request; do
  mkdir -p "corpus/$target" "artifacts/$target" "regressions/$target"
  [ -d "seeds/$target" ] && cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
  echo "== fuzz $target for ${SECONDS_PER_TARGET}s"
  # regressions/<target> as a second corpus: every input that once crashed is run again first.
  # `shape` takes two events: the event dictionary serves it too.
  dict_file="dicts/$target.dict"; [ "$target" = shape ] && dict_file=dicts/event.dict
  dict=(); [ -f "$dict_file" ] && dict=(-dict="$dict_file")
  if ! cargo +nightly fuzz run "$target" "corpus/$target" "regressions/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=65536 "${dict[@]}" \
        -artifact_prefix="artifacts/$target/" 2>"artifacts/$target.log"; then
    status=1
    tail -30 "artifacts/$target.log" >&2
    for crash in artifacts/"$target"/crash-* artifacts/"$target"/timeout-*; do
      [ -f "$crash" ] && cp "$crash" "regressions/$target/" && echo "fuzz: new regression input regressions/$target/$(basename "$crash")" >&2
    done
  else
    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "artifacts/$target.log" | tail -1 || true
  fi
done
exit $status
