# Relais: the two commands are `make run` and `make test`. See README.md.
SHELL := /bin/bash
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps build build-services bench bench-cost-model run test fuzz fuzz-build stack-up stack-down stack-status clean \
        test-asan test-tsan test-faults test-faults-cluster test-faults-rolling format format-check lint

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS)

# KAFKA_NODES=3: a three-node Kafka cluster (replication factor 3, min.insync.replicas 2) instead of
# the single broker (docs/operations.md, "A three-node Kafka cluster"); the same value for all three.
# TLS=1: the TLS stack (deploy/local/pki.sh certificates, Kafka mTLS, PostgreSQL sslmode=verify-full;
# docs/operations.md, "The TLS stack"); without it the listeners are plain text, for `make run` only.
KAFKA_NODES ?=
TLS ?=
STACK_ENV := $(if $(KAFKA_NODES),RELAIS_KAFKA_NODES=$(KAFKA_NODES)) $(if $(TLS),RELAIS_KAFKA_TLS=$(TLS))

stack-up: deps
	@$(STACK_ENV) deploy/local/stack.sh up

stack-down:
	@$(STACK_ENV) deploy/local/stack.sh down

stack-status:
	@$(STACK_ENV) deploy/local/stack.sh status

SERVICES := relais-ingest relais-router relais-api
# Everything `make run` (scripts/run-demo.sh, scripts/demo.py) and the README's next steps use:
# the three services and relaisctl (the demo mints its tokens with it). tests/readme_blocks.py
# runs the README's shell blocks after `make run` alone, so a binary missing here fails `make test`.
RUN_TARGETS := $(SERVICES) relaisctl

build-services: deps $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS) --target $(RUN_TARGETS)

# Benchmarks (docs/performance.md): a dedicated stack under var/bench-stack (ports 57232/59992/59993),
# results in bench/results/<date>-<name>.json. BENCH_QUICK=1 for the ~100k-record version;
# BENCH_ARGS for bench/run.py options (e.g. BENCH_ARGS="--only raw,java").
bench: deps $(BUILD)/build.ninja
	@flock /tmp/relais-build.lock cmake --build $(BUILD) -j $(JOBS) --target $(SERVICES) raw_producer subscriber_health_bench
	@var/venv/bin/python bench/run.py $(BENCH_ARGS)

# The cost model of docs/performance.md: end to end and latency at 50/200/565 CPAS and 1/5/10 M
# integrations (five bench runs, about 20 minutes here), then docs/img/cost-model.svg.
bench-cost-model: deps $(BUILD)/build.ninja
	@flock /tmp/relais-build.lock cmake --build $(BUILD) -j $(JOBS) --target $(SERVICES)
	@var/venv/bin/python bench/cost_model.py run

run: build-services
	@scripts/run-demo.sh

# libFuzzer targets (docs/fuzzing.md): clang, -fsanitize=fuzzer,address,undefined, in build-fuzz
# (only the libraries they need). `make fuzz` runs each for FUZZ_SECONDS (FUZZ_TARGETS to pick
# some); the working corpora, crash inputs, logs and var/fuzz/summary are under var/fuzz.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

$(FUZZ_BUILD)/build.ninja: CMakeLists.txt fuzz/CMakeLists.txt
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DRELAIS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	@flock /tmp/relais-build.lock cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers

fuzz: fuzz-build
	@scripts/fuzz.sh --build $(FUZZ_BUILD) --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The style checks (clang-format over every C++ file, scripts/format.sh --check; clang-tidy over
# the libs/ and services/ sources changed since main, scripts/lint.sh --changed: about 10 s per
# changed file with 2 jobs, 15 minutes at most when every file changed), the test tiers, then a
# short run of each fuzz target (CTest label "fuzz": seeds, regression inputs, then 10 s of
# fuzzing each).
test: build fuzz-build
	@scripts/format.sh --check
	@scripts/lint.sh --changed $(BUILD)
	@scripts/run-tests.sh $(BUILD)
	@cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz -j 2

# The test tiers again, built with AddressSanitizer + UndefinedBehaviorSanitizer (Debug, in
# build-asan); options and suppressions in tests/sanitizers (docs/fuzzing.md, "Sanitizers"). The
# fuzz tier is not run twice: build-fuzz is already instrumented with the same sanitizers.
test-asan:
	@$(MAKE) --no-print-directory build BUILD=build-asan CMAKE_FLAGS="-DRELAIS_SANITIZE=ON" BUILD_TYPE=Debug
	@scripts/run-tests.sh build-asan

# The full fault suite (docs/reliability.md): FAULTS_COUNT faults (default 200) under load on its
# own stack (var/faults-stack), then the independent checker; FAULTS_SEED replays a schedule.
# Report: var/faults/<time>/report.json. The short variant (each fault type once) is part of
# `make test`.
FAULTS_COUNT ?= 200
FAULTS_SEED ?=
test-faults: deps $(BUILD)/build.ninja
	@flock /tmp/relais-build.lock cmake --build $(BUILD) -j $(JOBS) --target $(SERVICES) relaisctl
	@var/venv/bin/python tests/faults/run_faults.py --faults $(FAULTS_COUNT) $(if $(FAULTS_SEED),--seed $(FAULTS_SEED))
	@# SPP IS unreachable for the issue's 10 minutes (the e2e test runs a 20 s window in `make test`).
	@flock /tmp/relais-build.lock cmake --build $(BUILD) -j $(JOBS)
	@RELAIS_SPPIS_OUTAGE_S=600 CTEST_ARGS="-R ^e2e_sppis_transport$$" scripts/run-tests.sh $(BUILD)

# The fault suite on a three-node Kafka cluster (docs/reliability.md, "Faults on a Kafka cluster"):
# its own stack (var/faults-cluster-stack, ports 59850 and 59860-59881), FAULTS_CLUSTER_COUNT faults
# (default 11: one of each) among kill -9 and SIGSTOP of the leader of relais.inbound.v1 partition 0
# and of the active controller, a router killed during a rebalance, a router SIGSTOPped (a zombie),
# PostgreSQL crashed, SIGKILLed or SIGSTOPped, the leader's data disk filled (root only:
# loop-mounted filesystems), PostgreSQL's clock stepped (libfaketime); the checker, the replication
# policy of every Relais topic. CTest test faults_cluster (label faults-cluster), skipped inside
# `make test` (it takes about 12 minutes).
FAULTS_CLUSTER_COUNT ?= 11
test-faults-cluster: deps $(BUILD)/build.ninja
	@flock /tmp/relais-build.lock cmake --build $(BUILD) -j $(JOBS) --target $(SERVICES) relaisctl
	@cd $(BUILD) && RELAIS_FAULTS_CLUSTER=1 FAULTS_COUNT=$(FAULTS_CLUSTER_COUNT) $(if $(FAULTS_SEED),FAULTS_SEED=$(FAULTS_SEED)) \
	  ctest --output-on-failure -L faults-cluster

# Rolling restarts in the production shape of the services (docs/reliability.md, "Rolling
# restarts"): two instances each of relais-ingest, relais-router and relais-api, ingest and api
# behind HAProxy, the fault suite's load and checker, FAULTS_ROLLING_COUNT rolling restarts
# (default 6: each service twice), the latency bump measured; on the fault suite's stack and ports.
FAULTS_ROLLING_COUNT ?= 6
test-faults-rolling: deps $(BUILD)/build.ninja
	@flock /tmp/relais-build.lock cmake --build $(BUILD) -j $(JOBS) --target $(SERVICES) relaisctl
	@var/venv/bin/python tests/faults/run_faults.py --rolling --faults $(FAULTS_ROLLING_COUNT) $(if $(FAULTS_SEED),--seed $(FAULTS_SEED))

# The unit and integration tiers built with ThreadSanitizer (RelWithDebInfo, in build-tsan): every
# test of the two tiers, those that start librdkafka clients included. Debian's librdkafka starts
# its threads with C11 thrd_create, which GCC 12's TSan runtime does not intercept; a TSan build
# links libs/kafka/src/tsan_c11_threads.cpp, which starts them through pthread_create. TSAN_EXCLUDE
# (a ctest -E regex, empty by default) leaves tests out by name (docs/fuzzing.md,
# "ThreadSanitizer"). Suppressions in tests/sanitizers/tsan.supp.
TSAN_EXCLUDE ?=
test-tsan:
	@$(MAKE) --no-print-directory build BUILD=build-tsan CMAKE_FLAGS="-DRELAIS_TSAN=ON"
	@CTEST_ARGS="-L unit|integration $(if $(TSAN_EXCLUDE),-E $(TSAN_EXCLUDE)) $(CTEST_ARGS)" scripts/run-tests.sh build-tsan

# Style (README "Developing"): clang-format with .clang-format over the project's C++ files
# (`format` rewrites, `format-check` only checks), clang-tidy with .clang-tidy over libs/ and
# services/ (LINT_CHANGED=1: only the files changed since main, as `make test` does; what
# "changed" means without origin/main: scripts/cxx-files.sh).
format: deps
	@scripts/format.sh

format-check: deps
	@scripts/format.sh --check

lint: deps $(BUILD)/build.ninja
	@scripts/lint.sh $(if $(LINT_CHANGED),--changed) $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan $(FUZZ_BUILD)
