# pbs-fleet: the two commands at the top of README.md are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv/bin
DEMO_DIR ?= .cache/demo-datastore

.PHONY: bootstrap demo test test-vm lint bench

bootstrap:
	@bash scripts/bootstrap.sh

## The main job on the embedded default: a demo datastore on this machine, its report and metrics.
demo: bootstrap
	$(VENV)/pbs-agent demo $(DEMO_DIR) --force
	$(VENV)/pbs-agent report $(DEMO_DIR) --state-dir .cache/demo-state

lint: bootstrap
	$(VENV)/ruff check .

## The test suite CI runs (default tier: unit, fixtures, real Prometheus, sandbox hosts).
test: bootstrap lint
	$(VENV)/pytest

## The real-kernel tier (QEMU VM with real ZFS); slow, run by .ci/run when it fits.
test-vm: bootstrap
	$(VENV)/pytest -m vm -o addopts="-ra --strict-markers" tests/vm
