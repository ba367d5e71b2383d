#!/usr/bin/env bash
# Per-call instructions (callgrind) and heap allocations (dhat) of the borrowed json::Json parse,
# the same allow-list building a serde_json::Value, and admission::answer on the 4 KB Job review:
# each case run 1,001 times and once, the difference over 1,000. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")"
target="${TMPDIR:-/tmp}/vramgate-json-decision"
cargo build --release --target-dir "$target"
bin="$target/release/json-decision"
for mode in json value answer-denied answer-fits answer-mutate; do
  for n in 0 1000; do
    ir=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$mode" "$n" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    heap=$(valgrind --tool=dhat --dhat-out-file=/dev/null "$bin" "$mode" "$n" 2>&1 | sed -n 's/.*Total: *//p')
    echo "$mode $n instructions=$ir heap=$heap"
  done
done
