#!/usr/bin/env python3
"""Measure llama.cpp (llama-cpp-python) speed on SmolLM2-135M-Instruct, for comparison with Glassbox.

Prefill: tokens/s evaluating a fixed ~100-token prompt from an empty context.
Decode:  tokens/s over 64 greedy tokens after that prompt (one llama_decode per token).
Each figure is the median of 5 runs (after one warm-up run), n_threads=2.

The primary figures are for the original Q4_1 file with llama.cpp's defaults (F16 KV
cache); the F32 copy made by tests/fixtures/record_llama_cpp.py is measured too, for
information. Setup is the same as for that script (see its docstring). Never run in CI.
Run it on a quiet machine: the load average is recorded in the JSON.

    /tmp/llenv/venv/bin/python bench/llama_cpp_bench.py [--model Q4_1.gguf] [--f32 F32.gguf]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "assets" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_F32 = REPO / "assets" / "models" / "SmolLM2-135M-Instruct.F32.gguf"

N_THREADS = 2
N_DECODE = 64
RUNS = 5
PROMPT = (
    "The history of computing is a story of abstraction. Early machines were programmed by "
    "physically rewiring circuits, a slow and error-prone process that required deep knowledge "
    "of the hardware. The invention of stored-program computers allowed instructions to be kept "
    "in memory alongside data, and assembly languages gave human-readable names to machine "
    "operations. In the 1950s, languages such as FORTRAN and COBOL let scientists and business "
    "analysts express their problems in terms closer to mathematics and English. Operating systems"
)


def bench_model(path: Path, f32_kv: bool) -> dict:
    import llama_cpp
    from llama_cpp import Llama

    kw = dict(model_path=str(path), n_ctx=512, n_batch=512, n_ubatch=512,
              n_threads=N_THREADS, n_threads_batch=N_THREADS, logits_all=False, verbose=False)
    if f32_kv:
        kw.update(type_k=0, type_v=0, flash_attn=False)
    llm = Llama(**kw)
    ids = list(llm.tokenize(PROMPT.encode("utf-8"), add_bos=False, special=True))

    def reset() -> None:
        llm.reset()
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm._ctx.ctx), True)

    def next_token() -> int:
        # Llama.scores is only filled with logits_all=True; read llama.cpp's buffer.
        ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        return int(np.argmax(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))))

    prefill, decode, gen = [], [], None
    for run in range(RUNS + 1):  # run 0 is a warm-up
        reset()
        t0 = time.perf_counter()
        llm.eval(ids)
        t1 = time.perf_counter()
        out = []
        tok = next_token()
        t2 = time.perf_counter()
        for _ in range(N_DECODE):
            out.append(tok)
            llm.eval([tok])
            tok = next_token()
        t3 = time.perf_counter()
        if run == 0:
            gen = out
            continue
        assert out == gen, "greedy output changed between runs"
        prefill.append(len(ids) / (t1 - t0))
        decode.append(N_DECODE / (t3 - t2))
    del llm
    return {
        "model": path.name,
        "kv_cache": "f32" if f32_kv else "default (f16)",
        "prompt_tokens": len(ids),
        "decode_tokens": N_DECODE,
        "prefill_tok_s": statistics.median(prefill),
        "decode_tok_s": statistics.median(decode),
        "prefill_runs_tok_s": prefill,
        "decode_runs_tok_s": decode,
        # max/min over the runs; above ~1.25 the machine was probably busy (llama.cpp's
        # OpenMP threads degrade badly when the cores are oversubscribed).
        "prefill_spread": max(prefill) / min(prefill),
        "decode_spread": max(decode) / min(decode),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--f32", type=Path, default=DEFAULT_F32)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "llama_cpp_bench.json")
    args = ap.parse_args()

    import llama_cpp

    load_before = os.getloadavg()
    results = [bench_model(args.model, f32_kv=False)]
    if args.f32.exists():
        results.append(bench_model(args.f32, f32_kv=True))
    else:
        print(f"note: {args.f32} missing, F32 copy not measured", file=sys.stderr)
    load_after = os.getloadavg()

    report = {
        "llama_cpp_python": llama_cpp.__version__,
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "n_threads": N_THREADS,
        "runs": RUNS,
        "statistic": "median",
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print(f"llama-cpp-python {llama_cpp.__version__}, n_threads={N_THREADS}, median of {RUNS}, "
          f"load {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print(f"{'model':34s} {'kv':14s} {'prefill tok/s':>14s} {'decode tok/s':>13s}")
    for r in results:
        print(f"{r['model']:34s} {r['kv_cache']:14s} {r['prefill_tok_s']:14.1f} {r['decode_tok_s']:13.1f}")
        if max(r["prefill_spread"], r["decode_spread"]) > 1.25:
            print(f"  warning: runs vary by more than 25% for {r['model']}; was the machine busy?")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
