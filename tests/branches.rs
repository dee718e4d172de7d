//! Branches (src/branches.rs): each branch is what that decoding gives on
//! a session of its own (greedy, a seeded draw, the beam search's best),
//! the top five are the model's at that point, the parting index is the
//! first difference, the page's own sequence is untouched, bad requests
//! are refused.

mod common;

use glassbox::backend::cpu::Cpu;
use glassbox::beam::BeamSearch;
use glassbox::branches::{branches, default_decodings, parting};
use glassbox::generate::{Session, SessionOptions};
use glassbox::inspect::Ablation;
use glassbox::orchestrator::Orchestrator;
use glassbox::protocol::{Answer, Command, Query};
use glassbox::sampling::Sampling;
use glassbox::share::Decoding;
use pollster::block_on;

const PROMPT: &str = "Once upon a time, there was a";
const STEPS: usize = 10;

fn session(sampling: Sampling) -> Session<Cpu> {
    Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions { sampling, ..Default::default() }).unwrap()
}

#[test]
fn each_branch_is_what_its_decoding_gives() {
    let ids = common::tokenizer().encode_prompt(PROMPT).unwrap();
    let model = common::cpu_model();
    let tok = common::tokenizer();
    let decodings = default_decodings(STEPS);
    let got = block_on(branches(&Cpu::new(), &model, &tok, &ids, &decodings, STEPS, &Ablation::default())).unwrap();
    assert_eq!(got.prompt_ids, ids);
    assert_eq!(got.branches.len(), 5);
    for (b, d) in got.branches.iter().zip(&decodings) {
        assert_eq!(&b.decoding, d);
        let want: Vec<u32> = match d {
            Decoding::Greedy | Decoding::Sample(_) => {
                let mut s = session(match d {
                    Decoding::Sample(x) => x.clone(),
                    _ => Sampling::greedy(),
                });
                block_on(s.prefill(&ids)).unwrap();
                block_on(s.generate(STEPS, |_| {})).unwrap().iter().map(|t| t.token).collect()
            }
            Decoding::Beam(opts) => {
                let mut c = Cpu::new();
                let mut search = BeamSearch::new(&mut c, model.clone(), tok.clone(), &ids, *opts, 64).unwrap();
                block_on(search.run(&mut c)).unwrap().best
            }
        };
        assert_eq!(b.ids, want, "{d:?}");
        assert_eq!((b.top.len(), b.p.len()), (b.ids.len(), b.ids.len()));
        // The top five at each point are the model's own after the branch so far.
        let mut s = session(Sampling::greedy());
        let mut seq = ids.clone();
        block_on(s.prefill(&seq)).unwrap();
        for (i, &id) in b.ids.iter().enumerate() {
            let want: Vec<(u32, f32)> = s.candidates().iter().take(5).map(|c| (c.id, c.prob)).collect();
            assert_eq!(b.top[i], want, "{d:?} token {i}");
            if let Some(p) = b.p[i] {
                assert!(want.iter().all(|t| t.0 != id) || want.iter().any(|t| t.0 == id && t.1 == p));
            }
            seq.push(id);
            block_on(s.force(id)).unwrap();
        }
    }
    // Greedy's token is each time its point's top-1 with its p.
    let g = &got.branches[0];
    assert!(g.ids.iter().zip(&g.top).zip(&g.p).all(|((&id, top), p)| top[0].0 == id && *p == Some(top[0].1)));
    assert_eq!(got.parts_at, parting(&got.branches));
    let first = (0..STEPS).find(|&i| got.branches.iter().any(|b| b.ids.get(i) != got.branches[0].ids.get(i)));
    assert_eq!(got.parts_at, first);
    assert!(first.is_some(), "a draw at T 1.3 leaves greedy's path within {STEPS} tokens");
    println!("branches part at {first:?}: {:?}", got.branches.iter().map(|b| common::tokenizer().decode(&b.ids)).collect::<Vec<_>>());
}

#[test]
fn asking_for_branches_changes_nothing_and_refuses_bad_requests() {
    let opts = SessionOptions { n_ctx: 512, max_batch: 16, ..Default::default() };
    let mut o = Orchestrator::new(Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), opts).unwrap());
    block_on(o.command(Command::Prefill { prompt: PROMPT.into(), chat: false, sampling: Sampling::greedy(), step: true, compare: None }, &mut |_| {})).unwrap();
    let (tokens, next) = (o.session().tokens().to_vec(), o.session().next_logits().clone());
    let ids = tokens[..o.session().n_prompt()].to_vec();
    let (a, _) = block_on(o.ask(tokens.len(), Query::Branches { prompt: ids.clone(), steps: 4 }));
    match a {
        Answer::Branches { branches, pieces } => {
            assert_eq!(branches.branches.len(), 5);
            assert!(branches.branches.iter().flat_map(|b| &b.ids).all(|id| pieces.iter().any(|p| p.0 == *id)), "every token's text");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(o.session().tokens(), &tokens[..]);
    assert_eq!(o.session().next_logits(), &next, "the page's session is untouched");
    for bad in [Query::Branches { prompt: ids.clone(), steps: 0 }, Query::Branches { prompt: ids, steps: 65 }, Query::Branches { prompt: vec![], steps: 4 }] {
        assert!(matches!(block_on(o.ask(tokens.len(), bad)).0, Answer::Failed { .. }));
    }
}
