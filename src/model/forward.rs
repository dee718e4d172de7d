//! The forward pass of a llama-architecture transformer, written once for
//! every backend. Reads top to bottom like llama2.c's `forward`.

use crate::backend::{AttnShape, Backend, CacheShape, LayerTail, QStore, RopeAt, TailBufs, TailTaps};
use crate::gguf::Gguf;
use crate::model::{Config, Weights};
use crate::error::{Error, Result};

/// Config plus weights living on backend `B`.
pub struct Model<B: Backend> {
    pub config: Config,
    pub weights: Weights<B>,
}

/// Activation buffers, sized for `max_rows` tokens at once, reused every call.
pub struct Acts<B: Backend> {
    pub x: B::Buf,      // (rows, dim) residual stream
    pub xb: B::Buf,     // (rows, dim) normed input / attention output
    pub xb2: B::Buf,    // (rows, dim) projection output
    pub q: B::Buf,      // (rows, dim)
    pub k: B::Buf,      // (rows, kv_dim)
    pub v: B::Buf,      // (rows, kv_dim)
    pub hb: B::Buf,     // (rows, ffn_dim) gate, then silu(gate)·up
    pub hb2: B::Buf,    // (rows, ffn_dim) up
    pub last: B::Buf,   // (dim) last row, normed
    pub logits: B::Buf, // (vocab)
    pub topk: B::Buf,   // packed per-chunk top candidates, see backend::merge_topk
}

/// What one inference run needs besides the weights: the attention caches
/// and scratch. The caches grow with the sequence (doubling, up to `n_ctx`),
/// so memory follows the length in use, not the context the model allows.
pub struct State<B: Backend> {
    /// One per layer: K, V, q and log-sum-exp per position.
    pub caches: Vec<B::Cache>,
    pub acts: Acts<B>,
    /// Attention probabilities for the rows of one call, (rows, n_heads,
    /// capacity) packed per layer: every layer one after the other when
    /// tracing, else one layer's worth reused as scratch.
    pub probs: B::Buf,
    /// Most positions this state may hold.
    pub n_ctx: usize,
    /// Positions the caches (and `probs`) hold now.
    pub capacity: usize,
    pub max_rows: usize,
    pub traced: bool,
    pub shape: CacheShape,
    /// Attention-map scratch, kept between requests.
    pub(crate) maps: Option<MapScratch<B>>,
    /// Heads switched off, if any.
    pub(crate) ablation: Option<AblationBufs<B>>,
    /// What the map of the network reads, kept from each one-token pass
    /// (`Model::set_keep_map`).
    pub(crate) keep: Option<MapKeep<B>>,
    /// Play ahead's packed candidates of every step (`forward_ahead`), and
    /// how many steps it holds, kept between calls.
    pub(crate) ring: Option<(B::Buf, usize)>,
}

/// The map's numbers as a one-token pass computes them, kept so that the
/// map at the newest position costs a readback and no second pass: the
/// residual stream after each layer, each layer's two updates, the heads'
/// outputs and the FFN's neurons, for the row at a slot's position. Two
/// slots: during Play the page asks about the position its last drawing
/// showed while the engine has already computed the next request.
pub(crate) struct MapKeep<B: Backend> {
    pub slots: [KeepSlot<B>; 2],
    /// Floats of both slots.
    pub floats: usize,
}

pub(crate) struct KeepSlot<B: Backend> {
    pub res: B::Buf,     // (n_layers, dim)
    pub updates: B::Buf, // (n_layers, 2, dim)
    pub heads: B::Buf,   // (n_layers, dim)
    pub hidden: B::Buf,  // (n_layers, ffn_dim)
    /// The position of the pass that filled them; None when they hold
    /// nothing current.
    pub at: Option<usize>,
}

impl<B: Backend> MapKeep<B> {
    /// A pass writes positions `pos`..: what was kept there is not current
    /// (kept positions before it depend on nothing that changed).
    pub fn invalidate_from(&mut self, pos: usize) {
        for s in &mut self.slots {
            s.at = s.at.filter(|&a| a < pos);
        }
    }

    /// Nothing kept is current (heads switched off or on).
    pub fn clear(&mut self) {
        self.invalidate_from(0);
    }

    /// The slot a one-row pass at `pos` fills: after `invalidate_from(pos)`,
    /// an empty one, else the older.
    pub fn slot_for(&mut self, pos: usize) -> &mut KeepSlot<B> {
        self.invalidate_from(pos);
        let i = if self.slots[0].at.is_none() || (self.slots[1].at.is_some() && self.slots[0].at < self.slots[1].at) { 0 } else { 1 };
        &mut self.slots[i]
    }

    /// The slot holding position `pos`, if any.
    pub fn find(&self, pos: usize) -> Option<&KeepSlot<B>> {
        self.slots.iter().find(|s| s.at == Some(pos))
    }

    /// The taps of a one-row pass that writes the cache and fills `slot`
    /// (the caller sets `slot.at` after the pass).
    pub fn taps(slot: &mut KeepSlot<B>) -> Taps<'_, B> {
        Taps { store: true, residuals: Some(&mut slot.res), updates: Some(&mut slot.updates), heads_out: Some(&mut slot.heads), ffn_hidden: Some(&mut slot.hidden), ..Taps::default() }
    }

    /// The positions kept, newest first.
    pub fn positions(&self) -> Vec<usize> {
        let mut p: Vec<usize> = self.slots.iter().filter_map(|s| s.at).collect();
        p.sort_unstable_by(|a, b| b.cmp(a));
        p
    }
}

/// An ablation on the device: mask (n_layers × n_heads, 0 = off), and which
/// layers have a head off (the others skip the masking, so an empty
/// ablation is bit-identical to none).
pub(crate) struct AblationBufs<B: Backend> {
    pub mask: B::Buf,
    pub layers: Vec<bool>,
}

/// Buffers for attention-map requests and how many floats each holds.
pub(crate) struct MapScratch<B: Backend> {
    pub positions: B::Buf,
    pub positions_len: usize,
    pub out: B::Buf,
    pub out_len: usize,
}

/// The smallest capacity a state grows to (positions).
pub const MIN_CAPACITY: usize = 256;

impl<B: Backend> State<B> {
    /// Make room for positions 0..needed, keeping 0..len.
    pub fn reserve(&mut self, b: &mut B, needed: usize, len: usize) -> Result<()> {
        if needed > self.n_ctx {
            return Err(Error::ContextFull { needed, n_ctx: self.n_ctx });
        }
        if needed <= self.capacity {
            return Ok(());
        }
        let cap = needed.next_power_of_two().max(MIN_CAPACITY).min(self.n_ctx);
        for c in &mut self.caches {
            b.grow_cache(c, cap, len);
        }
        let layers = if self.traced { self.caches.len() } else { 1 };
        let probs = b.buf(layers * self.max_rows * self.shape.n_heads * cap);
        b.free(std::mem::replace(&mut self.probs, probs));
        self.capacity = cap;
        Ok(())
    }

    /// Bytes held by the caches, the probabilities and the map scratch.
    pub fn bytes(&self) -> usize {
        let layers = if self.traced { self.caches.len() } else { 1 };
        let maps = self.maps.as_ref().map_or(0, |m| 4 * (m.positions_len + m.out_len));
        let keep = self.keep.as_ref().map_or(0, |k| 4 * k.floats);
        self.caches.len() * self.capacity * self.shape.bytes_per_position() + 4 * layers * self.max_rows * self.shape.n_heads * self.capacity + maps + keep
    }
}

/// Result of one forward call over `rows` new tokens.
pub struct ForwardOut {
    /// The next token's candidates and normalizer.
    pub logits: NextLogits,
    /// When traced: attention probabilities (n_layers, rows, n_heads, pos0 + rows), packed.
    pub probs: Option<Vec<f32>>,
}

/// What is known of the next-token distribution after a forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct NextLogits {
    /// The `TOPK_K` largest logits with their ids, largest first (ties: lower id).
    pub top: Vec<(u32, f32)>,
    /// log Σ exp(logit) over the whole vocabulary: p(id) = exp(logit − log_z).
    pub log_z: f32,
    /// Every logit, when it was asked for (a GPU reads back only `top` otherwise).
    pub full: Option<Vec<f32>>,
}

impl<B: Backend> Model<B> {
    /// Read the config and upload every weight to the backend.
    pub fn load(g: &Gguf, b: &mut B, progress: &mut dyn FnMut(usize, usize)) -> Result<Model<B>> {
        let config = Config::from_gguf(&g.header)?;
        let weights = Weights::load(g, &config, b, progress)?;
        Ok(Model { config, weights })
    }

    /// A fresh state for up to `n_ctx` positions, with room for `reserve`
    /// of them now (it grows as needed) and buffers for batches of up to
    /// `max_rows`; with `traced`, room for every layer's attention
    /// probabilities. `q_store` is how q is kept for attention maps.
    /// The longest context whose buffers fit one GPU binding of
    /// `max_binding` bytes: each layer's K, V, q and log-sum-exp caches (a
    /// buffer each), and the attention probabilities of a batch of
    /// `max_rows` (every layer's when `traced`).
    pub fn max_context(&self, max_binding: u64, max_rows: usize, traced: bool, q_store: QStore) -> usize {
        let c = &self.config;
        let q = match q_store {
            QStore::F32 => 4 * c.n_heads * c.head_dim,
            QStore::F16 => 2 * c.n_heads * c.head_dim,
        };
        let cache = (4 * c.kv_dim()).max(q).max(4 * c.n_heads) as u64;
        let probs = (if traced { c.n_layers } else { 1 } * max_rows * c.n_heads * 4) as u64;
        (max_binding.saturating_sub(16) / cache.max(probs).max(1)).min(usize::MAX as u64) as usize
    }

    /// The longest context whose caches take at most `bytes` of memory, with
    /// room for a cache to grow (the old and the new one side by side).
    pub fn max_context_in(&self, bytes: u64, q_store: QStore) -> usize {
        let c = &self.config;
        let shape = CacheShape { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim, q_store };
        let per_position = (c.n_layers * shape.bytes_per_position()) as u64 * 3 / 2;
        (bytes / per_position.max(1)).min(usize::MAX as u64) as usize
    }

    pub fn new_state(&self, b: &mut B, n_ctx: usize, max_rows: usize, traced: bool, q_store: QStore, reserve: usize) -> State<B> {
        let c = &self.config;
        let r = max_rows;
        let acts = Acts {
            x: b.buf(r * c.dim),
            xb: b.buf(r * c.dim),
            xb2: b.buf(r * c.dim),
            q: b.buf(r * c.dim),
            k: b.buf(r * c.kv_dim()),
            v: b.buf(r * c.kv_dim()),
            hb: b.buf(r * c.ffn_dim),
            hb2: b.buf(r * c.ffn_dim),
            last: b.buf(c.dim),
            logits: b.buf(c.vocab_size),
            topk: b.buf(crate::backend::topk_len(c.vocab_size)),
        };
        let shape = CacheShape { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim, q_store };
        let capacity = reserve.max(1).min(n_ctx.max(1));
        let caches = (0..c.n_layers).map(|_| b.attn_cache(capacity, shape)).collect();
        let layers = if traced { c.n_layers } else { 1 };
        let probs = b.buf(layers * r * c.n_heads * capacity);
        State { caches, acts, probs, n_ctx, capacity, max_rows, traced, shape, maps: None, ablation: None, keep: None, ring: None }
    }

    /// Run `tokens` (at positions pos0..) through the model, filling the KV
    /// cache, and return the logits after the last one. With `trace`, also
    /// return every layer's attention probabilities for the new rows.
    /// With `full_logits`, every logit is read back too.
    pub async fn forward(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], pos0: usize, trace: bool, full_logits: bool) -> Result<ForwardOut> {
        let c = &self.config;
        let rows = tokens.len();
        if rows == 0 || rows > st.max_rows {
            return Err(Error::Usage(format!("forward takes 1..={} tokens at once, got {rows}", st.max_rows)));
        }
        if trace && !st.traced {
            return Err(Error::Usage("this state was made without room for attention traces".into()));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(Error::Usage(format!("token id {bad} is outside the vocabulary (0..{})", c.vocab_size)));
        }
        st.reserve(b, pos0 + rows, pos0)?;
        let probs_len = AttnShape { rows, pos0, n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim, store: true }.probs_len();
        // A one-token pass keeps what the map reads, when it is asked to;
        // a batch leaves nothing current from its first position on. (The
        // taps change no number.)
        match st.keep.take() {
            Some(mut k) if rows == 1 => {
                let slot = k.slot_for(pos0);
                self.layers(b, st, tokens, pos0, &mut Taps { trace, ..MapKeep::taps(slot) });
                slot.at = Some(pos0);
                st.keep = Some(k);
            }
            kept => {
                st.keep = kept.map(|mut k| {
                    k.invalidate_from(pos0);
                    k
                });
                self.layers(b, st, tokens, pos0, &mut Taps { store: true, trace, ..Taps::default() });
            }
        }
        // Only the last row's logits are needed.
        self.last_row_topk(b, &mut st.acts, rows - 1);
        let a = &mut st.acts;
        // The one readback of the pass: candidates, and what else was asked for.
        let topk_len = crate::backend::topk_len(c.vocab_size);
        let mut reads = vec![(&a.topk, topk_len)];
        if trace {
            reads.push((&st.probs, c.n_layers * probs_len));
        }
        if full_logits {
            reads.push((&a.logits, c.vocab_size));
        }
        let mut out = b.read(&reads).await?.into_iter();
        let (top, log_z) = crate::backend::merge_topk(&out.next().expect("top-k read"), c.vocab_size);
        let probs = if trace { out.next() } else { None };
        let full = if full_logits { out.next() } else { None };
        Ok(ForwardOut { logits: NextLogits { top, log_z, full }, probs })
    }

    /// Row `row` of the residual stream through the final norm and the
    /// output matrix, reduced to the packed top-k candidates (`acts.topk`).
    fn last_row_topk(&self, b: &mut B, a: &mut Acts<B>, row: usize) {
        let c = &self.config;
        b.copy(&a.x, row * c.dim, &mut a.xb2, 0, c.dim);
        b.rmsnorm(&a.xb2, &self.weights.output_norm, &mut a.last, 1, c.norm_eps);
        b.matmul(&a.last, self.weights.lm_head(), &mut a.logits, 1);
        b.topk(&a.logits, 1, c.vocab_size, &mut a.topk);
    }

    /// About how many floating-point operations one layer does for `rows`
    /// new rows at positions pos0..: the matrices, and the attention's
    /// scores and weighted sums over every visible key.
    pub fn layer_flops(&self, rows: usize, pos0: usize) -> f64 {
        let c = &self.config;
        let (d, f, q, kv) = (c.dim as f64, c.ffn_dim as f64, (c.n_heads * c.head_dim) as f64, (c.n_kv_heads * c.head_dim) as f64);
        let weights = d * (q + 2.0 * kv) + q * d + 3.0 * d * f;
        let keys: f64 = (0..rows).map(|r| (pos0 + r + 1) as f64).sum();
        2.0 * rows as f64 * weights + 4.0 * q * keys
    }

    /// Play ahead: `n` greedy steps in one submission and one readback.
    /// The first embeds `first` at `pos0`; each later one embeds the token
    /// the device picked from the step before (`Backend::pick`: the first
    /// of `merge_topk`'s order, as greedy decoding takes it), so nothing
    /// waits for the host between tokens. Returns each step's next-token
    /// logits (the top candidates, as `forward` returns them): step i + 1
    /// fed the first candidate of step i. The same numbers as `n` calls of
    /// `forward`, one row each.
    pub async fn forward_ahead(&self, b: &mut B, st: &mut State<B>, first: u32, pos0: usize, n: usize) -> Result<Vec<NextLogits>> {
        let c = &self.config;
        if n == 0 {
            return Err(Error::Usage("play ahead takes at least one step".into()));
        }
        if first as usize >= c.vocab_size {
            return Err(Error::Usage(format!("token id {first} is outside the vocabulary (0..{})", c.vocab_size)));
        }
        st.reserve(b, pos0 + n, pos0)?;
        // What the map kept from here on is not current; the last step
        // keeps its own (the page's map asks about the newest position).
        let mut keep = st.keep.take().map(|mut k| {
            k.invalidate_from(pos0);
            k
        });
        let topk_len = crate::backend::topk_len(c.vocab_size);
        let mut ring = match st.ring.take() {
            Some(r) if r.1 >= n => r,
            old => {
                if let Some((buf, _)) = old {
                    b.free(buf);
                }
                (b.buf(n * topk_len), n)
            }
        };
        for i in 0..n {
            match keep.as_mut().filter(|_| i + 1 == n) {
                Some(k) => {
                    let slot = k.slot_for(pos0 + i);
                    self.layers(b, st, &[first], pos0 + i, &mut Taps { picked: i > 0, ..MapKeep::taps(slot) });
                    slot.at = Some(pos0 + i);
                }
                None => self.layers(b, st, &[first], pos0 + i, &mut Taps { store: true, picked: i > 0, ..Taps::default() }),
            }
            self.last_row_topk(b, &mut st.acts, 0);
            let a = &mut st.acts;
            if i + 1 < n {
                b.pick(&a.topk, c.vocab_size);
            }
            b.copy(&a.topk, 0, &mut ring.0, i * topk_len, topk_len);
        }
        st.keep = keep;
        let read = b.read(&[(&ring.0, n * topk_len)]).await;
        st.ring = Some(ring);
        let packed = read?.remove(0);
        Ok(packed
            .chunks_exact(topk_len)
            .map(|p| {
                let (top, log_z) = crate::backend::merge_topk(p, c.vocab_size);
                NextLogits { top, log_z, full: None }
            })
            .collect())
    }

    /// The transformer blocks, top to bottom, over `tokens` at positions
    /// pos0.. (embedding included), leaving the residual stream in
    /// `st.acts.x`. `taps` says what else to do: write the cache or only
    /// read it, keep every layer's attention probabilities, copy
    /// intermediates out for the probe and the logit lens, stop early.
    pub(crate) fn layers(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], pos0: usize, taps: &mut Taps<B>) {
        let c = &self.config;
        let rows = tokens.len();
        let (d, f) = (c.dim, c.ffn_dim);
        let shape = AttnShape { rows, pos0, n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim, store: taps.store };
        let probs_len = shape.probs_len();
        let a = &mut st.acts;
        let n_layers = taps.upto.unwrap_or(c.n_layers).min(c.n_layers);

        if taps.start == 0 && taps.picked {
            b.embed_picked(&self.weights.token_embd, &mut a.x);
        } else if taps.start == 0 {
            b.embed(&self.weights.token_embd, tokens, &mut a.x);
        }
        // Work recorded since the last submission, in floating-point operations.
        let (layer_flops, mut pending) = (self.layer_flops(rows, pos0), 0.0);
        for (l, w) in self.weights.layers.iter().enumerate().take(n_layers).skip(taps.start) {
            // A long prefill goes to the device in parts of bounded work, so
            // that no submission runs long enough for an OS's GPU watchdog
            // (about 2 s on Windows) to reset the device. Changes no number.
            if pending > 0.0 && pending + layer_flops > SUBMIT_FLOPS {
                b.flush();
                pending = 0.0;
            }
            pending += layer_flops;
            let patch = taps.patch.filter(|p| p.layer == l);
            let mut probe = taps.probe.as_deref_mut().filter(|p| p.layer == l);
            // Attention block: x += wo · attention(rope(wq·n), rope(wk·n), wv·n)
            if let Some(p) = probe.as_deref_mut() {
                b.copy(&a.x, 0, &mut p.x_in, 0, d);
            }
            let qkv = [&w.wq, &w.wk, &w.wv];
            match probe.as_deref_mut() {
                Some(p) => {
                    // The probe shows q before RoPE, and a fused backend
                    // does not keep the normed input: the probe's row again.
                    b.norm_matmul(&a.x, &w.attn_norm, c.norm_eps, &qkv, &mut [&mut a.q, &mut a.k, &mut a.v], &mut a.xb, rows);
                    b.rmsnorm(&p.x_in, &w.attn_norm, &mut p.normed, 1, c.norm_eps);
                    b.copy(&a.q, 0, &mut p.q_pre, 0, d);
                    b.rope_qk(&mut a.q, &mut a.k, rows, c.n_heads, c.n_kv_heads, c.head_dim, pos0, c.rope_base);
                }
                None => {
                    let rope = RopeAt { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim, pos0, base: c.rope_base };
                    b.norm_qkv_rope(&a.x, &w.attn_norm, c.norm_eps, &qkv, &mut [&mut a.q, &mut a.k, &mut a.v], &mut a.xb, rows, rope);
                }
            }
            let offset = if taps.trace { l * probs_len } else { 0 };
            // Nothing asks for the heads or the updates: the rest of the layer
            // in one call (a backend may fold W_o into the attention).
            let ablated = st.ablation.as_ref().is_some_and(|ab| ab.layers[l]);
            // (The map's taps go along: they copy out and change no number.)
            if !ablated && patch.is_none() && probe.is_none() && taps.heads.is_none() {
                let tail = LayerTail { wo: &w.wo, ffn_norm: &w.ffn_norm, eps: c.norm_eps, gate: &w.w_gate, up: &w.w_up, down: &w.w_down, dim: d, ffn_dim: f };
                let bufs = TailBufs { heads: &mut a.xb, tmp: &mut a.xb2, hidden: &mut a.hb, hidden2: &mut a.hb2 };
                let tail_taps = TailTaps {
                    heads_out: taps.heads_out.as_deref_mut().map(|b| (b, l * rows * d)),
                    updates: taps.updates.as_deref_mut().map(|b| (b, 2 * l * rows * d, (2 * l + 1) * rows * d)),
                    ffn_hidden: taps.ffn_hidden.as_deref_mut().map(|b| (b, l * rows * f)),
                };
                b.attention_ffn(shape, &a.q, &a.k, &a.v, &mut st.caches[l], (&mut st.probs, offset), &mut a.x, &tail, bufs, tail_taps);
            } else {
                b.attention(shape, &a.q, &a.k, &a.v, &mut st.caches[l], &mut a.xb, (&mut st.probs, offset));
                // Heads switched off contribute nothing (their slices become 0).
                if let Some(ab) = st.ablation.as_ref().filter(|ab| ab.layers[l]) {
                    b.mask_heads(&mut a.xb, rows, c.n_heads, c.head_dim, &ab.mask, l * c.n_heads);
                }
                if let Some(p) = patch.filter(|p| !p.ffn) {
                    p.apply(b, &mut a.xb);
                }
                if let Some(out) = taps.heads_out.as_mut() {
                    b.copy(&a.xb, 0, out, l * rows * d, rows * d);
                }
                if let Some(p) = probe.as_deref_mut() {
                    b.copy(&a.q, 0, &mut p.q, 0, d);
                    b.copy(&a.xb, 0, &mut p.attn, 0, d);
                    // The probed head alone through W_o: its share of the residual update.
                    b.copy(&a.xb, 0, &mut p.alone, 0, d);
                    b.mask_heads(&mut p.alone, 1, c.n_heads, c.head_dim, &p.one_hot, 0);
                    b.matmul(&p.alone, &w.wo, &mut p.contribution, 1);
                }
                if let Some(hb) = taps.heads.as_deref_mut() {
                    // Each head alone through W_o (a switched-off head's slice is already 0).
                    for h in 0..c.n_heads {
                        b.copy(&a.xb, 0, &mut hb.alone, 0, d);
                        b.mask_heads(&mut hb.alone, 1, c.n_heads, c.head_dim, &hb.identity, h * c.n_heads);
                        b.matmul(&hb.alone, &w.wo, &mut hb.contribution, 1);
                        b.copy(&hb.contribution, 0, &mut hb.out, (l * c.n_heads + h) * d, d);
                    }
                }
                // x += W_o · heads (one fused step where nothing needs the update alone).
                match taps.updates.as_mut() {
                    Some(u) => {
                        b.matmul(&a.xb, &w.wo, &mut a.xb2, rows);
                        b.copy(&a.xb2, 0, u, 2 * l * rows * d, rows * d);
                        b.add(&mut a.x, &a.xb2, rows * d);
                    }
                    None => b.matmul_add(&a.xb, &w.wo, &mut a.x, &mut a.xb2, rows, d),
                }

                // Feed-forward block: x += w_down · (silu(w_gate·n) ⊙ w_up·n)
                b.norm_glu(&a.x, &w.ffn_norm, c.norm_eps, &w.w_gate, &w.w_up, &mut a.hb, &mut a.hb2, &mut a.xb, rows, f);
                if let Some(out) = taps.ffn_hidden.as_mut() {
                    b.copy(&a.hb, 0, out, l * rows * f, rows * f);
                }
                let ffn_patch = patch.filter(|p| p.ffn);
                if probe.is_none() && taps.updates.is_none() && ffn_patch.is_none() {
                    b.matmul_add(&a.hb, &w.w_down, &mut a.x, &mut a.xb2, rows, d);
                } else {
                    b.matmul(&a.hb, &w.w_down, &mut a.xb2, rows);
                    if let Some(p) = ffn_patch {
                        p.apply(b, &mut a.xb2);
                    }
                    if let Some(p) = probe {
                        b.copy(&a.hb, 0, &mut p.neurons, 0, f);
                        b.copy(&a.xb2, 0, &mut p.ffn, 0, d);
                    }
                    if let Some(u) = taps.updates.as_mut() {
                        b.copy(&a.xb2, 0, u, (2 * l + 1) * rows * d, rows * d);
                    }
                    b.add(&mut a.x, &a.xb2, rows * d);
                }
            }
            if let Some(res) = taps.residuals.as_mut() {
                b.copy(&a.x, 0, res, l * rows * d, rows * d);
            }
        }
    }
}

/// The most work one submission holds when a pass can be split between
/// layers (1 GFLOP: ~50 ms on a weak integrated GPU running these kernels
/// at ~20 GFLOP/s, far below a 2 s watchdog). One layer of a batch is never
/// split: max_batch bounds it (16 rows on the page: ~0.4 GFLOP at 8,192
/// tokens of context).
pub const SUBMIT_FLOPS: f64 = 1e9;

/// What a pass over the layers does besides computing.
pub(crate) struct Taps<'a, B: Backend> {
    /// Write the new rows into the caches (a step), or only read them (inspection).
    pub store: bool,
    /// Keep every layer's attention probabilities in `State::probs`.
    pub trace: bool,
    /// Stop after this many layers.
    pub upto: Option<usize>,
    /// Start at this layer: above 0, `acts.x` already holds the residual
    /// entering it (no embedding).
    pub start: usize,
    /// Embed the token the device picked last (`Backend::pick`: Play
    /// ahead) instead of `tokens` (then one row).
    pub picked: bool,
    /// Copy pieces of another run into this one (activation patching).
    pub patch: Option<&'a PatchTap<'a, B>>,
    /// Copy the heads' outputs (before W_o, after any ablation) here: (layer, rows, dim).
    pub heads_out: Option<&'a mut B::Buf>,
    /// Copy the residual stream after each layer here: (layer, rows, dim).
    pub residuals: Option<&'a mut B::Buf>,
    /// Copy each layer's two updates to the residual stream here, the
    /// attention block's then the FFN's: (layer, 2, rows, dim).
    pub updates: Option<&'a mut B::Buf>,
    /// Copy one layer's intermediates out (first row only).
    pub probe: Option<&'a mut ProbeBufs<B>>,
    /// Each head's own write to the residual stream (first row only).
    pub heads: Option<&'a mut HeadBufs<B>>,
    /// Copy the FFN's neurons (silu(w_gate·n) ⊙ w_up·n) here: (layer, rows, ffn_dim).
    pub ffn_hidden: Option<&'a mut B::Buf>,
}

impl<B: Backend> Default for Taps<'_, B> {
    fn default() -> Self {
        Taps { store: true, trace: false, upto: None, start: 0, picked: false, patch: None, heads_out: None, residuals: None, updates: None, probe: None, heads: None, ffn_hidden: None }
    }
}

/// Pieces of another run copied into one layer of this one: after the
/// attention (the heads' outputs, before W_o) or after the FFN (its
/// output), each copy `(offset in src, offset in the rows' buffer, len)`.
pub(crate) struct PatchTap<'a, B: Backend> {
    pub layer: usize,
    pub ffn: bool,
    pub src: &'a B::Buf,
    pub copies: Vec<(usize, usize, usize)>,
}

impl<B: Backend> PatchTap<'_, B> {
    /// Copy the pieces into `rows`, the patched activation's buffer.
    fn apply(&self, b: &mut B, rows: &mut B::Buf) {
        for &(from, to, len) in &self.copies {
            b.copy(self.src, from, rows, to, len);
        }
    }
}

/// Where every head's own update to the residual stream goes (one row):
/// W_o applied to that head's output alone, the rest of the heads zero.
pub struct HeadBufs<B: Backend> {
    pub out: B::Buf,          // (n_layers, n_heads, dim)
    pub identity: B::Buf,     // (n_heads, n_heads): row h is head h's mask
    pub alone: B::Buf,        // (dim) scratch: one head's output alone
    pub contribution: B::Buf, // (dim) scratch: W_o · alone
}

impl<B: Backend> HeadBufs<B> {
    pub fn new(b: &mut B, n_layers: usize, n_heads: usize, dim: usize) -> HeadBufs<B> {
        let identity: Vec<f32> = (0..n_heads * n_heads).map(|i| if i / n_heads == i % n_heads { 1.0 } else { 0.0 }).collect();
        HeadBufs { out: b.buf(n_layers * n_heads * dim), identity: b.upload_f32(&identity), alone: b.buf(dim), contribution: b.buf(dim) }
    }

    pub fn free(self, b: &mut B) {
        for buf in [self.out, self.identity, self.alone, self.contribution] {
            b.free(buf);
        }
    }
}

/// Where a probe's intermediates of one layer go (one row).
pub struct ProbeBufs<B: Backend> {
    pub layer: usize,
    pub x_in: B::Buf,         // (dim) residual entering the layer
    pub normed: B::Buf,       // (dim) after attn_norm
    pub q_pre: B::Buf,        // (dim) q before RoPE, all heads
    pub q: B::Buf,            // (dim) q after RoPE
    pub attn: B::Buf,         // (dim) attention output, all heads (after any ablation)
    pub one_hot: B::Buf,      // (n_heads) 1 for the probed head
    pub alone: B::Buf,        // (dim) scratch: the probed head's output alone
    pub contribution: B::Buf, // (dim) W_o · (the probed head's output alone)
    pub neurons: B::Buf,      // (ffn_dim) silu(gate) · up
    pub ffn: B::Buf,          // (dim) the FFN's output
}
