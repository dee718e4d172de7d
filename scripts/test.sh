#!/usr/bin/env bash
# Every test Glassbox has. Fetches the model first if it is missing.
# The GPU tests need a Vulkan driver (scripts/install-deps.sh); without an
# adapter they fail rather than skip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh >/dev/null
# Vulkan loaders complain without a runtime dir; any writable one will do.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo test --release "$@"
