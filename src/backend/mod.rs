//! The small set of operations the forward pass needs, implemented once per
//! device. `cpu` is the readable reference; a GPU backend implements the same
//! trait with WGSL kernels.
//!
//! Buffers hold f32 activations laid out row-major: a batch of `rows` tokens
//! of width `w` is `rows × w` floats. Ops only read and write the first
//! elements they need, so one buffer sized for the largest batch is reused.

pub mod cpu;
pub mod gpu;
pub mod pool;

use serde::{Deserialize, Serialize};

use crate::tensor::TensorData;
use crate::error::Result;

/// How an attention cache keeps each position's q (after RoPE), from which
/// attention maps are computed on demand. F32 gives maps equal to the
/// forward pass's own weights; F16 halves the memory (maps are for the eye:
/// their weights are within about 1e-3 of the exact ones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum QStore {
    #[default]
    F32,
    F16,
}

/// Shape of one layer's attention cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheShape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub q_store: QStore,
}

impl CacheShape {
    /// Width of one K or V row.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
    /// Width of one q row.
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }
    /// Bytes one position takes: k and v (f32), q (f32 or f16), one
    /// log-sum-exp per query head.
    pub fn bytes_per_position(&self) -> usize {
        let q = match self.q_store {
            QStore::F32 => 4,
            QStore::F16 => 2,
        };
        2 * 4 * self.kv_dim() + q * self.q_dim() + 4 * self.n_heads
    }
}

/// Shape of one attention call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnShape {
    /// New query rows in this call.
    pub rows: usize,
    /// Position of the first new row; keys 0..pos0+rows are visible in total.
    pub pos0: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Write the new rows' k, v, q and log-sum-exp into the cache. False
    /// for read-only passes over positions already there (probe, lens):
    /// every key then comes from the cache and nothing is written.
    pub store: bool,
}

impl AttnShape {
    /// Keys visible to the last row: pos0 + rows.
    pub fn kv_len(&self) -> usize {
        self.pos0 + self.rows
    }
    /// Length of the probabilities buffer: (rows, n_heads, kv_len).
    pub fn probs_len(&self) -> usize {
        self.rows * self.n_heads * self.kv_len()
    }
}

/// base^(−2/head_dim): each RoPE angle is the previous one times this. One
/// definition for both backends (the WGSL kernel gets this f32 and
/// multiplies in the same order, so the angles are bit-identical).
pub fn rope_ratio(head_dim: usize, base: f32) -> f32 {
    base.powf(-2.0 / head_dim as f32)
}

/// The RoPE angles of position `pos`: θ_i = pos · base^(−2i/head_dim) for
/// i < head_dim/2, as ggml builds them (repeated multiplication in f32).
/// The CPU backend rotates with these; the probe reports them.
pub fn rope_angles(pos: usize, head_dim: usize, base: f32) -> Vec<f32> {
    let scale = rope_ratio(head_dim, base);
    let mut theta = pos as f32;
    (0..head_dim / 2)
        .map(|_| {
            let t = theta;
            theta *= scale;
            t
        })
        .collect()
}

/// Logits are reduced on the device in chunks of this many...
pub const TOPK_CHUNK: usize = 1024;
/// ...keeping this many candidates per chunk (so at least this many overall).
pub const TOPK_K: usize = 32;

/// Floats of the packed top-k output for `n` logits: per chunk
/// [max, Σ exp(l − max), (id bits, logit) × TOPK_K].
pub fn topk_len(n: usize) -> usize {
    n.div_ceil(TOPK_CHUNK) * (2 + 2 * TOPK_K)
}

/// Merge per-chunk top-k output: the TOPK_K largest logits, largest first
/// (ties: lower id first), and log Σ exp(logits) over all `n`.
pub fn merge_topk(packed: &[f32], n: usize) -> (Vec<(u32, f32)>, f32) {
    let stride = 2 + 2 * TOPK_K;
    let chunks: Vec<&[f32]> = packed.chunks_exact(stride).collect();
    let m = chunks.iter().map(|c| c[0]).fold(f32::NEG_INFINITY, f32::max);
    let z: f64 = chunks.iter().map(|c| c[1] as f64 * ((c[0] - m) as f64).exp()).sum();
    let mut top: Vec<(u32, f32)> = chunks
        .iter()
        .flat_map(|c| c[2..].chunks_exact(2).map(|e| (e[0].to_bits(), e[1])))
        .filter(|&(id, _)| (id as usize) < n)
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(TOPK_K);
    (top, m + z.ln() as f32)
}

/// `Backend::norm_matmul` as separate ops: what it means, and what a
/// backend runs where it cannot fuse.
#[allow(clippy::too_many_arguments)]
pub fn unfused_norm_matmul<B: Backend + ?Sized>(b: &mut B, x: &B::Buf, g: &B::Vec, eps: f32, ws: &[&B::Mat], outs: &mut [&mut B::Buf], normed: &mut B::Buf, rows: usize) {
    b.rmsnorm(x, g, normed, rows, eps);
    for (w, out) in ws.iter().zip(outs.iter_mut()) {
        b.matmul(normed, w, out, rows);
    }
}

/// Where RoPE turns q and k (`Backend::norm_qkv_rope`): the heads' shape,
/// the first row's position and the base.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RopeAt {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub pos0: usize,
    pub base: f32,
}

/// `Backend::norm_qkv_rope` as separate ops (see `unfused_norm_matmul`).
#[allow(clippy::too_many_arguments)]
pub fn unfused_norm_qkv_rope<B: Backend + ?Sized>(b: &mut B, x: &B::Buf, g: &B::Vec, eps: f32, ws: &[&B::Mat], outs: &mut [&mut B::Buf], normed: &mut B::Buf, rows: usize, r: RopeAt) {
    b.norm_matmul(x, g, eps, ws, outs, normed, rows);
    if let [q, k, ..] = outs {
        b.rope_qk(q, k, rows, r.n_heads, r.n_kv_heads, r.head_dim, r.pos0, r.base);
    }
}

/// A layer's weights after its attention (`Backend::attention_ffn`).
pub struct LayerTail<'a, B: Backend + ?Sized> {
    pub wo: &'a B::Mat,
    pub ffn_norm: &'a B::Vec,
    pub eps: f32,
    pub gate: &'a B::Mat,
    pub up: &'a B::Mat,
    pub down: &'a B::Mat,
    /// The residual stream's width and the FFN's.
    pub dim: usize,
    pub ffn_dim: usize,
}

/// Scratch for `Backend::attention_ffn`: `heads` (rows × n_heads·head_dim,
/// at least rows × dim: the FFN's normed input goes there too), `tmp`
/// (rows × dim), `hidden` and `hidden2` (rows × ffn_dim).
pub struct TailBufs<'a, B: Backend + ?Sized> {
    pub heads: &'a mut B::Buf,
    pub tmp: &'a mut B::Buf,
    pub hidden: &'a mut B::Buf,
    pub hidden2: &'a mut B::Buf,
}

/// What `Backend::attention_ffn` copies out besides computing (the map's
/// taps), each (buffer, float offset): the heads' outputs before W_o
/// (rows × dim), the attention block's update and the FFN's (two offsets),
/// the FFN's neurons (rows × ffn_dim).
pub struct TailTaps<'a, B: Backend + ?Sized> {
    pub heads_out: Option<(&'a mut B::Buf, usize)>,
    pub updates: Option<(&'a mut B::Buf, usize, usize)>,
    pub ffn_hidden: Option<(&'a mut B::Buf, usize)>,
}

impl<B: Backend + ?Sized> Default for TailTaps<'_, B> {
    fn default() -> Self {
        TailTaps { heads_out: None, updates: None, ffn_hidden: None }
    }
}

/// `Backend::attention_ffn` as separate ops: its definition.
#[allow(clippy::too_many_arguments)]
pub fn unfused_attention_ffn<B: Backend + ?Sized>(b: &mut B, s: AttnShape, q: &B::Buf, k: &B::Buf, v: &B::Buf, cache: &mut B::Cache, probs: (&mut B::Buf, usize), x: &mut B::Buf, w: &LayerTail<B>, t: TailBufs<B>, taps: TailTaps<B>) {
    let (rows, d, f) = (s.rows, w.dim, w.ffn_dim);
    b.attention(s, q, k, v, cache, t.heads, probs);
    if let Some((out, off)) = taps.heads_out {
        b.copy(t.heads, 0, out, off, rows * d);
    }
    // x += W_o · heads (one fused step where nothing needs the update alone).
    let mut updates = taps.updates;
    match updates.as_mut() {
        Some((u, at, _)) => {
            b.matmul(t.heads, w.wo, t.tmp, rows);
            b.copy(t.tmp, 0, u, *at, rows * d);
            b.add(x, t.tmp, rows * d);
        }
        None => b.matmul_add(t.heads, w.wo, x, t.tmp, rows, d),
    }
    b.norm_glu(x, w.ffn_norm, w.eps, w.gate, w.up, t.hidden, t.hidden2, t.heads, rows, f);
    if let Some((out, off)) = taps.ffn_hidden {
        b.copy(t.hidden, 0, out, off, rows * f);
    }
    match updates {
        Some((u, _, at)) => {
            b.matmul(t.hidden, w.down, t.tmp, rows);
            b.copy(t.tmp, 0, u, at, rows * d);
            b.add(x, t.tmp, rows * d);
        }
        None => b.matmul_add(t.hidden, w.down, x, t.tmp, rows, d),
    }
}

/// `Backend::norm_glu` as separate ops (see `unfused_norm_matmul`).
#[allow(clippy::too_many_arguments)]
pub fn unfused_norm_glu<B: Backend + ?Sized>(b: &mut B, x: &B::Buf, g: &B::Vec, eps: f32, gate: &B::Mat, up: &B::Mat, out: &mut B::Buf, up_out: &mut B::Buf, normed: &mut B::Buf, rows: usize, n: usize) {
    b.rmsnorm(x, g, normed, rows, eps);
    b.matmul(normed, gate, out, rows);
    b.matmul(normed, up, up_out, rows);
    b.swiglu(out, up_out, rows * n);
}

pub trait Backend {
    /// f32 activations.
    type Buf;
    /// A weight matrix in its GGUF block format.
    type Mat;
    /// An f32 weight vector (norm gains).
    type Vec;
    /// One layer's attention cache, for `capacity` positions: K and V
    /// (capacity, kv_dim) each, q after RoPE (capacity, n_heads·head_dim)
    /// as `QStore` says, and log Σ exp(scores) (capacity, n_heads): enough
    /// to compute any attention weight again without storing T² of them.
    type Cache;

    /// Human-readable name, e.g. "CPU" or "WebGPU · SwiftShader".
    fn name(&self) -> String;
    /// Another backend on the same device, able to use the weights this one
    /// uploaded (for a second session over the same model).
    fn sibling(&self) -> Self
    where
        Self: Sized;
    /// Bytes of device memory this backend made and has not given back
    /// (caches, scratch; weights count for the backend that uploaded them).
    /// None when it computes in the host's memory.
    fn device_bytes(&self) -> Option<u64> {
        None
    }
    /// The largest buffer one binding takes (a GPU's limit); None when
    /// buffers are host memory.
    fn max_binding(&self) -> Option<u64> {
        None
    }

    fn upload_mat(&mut self, t: &TensorData) -> Result<Self::Mat>;
    /// Upload matrices that read the same input, in the order given (a
    /// layer's q, k, v; its gate and up). A backend may keep them together
    /// so that `norm_matmul` and `norm_glu` run them as one; by default
    /// each is uploaded alone.
    fn upload_mats(&mut self, ts: &[TensorData]) -> Result<Vec<Self::Mat>> {
        ts.iter().map(|t| self.upload_mat(t)).collect()
    }
    fn upload_vec(&mut self, t: &TensorData) -> Result<Self::Vec>;
    /// A zeroed activation buffer of `len` floats.
    fn buf(&mut self, len: usize) -> Self::Buf;
    /// A buffer holding `data`.
    fn upload_f32(&mut self, data: &[f32]) -> Self::Buf;
    /// A cache for `capacity` positions.
    fn attn_cache(&mut self, capacity: usize, shape: CacheShape) -> Self::Cache;
    /// Grow `cache` to `capacity` positions, keeping positions 0..len.
    fn grow_cache(&mut self, cache: &mut Self::Cache, capacity: usize, len: usize);
    /// Copy positions 0..len of `src` into `dst` (same shape, capacity ≥ len):
    /// a beam that forks starts from its parent's cache.
    fn copy_cache(&mut self, src: &Self::Cache, dst: &mut Self::Cache, len: usize);
    /// Give a buffer back (the GPU forgets the bind groups that used it).
    fn free(&mut self, buf: Self::Buf) {
        drop(buf);
    }
    /// Write `data` at the start of `buf`, in order with the recorded ops.
    fn write_f32(&mut self, buf: &mut Self::Buf, data: &[f32]);

    /// out[r] = row `tokens[r]` of `table` (rows × table.cols).
    fn embed(&mut self, table: &Self::Mat, tokens: &[u32], out: &mut Self::Buf);
    /// out[r] = x[r] / sqrt(mean(x[r]²) + eps) · w, for each of `rows` rows of width w.len().
    fn rmsnorm(&mut self, x: &Self::Buf, w: &Self::Vec, out: &mut Self::Buf, rows: usize, eps: f32);
    /// out (rows × w.rows) = x (rows × w.cols) · wᵀ.
    fn matmul(&mut self, x: &Self::Buf, w: &Self::Mat, out: &mut Self::Buf, rows: usize);
    /// out += x · wᵀ for `rows` rows of `n` outputs (a residual update):
    /// the same numbers as `matmul` into `tmp` then `add`, which is what
    /// this does unless a backend fuses the two (the GPU does: one dispatch).
    fn matmul_add(&mut self, x: &Self::Buf, w: &Self::Mat, out: &mut Self::Buf, tmp: &mut Self::Buf, rows: usize, n: usize) {
        self.matmul(x, w, tmp, rows);
        self.add(out, tmp, rows * n);
    }
    /// Rotate each head of each row in place; row r is at position pos0 + r.
    /// llama.cpp's "normal" layout: pairs (2i, 2i+1) turn by pos · base^(-2i/head_dim).
    fn rope(&mut self, x: &mut Self::Buf, rows: usize, n_heads: usize, head_dim: usize, pos0: usize, base: f32);
    /// `rope` of q (n_heads a row) and of k (n_kv_heads a row), the same
    /// numbers as two calls (the GPU does both in one dispatch).
    #[allow(clippy::too_many_arguments)]
    fn rope_qk(&mut self, q: &mut Self::Buf, k: &mut Self::Buf, rows: usize, n_heads: usize, n_kv_heads: usize, head_dim: usize, pos0: usize, base: f32) {
        self.rope(q, rows, n_heads, head_dim, pos0, base);
        self.rope(k, rows, n_kv_heads, head_dim, pos0, base);
    }
    /// outs[i] (rows × ws[i].rows) = rmsnorm(x, g) · ws[i]ᵀ: the norm and
    /// the projections that read it (q, k, v). The same numbers as
    /// `rmsnorm` into `normed` then a `matmul` each, which is what this
    /// does unless a backend fuses them (the GPU does, for matrices that
    /// `upload_mats` kept together: one dispatch, `normed` not written).
    #[allow(clippy::too_many_arguments)]
    fn norm_matmul(&mut self, x: &Self::Buf, g: &Self::Vec, eps: f32, ws: &[&Self::Mat], outs: &mut [&mut Self::Buf], normed: &mut Self::Buf, rows: usize) {
        unfused_norm_matmul(self, x, g, eps, ws, outs, normed, rows);
    }
    /// The attention's inputs: outs = rmsnorm(x, g) · [wq, wk, wv]ᵀ, then
    /// RoPE on q (outs[0]) and k (outs[1]). The same numbers as
    /// `norm_matmul` then `rope_qk`, which is what this does unless a
    /// backend fuses them (the GPU turns q and k as its fused q/k/v kernel
    /// stores them: one dispatch).
    #[allow(clippy::too_many_arguments)]
    fn norm_qkv_rope(&mut self, x: &Self::Buf, g: &Self::Vec, eps: f32, ws: &[&Self::Mat], outs: &mut [&mut Self::Buf], normed: &mut Self::Buf, rows: usize, rope: RopeAt) {
        unfused_norm_qkv_rope(self, x, g, eps, ws, outs, normed, rows, rope);
    }
    /// out = silu(n · gateᵀ) ⊙ (n · upᵀ) with n = rmsnorm(x, g): the FFN's
    /// first half. The same numbers as `rmsnorm` into `normed`, `matmul`s
    /// into `out` and `up_out`, then `swiglu`, which is what this does
    /// unless a backend fuses them (one GPU dispatch; `normed` and
    /// `up_out` then not written).
    #[allow(clippy::too_many_arguments)]
    fn norm_glu(&mut self, x: &Self::Buf, g: &Self::Vec, eps: f32, gate: &Self::Mat, up: &Self::Mat, out: &mut Self::Buf, up_out: &mut Self::Buf, normed: &mut Self::Buf, rows: usize, n: usize) {
        unfused_norm_glu(self, x, g, eps, gate, up, out, up_out, normed, rows, n);
    }
    /// Store k, v (rows × kv_dim) at positions pos0.. in `cache`, then causal
    /// attention of q (rows × n_heads·head_dim) over positions 0..=pos0+r:
    /// softmax(q·kᵀ/√head_dim)·v into `out`. The softmax weights are written
    /// to `probs`, starting at the given float offset, as (rows, n_heads,
    /// kv_len), zero above the diagonal: the attention trace. q and each
    /// row's log Σ exp(scores) go into the cache too (see `attn_map`).
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &mut self,
        s: AttnShape,
        q: &Self::Buf,
        k: &Self::Buf,
        v: &Self::Buf,
        cache: &mut Self::Cache,
        out: &mut Self::Buf,
        probs: (&mut Self::Buf, usize),
    );
    /// The rest of a layer after q, k and v: `attention` into `t.heads`,
    /// x += W_o · heads, then the FFN, x += W_down · norm_glu(x). The
    /// numbers of those ops one after the other (`unfused_attention_ffn`,
    /// what this does by default), except that a backend may fold W_o into
    /// the attention: the GPU does for one row, where each head's share of
    /// W_o · heads is added to x head by head by the FFN's two kernels
    /// (three dispatches instead of four; the same sum in another order).
    /// `t.heads` then holds the normed input, not the heads.
    /// `taps` copies out what the map reads (the heads, the two updates, the
    /// FFN's neurons) without changing a number of x: a step that keeps
    /// them is the step that does not.
    #[allow(clippy::too_many_arguments)]
    fn attention_ffn(&mut self, s: AttnShape, q: &Self::Buf, k: &Self::Buf, v: &Self::Buf, cache: &mut Self::Cache, probs: (&mut Self::Buf, usize), x: &mut Self::Buf, w: &LayerTail<Self>, t: TailBufs<Self>, taps: TailTaps<Self>) {
        unfused_attention_ffn(self, s, q, k, v, cache, probs, x, w, t, taps);
    }
    /// Sampled weights of query head `head`'s attention, from the cache
    /// alone: `idx` holds n_rows query positions then n_cols key positions
    /// (u32 bits in f32 slots); for i < n_rows, j < n_cols, with r = idx[i]
    /// and c = idx[n_rows + j], out[offset + i·n_cols + j] =
    /// exp(q_r·k_c/√head_dim − lse_r) when c ≤ r, else 0 (the causal mask).
    #[allow(clippy::too_many_arguments)]
    fn attn_map(&mut self, cache: &Self::Cache, head: usize, idx: &Self::Buf, n_rows: usize, n_cols: usize, out: &mut Self::Buf, offset: usize);
    /// For each of `rows` rows of `n` logits, the packed per-chunk top-k into
    /// `out` (`topk_len(n)` floats a row; see `merge_topk`).
    fn topk(&mut self, logits: &Self::Buf, rows: usize, n: usize, out: &mut Self::Buf);
    /// Play ahead: the greedy token of `topk` (one row's packed top-k of
    /// `n` logits; the first of `merge_topk`'s order) becomes the token the
    /// next `embed_picked` embeds, without reading it back.
    fn pick(&mut self, topk: &Self::Buf, n: usize);
    /// out = the row of `table` for the token the last `pick` chose.
    fn embed_picked(&mut self, table: &Self::Mat, out: &mut Self::Buf);
    /// For each of `rows` rows of `n` logits and its target id (`targets`,
    /// u32 bits in f32 slots): out[2r] = the target's logit, out[2r + 1] =
    /// how many logits are larger (its rank, from 0). A target ≥ n gives (0, −1).
    fn token_rank(&mut self, logits: &Self::Buf, rows: usize, n: usize, targets: &Self::Buf, out: &mut Self::Buf);
    /// Multiply each head's slice of x (rows × n_heads·head_dim) by
    /// mask[offset + head]: 0 switches a head off (ablation), 1 keeps it.
    #[allow(clippy::too_many_arguments)]
    fn mask_heads(&mut self, x: &mut Self::Buf, rows: usize, n_heads: usize, head_dim: usize, mask: &Self::Buf, offset: usize);
    /// The cache's K and V buffers, (capacity, kv_dim) each.
    fn cache_kv(cache: &Self::Cache) -> (&Self::Buf, &Self::Buf);
    /// gate[i] = silu(gate[i]) · up[i] for i < len.
    fn swiglu(&mut self, gate: &mut Self::Buf, up: &Self::Buf, len: usize);
    /// x[i] += y[i] for i < len.
    fn add(&mut self, x: &mut Self::Buf, y: &Self::Buf, len: usize);
    /// dst[dst_off..dst_off + len] = src[src_off..src_off + len].
    fn copy(&mut self, src: &Self::Buf, src_off: usize, dst: &mut Self::Buf, dst_off: usize, len: usize);
    /// Run everything recorded so far and bring the first `len` floats of
    /// each buffer to the host. The only point where a backend waits for its
    /// device, once per forward pass; async because a browser cannot block.
    #[allow(async_fn_in_trait)]
    async fn read(&mut self, bufs: &[(&Self::Buf, usize)]) -> Result<Vec<Vec<f32>>>;

    /// Benchmarks: start timing each kernel, if the device can (false if not).
    fn enable_profiling(&mut self) -> bool {
        false
    }
    /// Benchmarks: (kernel, total ms, dispatches) since the last call, most expensive first.
    fn take_profile(&mut self) -> Vec<(String, f64, usize)> {
        Vec::new()
    }
    /// Benchmarks: device dispatches in the last forward pass, where that means something.
    fn last_dispatches(&self) -> Option<usize> {
        None
    }
    /// Start what is recorded so far on its way (a GPU submits it) so that
    /// no submission holds more than a bounded amount of work (a long
    /// prefill: see `Model::layers`). Changes no number; by default nothing.
    fn flush(&mut self) {}
    /// Submissions to the device so far, where that means something.
    fn submissions(&self) -> Option<usize> {
        None
    }
    /// Benchmarks: readbacks from the device so far and the bytes they
    /// brought, where that means something.
    fn readbacks(&self) -> Option<(usize, u64)> {
        None
    }
}
