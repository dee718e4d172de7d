//! Direct logit attribution on the CPU and the GPU: the parts sum to the
//! logit (which is the model's own), a head switched off has part 0 and the
//! rest follow the ablated run, both backends agree with a from-scratch
//! computation (tests/common/reference.rs) and with each other, and with
//! llama.cpp's own tensors (tests/fixtures/llama_cpp_attribution.json,
//! recorded once by tests/fixtures/record_attribution.py). Asking changes
//! nothing the session does next.

mod common;

use common::gpu;

use glassbox::attribution::{Attribution, Part};
use glassbox::backend::cpu::Cpu;
use glassbox::backend::gpu::Gpu;
use glassbox::backend::Backend;
use glassbox::generate::SessionOptions;
use glassbox::inspect::Ablation;
use glassbox::Session;
use pollster::block_on;

const PROMPT: &str = "The Eiffel Tower is in the city of";

fn cpu_session() -> Session<Cpu> {
    Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions::default()).unwrap()
}

fn gpu_session() -> Session<Gpu> {
    let (g, model) = gpu();
    Session::new(g.sibling(), model.clone(), common::tokenizer(), SessionOptions::default()).unwrap()
}

fn ids(prompt: &str) -> Vec<u32> {
    common::tokenizer().encode(prompt).unwrap()
}

fn values(a: &Attribution) -> Vec<f32> {
    a.parts.iter().map(Part::value).collect()
}

/// The worst |a − b| and where.
fn worst(a: &[f32], b: &[f64]) -> (f64, usize) {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).enumerate().map(|(i, (&x, &y))| ((x as f64 - y).abs(), i)).fold((0.0, 0), |m, d| if d.0 > m.0 { d } else { m })
}

/// The parts' layout: the embedding, then each layer's heads in order and its FFN.
fn check_layout(a: &Attribution, n_layers: usize, n_heads: usize) {
    assert_eq!(a.parts.len(), 1 + n_layers * (n_heads + 1));
    assert!(matches!(a.parts[0], Part::Embed { .. }));
    for l in 0..n_layers {
        for h in 0..n_heads {
            assert!(matches!(a.parts[1 + l * (n_heads + 1) + h], Part::Head { layer, head, .. } if layer == l && head == h));
        }
        assert!(matches!(a.parts[1 + l * (n_heads + 1) + n_heads], Part::Ffn { layer, .. } if layer == l));
    }
}

/// Σ parts = the logit, up to f32 rounding of the parts themselves.
fn check_sum(a: &Attribution, what: &str) {
    let scale: f32 = a.parts.iter().map(|p| p.value().abs()).sum();
    let gap = (a.sum - a.logit).abs();
    println!("{what}: pos {} token {} {:?}: logit {:.6}, Σ parts {:.6}, gap {gap:.2e} (Σ|parts| {scale:.2})", a.pos, a.token, a.text, a.logit, a.sum);
    assert!(gap <= 1e-5 * scale + 1e-5, "{what}: the parts sum to {} but the logit is {}", a.sum, a.logit);
}

/// Parts sum to the logit, the logit is the model's own (the lens's last
/// layer computes it the same way), the top-1 is the default target.
fn sums_to_the_logit<B: Backend>(mut s: Session<B>, what: &str) {
    let ids = ids(PROMPT);
    block_on(s.prefill(&ids)).unwrap();
    let c = s.model.config.clone();
    for pos in [ids.len() - 1, 2] {
        let own = block_on(s.lens(pos, pos + 1, 2)).unwrap().pop().unwrap().layers.pop().unwrap();
        let top = block_on(s.attribute(pos, None)).unwrap();
        check_layout(&top, c.n_layers, c.n_heads);
        assert_eq!(top.token, own.top[0].id, "{what}: the default target is the top-1");
        assert!((top.logit - own.top[0].logit).abs() <= 1e-5 * own.top[0].logit.abs().max(1.0), "{what}: logit {} vs the model's {}", top.logit, own.top[0].logit);
        check_sum(&top, what);
        let second = block_on(s.attribute(pos, Some(own.top[1].id))).unwrap();
        assert_eq!(second.token, own.top[1].id);
        assert!((second.logit - own.top[1].logit).abs() <= 1e-5 * own.top[1].logit.abs().max(1.0));
        check_sum(&second, what);
    }
}

#[test]
fn parts_sum_to_the_logit_on_the_cpu() {
    sums_to_the_logit(cpu_session(), "CPU");
}

#[test]
fn parts_sum_to_the_logit_on_the_gpu() {
    sums_to_the_logit(gpu_session(), "GPU");
}

/// A head switched off writes nothing: its part is exactly 0, and the rest
/// (and the logit) are the ablated run's. Switching it back restores every bit.
fn off_heads_are_zero<B: Backend>(mut s: Session<B>, what: &str) {
    let ids = ids(PROMPT);
    block_on(s.prefill(&ids)).unwrap();
    let pos = ids.len() - 1;
    let before = block_on(s.attribute(pos, None)).unwrap();
    // The two heads that push the top token hardest.
    let mut heads: Vec<(f32, usize, usize)> = before.parts.iter().filter_map(|p| match *p { Part::Head { layer, head, value } => Some((value, layer, head)), _ => None }).collect();
    heads.sort_by(|a, b| b.0.total_cmp(&a.0));
    let off: Vec<(usize, usize)> = heads[..2].iter().map(|&(_, l, h)| (l, h)).collect();
    block_on(s.set_ablation(Ablation::new(off.clone()))).unwrap();
    let after = block_on(s.attribute(pos, Some(before.token))).unwrap();
    for p in &after.parts {
        if let Part::Head { layer, head, value } = *p {
            if off.contains(&(layer, head)) {
                assert_eq!(value, 0.0, "{what}: head {layer}:{head} is off");
            }
        }
    }
    let own = block_on(s.lens(pos, pos + 1, 32)).unwrap().pop().unwrap().layers.pop().unwrap();
    let ablated_logit = own.next.map(|n| n.logit).or_else(|| own.top.iter().find(|t| t.id == before.token).map(|t| t.logit));
    if let Some(l) = ablated_logit {
        assert!((after.logit - l).abs() <= 1e-5 * l.abs().max(1.0), "{what}: the ablated logit {} vs {l}", after.logit);
    }
    assert!(after.logit < before.logit, "{what}: switching off the two heads that push {:?} up lowers its logit ({} → {})", before.text, before.logit, after.logit);
    check_sum(&after, what);
    block_on(s.set_ablation(Ablation::new(vec![]))).unwrap();
    let again = block_on(s.attribute(pos, None)).unwrap();
    assert_eq!(values(&again).iter().map(|v| v.to_bits()).collect::<Vec<_>>(), values(&before).iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{what}: all heads on again: every part as before");
    println!("{what}: heads {off:?} off: logit of {:?} {:.3} → {:.3}", before.text, before.logit, after.logit);
}

#[test]
fn a_head_switched_off_has_part_zero() {
    off_heads_are_zero(cpu_session(), "CPU");
    off_heads_are_zero(gpu_session(), "GPU");
}

/// Both backends against the model computed from scratch in f64, and
/// against each other; with two heads off too.
#[test]
fn attribution_equals_a_from_scratch_computation_on_both_backends() {
    let ids = ids("The capital of France is");
    let c = common::cpu_model().config.clone();
    let pos = ids.len() - 1;
    for off in [vec![], vec![(23, 4), (29, 1)]] {
        let r = common::reference::forward(common::gguf(), &c, &ids, &off);
        let mut cpu = cpu_session();
        let mut gpu = gpu_session();
        block_on(cpu.set_ablation(Ablation::new(off.clone()))).unwrap();
        block_on(gpu.set_ablation(Ablation::new(off.clone()))).unwrap();
        block_on(cpu.prefill(&ids)).unwrap();
        block_on(gpu.prefill(&ids)).unwrap();
        let a = block_on(cpu.attribute(pos, None)).unwrap();
        let g = block_on(gpu.attribute(pos, Some(a.token))).unwrap();
        let top = r.logits.iter().enumerate().fold(0, |b, (i, &l)| if l > r.logits[b] { i } else { b });
        assert_eq!(a.token as usize, top, "the from-scratch top-1");
        let want = r.attribution(&common::reference::Reference::out_row(common::gguf(), &c, a.token), c.norm_eps as f64);
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (what, got) in [("CPU", &a), ("GPU", &g)] {
            let (d, i) = worst(&values(got), &want);
            println!("heads off {off:?}: {what} vs from scratch: worst part {i} ({:?}) off by {d:.2e} (largest part {scale:.3}); logit {:.5} vs {:.5}", got.parts[i], got.logit, r.logits[a.token as usize]);
            assert!(d <= 1e-4 * scale, "{what}: part {i} ({:?}) is {} from scratch", got.parts[i], want[i]);
            assert!((got.logit as f64 - r.logits[a.token as usize]).abs() <= 1e-4 * scale);
        }
        let cg: Vec<f64> = values(&g).iter().map(|&v| v as f64).collect();
        let (d, i) = worst(&values(&a), &cg);
        println!("heads off {off:?}: CPU vs GPU: worst part {i} off by {d:.2e}");
        assert!(d <= 1e-4 * scale, "CPU and GPU part {i}: {:?} vs {:?}", a.parts[i], g.parts[i]);
    }
}

/// Asking is read-only: the next step's logits are bit-identical.
#[test]
fn attribution_changes_nothing() {
    let ids = ids(PROMPT);
    let run = |ask: bool| {
        let mut s = Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions { full_logits: true, ..Default::default() }).unwrap();
        block_on(s.prefill(&ids)).unwrap();
        if ask {
            block_on(s.attribute(3, None)).unwrap();
            block_on(s.attribute(ids.len() - 1, Some(42))).unwrap();
        }
        let t = block_on(s.step()).unwrap();
        (t.token, t.candidates.iter().map(|c| c.logit.to_bits()).collect::<Vec<_>>())
    };
    assert_eq!(run(false), run(true));
}

#[test]
fn bad_positions_and_tokens_are_clear_errors() {
    let mut s = cpu_session();
    let ids = ids(PROMPT);
    block_on(s.prefill(&ids)).unwrap();
    let e = block_on(s.attribute(ids.len(), None)).unwrap_err().to_string();
    assert!(e.contains("past the end"), "{e}");
    let e = block_on(s.attribute(0, Some(49152))).unwrap_err().to_string();
    assert!(e.contains("outside the vocabulary"), "{e}");
}

/// Against llama.cpp: its own tensors for "The capital of France is"
/// (kqv_out, attn_out, ffn_out, l_out-29, result_output on the F32 copy),
/// turned into parts by tests/fixtures/record_attribution.py, for its top
/// two tokens, on both backends.
#[test]
fn attribution_equals_llama_cpp() {
    let fx = common::fixture("llama_cpp_attribution.json");
    let ids = common::ids(&fx["ids"]);
    assert_eq!(ids, common::tokenizer().encode(fx["prompt"].as_str().unwrap()).unwrap());
    let pos = fx["pos"].as_u64().unwrap() as usize;
    let mut cpu = cpu_session();
    let mut gpu = gpu_session();
    block_on(cpu.prefill(&ids)).unwrap();
    block_on(gpu.prefill(&ids)).unwrap();
    for t in fx["targets"].as_array().unwrap() {
        let token = t["token"].as_u64().unwrap() as u32;
        let want: Vec<f64> = t["parts"].as_array().unwrap().iter().map(|p| p["value"].as_f64().unwrap()).collect();
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (what, a) in [("CPU", block_on(cpu.attribute(pos, Some(token))).unwrap()), ("GPU", block_on(gpu.attribute(pos, Some(token))).unwrap())] {
            assert_eq!(a.text, t["text"].as_str().unwrap());
            let (d, i) = worst(&values(&a), &want);
            println!("{what} vs llama.cpp, {:?}: worst part {i} ({:?} vs {:.6}) off by {d:.2e}; logit {:.5} vs {:.5}, rms {:.5} vs {:.5}", a.text, a.parts[i], want[i], a.logit, t["logit"], a.rms, t["rms"]);
            assert!(d <= 1e-4 * scale, "{what}: part {i} {:?} vs llama.cpp's {}", a.parts[i], want[i]);
            assert!((a.logit as f64 - t["logit"].as_f64().unwrap()).abs() <= 1e-3 * scale);
            assert!((a.rms as f64 - t["rms"].as_f64().unwrap()).abs() <= 1e-4 * a.rms as f64);
        }
    }
}
