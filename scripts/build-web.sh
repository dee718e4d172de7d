#!/usr/bin/env bash
# Build the page: wasm32 (profile `web`: optimized, LTO), wasm-bindgen glue,
# then wasm-opt, twice:
#   www/pkg     the plain module (stable toolchain): the CPU engine on one thread
#   www/pkg-mt  the threaded module (nightly, +atomics,+bulk-memory, build-std,
#               feature `threads`): the CPU engine on a pool of Web Workers
#               sharing one memory; used when the page is cross-origin isolated
# index.html loads one of them. Tools: scripts/install-web-tools.sh.
# GLASSBOX_THREADS=0 skips the threaded module (the page then says so).
# --dist DIR [--with-model] [--model-url URL] then copies the page into DIR (scripts/dist.sh).
set -euo pipefail
dist=(); [ "${1:-}" = --dist ] && { dist=("${@:2}"); [ -n "${dist[0]:-}" ] || { echo "usage: scripts/build-web.sh [--dist DIR [--with-model] [--model-url URL]]" >&2; exit 1; }; }
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
WASM_OPT="${WASM_OPT:-tests/e2e/node_modules/.bin/wasm-opt}"
BASE_FLAGS="${RUSTFLAGS:-}"

# wasm-bindgen, wasm-opt and precompressed copies for one module.
finish() { # finish WASM OUT_DIR [wasm-opt flags…]
  local wasm="$1" out="$2"; shift 2
  rm -rf "$out"
  wasm-bindgen --target web --no-typescript --out-dir "$out" "$wasm"
  if [ -x "$WASM_OPT" ] || command -v "$WASM_OPT" >/dev/null 2>&1; then
    "$WASM_OPT" -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals "$@" \
      "$out/glassbox_bg.wasm" -o "$out/glassbox_bg.wasm.opt"
    mv "$out/glassbox_bg.wasm.opt" "$out/glassbox_bg.wasm"
  else
    echo "wasm-opt not found (scripts/install-web-tools.sh installs it): the wasm is left unoptimized" >&2
  fi
  # Precompressed copies: glassbox serve sends them to browsers that accept gzip.
  find "$out" -name '*.js' -o -name '*.wasm' | while read -r f; do gzip -9 -k -f "$f"; done
  local bytes gz
  bytes=$(stat -c %s "$out/glassbox_bg.wasm")
  gz=$(stat -c %s "$out/glassbox_bg.wasm.gz")
  echo "$out/glassbox_bg.wasm: $((bytes / 1024)) KiB ($((gz / 1024)) KiB gzipped)"
}

# 1. Plain. SIMD128 (every current browser has it) lets the CPU fallback's
# 16-lane dot products vectorize.
RUSTFLAGS="$BASE_FLAGS -C target-feature=+simd128" cargo build --lib --target wasm32-unknown-unknown --profile web
finish target/wasm32-unknown-unknown/web/glassbox.wasm www/pkg

# 2. Threaded: std rebuilt with atomics (build-std needs nightly and
# rust-src). The linker is told to make the memory shared and imported (a
# shared memory must declare its maximum: 4 GiB, as the plain one) and to
# export the thread-local storage hooks wasm-bindgen starts each thread with.
if [ "${GLASSBOX_THREADS:-1}" = 0 ]; then
  rm -rf www/pkg-mt
  echo "GLASSBOX_THREADS=0: no threaded module (the page runs its CPU engine on one thread)"
  [ ${#dist[@]} -eq 0 ] || scripts/dist.sh "${dist[@]}"
  exit 0
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1 || ! rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src'; then
  echo "the threaded module needs a nightly toolchain with rust-src (scripts/install-web-tools.sh adds rust-src)" >&2
  exit 1
fi
RUSTFLAGS="$BASE_FLAGS -C target-feature=+simd128,+atomics,+bulk-memory -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 \
  -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base" \
  cargo +nightly build --lib --target wasm32-unknown-unknown --profile web --features threads \
    -Z build-std=panic_abort,std --target-dir target/threads
finish target/threads/wasm32-unknown-unknown/web/glassbox.wasm www/pkg-mt --enable-threads
[ ${#dist[@]} -eq 0 ] || scripts/dist.sh "${dist[@]}"
