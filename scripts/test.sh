#!/usr/bin/env bash
# Command 2: every test Glassbox has. First it installs whatever is missing
# (each step is skipped in seconds when already satisfied):
#   scripts/install-deps.sh       lavapipe (Vulkan on the CPU) for the GPU tests
#   scripts/install-web-tools.sh  wasm32 target, wasm-bindgen-cli, wasm-opt, Chromium, playwright-core
#   scripts/fetch-model.sh        the model, sha256-checked
# then runs the engine tests (cargo test: CPU and GPU backends) and the page
# in headless Chromium (WebGPU and the CPU fallback). A missing GPU adapter or
# browser fails, never skips. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== set-up (installs only what is missing)"
scripts/install-deps.sh
scripts/install-web-tools.sh
scripts/fetch-model.sh >/dev/null
# Vulkan loaders complain without a runtime dir; any writable one will do.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
echo "== engine tests (cargo test --release)"
cargo test --release "$@"
echo "== page build"
scripts/build-web.sh
echo "== browser tests (node --test, Chromium + playwright-core)"
# Each test's browser profile is removed when it ends; a full disk fails here.
df -h /tmp | awk 'NR == 2 { print "free on /tmp: " $4 }'
(cd tests/e2e && node --test --test-concurrency=1 page.test.mjs)
