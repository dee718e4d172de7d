#!/usr/bin/env python3
"""Glassbox on every requantized copy of SmolLM2: greedy ids against
llama.cpp, file size and speed, as one Markdown table (README "Weight formats").

The files and the llama.cpp references come from bench/requantize.py
(tests/fixtures/requantized_greedy.json). For each file present in
assets/models this runs `glassbox generate --ids` on the CPU and the GPU
backends with each fixture prompt and compares with llama.cpp's 30 greedy
ids; a difference is reported with the first diverging step and the
reference's smallest top-2 logit gap (a near tie can flip either way
between two correct f32 implementations). Then `glassbox bench --json`
gives prefill and decode tokens/s per backend.

    python3 bench/formats.py [--glassbox target/release/glassbox] [--backends cpu,gpu] [--runs 3]

Nothing here runs in CI (the requantized files are not fetched there).
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glassbox", default=os.path.join(ROOT, "target/release/glassbox"))
    ap.add_argument("--models", default=os.path.join(ROOT, "assets/models"))
    ap.add_argument("--backends", default="cpu,gpu")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=32)
    a = ap.parse_args()
    fx = json.load(open(os.path.join(ROOT, "tests/fixtures/requantized_greedy.json")))
    backends = a.backends.split(",")
    rows, failures = [], 0
    for f in fx["files"]:
        path = os.path.join(a.models, f["file"])
        if not os.path.exists(path):
            print(f"{f['file']}: not present (run bench/requantize.py)", file=sys.stderr)
            continue
        equal = {}
        for be in backends:
            ok = 0
            for c in f["cases"]:
                out = run([a.glassbox, "generate", "--model", path, "--backend", be, "--ids", "-n", str(len(c["ids"])), c["prompt"]])
                got = json.loads(out)
                want = c["ids"]
                if got == want:
                    ok += 1
                else:
                    first = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))
                    print(f"{f['format']} {be} {c['name']}: differs from step {first} (llama.cpp's smallest top-2 gap {c['min_top2_gap']:.4f})\n"
                          f"  ours      {got}\n  llama.cpp {want}", file=sys.stderr)
                    failures += 1
            equal[be] = f"{ok}/{len(f['cases'])}"
        speed = {}
        for be in backends:
            b = json.loads(run([a.glassbox, "bench", "--json", "--model", path, "--backend", be, "--runs", str(a.runs), "--tokens", str(a.tokens)]))
            speed[be] = (b["prefill_tok_s"], b["decode_tok_s"])
        types = ", ".join(f"{k} {v}" for k, v in sorted(f["tensor_types"].items(), key=lambda kv: -kv[1]))
        rows.append((f["format"], f["size_bytes"] / 1e6, types, equal, speed))
        print(f"{f['format']}: done", file=sys.stderr)
    head = "| file | MB | tensors | " + " | ".join(f"greedy = llama.cpp ({be})" for be in backends) + " | " + " | ".join(f"{be} prefill / decode tok/s" for be in backends) + " |"
    print(head)
    print("|" + "---|" * (3 + 2 * len(backends)))
    for fmt, mb, types, equal, speed in rows:
        print(f"| {fmt} | {mb:.0f} | {types} | " + " | ".join(equal[be] for be in backends) + " | "
              + " | ".join(f"{speed[be][0]:.0f} / {speed[be][1]:.0f}" for be in backends) + " |")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
