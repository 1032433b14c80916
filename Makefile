# tinyagent: `make demo` and `make test` are the two entry points (README).
SWIFT ?= /opt/swift/usr/bin/swift
export PATH := /opt/swift/usr/bin:$(PATH)
EMBEDDED_BIN := .build-embedded/release/tinyagent

.PHONY: deps embedded unit integration sanitize armhf arm64 cross-test deb deb-test provision-test test demo bench fuzz fuzz-ci soak soak-ci

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
	python3 -m pytest -q -p no:cacheprovider tests/python tests/xmpp tests/https tests/integration

# Sanitizers and leak checks (tests/sanitize/README.md): the HTTPS and integration suites
# against a host build under ASan + UBSan (~6 min), then the Embedded binary, its helpers
# and the CLI under valgrind memcheck with a heartbeat, command and update workload (~1.5 min).
sanitize: deps embedded
	tests/sanitize/asan.sh
	tests/sanitize/valgrind.sh

# The Raspberry Pi binaries (cross/README.md). armhf: every Pi from the Zero (ARMv6 + VFPv2
# hard-float), Raspbian Buster floor, checked against Buster's library versions and for
# ARMv6 (attributes, disassembly). arm64: 64-bit Raspberry Pi OS, Bullseye floor.
armhf:
	cross/build.sh armhf

arm64:
	cross/build.sh arm64

# The checks' own tests; both binaries under qemu-user (armhf: default CPU, arm64:
# cortex-a53); the agent's code linked statically against musl run under qemu-arm's
# arm1176 (the Pi Zero's CPU).
cross-test: armhf arm64
	cross/test-buster-check.sh
	cross/test-armv6-check.sh
	cross/armv6-probe.sh
	cross/smoke.sh armhf
	cross/smoke.sh arm64

deb: armhf arm64
	cross/build-deb.sh --arch armhf
	cross/build-deb.sh --arch arm64

# Each .deb's fields and contents, installed and purged in a chroot of its architecture
# (armhf: bookworm; arm64: Bullseye, its floor).
deb-test: deb
	cross/test-deb.sh armhf
	cross/test-deb.sh arm64

test: deps unit integration sanitize soak-ci cross-test deb-test provision-test fuzz-ci

demo: deps embedded
	python3 scripts/demo.py

# libFuzzer over every parser of outside bytes (Fuzz/README.md). fuzz-ci: 20 s per target,
# two at a time, about 3 min with the build; fuzz: FUZZ_SECONDS per target (default 600)
# and rewrites FUZZING.md with the figures.
FUZZ_SECONDS ?= 600
fuzz-ci:
	FUZZ_JOBS=2 Fuzz/run.sh 20

fuzz:
	FUZZ_REPORT=FUZZING.md FUZZ_COMMAND="make fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)" Fuzz/run.sh $(FUZZ_SECONDS)

# Figures for BENCHMARKS.md (rewrites it).
bench:
	bench/run.sh

# Provisioning an SD card root (buildroot/): a fake root filesystem, the unit file, and a
# copy of the cached armhf rootfs end to end (cross/rootfs-armhf.sh: ~4 min the first time).
provision-test: embedded armhf
	cross/rootfs.sh armhf
	python3 -m pytest -q -p no:cacheprovider tests/provision

# The soak test (tests/soak/soak.py): 50 processes heartbeating 10×/s, 1000 bad datagrams/s,
# a status command every second over XMPP, updates, prosody restarts; SOAK_SECONDS long
# (default 600). Writes its figures into RELIABILITY.md.
SOAK_SECONDS ?= 600
soak: deps embedded
	python3 tests/soak/soak.py --seconds $(SOAK_SECONDS) --write RELIABILITY.md

# The same, 90 s, as a pytest test (part of `make test`; about 2 minutes).
soak-ci: embedded
	SOAK_SECONDS=90 python3 -m pytest -q -s -p no:cacheprovider tests/soak
