#!/usr/bin/env bash
# Glassbox vs llama.cpp on the same GGUF with the same thread count: prefill and
# decode tokens/s from llama.cpp's own `llama-bench` and from `glassbox bench`
# (its 84-token prompt, 64 decode steps, median of 5 runs), then a table with the
# Glassbox/llama.cpp ratios. Both do the same work: llama-bench prefills 84 tokens
# (pp84) and decodes 64 tokens after 84 in context (tg64 at depth 84), mean of 5
# runs; its tg64 from an empty context is printed too. The engines take turns
# (llama, glassbox, llama, glassbox, ...), ROUNDS times (default 3): the table
# gives each engine's best round and the median of the rounds' own ratios (each
# ratio from one llama run and the glassbox run right after it: this machine's
# speed drifts by ±30% from minute to minute).
#
#   bench/llama_bench.sh [model.gguf] [threads]     (defaults: the fetched Q4_1 file, 2)
#   LEVEL=avx2 bench/llama_bench.sh                 (both engines held to AVX2 on an
#                                                    AVX-512 machine: llama.cpp built
#                                                    without AVX-512, glassbox with
#                                                    GLASSBOX_SIMD=avx2)
#   ROUNDS=5 bench/llama_bench.sh
#
# llama-bench is built once from the llama.cpp tree inside the llama-cpp-python
# sdist (from PyPI, via pip) in ${LLAMA_BENCH_DIR:-~/.cache/glassbox/llama-bench};
# the first build takes about 9 minutes on 2 shared cores, later runs reuse it.
# Needs target/release/glassbox (cargo build --release). Never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-assets/models/SmolLM2-135M-Instruct.Q4_1.gguf}
threads=${2:-2}
ver=0.3.36
cache=${LLAMA_BENCH_DIR:-$HOME/.cache/glassbox/llama-bench}
src=$cache/llama_cpp_python-$ver/vendor/llama.cpp
# Built for the CPU it runs on: each SIMD level from /proc/cpuinfo (AMX
# always off: these CPUs report it and fault on it). The build folder is
# named by the level, so an AVX2-only machine never runs an AVX-512 binary.
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { case "$flags" in *" $1 "*) echo ON ;; *) echo OFF ;; esac; }
AVX512=$(has avx512f); VBMI=$(has avx512vbmi); VNNI=$(has avx512_vnni); BF16=$(has avx512_bf16)
level=$([ "$AVX512" = ON ] && echo avx512 || echo avx2)
if [ "${LEVEL:-}" = avx2 ]; then
  level=avx2; AVX512=OFF; VBMI=OFF; VNNI=OFF; BF16=OFF
  export GLASSBOX_SIMD=avx2
fi
bin=$cache/build-$ver-$level/bin/llama-bench
glassbox=target/release/glassbox
[ -f "$model" ] || { echo "no model at $model (scripts/fetch-model.sh)" >&2; exit 1; }
[ -x "$glassbox" ] || { echo "no $glassbox (cargo build --release)" >&2; exit 1; }

if [ ! -x "$bin" ]; then
  mkdir -p "$cache"
  if [ ! -f "$src/tools/llama-bench/llama-bench.cpp" ]; then
    # Only this package from source: `--no-binary :all:` would build cmake itself too.
    python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
      --dest "$cache" "llama-cpp-python==$ver"
    tar -xzf "$cache/llama_cpp_python-$ver.tar.gz" -C "$cache"
  fi
  if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
    [ -x "$cache/venv/bin/ninja" ] || { python3 -m venv "$cache/venv"; "$cache/venv/bin/pip" install --quiet cmake ninja; }
    export PATH=$cache/venv/bin:$PATH
  fi
  # No server, UI or TLS (they would fetch things); only llama-bench is built.
  start=$SECONDS
  nice -n 19 cmake -S "$src" -B "$cache/build-$ver-$level" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DGGML_AVX512=$AVX512 -DGGML_AVX512_VBMI=$VBMI -DGGML_AVX512_VNNI=$VNNI -DGGML_AVX512_BF16=$BF16 \
    -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF >/dev/null
  nice -n 19 cmake --build "$cache/build-$ver-$level" --target llama-bench -j2
  echo "built $bin in $((SECONDS - start)) s" >&2
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
rounds=${ROUNDS:-3}
for round in $(seq "$rounds"); do
  echo "round $round: llama.cpp ..." >&2
  "$bin" -m "$model" -t "$threads" -p 84 -n 64 -d 0,84 -r 5 -o json >"$out/llama$round.json" 2>"$out/llama$round.log" \
    || { cat "$out/llama$round.log" >&2; exit 1; }
  echo "round $round: glassbox ..." >&2
  GLASSBOX_THREADS=$threads "$glassbox" bench --model "$model" --runs 5 --tokens 64 --json >"$out/glassbox$round.json"
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$out" "$model" "$threads" "$level" "$rounds" <<'PY'
import json, statistics, sys
out, model, threads, level, n = sys.argv[1:]
rounds = range(1, int(n) + 1)
def llama(r):
    rows = json.load(open(f"{out}/llama{r}.json"))
    pick = lambda p, g, d: next(x["avg_ts"] for x in rows if x["n_prompt"] == p and x["n_gen"] == g and x.get("n_depth", 0) == d)
    return pick(84, 0, 0), pick(0, 64, 84), pick(0, 64, 0)
def glassbox(r):
    d = json.load(open(f"{out}/glassbox{r}.json"))
    return d["prefill_tok_s"], d["decode_tok_s"]
L = [llama(r) for r in rounds]
G = [glassbox(r) for r in rounds]
g0 = json.load(open(f"{out}/glassbox1.json"))
for r, l, g in zip(rounds, L, G):
    print(f"round {r}: llama.cpp {l[0]:7.1f} / {l[1]:6.1f} (tg64 from empty: {l[2]:6.1f})   glassbox {g[0]:7.1f} / {g[1]:6.1f}   (prefill / decode tok/s)   ratios {g[0]/l[0]:.2f} / {g[1]/l[1]:.2f}")
lp, ld, l0 = (max(x[i] for x in L) for i in range(3))
gp, gd = max(x[0] for x in G), max(x[1] for x in G)
mp = statistics.median(g[0] / l[0] for g, l in zip(G, L))
md = statistics.median(g[1] / l[1] for g, l in zip(G, L))
print(f"\n{model}, {threads} threads (glassbox reports {g0['threads']}); {len(L)} interleaved rounds")
print(f"SIMD: llama.cpp built for {level} (from /proc/cpuinfo) · glassbox dispatches {g0.get('simd', '?')}")
print(f"llama.cpp: pp84, tg64 at depth 84, mean of 5 · glassbox: {g0['prompt_tokens']}-token prompt, {g0['decode_tokens']} steps, median of 5\n")
print(f"| engine    | prefill tok/s | decode tok/s |")
print(f"|-----------|--------------:|-------------:|")
print(f"| llama.cpp, best round | {lp:13.1f} | {ld:12.1f} (tg64 from empty: {l0:.1f}) |")
print(f"| glassbox, best round  | {gp:13.1f} | {gd:12.1f} |")
print(f"| ratio of the bests    | {gp/lp:13.2f} | {gd/ld:12.2f} |")
print(f"| median of the rounds' ratios | {mp:13.2f} | {md:12.2f} |")
PY
