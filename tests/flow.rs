//! How information flowed (src/flow.rs), on the CPU and the GPU: each
//! (layer, position)'s shares sum to 1, heads switched off send nothing,
//! both backends equal a from-scratch computation (tests/common/reference.rs)
//! and each other, and asking changes nothing.

mod common;

use common::gpu;

use std::collections::HashMap;

use glassbox::backend::cpu::Cpu;
use glassbox::backend::gpu::Gpu;
use glassbox::backend::Backend;
use glassbox::flow::{Flow, Via};
use glassbox::generate::SessionOptions;
use glassbox::inspect::Ablation;
use glassbox::Session;
use pollster::block_on;

const PROMPT: &str = "The capital of France is";

fn cpu_session() -> Session<Cpu> {
    Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions { max_batch: 4, ..Default::default() }).unwrap()
}

fn gpu_session() -> Session<Gpu> {
    let (g, model) = gpu();
    Session::new(g.sibling(), model.clone(), common::tokenizer(), SessionOptions { max_batch: 4, ..Default::default() }).unwrap()
}

fn flow_of<B: Backend>(s: &mut Session<B>, ids: &[u32], off: &[(usize, usize)]) -> Flow {
    block_on(s.set_ablation(Ablation::new(off.to_vec()))).unwrap();
    block_on(s.prefill(ids)).unwrap();
    let grams = block_on(s.grams()).unwrap();
    block_on(s.flow(0, ids.len(), 0.0, &grams)).unwrap()
}

/// (layer, from, to, head) → share.
fn by_edge(f: &Flow) -> HashMap<(usize, usize, usize, Option<usize>), f32> {
    f.edges.iter().map(|e| ((e.layer, e.from, e.to, match e.head { Via::Head(h) => Some(h), Via::Ffn => None }), e.share)).collect()
}

fn sums_to_one(f: &Flow, what: &str) {
    let mut sums: HashMap<(usize, usize), f64> = HashMap::new();
    for e in &f.edges {
        assert!(e.from <= e.to && e.share >= 0.0, "{what}: {e:?}");
        if e.head == Via::Ffn {
            assert_eq!(e.from, e.to, "{what}: the FFN works at its own position");
        }
        *sums.entry((e.layer, e.to)).or_default() += e.share as f64;
    }
    assert_eq!(sums.len(), 30 * (f.p1 - f.p0), "{what}: every (layer, position)");
    let worst = sums.values().map(|s| (s - 1.0).abs()).fold(0.0, f64::max);
    println!("{what}: {} edges; worst |Σ shares − 1| = {worst:.2e}", f.edges.len());
    assert!(worst < 1e-5, "{what}");
}

#[test]
fn shares_sum_to_one_and_off_heads_send_nothing() {
    let ids = common::tokenizer().encode(PROMPT).unwrap();
    let n = ids.len();
    for (what, f) in [("CPU", flow_of(&mut cpu_session(), &ids, &[])), ("GPU", flow_of(&mut gpu_session(), &ids, &[]))] {
        sums_to_one(&f, what);
        assert_eq!(f.edges.len(), 30 * ((0..n).map(|i| 9 * (i + 1) + 1).sum::<usize>()), "{what}: every edge at min 0");
    }
    let off = [(0, 3), (18, 6)];
    let f = flow_of(&mut cpu_session(), &ids, &off);
    sums_to_one(&f, "CPU, heads off");
    assert!(!f.edges.iter().any(|e| off.iter().any(|&(l, h)| e.layer == l && e.head == Via::Head(h))), "switched-off heads send nothing");
}

#[test]
fn flow_equals_a_from_scratch_computation_on_both_backends() {
    let ids = common::tokenizer().encode(PROMPT).unwrap();
    let c = common::cpu_model().config.clone();
    let r = common::reference::forward_flow(common::gguf(), &c, &ids, &[]);
    // The shares from scratch.
    let mut want = HashMap::new();
    for l in 0..c.n_layers {
        for i in 0..ids.len() {
            let mut parts = Vec::new();
            for h in 0..c.n_heads {
                for j in 0..=i {
                    parts.push(((l, j, i, Some(h)), r.probs[l][h][i][j] * r.vnorm[l][h][j]));
                }
            }
            parts.push(((l, i, i, None), r.ffn_norm[l][i]));
            let z: f64 = parts.iter().map(|p| p.1).sum();
            for (k, v) in parts {
                want.insert(k, v / z);
            }
        }
    }
    let cpu = by_edge(&flow_of(&mut cpu_session(), &ids, &[]));
    let gpu = by_edge(&flow_of(&mut gpu_session(), &ids, &[]));
    for (what, got) in [("CPU", &cpu), ("GPU", &gpu)] {
        assert_eq!(got.len(), want.len());
        let (d, k) = want.iter().map(|(k, &w)| ((got[k] as f64 - w).abs(), *k)).fold((0.0, (0, 0, 0, None)), |m, x| if x.0 > m.0 { x } else { m });
        println!("{what} vs from scratch: worst edge {k:?} off by {d:.2e} ({} vs {:.6})", got[&k], want[&k]);
        assert!(d < 1e-4, "{what}: edge {k:?}");
    }
    let d = cpu.iter().map(|(k, &v)| (v - gpu[k]).abs()).fold(0f32, f32::max);
    println!("CPU vs GPU: worst edge off by {d:.2e}");
    assert!(d < 1e-4);
}

#[test]
fn flow_changes_nothing_and_refuses_what_it_cannot_show() {
    let ids = common::tokenizer().encode(PROMPT).unwrap();
    let run = |ask: bool| {
        let mut s = Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions { full_logits: true, ..Default::default() }).unwrap();
        block_on(s.prefill(&ids)).unwrap();
        if ask {
            let g = block_on(s.grams()).unwrap();
            let f = block_on(s.flow(2, ids.len(), 0.05, &g)).unwrap();
            assert!(f.edges.iter().all(|e| e.share >= 0.05 && (2..ids.len()).contains(&e.to)));
            assert!(block_on(s.flow(0, ids.len() + 1, 0.0, &g)).is_err());
            assert!(block_on(s.flow(3, 3, 0.0, &g)).is_err());
        }
        let t = block_on(s.step()).unwrap();
        (t.token, t.candidates.iter().map(|c| c.logit.to_bits()).collect::<Vec<_>>())
    };
    assert_eq!(run(false), run(true));
}
