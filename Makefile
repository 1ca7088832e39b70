# spanqa: extractive question answering in Go on libtorch.
#   make train        train the embedded default (tiny BERT on synthetic QA; no network)
#   make train MODEL=bert|roberta|deberta|longformer [WEIGHTS=dir] [DATA=dir]
#   make test         install what is missing, build, run every test
#   make build        build/libspanqa_cbridge.so and bin/spanqa
#   make doctor       what libtorch, BLAS, threads and devices spanqa sees
#   make bench        speed benchmarks (bench.json)
# LIBTORCH=/path/to/libtorch builds against another libtorch (e.g. CUDA 2.x).

SHELL := /bin/bash
GO ?= go
LIBTORCH ?=
MODEL ?=
WEIGHTS ?=
DATA ?=
OUTPUT ?= runs/$(if $(MODEL),$(MODEL),default)
GOTESTFLAGS ?= -timeout 40m
CBRIDGE := build/libspanqa_cbridge.so
export LIBTORCH

.PHONY: all deps build cbridge test train doctor bench clean fmt vet

all: build

deps:
	@bash third_party/install-deps.sh

build/Makefile: CMakeLists.txt
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null

$(CBRIDGE): build/Makefile $(wildcard cbridge/*.cpp cbridge/*.h cbridge/*.hpp)
	@echo "cbridge: compiling (cbridge.cpp ~20 s, distributed.cpp)"
	@cmake --build build -j2

cbridge: $(CBRIDGE)

build: deps $(CBRIDGE)
	@mkdir -p bin
	$(GO) build -o bin/spanqa ./cmd/spanqa

test: build
	$(GO) vet ./...
	$(GO) test $(GOTESTFLAGS) ./...

train: build
	./bin/spanqa train --use-recipe --recipe "$(MODEL)" --weights "$(WEIGHTS)" --data "$(DATA)" --output-dir "$(OUTPUT)"

doctor: build
	./bin/spanqa doctor

bench: build
	./bin/spanqa bench --output bench.json

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf build bin
