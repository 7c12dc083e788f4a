# manualdag: the two commands are `make demo` and `make test`.
# Tools the project needs are built from the Go module proxy into .tools/
# (git-ignored) the first time and reused afterwards.

TEMPORAL_CLI_VERSION := v1.5.1
STATICCHECK_VERSION  := v0.8.2
# make cluster's Temporal server (and its schema tool) and Web UI server.
TEMPORAL_SERVER_VERSION := v1.29.1
UI_SERVER_VERSION       := v2.42.1
TOOLS       := $(CURDIR)/.tools
TEMPORAL    := $(TOOLS)/temporal-$(TEMPORAL_CLI_VERSION)/temporal
TEMPORAL_SERVER := $(TOOLS)/temporal-server-$(TEMPORAL_SERVER_VERSION)/temporal-server
SQL_TOOL        := $(TOOLS)/temporal-server-$(TEMPORAL_SERVER_VERSION)/temporal-sql-tool
UI_SERVER       := $(TOOLS)/temporal-ui-server-$(UI_SERVER_VERSION)/ui-server
STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
BIN         := $(CURDIR)/bin
GO_FILES     = $(shell git ls-files '*.go')

export MANUALDAG_TEMPORAL_CLI := $(TEMPORAL)
# Once make cluster has built the server, make test runs the mTLS test
# (e2e/tls_test.go) with it too; it is skipped before.
export MANUALDAG_TEMPORAL_SERVER := $(wildcard $(TEMPORAL_SERVER))

.PHONY: cluster cluster-clean test-cluster bench-fleet-cluster bench-events demo screenshot test chaos build release lint check-format vet tools emulator clean bench-policy bench bench-fleet

## demo: Temporal dev server + Web UI, the DataWorks emulator, the worker, two sample DAGs.
demo: build $(TEMPORAL)
	@TEMPORAL=$(TEMPORAL) BIN=$(BIN) ./scripts/demo.sh

## cluster: a production-shaped Temporal on this machine: the Temporal server on a PostgreSQL of its own
## (initdb in .cluster/, port 55432; apt-get installs PostgreSQL if missing), the Web UI on 8233, the namespace
## and the search attributes; Ctrl-C stops it all, the next run reuses .cluster/ (docs/operations.md).
cluster: $(TEMPORAL_SERVER) $(UI_SERVER) $(TEMPORAL)
	@TEMPORAL=$(TEMPORAL) TEMPORAL_SERVER=$(TEMPORAL_SERVER) SQL_TOOL=$(SQL_TOOL) UI_SERVER=$(UI_SERVER) ./scripts/cluster.sh

## cluster-clean: forget make cluster's state (database included); stop make cluster first.
cluster-clean:
	rm -rf .cluster

## test-cluster: the end-to-end tests (fault suites included, with a PostgreSQL outage) against Temporal servers on
## PostgreSQL, each with a database of its own, instead of the dev server; plus the mTLS test.
## E2E_RUN=regexp picks tests (go test -run).
E2E_RUN ?= .
test-cluster: $(TEMPORAL_SERVER) $(TEMPORAL)
	MANUALDAG_E2E_SERVER=cluster MANUALDAG_TEMPORAL_SERVER=$(TEMPORAL_SERVER) \
	  go test -race -count=1 -tags e2e -run '$(value E2E_RUN)' -timeout 30m ./e2e/

## screenshot: run the demo and save Web UI screenshots to docs/screenshots/
## (installs Debian's chromium and playwright-core into .screenshot/; not part of test).
screenshot: build $(TEMPORAL)
	@TEMPORAL=$(TEMPORAL) BIN=$(BIN) ./scripts/screenshot.sh

## test: format check, vet, staticcheck, and every test (unit and end-to-end) with -race, then the
## offline checks of deployments/ (a nested module, so that its Kubernetes and compose libraries stay
## out of the module graph of everyone who imports manualdag).
# -count=1: the end-to-end tests build the binaries themselves, which Go's
# test cache cannot see, so a cached pass could hide a broken worker.
test: check-format vet lint $(TEMPORAL)
	go test -race -count=1 -tags e2e -timeout 15m ./...
	cd deployments && go test -race -count=1 -timeout 10m ./...

## chaos: the full fault suites (e2e/chaos_test.go) against real processes; prints the figure
## table (docs/reliability.md). MANUALDAG_CHAOS_SEED=N repeats a run's random choices.
CHAOS_TABLE := $(BIN)/chaos-figures.txt
chaos: $(TEMPORAL)
	@mkdir -p $(BIN) && rm -f $(CHAOS_TABLE)
	MANUALDAG_CHAOS=full MANUALDAG_CHAOS_TABLE=$(CHAOS_TABLE) go test -race -tags e2e -run '^TestChaos$$' -count=1 -timeout 60m ./e2e/; \
	  rc=$$?; echo; cat $(CHAOS_TABLE) 2>/dev/null || echo "no figure table: the suites did not finish"; exit $$rc

## bench-policy: replay simulated DAG timelines through RunManualDag on the SDK's test environment (mock
## clock) under each poll policy (fixed 5/30/60 s, backoff, predictive) and print calls per DAG and detection
## delay side by side, with the wall time it took (internal/policybench).
## MANUALDAG_BENCH_OUT=FILE also writes the tables to FILE.
bench-policy:
	go test -run '^$$' -bench '^BenchmarkPolicies$$' -benchtime 1x ./internal/policybench/

## bench: the real-server benchmark (e2e/bench_test.go): concurrent runs through the dev server, the worker
## binary and the emulator over HTTP, N stepped up until something gives, plus one step under a low -dataworks-qps;
## prints one table per benchmark. MANUALDAG_BENCH_STEPS=100,500,2000 sets the steps, MANUALDAG_BENCH_OUT=FILE
## also writes the tables to FILE as markdown (other knobs: MANUALDAG_BENCH_* in the test's comment). Then the
## history benchmark (e2e/history_bench_test.go): learning from earlier runs, and a 200-node DAG's history.
## MANUALDAG_BENCH_ONLY=History (or RealServer) runs one of the two.
MANUALDAG_BENCH_ONLY ?= RealServer|History
bench: $(TEMPORAL)
	MANUALDAG_BENCH=1 go test -tags e2e -run '^$$' -bench '^Benchmark($(MANUALDAG_BENCH_ONLY))$$' -benchtime 1x -timeout 150m ./e2e/

## bench-fleet: issue 17's fleet (e2e/fleet_bench_test.go): 2,000 runs of six flows (5 min to 2 h, time scale 1, 3 seeded
## earlier runs each so they poll predicted) started 1,000 a minute, held open 30 minutes (finished runs replaced), one
## worker with -task-pollers 8 and -dataworks-qps 50; one table with the server's own metrics and the per-run-hour costs.
## About 40 minutes; run it alone. Knobs: MANUALDAG_BENCH_FLEET_RUNS, _BURST, _BURST_EVERY, _HOLD, _FLEET_QPS, _SEEDED,
## _TIME_SCALE, _POLLERS, _OUT; MANUALDAG_BENCH_FLEET_MIX=0 is the older single-flow learned fleet (see the test's comment).
bench-fleet: $(TEMPORAL)
	MANUALDAG_BENCH=1 MANUALDAG_BENCH_POLLERS=$${MANUALDAG_BENCH_POLLERS:-8} go test -tags e2e -run '^$$' -bench '^BenchmarkFleet$$' -benchtime 1x -timeout 120m ./e2e/

## bench-events: issue 16's OpenEvent figures on the real dev server (e2e/events_bench_test.go): the same 12 runs
## (5- and 15-minute flows, first and seeded runs, failures) under every event delivered, 30 % dropped and no
## events, three stacks side by side at time scale 1; end detection and calls per DAG-hour per stratum. About 20
## minutes; run it alone. MANUALDAG_BENCH_OUT=FILE also writes the table to FILE; MANUALDAG_BENCH_EVENTS_FLOWS=mix_60m
## (any of the fleet mix's flows, comma-separated) runs those flows instead (mix_60m: about 70 minutes).
bench-events: $(TEMPORAL)
	MANUALDAG_BENCH=1 go test -tags e2e -run '^$$' -bench '^BenchmarkOpenEvents$$' -benchtime 1x -timeout 180m ./e2e/

## bench-fleet-cluster: the same fleet on make cluster's Temporal server (v1.29.1 on a PostgreSQL of its own,
## MANUALDAG_E2E_SERVER=cluster) instead of the dev server, with PostgreSQL's commits, rows, WAL and CPU in the table:
## the side-by-side of docs/performance.md. Same knobs. Run it alone on the machine.
bench-fleet-cluster: $(TEMPORAL) $(TEMPORAL_SERVER)
	MANUALDAG_BENCH=1 MANUALDAG_E2E_SERVER=cluster MANUALDAG_TEMPORAL_SERVER=$(TEMPORAL_SERVER) \
	  MANUALDAG_BENCH_POLLERS=$${MANUALDAG_BENCH_POLLERS:-8} go test -tags e2e -run '^$$' -bench '^BenchmarkFleet$$' -benchtime 1x -timeout 120m ./e2e/

# -buildvcs=true: the binaries' --version reads the VCS stamp, whatever GOFLAGS says.
build:
	go build -buildvcs=true -trimpath -o $(BIN)/ ./worker ./starter ./cmd/dataworks-emulator

## release: versioned binaries of worker, starter and dataworks-emulator for linux and darwin, amd64 and
## arm64, one .tar.gz each with SHA256SUMS, into dist/<version>/ (git-ignored; nothing is published).
## The version is git's: tag the commit first (git tag v0.1.0), else a pseudo-version. Needs a clean tree.
release:
	./scripts/release.sh

## emulator: run the DataWorks emulator alone on 127.0.0.1:8089.
emulator: build
	$(BIN)/dataworks-emulator

check-format:
	@out=$$(gofmt -l $(GO_FILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	go vet ./...
	go vet -tags e2e ./...
	cd deployments && go vet ./...

lint: $(STATICCHECK)
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./...
	cd deployments && $(STATICCHECK) ./...

tools: $(TEMPORAL) $(STATICCHECK)

# The server and its schema tool from one module version, so that the tool's
# built-in schemas are the server's.
$(TEMPORAL_SERVER):
	@echo "Building the Temporal server $(TEMPORAL_SERVER_VERSION) and temporal-sql-tool into .tools/ (first time only; about 5 minutes on 2 cores)"
	GOBIN=$(dir $@) go install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION) go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)
	mv $(dir $@)sql $(SQL_TOOL)
	mv $(dir $@)server $@

$(UI_SERVER):
	@echo "Building the Temporal Web UI server $(UI_SERVER_VERSION) into .tools/ (first time only)"
	GOBIN=$(dir $@) go install github.com/temporalio/ui-server/v2/cmd/server@$(UI_SERVER_VERSION)
	mv $(dir $@)server $@

$(TEMPORAL):
	@echo "Building the Temporal CLI $(TEMPORAL_CLI_VERSION) into .tools/ (first time only; about 4 minutes on 2 cores)"
	GOBIN=$(dir $@) go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

$(STATICCHECK):
	GOBIN=$(dir $@) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

clean:
	rm -rf $(BIN) .demo dist
