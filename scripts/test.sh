#!/usr/bin/env bash
# Every test Glassbox has. Fetches the model first if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh >/dev/null
cargo test --release "$@"
