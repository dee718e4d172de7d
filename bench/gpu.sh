#!/usr/bin/env bash
# Glassbox on a real GPU, natively through wgpu/Vulkan: prefill, decode and
# Play-ahead tokens/s, dispatches per decode step, submissions per prefill,
# readbacks and bytes read back per token in Play, GPU time per kernel
# (timestamp queries, where the device has them), beside the CPU backend.
# Short (< 5 min), no network: build and fetch beforehand, here:
#   cargo build --release && scripts/fetch-model.sh
# then run this where the GPU is:  bench/gpu.sh [path/to/glassbox] [model.gguf]
# On a machine whose Vulkan loader is missing, unpack libvulkan1 first (see
# the device notes); with an NVIDIA driver, VK_DRIVER_FILES may need to point
# at its ICD json.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/glassbox}
model=${2:-assets/models/SmolLM2-135M-Instruct.Q4_1.gguf}
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --release first" >&2; exit 1; }
[ -f "$model" ] || { echo "no model at $model: scripts/fetch-model.sh first" >&2; exit 1; }
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
echo "== machine"
uname -m; nproc
(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader) || true
echo "== GPU backend (greedy check, then benchmark)"
timeout 120 "$bin" generate --backend gpu --model "$model" -n 30 "The capital of France is"
timeout 240 "$bin" bench --backend gpu --model "$model" --runs 5 --tokens 64 --play 8
echo "== CPU backend"
timeout 120 "$bin" bench --backend cpu --model "$model" --runs 3 --tokens 32
