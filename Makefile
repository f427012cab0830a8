# pbs-fleet: the two commands at the top of README.md are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv/bin
DEMO_DIR ?= .cache/demo-datastore

.PHONY: bootstrap bootstrap-demo demo demo-local test test-vm test-vm-upgrade lint bench monitoring deb

bootstrap:
	@bash scripts/bootstrap.sh test

## Only what the demo needs (no QEMU, Prometheus, Chromium: those are for the test tiers).
bootstrap-demo:
	@bash scripts/bootstrap.sh demo

## The main job on the embedded default: a sandbox PBS host on this machine (systemd-nspawn,
## real SSH), provisioned by deploys/pbs_host.py twice (the second run changes nothing), then the
## installed agent's report and metrics on a demo datastore. Needs root.
demo: bootstrap-demo
	$(VENV)/python scripts/build_deb.py
	$(VENV)/python scripts/demo_sandbox.py

## Only the agent, without a sandbox host or root: a demo datastore here, its report.
demo-local: bootstrap-demo
	$(VENV)/pbs-agent demo $(DEMO_DIR) --force
	$(VENV)/pbs-agent report $(DEMO_DIR) --state-dir .cache/demo-state

## Rebuild monitoring/rules and monitoring/grafana from the jsonnet mixin in monitoring/mixin.
monitoring: bootstrap
	$(VENV)/python scripts/build_monitoring.py

## Trees the type checker covers (strict, see [tool.mypy] in pyproject.toml); add yours here.
## The lab's simulators are python3 scripts without .py: every executable in lab/simulators/.
MYPY_PATHS := pbs_agent deploys lab $(shell find lab/simulators -maxdepth 1 -type f -perm -u+x | sort)

lint: bootstrap
	$(VENV)/ruff check .
	$(VENV)/mypy $(MYPY_PATHS)

## The agent as a Debian package, built offline with Debian's tooling, then lintian (no error).
deb: bootstrap
	$(VENV)/python scripts/build_deb.py --lint

## The test suite CI runs (default tier: unit, fixtures, real Prometheus, sandbox hosts).
test: bootstrap lint deb
	$(VENV)/pytest

## The real-kernel tier (QEMU VM with real ZFS); slow, run by .ci/run when it fits.
test-vm: bootstrap deb
	$(VENV)/pytest -m "vm and not vm_upgrade" -o addopts="-ra --strict-markers" tests/vm

## The real Debian 12 -> 13 upgrade of a VM guest (deploys/upgrade.py); over an hour under TCG.
test-vm-upgrade: bootstrap deb
	$(VENV)/pytest -m vm_upgrade -o addopts="-ra --strict-markers" tests/vm
