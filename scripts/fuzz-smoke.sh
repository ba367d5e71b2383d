#!/usr/bin/env bash
# Bounded fuzzing smoke test: every cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 30)
# each, starting from the committed seeds (fuzz/seeds/<target>) and the local corpus
# (fuzz/corpus/<target>, gitignored). Fails on any crash, panic, timeout (10 s per input) or
# out-of-memory; libFuzzer writes the input to fuzz/artifacts/<target>/. docs/fuzzing.md says
# how to reproduce one and how to run the targets for longer.
#
# Toolchain: nightly if rustup has one (`cargo +nightly fuzz`, AddressSanitizer); otherwise
# stable with RUSTC_BOOTSTRAP=1 and `--sanitizer none` (the crate forbids unsafe code, so the
# sanitizer mostly guards dependencies; coverage guidance and the assertions work the same).
# FUZZ_TOOLCHAIN=stable forces the fallback. Installs cargo-fuzz if it is missing.
#
# Environment: FUZZ_SECONDS (per target), FUZZ_TARGETS (space-separated subset),
# FUZZ_TOOLCHAIN (nightly|stable), FUZZ_SANITIZER (address|none|...; nightly only).
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
targets="${FUZZ_TARGETS:-annotation_values annotation_fields workload_json workload_structured review_body}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz (about 2 minutes on 2 cores)"
    cargo install cargo-fuzz --locked
fi

toolchain="${FUZZ_TOOLCHAIN:-}"
if [[ -z "$toolchain" ]]; then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then toolchain=nightly; else toolchain=stable; fi
fi
if [[ "$toolchain" == nightly ]]; then
    fuzz=(cargo +nightly fuzz)
    sanitizer=(--sanitizer "${FUZZ_SANITIZER:-address}")
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
    sanitizer=(--sanitizer none)
fi
echo "fuzz-smoke: ${fuzz[*]} ${sanitizer[*]}, ${seconds}s per target: $targets"

cd fuzz
# A failed link prints the whole linker command line first (tens of kilobytes) and the reason
# last, which a CI log may cut. So the reason's lines, and the machine's free disk and memory
# (the usual causes on a small CI machine), are printed again on their own. One retry with a
# single job links one instrumented binary at a time instead of one per core.
build_log="$(mktemp)"
if ! "${fuzz[@]}" build -O "${sanitizer[@]}" 2>&1 | tee "$build_log"; then
    echo "fuzz-smoke: build failed; the linker's and compiler's reasons:"
    grep -E 'ld: |collect2|[Nn]o space|[Kk]illed|signal|undefined reference|^error' "$build_log" |
        cut -c1-300 | tail -n 20 || true
    echo "fuzz-smoke: free disk and memory here:"
    df -h . || true
    free -m || true
    echo "fuzz-smoke: retrying the build with one job"
    CARGO_BUILD_JOBS=1 "${fuzz[@]}" build -O "${sanitizer[@]}"
fi
rm -f "$build_log"

failed=()
for t in $targets; do
    mkdir -p "corpus/$t"
    dirs=("corpus/$t")
    [[ -d "seeds/$t" ]] && dirs+=("seeds/$t")
    dict=()
    case "$t" in
        annotation_*) dict=(-dict=dicts/annotations.dict) ;;
        review_body | workload_json) dict=(-dict=dicts/json.dict) ;;
    esac
    log="$(mktemp)"
    echo "fuzz-smoke: $t"
    if "${fuzz[@]}" run -O "${sanitizer[@]}" "$t" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
        >"$log" 2>&1; then
        runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
        echo "fuzz-smoke: $t ok ($runs executions)"
    else
        tail -n 60 "$log"
        echo "fuzz-smoke: $t FAILED (input in fuzz/artifacts/$t/)"
        failed+=("$t")
    fi
    rm -f "$log"
done

if ((${#failed[@]})); then
    echo "fuzz-smoke: crashes in: ${failed[*]}"
    exit 1
fi
echo "fuzz-smoke: all targets ran ${seconds}s without a crash"
