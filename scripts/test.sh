#!/usr/bin/env bash
# Command 2: every test Glassbox has — the engine (CPU and GPU backends, via
# cargo test), then the page in headless Chromium (WebGPU and CPU fallback).
# Needs the tools from scripts/install-deps.sh and scripts/install-web-tools.sh
# (.ci/run installs them); a missing GPU adapter or browser fails, never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh >/dev/null
# Vulkan loaders complain without a runtime dir; any writable one will do.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
echo "== engine tests (cargo test --release)"
cargo test --release "$@"
echo "== page build"
scripts/build-web.sh
echo "== browser tests (node --test, Chromium + playwright-core)"
[ -d tests/e2e/node_modules/playwright-core ] || (cd tests/e2e && npm ci --no-audit --no-fund)
(cd tests/e2e && node --test --test-concurrency=1 page.test.mjs)
