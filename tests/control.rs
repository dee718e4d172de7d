//! The page's control core against the orchestrator it drives, under
//! seeded random use: thousands of action sequences (steps, Play and Pause,
//! undo, reset, forced tokens, heads off, prompt and settings edits, beam
//! search, compare mode, replays, model switches), with the worker's replies delivered
//! whenever the random schedule says. After each sequence:
//! - the page's state equals the engine's (tokens, candidates, heads off,
//!   the beam trees);
//! - the session the page would share, replayed from scratch on a fresh
//!   engine, gives bit-identical tokens and candidates;
//! - no session command failed, and nothing panicked.
//!
//! A failure prints its seed and the actions, so it replays
//! (`CONTROL_SEED=… cargo test --release --test control`).

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use common::Rng;
use glassbox::backend::cpu::Cpu;
use glassbox::backend::QStore;
use glassbox::beam::BeamOptions;
use glassbox::control::{Control, Intent, Received, Replay};
use glassbox::generate::{Session, SessionOptions};
use glassbox::sampling::Sampling;
use glassbox::gguf::Gguf;
use glassbox::i18n::Lang;
use glassbox::orchestrator::Orchestrator;
use glassbox::protocol::{BackendChoice, FromWorker, Reply, Request, ToWorker};
use glassbox::share::ViewState;
use glassbox::synth::{synth_gguf, SynthSpec};
use glassbox::{Model, Tokenizer};
use pollster::block_on;

const N_CTX: usize = 48;

/// A tiny model: every step takes microseconds, so thousands of sequences run in seconds.
fn model() -> &'static (Arc<Model<Cpu>>, Arc<Tokenizer>) {
    static M: OnceLock<(Arc<Model<Cpu>>, Arc<Tokenizer>)> = OnceLock::new();
    M.get_or_init(|| {
        let spec = SynthSpec { name: "Control 2×4".into(), n_layers: 2, dim: 64, n_heads: 4, n_kv_heads: 2, ffn_dim: 128, context: 64, weights: glassbox::quant::GgmlType::Q8_0, seed: 3, ..SynthSpec::default() };
        let g = Gguf::from_bytes(synth_gguf(&spec)).expect("a synthetic GGUF");
        let (m, t) = glassbox::load(&g, &mut Cpu::new(), &mut |_, _| {}).expect("the synthetic model loads");
        (Arc::new(m), Arc::new(t))
    })
}

fn orchestrator() -> Orchestrator<Cpu> {
    let (m, t) = model();
    let opts = SessionOptions { n_ctx: N_CTX, max_batch: 16, trace: false, q_store: QStore::F16, ..Default::default() };
    Orchestrator::new(Session::new(Cpu::new(), m.clone(), t.clone(), opts).expect("a session"))
}

fn ready() -> FromWorker {
    let c = &model().0.config;
    FromWorker::Ready {
        model: c.name.clone(),
        vocab: c.vocab_size,
        backend: "CPU".into(),
        webgpu: false,
        note: None,
        n_layers: c.n_layers,
        n_heads: c.n_heads,
        n_kv_heads: c.n_kv_heads,
        head_dim: c.head_dim,
        dim: c.dim,
        ffn_dim: c.ffn_dim,
        tied: true,
        n_ctx: N_CTX,
        capped: None,
        threads: glassbox::backend::pool::Pool::global().threads(),
        pool_error: None,
        cached: false,
        key: "model.gguf".into(),
        file_bytes: 0,
        missing: None,
        kept: false,
        load_ms: 0.0,
    }
}

/// The page's control core, the worker's queue, the engine, and the replies on their way.
struct World {
    ctl: Control,
    engine: Orchestrator<Cpu>,
    to_worker: VecDeque<Request>,
    to_page: VecDeque<Reply>,
    /// Session commands that failed (none should).
    failures: Vec<String>,
    /// Replies dropped as superseded.
    dropped: usize,
    trail: Vec<String>,
}

impl World {
    fn new() -> World {
        World::with_ahead(None)
    }

    /// With Play taking `ahead` steps a request (`?ahead=N`); None: as many
    /// as fit, up to `PLAY_AHEAD_MAX_CPU` (the CPU engine's default).
    fn with_ahead(ahead: Option<usize>) -> World {
        let mut ctl = Control::new("the cat");
        ctl.ahead_param = ahead;
        let mut w = World { ctl, engine: orchestrator(), to_worker: VecDeque::new(), to_page: VecDeque::new(), failures: Vec::new(), dropped: 0, trail: Vec::new() };
        w.intent(Intent::Switch(ToWorker::Load { url: "model.gguf".into(), backend: BackendChoice::Cpu, n_ctx: None }));
        w.settle();
        assert!(w.ctl.ready);
        w
    }

    fn intent(&mut self, i: Intent) {
        self.trail.push(format!("{i:?}"));
        let reqs = self.ctl.intent(i);
        self.to_worker.extend(reqs);
    }

    /// The worker takes the next request.
    fn work(&mut self) -> bool {
        let Some(req) = self.to_worker.pop_front() else { return false };
        let mut replies = Vec::new();
        let last = match req.msg {
            ToWorker::Session(cmd) => match block_on(self.engine.command(cmd, &mut |m| replies.push(m))) {
                Ok(m) => m,
                Err(e) => FromWorker::Error { message: e.to_string() },
            },
            ToWorker::Load { .. } => {
                self.engine = orchestrator();
                ready()
            }
            ToWorker::Ask { len, query, side, ahead } => FromWorker::Answer { answer: block_on(self.engine.ask_ahead(side, len, ahead, query)).0 },
            other => panic!("the control core sent {other:?}"),
        };
        self.to_page.extend(replies.into_iter().map(|msg| Reply { id: req.id, last: false, msg }));
        self.to_page.push_back(Reply { id: req.id, last: true, msg: last });
        true
    }

    /// The page takes the next reply.
    fn deliver(&mut self) -> bool {
        let Some(r) = self.to_page.pop_front() else { return false };
        match self.ctl.receive(r) {
            // As the page's link does: Play's next step goes out at once.
            Received::Applied { stepped: true } => {
                if let Some(r) = self.ctl.pump_ahead() {
                    self.to_worker.push_back(r);
                }
            }
            Received::Failed(m) => self.failures.push(m),
            Received::Edited { at, file, model, .. } => self.failures.push(format!("replay edited at {at}: file {file}, model {model:?}")),
            Received::Dropped => self.dropped += 1,
            _ => {}
        }
        true
    }

    fn pump(&mut self) -> bool {
        match self.ctl.pump() {
            Some(r) => {
                self.to_worker.push_back(r);
                true
            }
            None => false,
        }
    }

    /// Run until nothing is on its way and nothing more would be sent.
    fn settle(&mut self) {
        for _ in 0..100_000 {
            if !(self.work() | self.deliver() | self.pump()) {
                return;
            }
        }
        panic!("the page and the worker never settle");
    }
}

const PROMPTS: [&str; 5] = ["the cat", "a", "in the tent there sat", "on and on", "at the end"];

fn random_sampling(r: &mut Rng) -> Sampling {
    match r.below(3) {
        0 => Sampling::greedy(),
        1 => Sampling { temperature: 0.7, top_k: 5, top_p: 1.0, seed: r.below(4) as u64 },
        _ => Sampling { temperature: 1.3, top_k: 0, top_p: 0.9, seed: r.below(4) as u64 },
    }
}

fn random_intent(w: &World, r: &mut Rng) -> Intent {
    let c = &w.ctl;
    let vocab = model().0.config.vocab_size;
    match r.below(100) {
        0..=37 => Intent::Step,
        38..=41 => Intent::PlayPause,
        42..=48 => Intent::Undo,
        49..=50 => Intent::Reset,
        51..=60 => Intent::Force(match c.candidates.get(r.below(4)) {
            Some(cand) if r.below(4) > 0 => cand.id,
            _ => r.below(vocab) as u32,
        }),
        61..=65 => Intent::Ablate((0..r.below(3)).map(|_| (r.below(2), r.below(4))).collect()),
        66 => Intent::Prompt(PROMPTS[r.below(PROMPTS.len())].into()),
        67 => Intent::Compare((r.below(3) > 0).then(|| PROMPTS[r.below(PROMPTS.len())].into())),
        68..=69 => Intent::Chat(r.below(2) == 0),
        70..=78 => Intent::Sampling(random_sampling(r)),
        79..=82 => Intent::BeamMode(r.below(3) == 0),
        83..=85 => Intent::BeamOpts(BeamOptions { width: 1 + r.below(3), steps: 2 + r.below(6), length_penalty: [0.0, 0.5][r.below(2)] }),
        86..=91 => Intent::BeamChoose(r.below(c.beam.as_ref().map_or(3, |b| b.tree.nodes.len() + 1))),
        92..=94 => Intent::MaxTokens(5 + r.below(40)),
        95..=98 => {
            let sh = c.shared(ViewState::default(), Lang::En, None);
            Intent::Replay(Box::new(Replay { session: sh, expect: None, previous: None }))
        }
        _ if r.below(3) > 0 => Intent::Step,
        _ => Intent::Switch(ToWorker::Load { url: "model.gguf".into(), backend: BackendChoice::Cpu, n_ctx: None }),
    }
}

/// The page's state equals the engine's.
fn agree(w: &World) -> Result<(), String> {
    let s = w.engine.session();
    let ids: Vec<u32> = w.ctl.tokens.iter().map(|t| t.id).collect();
    if ids != s.tokens() || w.ctl.n_prompt != s.n_prompt() {
        return Err(format!("tokens: page {ids:?} (prompt {}), engine {:?} (prompt {})", w.ctl.n_prompt, s.tokens(), s.n_prompt()));
    }
    let (cands, base) = w.engine.next();
    if w.ctl.candidates != cands || w.ctl.baseline != base {
        return Err(format!("candidates: page {:?} / {:?}, engine {:?} / {:?}", w.ctl.candidates, w.ctl.baseline, cands, base));
    }
    if w.ctl.ablation != s.ablation().off {
        return Err(format!("heads off: page {:?}, engine {:?}", w.ctl.ablation, s.ablation().off));
    }
    // Compare mode's second sequence.
    let b_ids: Vec<u32> = w.ctl.b.tokens.iter().map(|t| t.id).collect();
    let (e_ids, e_cands) = w.engine.compare().map_or((Vec::new(), Vec::new()), |b| (b.tokens().to_vec(), b.candidates()));
    if b_ids != e_ids || w.ctl.b.candidates != e_cands {
        return Err(format!("B: page {b_ids:?} / {:?}, engine {e_ids:?} / {e_cands:?}", w.ctl.b.candidates));
    }
    if !b_ids.is_empty() && w.ctl.b.tokens.len() - w.ctl.b.n_prompt != w.ctl.generated() {
        return Err("A and B are not in lock step".into());
    }
    let page_beam = w.ctl.beam.as_ref().map(|b| (b.tree.clone(), b.greedy.clone()));
    if page_beam != w.engine.beam_trees() {
        return Err(format!("beam trees differ: page has {}, engine has {}", page_beam.is_some(), w.engine.beam_trees().is_some()));
    }
    Ok(())
}

/// What the page would share, replayed on a fresh page and engine, gives the same session.
fn replays(w: &World) -> Result<(), String> {
    let sh = w.ctl.shared(ViewState::default(), Lang::En, None);
    // A link written and read back is the same session.
    let back = glassbox::share::Shared::from_query(&sh.to_query()).map_err(|e| format!("the link does not read back: {e:?}"))?;
    if back.as_ref() != Some(&sh) {
        return Err(format!("the link reads back as {back:?}, not {sh:?}"));
    }
    // A link with no sequence replays its prompt: nothing to compare.
    if w.ctl.tokens.is_empty() {
        return Ok(());
    }
    let mut fresh = World::new();
    fresh.ctl.max_tokens = w.ctl.max_tokens;
    fresh.intent(Intent::Replay(Box::new(Replay { session: sh.clone(), expect: Some(w.ctl.tokens[w.ctl.n_prompt..].iter().map(|t| t.id).collect()), previous: None })));
    fresh.settle();
    if !fresh.failures.is_empty() {
        return Err(format!("the replay of {sh:?} failed: {:?}", fresh.failures));
    }
    let (a, b) = (&w.ctl, &fresh.ctl);
    if a.tokens != b.tokens || a.n_prompt != b.n_prompt {
        return Err(format!("the replay of {} gives other tokens:\n{:?}\n{:?}", sh.to_query(), a.tokens, b.tokens));
    }
    if a.candidates != b.candidates || a.step_cands != b.step_cands || a.baseline != b.baseline {
        return Err(format!("the replay of {} gives other candidates", sh.to_query()));
    }
    if a.b != b.b || a.compare != b.compare {
        return Err(format!("the replay of {} gives another B", sh.to_query()));
    }
    if a.ablation != b.ablation || a.beam != b.beam || a.branch != b.branch {
        return Err(format!("the replay of {} gives other heads off or another beam tree", sh.to_query()));
    }
    agree(&fresh)
}

/// What the random sequences covered.
#[derive(Default, Debug)]
struct Covered {
    tokens: usize,
    sampled: usize,
    forced: usize,
    heads_off: usize,
    beam_trees: usize,
    branches: usize,
    dropped: usize,
    replayed: usize,
    compared: usize,
    /// Steps taken several to a request (Play ahead).
    ahead: usize,
}

fn run(seed: u64, actions: usize, cov: &mut Covered) -> Result<(), String> {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    // A third of the sequences play a step at a time (`?ahead=1`), a third
    // as many as fit (the default), a third 2 to 4 steps a request.
    let mut w = World::with_ahead(match seed % 3 {
        0 => Some(1),
        1 => None,
        _ => Some(2 + (seed / 3) as usize % 3),
    });
    for _ in 0..actions {
        match r.below(20) {
            0..=5 => {
                let i = random_intent(&w, &mut r);
                w.intent(i);
            }
            6..=10 => {
                w.work();
            }
            11..=15 => {
                w.deliver();
            }
            _ => {
                w.pump();
            }
        }
    }
    w.settle();
    let check = || -> Result<(), String> {
        let unexpected: Vec<&String> = w.failures.iter().filter(|m| !m.contains("outside the vocabulary")).collect();
        if !unexpected.is_empty() {
            return Err(format!("session commands failed: {unexpected:?}"));
        }
        if w.ctl.busy() || w.ctl.playing {
            return Err("the page is still busy after everything was answered".into());
        }
        agree(&w)?;
        replays(&w)
    };
    let c = &w.ctl;
    let generated = &c.tokens[c.n_prompt..];
    cov.tokens += generated.len();
    cov.sampled += generated.iter().filter(|t| t.drawn.as_ref().is_some_and(|d| d.temperature > 0.0)).count();
    cov.forced += generated.iter().filter(|t| t.kind == glassbox::control::TokKind::Forced).count();
    cov.heads_off += (!c.ablation.is_empty() || generated.iter().any(|t| t.off.as_ref().is_some_and(|o| !o.is_empty()))) as usize;
    cov.beam_trees += c.beam.is_some() as usize;
    cov.branches += c.branch.is_some() as usize;
    cov.dropped += w.dropped;
    cov.replayed += !c.tokens.is_empty() as usize;
    cov.compared += (c.b.tokens.len() > c.b.n_prompt) as usize;
    cov.ahead += c.ahead_reads.1;
    check().map_err(|e| format!("{e}\nthe person's actions: {:#?}", w.trail))
}

#[test]
fn random_use_keeps_page_and_engine_equal_and_replayable() {
    let (first, count) = match std::env::var("CONTROL_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
        Some(s) => (s, 1),
        None => (1, std::env::var("CONTROL_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000)),
    };
    let t0 = std::time::Instant::now();
    let mut cov = Covered::default();
    for seed in first..first + count {
        let actions = 40 + (seed as usize * 7) % 120;
        if let Err(e) = run(seed, actions, &mut cov) {
            panic!("seed {seed} ({actions} actions): {e}\nrerun: CONTROL_SEED={seed} cargo test --release --test control");
        }
    }
    eprintln!("{count} random sequences in {:.1} s: {cov:?}", t0.elapsed().as_secs_f64());
    if count > 100 {
        // The random use reached what it is meant to test.
        assert!(cov.sampled > 0 && cov.forced > 0 && cov.heads_off > 0 && cov.beam_trees > 0 && cov.branches > 0 && cov.dropped > 0 && cov.replayed > 100 && cov.compared > 20 && cov.ahead > 100, "{cov:?}");
    }
}

fn link(q: &str) -> glassbox::share::Shared {
    glassbox::share::Shared::from_query(q).unwrap().unwrap()
}

/// Issue 16 §3.4: a link that asks for more steps than the context holds is
/// refused whole (it queued 400,000,000 steps at once and crashed the tab);
/// a replay goes one command at a time, and nothing else interleaves.
#[test]
fn replays_are_bounded_and_go_one_command_at_a_time() {
    use glassbox::control::Refused;
    let mut w = World::new();
    let huge = link("p=the+cat&n=400000000");
    assert_eq!(w.ctl.replay(Replay { session: huge, expect: None, previous: None }), Err(Refused::TooLong { steps: 400_000_000, n_ctx: N_CTX }));
    assert!(!w.ctl.replaying() && w.ctl.pending().is_empty(), "nothing was sent");
    assert!(BeamOptions { width: 2, steps: 100_000, length_penalty: 0.0 }.check().is_err(), "beam steps are bounded too");
    w.intent(Intent::Replay(Box::new(Replay { session: link("p=the+cat&n=20"), expect: None, previous: None })));
    let mut most = 0;
    while w.ctl.replaying() {
        // A person's steps, undos, forced tokens and Play wait for the replay.
        for i in [Intent::Step, Intent::Undo, Intent::Force(3), Intent::PlayPause] {
            assert!(!w.ctl.allowed(&i), "{i:?} during a replay");
        }
        most = most.max(w.to_worker.len());
        assert!(w.work() | w.deliver() | w.pump());
    }
    w.settle();
    assert!(most <= 2, "at most the Reset and one command on their way, saw {most}");
    assert_eq!(w.ctl.generated(), 20);
    agree(&w).unwrap();
}

/// Issue 16 §3.5: a session file's token check belongs to its replay. A
/// Reset during the replay cancels it, so generating afterwards raises no
/// spurious "edited" error that would put the old session back.
#[test]
fn a_file_check_ends_with_its_replay() {
    let file = |expect: Vec<u32>| Replay { session: link("p=the+cat&n=6"), expect: Some(expect), previous: Some(link("p=a")) };
    // The check works: a wrong token is reported once the replay ends.
    let mut w = World::new();
    w.intent(Intent::Replay(Box::new(file(vec![0; 6]))));
    w.settle();
    assert!(w.failures.iter().any(|f| f.contains("replay edited at 0")), "{:?}", w.failures);
    // A Reset mid-replay cancels the check with it.
    let mut w = World::new();
    w.intent(Intent::Replay(Box::new(file(vec![0; 6]))));
    for _ in 0..3 {
        w.work();
        w.deliver();
        w.pump();
    }
    assert!(w.ctl.replaying());
    w.intent(Intent::Reset);
    w.settle();
    for _ in 0..8 {
        w.intent(Intent::Step);
        w.settle();
    }
    assert_eq!(w.failures, Vec::<String>::new(), "no check outlives its replay");
    assert_eq!(w.ctl.generated(), 8);
}

/// Issue 16 §3.9: new beam settings while a beam step is in flight: the
/// step's reply (the old search) is dropped, not shown as the new tree.
#[test]
fn beam_settings_changed_while_a_step_is_in_flight() {
    let mut w = World::new();
    w.intent(Intent::BeamMode(true));
    w.intent(Intent::Step);
    w.settle();
    assert!(w.ctl.beam.is_some());
    w.intent(Intent::Step);
    assert_eq!(w.to_worker.len(), 1, "a beam step is on its way");
    w.intent(Intent::BeamOpts(BeamOptions { width: 2, steps: 4, length_penalty: 0.0 }));
    w.settle();
    assert!(w.ctl.beam.is_none(), "the old tree did not come back");
    agree(&w).unwrap();
    w.intent(Intent::Step);
    w.settle();
    assert_eq!(w.ctl.beam.as_ref().map(|b| b.tree.steps.len()), Some(1), "a new search with the new settings");
    agree(&w).unwrap();
}

/// Issue 16 §3.3: what a link records replays what happened: sampling
/// settings changed mid-sequence (each token drawn with its own), heads
/// switched mid-sequence, an undo across a change, and a chosen beam branch.
#[test]
fn settings_heads_and_branches_changed_on_the_way_replay_exactly() {
    let mut w = World::new();
    let s1 = Sampling { temperature: 1.3, top_k: 0, top_p: 0.9, seed: 1 };
    w.intent(Intent::Sampling(s1.clone()));
    for _ in 0..3 {
        w.intent(Intent::Step);
        w.settle();
    }
    w.intent(Intent::Sampling(Sampling { seed: 2, ..s1.clone() }));
    w.intent(Intent::Step);
    w.settle();
    w.intent(Intent::Ablate(vec![(1, 2)]));
    w.settle();
    w.intent(Intent::Undo);
    w.settle();
    for _ in 0..3 {
        w.intent(Intent::Step);
        w.settle();
    }
    w.intent(Intent::Sampling(Sampling::greedy()));
    w.intent(Intent::Step);
    w.settle();
    let sh = w.ctl.shared(ViewState::default(), Lang::En, None);
    assert!(!sh.drawn.is_empty() && !sh.heads.is_empty(), "{}", sh.to_query());
    replays(&w).unwrap();
    // A beam branch: `b=` is written and replayed.
    let (w, node) = beam_branch_chosen();
    let sh = w.ctl.shared(ViewState::default(), Lang::En, None);
    assert_eq!(sh.branch, Some(node), "{}", sh.to_query());
    assert!(sh.to_query().contains(&format!("b={node}")));
    replays(&w).unwrap();
}

/// A beam search of three steps with a step-1 node chosen as the branch.
fn beam_branch_chosen() -> (World, usize) {
    let mut w = World::new();
    w.intent(Intent::BeamMode(true));
    for _ in 0..3 {
        w.intent(Intent::Step);
        w.settle();
    }
    let node = w.ctl.beam.as_ref().unwrap().tree.nodes.iter().find(|n| n.step == 1).unwrap().id;
    w.intent(Intent::BeamChoose(node));
    w.settle();
    (w, node)
}

/// Heads switched while a beam branch is the sequence: the search is redone
/// with the new heads, so the branch (of the old search) gives way to the
/// prompt, and the link replays what the page shows (the random browser
/// test found the page keeping the old branch's tokens, which `b=` could
/// not replay).
#[test]
fn heads_switched_on_a_chosen_branch_replay_exactly() {
    let (mut w, node) = beam_branch_chosen();
    assert_eq!(w.ctl.branch, Some(node));
    let every_head: Vec<(usize, usize)> = (0..2).flat_map(|l| (0..4).map(move |h| (l, h))).collect();
    w.intent(Intent::Ablate(every_head));
    w.settle();
    assert!(w.failures.is_empty(), "{:?}", w.failures);
    agree(&w).unwrap();
    replays(&w).unwrap();
}

/// Play sends its next step as soon as one lands, before the page has drawn
/// it; the views' questions about what they show follow that step, and the
/// worker answers those about positions before the page's length (the
/// attention rows, a head's probe, the map) as about a prefix, and any
/// other as stale. Nothing else in flight: no prefix.
#[test]
fn play_ahead_questions_are_answered_about_what_the_page_shows() {
    use glassbox::inspect::{MapRequest, ProbeAt};
    use glassbox::protocol::{Answer, Query, Side};
    let mut w = World::new();
    // On the CPU engine Play takes up to PLAY_AHEAD_MAX_CPU steps a
    // request; here one at a time (`?ahead=1`), the page's other way.
    assert_eq!(w.ctl.ahead_max, glassbox::control::PLAY_AHEAD_MAX_CPU);
    w.ctl.ahead_max = 1;
    w.intent(Intent::Step);
    w.settle();
    let n0 = w.ctl.tokens.len();
    assert_eq!(w.ctl.ahead(), Some(0));
    w.intent(Intent::PlayPause);
    assert!(w.ctl.playing);
    // The first step of Play, then its reply: the next step goes out at once.
    assert!(w.pump() || !w.to_worker.is_empty());
    assert!(w.work());
    assert!(w.deliver());
    assert_eq!(w.ctl.tokens.len(), n0 + 1);
    assert_eq!(w.ctl.ahead(), Some(1), "Play's next step is on its way");
    assert!(!w.ctl.views_wait(), "the views ask while only a step ahead is in flight");
    assert!(w.ctl.busy(), "buttons still wait for it");
    // The worker takes the step; the views' questions about n0 + 1 tokens come after it.
    let len = w.ctl.tokens.len();
    assert!(w.work());
    let ask = |w: &mut World, query: Query, ahead: usize| block_on(w.engine.ask_ahead(Side::A, len, ahead, query)).0;
    let maps = Query::Maps(MapRequest { heads: vec![(0, 1)], rows: vec![len as u32 - 1], cols: (0..len as u32).collect() });
    let a = ask(&mut w, maps.clone(), 1);
    assert!(matches!(a, Answer::Maps { .. }), "attention rows of what the page shows: {a:?}");
    // The same rows as asked when the sequence was that long.
    let mut fresh = World::new();
    fresh.intent(Intent::Step);
    fresh.settle();
    fresh.intent(Intent::Step);
    fresh.settle();
    assert_eq!(fresh.ctl.tokens.len(), len);
    let (_, want) = block_on(fresh.engine.ask_on(Side::A, len, maps.clone()));
    let (_, got) = block_on(w.engine.ask_ahead(Side::A, len, 1, maps.clone()));
    assert_eq!(got.map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()), want.map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()), "bit for bit");
    let probe = Query::Probe(ProbeAt { layer: 1, head: 0, pos: len - 1, max_keys: None });
    assert!(matches!(ask(&mut w, probe.clone(), 1), Answer::Probe(_)));
    assert!(matches!(ask(&mut w, Query::MapAt { pos: len - 1 }, 1), Answer::MapAt { .. }));
    // Without the step ahead counted, or with the wrong count: stale, as always.
    assert_eq!(ask(&mut w, maps.clone(), 0), Answer::Stale);
    assert_eq!(ask(&mut w, maps, 2), Answer::Stale);
    // A question about the newest position is not about a prefix.
    assert_eq!(ask(&mut w, Query::NextProbs { ids: vec![1, 2] }, 1), Answer::Stale);
    let past = Query::Probe(ProbeAt { layer: 1, head: 0, pos: len, max_keys: None });
    assert_eq!(ask(&mut w, past, 1), Answer::Stale);
    // Pause: the step ahead lands and Play stops there; nothing more goes out.
    w.intent(Intent::PlayPause);
    assert!(!w.ctl.playing);
    w.settle();
    assert_eq!(w.ctl.tokens.len(), len + 1);
    assert_eq!(w.ctl.ahead(), Some(0));
    agree(&w).unwrap();
    // Anything else in flight: no prefix.
    w.intent(Intent::Undo);
    assert_eq!(w.ctl.ahead(), None);
    assert!(w.ctl.views_wait());
    w.settle();
}

/// Play on a device that goes ahead (`?ahead=3`): after Play's first step,
/// each request takes 3 steps (one reply, one render), the views' questions
/// are answered about what the page shows with all 3 counted ahead, Pause
/// lands at the end of the request in flight, and Max tokens caps the last
/// request. The sequence is the one single steps give.
#[test]
fn play_ahead_takes_several_steps_a_request() {
    use glassbox::inspect::MapRequest;
    use glassbox::protocol::{Answer, Command, Query, Side};
    let mut w = World::with_ahead(Some(3));
    w.intent(Intent::Step);
    w.settle();
    let n0 = w.ctl.tokens.len();
    w.intent(Intent::PlayPause);
    assert!(w.pump() || !w.to_worker.is_empty());
    assert!(w.work());
    assert!(w.deliver());
    assert_eq!(w.ctl.tokens.len(), n0 + 1);
    assert!(matches!(w.to_worker.back().map(|r| &r.msg), Some(ToWorker::Session(Command::Steps { n: 3 }))), "{:?}", w.to_worker);
    assert_eq!(w.ctl.ahead(), Some(3), "three steps on their way");
    assert!(!w.ctl.views_wait());
    let len = w.ctl.tokens.len();
    assert!(w.work());
    let maps = Query::Maps(MapRequest { heads: vec![(0, 1)], rows: vec![len as u32 - 1], cols: (0..len as u32).collect() });
    assert!(matches!(block_on(w.engine.ask_ahead(Side::A, len, 3, maps.clone())).0, Answer::Maps { .. }), "a prefix three steps back");
    assert_eq!(block_on(w.engine.ask_ahead(Side::A, len, 1, maps)).0, Answer::Stale);
    // The three land in one reply.
    assert!(w.deliver());
    assert_eq!(w.ctl.tokens.len(), len + 3);
    assert_eq!((w.ctl.ahead_reads.0, w.ctl.ahead_reads.1), (1, 3));
    // Pause while the next three are in flight: they land, and Play stops there.
    w.intent(Intent::PlayPause);
    assert!(!w.ctl.playing);
    w.settle();
    assert_eq!(w.ctl.tokens.len(), len + 6);
    agree(&w).unwrap();
    // Max tokens two past what is there: the next request takes two.
    let generated = w.ctl.generated();
    w.intent(Intent::MaxTokens(generated + 3));
    w.intent(Intent::PlayPause);
    w.settle();
    assert_eq!(w.ctl.generated(), generated + 3, "Play stops at Max tokens, not past it");
    assert!(!w.ctl.playing);
    agree(&w).unwrap();
    // The same tokens as one step at a time.
    let mut single = World::new();
    for _ in 0..w.ctl.generated() {
        single.intent(Intent::Step);
        single.settle();
    }
    let ids = |w: &World| w.ctl.tokens.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(&w), ids(&single));
}
