//! Inside one step, on the CPU and the GPU: the probe's numbers against the
//! forward pass's own (weights, softmax, weighted values, the head's output,
//! contributions that add up to the attention update), the logit lens
//! (its last layer is the model's prediction; CPU and GPU agree on every
//! layer), switching heads off (nothing off changes no bit; one head off
//! changes the logits; all back on restores every bit), and that none of
//! these questions changes what the session does next.

mod common;

use common::gpu;

use glassbox::backend::cpu::Cpu;
use glassbox::backend::gpu::Gpu;
use glassbox::backend::Backend;
use glassbox::generate::SessionOptions;
use glassbox::inspect::Ablation;
use glassbox::Session;
use pollster::block_on;

const PROMPT: &str = "The quick brown fox jumps over the lazy dog because it was";

fn cpu_session(opts: SessionOptions) -> Session<Cpu> {
    Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions { full_logits: true, ..opts }).unwrap()
}

fn gpu_session(opts: SessionOptions) -> Session<Gpu> {
    let (g, model) = gpu();
    Session::new(g.sibling(), model.clone(), common::tokenizer(), SessionOptions { full_logits: true, ..opts }).unwrap()
}

fn ids() -> Vec<u32> {
    common::tokenizer().encode(PROMPT).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The probe against the traced forward pass, for several heads and positions.
fn probe_checks<B: Backend>(mut s: Session<B>, what: &str) {
    let ids = ids();
    let rows = block_on(s.prefill(&ids)).unwrap().attention.unwrap();
    let mut worst = [0f32; 4];
    for (layer, head, pos) in [(0, 0, ids.len() - 1), (3, 4, 5), (17, 8, ids.len() - 1), (29, 2, 0), (12, 5, 7)] {
        let p = block_on(s.probe(layer, head, pos, None)).unwrap();
        assert_eq!((p.layer, p.head, p.kv_head, p.pos, p.token), (layer, head, head / 3, pos, ids[pos]));
        assert_eq!((p.q.len(), p.q_pre_rope.len(), p.angles.len(), p.out.len(), p.contribution.len()), (64, 64, 32, 64, 576));
        assert_eq!(p.keys.len(), pos + 1, "every key 0..=pos");
        // The weights are the forward pass's own.
        let traced = rows[pos].row(layer, head);
        let w: Vec<f32> = p.keys.iter().map(|k| k.weight).collect();
        worst[0] = worst[0].max(max_diff(&w, traced));
        // softmax(scaled) = weights, and scaled = score / 8.
        let m = p.keys.iter().map(|k| k.scaled).fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = p.keys.iter().map(|k| ((k.scaled - m) as f64).exp()).sum();
        let soft: Vec<f32> = p.keys.iter().map(|k| (((k.scaled - m) as f64).exp() / z) as f32).collect();
        worst[1] = worst[1].max(max_diff(&soft, &w));
        for k in &p.keys {
            assert!((k.scaled - k.score / 8.0).abs() <= 1e-6 * k.score.abs().max(1.0));
            assert_eq!(k.id, ids[k.pos]);
        }
        // Σ w_j v_j = out.
        let mut sum = vec![0f32; 64];
        for k in &p.keys {
            for (o, v) in sum.iter_mut().zip(&k.v) {
                *o += k.weight * v;
            }
        }
        worst[2] = worst[2].max(max_diff(&sum, &p.out));
        // q after RoPE is q before it, turned by the reported angles.
        let turned: Vec<f32> = (0..64)
            .map(|d| {
                let (t, x0, x1) = (p.angles[d / 2], p.q_pre_rope[d & !1], p.q_pre_rope[d | 1]);
                if d % 2 == 0 { x0 * t.cos() - x1 * t.sin() } else { x0 * t.sin() + x1 * t.cos() }
            })
            .collect();
        worst[3] = worst[3].max(max_diff(&turned, &p.q));
        assert!(p.rms > 0.0 && p.contribution_norm > 0.0 && p.ffn_norm > 0.0);
        assert_eq!(p.ffn_top.len(), 10);
        assert!(p.ffn_top.windows(2).all(|w| w[0].value.abs() >= w[1].value.abs()));
    }
    eprintln!("{what}: probe vs forward: weights {:.1e}, softmax(scaled) {:.1e}, Σwv vs out {:.1e}, RoPE {:.1e}", worst[0], worst[1], worst[2], worst[3]);
    assert!(worst[0] <= 1e-6, "{what}: probe weights differ from the traced row by {}", worst[0]);
    assert!(worst[1] <= 1e-6, "{what}: softmax(scaled) differs from the weights by {}", worst[1]);
    assert!(worst[2] <= 1e-5, "{what}: Σ w v differs from out by {}", worst[2]);
    assert!(worst[3] <= 1e-4, "{what}: q is not q_pre_rope turned by the angles ({})", worst[3]);

    // The heads' contributions add up to the attention block's update.
    let pos = ids.len() - 1;
    let r = block_on(s.residual(pos)).unwrap();
    assert_eq!((r.attention.len(), r.ffn.len()), (30, 30));
    for layer in [0, 14, 29] {
        let mut total = vec![0f32; 576];
        for h in 0..9 {
            let p = block_on(s.probe(layer, h, pos, Some(4))).unwrap();
            assert_eq!(p.keys.len(), 4, "max_keys keeps the heaviest keys");
            total.iter_mut().zip(&p.contribution).for_each(|(t, c)| *t += c);
        }
        let norm = total.iter().map(|x| x * x).sum::<f32>().sqrt();
        let rel = (norm - r.attention[layer]).abs() / r.attention[layer];
        eprintln!("{what}: layer {layer}: |Σ head contributions| {norm:.4} vs attention update {:.4}", r.attention[layer]);
        assert!(rel <= 1e-4, "{what}: layer {layer}: the heads' contributions do not add up to the update ({rel})");
    }
}

#[test]
fn probe_matches_the_forward_pass_on_the_cpu() {
    probe_checks(cpu_session(SessionOptions { trace: true, max_batch: 4, ..Default::default() }), "CPU");
}

#[test]
fn probe_matches_the_forward_pass_on_the_gpu() {
    probe_checks(gpu_session(SessionOptions { trace: true, max_batch: 4, ..Default::default() }), "GPU");
}

/// Steps with probes, lenses and maps in between: every token and logit as without them.
fn questions_change_nothing<B: Backend>(mk: impl Fn() -> Session<B>, what: &str) {
    let run = |ask: bool| {
        let mut s = mk();
        block_on(s.prefill(&ids())).unwrap();
        let mut out = Vec::new();
        for i in 0..4 {
            if ask {
                let n = s.tokens().len();
                block_on(s.probe(i * 7, i, n - 1 - i, None)).unwrap();
                block_on(s.lens(n - 2, n, 5)).unwrap();
                block_on(s.residual(n / 2)).unwrap();
            }
            if i == 2 {
                block_on(s.undo()).unwrap();
            }
            out.push(vec![block_on(s.step()).unwrap().token]);
            out.push(bits(s.logits().unwrap()));
        }
        out
    };
    assert!(run(true) == run(false), "{what}: a probe or lens changed later steps");
}

#[test]
fn probes_and_lenses_change_nothing() {
    questions_change_nothing(|| cpu_session(SessionOptions::default()), "CPU");
    questions_change_nothing(|| gpu_session(SessionOptions::default()), "GPU");
}

#[test]
fn the_last_layer_of_the_lens_is_the_prediction() {
    let ids = ids();
    let n = ids.len();
    let mut c = cpu_session(SessionOptions::default());
    block_on(c.prefill(&ids)).unwrap();
    let mut g = gpu_session(SessionOptions::default());
    block_on(g.prefill(&ids)).unwrap();
    for s_logits in [c.logits().unwrap().to_vec(), g.logits().unwrap().to_vec()] {
        assert_eq!(s_logits.len(), 49152);
    }
    // The CPU's lens over every position, the GPU's over the last four (on
    // lavapipe each position is 30 projections onto 49,152 rows; four
    // prove the same, the last one and a batch of rows before it).
    let g0 = n - 4;
    let lc = block_on(c.lens(0, n, 5)).unwrap();
    let lg = block_on(g.lens(g0, n, 5)).unwrap();
    assert_eq!((lc.len(), lg.len()), (n, n - g0));
    let (mut worst_last, mut worst_layers) = (0f32, 0f32);
    for (s_name, lens, logits) in [("CPU", &lc, c.logits().unwrap().to_vec()), ("GPU", &lg, g.logits().unwrap().to_vec())] {
        let last = &lens[lens.len() - 1].layers[29];
        let want = glassbox::sampling::top_n(&logits, 5);
        assert_eq!(last.top.iter().map(|t| t.id).collect::<Vec<_>>(), want.iter().map(|t| t.0).collect::<Vec<_>>(), "{s_name}: layer 29's top-5 ids");
        for (t, w) in last.top.iter().zip(&want) {
            worst_last = worst_last.max((t.logit - w.1).abs());
        }
        assert!(last.next.is_none(), "nothing follows the last position");
        for l in &lens[..lens.len() - 1] {
            assert_eq!(l.layers.len(), 30);
            for layer in &l.layers {
                let next = layer.next.as_ref().expect("the next token is known");
                assert_eq!(next.id, ids[l.pos + 1]);
                assert_eq!(next.rank == 0, layer.top[0].id == next.id, "rank 0 means the top token");
                let p: f32 = layer.top.iter().map(|t| t.prob).sum();
                assert!(p <= 1.0 + 1e-4 && layer.top.windows(2).all(|w| w[0].logit >= w[1].logit));
            }
        }
    }
    for (a, b) in lc[g0..].iter().zip(&lg) {
        assert_eq!(a.pos, b.pos);
        for (x, y) in a.layers.iter().zip(&b.layers) {
            for (tx, ty) in x.top.iter().zip(&y.top) {
                if tx.id == ty.id {
                    worst_layers = worst_layers.max((tx.logit - ty.logit).abs());
                }
            }
            if let (Some(nx), Some(ny)) = (&x.next, &y.next) {
                worst_layers = worst_layers.max((nx.logit - ny.logit).abs());
            }
        }
    }
    eprintln!("lens: layer 29 vs the logits {worst_last:.1e}; CPU vs GPU over every layer {worst_layers:.1e}");
    assert!(worst_last <= 1e-5, "layer 29's lens differs from the logits by {worst_last}");
    assert!(worst_layers <= 1e-2, "CPU and GPU lenses differ by {worst_layers}");
}

#[test]
fn switching_heads_off_and_on() {
    let ids = ids();
    fn run<B: Backend>(mut s: Session<B>, ids: &[u32]) -> (Vec<u32>, Vec<f32>, Vec<f32>, Vec<u32>) {
        block_on(s.prefill(ids)).unwrap();
        block_on(s.step()).unwrap();
        block_on(s.force(11)).unwrap();
        block_on(s.step()).unwrap();
        let base = s.logits().unwrap().to_vec();
        // Nothing off: nothing changes.
        block_on(s.set_ablation(Ablation::default())).unwrap();
        assert!(bits(s.logits().unwrap()) == bits(&base), "an empty ablation changed the logits");
        // Two heads off.
        block_on(s.set_ablation(Ablation::parse("0:3, 12:4").unwrap())).unwrap();
        let off = s.logits().unwrap().to_vec();
        assert!(max_diff(&off, &base) > 1e-3, "switching heads off changed nothing");
        let next_off = block_on(s.step()).unwrap().token;
        block_on(s.undo()).unwrap();
        assert!(bits(s.logits().unwrap()) == bits(&off), "undo with heads off");
        // All back on: every bit as before.
        block_on(s.set_ablation(Ablation::default())).unwrap();
        assert!(bits(s.logits().unwrap()) == bits(&base), "switching every head back on did not restore the logits");
        let tokens = s.tokens().to_vec();
        let _ = next_off;
        (tokens, base, off, vec![next_off])
    }
    let (tc, bc, oc, _) = run(cpu_session(SessionOptions { max_batch: 5, ..Default::default() }), &ids);
    let (tg, bg, og, _) = run(gpu_session(SessionOptions { max_batch: 5, ..Default::default() }), &ids);
    assert_eq!(tc, tg);
    let (db, dof) = (max_diff(&bc, &bg), max_diff(&oc, &og));
    eprintln!("ablation: CPU vs GPU logits {db:.1e} with every head on, {dof:.1e} with 0:3 and 12:4 off");
    assert!(db <= 1e-2 && dof <= 1e-2);
    // Heads outside the model are clear errors.
    let mut s = cpu_session(SessionOptions::default());
    for bad in ["30:0", "0:9"] {
        let err = block_on(s.set_ablation(Ablation::parse(bad).unwrap())).unwrap_err().to_string();
        assert!(err.contains("there is no head"), "{err}");
    }
    for bad in ["3", "a:b", "1:2:3", "-1:0"] {
        assert!(Ablation::parse(bad).is_err(), "{bad} parses");
    }
}

#[test]
fn every_tokens_probability() {
    let ids = ids();
    let n = ids.len();
    let mut c = cpu_session(SessionOptions { max_batch: 4, ..Default::default() });
    block_on(c.prefill(&ids)).unwrap();
    let got = block_on(c.next_tokens(0, n, 5)).unwrap();
    assert_eq!(got.len(), n);
    let mut g = gpu_session(SessionOptions { max_batch: 4, ..Default::default() });
    block_on(g.prefill(&ids)).unwrap();
    let gg = block_on(g.next_tokens(0, n, 5)).unwrap();
    let mut worst = (0f32, 0f32);
    for p in [1, 4, n - 1] {
        // From scratch: the full softmax after the first p tokens.
        let mut s = cpu_session(SessionOptions::default());
        block_on(s.prefill(&ids[..p])).unwrap();
        let l = s.logits().unwrap();
        let z = s.next_logits().log_z;
        let want = (l[ids[p] as usize] - z).exp();
        let rank = l.iter().filter(|&&x| x > l[ids[p] as usize]).count();
        let next = got[p - 1].layers[0].next.as_ref().unwrap();
        assert_eq!((next.id, next.rank), (ids[p], rank), "position {p}");
        worst.0 = worst.0.max((next.prob - want).abs());
        let gn = gg[p - 1].layers[0].next.as_ref().unwrap();
        assert_eq!(gn.rank, rank);
        worst.1 = worst.1.max((gn.prob - want).abs());
    }
    assert_eq!(got[n - 1].layers[0].top[0].id, glassbox::sampling::argmax(c.logits().unwrap()));
    eprintln!("token probabilities vs from scratch: CPU {:.1e}, GPU {:.1e}", worst.0, worst.1);
    assert!(worst.0 <= 1e-6 && worst.1 <= 1e-4);
}

/// The probe's intermediates against llama.cpp's own (its eval-callback
/// tool on the F32 copy of the model, recorded once by
/// tests/fixtures/record_intermediates.py): q and k after RoPE, the softmax
/// weights, and the residual stream after a layer.
/// `heads`: the heads probed at every position of each recorded layer.
fn llama_cpp_intermediates<B: Backend>(mut s: Session<B>, what: &str, heads: &[usize]) {
    let fx = common::fixture("llama_cpp_intermediates.json");
    let ids = common::ids(&fx["ids"]);
    assert_eq!(ids, common::tokenizer().encode(fx["prompt"].as_str().unwrap()).unwrap(), "the same tokens");
    block_on(s.prefill(&ids)).unwrap();
    let f = |v: &serde_json::Value| -> Vec<f32> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect() };
    let (mut wq, mut wk, mut wa, mut wl) = (0f32, 0f32, 0f32, 0f32);
    for (layer, lx) in fx["layers"].as_object().unwrap() {
        let layer: usize = layer.parse().unwrap();
        for pos in 0..ids.len() {
            for &head in heads {
                let p = block_on(s.probe(layer, head, pos, None)).unwrap();
                wq = wq.max(max_diff(&p.q, &f(&lx["q"][pos][head])));
                wa = wa.max(max_diff(&p.keys.iter().map(|k| k.weight).collect::<Vec<_>>(), &f(&lx["attn"][head][pos])));
                for k in &p.keys {
                    wk = wk.max(max_diff(&k.k, &f(&lx["k"][k.pos][head / 3])));
                }
            }
        }
        for (r, at) in lx["l_out_positions"].as_array().unwrap().iter().enumerate() {
            let pos = at.as_u64().unwrap() as usize;
            let ours = &block_on(s.residual_stream(pos)).unwrap()[layer];
            let theirs = f(&lx["l_out"][r]);
            let scale = theirs.iter().fold(1f32, |m, x| m.max(x.abs()));
            wl = wl.max(max_diff(ours, &theirs) / scale);
        }
    }
    eprintln!("{what} vs llama.cpp's intermediates: q {wq:.1e}, k {wk:.1e}, weights {wa:.1e}, residual (relative to its largest value) {wl:.1e}");
    assert!(wq <= 1e-3 && wk <= 1e-3, "{what}: q/k after RoPE differ from llama.cpp's by {wq}, {wk}");
    assert!(wa <= 1e-4, "{what}: attention weights differ from llama.cpp's by {wa}");
    assert!(wl <= 1e-5, "{what}: the residual stream differs from llama.cpp's by {wl} (relative)");
}

#[test]
fn probe_equals_llama_cpp_intermediates() {
    llama_cpp_intermediates(cpu_session(SessionOptions::default()), "CPU", &[0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // On lavapipe, one head of each KV group (the same code for every head).
    llama_cpp_intermediates(gpu_session(SessionOptions::default()), "GPU", &[0, 4, 8]);
}
