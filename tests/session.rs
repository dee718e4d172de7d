//! Generation session: batching, undo, force, samplers, limits, traces.

mod common;

use pollster::block_on;

use glassbox::backend::cpu::Cpu;
use glassbox::generate::SessionOptions;
use glassbox::sampling::{allowed_set, sample, top_n, Sampling};
use glassbox::{Error, Session};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const PROMPT: &str = "The capital of France is";

fn session(opts: SessionOptions) -> Session<Cpu> {
    Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions { full_logits: true, ..opts }).unwrap()
}

fn prompt_ids() -> Vec<u32> {
    common::tokenizer().encode(PROMPT).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn batching_does_not_change_the_numbers() {
    let ids = common::tokenizer().encode("One, two, three: the quick brown fox jumps over the lazy dog.").unwrap();
    assert!(ids.len() > 10);
    let mut reference = None;
    for max_batch in [64, 1, 3, 7] {
        let mut s = session(SessionOptions { max_batch, trace: true, ..Default::default() });
        let pre = block_on(s.prefill(&ids)).unwrap();
        let rows = pre.attention.unwrap();
        assert_eq!(rows.len(), ids.len());
        let got = (bits(s.logits().unwrap()), rows);
        match &reference {
            None => reference = Some(got),
            Some(r) => {
                assert!(r.0 == got.0, "logits differ with max_batch {max_batch}");
                assert!(r.1 == got.1, "attention differs with max_batch {max_batch}");
            }
        }
    }
}

#[test]
fn undo_restores_the_exact_state() {
    for sampling in [Sampling::greedy(), Sampling { temperature: 0.9, top_k: 40, top_p: 0.95, seed: 7 }] {
        let mut s = session(SessionOptions { sampling: sampling.clone(), ..Default::default() });
        block_on(s.prefill(&prompt_ids())).unwrap();
        let before = bits(s.logits().unwrap());
        let a = block_on(s.step()).unwrap();
        let after_a = bits(s.logits().unwrap());
        let b = block_on(s.step()).unwrap();
        assert_eq!(block_on(s.undo()).unwrap(), Some(b.token));
        assert_eq!(bits(s.logits().unwrap()), after_a, "undo of the 2nd step");
        let b2 = block_on(s.step()).unwrap();
        assert_eq!((b2.token, &b2.text_delta), (b.token, &b.text_delta), "same RNG state after undo");
        block_on(s.undo()).unwrap();
        assert_eq!(block_on(s.undo()).unwrap(), Some(a.token));
        assert_eq!(bits(s.logits().unwrap()), before, "undo back to the prompt");
        assert_eq!(s.tokens(), &prompt_ids()[..]);
        assert_eq!(block_on(s.undo()).unwrap(), None, "the prompt cannot be undone");
        let a2 = block_on(s.step()).unwrap();
        assert_eq!(a2.token, a.token);
    }
}

#[test]
fn force_takes_the_chosen_token() {
    let mut s = session(SessionOptions { trace: true, ..Default::default() });
    let pre = block_on(s.prefill(&prompt_ids())).unwrap();
    let second = pre.candidates[1].clone();
    assert!(second.prob < pre.candidates[0].prob);
    let st = block_on(s.force(second.id)).unwrap();
    assert!(st.forced);
    assert_eq!(st.token, second.id);
    assert_eq!(s.generated(), &[second.id]);
    assert_eq!(st.candidates, pre.candidates, "the step shows what it was chosen over");
    assert!(block_on(s.force(49152)).is_err(), "out-of-vocabulary id is refused");
    block_on(s.undo()).unwrap();
    assert_eq!(block_on(s.step()).unwrap().token, pre.candidates[0].id);
}

#[test]
fn seeded_sampling_is_reproducible() {
    let run = |seed| {
        let mut s = session(SessionOptions { sampling: Sampling { temperature: 1.5, top_k: 0, top_p: 1.0, seed }, ..Default::default() });
        block_on(s.prefill(&prompt_ids())).unwrap();
        block_on(s.generate(20, |_| {})).unwrap().iter().map(|t| t.token).collect::<Vec<_>>()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn top_k_and_top_p_stay_in_the_allowed_set() {
    let mut s = session(SessionOptions::default());
    block_on(s.prefill(&prompt_ids())).unwrap();
    let logits = s.logits().unwrap().to_vec();
    let top5: Vec<u32> = top_n(&logits, 5).into_iter().map(|x| x.0).collect();
    for (k, p) in [(5, 1.0), (0, 0.5), (3, 0.9), (1, 1.0), (0, 0.05), (50, 0.99)] {
        let sm = Sampling { temperature: 1.0, top_k: k, top_p: p, seed: 0 };
        let set = allowed_set(&logits, &sm);
        if k > 0 {
            assert!(set.len() <= k);
        }
        if k == 5 {
            assert_eq!(set.iter().map(|x| x.0).collect::<Vec<_>>(), top5);
        }
        // Top-p: the set without its last member has less than p of the mass.
        let full = allowed_set(&logits, &Sampling { top_p: 1.0, ..sm.clone() });
        let mass: f64 = full.iter().take(set.len() - 1).map(|x| x.1 as f64).sum();
        assert!(mass < p as f64 + 1e-6, "k={k} p={p}: {mass}");
        let total: f32 = set.iter().map(|x| x.1).sum();
        assert!((total - 1.0).abs() < 1e-4);
        let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
        for _ in 0..300 {
            let t = sample(&logits, &sm, &mut rng);
            assert!(set.iter().any(|x| x.0 == t), "k={k} p={p}: sampled {t} outside the allowed set");
        }
    }
    assert_eq!(sample(&logits, &Sampling::greedy(), &mut ChaCha8Rng::seed_from_u64(0)), top5[0]);
    assert!(Sampling { temperature: -1.0, ..Sampling::greedy() }.validate().is_err());
    assert!(Sampling { top_p: 0.0, ..Sampling::greedy() }.validate().is_err());
}

#[test]
fn context_limits_are_clear_errors() {
    let ids = prompt_ids();
    let mut s = session(SessionOptions { n_ctx: ids.len() - 1, ..Default::default() });
    let err = block_on(s.prefill(&ids)).unwrap_err();
    assert!(matches!(err, Error::ContextFull { .. }), "{err}");
    assert!(err.to_string().contains("context"));
    let mut s = session(SessionOptions { n_ctx: ids.len() + 1, ..Default::default() });
    block_on(s.prefill(&ids)).unwrap();
    block_on(s.step()).unwrap();
    assert!(matches!(block_on(s.step()), Err(Error::ContextFull { .. })));
    assert_eq!(s.tokens().len(), ids.len() + 1, "a refused step changes nothing");
    assert!(block_on(s.prefill(&[])).is_err(), "empty prompt");
}

#[test]
fn step_attention_rows_match_prefill_rows() {
    let ids = prompt_ids();
    let mut full = session(SessionOptions { trace: true, ..Default::default() });
    let pre = block_on(full.prefill(&ids)).unwrap();
    let rows = pre.attention.unwrap();
    // Feed the last prompt token as a step instead.
    let mut s = session(SessionOptions { trace: true, ..Default::default() });
    block_on(s.prefill(&ids[..ids.len() - 1])).unwrap();
    let st = block_on(s.force(*ids.last().unwrap())).unwrap();
    let att = st.attention.unwrap();
    assert_eq!(&att, rows.last().unwrap());
    assert_eq!((att.n_layers, att.n_heads, att.len), (30, 9, ids.len()));
    for l in 0..30 {
        for h in 0..9 {
            let sum: f32 = att.row(l, h).iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "layer {l} head {h} sums to {sum}");
        }
    }
    for (p, r) in rows.iter().enumerate() {
        assert_eq!(r.len, p + 1, "causal: position {p} sees {} keys", p + 1);
    }
    assert_eq!(bits(s.logits().unwrap()), bits(full.logits().unwrap()));
}

#[test]
fn top_candidates_suffice_without_every_logit() {
    // Greedy and top-k ≤ TOPK_K sampling read only the device's top
    // candidates; they must choose exactly as with every logit at hand.
    for sampling in [Sampling::greedy(), Sampling { temperature: 0.8, top_k: 20, top_p: 0.9, seed: 11 }] {
        let run = |full_logits| {
            let opts = SessionOptions { sampling: sampling.clone(), full_logits, ..Default::default() };
            let mut s = Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), opts).unwrap();
            block_on(s.prefill(&prompt_ids())).unwrap();
            let steps = block_on(s.generate(12, |_| {})).unwrap();
            assert_eq!(s.logits().is_some(), full_logits);
            steps.iter().map(|t| (t.token, t.candidates.clone())).collect::<Vec<_>>()
        };
        assert_eq!(run(false), run(true));
    }
    // Candidate probabilities from the normalizer equal a softmax over every logit.
    let mut s = session(SessionOptions::default());
    let pre = block_on(s.prefill(&prompt_ids())).unwrap();
    let probs = glassbox::sampling::softmax(s.logits().unwrap());
    for c in &pre.candidates {
        assert!((c.prob - probs[c.id as usize]).abs() < 1e-6, "{c:?} vs {}", probs[c.id as usize]);
    }
    let top: Vec<u32> = top_n(s.logits().unwrap(), 32).into_iter().map(|x| x.0).collect();
    assert_eq!(s.next_logits().top.iter().map(|x| x.0).collect::<Vec<_>>(), top);
}

#[test]
fn switching_to_a_full_distribution_sampler_mid_sequence() {
    // Greedy reads only the top candidates; a sampler over every token then
    // needs all logits, which the next step fetches by itself.
    let sampling = Sampling { temperature: 1.0, top_k: 0, top_p: 1.0, seed: 5 };
    let mut s = Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions::default()).unwrap();
    block_on(s.prefill(&prompt_ids())).unwrap();
    assert!(s.logits().is_none());
    s.set_sampling(sampling.clone()).unwrap();
    let switched: Vec<u32> = block_on(s.generate(5, |_| {})).unwrap().iter().map(|t| t.token).collect();
    let mut fresh = session(SessionOptions { sampling, ..Default::default() });
    block_on(fresh.prefill(&prompt_ids())).unwrap();
    let from_start: Vec<u32> = block_on(fresh.generate(5, |_| {})).unwrap().iter().map(|t| t.token).collect();
    assert_eq!(switched, from_start);
}

#[test]
fn sampling_made_visible() {
    use glassbox::sampling::sampling_view;
    let mut s = session(SessionOptions::default());
    block_on(s.prefill(&prompt_ids())).unwrap();
    let logits = s.logits().unwrap().to_vec();
    for (t, k, p) in [(0.7, 5, 1.0), (1.3, 0, 0.9), (1.0, 3, 0.5), (2.0, 40, 1.0)] {
        let sm = Sampling { temperature: t, top_k: k, top_p: p, seed: 1 };
        let v = sampling_view(&logits, &sm, 10);
        let set = allowed_set(&logits, &sm);
        assert_eq!(v.set_size, set.len());
        let allowed: Vec<u32> = v.rows.iter().filter(|r| r.allowed).map(|r| r.id).collect();
        assert_eq!(allowed, set.iter().take(10).map(|x| x.0).collect::<Vec<_>>(), "T={t} k={k} p={p}: the allowed rows are the allowed set's first");
        if k > 0 && k <= 10 && p == 1.0 {
            assert_eq!(allowed.len(), k, "top-k {k} allows exactly {k}");
            assert!(v.cut_by_k);
        }
        // Renormalized probabilities are the tempered ones over the set's mass.
        for r in v.rows.iter().filter(|r| r.allowed) {
            assert!((r.p - r.pt / v.set_mass).abs() < 1e-5, "{r:?}");
        }
        assert!(v.rows.iter().filter(|r| !r.allowed).all(|r| r.p == 0.0));
        // The model's own probabilities (T = 1) are the softmax.
        let z = s.next_logits().log_z;
        for r in &v.rows {
            assert!((r.p1 - (logits[r.id as usize] - z).exp()).abs() < 1e-6);
        }
        // The draw: the token is where u falls in the cumulative allowed set.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (id, u) = glassbox::sampling::sample_draw(&logits, &sm, &mut rng);
        let u = u.unwrap();
        let mut cum = 0f64;
        let pick = set.iter().find(|x| {
            cum += x.1 as f64;
            u < cum
        });
        assert_eq!(pick.map(|x| x.0).unwrap_or(set.last().unwrap().0), id);
    }
    // A step records its draw.
    s.set_sampling(Sampling { temperature: 0.8, top_k: 0, top_p: 1.0, seed: 3 }).unwrap();
    let st = block_on(s.step()).unwrap();
    assert!(st.draw.is_some_and(|u| (0.0..1.0).contains(&u)));
    let v = block_on(s.sampling_view()).unwrap();
    assert_eq!(v.rows.len(), 10);
}
