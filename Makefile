# manualdag: the two commands are `make demo` and `make test`.
# Tools the project needs are built from the Go module proxy into .tools/
# (git-ignored) the first time and reused afterwards.

TEMPORAL_CLI_VERSION := v1.5.1
STATICCHECK_VERSION  := v0.8.2
TOOLS       := $(CURDIR)/.tools
TEMPORAL    := $(TOOLS)/temporal-$(TEMPORAL_CLI_VERSION)/temporal
STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
BIN         := $(CURDIR)/bin
GO_FILES     = $(shell git ls-files '*.go')

export MANUALDAG_TEMPORAL_CLI := $(TEMPORAL)

.PHONY: demo test build lint check-format vet tools emulator clean

## demo: Temporal dev server + Web UI, the DataWorks emulator, the worker, two sample DAGs.
demo: build $(TEMPORAL)
	@TEMPORAL=$(TEMPORAL) BIN=$(BIN) ./scripts/demo.sh

## test: format check, vet, staticcheck, and every test (unit and end-to-end) with -race.
test: check-format vet lint $(TEMPORAL)
	go test -race -tags e2e -timeout 15m ./...

build:
	go build -trimpath -o $(BIN)/ ./worker ./starter ./dataworks/emulator/cmd/dataworks-emulator

## emulator: run the DataWorks emulator alone on 127.0.0.1:8089.
emulator: build
	$(BIN)/dataworks-emulator

check-format:
	@out=$$(gofmt -l $(GO_FILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	go vet ./...
	go vet -tags e2e ./...

lint: $(STATICCHECK)
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./...

tools: $(TEMPORAL) $(STATICCHECK)

$(TEMPORAL):
	@echo "Building the Temporal CLI $(TEMPORAL_CLI_VERSION) into .tools/ (first time only; about 4 minutes on 2 cores)"
	GOBIN=$(dir $@) go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

$(STATICCHECK):
	GOBIN=$(dir $@) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

clean:
	rm -rf $(BIN) .demo
