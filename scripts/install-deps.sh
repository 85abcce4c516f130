#!/usr/bin/env bash
# Installs what the tests, the demo and the benchmarks need on a fresh Debian machine.
# Idempotent and quick when everything is there already. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# Java (the jar, JUnit, JMH) needs a JDK 17 and Maven; R the Debian r-cran-* packages (no CRAN here).
APT_PACKAGES=(pkg-config libcjson-dev libspdlog-dev valgrind libjson-xs-perl
  openjdk-17-jdk-headless maven
  r-base-dev r-cran-testthat r-cran-jsonlite r-cran-knitr r-cran-rmarkdown r-cran-roxygen2)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import jsonschema' 2>/dev/null; then
  echo "install-deps: pip install -r tests/requirements.txt"
  python3 -m pip install -q -r tests/requirements.txt
fi
