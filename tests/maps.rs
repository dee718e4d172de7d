//! Attention maps computed on demand from the caches: equal to the rows the
//! forward pass traced (CPU and GPU), read-only (the session continues bit for
//! bit as without them), caches that grow without changing a bit, and the
//! whole context (SmolLM2's 8,192, on a synthetic model) reached with a
//! clear message at its end.

mod common;

use common::gpu;

use glassbox::backend::cpu::Cpu;
use glassbox::backend::gpu::Gpu;
use glassbox::backend::{Backend, QStore};
use glassbox::generate::SessionOptions;
use glassbox::inspect::MapRequest;
use glassbox::trace::AttnRows;
use glassbox::gguf::Gguf;
use glassbox::quant::GgmlType::Q4_1;
use glassbox::synth::{synth_gguf, SynthSpec};
use glassbox::{Error, Session};
use std::sync::Arc;
use pollster::block_on;

const PROMPT: &str = "The quick brown fox jumps over the lazy dog because it was";

fn cpu_session(opts: SessionOptions) -> Session<Cpu> {
    Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), opts).unwrap()
}

fn gpu_session(opts: SessionOptions) -> Session<Gpu> {
    let (g, model) = gpu();
    Session::new(g.sibling(), model.clone(), common::tokenizer(), opts).unwrap()
}

/// Prefill in small batches, then 3 steps; every position's traced rows.
fn traced_run<B: Backend>(s: &mut Session<B>) -> Vec<AttnRows> {
    let ids = common::tokenizer().encode(PROMPT).unwrap();
    let mut rows = block_on(s.prefill(&ids)).unwrap().attention.unwrap();
    for _ in 0..3 {
        rows.push(block_on(s.step()).unwrap().attention.unwrap());
    }
    rows
}

/// Every head's full map against the traced rows: the worst |difference|.
fn worst_vs_trace<B: Backend>(s: &mut Session<B>, rows: &[AttnRows]) -> f32 {
    let n = rows.len();
    let all: Vec<u32> = (0..n as u32).collect();
    let heads: Vec<(usize, usize)> = (0..30).flat_map(|l| (0..9).map(move |h| (l, h))).collect();
    let req = MapRequest { heads: heads.clone(), rows: all.clone(), cols: all };
    let maps = block_on(s.attention_maps(&req)).unwrap();
    assert_eq!(maps.len(), 270 * n * n);
    let mut worst = 0f32;
    for (i, &(l, h)) in heads.iter().enumerate() {
        for (q, r) in rows.iter().enumerate() {
            let traced = r.row(l, h);
            let map = &maps[(i * n + q) * n..(i * n + q + 1) * n];
            for k in 0..n {
                let want = if k <= q { traced[k] } else { 0.0 };
                if k > q {
                    assert_eq!(map[k], 0.0, "layer {l} head {h}: ({q}, {k}) is above the diagonal");
                }
                worst = worst.max((map[k] - want).abs());
            }
        }
    }
    worst
}

#[test]
fn maps_equal_the_traced_rows_on_the_cpu() {
    let opts = SessionOptions { trace: true, max_batch: 5, ..Default::default() };
    let mut s = cpu_session(opts.clone());
    let rows = traced_run(&mut s);
    let worst = worst_vs_trace(&mut s, &rows);
    eprintln!("CPU, f32 q store: max |map − traced| = {worst:.2e}");
    assert!(worst <= 1e-5, "maps differ from the traced rows by {worst}");
    let mut s = cpu_session(SessionOptions { q_store: QStore::F16, ..opts });
    let rows = traced_run(&mut s);
    let worst = worst_vs_trace(&mut s, &rows);
    eprintln!("CPU, f16 q store: max |map − traced| = {worst:.2e}");
    assert!(worst <= 2e-2, "f16 maps differ from the traced rows by {worst}");
}

#[test]
fn maps_equal_the_traced_rows_on_the_gpu() {
    let opts = SessionOptions { trace: true, max_batch: 5, ..Default::default() };
    let mut s = gpu_session(opts.clone());
    let rows = traced_run(&mut s);
    let worst = worst_vs_trace(&mut s, &rows);
    eprintln!("GPU, f32 q store: max |map − traced| = {worst:.2e}");
    assert!(worst <= 1e-5, "maps differ from the traced rows by {worst}");
    let mut s = gpu_session(SessionOptions { q_store: QStore::F16, ..opts });
    let rows = traced_run(&mut s);
    let worst = worst_vs_trace(&mut s, &rows);
    eprintln!("GPU, f16 q store: max |map − traced| = {worst:.2e}");
    assert!(worst <= 2e-2, "f16 maps differ from the traced rows by {worst}");
}

#[test]
fn maps_change_nothing_in_the_session() {
    fn run<B: Backend>(mut s: Session<B>, ask: bool) -> Vec<Vec<u32>> {
        let ids = common::tokenizer().encode(PROMPT).unwrap();
        block_on(s.prefill(&ids)).unwrap();
        let mut out = Vec::new();
        for i in 0..4 {
            if ask {
                let n = s.tokens().len() as u32;
                let req = MapRequest { heads: vec![(0, 0), (29, 8), (12, 4)], rows: (0..n).collect(), cols: MapRequest::spread(n as usize, 5) };
                block_on(s.attention_maps(&req)).unwrap();
            }
            if i == 2 {
                block_on(s.undo()).unwrap();
            }
            let st = block_on(s.step()).unwrap();
            out.push(vec![st.token]);
            out.push(s.logits().unwrap().iter().map(|x| x.to_bits()).collect());
        }
        out
    }
    let opts = SessionOptions { full_logits: true, ..Default::default() };
    assert!(run(cpu_session(opts.clone()), true) == run(cpu_session(opts.clone()), false), "CPU: a map request changed later steps");
    assert!(run(gpu_session(opts.clone()), true) == run(gpu_session(opts), false), "GPU: a map request changed later steps");
}

#[test]
fn bad_map_requests_are_clear_errors() {
    let mut s = cpu_session(SessionOptions::default());
    let ids = common::tokenizer().encode(PROMPT).unwrap();
    block_on(s.prefill(&ids)).unwrap();
    let n = ids.len() as u32;
    let cases = [
        (MapRequest { heads: vec![(30, 0)], rows: vec![0], cols: vec![0] }, "outside the model"),
        (MapRequest { heads: vec![(0, 9)], rows: vec![0], cols: vec![0] }, "outside the model"),
        (MapRequest { heads: vec![(0, 0)], rows: vec![n], cols: vec![0] }, "past the end"),
        (MapRequest { heads: vec![(0, 0)], rows: vec![0], cols: vec![n + 7] }, "past the end"),
        (MapRequest { heads: vec![(0, 0); 270], rows: vec![0; 200], cols: vec![0; 200] }, "at most"),
    ];
    for (req, want) in cases {
        let err = block_on(s.attention_maps(&req)).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn growing_caches_change_no_bit() {
    // 300 positions cross the first capacity (256); a state that had room
    // for everything from the start must give the same bits.
    let text = "Counting slowly: ".to_string() + &(1..200).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let ids = common::tokenizer().encode(&text).unwrap();
    assert!(ids.len() > 300, "{} tokens", ids.len());
    let ids = &ids[..300];
    let run = |reserve: usize| {
        let mut s = cpu_session(SessionOptions { reserve, full_logits: true, max_batch: 32, ..Default::default() });
        block_on(s.prefill(&ids[..250])).unwrap();
        for &id in &ids[250..] {
            block_on(s.force(id)).unwrap();
        }
        let maps = block_on(s.attention_maps(&MapRequest { heads: vec![(3, 1)], rows: vec![299, 100], cols: (0..300).collect() })).unwrap();
        (s.logits().unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>(), maps.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), s.state_bytes())
    };
    let (small, big) = (run(1), run(2048));
    assert!(small.0 == big.0, "logits differ after the caches grew");
    assert!(small.1 == big.1, "maps differ after the caches grew");
    eprintln!("state bytes: grown to 512 positions {}, reserved 2048 {}", small.2, big.2);
    assert!(small.2 < big.2, "the grown state should hold less memory");
}

#[test]
fn the_whole_context_then_a_clear_message() {
    // The model's own context, from the GGUF: 8,192 positions for SmolLM2.
    let n_ctx = common::cpu_model().config.train_ctx;
    assert_eq!(n_ctx, 8192);
    // Filling it with SmolLM2 took two minutes of CI; a synthetic model with
    // the same context, RoPE base, head width and query heads a KV head
    // (two narrow layers) reaches the same end in seconds: every position
    // cached, the last query over all 8,192 keys, the clear refusal. Its q
    // is kept in f32: the random weights make q far larger than SmolLM2's,
    // so an f16 q would test the rounding, not the length (the f16 maps of
    // the real model are checked against the traced rows above).
    let rope_base = common::cpu_model().config.rope_base;
    let spec = SynthSpec { name: "whole context".into(), n_layers: 2, dim: 192, n_heads: 3, n_kv_heads: 1, ffn_dim: 64, context: n_ctx, rope_base, weights: Q4_1, seed: 8192, ..SynthSpec::default() };
    let g = Gguf::from_bytes(synth_gguf(&spec)).unwrap();
    let mut b = Cpu::new();
    let (model, tok) = glassbox::load(&g, &mut b, &mut |_, _| {}).unwrap();
    assert_eq!(model.config.train_ctx, n_ctx);
    let mut s = Session::new(b, Arc::new(model), Arc::new(tok), SessionOptions { n_ctx, max_batch: 256, q_store: QStore::F32, ..Default::default() }).unwrap();
    let para = s.tokenizer.encode(" the theory of attention: at the start, the rest").unwrap();
    let ids: Vec<u32> = para.iter().copied().cycle().take(n_ctx - 1).collect();
    let t0 = std::time::Instant::now();
    block_on(s.prefill(&ids)).unwrap();
    let bytes = s.state_bytes();
    eprintln!("prefill of {} tokens: {:.1} s; state {:.0} MB", ids.len(), t0.elapsed().as_secs_f64(), bytes as f64 / 1e6);
    block_on(s.step()).unwrap();
    assert_eq!(s.tokens().len(), n_ctx);
    let err = block_on(s.step()).unwrap_err();
    assert!(matches!(err, Error::ContextFull { n_ctx: 8192, .. }), "{err}");
    assert!(err.to_string().contains("8192"), "{err}");
    assert_eq!(s.tokens().len(), n_ctx, "a refused step changes nothing");
    // The last query attends over all 8,192 keys.
    let row = block_on(s.attention_maps(&MapRequest { heads: vec![(1, 2)], rows: vec![n_ctx as u32 - 1], cols: (0..n_ctx as u32).collect() })).unwrap();
    let sum: f32 = row.iter().sum();
    assert!((sum - 1.0).abs() < 1e-3, "the last row sums to {sum}");
    assert!(row.iter().all(|p| p.is_finite() && *p >= 0.0), "every weight is a probability");
    let err = block_on(s.prefill(&[1; 8193])).unwrap_err();
    assert!(matches!(err, Error::ContextFull { needed: 8193, n_ctx: 8192 }), "{err}");
}

/// The page's export limit is the engine's: one head's n × n map fits one
/// request up to `max_square()` tokens, and not one more.
#[test]
fn the_largest_square_map_is_what_one_request_holds() {
    use glassbox::inspect::{MapRequest, MAX_MAP_FLOATS};
    let n = MapRequest::max_square();
    let square = |n: usize| MapRequest { heads: vec![(0, 0)], rows: (0..n as u32).collect(), cols: (0..n as u32).collect() }.len();
    assert!(square(n) <= MAX_MAP_FLOATS && square(n + 1) > MAX_MAP_FLOATS, "{n}");
    assert_eq!(n, 2896);
}
