#!/usr/bin/env bash
# Command 1: install what is missing, fetch the model, build the page and
# serve it with the model on http://127.0.0.1:8080 (PORT=… to change).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-web-tools.sh
scripts/fetch-model.sh >/dev/null
scripts/build-web.sh
cargo build --release
exec target/release/glassbox serve --port "${PORT:-8080}"
