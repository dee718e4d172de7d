//! What each head does (src/roles.rs), on the CPU and the GPU: the
//! repeated sequence is what it says, the four scores equal a from-scratch
//! computation of the attention weights (tests/common/reference.rs) and
//! each other on both backends, and llama.cpp's own attention weights
//! (tests/fixtures/llama_cpp_head_roles.json, recorded once by
//! tests/fixtures/record_head_roles.py).

mod common;

use common::gpu;

use glassbox::backend::cpu::Cpu;
use glassbox::backend::gpu::Gpu;
use glassbox::backend::Backend;
use glassbox::generate::SessionOptions;
use glassbox::roles::{head_roles, repeat_ids, HeadRole, HeadRoles, DEFAULT_PROMPT, DEFAULT_REPEAT};
use glassbox::Session;
use pollster::block_on;

fn cpu_session() -> Session<Cpu> {
    Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions::default()).unwrap()
}

fn gpu_session() -> Session<Gpu> {
    let (g, model) = gpu();
    Session::new(g.sibling(), model.clone(), common::tokenizer(), SessionOptions::default()).unwrap()
}

fn scores(h: &HeadRole) -> [f32; 4] {
    [h.previous, h.sink, h.duplicate, h.induction]
}

/// The worst difference between two sets of scores, and where.
fn worst(a: &[[f64; 4]], b: &[[f64; 4]]) -> (f64, usize, usize) {
    let mut w = (0.0, 0, 0);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        for k in 0..4 {
            let d = (x[k] - y[k]).abs();
            if d > w.0 {
                w = (d, i, k);
            }
        }
    }
    w
}

fn as_f64(r: &HeadRoles) -> Vec<[f64; 4]> {
    r.heads.iter().map(|h| scores(h).map(f64::from)).collect()
}

const SCORE: [&str; 4] = ["previous", "sink", "duplicate", "induction"];

#[test]
fn the_repeated_sequence_is_ordinary_tokens_twice() {
    let tok = common::tokenizer();
    let ids = repeat_ids(&tok, DEFAULT_REPEAT, 0);
    assert_eq!(ids.len(), 2 * DEFAULT_REPEAT);
    assert_eq!(ids[..DEFAULT_REPEAT], ids[DEFAULT_REPEAT..]);
    assert!(ids.iter().all(|&i| !tok.is_special(i) && (i as usize) < tok.vocab_size()));
    assert_eq!(ids, repeat_ids(&tok, DEFAULT_REPEAT, 0), "a seed is the same ids every time");
    assert_ne!(ids, repeat_ids(&tok, DEFAULT_REPEAT, 1));
    let n = common::tokenizer().encode(DEFAULT_PROMPT).unwrap().len();
    assert!((60..=120).contains(&n), "the default prompt is {n} tokens");
}

/// Scores from the from-scratch model's attention weights.
fn from_scratch(prompt: &[u32], repeat: &[u32]) -> Vec<[f64; 4]> {
    let c = common::cpu_model().config.clone();
    let p = common::reference::forward(common::gguf(), &c, prompt, &[]).probs;
    let q = common::reference::forward(common::gguf(), &c, repeat, &[]).probs;
    let (t, r) = (prompt.len(), repeat.len() / 2);
    let mean = |f: &dyn Fn(usize) -> f64, rows: std::ops::Range<usize>| rows.clone().map(f).sum::<f64>() / rows.len() as f64;
    let mut out = Vec::new();
    for l in 0..c.n_layers {
        for h in 0..c.n_heads {
            let (w, v) = (&p[l][h], &q[l][h]);
            out.push([mean(&|i| w[i][i - 1], 1..t), mean(&|i| w[i][0], 1..t), mean(&|i| v[i][i - r], r..2 * r), mean(&|i| v[i][i - r + 1], r..2 * r)]);
        }
    }
    out
}

#[test]
fn scores_equal_a_from_scratch_computation_on_both_backends() {
    let tok = common::tokenizer();
    let prompt = tok.encode("A fox ran past the mill, and the miller waved at it.").unwrap();
    let repeat = repeat_ids(&tok, 8, 7);
    let want = from_scratch(&prompt, &repeat);
    let cpu = block_on(head_roles(&mut cpu_session(), &prompt, &repeat)).unwrap();
    let gpu = block_on(head_roles(&mut gpu_session(), &prompt, &repeat)).unwrap();
    for (what, got) in [("CPU", &cpu), ("GPU", &gpu)] {
        assert_eq!(got.heads.len(), 30 * 9);
        assert!(got.heads.iter().enumerate().all(|(i, h)| h.layer == i / 9 && h.head == i % 9), "{what}: layer-major order");
        let (d, i, k) = worst(&as_f64(got), &want);
        println!("{what} vs from scratch: worst {} of head {}:{} off by {d:.2e} ({} vs {:.6})", SCORE[k], i / 9, i % 9, scores(&got.heads[i])[k], want[i][k]);
        assert!(d < 1e-4, "{what}: {} of head {}:{}", SCORE[k], i / 9, i % 9);
    }
    let (d, i, k) = worst(&as_f64(&cpu), &as_f64(&gpu));
    println!("CPU vs GPU: worst {} of head {}:{} off by {d:.2e}", SCORE[k], i / 9, i % 9);
    assert!(d < 1e-4);
}

/// The scores are means of weights: each in [0, 1], and a model trained on
/// text has heads that clearly look back one token and complete repeats.
#[test]
fn the_model_has_previous_token_and_induction_heads() {
    let tok = common::tokenizer();
    let prompt = tok.encode(DEFAULT_PROMPT).unwrap();
    let r = block_on(head_roles(&mut cpu_session(), &prompt, &repeat_ids(&tok, DEFAULT_REPEAT, 0))).unwrap();
    assert!(r.heads.iter().all(|h| scores(h).iter().all(|s| (0.0..=1.0 + 1e-6).contains(s))));
    for (k, name) in SCORE.iter().enumerate() {
        let best = r.heads.iter().max_by(|a, b| scores(a)[k].total_cmp(&scores(b)[k])).unwrap();
        println!("strongest {name} head: {}:{} = {:.3}", best.layer, best.head, scores(best)[k]);
    }
    assert!(r.heads.iter().any(|h| h.previous > 0.5), "a previous-token head");
    assert!(r.heads.iter().any(|h| h.induction > 0.5), "an induction head");
    // The session is left empty, as it came.
    let mut s = cpu_session();
    block_on(head_roles(&mut s, &prompt, &repeat_ids(&tok, 4, 0))).unwrap();
    assert!(s.tokens().is_empty());
}

#[test]
fn bad_sequences_are_clear_errors() {
    let tok = common::tokenizer();
    let mut s = cpu_session();
    let one = tok.encode("Hi").unwrap();
    assert_eq!(one.len(), 1);
    assert!(block_on(head_roles(&mut s, &one, &repeat_ids(&tok, 4, 0))).unwrap_err().to_string().contains("at least 2"));
    let prompt = tok.encode("Two words").unwrap();
    assert!(block_on(head_roles(&mut s, &prompt, &[1, 2, 3, 1, 2, 4])).is_err(), "not a repeat");
    let mut small = Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions { n_ctx: 16, ..Default::default() }).unwrap();
    assert!(block_on(head_roles(&mut small, &prompt, &repeat_ids(&tok, 30, 0))).is_err(), "longer than the context");
}

/// Against llama.cpp's own attention weights (its kq_soft_max nodes on the
/// F32 copy), on its sequences, on both backends.
#[test]
fn scores_equal_llama_cpp() {
    let fx = common::fixture("llama_cpp_head_roles.json");
    let (prompt, repeat) = (common::ids(&fx["prompt_ids"]), common::ids(&fx["repeat_ids"]));
    assert_eq!(prompt, common::tokenizer().encode(DEFAULT_PROMPT).unwrap(), "the fixture's prompt is the built-in one");
    let want: Vec<[f64; 4]> = fx["heads"].as_array().unwrap().iter().map(|h| ["previous", "sink", "duplicate", "induction"].map(|k| h[k].as_f64().unwrap())).collect();
    for (what, got) in [("CPU", block_on(head_roles(&mut cpu_session(), &prompt, &repeat)).unwrap()), ("GPU", block_on(head_roles(&mut gpu_session(), &prompt, &repeat)).unwrap())] {
        let (d, i, k) = worst(&as_f64(&got), &want);
        println!("{what} vs llama.cpp: worst {} of head {}:{} off by {d:.2e} ({} vs {:.6})", SCORE[k], i / 9, i % 9, scores(&got.heads[i])[k], want[i][k]);
        assert!(d < 1e-4, "{what}: {} of head {}:{}", SCORE[k], i / 9, i % 9);
    }
}
