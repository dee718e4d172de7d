#!/usr/bin/env bash
# Fuzz the GGUF reader and everything before upload (fuzz/fuzz_targets/gguf.rs)
# for SECONDS (default 1800) on the nightly toolchain with cargo-fuzz
# (libFuzzer). The corpus starts from small valid files (a synthetic model,
# the real model's header). Crashes land in fuzz/artifacts/gguf/; turn each
# into a regression test in tests/gguf.rs.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-1800}"
if ! rustc +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: the nightly toolchain is missing (rustup toolchain install nightly); cargo-fuzz needs it" >&2
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/gguf
if [ -z "$(ls -A fuzz/corpus/gguf)" ]; then
  cargo build --release --bin glassbox
  target/release/glassbox synth --out fuzz/corpus/gguf/synth-q4k.gguf --layers 1 --dim 256 --heads 2 --kv-heads 1 --ffn 256
  target/release/glassbox synth --out fuzz/corpus/gguf/synth-f32.gguf --layers 1 --dim 32 --heads 2 --kv-heads 2 --ffn 32 --type f32 --embed f32
  model=assets/models/SmolLM2-135M-Instruct.Q4_1.gguf
  [ -f "$model" ] && head -c 65536 "$model" > fuzz/corpus/gguf/real-head.gguf
fi
cd fuzz
# -rss_limit_mb: a parser allocation driven by a count in the file shows up as an OOM crash.
cargo +nightly fuzz run gguf -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=1048576 -print_final_stats=1
