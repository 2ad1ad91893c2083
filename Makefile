# The two commands a new machine needs: `make run` (the main job) and `make test` (every test).
SWIFT ?= swift
DEMO_REGISTRY ?= 127.0.0.1:5000
DATA_ROOT ?= /var/lib/imc
PREFIX ?= /usr/local

.PHONY: setup build install run run-cluster test lint format bench

setup:
	./scripts/setup.sh

build: setup
	$(SWIFT) build -c release --product imc
	$(SWIFT) build -c release --product imc-bench

# `imc` on the PATH, so that the README's commands work as typed.
install: build
	install -m 0755 .build/release/imc $(PREFIX)/bin/imc

# The main job: Debian's registry on $(DEMO_REGISTRY) seeded with sample images made from code
# (this machine reaches no registry on the internet), then `imc serve` with its embedded
# defaults on 127.0.0.1:8080, in the foreground.
run: install
	./scripts/demo.sh "$(DEMO_REGISTRY)" "$(DATA_ROOT)"

# imc past one machine, on this one: PostgreSQL, Ceph, two API replicas and three nodes, each
# node in its own mount namespace (scripts/cluster.sh); Ctrl-C stops it.
run-cluster: install
	./scripts/cluster.sh "$(DEMO_REGISTRY)" "$(DATA_ROOT)-cluster"

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

format:
	$(SWIFT) format format --in-place --recursive Sources Tests Package.swift

# Every module a target imports must be declared in Package.swift by the target itself (the
# script; SwiftPM's own check accepts any module of the recursive dependencies).
test: setup lint
	python3 scripts/check-imports.py
	$(SWIFT) build --build-tests --explicit-target-dependency-import-check error
	$(SWIFT) test --skip-build
	python3 -m pytest -q Tests/Python
	# The same build and instance tests over PostgreSQL and Ceph RBD (started by the tests), and
	# two API replicas and two nodes over them, one of which is killed.
	IMC_TEST_SCALED=1 python3 -m pytest -q Tests/Python/test_build_end_to_end.py Tests/Python/test_instances_end_to_end.py Tests/Python/test_cluster.py

bench: build
	.build/release/imc-bench pull
