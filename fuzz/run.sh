#!/usr/bin/env bash
# Builds every fuzz target with coverage instrumentation on the stable toolchain (the flags
# `cargo fuzz build -s none` passes) and runs each for N seconds (default 5).
# Usage: bash fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-5}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps these flags off build scripts, which run on the host uninstrumented.
triple="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --bins --target "$triple"
for target in $(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^oxidex-fuzz$'); do
  mkdir -p "corpus/$target"
  echo "fuzzing $target for ${seconds}s"
  "target/$triple/release/$target" -max_total_time="$seconds" -print_final_stats=1 "corpus/$target" 2>&1 \
    | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|INFO: seed)' || true
  # A crash leaves a crash-* artifact and a non-zero exit; grep above hides the exit status.
  if ls crash-* oom-* timeout-* >/dev/null 2>&1; then
    echo "fuzz target $target found a failing input:" >&2
    ls crash-* oom-* timeout-* >&2
    exit 1
  fi
done
