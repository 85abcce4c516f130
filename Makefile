# The two commands for a fresh machine: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
PREFIX ?= /usr/local
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# One cargo target directory for every build (core, ffi, and later the wheel, jar, R package).
export CARGO_TARGET_DIR := $(CURDIR)/target
LIBDIR := $(CARGO_TARGET_DIR)/release
STAGE := $(CARGO_TARGET_DIR)/stage

.PHONY: all lib deps header check stage test test-rust test-c test-sidecar test-python test-java test-r test-perl test-conformance test-fuzz test-faults soak demo bench fuzz install clean

all: lib

deps:
	@scripts/install-deps.sh

lib:
	cargo build --release -p monitoring-ffi

# Regenerates include/monitoring.h from ffi/src with cbindgen (CI fails on any drift).
header:
	UPDATE_HEADER=1 cargo test -q -p monitoring-ffi header_is_current

check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(LIBDIR)/libmonitoring.so $(DESTDIR)$(PREFIX)/lib/libmonitoring.so
	install -m 0644 $(LIBDIR)/libmonitoring.a $(DESTDIR)$(PREFIX)/lib/libmonitoring.a
	install -m 0644 include/monitoring.h $(DESTDIR)$(PREFIX)/include/monitoring.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' ffi/monitoring.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/monitoring.pc

# The library installed into target/stage, the way a user would have it.
stage:
	$(MAKE) --no-print-directory install PREFIX=$(STAGE) >/dev/null

test: deps check test-rust lib stage test-c test-sidecar test-faults test-python test-java test-r test-perl test-conformance test-fuzz
	@echo "make test: all suites passed"

test-rust:
	cargo test --workspace

test-c: lib stage
	LIBDIR=$(LIBDIR) PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig REQUIRE_PKG_CONFIG=1 tests/c/run.sh

# The agent, as real processes on 127.0.0.1: C app -> agent -> JSONL, agent -> aggregator,
# earlier clients' bodies, every error answer, SIGHUP under load, SIGTERM.
test-sidecar: lib
	tests/sidecar/run.sh

# Fault injection, real processes: kill -9 of the agent under durable_ack load (50 kills), a full
# tmpfs (needs root), a backend that never answers, a refusing backend beside a healthy one,
# 20 forked children.
test-faults: lib
	tests/faults/run.sh

# The long fault run, by hand: 300 kills, more load, more throughput pairs.
soak: lib
	SOAK=1 tests/faults/run.sh

# The Python wheel: built with maturin, installed into a fresh venv (target/py-venv), pytest.
test-python:
	python/run-tests.sh

# The Java package: the jar with its native library (mvn install), JUnit 5 under Surefire
# (conformance, 16 threads, sidecar mode, a fresh Maven project using the installed jar).
test-java: lib
	java/run-tests.sh

# The R package: roxygen docs current, R CMD check (no ERROR/WARNING), testthat (conformance, sidecar).
test-r: lib
	r/run-tests.sh

# The Perl distribution (XS over the C ABI): Makefile.PL, make, prove.
test-perl: lib
	PERL_NO_CARGO=1 perl/run-tests.sh

# The same scenarios through the C, Python and Perl drivers (after test-python built the venv);
# test-java and test-r replay them through Java and R inside their own suites.
test-conformance: lib
	CONFORMANCE_NO_BUILD=1 LIBDIR=$(LIBDIR) tests/conformance/run.sh c python perl

demo: deps stage
	@scripts/demo.sh $(STAGE)
	@scripts/demo-sidecar.sh $(STAGE)

bench: deps lib
	bench/run_instructions.sh
	bench/run_c.sh
	bench/run_sidecar.sh
	python/bench/run.sh
	java/run-bench.sh
	r/bench/run.sh
	perl/bench/run.sh
	bench/run_spool.sh
	scripts/assemble-benchmarks.sh

# A short bounded pass of every fuzz target (nightly + cargo-fuzz; crashes become regressions).
test-fuzz:
	scripts/fuzz.sh 15

# Fuzzing by hand: make fuzz FUZZ_SECONDS=600 (make test runs a short bounded pass).
FUZZ_SECONDS ?= 300
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	cargo clean
