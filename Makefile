# peace: build, test, lint, bench, demo.
GO ?= go
BIN ?= bin/peace
# staticcheck 2026.2.2, the release for this Go; CI runs the same one.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test lint tidy bench chaos demo ci clean

all: build test

build:
	$(GO) build -o $(BIN) .

# The test command the README gives and CI runs.
test:
	$(GO) test -race ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# go mod tidy must leave no diff.
tidy:
	$(GO) mod tidy -diff

# Benchmarks of the framework itself, then the side-by-side comparison with
# peers on the built binary.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./cmdblock/ ./cmdctx/ ./state/
	@if [ -x ../shared/bench/compare.sh ]; then ../shared/bench/compare.sh $(BIN) 1000; fi

# Kill the real binary at thousands of seeded points; see state's crash tests.
chaos:
	PEACE_CHAOS_POINTS=2000 $(GO) test -run 'TestKill' -count=1 -timeout 60m -v ./cmd/

# Run the quickstart: watch it, press Ctrl-C to try stopping it.
demo: build
	./$(BIN) -f examples/quickstart/flow.yaml ensure

ci: lint tidy test

clean:
	rm -rf bin examples/quickstart/out examples/quickstart/.peace
