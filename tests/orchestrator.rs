//! The session orchestrator on the real model: beam search with heads
//! switched off, and the beam tree's greedy comparison (issue 16 §3.2, §3.9).

mod common;

use glassbox::backend::cpu::Cpu;
use glassbox::beam::{BeamOptions, BeamTree};
use glassbox::generate::{Session, SessionOptions};
use glassbox::orchestrator::Orchestrator;
use glassbox::protocol::{Command, FromWorker};
use pollster::block_on;

fn orchestrator() -> Orchestrator<Cpu> {
    let opts = SessionOptions { n_ctx: 512, max_batch: 16, ..Default::default() };
    Orchestrator::new(Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), opts).unwrap())
}

fn run(o: &mut Orchestrator<Cpu>, c: Command) -> FromWorker {
    block_on(o.command(c, &mut |_| {})).unwrap_or_else(|e| panic!("{e}"))
}

fn trees(m: FromWorker) -> (BeamTree, BeamTree) {
    match m {
        FromWorker::Beam { tree, greedy, .. } => (tree, greedy),
        other => panic!("expected a beam tree, got {other:?}"),
    }
}

/// Every head of the first layer (they change what greedy decoding says).
const OFF: [(usize, usize); 9] = [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 7), (0, 8)];

/// With heads switched off, the beam search runs without them (it ran with
/// every head on while the page said they were off): a width-1 search is
/// greedy decoding with those heads off, and the tree says which are off.
#[test]
fn beam_search_runs_with_the_heads_that_are_off() {
    let prompt = "The capital of France is";
    let ids = common::tokenizer().encode_prompt(prompt).unwrap();
    let opts = BeamOptions { width: 1, steps: 6, length_penalty: 0.0 };
    let mut o = orchestrator();
    run(&mut o, Command::Ablate { off: OFF.to_vec() });
    let (mut tree, _) = trees(run(&mut o, Command::BeamStart { prompt: prompt.into(), chat: false, opts }));
    for _ in 1..opts.steps {
        tree = trees(run(&mut o, Command::BeamStep)).0;
    }
    assert_eq!(tree.off, OFF.to_vec());
    let greedy_off = |off: &[(usize, usize)]| {
        let mut s = Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions::default()).unwrap();
        block_on(s.set_ablation(glassbox::inspect::Ablation::new(off.to_vec()))).unwrap();
        block_on(s.prefill(&ids)).unwrap();
        block_on(s.generate(opts.steps, |_| {})).unwrap().iter().map(|t| t.token).collect::<Vec<u32>>()
    };
    let want = greedy_off(&OFF);
    assert_eq!(tree.best, want[..tree.best.len()], "the width-1 search is greedy with the heads off");
    assert_ne!(want, greedy_off(&[]), "these heads change what greedy decoding says (else the test proves nothing)");
    // Switching heads while a search is shown redoes the search.
    let m = block_on(o.command(Command::Ablate { off: Vec::new() }, &mut |m| {
        if let FromWorker::Beam { tree, .. } = m {
            assert!(tree.off.is_empty(), "the redone search has every head on");
            assert_eq!(tree.best, greedy_off(&[])[..tree.best.len()]);
        }
    }))
    .unwrap();
    assert!(matches!(m, FromWorker::Ablated { .. }));
    assert!(o.beam_trees().unwrap().0.off.is_empty());
}

/// Undo in beam mode: greedy decoding that stopped at end of sequence keeps
/// all its steps while the search takes one back (it lost one each time).
#[test]
fn beam_undo_keeps_a_greedy_comparison_that_stopped() {
    let mut o = orchestrator();
    let opts = BeamOptions { width: 3, steps: 40, length_penalty: 0.0 };
    let prompt = "Reply with one word: yes or no?";
    let (mut tree, mut greedy) = trees(run(&mut o, Command::BeamStart { prompt: prompt.into(), chat: true, opts }));
    while !(greedy.done && tree.steps.len() > greedy.steps.len() + 1) {
        assert!(!tree.done, "greedy should stop at <|im_end|> while the search goes on");
        (tree, greedy) = trees(run(&mut o, Command::BeamStep));
    }
    let stopped = greedy.steps.len();
    let (tree2, greedy2) = trees(run(&mut o, Command::BeamUndo));
    assert_eq!(tree2.steps.len(), tree.steps.len() - 1);
    assert_eq!(greedy2.steps.len(), stopped, "greedy stopped at step {stopped} and keeps its steps");
    assert_eq!(greedy2, greedy, "the same greedy tree");
}

/// The page's head roles: measured once on sequences of their own (what
/// `glassbox heads` prints by default), the evidence is one head's map of
/// the repeated sequence, and the page's own sequence is never touched.
#[test]
fn head_roles_are_measured_aside_and_change_nothing() {
    use glassbox::protocol::{Answer, Query};
    let mut o = orchestrator();
    let tok = common::tokenizer();
    let ids = tok.encode("The capital of France is").unwrap();
    run(&mut o, Command::Prefill { prompt: "The capital of France is".into(), chat: false, sampling: glassbox::sampling::Sampling::greedy(), step: true, compare: None });
    let len = ids.len() + 1;
    let before = block_on(o.ask(len, Query::Tokens)).0;
    let (a, _) = block_on(o.ask(len, Query::HeadRoles));
    let Answer::HeadRoles(r) = a else { panic!("{a:?}") };
    let mut s = Session::new(Cpu::new(), common::cpu_model(), tok.clone(), SessionOptions::default()).unwrap();
    let want = block_on(glassbox::roles::head_roles(&mut s, &tok.encode_prompt(glassbox::roles::DEFAULT_PROMPT).unwrap(), &glassbox::roles::repeat_ids(&tok, glassbox::roles::DEFAULT_REPEAT, 0))).unwrap();
    assert_eq!(*r, want, "the page's roles are the CLI's defaults");
    let (a, floats) = block_on(o.ask(len, Query::RoleEvidence { layer: 18, head: 6 }));
    let Answer::RoleEvidence { ids: rep, .. } = a else { panic!("{a:?}") };
    let (n, w) = (rep.len(), floats.expect("the map"));
    assert_eq!((n, w.len()), (60, 3600));
    for i in 0..n {
        let row: f32 = w[i * n..i * n + i + 1].iter().sum();
        assert!((row - 1.0).abs() < 1e-4 && w[i * n + i + 1..(i + 1) * n].iter().all(|&x| x == 0.0), "row {i}");
    }
    let induction: f32 = (30..60).map(|i| w[i * n + i - 29]).sum::<f32>() / 30.0;
    assert!((induction - want.heads[18 * 9 + 6].induction).abs() < 1e-5);
    assert_eq!(block_on(o.ask(len, Query::Tokens)).0, before, "the page's sequence is as it was");
    let (a, _) = block_on(o.ask(len, Query::RoleEvidence { layer: 30, head: 0 }));
    assert!(matches!(a, Answer::Failed { .. }));
}
