#!/usr/bin/env bash
# Build the page: wasm32 (profile `web`: optimized, LTO), wasm-bindgen glue
# into www/pkg, then wasm-opt. Tools: scripts/install-web-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
WASM_OPT="${WASM_OPT:-tests/e2e/node_modules/.bin/wasm-opt}"
# SIMD128 (every current browser has it) lets the CPU fallback's 16-lane dot
# products vectorize; getrandom needs its wasm_js backend named.
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128"
cargo build --lib --target wasm32-unknown-unknown --profile web
rm -rf www/pkg
wasm-bindgen --target web --no-typescript --out-dir www/pkg target/wasm32-unknown-unknown/web/glassbox.wasm
if [ -x "$WASM_OPT" ] || command -v "$WASM_OPT" >/dev/null 2>&1; then
  "$WASM_OPT" -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    www/pkg/glassbox_bg.wasm -o www/pkg/glassbox_bg.wasm.opt
  mv www/pkg/glassbox_bg.wasm.opt www/pkg/glassbox_bg.wasm
else
  echo "wasm-opt not found (scripts/install-web-tools.sh installs it): the wasm is left unoptimized" >&2
fi
# Precompressed copies: glassbox serve sends them to browsers that accept gzip.
gzip -9 -k -f www/pkg/glassbox_bg.wasm www/pkg/glassbox.js
bytes=$(stat -c %s www/pkg/glassbox_bg.wasm)
gz=$(stat -c %s www/pkg/glassbox_bg.wasm.gz)
echo "www/pkg/glassbox_bg.wasm: $((bytes / 1024)) KiB ($((gz / 1024)) KiB gzipped)"
