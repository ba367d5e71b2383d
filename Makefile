# `make test` is the one command that checks everything (README, .ci/run).
# It installs what is missing, then runs formatting, clippy with -D warnings, every test and
# the chart checks.

CARGO ?= cargo
VENV := .venv
export CARGO_TERM_COLOR := never

.PHONY: test deps fmt-check clippy unit chart-check bench fmt

test: deps fmt-check clippy unit chart-check

# Rust components ship with the toolchain; Debian packages and Python tools are added here
# when a later check needs them.
deps:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	@command -v cc >/dev/null || { apt-get update -qq && apt-get install -y -qq gcc libc6-dev; }

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit:
	$(CARGO) test --locked --all-targets

# The Helm chart, manifests, dashboard and alerts against the real Helm engine,
# kubernetes-validate and a real Prometheus (installs what is missing; see scripts/chart-check.sh).
chart-check:
	bash scripts/chart-check.sh

bench:
	$(CARGO) bench --bench estimate
	$(CARGO) bench --bench webhook_load

fmt:
	$(CARGO) fmt --all
