#!/usr/bin/env bash
# Copy the built page (scripts/build-web.sh) into a folder any static host
# can serve from any path (GitHub Pages, Netlify, S3, a school server,
# `python3 -m http.server`): index.html, style.css, the engine worker and
# its pool threads, the service worker, both wasm modules with their
# precompressed copies. Every URL in it is relative. The Fluent catalogues
# are compiled into the wasm. With --with-model the served model goes too.
#
#   scripts/dist.sh DIR [--with-model]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: scripts/dist.sh DIR [--with-model]}"
with_model="${2:-}"
[ -f www/pkg/glassbox_bg.wasm ] || { echo "build the page first: scripts/build-web.sh" >&2; exit 1; }
mkdir -p "$dir"
cp www/index.html www/style.css www/worker.js www/thread.js www/sw.js "$dir/"
rm -rf "$dir/pkg" "$dir/pkg-mt"
cp -r www/pkg "$dir/pkg"
[ -d www/pkg-mt ] && cp -r www/pkg-mt "$dir/pkg-mt"
if [ "$with_model" = --with-model ]; then
  model="${GLASSBOX_MODEL:-assets/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
  [ -f "$model" ] || { echo "no model at $model: scripts/fetch-model.sh" >&2; exit 1; }
  cp "$model" "$dir/model.gguf"
fi
echo "$dir: $(du -sh "$dir" | cut -f1) ($(find "$dir" -type f | wc -l) files)"
