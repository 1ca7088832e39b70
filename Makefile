# spanqa: extractive question answering in Go on libtorch.
#   make train        train the embedded default (tiny BERT on synthetic QA; no network)
#   make train MODEL=bert|roberta|deberta|longformer [WEIGHTS=dir] [DATA=dir]
#   make test         install what is missing, build, run every test
#   make build        build/libspanqa_cbridge.so and bin/spanqa
#   make doctor       what libtorch, BLAS, threads and devices spanqa sees
#   make bench        speed benchmarks (bench.json)
#   make bench-compare  spanqa / HF transformers ratios, interleaved (bench-compare/table.md)
# Which libtorch (see the README, "Getting libtorch"):
#   LIBTORCH=         (default) the torch wheel pinned in third_party/libtorch-requirements.txt,
#                     installed into .venv by make deps; CUDA and NCCL built in
#   LIBTORCH=debian   Debian's libtorch-dev 1.13 (CPU)
#   LIBTORCH=/path    a pytorch.org libtorch archive or a pip torch folder (site-packages/torch)
#   CUDA=AUTO|ON|OFF  build the CUDA shims when the libtorch has CUDA (AUTO), require them, or not

SHELL := /bin/bash
GO ?= go
LIBTORCH ?=
CUDA ?= AUTO
VENV ?= .venv
MODEL ?=
WEIGHTS ?=
DATA ?=
OUTPUT ?= runs/$(if $(MODEL),$(MODEL),default)
GOTESTFLAGS ?= -timeout 40m
CBRIDGE := build/libspanqa_cbridge.so
export VENV

.PHONY: all deps build cbridge test train doctor bench bench-compare compile-check clean fmt vet gpu-check parity

all: build

deps:
	@bash third_party/install-deps.sh "$(LIBTORCH)"

# configure.sh reconfigures build/ from scratch whenever LIBTORCH or CUDA changed; cmake --build
# then recompiles only what changed.
cbridge:
	@bash third_party/configure.sh "$(LIBTORCH)" "$(VENV)" "$(CUDA)"
	@set -o pipefail; env -u LIBTORCH cmake --build build -j2 2>&1 | { grep -v -E '^\[|Consolidate compiler|Scanning|directory' || true; }

build: deps cbridge
	@mkdir -p bin
	$(GO) build -o bin/spanqa ./cmd/spanqa

test: build
	$(GO) vet ./...
	$(GO) test -count=1 $(GOTESTFLAGS) ./...

train: build
	./bin/spanqa train --use-recipe --recipe "$(MODEL)" --weights "$(WEIGHTS)" --data "$(DATA)" --output-dir "$(OUTPUT)"

doctor: build
	./bin/spanqa doctor

bench: build
	./bin/spanqa bench --output bench.json

# Compiles and links cbridge against the oldest supported libtorch 2.x (in build-oldest/).
compile-check:
	@bash third_party/compile-check.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf build bin build-oldest

# The live parity suite against today's Hugging Face (tests/parity/run.sh): installs the pinned
# transformers into $(VENV) once, and skips loudly where it cannot.
.PHONY: parity
parity: build
	@bash tests/parity/run.sh

# spanqa against HF transformers on the same batches, runs interleaved (tests/bench/compare.py);
# prints and writes bench-compare/table.md. Hours for everything on 2 cores: narrow it with
# BENCH_MODELS=bert BENCH_PRECISIONS=f32 BENCH_ROUNDS=2 BENCH_STEPS=2.
BENCH_MODELS ?= bert,roberta,deberta,longformer
BENCH_PRECISIONS ?= f32,bf16
BENCH_ROUNDS ?= 2
BENCH_STEPS ?= 2
BENCH_PHASES ?= infer/seed,infer/spanqa,train/seed,train/spanqa
bench-compare: build
	@bash tests/parity/run.sh --install-only
	$(VENV)/bin/python tests/bench/compare.py --models $(BENCH_MODELS) --precisions $(BENCH_PRECISIONS) \
		--rounds $(BENCH_ROUNDS) --steps $(BENCH_STEPS) --phases $(BENCH_PHASES) --out-dir bench-compare

# The GPU check (tests/gpu/check.sh): builds against this machine's pip torch with CUDA, then
# parity, the embedded default, bench and serve on the GPU, all under $OUT (default
# ./gpu-check-out) in under 10 minutes. DRY=1 runs it on the CPU, cut short (CI).
gpu-check:
	@bash tests/gpu/check.sh $(if $(DRY),--dry-run)
