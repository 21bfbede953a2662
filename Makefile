# dmclass — build, test, demo. Every target installs what it needs (scripts/deps).
CARGO ?= cargo
SHELL := /bin/bash

.PHONY: all deps build check-style unit-test test demo bench clean help

all: build

help:
	@echo "make demo       boot a QEMU VM with scratch disks and run dmclass in it (main job)"
	@echo "make test       everything CI runs: style, unit + simulated tests, VM tier"
	@echo "make unit-test  unit and simulated end-to-end tests only (no VM)"
	@echo "make vm-test    VM tier only; one scenario: make vm-test-one SCENARIO=name"
	@echo "make bench      benchmarks (ratios against baselines, same run)"

deps:
	scripts/deps all

build: deps
	$(CARGO) build --locked --workspace

check-style: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

unit-test: deps
	$(CARGO) test --locked

test: check-style unit-test vm-test

clean:
	$(CARGO) clean

# The VM targets (Makefile.vm) build dmclass first; make sure the packages are there.
vm-dmclass: deps

include Makefile.vm
-include Makefile.bench
