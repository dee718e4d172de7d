//! A generation session: prefill a prompt, then step one token at a time,
//! undo, or force a chosen token. Samplers: greedy, temperature, top-k, top-p.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::backend::{Backend, QStore, TOPK_K};
use crate::sampling::{draw_rng, sample_draw, sampling_view, top_n, Sampling, SamplingView};
use crate::inspect::{Ablation, Lens, MapRequest, Probe, ProbeAt, Residual};
use crate::model::{Model, NextLogits, State};
use crate::tokenizer::{StreamDecoder, Tokenizer};
use crate::trace::{AttnRows, Candidate, PrefillTrace, StepTrace, Timing};
use crate::error::{Error, Result};

/// Session options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionOptions {
    /// Positions in the KV cache (prompt + generated).
    pub n_ctx: usize,
    /// Tokens per forward call during prefill.
    pub max_batch: usize,
    /// Candidates reported per step.
    pub top_n: usize,
    /// Record attention probabilities.
    pub trace: bool,
    /// Read every logit back each step (otherwise only the top candidates
    /// and the normalizer are, unless the sampler needs all of them).
    pub full_logits: bool,
    pub sampling: Sampling,
    /// How q is kept for attention maps (see `QStore`).
    pub q_store: QStore,
    /// Positions to make room for at once; the caches grow beyond it as
    /// the sequence does (doubling, up to `n_ctx`).
    pub reserve: usize,
}

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            n_ctx: 2048,
            max_batch: 64,
            top_n: 10,
            trace: false,
            full_logits: false,
            sampling: Sampling::default(),
            q_store: QStore::F32,
            reserve: crate::model::forward::MIN_CAPACITY,
        }
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// State saved before each generated token so `undo` can restore it exactly.
#[derive(Clone)]
struct Saved {
    decoder: StreamDecoder,
}

pub struct Session<B: Backend> {
    pub backend: B,
    pub model: Arc<Model<B>>,
    pub tokenizer: Arc<Tokenizer>,
    pub opts: SessionOptions,
    state: State<B>,
    tokens: Vec<u32>,
    n_prompt: usize,
    /// What is known of the distribution of the token after `tokens`.
    next: NextLogits,
    decoder: StreamDecoder,
    history: Vec<Saved>,
    ablation: Ablation,
}

impl<B: Backend> Session<B> {
    pub fn new(mut backend: B, model: Arc<Model<B>>, tokenizer: Arc<Tokenizer>, opts: SessionOptions) -> Result<Session<B>> {
        opts.sampling.validate()?;
        if opts.n_ctx == 0 || opts.max_batch == 0 {
            return Err(Error::Usage("context and batch sizes must be positive".into()));
        }
        // A GPU binds each cache in one buffer: refuse a context it cannot
        // hold now rather than fail with device errors at a long sequence.
        if let Some(limit) = backend.max_binding() {
            let fit = model.max_context(limit, opts.max_batch.min(opts.n_ctx), opts.trace, opts.q_store);
            if opts.n_ctx > fit {
                return Err(Error::Usage(format!(
                    "a context of {} positions needs cache buffers larger than this GPU binds ({:.1} MB); the longest context that fits is {fit}",
                    opts.n_ctx,
                    limit as f64 / 1e6
                )));
            }
        }
        let state = model.new_state(&mut backend, opts.n_ctx, opts.max_batch.min(opts.n_ctx), opts.trace, opts.q_store, opts.reserve);
        Ok(Session {
            backend,
            model,
            tokenizer,
            opts,
            state,
            tokens: Vec::new(),
            n_prompt: 0,
            next: NextLogits { top: Vec::new(), log_z: 0.0, full: None },
            decoder: StreamDecoder::new(),
            history: Vec::new(),
            ablation: Ablation::default(),
        })
    }

    /// The whole sequence: prompt then generated tokens.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
    pub fn n_prompt(&self) -> usize {
        self.n_prompt
    }
    pub fn generated(&self) -> &[u32] {
        &self.tokens[self.n_prompt..]
    }
    /// Every logit for the next token, when they were read back (always with
    /// `full_logits`, or when the sampler needs them).
    pub fn logits(&self) -> Option<&[f32]> {
        self.next.full.as_deref()
    }

    /// The next token's top candidates and normalizer.
    pub fn next_logits(&self) -> &NextLogits {
        &self.next
    }

    /// Whether the next forward pass must read every logit back.
    fn needs_full(&self) -> bool {
        let s = &self.opts.sampling;
        self.opts.full_logits || (s.temperature > 0.0 && (s.top_k == 0 || s.top_k > TOPK_K))
    }

    /// Choose the next token: from the top candidates when they suffice
    /// (greedy, or top-k within them), else from every logit.
    fn choose(&mut self) -> Result<(u32, Option<f64>)> {
        let s = &self.opts.sampling;
        if s.temperature <= 0.0 {
            return Ok((self.next.top[0].0, None));
        }
        if s.top_k > 0 && s.top_k <= self.next.top.len() {
            let logits: Vec<f32> = self.next.top.iter().map(|x| x.1).collect();
            let (i, u) = sample_draw(&logits, s, &mut draw_rng(s.seed, self.tokens.len()));
            return Ok((self.next.top[i as usize].0, u));
        }
        let full = self.next.full.as_deref().ok_or_else(|| Error::Backend("sampling needs every logit but they were not read".into()))?;
        Ok(sample_draw(full, s, &mut draw_rng(s.seed, self.tokens.len())))
    }

    /// Read every logit back from now on (or stop), e.g. to show what the
    /// sampler does; the next-token logits are fetched now when missing.
    pub async fn set_full_logits(&mut self, on: bool) -> Result<()> {
        self.opts.full_logits = on;
        if on && self.next.full.is_none() && !self.tokens.is_empty() {
            self.recompute_next().await?;
        }
        Ok(())
    }

    /// The next token's probability for each of `ids` (every logit is read
    /// back from now on when it was not: see `set_full_logits`).
    pub async fn next_probs(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= self.model.config.vocab_size) {
            return Err(Error::Usage(format!("token id {bad} is outside the vocabulary (0..{})", self.model.config.vocab_size)));
        }
        if self.next.full.is_none() {
            self.set_full_logits(true).await?;
        }
        let full = self.next.full.as_deref().ok_or_else(|| Error::Usage("prefill a prompt first".into()))?;
        Ok(ids.iter().map(|&id| (full[id as usize] - self.next.log_z).exp()).collect())
    }

    /// What the current sampling settings do to the next-token
    /// distribution (needs every logit: see `set_full_logits`).
    pub async fn sampling_view(&mut self) -> Result<SamplingView> {
        if self.next.full.is_none() {
            self.set_full_logits(true).await?;
        }
        let full = self.next.full.as_deref().ok_or_else(|| Error::Usage("prefill a prompt first".into()))?;
        Ok(sampling_view(full, &self.opts.sampling, self.opts.top_n.max(10)))
    }
    /// Change how tokens are chosen. Takes effect from the next step (a sampler that needs every logit
    /// gets them from the next forward pass on; call before `prefill` when
    /// it must apply to the first generated token).
    pub fn set_sampling(&mut self, s: Sampling) -> Result<()> {
        s.validate()?;
        self.opts.sampling = s;
        Ok(())
    }

    /// The top candidates for the next token (`top_n` of them).
    pub fn candidates(&self) -> Vec<Candidate> {
        // More than the device reduced to: from every logit, when read back.
        let wide;
        let top = match &self.next.full {
            Some(all) if self.opts.top_n > self.next.top.len() => {
                wide = top_n(all, self.opts.top_n);
                &wide[..]
            }
            _ => &self.next.top[..self.opts.top_n.min(self.next.top.len())],
        };
        top.iter()
            .map(|&(id, logit)| Candidate { id, text: self.tokenizer.piece(id), logit, prob: (logit - self.next.log_z).exp() })
            .collect()
    }

    /// Start over with `prompt` (token ids): run it through the model in batches.
    pub async fn prefill(&mut self, prompt: &[u32]) -> Result<PrefillTrace> {
        if prompt.is_empty() {
            return Err(Error::Usage("the prompt is empty".into()));
        }
        if prompt.len() > self.opts.n_ctx {
            return Err(Error::ContextFull { needed: prompt.len(), n_ctx: self.opts.n_ctx });
        }
        if let Some(&bad) = prompt.iter().find(|&&t| t as usize >= self.model.config.vocab_size) {
            return Err(Error::Usage(format!("token id {bad} is outside the vocabulary (0..{})", self.model.config.vocab_size)));
        }
        let t0 = Instant::now();
        self.tokens.clear();
        self.n_prompt = 0;
        self.history.clear();
        self.decoder = StreamDecoder::new();
        match self.run_prompt(prompt).await {
            Ok(attention) => {
                self.n_prompt = prompt.len();
                Ok(PrefillTrace { tokens: prompt.to_vec(), attention, candidates: self.candidates(), forward_ms: ms_since(t0) })
            }
            Err(e) => {
                // All or nothing: a prompt that failed part way leaves no sequence.
                self.tokens.clear();
                self.next = NextLogits { top: Vec::new(), log_z: 0.0, full: None };
                Err(e)
            }
        }
    }

    /// Run the prompt through the model in batches; the attention rows when traced.
    async fn run_prompt(&mut self, prompt: &[u32]) -> Result<Option<Vec<AttnRows>>> {
        let trace = self.opts.trace;
        let mut rows_out = trace.then(Vec::new);
        for chunk in prompt.chunks(self.state.max_rows) {
            let pos0 = self.tokens.len();
            let full = self.needs_full();
            let out = self.model.forward(&mut self.backend, &mut self.state, chunk, pos0, trace, full).await?;
            if let (Some(rows), Some(probs)) = (rows_out.as_mut(), out.probs.as_ref()) {
                let kv_len = pos0 + chunk.len();
                for r in 0..chunk.len() {
                    rows.push(AttnRows::from_layers(probs, chunk.len(), self.model.config.n_heads, kv_len, r, pos0 + r + 1));
                }
            }
            self.tokens.extend_from_slice(chunk);
            self.next = out.logits;
        }
        Ok(rows_out)
    }

    /// Forget the sequence (the caches keep their memory for the next one).
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.n_prompt = 0;
        self.history.clear();
        self.decoder = StreamDecoder::new();
        self.next = NextLogits { top: Vec::new(), log_z: 0.0, full: None };
    }

    /// Attention weights at the points `req` names, computed from the caches
    /// (see `inspect`); changes nothing in the session.
    pub async fn attention_maps(&mut self, req: &MapRequest) -> Result<Vec<f32>> {
        self.model.attention_maps(&mut self.backend, &mut self.state, self.tokens.len(), req).await
    }

    /// Every number of query head `head` in `layer` at position `pos` (see
    /// `Model::probe`); changes nothing in the session.
    pub async fn probe(&mut self, layer: usize, head: usize, pos: usize, max_keys: Option<usize>) -> Result<Probe> {
        self.model.probe(&mut self.backend, &mut self.state, &self.tokens, ProbeAt { layer, head, pos, max_keys }).await
    }

    /// The logit lens at positions p0..p1 (see `Model::lens`); changes nothing.
    pub async fn lens(&mut self, p0: usize, p1: usize, top: usize) -> Result<Vec<Lens>> {
        self.model.lens(&mut self.backend, &mut self.state, &self.tokens, p0, p1, top).await
    }

    /// The model's own distribution after each of positions p0..p1, with the
    /// probability and rank of the token that followed (see `Model::next_tokens`).
    pub async fn next_tokens(&mut self, p0: usize, p1: usize, top: usize) -> Result<Vec<Lens>> {
        self.model.next_tokens(&mut self.backend, &mut self.state, &self.tokens, p0, p1, top).await
    }

    /// The logit of `token` (the top-1 when None) after `pos`, split into
    /// the direct effect of the embedding, every head and every FFN (see
    /// `crate::attribution`); changes nothing.
    pub async fn attribute(&mut self, pos: usize, token: Option<u32>) -> Result<crate::attribution::Attribution> {
        let mut a = self.model.attribute(&mut self.backend, &mut self.state, &self.tokens, pos, token).await?;
        a.text = self.tokenizer.decode(&[a.token]);
        Ok(a)
    }

    /// How information flowed into positions p0..p1: every edge's share of
    /// its layer's update (see `crate::flow`), those at least `min_share`;
    /// changes nothing. `grams` is the model's, from `Model::grams`.
    pub async fn flow(&mut self, p0: usize, p1: usize, min_share: f32, grams: &crate::flow::Grams) -> Result<crate::flow::Flow> {
        let off = self.ablation.off.clone();
        self.model.flow(&mut self.backend, &mut self.state, &self.tokens, p0, p1, min_share, &off, grams).await
    }

    /// The Gram matrices `flow` needs (once per model).
    pub async fn grams(&mut self) -> Result<crate::flow::Grams> {
        self.model.grams(&mut self.backend).await
    }

    /// The map's numbers at `pos` (`crate::map`), with position 0's spine
    /// when the caller kept it; changes nothing.
    pub async fn map_at(&mut self, pos: usize, mm: &crate::map::MapModel, first: Option<Vec<f32>>) -> Result<crate::map::MapAt> {
        self.model.map_at(&mut self.backend, &mut self.state, &self.tokens, pos, mm, first).await
    }

    /// Keep the map's numbers from each step (`Model::set_keep_map`), so
    /// that the map at the newest position costs a readback.
    pub fn set_keep_map(&mut self, on: bool) {
        self.model.set_keep_map(&mut self.backend, &mut self.state, on);
    }

    /// The position whose map numbers the last step kept, if current.
    pub fn kept_map_at(&self) -> Option<usize> {
        self.state.keep.as_ref().and_then(|k| k.positions().first().copied())
    }

    /// Every position whose map numbers are kept and current, newest first
    /// (at most two: the last one-token pass, and the one before it).
    pub fn kept_map_positions(&self) -> Vec<usize> {
        self.state.keep.as_ref().map_or(Vec::new(), |k| k.positions())
    }

    /// What the map needs of the model once (`crate::map::MapModel`).
    pub async fn map_model(&mut self) -> Result<crate::map::MapModel> {
        self.model.map_model(&mut self.backend).await
    }

    /// The residual stream after each layer at `pos`; changes nothing.
    pub async fn residual_stream(&mut self, pos: usize) -> Result<Vec<Vec<f32>>> {
        self.model.residual_stream(&mut self.backend, &mut self.state, &self.tokens, pos).await
    }

    /// Each layer's attention and FFN update norms at `pos`; changes nothing.
    pub async fn residual(&mut self, pos: usize) -> Result<Residual> {
        self.model.residual(&mut self.backend, &mut self.state, &self.tokens, pos).await
    }

    pub fn ablation(&self) -> &Ablation {
        &self.ablation
    }

    /// Switch these heads off (an empty ablation switches all back on) and
    /// recompute the whole sequence with them off, so that the caches and
    /// the next-token distribution are those of the ablated model; later
    /// steps keep them off. The sequence is recomputed in the same batches
    /// as it was first computed (prompt chunks, then one token at a time),
    /// so switching every head back on restores every number bit for bit.
    pub async fn set_ablation(&mut self, a: Ablation) -> Result<()> {
        self.model.set_ablation(&mut self.backend, &mut self.state, &a)?;
        self.ablation = a;
        if self.tokens.is_empty() {
            return Ok(());
        }
        let tokens = self.tokens.clone();
        let full = self.needs_full();
        let mut next = None;
        let (np, batch) = (self.n_prompt, self.state.max_rows);
        let spans = (0..np).step_by(batch).map(|a| (a, (a + batch).min(np))).chain((np..tokens.len()).map(|p| (p, p + 1)));
        for (a, b) in spans {
            match self.model.forward(&mut self.backend, &mut self.state, &tokens[a..b], a, false, full).await {
                Ok(out) => next = Some(out.logits),
                Err(e) => {
                    self.clear();
                    return Err(e);
                }
            }
        }
        self.next = next.expect("a non-empty sequence");
        Ok(())
    }

    /// Bytes the session holds besides the weights (caches, scratch).
    pub fn state_bytes(&self) -> usize {
        self.state.bytes()
    }

    /// Sample the next token and run it through the model.
    pub async fn step(&mut self) -> Result<StepTrace> {
        let t0 = Instant::now();
        self.require_prefill()?;
        if self.needs_full() && self.next.full.is_none() {
            // The sampler was changed to one that needs every logit since the
            // last forward pass read only the top candidates.
            self.recompute_next().await?;
        }
        let saved = Saved { decoder: self.decoder.clone() };
        let (id, draw) = self.choose()?;
        let sample_ms = ms_since(t0);
        let mut st = self.push(id, false, saved, sample_ms).await?;
        st.draw = draw;
        Ok(st)
    }

    /// Play ahead: up to `n` greedy steps computed in one submission, each
    /// token picked on the device from the step before, read back once for
    /// all (`Model::forward_ahead`). The same steps as `n` calls of `step`
    /// (tokens, candidates, logits), which is what this does where it
    /// cannot go ahead: a sampler other than greedy, attention traces, or
    /// every logit read back. Stops after an end-of-sequence token (steps
    /// computed past it are dropped) and at the context's end.
    pub async fn steps_ahead(&mut self, n: usize) -> Result<Vec<StepTrace>> {
        self.require_prefill()?;
        let n = n.min(self.opts.n_ctx - self.tokens.len()).max(1);
        let greedy = self.opts.sampling.temperature <= 0.0;
        if !greedy || self.opts.trace || self.needs_full() || n == 1 {
            let mut steps = Vec::with_capacity(n);
            for _ in 0..n {
                let st = self.step().await?;
                let eos = st.eos;
                steps.push(st);
                if eos || self.tokens.len() >= self.opts.n_ctx {
                    break;
                }
            }
            return Ok(steps);
        }
        let t0 = Instant::now();
        let pos = self.tokens.len();
        let first = self.next.top[0].0;
        let outs = self.model.forward_ahead(&mut self.backend, &mut self.state, first, pos, n).await?;
        let forward_ms = ms_since(t0) / n as f64;
        let mut steps = Vec::with_capacity(n);
        let mut id = first;
        for next in outs {
            let saved = Saved { decoder: self.decoder.clone() };
            let candidates = self.candidates();
            let st = self.take(id, false, saved, candidates, next, None, Timing { forward_ms, sample_ms: 0.0 });
            let eos = st.eos;
            steps.push(st);
            if eos {
                break;
            }
            // The device fed the first candidate into the next step.
            id = self.next.top[0].0;
        }
        Ok(steps)
    }

    /// Take `id` as the next token instead of sampling ("what if").
    pub async fn force(&mut self, id: u32) -> Result<StepTrace> {
        self.require_prefill()?;
        if id as usize >= self.model.config.vocab_size {
            return Err(Error::Usage(format!("token id {id} is outside the vocabulary (0..{})", self.model.config.vocab_size)));
        }
        let saved = Saved { decoder: self.decoder.clone() };
        self.push(id, true, saved, 0.0).await
    }

    fn require_prefill(&self) -> Result<()> {
        if self.tokens.is_empty() {
            return Err(Error::Usage("prefill a prompt first".into()));
        }
        if self.tokens.len() >= self.opts.n_ctx {
            return Err(Error::ContextFull { needed: self.tokens.len() + 1, n_ctx: self.opts.n_ctx });
        }
        Ok(())
    }

    async fn push(&mut self, id: u32, forced: bool, saved: Saved, sample_ms: f64) -> Result<StepTrace> {
        let candidates = self.candidates();
        let pos = self.tokens.len();
        let t1 = Instant::now();
        let full = self.needs_full();
        let out = self.model.forward(&mut self.backend, &mut self.state, &[id], pos, self.opts.trace, full).await?;
        let forward_ms = ms_since(t1);
        let attention = out.probs.map(|p| AttnRows::from_layers(&p, 1, self.model.config.n_heads, pos + 1, 0, pos + 1));
        Ok(self.take(id, forced, saved, candidates, out.logits, attention, Timing { forward_ms, sample_ms }))
    }

    /// Append `id` (chosen from `candidates`), with `next` the logits after
    /// it: the step's trace.
    #[allow(clippy::too_many_arguments)]
    fn take(&mut self, id: u32, forced: bool, saved: Saved, candidates: Vec<Candidate>, next: NextLogits, attention: Option<AttnRows>, timing: Timing) -> StepTrace {
        let st = StepTrace {
            pos: self.tokens.len(),
            token: id,
            text: self.tokenizer.piece(id),
            text_delta: self.decoder.push(&self.tokenizer, id),
            forced,
            candidates,
            attention,
            eos: self.tokenizer.eos == Some(id),
            draw: None,
            timing,
        };
        self.tokens.push(id);
        self.history.push(saved);
        self.next = next;
        st
    }

    /// Remove the last generated token, restoring the state before it
    /// (KV cache, next-token logits, text decoder). Returns the removed id,
    /// or None when only the prompt is left.
    pub async fn undo(&mut self) -> Result<Option<u32>> {
        if self.tokens.len() <= self.n_prompt {
            return Ok(None);
        }
        let id = self.tokens.pop().expect("a generated token");
        let saved = self.history.pop().expect("history per generated token");
        self.decoder = saved.decoder;
        // Its KV entries are rewritten with the same values, and the arithmetic
        // per row does not depend on batching, so these logits equal the ones
        // before the step.
        self.recompute_next().await?;
        Ok(Some(id))
    }

    /// Run the last token again to get the next-token logits (as the current
    /// sampler needs them). Changes nothing else.
    async fn recompute_next(&mut self) -> Result<()> {
        let pos = self.tokens.len() - 1;
        let last = self.tokens[pos];
        let full = self.needs_full();
        self.next = self.model.forward(&mut self.backend, &mut self.state, &[last], pos, false, full).await?.logits;
        Ok(())
    }

    /// Step until end-of-sequence or `max_new` tokens, calling `on_step` after each.
    pub async fn generate(&mut self, max_new: usize, mut on_step: impl FnMut(&StepTrace)) -> Result<Vec<StepTrace>> {
        let mut steps = Vec::new();
        for _ in 0..max_new {
            let s = self.step().await?;
            on_step(&s);
            let eos = s.eos;
            steps.push(s);
            if eos {
                break;
            }
        }
        Ok(steps)
    }
}
