# The two commands a new machine needs: `make run` (the main job) and `make test` (every test).
SWIFT ?= swift
DEMO_REGISTRY ?= 127.0.0.1:5000
DATA_ROOT ?= /var/lib/imc

.PHONY: setup build run test lint format bench

setup:
	./scripts/setup.sh

build: setup
	$(SWIFT) build -c release --product imc
	$(SWIFT) build -c release --product imc-bench

# Until the service exists, the main job is a pull from the demo registry: it starts Debian's
# registry on $(DEMO_REGISTRY), pushes sample images made from code, and pulls one.
run: build
	./scripts/demo.sh "$(DEMO_REGISTRY)" "$(DATA_ROOT)"

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

format:
	$(SWIFT) format format --in-place --recursive Sources Tests Package.swift

test: setup lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench: build
	.build/release/imc-bench pull
