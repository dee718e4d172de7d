//! The numbers of the map of the whole network (`glassbox::map`): every
//! norm on the spine and in the blocks equals the model computed from
//! scratch in f64 (tests/common/reference.rs), on both backends; the
//! nearest tokens in embedding space equal a cosine computed here over the
//! dequantized matrix; asking changes nothing.

mod common;

use glassbox::backend::cpu::Cpu;
use glassbox::backend::Backend;
use glassbox::generate::{Session, SessionOptions};
use glassbox::map::MapAt;
use pollster::block_on;

const PROMPT: &str = "The capital of France is";

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The largest relative difference of `got` from `want`, and where.
fn worst(got: &[f32], want: &[f64]) -> (f64, usize) {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).enumerate().map(|(i, (&g, &w))| ((g as f64 - w).abs() / w.abs().max(1e-3), i)).fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a })
}

fn map_of<B: Backend>(backend: B, model: std::sync::Arc<glassbox::Model<B>>, ids: &[u32], pos: usize) -> (MapAt, Session<B>) {
    let mut s = Session::new(backend, model, common::tokenizer(), SessionOptions::default()).unwrap();
    block_on(s.prefill(ids)).unwrap();
    let mm = block_on(s.map_model()).unwrap();
    let m = block_on(s.map_at(pos, &mm, None)).unwrap();
    // Position 0's spine, kept and given back, changes nothing.
    let again = block_on(s.map_at(pos, &mm, Some(m.first.clone()))).unwrap();
    assert_eq!(again, m);
    assert_eq!(block_on(s.map_at(0, &mm, None)).unwrap().first, m.first, "position 0's own map");
    (m, s)
}

#[test]
fn the_map_equals_a_from_scratch_computation_on_both_backends() {
    let ids = common::tokenizer().encode_prompt(PROMPT).unwrap();
    let c = common::cpu_model().config.clone();
    let pos = ids.len() - 1;
    let r = common::reference::forward(common::gguf(), &c, &ids, &[]);
    let want_residual: Vec<f64> = (0..c.n_layers).map(|l| norm(&r.res_all[l][pos])).collect();
    let want_first: Vec<f64> = (0..c.n_layers).map(|l| norm(&r.res_all[l][0])).collect();
    let want_ffn: Vec<f64> = r.ffn.iter().map(|f| norm(f)).collect();
    let want_heads: Vec<f64> = r.heads.iter().flat_map(|l| l.iter().map(|h| norm(h))).collect();
    // The attention update is the sum of the heads' writes.
    let want_attention: Vec<f64> = r.heads.iter().map(|l| norm(&(0..c.dim).map(|i| l.iter().map(|h| h[i]).sum::<f64>()).collect::<Vec<_>>())).collect();
    // Each layer's strongest neurons from scratch: |h_i| · ‖W_down[:, i]‖.
    let (d, f) = (c.dim, c.ffn_dim);
    let want_neurons: Vec<Vec<(u32, f64, f64)>> = (0..c.n_layers)
        .map(|l| {
            let t = glassbox::tensor::TensorData::get(common::gguf(), &format!("blk.{l}.ffn_down.weight"), d, f).unwrap();
            let mut w = vec![0f32; d * f];
            glassbox::quant::dequantize(t.ty, t.data, &mut w);
            let col: Vec<f64> = (0..f).map(|i| (0..d).map(|r| (w[r * f + i] as f64).powi(2)).sum::<f64>().sqrt()).collect();
            let h = &r.ffn_hidden[l];
            let mut ns: Vec<(u32, f64, f64)> = (0..f).map(|i| (i as u32, h[i], h[i].abs() * col[i])).collect();
            ns.sort_by(|a, b| b.2.total_cmp(&a.2));
            ns.truncate(glassbox::map::NEURONS);
            ns
        })
        .collect();
    let (gpu, gmodel) = common::gpu();
    let (cpu_map, mut cpu) = map_of(Cpu::new(), common::cpu_model(), &ids, pos);
    let (gpu_map, _) = map_of(gpu.sibling(), gmodel.clone(), &ids, pos);
    for (what, m) in [("CPU", &cpu_map), ("GPU", &gpu_map)] {
        assert_eq!((m.pos, m.token), (pos, ids[pos]));
        assert_eq!(m.embedding.len(), c.dim);
        let (d, i) = worst(&m.embedding, &r.embed);
        assert!(d < 1e-5, "{what}: embedding[{i}] off by {d:.1e}");
        let heads: Vec<f32> = m.heads.iter().flatten().copied().collect();
        assert_eq!(m.heads.len(), c.n_layers);
        for (name, got, want) in [
            ("residual", &m.residual, &want_residual),
            ("position 0", &m.first, &want_first),
            ("attention", &m.attention, &want_attention),
            ("ffn", &m.ffn, &want_ffn),
            ("heads", &heads, &want_heads),
        ] {
            let (d, i) = worst(got, want);
            println!("{what} {name}: worst at {i}: {} vs {:.4} ({d:.1e})", got[i], want[i]);
            assert!(d < 1e-4, "{what} {name}[{i}]: {} vs from scratch {}", got[i], want[i]);
        }
        assert!((m.embed_norm as f64 - norm(&r.embed)).abs() < 1e-4);
        for (l, (got, want)) in m.neurons.iter().zip(&want_neurons).enumerate() {
            assert_eq!(got.iter().map(|n| n.index).collect::<Vec<_>>(), want.iter().map(|w| w.0).collect::<Vec<_>>(), "{what}: layer {l}'s strongest neurons");
            for (n, w) in got.iter().zip(want) {
                assert!((n.act as f64 - w.1).abs() <= 1e-4 * w.1.abs().max(1.0) && (n.write as f64 - w.2).abs() <= 1e-4 * w.2.max(1.0), "{what}: layer {l} neuron {}: {n:?} vs {w:?}", n.index);
            }
        }
    }
    let top = &cpu_map.neurons[cpu_map.neurons.len() - 1][0];
    println!("layer 29's strongest neuron: {} (h = {:.3}, writes {:.2})", top.index, top.act, top.write);
    // The attention sink: position 0's residual stream grows two orders of
    // magnitude past the others' (what the map makes visible).
    let peak = cpu_map.first.iter().copied().fold(0f32, f32::max);
    let here = cpu_map.residual.iter().copied().fold(0f32, f32::max);
    assert!(peak > 10.0 * here, "position 0 peaks at {peak}, position {pos} at {here}");
    // Asking changes nothing: the next step and its candidates are the same bits.
    let mm = block_on(cpu.map_model()).unwrap();
    block_on(cpu.map_at(0, &mm, None)).unwrap();
    let step = block_on(cpu.step()).unwrap();
    let (_, mut fresh) = map_of(Cpu::new(), common::cpu_model(), &ids, pos);
    let again = block_on(fresh.step()).unwrap();
    let bits = |s: &Session<Cpu>| s.candidates().iter().map(|c| (c.id, c.logit.to_bits())).collect::<Vec<_>>();
    assert_eq!((step.token, bits(&cpu)), (again.token, bits(&fresh)));
    assert!(block_on(cpu.map_at(99, &mm, None)).is_err(), "a position past the end is refused");
}

#[test]
fn nearest_tokens_are_a_cosine_over_the_whole_vocabulary() {
    let tok = common::tokenizer();
    let model = common::cpu_model();
    let c = &model.config;
    // The matrix, dequantized here (the one piece shared with the engine).
    let t = glassbox::tensor::TensorData::get(common::gguf(), "token_embd.weight", c.vocab_size, c.dim).unwrap();
    let mut e = vec![0f32; c.vocab_size * c.dim];
    glassbox::quant::dequantize(t.ty, t.data, &mut e);
    let rows: Vec<&[f32]> = e.chunks(c.dim).collect();
    let norms: Vec<f64> = rows.iter().map(|r| r.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt()).collect();
    let id = tok.encode_prompt(" France").unwrap()[0];
    let mut want: Vec<(u32, f64)> = (0..c.vocab_size as u32)
        .filter(|&t| t != id)
        .map(|t| (t, rows[t as usize].iter().zip(rows[id as usize]).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>() / (norms[t as usize] * norms[id as usize]).max(1e-30)))
        .collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let (gpu, gmodel) = common::gpu();
    let mut cpu = Cpu::new();
    let mut g = gpu.sibling();
    let cpu_norms = block_on(model.embedding_norms(&mut cpu)).unwrap();
    let gpu_norms = block_on(gmodel.embedding_norms(&mut g)).unwrap();
    let got_cpu = block_on(model.nearest(&mut cpu, id, &cpu_norms, 10)).unwrap();
    let got_gpu = block_on(gmodel.nearest(&mut g, id, &gpu_norms, 10)).unwrap();
    let names: Vec<String> = got_cpu.iter().map(|n| format!("{:?} {:.3}", tok.piece(n.id), n.cos)).collect();
    println!("nearest {:?}: {}", tok.piece(id), names.join(", "));
    for (what, got) in [("CPU", &got_cpu), ("GPU", &got_gpu)] {
        assert_eq!(got.iter().map(|n| n.id).collect::<Vec<_>>(), want[..10].iter().map(|w| w.0).collect::<Vec<_>>(), "{what}: the ten nearest");
        for (n, w) in got.iter().zip(&want) {
            assert!((n.cos as f64 - w.1).abs() < 1e-5, "{what}: cos of {} is {} from scratch, {} here", n.id, w.1, n.cos);
        }
    }
    assert!(tok.piece(got_cpu[0].id).contains("France") || got_cpu.iter().any(|n| tok.piece(n.id).contains("Spain")), "{names:?}");
    assert!(block_on(model.nearest(&mut cpu, c.vocab_size as u32, &cpu_norms, 5)).is_err(), "an id outside the vocabulary is refused");
}

/// With the map kept by each step (`Session::set_keep_map`), the map at the
/// newest position is the one a second pass computes, bit for bit, and no
/// step changes: through a prefill, steps, a forced token, an undo, heads
/// off and on. Elsewhere (an older position, a batch) it is computed.
fn kept_equals_computed<B: Backend>(new: impl Fn() -> Session<B>, short: bool) {
    let opts_ids = common::tokenizer().encode_prompt(PROMPT).unwrap();
    let (mut kept, mut plain) = (new(), new());
    kept.set_keep_map(true);
    let mm = block_on(plain.map_model()).unwrap();
    let ablate = |off: Vec<(usize, usize)>| glassbox::inspect::Ablation { off };
    enum Do {
        Step,
        Force(u32),
        Undo,
        Off(Vec<(usize, usize)>),
        Ahead(usize),
    }
    // (Shorter on lavapipe: a step, heads off, an undo, Play ahead prove the same.)
    let script = if short {
        vec![Do::Step, Do::Off(vec![(3, 1)]), Do::Undo, Do::Ahead(2)]
    } else {
        vec![Do::Step, Do::Force(28), Do::Undo, Do::Off(vec![(3, 1), (20, 4)]), Do::Step, Do::Off(vec![]), Do::Step, Do::Undo, Do::Step, Do::Ahead(3), Do::Ahead(2), Do::Undo]
    };
    block_on(kept.prefill(&opts_ids)).unwrap();
    block_on(plain.prefill(&opts_ids)).unwrap();
    let (mut used, mut second) = (0, 0);
    for (i, d) in std::iter::once(None).chain(script.iter().map(Some)).enumerate() {
        let before = kept.kept_map_at();
        for s in [&mut kept, &mut plain] {
            match d {
                None => {}
                Some(Do::Step) => drop(block_on(s.step()).unwrap()),
                Some(Do::Force(id)) => drop(block_on(s.force(*id)).unwrap()),
                Some(Do::Undo) => drop(block_on(s.undo()).unwrap()),
                Some(Do::Off(off)) => block_on(s.set_ablation(ablate(off.clone()))).unwrap(),
                Some(Do::Ahead(k)) => drop(block_on(s.steps_ahead(*k)).unwrap()),
            }
        }
        assert_eq!(plain.kept_map_at(), None, "nothing is kept unless asked");
        let n = kept.tokens().len();
        assert_eq!(kept.tokens(), plain.tokens());
        let bits = |s: &Session<B>| s.candidates().iter().map(|c| (c.id, c.logit.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&kept), bits(&plain), "action {i}: keeping the map changed the step");
        // A prompt is one batch: nothing kept; after a one-token pass (a
        // step, an undo's rerun of the last token, heads off's recompute of
        // the generated tokens, the last of a Play-ahead request), its
        // position, and the one kept before it while nothing since changed
        // it (a second slot: the page asks about the position it drew while
        // the engine computes the next request).
        let want_kept = if i == 0 { None } else { Some(n - 1) };
        assert_eq!(kept.kept_map_at(), want_kept, "action {i}");
        let positions = kept.kept_map_positions();
        assert!(positions.len() <= 2 && positions.iter().all(|&p| p < n), "action {i}: {positions:?}");
        if let (Some(Do::Ahead(_)), Some(b)) = (d, before) {
            assert_eq!(positions, vec![n - 1, b], "action {i}: the position kept before a Play-ahead request stays kept");
            second += 1;
        }
        used += usize::from(want_kept.is_some());
        let mut ask = if short { vec![n - 1] } else { vec![n - 1, n - 2] };
        for p in positions {
            if !ask.contains(&p) {
                ask.push(p);
            }
        }
        for pos in ask {
            let (a, b) = (block_on(kept.map_at(pos, &mm, None)).unwrap(), block_on(plain.map_at(pos, &mm, None)).unwrap());
            assert!(a == b, "action {i}, position {pos}: the kept map differs from the computed one");
        }
    }
    assert!(used >= if short { 3 } else { 8 }, "the kept numbers were read {used} times");
    assert!(second >= 1, "the second slot was never used");
    kept.set_keep_map(false);
    assert_eq!(kept.kept_map_at(), None);
}

#[test]
fn a_kept_map_is_the_computed_map_cpu() {
    kept_equals_computed(|| Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions { n_ctx: 64, ..Default::default() }).unwrap(), false);
}

#[test]
fn a_kept_map_is_the_computed_map_gpu() {
    let (gpu, model) = common::gpu();
    kept_equals_computed(|| Session::new(gpu.sibling(), model.clone(), common::tokenizer(), SessionOptions { n_ctx: 64, ..Default::default() }).unwrap(), true);
}
