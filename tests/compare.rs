//! Compare mode (issue 20 §1): two prompts decoded side by side in lock
//! step. Each of the two sequences is bit for bit what one session on that
//! prompt alone gives, through sampled steps, forced tokens, undo, heads
//! switched off and on, and new settings; and the questions views ask of B
//! are answered from B.

mod common;

use glassbox::backend::{Backend, QStore};
use glassbox::generate::{Session, SessionOptions};
use glassbox::inspect::MapRequest;
use glassbox::orchestrator::Orchestrator;
use glassbox::protocol::{Answer, Command, FromWorker, Query, Side};
use glassbox::sampling::Sampling;
use pollster::block_on;

const A: &str = "The capital of France is";
const B: &str = "The capital of Italy is the city of";

fn opts() -> SessionOptions {
    SessionOptions { n_ctx: 128, max_batch: 8, q_store: QStore::F16, ..Default::default() }
}

/// The commands a learner gives, after a Prefill: sampled and greedy
/// steps, a forced token, an undo, heads off and back on (`short`: fewer,
/// for lavapipe, which proves the same).
fn script(short: bool) -> Vec<Command> {
    let hot = Sampling { temperature: 0.9, top_k: 0, top_p: 0.95, seed: 11 };
    if short {
        return vec![
            Command::SetSampling { sampling: hot },
            Command::Step,
            Command::Force { id: 28 },
            Command::Ablate { off: vec![(3, 1)] },
            Command::Undo,
            Command::Step,
        ];
    }
    vec![
        Command::Step,
        Command::SetSampling { sampling: hot.clone() },
        Command::Step,
        Command::Step,
        Command::Force { id: 28 },
        Command::Undo,
        Command::Ablate { off: vec![(3, 1), (20, 4)] },
        Command::Step,
        Command::Undo,
        Command::Step,
        Command::Ablate { off: vec![] },
        Command::SetSampling { sampling: Sampling { temperature: 0.5, top_k: 3, top_p: 1.0, seed: 2 } },
        Command::Step,
    ]
}

/// (tokens, n_prompt, every next-token logit) of a session.
fn snapshot<Bk: Backend>(s: &Session<Bk>) -> (Vec<u32>, usize, Vec<u32>) {
    let logits = s.logits().expect("every logit is read (sampling shows them)").iter().map(|x| x.to_bits()).collect();
    (s.tokens().to_vec(), s.n_prompt(), logits)
}

/// Run the script on one orchestrator: with `compare`, in compare mode.
/// Returns the orchestrator and B's replies.
fn drive<Bk: Backend>(mut o: Orchestrator<Bk>, prompt: &str, compare: Option<&str>, short: bool) -> (Orchestrator<Bk>, Vec<FromWorker>) {
    let hot = Sampling { temperature: 0.7, top_k: 40, top_p: 1.0, seed: 5 };
    let mut b_replies = Vec::new();
    let mut run = |o: &mut Orchestrator<Bk>, c: Command| {
        block_on(o.command(c.clone(), &mut |m| {
            if let FromWorker::B(m) = m {
                b_replies.push(*m);
            }
        }))
        .unwrap_or_else(|e| panic!("{c:?}: {e}"))
    };
    run(&mut o, Command::Prefill { prompt: prompt.into(), chat: false, sampling: hot, step: true, compare: compare.map(String::from) });
    for c in script(short) {
        run(&mut o, c);
    }
    (o, b_replies)
}

fn each_side_is_a_session_of_its_own<Bk: Backend>(new: impl Fn() -> Orchestrator<Bk>, short: bool) {
    let (both, b_replies) = drive(new(), A, Some(B), short);
    let (alone_a, none) = drive(new(), A, None, short);
    let (alone_b, _) = drive(new(), B, None, short);
    assert!(none.is_empty(), "no B replies outside compare mode");
    let b = both.compare().expect("compare mode keeps B");
    assert!(alone_a.compare().is_none());
    assert_eq!(snapshot(both.session()), snapshot(alone_a.session()), "A equals a session on A alone, every logit");
    assert_eq!(snapshot(b), snapshot(alone_b.session()), "B equals a session on B alone, every logit");
    assert_ne!(b.tokens()[b.n_prompt()..], both.session().tokens()[both.session().n_prompt()..], "the two prompts continue differently (else the test proves little)");
    assert_eq!(b.candidates(), alone_b.session().candidates());
    // B's replies tell the page what B is: the last B Stepped/Undone holds its candidates.
    let kinds: Vec<&str> = b_replies
        .iter()
        .map(|m| match m {
            FromWorker::Prefilled { .. } => "Prefilled",
            FromWorker::Stepped { .. } => "Stepped",
            FromWorker::Undone { .. } => "Undone",
            FromWorker::Ablated { .. } => "Ablated",
            _ => "other",
        })
        .collect();
    let count = |f: fn(&Command) -> bool| script(short).iter().filter(|c| f(c)).count();
    assert_eq!(kinds.iter().filter(|k| **k == "Stepped").count(), 1 + count(|c| matches!(c, Command::Step | Command::Force { .. })), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "Undone").count(), count(|c| *c == Command::Undo), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "Ablated").count(), count(|c| matches!(c, Command::Ablate { .. })), "{kinds:?}");
    assert_eq!(kinds[0], "Prefilled");
    match b_replies.last() {
        Some(FromWorker::Stepped { step, next, .. }) => {
            assert_eq!(step.token, *b.tokens().last().unwrap());
            assert_eq!(*next, b.candidates());
        }
        other => panic!("B's last reply: {other:?}"),
    }
    // Questions about B are B's: the same answers a session on B alone gives.
    let (mut both, mut alone_b) = (both, alone_b);
    let n = alone_b.session().tokens().len();
    let rows: Vec<u32> = (0..n as u32).collect();
    for q in [
        Query::Maps(MapRequest { heads: vec![(5, 2), (29, 8)], rows: rows.clone(), cols: rows }),
        Query::Lens { p0: n - 2, p1: n, top: 5 },
        Query::Tokens,
        // B's probabilities of A's candidates (the candidates panel's Δ).
        Query::NextProbs { ids: both.session().candidates().iter().map(|c| c.id).collect() },
    ] {
        let got = block_on(both.ask_on(Side::B, n, q.clone()));
        let want = block_on(alone_b.ask(n, q.clone()));
        assert!(!matches!(got.0, Answer::Stale | Answer::Failed { .. }), "{:?}", got.0);
        let strip = |a: Answer| match a {
            Answer::Maps { floats, .. } => Answer::Maps { floats, ms: 0.0 },
            a => a,
        };
        assert_eq!((strip(got.0), got.1.map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())), (strip(want.0), want.1.map(|v| v.iter().map(|x| x.to_bits()).collect())), "{}", q.kind());
    }
    // B's probability of its own candidates is the candidates'.
    let own: Vec<u32> = alone_b.session().candidates().iter().map(|c| c.id).collect();
    match block_on(both.ask_on(Side::B, n, Query::NextProbs { ids: own })).0 {
        Answer::NextProbs { probs } => assert_eq!(probs, alone_b.session().candidates().iter().map(|c| c.prob).collect::<Vec<_>>()),
        other => panic!("{other:?}"),
    }
    // A question about B with A's length (they differ) is stale.
    let len_a = both.session().tokens().len();
    assert_ne!(len_a, n);
    assert_eq!(block_on(both.ask_on(Side::B, len_a, Query::Tokens)).0, Answer::Stale);
    // The memory answer counts both caches.
    match block_on(both.ask(len_a, Query::Memory)).0 {
        Answer::Memory(m) => assert!(m.compare_state > 0 && m.compare_tokens == n && m.tokens == len_a, "{m:?}"),
        other => panic!("{other:?}"),
    }
    // Reset clears both; a Prefill without `compare` ends compare mode.
    block_on(both.command(Command::Reset, &mut |_| {})).unwrap();
    assert!(both.compare().is_some_and(|b| b.tokens().is_empty()));
    block_on(both.command(Command::Prefill { prompt: A.into(), chat: false, sampling: Sampling::greedy(), step: false, compare: None }, &mut |m| panic!("no B reply: {m:?}"))).unwrap();
    assert!(both.compare().is_none());
    assert_eq!(block_on(both.ask_on(Side::B, 0, Query::Tokens)).0, Answer::Stale, "no B: nothing to answer");
}

#[test]
fn compare_mode_sides_equal_single_sessions_cpu() {
    use glassbox::backend::cpu::Cpu;
    each_side_is_a_session_of_its_own(|| Orchestrator::new(Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), opts()).unwrap()), false);
}

#[test]
fn compare_mode_sides_equal_single_sessions_gpu() {
    let (gpu, model) = common::gpu();
    each_side_is_a_session_of_its_own(|| Orchestrator::new(Session::new(gpu.sibling(), model.clone(), common::tokenizer(), opts()).unwrap()), true);
}

/// B's step fails (its context is full while A's is not): A's step is
/// taken back, so the two stay in lock step and nothing else changes.
#[test]
fn a_step_b_cannot_take_is_not_taken_by_a() {
    use glassbox::backend::cpu::Cpu;
    let tok = common::tokenizer();
    let (na, nb) = (tok.encode_prompt(A).unwrap().len(), tok.encode_prompt(B).unwrap().len());
    assert!(nb > na);
    let o = SessionOptions { n_ctx: nb + 1, ..opts() };
    let mut orch = Orchestrator::new(Session::new(Cpu::new(), common::cpu_model(), tok, o).unwrap());
    block_on(orch.command(Command::Prefill { prompt: A.into(), chat: false, sampling: Sampling::greedy(), step: true, compare: Some(B.into()) }, &mut |_| {})).unwrap();
    let before = (orch.session().tokens().to_vec(), orch.compare().unwrap().tokens().to_vec());
    assert_eq!(before.1.len(), nb + 1, "B's context is full");
    let err = block_on(orch.command(Command::Step, &mut |m| panic!("no B reply for a step B cannot take: {m:?}")));
    assert!(err.is_err());
    assert_eq!((orch.session().tokens().to_vec(), orch.compare().unwrap().tokens().to_vec()), before, "neither side moved");
}

/// The lens comparison marks the layer where two predictions part: from
/// there on their top tokens differ at every layer.
#[test]
fn lenses_part_where_their_top_tokens_stop_agreeing() {
    use glassbox::inspect::{parting_layer, Lens, LensLayer, LensToken};
    let lens = |tops: &[u32]| Lens {
        pos: 0,
        layers: tops.iter().enumerate().map(|(layer, &id)| LensLayer { layer, top: vec![LensToken { id, logit: 0.0, prob: 0.5 }], next: None }).collect(),
    };
    assert_eq!(parting_layer(&lens(&[1, 2, 3, 4]), &lens(&[1, 2, 5, 6])), Some(2));
    assert_eq!(parting_layer(&lens(&[1, 2, 3, 4]), &lens(&[9, 2, 5, 6])), Some(2), "an early difference that closes again is not the parting");
    assert_eq!(parting_layer(&lens(&[1, 2, 3, 4]), &lens(&[5, 6, 7, 8])), Some(0));
    assert_eq!(parting_layer(&lens(&[1, 2, 3, 4]), &lens(&[1, 7, 7, 4])), None, "they agree at the end");
    assert_eq!(parting_layer(&lens(&[]), &lens(&[])), None);
    // On the model: "France" and "Italy" agree early and part before the end.
    use glassbox::backend::cpu::Cpu;
    let mut o = Orchestrator::new(Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), opts()).unwrap());
    block_on(o.command(Command::Prefill { prompt: A.into(), chat: false, sampling: Sampling::greedy(), step: false, compare: Some("The capital of Italy is".into()) }, &mut |_| {})).unwrap();
    let n = o.session().tokens().len();
    let mut last = |side| match block_on(o.ask_on(side, n, Query::Lens { p0: n - 1, p1: n, top: 1 })).0 {
        Answer::Lens { mut lens, .. } => lens.remove(0),
        other => panic!("{other:?}"),
    };
    let (a, b) = (last(Side::A), last(Side::B));
    let at = parting_layer(&a, &b).expect("Paris and Rome part");
    assert!(at > 0 && at < a.layers.len(), "they part inside the network, at layer {at}");
}
