# tinyagent: `make demo` and `make test` are the two entry points (README).
SWIFT ?= /opt/swift/usr/bin/swift
# The project's own Python (scripts/venv.sh, made by `make deps`) comes first on PATH, so
# every `python3` a script or test runs is it, whatever python3 the machine has.
VENV := $(CURDIR)/build/venv
PY := $(VENV)/bin/python
export PATH := $(VENV)/bin:/opt/swift/usr/bin:$(PATH)
EMBEDDED_BIN := .build-embedded/release/tinyagent
# Every process a run starts carries TINYAGENT_TEST_RUN in its environment; each
# step runs under GUARD, which kills what the step left behind, however it ended,
# and fails a step that succeeded but left processes (tests/runguard.py).
ifndef TINYAGENT_TEST_RUN
TINYAGENT_TEST_RUN := make-$(shell od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
endif
export TINYAGENT_TEST_RUN
GUARD := /usr/bin/python3 tests/runguard.py run --

.PHONY: deps embedded unit integration fleet-test bench-fleet demo-test sanitize armhf arm64 cross-test deb deb-test provision-test test demo bench order fuzz fuzz-ci soak soak-ci

deps:
	scripts/install-deps.sh

# The programs the integration tests run: Embedded Swift, x86_64, each needing only its
# own libraries (ARCHITECTURE.md).
PROGRAMS := tinyagent tinyagent-link tinyagent-fetch
embedded:
	python3 bench/order.py --relink .build-embedded
	TINYAGENT_EMBEDDED=1 $(SWIFT) build -c release --scratch-path .build-embedded
	@for p in $(PROGRAMS); do strip -o .build-embedded/$$p.stripped .build-embedded/release/$$p && \
		echo "embedded x86_64 $$p: $$(stat -c %s .build-embedded/$$p.stripped) bytes stripped"; done
	python3 cross/needed-check.py $(addprefix .build-embedded/release/,$(PROGRAMS))
	python3 bench/order.py --check .build-embedded/release/tinyagent

# Host build, full Swift, Swift Testing. One test at a time: the event loop reaps any child
# (waitpid(-1), as the agent, the parent of all its processes, must), so a loop under test
# takes the exits of children another test, running beside it in the same process, waits
# for (a trial run's, a tool's). Serial costs nothing here: the time is in a few long tests.
unit:
	$(GUARD) $(SWIFT) test --no-parallel
	cross/typecheck-probe.sh

integration: deps embedded
	$(GUARD) $(PY) -m pytest -q -p no:cacheprovider tests/docs tests/python tests/xmpp tests/https tests/integration tests/security

# The fleet side of the XMPP link (tests/fleet): each failure cause logged once, the server
# list, the first presence, and 20 agents on a two-node ejabberd cluster (installed from apt,
# its service never started; every listener on loopback) losing one node: all back on the
# other and answering within the bound the test justifies. About 2 minutes.
fleet-test: deps embedded
	$(GUARD) $(PY) -m pytest -q -s -p no:cacheprovider tests/fleet

# N real agents (default 200) against one prosody and a two-node ejabberd cluster: cold
# start, a fleet-wide status, a server restart and a killed node, footprint. Rewrites the
# fleet section of BENCHMARKS.md. Not in `make test` (~10 min at N = 200).
FLEET_DEVICES ?= 200
bench-fleet: deps embedded
	$(GUARD) $(PY) bench/fleet.py --bin $(EMBEDDED_BIN) --devices $(FLEET_DEVICES) --write BENCHMARKS.md

# Sanitizers and leak checks (tests/sanitize/README.md): the HTTPS and integration suites
# against a host build under ASan + UBSan (~6 min), then the Embedded binary, its helpers
# and the CLI under valgrind memcheck with a heartbeat, command and update workload (~1.5 min).
sanitize: deps embedded
	$(GUARD) tests/sanitize/asan.sh
	$(GUARD) tests/sanitize/valgrind.sh

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
	$(GUARD) cross/test-buster-check.sh
	$(GUARD) cross/test-armv6-check.sh
	$(GUARD) cross/armv6-probe.sh
	$(GUARD) cross/smoke.sh armhf
	$(GUARD) cross/smoke.sh arm64

deb: armhf arm64
	cross/build-deb.sh --arch armhf
	cross/build-deb.sh --arch arm64

# Each .deb's fields and contents, installed and purged in a chroot of its architecture
# (armhf: bookworm; arm64: Bullseye, its floor).
deb-test: deb
	$(GUARD) cross/test-deb.sh armhf
	$(GUARD) cross/test-deb.sh arm64

# Ends by proving that no process the run started is left.
test: deps unit integration fleet-test demo-test sanitize soak-ci cross-test deb-test provision-test fuzz-ci
	/usr/bin/python3 tests/runguard.py check

demo: deps embedded
	$(GUARD) $(PY) scripts/demo.py

# `make demo` as a new user runs it: stock PATH, nothing else from this environment.
demo-test: deps embedded
	$(GUARD) $(PY) -m pytest -q -p no:cacheprovider tests/demo

# libFuzzer over every parser of outside bytes (Fuzz/README.md). fuzz-ci: 20 s per target,
# two at a time, about 3 min with the build; fuzz: FUZZ_SECONDS per target (default 600)
# and rewrites FUZZING.md with the figures.
FUZZ_SECONDS ?= 600
fuzz-ci:
	FUZZ_JOBS=2 $(GUARD) Fuzz/run.sh 20

fuzz:
	FUZZ_REPORT=FUZZING.md FUZZ_COMMAND="make fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)" Fuzz/run.sh $(FUZZ_SECONDS)

# Figures for BENCHMARKS.md (rewrites it).
bench:
	bench/run.sh

# Sources/tinyagent/run.order: the functions `tinyagent run` executes, which the agent's
# links put first (bench/order.py; valgrind). Regenerate when the run path changes.
order: embedded
	command -v valgrind >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind)
	python3 bench/order.py

# Provisioning an SD card root (buildroot/): a fake root filesystem, the unit file, and a
# copy of the cached armhf rootfs end to end (cross/rootfs.sh armhf: ~4 min the first time).
provision-test: deps embedded armhf
	$(GUARD) cross/rootfs.sh armhf
	$(GUARD) $(PY) -m pytest -q -p no:cacheprovider tests/provision

# The soak test (tests/soak/soak.py): 50 processes heartbeating 10×/s, 1000 bad datagrams/s,
# a status command every second over XMPP, updates, prosody restarts; SOAK_SECONDS long
# (default 600). Writes its figures into RELIABILITY.md.
SOAK_SECONDS ?= 600
soak: deps embedded
	$(GUARD) $(PY) tests/soak/soak.py --seconds $(SOAK_SECONDS) --write RELIABILITY.md

# The same, 90 s, as a pytest test (part of `make test`; about 2 minutes).
soak-ci: deps embedded
	SOAK_SECONDS=90 $(GUARD) $(PY) -m pytest -q -s -p no:cacheprovider tests/soak
