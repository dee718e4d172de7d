#!/usr/bin/env bash
# Copy the built page (scripts/build-web.sh) into a folder any static host
# can serve from any path (GitHub Pages, Netlify, S3, a school server,
# `python3 -m http.server`): index.html, style.css, the engine worker and
# its pool threads, the service worker, both wasm modules with their
# precompressed copies. Every URL in it is relative. The Fluent catalogues
# are compiled into the wasm. With --with-model the served model goes too;
# with --model-url URL the page opens that address's GGUF by default (a
# server that allows other sites to read it: Hugging Face "resolve" links
# do), so the site can carry the page alone.
#
#   scripts/dist.sh DIR [--with-model] [--model-url URL]
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: scripts/dist.sh DIR [--with-model] [--model-url URL]"
dir="${1:?$usage}"; shift
with_model="" model_url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --with-model) with_model=--with-model; shift ;;
    --model-url)
      model_url="${2:-}"; shift 2 || { echo "$usage" >&2; exit 1; }
      case "$model_url" in http://?*|https://?*) ;; *) echo "--model-url needs an http:// or https:// address, not '$model_url'" >&2; exit 1 ;; esac
      case "$model_url" in *[[:space:]]*) echo "--model-url: the address has a space in it" >&2; exit 1 ;; esac ;;
    *) echo "$usage" >&2; exit 1 ;;
  esac
done
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
if [ -n "$model_url" ]; then
  # The page's default model, as a <meta> the page reads (HTML-escaped).
  esc=$(printf '%s' "$model_url" | sed -e 's/&/\&amp;/g' -e 's/"/\&quot;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g')
  python3 - "$dir/index.html" "$esc" <<'PY'
import sys
path, url = sys.argv[1], sys.argv[2]
html = open(path, encoding="utf-8").read()
meta = f'<meta name="glassbox-model" content="{url}">'
assert "<head>" in html, "index.html has no <head>"
open(path, "w", encoding="utf-8").write(html.replace("<head>", "<head>\n  " + meta, 1))
PY
  echo "$dir: the page opens $model_url by default"
fi
echo "$dir: $(du -sh "$dir" | cut -f1) ($(find "$dir" -type f | wc -l) files)"
