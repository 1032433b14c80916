# tinyagent: `make demo` and `make test` are the two entry points (README).
SWIFT ?= /opt/swift/usr/bin/swift
export PATH := /opt/swift/usr/bin:$(PATH)
EMBEDDED_BIN := .build-embedded/release/tinyagent

.PHONY: deps embedded unit integration test demo bench

deps:
	scripts/install-deps.sh

# The binary the integration tests run: Embedded Swift, x86_64.
embedded:
	TINYAGENT_EMBEDDED=1 $(SWIFT) build -c release --scratch-path .build-embedded
	@strip -o .build-embedded/tinyagent.stripped $(EMBEDDED_BIN)
	@echo "embedded x86_64 binary: $$(stat -c %s .build-embedded/tinyagent.stripped) bytes stripped"

# Host build, full Swift, Swift Testing.
unit:
	$(SWIFT) test

integration: embedded
	python3 -m pytest -q -p no:cacheprovider tests/python tests/integration

test: deps unit integration

demo: deps embedded
	scripts/demo.sh

# Figures for BENCHMARKS.md (rewrites it).
bench:
	bench/run.sh
