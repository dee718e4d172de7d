//! The session orchestrator: everything the page drives on one model, as
//! one native module generic over `Backend`. The worker is glue around it
//! (message pump, Cache API, file reading, device setup); the property test
//! in `tests/control.rs` drives it with the page's own control core.
//!
//! It holds three kinds of session over the same weights:
//! - `main`: the sequence the page shows;
//! - `baseline`: while heads are switched off, the same tokens with every
//!   head on (the "without" of the Next token panel's comparison);
//! - `beam`: a beam search after the prompt and greedy decoding over as
//!   many steps, for the beam tree's comparison. Both run with the heads
//!   that are off in `main` switched off too.
//! - `roles`: what each head does, measured once per model on sequences of
//!   its own (`crate::roles`), with every head on.
//! - `compare`: compare mode's second sequence (B), beside `main` (A): a
//!   `Prefill` with `compare` starts it, and every later Step, Force, Undo,
//!   SetSampling and Ablate acts on both, B first (its replies wrapped in
//!   `FromWorker::B`, before A's). Both run with the same settings and
//!   heads, so each is bit for bit the session one prompt alone would give.
//!   Beam search has no second sequence.
//!
//! ## Commands
//! The engine is in one of three states: **Empty** (no sequence), **Seq**
//! (a prompt, perhaps with generated tokens), **Beam** (Seq whose prompt a
//! beam search starts from). A command in a state where it cannot run is an
//! error that changes nothing.
//!
//! | command      | runs in          | leaves          | last reply            |
//! |--------------|------------------|-----------------|-----------------------|
//! | Prefill      | any              | Seq             | Prefilled / Stepped   |
//! | Step, Force  | Seq, Beam        | Seq (Beam kept) | Stepped               |
//! | Steps        | Seq, Beam        | Seq (Beam kept) | StepsAhead (Stepped with heads off, in compare mode or with a beam) |
//! | Undo         | Seq, Beam        | same            | Undone                |
//! | Reset        | any              | Empty           | Cleared               |
//! | SetSampling  | any              | same            | Done                  |
//! | Ablate       | any              | same, recomputed| Ablated (after Beam in Beam, and Replayed when a branch was chosen: the prompt alone) |
//! | BeamStart    | any              | Beam            | Beam                  |
//! | BeamStep/Undo| Beam             | Beam            | Beam (after Replayed when an undo takes back the chosen branch) |
//! | BeamChoose   | Beam             | Beam            | Replayed              |
//!
//! Every command is all or nothing where it can fail part way: a failed
//! step of the main session leaves the baseline and B untouched, a failed
//! step of B takes A's back, and a beam search that cannot start leaves the
//! one before it.

use crate::backend::Backend;
use crate::beam::{BeamOptions, BeamSearch, BeamTree};
use crate::generate::{Session, SessionOptions};
use crate::inspect::Ablation;
use crate::protocol::{Answer, Command, FromWorker, Memory, Query, Side, TokenInfo};
use crate::trace::{Candidate, StepTrace};
use crate::error::{Error, Result};

pub struct Orchestrator<B: Backend> {
    main: Session<B>,
    baseline: Option<Session<B>>,
    beam: Option<BeamRun<B>>,
    /// What each head does, measured once per model on its own sequences,
    /// and a session holding the repeated one (for the evidence).
    roles: Option<(crate::roles::HeadRoles, Session<B>)>,
    /// Each head's W_o Gram matrix, for the information flow (once per model).
    grams: Option<crate::flow::Grams>,
    /// The two runs of the patching grid being filled, kept between its parts.
    patch: Option<crate::patch::PatchRun<B>>,
    /// Compare mode's second sequence (B).
    compare: Option<Session<B>>,
    /// Every embedding row's norm, for the nearest tokens (once per model).
    embedding_norms: Option<Vec<f32>>,
    /// The map's spine at position 0, for the first token and the heads
    /// off it was computed with (it depends on nothing else).
    map_first: Option<SpineAt0>,
    /// What the map needs of the model (once).
    map_model: Option<crate::map::MapModel>,
    /// Whether the GPU times its kernels (`Query::Profile`): asked once.
    profiling: Option<bool>,
}

/// Position 0's spine (norms after each layer), for a first token and the heads off.
type SpineAt0 = (u32, Vec<(usize, usize)>, Vec<f32>);

/// A beam search, greedy decoding stepped alongside it for the comparison,
/// and the backend they run on.
struct BeamRun<B: Backend> {
    search: BeamSearch<B>,
    greedy: BeamSearch<B>,
    backend: B,
    /// The node whose branch the main session holds (`BeamChoose`).
    chosen: Option<usize>,
}

impl<B: Backend> BeamRun<B> {
    /// A search after `prompt` with `off` heads switched off; nothing runs yet.
    fn new(s: &Session<B>, prompt: &[u32], opts: BeamOptions) -> Result<BeamRun<B>> {
        let mut backend = s.backend.sibling();
        let mut greedy = BeamSearch::new(&mut backend, s.model.clone(), s.tokenizer.clone(), prompt, BeamOptions { width: 1, ..opts }, s.opts.max_batch)?;
        let mut search = BeamSearch::new(&mut backend, s.model.clone(), s.tokenizer.clone(), prompt, opts, s.opts.max_batch)?;
        greedy.set_ablation(&mut backend, s.ablation())?;
        search.set_ablation(&mut backend, s.ablation())?;
        Ok(BeamRun { search, greedy, backend, chosen: None })
    }

    async fn step(&mut self) -> Result<()> {
        self.search.step(&mut self.backend).await?;
        // Greedy over as many steps (it may have stopped at end-of-sequence).
        while self.greedy.step_count() < self.search.step_count() && self.greedy.step(&mut self.backend).await? {}
        Ok(())
    }

    async fn undo(&mut self) -> Result<()> {
        self.search.undo(&mut self.backend).await?;
        // Greedy keeps its steps up to the search's: when it had stopped
        // short (end of sequence), it has nothing to take back.
        while self.greedy.step_count() > self.search.step_count() {
            self.greedy.undo(&mut self.backend).await?;
        }
        Ok(())
    }

    /// The same search (options, steps) again, on the session's heads.
    async fn redo(&self, s: &Session<B>) -> Result<BeamRun<B>> {
        let mut run = BeamRun::new(s, self.search.prompt(), self.search.opts)?;
        while run.search.step_count() < self.search.step_count() {
            run.step().await?;
        }
        Ok(run)
    }

    fn message(&self, tok: &crate::tokenizer::Tokenizer) -> FromWorker {
        let (tree, greedy) = (self.search.tree(), self.greedy.tree());
        let root = self.search.root_next();
        let pieces = tok.pieces(tree.nodes.iter().chain(&greedy.nodes).flat_map(|n| n.next.iter().map(|x| x.0)).chain(root.iter().map(|x| x.0)));
        FromWorker::Beam { tree, greedy, root, pieces }
    }
}

/// An answer to a view's question, and the floats that go beside it.
pub type Answered = (Answer, Option<Vec<f32>>);

impl<B: Backend> Orchestrator<B> {
    pub fn new(main: Session<B>) -> Orchestrator<B> {
        Orchestrator { main, baseline: None, beam: None, roles: None, grams: None, patch: None, compare: None, embedding_norms: None, map_first: None, map_model: None, profiling: None }
    }

    /// The session the page shows.
    pub fn session(&self) -> &Session<B> {
        &self.main
    }

    /// Compare mode's second sequence, when there is one.
    pub fn compare(&self) -> Option<&Session<B>> {
        self.compare.as_ref()
    }

    /// The beam search and its greedy comparison, when one is running.
    pub fn beam_trees(&self) -> Option<(BeamTree, BeamTree)> {
        self.beam.as_ref().map(|r| (r.search.tree(), r.greedy.tree()))
    }

    /// The next token's candidates, and with heads off each one's
    /// probability with every head on: what the page shows.
    pub fn next(&self) -> (Vec<Candidate>, Option<Vec<f32>>) {
        let c = self.main.candidates();
        let b = self.baseline_probs(&c);
        (c, b)
    }

    /// With heads off: each candidate's probability with every head on.
    fn baseline_probs(&self, candidates: &[Candidate]) -> Option<Vec<f32>> {
        let b = self.baseline.as_ref()?;
        let (logits, log_z) = (b.logits()?, b.next_logits().log_z);
        Some(candidates.iter().map(|c| (logits[c.id as usize] - log_z).exp()).collect())
    }

    fn token_infos(&self, ids: &[u32]) -> Vec<TokenInfo> {
        ids.iter().map(|&id| TokenInfo { id, text: self.main.tokenizer.piece(id) }).collect()
    }

    fn stepped(&self, step: StepTrace) -> FromWorker {
        let next = self.main.candidates();
        FromWorker::Stepped { baseline: self.baseline_probs(&next), step, next }
    }

    /// The prompt's token ids, checked against the context.
    fn encode(&self, prompt: &str, chat: bool) -> Result<Vec<u32>> {
        let tok = &self.main.tokenizer;
        let text = if chat { tok.chat_prompt(prompt)? } else { prompt.to_string() };
        let ids = tok.encode_prompt(&text)?;
        let n_ctx = self.main.opts.n_ctx;
        if ids.len() > n_ctx {
            return Err(Error::Usage(format!("the prompt is {} tokens but the context holds {n_ctx}: shorten it by {} tokens", ids.len(), ids.len() - n_ctx)));
        }
        Ok(ids)
    }

    /// Run `ids` as the prompt of the main session (and the baseline's):
    /// the `Prefilled` message.
    async fn prefill(&mut self, ids: &[u32]) -> Result<FromWorker> {
        let pre = self.main.prefill(ids).await?;
        if let Some(b) = self.baseline.as_mut() {
            b.prefill(ids).await?;
        }
        let baseline = self.baseline_probs(&pre.candidates);
        Ok(FromWorker::Prefilled { tokens: self.token_infos(ids), candidates: pre.candidates, ms: pre.forward_ms, baseline })
    }

    /// Carry out one command. Replies before the last go to `emit`; the
    /// last one is returned (an error is the last reply too).
    pub async fn command(&mut self, cmd: Command, emit: &mut dyn FnMut(FromWorker)) -> Result<FromWorker> {
        Ok(match cmd {
            Command::Prefill { prompt, chat, sampling, step, compare } => {
                let ids = self.encode(&prompt, chat)?;
                let ids_b = compare.map(|p| self.encode(&p, chat)).transpose()?;
                sampling.validate()?;
                // Sampling on the page shows what the sampler does: every logit is read.
                self.main.set_full_logits(sampling.temperature > 0.0).await?;
                self.main.set_sampling(sampling.clone())?;
                self.beam = None;
                match ids_b {
                    Some(ids_b) => emit(self.prefill_b(&ids_b, sampling).await?),
                    None => self.compare = None,
                }
                let pre = self.prefill(&ids).await?;
                if !step {
                    return Ok(pre);
                }
                emit(pre);
                self.step(None, emit).await?
            }
            Command::Step => self.step(None, emit).await?,
            Command::Steps { n } => {
                // Heads off (a baseline that steps beside) or compare mode: one plain step.
                if self.baseline.is_some() || self.compare.is_some() || self.beam.is_some() || n <= 1 {
                    return self.step(None, emit).await;
                }
                let before = self.main.backend.readbacks();
                let steps = self.main.steps_ahead(n).await?;
                let read_bytes = before.zip(self.main.backend.readbacks()).map(|(a, b)| b.1 - a.1);
                let mut nexts: Vec<Vec<Candidate>> = steps.iter().skip(1).map(|s| s.candidates.clone()).collect();
                nexts.push(self.main.candidates());
                FromWorker::StepsAhead { steps: steps.into_iter().zip(nexts).collect(), read_bytes }
            }
            Command::Force { id } => self.step(Some(id), emit).await?,
            Command::Undo => {
                let removed = self.main.undo().await?;
                if removed.is_some() {
                    if let Some(b) = self.baseline.as_mut() {
                        b.undo().await?;
                    }
                    if let Some(b) = self.compare.as_mut() {
                        let removed = b.undo().await?;
                        emit(FromWorker::B(Box::new(FromWorker::Undone { removed, candidates: b.candidates(), baseline: None })));
                    }
                }
                let candidates = self.main.candidates();
                FromWorker::Undone { removed, baseline: self.baseline_probs(&candidates), candidates }
            }
            Command::Reset => {
                self.beam = None;
                self.main.clear();
                for b in self.baseline.iter_mut().chain(self.compare.iter_mut()) {
                    b.clear();
                }
                FromWorker::Cleared
            }
            Command::SetSampling { sampling } => {
                sampling.validate()?;
                for s in std::iter::once(&mut self.main).chain(self.compare.iter_mut()) {
                    s.set_full_logits(sampling.temperature > 0.0).await?;
                    s.set_sampling(sampling.clone())?;
                }
                FromWorker::Done
            }
            Command::Ablate { off } => {
                let t0 = web_time::Instant::now();
                let a = Ablation::new(off);
                a.check(&self.main.model.config)?;
                self.main.set_ablation(a.clone()).await?;
                self.sync_baseline().await?;
                if let Some(b) = self.compare.as_mut() {
                    b.set_ablation(a).await?;
                    let msg = FromWorker::Ablated { off: b.ablation().off.clone(), candidates: b.candidates(), baseline: None, ms: t0.elapsed().as_secs_f64() * 1e3 };
                    emit(FromWorker::B(Box::new(msg)));
                }
                // The search shows what the model does with these heads off.
                if let Some(run) = &self.beam {
                    let redone = run.redo(&self.main).await?;
                    emit(redone.message(&self.main.tokenizer));
                    let chosen = run.chosen.is_some();
                    let prompt = redone.search.prompt().to_vec();
                    self.beam = Some(redone);
                    // A chosen branch was the old search's: the prompt alone.
                    if chosen {
                        emit(self.replay_prompt(&prompt).await?);
                    }
                }
                let candidates = self.main.candidates();
                FromWorker::Ablated {
                    off: self.main.ablation().off.clone(),
                    baseline: self.baseline_probs(&candidates),
                    candidates,
                    ms: t0.elapsed().as_secs_f64() * 1e3,
                }
            }
            Command::BeamStart { prompt, chat, opts } => {
                opts.check()?;
                let ids = self.encode(&prompt, chat)?;
                let mut run = BeamRun::new(&self.main, &ids, opts)?;
                run.step().await?;
                self.compare = None;
                let pre = self.prefill(&ids).await?;
                emit(pre);
                let msg = run.message(&self.main.tokenizer);
                self.beam = Some(run);
                msg
            }
            Command::BeamStep | Command::BeamUndo => {
                let run = self.beam.as_mut().ok_or_else(|| Error::Usage("start a beam search first".into()))?;
                if cmd == Command::BeamStep {
                    if run.search.done() {
                        return Err(Error::Usage("the beam search is over".into()));
                    }
                    run.step().await?;
                } else {
                    if run.search.step_count() <= 1 {
                        return Err(Error::Usage("the beam search has no step to take back".into()));
                    }
                    run.undo().await?;
                    // The branch the sequence holds was taken back: the prompt alone.
                    if run.chosen.is_some_and(|n| n >= run.search.tree().nodes.len()) {
                        let prompt = run.search.prompt().to_vec();
                        let msg = run.message(&self.main.tokenizer);
                        emit(self.replay_prompt(&prompt).await?);
                        return Ok(msg);
                    }
                }
                run.message(&self.main.tokenizer)
            }
            Command::BeamChoose { node } => {
                let run = self.beam.as_ref().ok_or_else(|| Error::Usage("start a beam search first".into()))?;
                if node >= run.search.tree().nodes.len() {
                    return Err(Error::Usage(format!("there is no node {node} in the beam tree")));
                }
                let (prompt, path) = (run.search.prompt().to_vec(), run.search.path(node));
                self.prefill(&prompt).await?;
                for &id in &path {
                    self.main.force(id).await?;
                    if let Some(b) = self.baseline.as_mut() {
                        b.force(id).await?;
                    }
                }
                if let Some(run) = self.beam.as_mut() {
                    run.chosen = Some(node);
                }
                let candidates = self.main.candidates();
                FromWorker::Replayed { tokens: self.token_infos(self.main.tokens()), n_prompt: prompt.len(), baseline: self.baseline_probs(&candidates), candidates }
            }
        })
    }

    /// The beam search's prompt alone as the sequence (its chosen branch
    /// gone): the `Replayed` message.
    async fn replay_prompt(&mut self, prompt: &[u32]) -> Result<FromWorker> {
        if let Some(run) = self.beam.as_mut() {
            run.chosen = None;
        }
        self.prefill(prompt).await?;
        let candidates = self.main.candidates();
        Ok(FromWorker::Replayed { tokens: self.token_infos(prompt), n_prompt: prompt.len(), baseline: self.baseline_probs(&candidates), candidates })
    }

    /// Start (or start again) compare mode's second sequence from `ids`,
    /// with A's settings and heads: B's `Prefilled`.
    async fn prefill_b(&mut self, ids: &[u32], sampling: crate::sampling::Sampling) -> Result<FromWorker> {
        let tokens = self.token_infos(ids);
        let m = &self.main;
        let b = match self.compare.as_mut() {
            Some(b) => b,
            None => self.compare.insert(Session::new(m.backend.sibling(), m.model.clone(), m.tokenizer.clone(), m.opts.clone())?),
        };
        b.set_full_logits(sampling.temperature > 0.0).await?;
        b.set_sampling(sampling)?;
        if b.ablation() != m.ablation() {
            b.set_ablation(m.ablation().clone()).await?;
        }
        let pre = b.prefill(ids).await?;
        Ok(FromWorker::B(Box::new(FromWorker::Prefilled { tokens, candidates: pre.candidates, ms: pre.forward_ms, baseline: None })))
    }

    /// A step of the main session (sampled, or `forced`), followed by the
    /// baseline and compare mode's B (B's reply to `emit`). When B cannot
    /// take its step, A's is taken back: both or neither.
    async fn step(&mut self, forced: Option<u32>, emit: &mut dyn FnMut(FromWorker)) -> Result<FromWorker> {
        let step = match forced {
            Some(id) => self.main.force(id).await?,
            None => self.main.step().await?,
        };
        if let Some(b) = self.baseline.as_mut() {
            b.force(step.token).await?;
        }
        if let Some(b) = self.compare.as_mut() {
            let taken = match forced {
                Some(id) => b.force(id).await,
                None => b.step().await,
            };
            match taken {
                Ok(s) => emit(FromWorker::B(Box::new(FromWorker::Stepped { step: s, next: b.candidates(), baseline: None }))),
                Err(e) => {
                    self.main.undo().await?;
                    if let Some(b) = self.baseline.as_mut() {
                        b.undo().await?;
                    }
                    return Err(e);
                }
            }
        }
        Ok(self.stepped(step))
    }

    /// Start or drop the baseline session so that it matches the ablation.
    async fn sync_baseline(&mut self) -> Result<()> {
        if self.main.ablation().is_empty() {
            self.baseline = None;
            return Ok(());
        }
        if self.baseline.is_some() {
            return Ok(());
        }
        let m = &self.main;
        let opts = SessionOptions { full_logits: true, ..m.opts.clone() };
        let mut b = Session::new(m.backend.sibling(), m.model.clone(), m.tokenizer.clone(), opts)?;
        if !m.tokens().is_empty() {
            b.prefill(&m.tokens()[..m.n_prompt()]).await?;
            for &id in m.generated() {
                b.force(id).await?;
            }
        }
        self.baseline = Some(b);
        Ok(())
    }

    /// Where the sessions' memory goes (the worker adds its own total).
    pub fn memory(&self) -> Memory {
        let sessions = [Some(&self.main), self.baseline.as_ref(), self.compare.as_ref()];
        let device = sessions
            .iter()
            .flatten()
            .map(|s| s.backend.device_bytes())
            .chain(self.beam.as_ref().map(|r| r.backend.device_bytes()))
            .try_fold(0u64, |a, b| Some(a + b?));
        let (compare_state, compare_tokens) = self.compare.as_ref().map_or((0, 0), |b| (b.state_bytes() as u64, b.tokens().len()));
        Memory { wasm: 0, gpu: device, state: self.main.state_bytes() as u64, tokens: self.main.tokens().len(), compare_state, compare_tokens }
    }

    /// What each head does, measured the first time it is asked (on a
    /// session of its own, so the page's sequence is never touched), and one
    /// head's attention on the repeated sequence it was measured on.
    async fn ask_roles(&mut self, query: Query) -> Result<Answered> {
        use crate::roles::{head_roles, repeat_ids, DEFAULT_PROMPT, DEFAULT_REPEAT};
        if self.roles.is_none() {
            let m = &self.main;
            let tok = m.tokenizer.clone();
            let prompt = tok.encode_prompt(DEFAULT_PROMPT)?;
            let repeat = repeat_ids(&tok, DEFAULT_REPEAT, 0);
            let opts = SessionOptions { n_ctx: prompt.len().max(repeat.len()), max_batch: m.opts.max_batch, ..SessionOptions::default() };
            let mut side = Session::new(m.backend.sibling(), m.model.clone(), tok, opts)?;
            let roles = head_roles(&mut side, &prompt, &repeat).await?;
            side.prefill(&repeat).await?;
            self.roles = Some((roles, side));
        }
        let (roles, side) = self.roles.as_mut().expect("measured above");
        Ok(match query {
            Query::RoleEvidence { layer, head } => {
                let c = &side.model.config;
                if layer >= c.n_layers || head >= c.n_heads {
                    return Err(Error::BadArgument(format!("there is no head {layer}:{head}")));
                }
                let ids = side.tokens().to_vec();
                let all: Vec<u32> = (0..ids.len() as u32).collect();
                let w = side.attention_maps(&crate::inspect::MapRequest { heads: vec![(layer, head)], rows: all.clone(), cols: all }).await?;
                let pieces = side.tokenizer.pieces(ids.iter().copied());
                (Answer::RoleEvidence { layer, head, ids, pieces }, Some(w))
            }
            _ => (Answer::HeadRoles(Box::new(roles.clone())), None),
        })
    }

    /// Answer a view's question about a sequence of `len` tokens; failures
    /// are answers too (the view shows them). Changes no token and no
    /// number a later step or undo gives.
    /// One part of a patching grid; the two runs are made again only when
    /// the prompts or the tracked token change. Every head is on.
    async fn patch_part(&mut self, clean: &str, corrupt: &str, what: crate::patch::Site, target: Option<u32>, part: usize) -> Result<crate::protocol::PatchAnswer> {
        let t0 = web_time::Instant::now();
        let s = &mut self.main;
        let (clean, corrupt) = (s.tokenizer.encode_prompt(clean)?, s.tokenizer.encode_prompt(corrupt)?);
        let held = self.patch.as_ref().is_some_and(|r| r.clean_ids == clean && r.corrupt_ids == corrupt && target.is_none_or(|t| t == r.target));
        if !held {
            if let Some(old) = self.patch.take() {
                old.free(&mut s.backend);
            }
            self.patch = Some(s.model.patch_run(&mut s.backend, &clean, &corrupt, target).await?);
        }
        let run = self.patch.as_mut().expect("made above");
        let got = s.model.patch_part(&mut s.backend, run, what, part).await?;
        let tops = run.clean.top.iter().chain(&run.corrupt.top).chain(got.cells.iter().flat_map(|c| &c.top)).map(|t| t.0);
        let pieces = s.tokenizer.pieces(run.clean_ids.iter().chain(&run.corrupt_ids).copied().chain([run.target]).chain(tops));
        let parts = what.parts(run.len(), s.model.config.n_layers);
        Ok(crate::protocol::PatchAnswer {
            clean_ids: run.clean_ids.clone(),
            corrupt_ids: run.corrupt_ids.clone(),
            target: run.target,
            clean: run.clean.clone(),
            corrupt: run.corrupt.clone(),
            parts,
            part: got,
            pieces,
            ms: t0.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The tokens nearest `id` in embedding space (the rows' norms are
    /// read once per model).
    async fn nearest(&mut self, id: u32, k: usize) -> Result<Answer> {
        let s = &mut self.main;
        if self.embedding_norms.is_none() {
            self.embedding_norms = Some(s.model.embedding_norms(&mut s.backend).await?);
        }
        let norms = self.embedding_norms.as_deref().expect("read above");
        let neighbours = s.model.nearest(&mut s.backend, id, norms, k).await?;
        let pieces = s.tokenizer.pieces(neighbours.iter().map(|n| n.id).chain([id]));
        Ok(Answer::Nearest { id, neighbours, pieces })
    }

    /// A question about the page's sequence (A).
    pub async fn ask(&mut self, len: usize, query: Query) -> Answered {
        self.ask_on(Side::A, len, query).await
    }

    /// A question about `side`'s sequence (questions about the model alone,
    /// and `Memory`, are the same for either).
    pub async fn ask_on(&mut self, side: Side, len: usize, query: Query) -> Answered {
        self.ask_ahead(side, len, 0, query).await
    }

    /// `ask_on`, asked while `ahead` steps sent before it (Play's next
    /// steps) were on their way: a question about positions before `len`
    /// (`Query::about_prefix`) is answered about the first `len` tokens when
    /// the sequence is exactly `len + ahead` long; anything else about a
    /// sequence of another length is `Stale`, as always.
    pub async fn ask_ahead(&mut self, side: Side, len: usize, ahead: usize, query: Query) -> Answered {
        // The head roles are the model's, measured on sequences of their own:
        // they never go stale.
        if let Query::HeadRoles | Query::RoleEvidence { .. } = query {
            return match self.ask_roles(query).await {
                Ok(a) => a,
                Err(e) => (Answer::Failed { message: e.to_string() }, None),
            };
        }
        if let Query::Patch { clean, corrupt, what, target, part } = query {
            return match self.patch_part(&clean, &corrupt, what, target, part).await {
                Ok(a) => (Answer::Patch(Box::new(a)), None),
                Err(e) => (Answer::Failed { message: e.to_string() }, None),
            };
        }
        if let Query::Branches { prompt, steps } = query {
            let s = &self.main;
            let decodings = crate::branches::default_decodings(steps);
            return match crate::branches::branches(&s.backend, &s.model, &s.tokenizer, &prompt, &decodings, steps, s.ablation()).await {
                Ok(b) => {
                    let pieces = s.tokenizer.pieces(b.prompt_ids.iter().chain(b.branches.iter().flat_map(|br| br.ids.iter().chain(br.top.iter().flatten().map(|t| &t.0)))).copied());
                    (Answer::Branches { branches: Box::new(b), pieces }, None)
                }
                Err(e) => (Answer::Failed { message: e.to_string() }, None),
            };
        }
        if query == Query::Memory {
            return (Answer::Memory(self.memory()), None);
        }
        if query == Query::Profile {
            let b = &mut self.main.backend;
            let on = *self.profiling.get_or_insert_with(|| b.enable_profiling());
            return (Answer::Profile { kernels: on.then(|| b.take_profile()) }, None);
        }
        if let Query::Nearest { id, k } = query {
            return match self.nearest(id, k).await {
                Ok(a) => (a, None),
                Err(e) => (Answer::Failed { message: e.to_string() }, None),
            };
        }
        let failed = |e: Error| (Answer::Failed { message: e.to_string() }, None);
        if matches!(query, Query::MapAt { .. }) && self.map_model.is_none() {
            match self.main.map_model().await {
                Ok(m) => self.map_model = Some(m),
                Err(e) => return failed(e),
            }
        }
        if matches!(query, Query::Flow { .. }) && self.grams.is_none() {
            match self.main.grams().await {
                Ok(g) => self.grams = Some(g),
                Err(e) => return failed(e),
            }
        }
        let s = match side {
            Side::A => &mut self.main,
            Side::B => match self.compare.as_mut() {
                Some(b) => b,
                None => return (Answer::Stale, None),
            },
        };
        let prefix = ahead > 0 && side == Side::A && len + ahead == s.tokens().len() && query.about_prefix(len);
        if len != s.tokens().len() && !prefix {
            return (Answer::Stale, None);
        }
        match query {
            Query::Flow { p0, p1, min } => {
                let grams = self.grams.as_ref().expect("computed above");
                match s.flow(p0, p1, min, grams).await {
                    Ok(f) => (Answer::Flow(Box::new(f)), None),
                    Err(e) => failed(e),
                }
            }
            Query::Maps(req) => {
                let t0 = web_time::Instant::now();
                match s.attention_maps(&req).await {
                    Ok(data) => (Answer::Maps { floats: data.len(), ms: t0.elapsed().as_secs_f64() * 1e3 }, Some(data)),
                    Err(e) => failed(e),
                }
            }
            Query::Tokens => (Answer::Tokens { ids: s.tokens().to_vec(), n_prompt: s.n_prompt() }, None),
            Query::MapAt { pos } => {
                let mm = self.map_model.as_ref().expect("read above");
                let key = (s.tokens().first().copied().unwrap_or(0), s.ablation().off.clone());
                let first = self.map_first.as_ref().filter(|(t, off, _)| (*t, off) == (key.0, &key.1)).map(|f| f.2.clone());
                // The map is open: from now on each step keeps its numbers,
                // and the map at the newest position is a readback.
                s.set_keep_map(true);
                let t0 = web_time::Instant::now();
                match s.map_at(pos, mm, first).await {
                    Ok(m) => {
                        self.map_first = Some((key.0, key.1, m.first.clone()));
                        (Answer::MapAt { map: Box::new(m), ms: t0.elapsed().as_secs_f64() * 1e3 }, None)
                    }
                    Err(e) => failed(e),
                }
            }
            Query::NextProbs { ids } => match s.next_probs(&ids).await {
                Ok(probs) => (Answer::NextProbs { probs }, None),
                Err(e) => failed(e),
            },
            // (Answered above, before a session is borrowed.)
            Query::Memory | Query::Profile | Query::HeadRoles | Query::RoleEvidence { .. } | Query::Patch { .. } | Query::Branches { .. } | Query::Nearest { .. } => {
                (Answer::Failed { message: "asked in the wrong place".into() }, None)
            }
            Query::Probe(at) => match s.probe(at.layer, at.head, at.pos, at.max_keys).await {
                Ok(p) => (Answer::Probe(Box::new(p)), None),
                Err(e) => failed(e),
            },
            Query::Lens { p0, p1, top } => match s.lens(p0, p1, top).await {
                Ok(lens) => {
                    let ids = lens.iter().flat_map(|l| l.layers.iter().flat_map(|x| x.top.iter().map(|t| t.id).chain(x.next.as_ref().map(|n| n.id))));
                    let pieces = s.tokenizer.pieces(ids);
                    (Answer::Lens { lens, pieces }, None)
                }
                Err(e) => failed(e),
            },
            Query::Attribution { pos, token, versus } => {
                let asked = async {
                    let next = s.next_tokens(pos, pos + 1, 5).await?.pop().and_then(|l| l.layers.into_iter().next());
                    let top = next.map(|l| l.top.iter().map(|t| (t.id, s.tokenizer.piece(t.id), t.prob)).collect()).unwrap_or_default();
                    let a = s.attribute(pos, token).await?;
                    let v = match versus {
                        Some(v) => Some(Box::new(s.attribute(pos, Some(v)).await?)),
                        None => None,
                    };
                    Ok::<_, Error>((a, v, top))
                };
                match asked.await {
                    Ok((a, versus, top)) => (Answer::Attribution { attribution: Box::new(a), versus, top }, None),
                    Err(e) => failed(e),
                }
            }
            Query::Residual { pos } => match s.residual(pos).await {
                Ok(r) => (Answer::Residual(r), None),
                Err(e) => failed(e),
            },
            Query::Sampling => match s.sampling_view().await {
                Ok(v) => (Answer::Sampling(v), None),
                Err(e) => failed(e),
            },
            Query::NextTokens { p0, p1 } => match s.next_tokens(p0, p1, 5).await {
                Ok(lens) => {
                    let ids = lens.iter().flat_map(|l| l.layers.iter().flat_map(|x| x.top.iter().map(|t| t.id)));
                    let pieces = s.tokenizer.pieces(ids);
                    (Answer::NextTokens { lens, pieces }, None)
                }
                Err(e) => failed(e),
            },
        }
    }
}
