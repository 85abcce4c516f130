# The two commands for a fresh machine: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
PREFIX ?= /usr/local
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# One cargo target directory for every build (core, ffi, and later the wheel, jar, R package).
export CARGO_TARGET_DIR := $(CURDIR)/target
LIBDIR := $(CARGO_TARGET_DIR)/release
STAGE := $(CARGO_TARGET_DIR)/stage

.PHONY: all lib deps header check stage test test-rust test-c test-conformance demo bench install clean

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

test: deps check test-rust lib stage test-c test-conformance
	@echo "make test: all suites passed"

test-rust:
	cargo test --workspace

test-c: lib stage
	LIBDIR=$(LIBDIR) PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig REQUIRE_PKG_CONFIG=1 tests/c/run.sh

test-conformance: lib
	CONFORMANCE_NO_BUILD=1 LIBDIR=$(LIBDIR) tests/conformance/run.sh c

demo: deps stage
	@scripts/demo.sh $(STAGE)

bench: deps lib
	bench/run_c.sh
	scripts/assemble-benchmarks.sh

clean:
	cargo clean
