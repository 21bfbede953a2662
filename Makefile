# dmclass — build, test, demo. Every target installs what it needs (scripts/deps).
CARGO ?= cargo
SHELL := /bin/bash

.PHONY: all deps build man deb check-style unit-test fuzz test demo bench clean help

all: build

help:
	@echo "make demo       boot a QEMU VM with scratch disks and run dmclass in it (main job)"
	@echo "make test       everything CI runs: style, unit + simulated tests, fuzzing, VM tier"
	@echo "make unit-test  unit and simulated end-to-end tests only (no VM)"
	@echo "make fuzz       every fuzz target for FUZZ_SECONDS (default 60) each (nightly; docs/fuzzing.md)"
	@echo "make vm-test    VM tier only; one scenario: make vm-test-one SCENARIO=name"
	@echo "make bench      benchmarks (ratios against baselines, same run)"
	@echo "make man        man pages and bash/zsh/fish completions into target/generated/"
	@echo "make deb        the Debian package into target/debian/, checked by lintian (docs/packaging.md)"

deps:
	scripts/deps all

build: deps
	$(CARGO) build --locked --workspace

# Style includes the shape: no import cycle in any crate (scripts/modgraph, docs/architecture.md).
# Man pages (dmclass(8), one per command, dmclass.yaml(5)) and completions, generated
# from the same clap definitions as --help (crates/dmclass-doc).
man: deps
	$(CARGO) run -q --locked -p dmclass-doc -- target/generated
	@echo "read one: man -l target/generated/man/dmclass.8"

# The Debian package (cargo-deb; scripts/deb installs it and lintian when missing).
# DEB_VERSION=0.1.1-1 builds another version (an upgrade test).
deb: deps
	scripts/deb $(if $(DEB_VERSION),--deb-version $(DEB_VERSION))

check-style: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	scripts/modgraph --check

unit-test: deps
	$(CARGO) test --locked

# Bounded: FUZZ_SECONDS per target, one libFuzzer process per CPU; scripts/fuzz
# installs cargo-fuzz itself and fails on any crash (docs/fuzzing.md).
FUZZ_SECONDS ?= 60
fuzz:
	scripts/deps build
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz

test: check-style unit-test fuzz vm-test

clean:
	$(CARGO) clean

# The VM targets (Makefile.vm) build dmclass first; make sure the packages are there.
vm-dmclass: deps

include Makefile.vm
-include Makefile.bench
