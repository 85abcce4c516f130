#!/usr/bin/env bash
# Puts the engine (crate monitoring-core) into the R package, so that a source tarball made by
# `R CMD build r` builds anywhere: r/src/rust/vendor/monitoring-core is the crate as
# `cargo package` makes it (workspace settings resolved, so it builds on its own); the versions of
# its dependencies are pinned by r/src/rust/Cargo.lock. r/configure uses it when it runs outside
# the repository. Run before `R CMD build r`:
#
#   r/tools/vendor-core.sh && R CMD build r
#
# r/src/rust/vendor is not committed (r/.gitignore); r/run-tests.sh runs this script.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
vendor="$here/src/rust/vendor"

version=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "monitoring-core"))')
(cd "$root" && cargo package -q -p monitoring-core --no-verify --allow-dirty)
crate="$CARGO_TARGET_DIR/package/monitoring-core-$version.crate"
[ -f "$crate" ] || { echo "vendor-core.sh: $crate was not made" >&2; exit 1; }

rm -rf "$vendor"
mkdir -p "$vendor"
tar -xzf "$crate" -C "$vendor"
mv "$vendor/monitoring-core-$version" "$vendor/monitoring-core"
# What cargo adds for crates.io and the R package does not need (hidden files are a NOTE in
# R CMD check).
rm -f "$vendor/monitoring-core/.cargo_vcs_info.json" "$vendor/monitoring-core/.cargo-ok" \
      "$vendor/monitoring-core/Cargo.toml.orig" "$vendor/monitoring-core/Cargo.lock"
# `cargo package` gives every file one fixed old date, and cargo decides what to rebuild by
# modification times: date the copy now, so that a build from it never reuses a build of an older
# engine left in the shared target directory.
find "$vendor" -exec touch {} +
echo "vendor-core.sh: monitoring-core $version -> ${vendor#$root/}"
