#!/usr/bin/env python3
"""Requantize SmolLM2-135M-Instruct with llama.cpp and record greedy references per format.

Glassbox reads GGUF files in several weight formats. This script makes those
files with llama.cpp's own `llama-quantize` (from the F32 copy of the Q4_1
model, which is a better source than requantizing Q4_1 itself), reports which
tensor types each file really contains, and records llama.cpp's 30-token
greedy continuation of three raw prompts on an F32 copy of *each* requantized
file (every tensor dequantized to F32 with gguf.quants.dequantize, exactly as
tests/fixtures/record_llama_cpp.py does for the Q4_1 model). Glassbox, which
dequantizes weights and computes in f32, should reproduce those ids. It is
NEVER run in CI: the JSON it writes is committed, the GGUF files it writes are
ignored by git, and it only needs re-running when the model or the pinned
llama.cpp version changes.

Setup (one time; everything from PyPI through pip, nothing else downloaded):

    python3 -m venv /tmp/glassbox-requant/venv
    /tmp/glassbox-requant/venv/bin/pip install cmake==4.4.5 ninja==1.13.2 \
        gguf==0.19.0 numpy==2.4.6 typing-extensions==4.16.0 diskcache==5.6.3 \
        jinja2==3.1.6
    scripts/fetch-model.sh          # -> assets/models/SmolLM2-135M-Instruct.Q4_1.gguf

Run from the repository root (the first run builds llama.cpp, 225 s on
2 cores with gcc 12.2, then quantizes and records, ~90 s; later runs reuse
the build, the GGUF files in --models and the F32 copies in --work/f32, each
F32 copy remade when its GGUF is newer):

    /tmp/glassbox-requant/venv/bin/python bench/requantize.py [--work DIR] [--formats Q4_0,Q8_0]

What it does, each step skipped when its result already exists:

1. Gets llama-cpp-python 0.3.36's sdist (`pip download --no-deps --no-binary
   :all: --no-build-isolation llama-cpp-python==0.3.36`, or a copy of it
   already in --work, default /tmp/glassbox-requant) and extracts it. Its
   vendored llama.cpp tree is at commit 0c1e57098 (named in its CHANGELOG.md).
   The tree is used unpatched.
2. Builds, from that tree, the targets `llama-quantize` and `llama` (Release,
   Ninja, `nice -n 10`, 2 jobs) as SHARED libraries, with -DGGML_NATIVE=OFF
   -DGGML_AVX512=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
   -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=ON (common + tools
   on; tests, examples, server and app off). The CPUs of this project report
   AMX but fault on it, hence the explicit OFFs.
3. Makes the F32 copy of the Q4_1 model if it is missing
   (assets/models/SmolLM2-135M-Instruct.F32.gguf, record_llama_cpp.make_f32_copy).
4. For each format (default Q4_0, Q4_K_M, Q5_K_M, Q6_K, Q8_0, F16):
     llama-quantize <F32 copy> assets/models/SmolLM2-135M-Instruct.<FMT>.gguf <FMT> 2
   (no importance matrix). The log is kept in --work as quantize-<FMT>.log.
   SmolLM2's n_embd is 576, not a multiple of 256, so every matrix whose rows
   have 576 columns cannot take a K-quant: llama-quantize falls back
   (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0); only ffn_down (1536 columns)
   keeps K-quants. The tensor types each file really holds are counted with
   gguf.GGUFReader and recorded.
5. Makes an F32 copy of each requantized file in --work/f32/ (same method as
   record_llama_cpp.py) and, on it, with the sdist's unmodified Python package
   `llama_cpp` (llama-cpp-python 0.3.36, ctypes) loading the shared libraries
   built in step 2 (LLAMA_CPP_LIB_PATH), records the 30-token greedy
   continuation of each prompt: n_ctx 1024, 2 threads, F32 KV cache, flash
   attention off, tokenized raw (add_bos=False, special=True; SmolLM2 adds no
   BOS anyway), prompt in one llama_decode then one token per llama_decode,
   argmax of the logits (record_llama_cpp.greedy; stops early only at id 2).
   As a check of this set-up, the same is run on the Q4_1 model's F32 copy and
   compared with the committed tests/fixtures/greedy.json (cases "capital" and
   "fibonacci", recorded with a pip-built llama-cpp-python 0.3.36).

What llama-quantize made at commit 0c1e57098 (272 tensors; the 61 norm
vectors stay F32 in every file; token_embd is also the output matrix, tied):
  Q4_0    210 Q4_0 + token_embd Q8_0 (Q6_K wanted for the output, fell back)
  Q4_K_M  Q5_0 166 (attn_q/k/output, ffn_gate/up, attn_v of 16 layers),
          Q4_K 16 + Q6_K 14 (ffn_down; Q6_K in layers 0-2,5,8,...,26-29),
          Q8_0 15 (token_embd, attn_v of the same 14 "more bits" layers)
  Q5_K_M  as Q4_K_M with Q5_1 for Q5_0 and Q5_K for Q4_K
  Q6_K    Q8_0 181 (everything with 576 columns), Q6_K 30 (ffn_down)
  Q8_0    211 Q8_0;   F16  211 F16

Output: tests/fixtures/requantized_greedy.json, one line per file:
  format, file, size_bytes, sha256, tensor_types ({type: count}),
  tensors_by_type ({type: [name patterns]}, "blk.{0-29}" = layers 0..29),
  fallbacks (llama-quantize's fallback count), f32_copy_sha256,
  cases [{name, prompt, prompt_ids, ids, text, min_top2_gap}].
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
MODELS = REPO / "assets" / "models"
SOURCE_Q4_1 = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
SOURCE_F32 = MODELS / "SmolLM2-135M-Instruct.F32.gguf"
OUT_JSON = FIXTURES / "requantized_greedy.json"

sys.path.insert(0, str(FIXTURES))
from record_llama_cpp import N_CTX, N_THREADS, make_f32_copy, sha256_file  # noqa: E402

LLAMA_CPP_PYTHON = "0.3.36"
FORMATS = ["Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16"]
PROMPTS = [
    ("capital", "The capital of France is"),
    ("once_upon", "Once upon a time"),
    ("fibonacci", "def fibonacci(n):"),
]
N_GREEDY = 30

CMAKE_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX512=ON",
    "-DGGML_AMX_TILE=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_BF16=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DBUILD_SHARED_LIBS=ON",
    "-DLLAMA_BUILD_COMMON=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_APP=OFF",
]
TARGETS = ["llama-quantize", "llama"]


# --------------------------------------------------------------------------
# llama.cpp sources and build
# --------------------------------------------------------------------------

def tool(name: str) -> str:
    """A build tool from this Python's environment (the venv's pip-installed cmake/ninja)."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: pip install {name}")
    return found


def fetch_sources(work: Path) -> tuple[Path, str, str]:
    """The extracted sdist root, its vendored llama.cpp commit and the sdist's sha256."""
    sdist = work / f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz"
    root = work / f"llama_cpp_python-{LLAMA_CPP_PYTHON}"
    if not sdist.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "--no-build-isolation", "--dest", str(work),
                        f"llama-cpp-python=={LLAMA_CPP_PYTHON}"], check=True)
    if not (root / "vendor" / "llama.cpp" / "CMakeLists.txt").exists():
        with tarfile.open(sdist) as tf:
            tf.extractall(work, filter="data")
    changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    section = changelog.split(f"## [{LLAMA_CPP_PYTHON}]", 1)[1].split("\n## [", 1)[0]
    m = re.search(r"ggml-org/llama\.cpp@([0-9a-f]{7,40})", section)
    return root, (m.group(1) if m else "unknown"), sha256_file(sdist)


def build(tree: Path, bdir: Path) -> tuple[Path, float | None]:
    """Configure and build; returns the bin dir and the build seconds (None: reused)."""
    bindir = bdir / "bin"
    if (bindir / "llama-quantize").exists() and (bindir / "libllama.so").exists():
        stamp = bdir / "glassbox-build-seconds.txt"
        return bindir, (float(stamp.read_text()) if stamp.exists() else None)
    t0 = time.time()
    subprocess.run(["nice", "-n", "10", tool("cmake"), "-S", str(tree), "-B", str(bdir), "-G", "Ninja",
                    f"-DCMAKE_MAKE_PROGRAM={tool('ninja')}", *CMAKE_FLAGS], check=True)
    subprocess.run(["nice", "-n", "10", tool("cmake"), "--build", str(bdir), "-j", "2",
                    "--target", *TARGETS], check=True)
    secs = time.time() - t0
    (bdir / "glassbox-build-seconds.txt").write_text(f"{secs:.0f}\n")
    return bindir, secs


# --------------------------------------------------------------------------
# Quantizing and inspecting
# --------------------------------------------------------------------------

def quantize(bindir: Path, src: Path, dst: Path, fmt: str, log: Path) -> None:
    if dst.exists():
        return
    tmp = dst.with_name(dst.name + ".tmp")
    with open(log, "wb") as f:
        subprocess.run(["nice", "-n", "10", str(bindir / "llama-quantize"), str(src), str(tmp), fmt,
                        str(N_THREADS)], stdout=f, stderr=subprocess.STDOUT, check=True,
                       env=dict(os.environ, LC_ALL="C"))
    os.replace(tmp, dst)


def collapse(names: list[str]) -> list[str]:
    """['blk.0.x', 'blk.1.x', 'blk.3.x'] -> ['blk.{0-1,3}.x'], other names unchanged."""
    by_suffix: dict[str, list[int]] = defaultdict(list)
    out = []
    for n in names:
        m = re.fullmatch(r"blk\.(\d+)\.(.+)", n)
        if m:
            by_suffix[m.group(2)].append(int(m.group(1)))
        else:
            out.append(n)
    for suffix, layers in sorted(by_suffix.items()):
        layers.sort()
        runs, start = [], layers[0]
        for a, b in zip(layers, layers[1:] + [None]):
            if b != a + 1:
                runs.append(f"{start}" if start == a else f"{start}-{a}")
                start = b
        out.append(f"blk.{{{','.join(runs)}}}.{suffix}")
    return out


def inspect(path: Path) -> tuple[dict, dict]:
    import gguf

    r = gguf.GGUFReader(path)
    names: dict[str, list[str]] = defaultdict(list)
    for t in r.tensors:
        names[t.tensor_type.name].append(t.name)
    counts = dict(sorted(((k, len(v)) for k, v in names.items()), key=lambda kv: (-kv[1], kv[0])))
    return counts, {k: collapse(names[k]) for k in counts}


def fallbacks(log: Path) -> int | None:
    if not log.exists():
        return None
    m = re.search(r"(\d+) of \d+ tensor\(s\) required fallback", log.read_text(errors="replace"))
    return int(m.group(1)) if m else 0


# --------------------------------------------------------------------------
# llama.cpp greedy runs (llama-cpp-python's ctypes package on our shared libs)
# --------------------------------------------------------------------------

def import_llama_cpp(sdist_root: Path, bindir: Path):
    os.environ["LLAMA_CPP_LIB_PATH"] = str(bindir)
    sys.path.insert(0, str(sdist_root))
    import llama_cpp

    assert llama_cpp.__version__ == LLAMA_CPP_PYTHON, llama_cpp.__version__
    assert Path(llama_cpp.__file__).resolve().is_relative_to(sdist_root.resolve()), llama_cpp.__file__
    return llama_cpp


def greedy_cases(model: Path, prompts: list[tuple[str, str]]) -> list[dict]:
    from record_llama_cpp import detok, greedy, load, tokenize

    llm = load(model, f32_kv=True)
    assert llm.n_vocab() == 49152
    cases = []
    for name, text in prompts:
        pids = tokenize(llm, text)
        ids, gap = greedy(llm, pids, N_GREEDY)
        cases.append({"name": name, "prompt": text, "prompt_ids": pids, "ids": ids,
                      "text": detok(llm, ids), "min_top2_gap": gap})
    del llm
    return cases


def check_against_greedy_json() -> str:
    """Re-run two cases of tests/fixtures/greedy.json on the Q4_1 model's F32 copy."""
    ref = json.loads((FIXTURES / "greedy.json").read_text(encoding="utf-8"))
    want = {c["name"]: c for c in ref["cases"] if c["name"] in ("capital", "fibonacci")}
    got = greedy_cases(SOURCE_F32, [(n, want[n]["prompt"]) for n in want])
    for g in got:
        w = want[g["name"]]
        assert g["prompt_ids"] == w["prompt_ids"], (g["name"], g["prompt_ids"], w["prompt_ids"])
        assert g["ids"] == w["ids"], (g["name"], g["ids"], w["ids"])
    return (f"identical ids to tests/fixtures/greedy.json cases {sorted(want)} on "
            f"{SOURCE_F32.name} (sha256 {sha256_file(SOURCE_F32)})")


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def write_json(path: Path, source: dict, files: list[dict]) -> None:
    def d(x):
        return json.dumps(x, ensure_ascii=False)

    lines = ["{", '  "source": ' + d(source) + ",", '  "files": [']
    for i, f in enumerate(files):
        lines.append("    " + d(f) + ("," if i + 1 < len(files) else ""))
    lines += ["  ]", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8"))["files"] == files
    print(f"wrote {path}: {len(files)} files, {path.stat().st_size} bytes")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/glassbox-requant"))
    ap.add_argument("--models", type=Path, default=MODELS, help="where the requantized GGUFs go")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--out", type=Path, default=OUT_JSON)
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args()

    work = args.work.resolve()
    (work / "f32").mkdir(parents=True, exist_ok=True)
    root, commit, sdist_sha = fetch_sources(work)
    bindir, build_s = build(root / "vendor" / "llama.cpp", work / "build")
    print(f"llama-quantize ready (build {build_s if build_s is None else round(build_s)} s): {bindir}")
    if args.build_only:
        return 0

    if not SOURCE_F32.exists():
        print(f"making F32 copy {SOURCE_F32} ...")
        make_f32_copy(SOURCE_Q4_1, SOURCE_F32)

    llama_cpp = import_llama_cpp(root, bindir)
    check = check_against_greedy_json()
    print(f"set-up check: {check}")

    files = []
    for fmt in args.formats.split(","):
        t0 = time.time()
        q = args.models.resolve() / f"SmolLM2-135M-Instruct.{fmt}.gguf"
        log = work / f"quantize-{fmt}.log"
        quantize(bindir, SOURCE_F32, q, fmt, log)
        counts, by_type = inspect(q)
        f32 = work / "f32" / f"SmolLM2-135M-Instruct.{fmt}.F32.gguf"
        if not f32.exists() or f32.stat().st_mtime < q.stat().st_mtime:
            make_f32_copy(q, f32)
        cases = greedy_cases(f32, PROMPTS)
        files.append({"format": fmt, "file": q.name, "size_bytes": q.stat().st_size,
                      "sha256": sha256_file(q), "tensor_types": counts, "tensors_by_type": by_type,
                      "fallbacks": fallbacks(log), "f32_copy_sha256": sha256_file(f32),
                      "cases": cases})
        print(f"{fmt:7s} {q.stat().st_size:>10d} B  {counts}  ({time.time() - t0:.0f}s)")
        for c in cases:
            print(f"    {c['name']:10s} -> {c['text']!r}")

    source = {
        "generator": "bench/requantize.py",
        "llama_cpp_python_sdist": LLAMA_CPP_PYTHON,
        "llama_cpp_python_sdist_sha256": sdist_sha,
        "llama_cpp_commit": commit,
        "cmake_flags": CMAKE_FLAGS,
        "build_targets": TARGETS,
        "build_seconds": None if build_s is None else round(build_s),
        "compiler": subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "gguf_py": metadata.version("gguf"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "quantize_source": f"{SOURCE_F32.name} (every tensor of {SOURCE_Q4_1.name} dequantized to "
                           "F32), sha256 " + sha256_file(SOURCE_F32),
        "quantize_command": "llama-quantize <source> <file> <format> 2  (no imatrix)",
        "reference": "greedy ids on an F32 copy of each file: every tensor dequantized with "
                     "gguf.quants.dequantize, metadata copied, general.file_type = ALL_F32",
        "llama_params": {"n_ctx": N_CTX, "n_batch": N_CTX, "n_ubatch": N_CTX,
                         "n_threads": N_THREADS, "type_k": "f32", "type_v": "f32",
                         "flash_attn": False},
        "tokenize": "llama_tokenize(add_special=false, parse_special=true)",
        "decoding": "prompt in one llama_decode, then one token per llama_decode; argmax of the "
                    "logits (first index among ties); 30 ids, fewer only if id 2 is produced",
        "text": "llama_detokenize(special=true) of ids, utf-8 errors=replace",
        "min_top2_gap": "smallest top-1 minus top-2 logit over the steps",
        "setup_check": check,
    }
    write_json(args.out, source, files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
