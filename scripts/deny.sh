#!/usr/bin/env bash
# Dependency policy (deny.toml): licences, bans and sources with cargo-deny, offline.
#
#   bash scripts/deny.sh                 install cargo-deny if missing, then check
#   bash scripts/deny.sh advisories      also check the RustSec advisories (needs GitHub)
#
# The advisory database is cloned from GitHub; where GitHub is unreachable (this project's
# build machines) only licences, bans and sources are checked, which need nothing but the
# crates already in the local cargo registry.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "installing cargo-deny (cargo install --locked; several minutes on a small machine)" >&2
  started=$(date +%s)
  cargo install cargo-deny --locked
  echo "cargo-deny installed in $(( $(date +%s) - started )) s" >&2
fi

checks=(licenses bans sources)
if [ "${1:-}" = advisories ]; then
  checks+=(advisories)
  cargo deny --locked check --hide-inclusion-graph "${checks[@]}"
else
  cargo deny --offline --locked check --hide-inclusion-graph "${checks[@]}"
fi
