//! Models other than SmolLM2: synthetic Llama GGUFs of other shapes and
//! every supported weight format, run on the CPU and the GPU backends.
//! The CPU backend is the reference (its dequantization is checked against
//! gguf-py in tests/quant.rs); the GPU must agree with it on logits and on
//! every head's attention map, for GQA ratios 1…8, head widths 16…256,
//! untied output matrices and awkward widths. Files Glassbox cannot run
//! must be refused with a message that names the reason.
//! A missing GPU adapter is a failure, not a skip (CI installs lavapipe).

use std::sync::{Arc, OnceLock};

use glassbox::backend::cpu::Cpu;
use glassbox::backend::gpu::{Gpu, GpuContext, GpuOptions};
use glassbox::backend::Backend;
use glassbox::generate::SessionOptions;
use glassbox::gguf::Gguf;
use glassbox::inspect::MapRequest;
use glassbox::model::{ModelInfo, Problem};
use glassbox::quant::GgmlType::{self, *};
use glassbox::synth::{synth_gguf, GgufWriter, SynthSpec};
use glassbox::{load, Session};
use pollster::block_on;

fn gpu() -> Gpu {
    static CTX: OnceLock<Arc<GpuContext>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| {
        let ctx = block_on(GpuContext::new(GpuOptions::default())).unwrap_or_else(|e| panic!("a GPU adapter is required: {e}"));
        eprintln!("GPU: {}", ctx.describe());
        Arc::new(ctx)
    });
    Gpu::new(ctx.clone())
}

#[allow(clippy::too_many_arguments)]
fn spec(layers: usize, dim: usize, heads: usize, kv: usize, ffn: usize, w: GgmlType, e: GgmlType, out: Option<GgmlType>) -> SynthSpec {
    SynthSpec {
        name: format!("{layers}L {heads}/{kv} heads d{dim} {w:?}"),
        n_layers: layers,
        dim,
        n_heads: heads,
        n_kv_heads: kv,
        ffn_dim: ffn,
        weights: w,
        embedding: e,
        output: out,
        seed: (dim * 31 + heads * 7 + kv) as u64,
        ..SynthSpec::default()
    }
}

const PROMPT: &str = "the theory of attention: at the start, the rest";

/// Prefill, 4 steps; logits after each and every head's full map at the end.
fn run<B: Backend>(g: &Gguf, mut b: B) -> (Vec<Vec<f32>>, Vec<f32>, usize) {
    let (model, tok) = load(g, &mut b, &mut |_, _| {}).expect("load");
    run_model(model, tok, b, SessionOptions::default().reserve)
}

/// `run` on a loaded model, with caches first made for `reserve` positions.
fn run_model<B: Backend>(model: glassbox::model::Model<B>, tok: glassbox::Tokenizer, b: B, reserve: usize) -> (Vec<Vec<f32>>, Vec<f32>, usize) {
    let c = model.config.clone();
    let mut s = Session::new(b.sibling(), Arc::new(model), Arc::new(tok), SessionOptions { n_ctx: 80, full_logits: true, max_batch: 16, reserve, ..Default::default() }).unwrap();
    let ids = s.tokenizer.encode_prompt(PROMPT).unwrap();
    assert!(ids.len() > 20, "the prompt spans several prefill batches");
    block_on(s.prefill(&ids)).unwrap();
    let mut logits = vec![s.logits().unwrap().to_vec()];
    for _ in 0..4 {
        block_on(s.step()).unwrap();
        logits.push(s.logits().unwrap().to_vec());
    }
    let n = ids.len() + 4;
    let all: Vec<u32> = (0..n as u32).collect();
    let heads = (0..c.n_layers).flat_map(|l| (0..c.n_heads).map(move |h| (l, h))).collect();
    let maps = block_on(s.attention_maps(&MapRequest { heads, rows: all.clone(), cols: all })).unwrap();
    (logits, maps, n)
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn gpu_equals_cpu_on_other_shapes_and_every_format() {
    let cases = [
        SynthSpec::default(),
        // GQA ratio 8, head width 32, Q4_0, F16 embedding, untied Q6_K output.
        spec(2, 256, 8, 1, 320, Q4_0, F16, Some(Q6_K)),
        // No GQA (ratio 1), 3 heads, awkward FFN width, Q5_0, BF16 embedding, Q8_0 output.
        spec(2, 192, 3, 3, 416, Q5_0, BF16, Some(Q8_0)),
        // The widest head the kernels hold (256), Q5_K, Q4_K embedding, F32 output.
        spec(2, 512, 2, 2, 768, Q5_K, Q4_K, Some(F32)),
        // Q6_K layers, F32 embedding, BF16 output, ratio 2.
        spec(2, 256, 4, 2, 256, Q6_K, F32, Some(BF16)),
        // Head width 16, 6 heads over 2, Q4_1 (SmolLM2's own format) on an odd shape.
        spec(3, 96, 6, 2, 160, Q4_1, Q8_0, None),
        // Float layers.
        spec(1, 128, 2, 1, 192, F16, F16, None),
        spec(1, 128, 4, 4, 192, BF16, BF16, None),
        spec(1, 64, 2, 2, 96, F32, F32, None),
        spec(1, 256, 4, 2, 512, Q8_0, Q8_0, Some(Q4_1)),
        spec(2, 160, 5, 1, 224, Q5_1, Q5_1, Some(Q4_0)),
        // Deep and narrow: more dispatches than one GPU submission holds
        // (the backend submits part way instead of failing).
        spec(160, 32, 2, 1, 32, F32, F32, None),
    ];
    let mut report = Vec::new();
    for sp in &cases {
        let g = Gguf::from_bytes(synth_gguf(sp)).expect("synthetic files parse");
        let (cl, cm, n) = run(&g, Cpu::new());
        let (gl, gm, _) = run(&g, gpu());
        let scale = cl[0].iter().map(|x| x.abs()).fold(0.0, f32::max);
        let dl = cl.iter().zip(&gl).map(|(a, b)| worst(a, b)).fold(0.0, f32::max);
        let dm = worst(&cm, &gm);
        report.push(format!("{:<34} {n} tokens: |Δlogit| {dl:.2e} (max |logit| {scale:.1}), |Δattention| {dm:.2e}", sp.name));
        eprintln!("{}", report.last().unwrap());
        assert!(scale > 0.5, "{}: logits are not degenerate", sp.name);
        assert!(dl <= 2e-3 * scale.max(1.0), "{}: logits differ by {dl}", sp.name);
        assert!(dm <= 1e-4, "{}: attention differs by {dm}", sp.name);
        // Greedy picks agree wherever the top two are not a near tie.
        for (a, b) in cl.iter().zip(&gl) {
            let top = glassbox::sampling::argmax(a) as usize;
            let other = glassbox::sampling::argmax(b) as usize;
            assert!(top == other || (a[top] - a[other]).abs() < 1e-3, "{}: greedy {top} vs {other}", sp.name);
        }
    }
    eprintln!("\n{}", report.join("\n"));
}

/// A GPU that binds less than a matrix needs (a small adapter, or a big
/// model's embedding) gets the matrix split by rows over several buffers:
/// the same numbers as the CPU, the embedding and the output matrix read
/// piece by piece, and the q/k/v and gate/up fusions falling back where the
/// pieces cannot share one buffer.
#[test]
fn matrices_larger_than_one_binding_are_split_over_buffers() {
    const CAP: u64 = 96 * 1024;
    let ctx = block_on(GpuContext::new(GpuOptions { max_storage_binding: Some(CAP), ..GpuOptions::default() })).unwrap_or_else(|e| panic!("a GPU adapter is required: {e}"));
    assert_eq!(ctx.max_binding(), CAP, "the device was opened with the smaller limit");
    let ctx = Arc::new(ctx);
    for sp in [spec(2, 256, 4, 2, 512, Q8_0, F32, Some(F32)), spec(2, 256, 4, 2, 512, Q4_K, F32, None)] {
        let g = Gguf::from_bytes(synth_gguf(&sp)).expect("synthetic files parse");
        let (cl, cm, n) = run(&g, Cpu::new());
        let mut b = Gpu::new(ctx.clone());
        let (model, tok) = load(&g, &mut b, &mut |_, _| {}).expect("a split model loads");
        let w = &model.weights;
        let pieces = w.token_embd.pieces();
        assert!(pieces >= 3, "{}: the embedding is split ({pieces} pieces)", sp.name);
        if let Some(o) = &w.output {
            assert!(o.pieces() >= 3, "{}: the output matrix is split", sp.name);
        }
        let down = w.layers[0].w_down.pieces();
        ctx.take_error().expect("no GPU error while uploading");
        // Caches for 64 positions, so that they (not split) fit the binding.
        let (gl, gm, _) = run_model(model, tok, b, 64);
        ctx.take_error().expect("no GPU error while running");
        let scale = cl[0].iter().map(|x| x.abs()).fold(0.0, f32::max);
        let dl = cl.iter().zip(&gl).map(|(a, b)| worst(a, b)).fold(0.0, f32::max);
        let dm = worst(&cm, &gm);
        eprintln!("{} with bindings of {} KB: embedding in {pieces} pieces, w_down in {down}; {n} tokens: |Δlogit| {dl:.2e} (max |logit| {scale:.1}), |Δattention| {dm:.2e}", sp.name, CAP / 1024);
        assert!(scale > 0.5, "{}: logits are not degenerate", sp.name);
        assert!(dl <= 2e-3 * scale.max(1.0), "{}: logits differ by {dl}", sp.name);
        assert!(dm <= 1e-4, "{}: attention differs by {dm}", sp.name);
    }
}

/// A context whose caches a GPU cannot bind is refused when the session is
/// made, naming the longest that fits (issue 16 §3.12: it used to fail part
/// way through a long sequence with device errors); that context then runs
/// to its last position, token for token as on the CPU.
#[test]
fn a_context_longer_than_the_gpu_binds_is_refused_with_the_longest_that_fits() {
    const CAP: u64 = 64 * 1024;
    let ctx = block_on(GpuContext::new(GpuOptions { max_storage_binding: Some(CAP), ..GpuOptions::default() })).unwrap_or_else(|e| panic!("a GPU adapter is required: {e}"));
    let ctx = Arc::new(ctx);
    let sp = spec(2, 256, 4, 2, 512, Q8_0, F32, None);
    let g = Gguf::from_bytes(synth_gguf(&sp)).unwrap();
    let mut b = Gpu::new(ctx.clone());
    let (model, tok) = load(&g, &mut b, &mut |_, _| {}).expect("the model loads");
    let fit = model.max_context(CAP, 16, false, glassbox::backend::QStore::F32);
    assert!((16..200).contains(&fit), "{fit}");
    let (model, tok) = (Arc::new(model), Arc::new(tok));
    let opts = |n_ctx| SessionOptions { n_ctx, max_batch: 16, ..Default::default() };
    let e = Session::new(b.sibling(), model.clone(), tok.clone(), opts(fit + 1)).err().expect("a context one longer is refused");
    assert!(e.to_string().contains(&format!("the longest context that fits is {fit}")), "{e}");
    // The longest that fits: to its last position, as the CPU does.
    let mut gpu = Session::new(b.sibling(), model, tok.clone(), opts(fit)).expect("the longest context that fits");
    let mut c = Cpu::new();
    let (cm, _) = load(&g, &mut c, &mut |_, _| {}).unwrap();
    let mut cpu = Session::new(Cpu::new(), Arc::new(cm), tok, opts(fit)).unwrap();
    let ids = gpu.tokenizer.encode_prompt("the cat").unwrap();
    block_on(gpu.prefill(&ids)).unwrap();
    block_on(cpu.prefill(&ids)).unwrap();
    while gpu.tokens().len() < fit {
        let (a, b) = (block_on(gpu.step()).unwrap(), block_on(cpu.step()).unwrap());
        assert_eq!(a.token, b.token, "at position {}", a.pos);
    }
    assert!(block_on(gpu.step()).is_err(), "the context is full");
    eprintln!("GPU bindings of {} KB: a context of {fit} positions runs to its end; {} is refused", CAP / 1024, fit + 1);
}

/// A synthetic file with one metadata key replaced or added.
fn with(extra: impl Fn(&mut GgufWriter), base: &SynthSpec) -> Vec<u8> {
    // Rebuild the header by hand: the writer has no "replace", so add the
    // key to a fresh file with the same tensors via a small re-serializer.
    let g = Gguf::from_bytes(synth_gguf(base)).unwrap();
    let mut w = GgufWriter::new();
    extra(&mut w);
    copy_into(&g, &mut w);
    w.bytes()
}

/// Every key (unless already written) and tensor of `g`, into `w`.
fn copy_into(g: &Gguf, w: &mut GgufWriter) {
    use glassbox::gguf::Value;
    let put = |w: &mut GgufWriter, k: &str, v: &Value| match v {
        Value::U32(x) => {
            w.kv_u32(k, *x);
        }
        Value::F32(x) => {
            w.kv_f32(k, *x);
        }
        Value::Bool(x) => {
            w.kv_bool(k, *x);
        }
        Value::String(s) => {
            w.kv_str(k, s);
        }
        Value::Array(a) if matches!(a.first(), Some(Value::String(_))) => {
            let items: Vec<&str> = a.iter().map(|v| v.as_str().unwrap()).collect();
            w.kv_str_array(k, &items);
        }
        Value::Numbers(a) => {
            let items: Vec<i32> = a.values().map(|v| v.as_f64().unwrap() as i32).collect();
            w.kv_i32_array(k, &items);
        }
        other => panic!("{k}: {other:?} not copied"),
    };
    let written = glassbox::gguf::GgufHeader::parse(&w.bytes()).unwrap();
    for (k, v) in &g.header.metadata {
        if !written.metadata.contains_key(k) {
            put(w, k, v);
        }
    }
    for t in &g.header.tensors {
        if written.tensor(&t.name).is_err() {
            w.tensor(&t.name, &t.dims, t.ty.id(), g.tensor_data(t));
        }
    }
}

fn load_error(bytes: Vec<u8>) -> String {
    load_problem(bytes).0
}

/// Loading's error and its kind for the page; the page's check before
/// loading (`ModelInfo::inspect`) must refuse the same file the same way.
fn load_problem(bytes: Vec<u8>) -> (String, Option<Problem>) {
    let n = bytes.len() as u64;
    match Gguf::from_bytes(bytes) {
        Err(e) => {
            let e = glassbox::Error::from(e);
            (e.to_string(), Some(Problem::of(&e)))
        }
        Ok(g) => {
            let checked = ModelInfo::inspect(&g, n);
            match load(&g, &mut Cpu::new(), &mut |_, _| {}) {
                Err(e) => {
                    let c = checked.expect_err("inspect refuses what load refuses");
                    assert_eq!(c.to_string(), e.to_string());
                    (e.to_string(), Some(Problem::of(&e)))
                }
                Ok(_) => {
                    let info = checked.expect("inspect accepts what load accepts");
                    assert_eq!(info.file_bytes, n);
                    ("loaded".into(), None)
                }
            }
        }
    }
}

#[test]
fn files_glassbox_cannot_run_are_refused_with_the_reason() {
    let base = SynthSpec { n_layers: 1, ..SynthSpec::default() };
    // The copy itself loads (the re-serializer is faithful).
    assert_eq!(load_error(with(|_| {}, &base)), "loaded");
    let good = synth_gguf(&base);
    let mut version1 = good.clone();
    version1[4..8].copy_from_slice(&1u32.to_le_bytes());
    let cases: Vec<(Vec<u8>, &str, Problem)> = vec![
        (with(|w| { w.kv_str("general.architecture", "qwen2"); }, &base), "architecture 'qwen2'", Problem::Architecture),
        (with(|w| { w.kv_str("tokenizer.ggml.model", "llama"); }, &base), "SentencePiece", Problem::Tokenizer),
        (with(|w| { w.kv_str("tokenizer.ggml.pre", "falcon"); }, &base), "pre-tokenizer 'falcon'", Problem::Tokenizer),
        (with(|w| { w.kv_str("llama.rope.scaling.type", "yarn").kv_f32("llama.rope.scaling.factor", 4.0); }, &base), "RoPE scaling 'yarn'", Problem::Model),
        (with(|w| { w.kv_u32("llama.attention.key_length", 128); }, &base), "key_length", Problem::Model),
        (with(|w| { w.kv_u32("llama.vocab_size", 999); }, &base), "token_embd.weight", Problem::Model),
        (synth_gguf(&SynthSpec { dim: 1024, n_heads: 2, n_kv_heads: 2, ..base.clone() }), "head dimension 512", Problem::Model),
        (good[..good.len() * 3 / 5].to_vec(), "spans bytes", Problem::Truncated),
        (good[..100].to_vec(), "impossible for a file of 100 bytes", Problem::Truncated),
        (good[..10].to_vec(), "truncated", Problem::Truncated),
        (b"PK\x03\x04 a zip file".to_vec(), "not a GGUF file", Problem::NotGguf),
        (version1, "version 1", Problem::Version),
    ];
    for (bytes, want, problem) in cases {
        let (e, p) = load_problem(bytes);
        assert!(e.contains(want), "expected {want:?} in: {e}");
        assert_eq!(p, Some(problem), "{e}");
    }
    // Llama 3.1's scaled RoPE frequencies, as a tensor.
    let g = Gguf::from_bytes(synth_gguf(&base)).unwrap();
    let mut w = GgufWriter::new();
    w.tensor("rope_freqs.weight", &[32], 0, &[0u8; 128]);
    copy_into(&g, &mut w);
    let e = load_error(w.bytes());
    assert!(e.contains("rope_freqs"), "{e}");
    // An unsupported block format names the tensor and the format.
    let g = Gguf::from_bytes(synth_gguf(&base)).unwrap();
    let mut w = GgufWriter::new();
    for t in &g.header.tensors {
        if t.name == "blk.0.attn_q.weight" {
            let n = t.n_elements() as usize;
            w.tensor(&t.name, &t.dims, GgmlType::Q2_K.id(), &vec![0u8; Q2_K.bytes_for(n)]);
        }
    }
    copy_into(&g, &mut w);
    let (e, p) = load_problem(w.bytes());
    assert!(e.contains("blk.0.attn_q.weight") && e.contains("Q2_K"), "{e}");
    assert_eq!(p, Some(Problem::TensorType));
}

/// Sizes and ids read from a file are read the same on every target: a
/// value past 32 bits is refused (or, for a special token, not taken)
/// natively as in the page, never cut to wasm32's 32-bit usize (issue 16
/// §3.11: block_count 2^32 + 1 was one layer in the page).
#[test]
fn values_past_32_bits_are_read_the_same_on_every_target() {
    let base = SynthSpec { n_layers: 1, ..SynthSpec::default() };
    let big = |k: &'static str, v: u64| with(move |w| { w.kv_raw(k, 10, &v.to_le_bytes()); }, &base);
    for key in ["llama.block_count", "llama.context_length", "llama.embedding_length"] {
        let (e, p) = load_problem(big(key, (1 << 32) + 1));
        assert!(e.contains(key) && e.contains("larger than Glassbox reads"), "{key}: {e}");
        assert_eq!(p, Some(Problem::Damaged), "{e}");
    }
    // The card's cache size at a long context does not wrap either.
    let g = Gguf::from_bytes(synth_gguf(&base)).unwrap();
    let info = ModelInfo::inspect(&g, g.bytes().len() as u64).unwrap();
    assert_eq!(info.kv_bytes(1 << 31), 2 * info.n_layers as u64 * info.n_kv_heads as u64 * info.head_dim as u64 * (1u64 << 31) * 4);
    // An end-of-sequence id past 32 bits is no id (it was id 5).
    let g = Gguf::from_bytes(big("tokenizer.ggml.eos_token_id", (1 << 32) + 5)).unwrap();
    let tok = glassbox::Tokenizer::from_gguf(&g.header).unwrap();
    assert_eq!(tok.eos, None);
}

#[test]
fn the_card_describes_the_file() {
    let spec = SynthSpec { output: Some(Q6_K), ..SynthSpec::default() };
    let bytes = synth_gguf(&spec);
    let n = bytes.len() as u64;
    let g = Gguf::from_bytes(bytes).unwrap();
    let i = ModelInfo::inspect(&g, n).unwrap();
    assert_eq!((i.n_layers, i.dim, i.n_heads, i.n_kv_heads, i.head_dim, i.ffn_dim), (4, 256, 4, 2, 64, 512));
    assert!(!i.tied);
    assert_eq!(i.architecture, "llama");
    // Every tensor is counted once, in its format, and the formats add up.
    let tensors: usize = i.formats.iter().map(|f| f.tensors).sum();
    assert_eq!(tensors, 3 + 9 * 4);
    let bytes: u64 = i.formats.iter().map(|f| f.bytes).sum();
    assert!(bytes < n && bytes > n / 2, "{bytes} of {n}");
    assert_eq!(i.formats.iter().find(|f| f.ty == "Q4_K").unwrap().tensors, 7 * 4);
    assert_eq!(i.formats.iter().find(|f| f.ty == "Q6_K").unwrap().tensors, 1);
    assert_eq!(i.params as usize, 2 * i.vocab * 256 + 256 + 4 * (2 * 256 + 2 * 256 * 256 + 2 * 128 * 256 + 3 * 512 * 256));
    // A GPU that binds less than the largest tensor splits it by rows; one
    // that cannot bind the widest row is refused by name.
    assert!(i.fits_binding(i.largest.1 - 1).is_ok());
    let row = i.widest_row.1;
    assert!(row > 0 && row < i.largest.1, "{:?}", i.widest_row);
    assert!(i.fits_binding(row + 8).is_ok());
    let e = i.fits_binding(row + 7).unwrap_err().to_string();
    assert!(e.contains(&i.widest_row.0) && e.contains("binds at most"), "{e}");
}

#[test]
fn the_synthetic_vocabulary_round_trips_and_chats() {
    let g = Gguf::from_bytes(synth_gguf(&SynthSpec::default())).unwrap();
    let tok = glassbox::Tokenizer::from_gguf(&g.header).unwrap();
    let text = "the rest, then 日本 — ok\n";
    let ids = tok.encode(text).unwrap();
    assert_eq!(tok.decode(&ids), text);
    assert!(ids.len() < text.len(), "merges apply: {ids:?}");
    let chat = tok.encode(&tok.chat_prompt("hi").unwrap()).unwrap();
    assert_eq!(tok.decode(&chat[..1]), "<|im_start|>");
    assert_eq!(chat.iter().filter(|&&i| tok.decode(&[i]) == "<|im_end|>").count(), 1);
}
