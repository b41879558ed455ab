#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the parsers that take outside input: the
# XML configuration, the payload parsers (controller and agent), every bus event decoder.
# Each target runs FUZZ_SECONDS (60) from a seed corpus made of conf/, tests/fixtures and
# fuzz/corpus; any crash (panic, overflow, timeout, out of memory) fails the script and leaves
# the input under $FUZZ_DIR/artifacts/TARGET/. Installs cargo-fuzz when absent.
#
# cargo-fuzz passes nightly-only flags to rustc (-Z sanitizer coverage instrumentation); on the
# stable toolchain RUSTC_BOOTSTRAP=1 lets rustc accept them. No sanitizer: the targets are safe
# Rust, and a panic (with debug assertions: overflow checks) is what we look for.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_DIR="${FUZZ_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/fuzz}"
TARGETS=(config_xml payload events)

log() { printf '[fuzz] %s\n' "$*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
FUZZ_TARGET_DIR="$FUZZ_DIR/build"
mkdir -p "$FUZZ_DIR"

log "building ${TARGETS[*]}"
(cd fuzz && cargo fuzz build --sanitizer none --debug-assertions --target-dir "$FUZZ_TARGET_DIR")

seed() {
    local target=$1 corpus=$2
    mkdir -p "$corpus"
    if [ -d "fuzz/corpus/$target" ]; then
        cp -n fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
    fi
    if [ "$target" = config_xml ]; then
        local f
        while IFS= read -r -d '' f; do
            cp -n "$f" "$corpus/$(echo "${f#./}" | tr '/' '_')"
        done < <(find ./conf ./tests/fixtures -name '*.xml' -print0)
    fi
}

failed=()
for target in "${TARGETS[@]}"; do
    corpus="$FUZZ_DIR/corpus/$target"
    artifacts="$FUZZ_DIR/artifacts/$target"
    seed "$target" "$corpus"
    mkdir -p "$artifacts"
    log "running $target for ${FUZZ_SECONDS}s (corpus $corpus)"
    if ! (cd fuzz && cargo fuzz run --sanitizer none --debug-assertions \
            --target-dir "$FUZZ_TARGET_DIR" "$target" "$corpus" -- \
            -max_total_time="$FUZZ_SECONDS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$artifacts/" -print_final_stats=1); then
        log "CRASH in $target: input in $artifacts/"
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    log "crashed: ${failed[*]}"
    exit 1
fi
log "ok: ${TARGETS[*]}, ${FUZZ_SECONDS}s each, no crash"
