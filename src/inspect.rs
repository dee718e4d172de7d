//! Read-only questions about the current sequence, answered from the
//! attention caches: they never write the caches, so every later step, undo
//! and logit stays bit-identical to what it would have been without them.
//!
//! Attention maps: any head's weights at any (query, key) point, computed
//! again from the stored q, K and log-sum-exp instead of being kept for every
//! step (30 × 9 × T² weights at T = 8,192 would be 72 GB of f32).

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::model::forward::{AblationBufs, MapScratch, ProbeBufs, Taps};
use crate::model::{Config, Model, State};
use crate::error::{Error, Result};

/// Attention weights at sampled points: for each (layer, query head) in
/// `heads`, the weight of each query position in `rows` on each key
/// position in `cols` (0 where the key comes after the query: the causal
/// mask). One head's full map: rows = cols = 0..T; a thumbnail: a few
/// evenly spaced rows and columns; one query's row: rows = [q], cols = 0..=q.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapRequest {
    pub heads: Vec<(usize, usize)>,
    pub rows: Vec<u32>,
    pub cols: Vec<u32>,
}

impl MapRequest {
    /// Floats in the answer: heads × rows × cols.
    pub fn len(&self) -> usize {
        self.heads.len() * self.rows.len() * self.cols.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// At most `n` positions spread evenly over 0..len: every s-th one from
    /// 0, with the whole stride s = ⌈len / n⌉ (all of them when n ≥ len).
    /// The sampling every view uses; as `len` grows the positions only gain
    /// new ones at the end until the stride changes, so views can keep what
    /// they have and ask for the new rows alone.
    pub fn spread(len: usize, n: usize) -> Vec<u32> {
        let stride = len.div_ceil(n.max(1)).max(1);
        (0..len as u32).step_by(stride).collect()
    }
    /// The longest sequence whose whole n × n map of one head one request holds.
    pub fn max_square() -> usize {
        let n = (MAX_MAP_FLOATS as f64).sqrt() as usize;
        n.min(MAX_MAP_POSITIONS / 2)
    }
}

/// Most floats one map request may ask for (32 MB).
pub const MAX_MAP_FLOATS: usize = 1 << 23;
/// Rows the lens sends through the output matrix at once.
const LENS_BATCH: usize = 16;

/// Most positions (rows + cols) one map request may name.
pub const MAX_MAP_POSITIONS: usize = 1 << 16;

impl<B: Backend> Model<B> {
    /// Answer `req` for a sequence of `len` positions held in `st`:
    /// heads × rows × cols weights, in that order.
    pub async fn attention_maps(&self, b: &mut B, st: &mut State<B>, len: usize, req: &MapRequest) -> Result<Vec<f32>> {
        let c = &self.config;
        if let Some(&(l, h)) = req.heads.iter().find(|&&(l, h)| l >= c.n_layers || h >= c.n_heads) {
            return Err(Error::Usage(format!("layer {l} head {h} is outside the model ({} layers × {} heads)", c.n_layers, c.n_heads)));
        }
        if let Some(&p) = req.rows.iter().chain(&req.cols).find(|&&p| p as usize >= len) {
            return Err(Error::Usage(format!("position {p} is past the end of the sequence ({len} tokens)")));
        }
        let (n_rows, n_cols) = (req.rows.len(), req.cols.len());
        if req.is_empty() {
            return Ok(Vec::new());
        }
        if req.len() > MAX_MAP_FLOATS || n_rows + n_cols > MAX_MAP_POSITIONS {
            return Err(Error::Usage(format!(
                "an attention map request may ask for at most {MAX_MAP_FLOATS} weights and {MAX_MAP_POSITIONS} positions, got {} and {}",
                req.len(),
                n_rows + n_cols
            )));
        }
        // Scratch grows by doubling and is kept, so steady use allocates nothing.
        let need = (n_rows + n_cols, req.len());
        let fits = st.maps.as_ref().is_some_and(|m| m.positions_len >= need.0 && m.out_len >= need.1);
        if !fits {
            let (a, o) = st.maps.as_ref().map_or((0, 0), |m| (m.positions_len, m.out_len));
            let (a, o) = (a.max(need.0).next_power_of_two().max(256), o.max(need.1).next_power_of_two().max(4096));
            if let Some(m) = st.maps.take() {
                b.free(m.positions);
                b.free(m.out);
            }
            st.maps = Some(MapScratch { positions: b.buf(a), positions_len: a, out: b.buf(o), out_len: o });
        }
        let m = st.maps.as_mut().expect("map scratch");
        let positions: Vec<f32> = req.rows.iter().chain(&req.cols).map(|&p| f32::from_bits(p)).collect();
        b.write_f32(&mut m.positions, &positions);
        for (i, &(l, h)) in req.heads.iter().enumerate() {
            b.attn_map(&st.caches[l], h, &m.positions, n_rows, n_cols, &mut m.out, i * n_rows * n_cols);
        }
        let mut got = b.read(&[(&m.out, req.len())]).await?;
        Ok(got.pop().expect("one buffer read"))
    }
}

/// Heads switched off: each listed (layer, query head)'s output is set to
/// zero before W_o, in every position, for as long as the ablation holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ablation {
    /// Sorted, without repeats.
    pub off: Vec<(usize, usize)>,
}

impl Ablation {
    pub fn new(mut off: Vec<(usize, usize)>) -> Ablation {
        off.sort_unstable();
        off.dedup();
        Ablation { off }
    }

    /// "L:H,L:H,…" (spaces allowed); an empty string is no ablation.
    pub fn parse(s: &str) -> Result<Ablation> {
        let mut off = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || Error::BadArgument(format!("bad head {part:?} in --ablate: write LAYER:HEAD, e.g. 3:5 (several separated by commas)"));
            let (l, h) = part.split_once(':').ok_or_else(bad)?;
            off.push((l.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?));
        }
        Ok(Ablation::new(off))
    }

    pub fn is_empty(&self) -> bool {
        self.off.is_empty()
    }

    /// Every head must be in the model.
    pub fn check(&self, c: &Config) -> Result<()> {
        match self.off.iter().find(|&&(l, h)| l >= c.n_layers || h >= c.n_heads) {
            Some(&(l, h)) => Err(Error::BadArgument(format!(
                "there is no head {l}:{h}: the model has layers 0–{} and heads 0–{}",
                c.n_layers - 1,
                c.n_heads - 1
            ))),
            None => Ok(()),
        }
    }
}

/// Which head and position to probe; `max_keys` keeps only the keys with
/// the largest weights (all of them when None).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeAt {
    pub layer: usize,
    pub head: usize,
    pub pos: usize,
    pub max_keys: Option<usize>,
}

/// One key as the probed query sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeKey {
    pub pos: usize,
    pub id: u32,
    /// k after RoPE, from the KV head the query head reads.
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    /// q·k
    pub score: f32,
    /// q·k / √head_dim
    pub scaled: f32,
    /// softmax over the scaled scores of keys 0..=pos (as the forward pass computed it).
    pub weight: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neuron {
    pub neuron: usize,
    pub value: f32,
}

/// Every number of one head at one position (see `Model::probe`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub layer: usize,
    pub head: usize,
    pub kv_head: usize,
    pub pos: usize,
    pub token: u32,
    /// √(mean x²) of the residual entering the layer.
    pub rms: f32,
    /// The first values of the residual after the layer's RMSNorm.
    pub normed: Vec<f32>,
    pub q_pre_rope: Vec<f32>,
    pub q: Vec<f32>,
    /// RoPE angles at `pos` (radians), one per pair of dimensions.
    pub angles: Vec<f32>,
    /// Keys 0..=pos, in order (all of them, or the heaviest when limited).
    pub keys: Vec<ProbeKey>,
    /// Keys the query could see (pos + 1), whether listed or not.
    pub n_keys: usize,
    /// Σ_j w_j v_j: this head's output.
    pub out: Vec<f32>,
    /// W_o applied to this head's output alone: its update to the residual stream.
    pub contribution: Vec<f32>,
    pub contribution_norm: f32,
    /// The 10 neurons of the layer's FFN with the largest |silu(gate)·up|.
    pub ffn_top: Vec<Neuron>,
    pub ffn_norm: f32,
}

/// A token the lens puts at some rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LensToken {
    pub id: u32,
    pub logit: f32,
    pub prob: f32,
}

/// What the model would predict if it stopped after one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LensLayer {
    pub layer: usize,
    pub top: Vec<LensToken>,
    /// The token that actually follows the position, when there is one.
    pub next: Option<NextToken>,
}

/// The token that came next, as one layer's lens ranks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextToken {
    pub id: u32,
    pub logit: f32,
    pub prob: f32,
    /// 0 = the lens's top token.
    pub rank: usize,
}

/// The logit lens at one position: one entry per layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lens {
    pub pos: usize,
    pub layers: Vec<LensLayer>,
}

/// Compare mode: the layer where two lenses part, the first layer from
/// which their top tokens differ at every later layer (0 when they differ
/// at every layer). None when they agree at the last layer (or a lens is
/// empty): the two predictions never part.
pub fn parting_layer(a: &Lens, b: &Lens) -> Option<usize> {
    let top = |l: &LensLayer| l.top.first().map(|t| t.id);
    let same: Vec<bool> = a.layers.iter().zip(&b.layers).map(|(x, y)| top(x).is_some() && top(x) == top(y)).collect();
    if same.last().copied().unwrap_or(true) {
        return None;
    }
    Some(same.iter().rposition(|&s| s).map_or(0, |l| l + 1))
}

/// The L2 norm of each layer's two updates to the residual stream at one
/// position: which layers do the work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Residual {
    pub pos: usize,
    pub attention: Vec<f32>,
    pub ffn: Vec<f32>,
}

/// ‖v‖, summed in f64.
pub(crate) fn norm(v: &[f32]) -> f32 {
    v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt() as f32
}

impl<B: Backend> Model<B> {
    /// Switch heads off (or all back on with an empty ablation) for the
    /// forward passes that follow; the caller recomputes the sequence.
    pub fn set_ablation(&self, b: &mut B, st: &mut State<B>, a: &Ablation) -> Result<()> {
        let c = &self.config;
        a.check(c)?;
        // What the map kept was computed with the old heads.
        if let Some(k) = st.keep.as_mut() {
            k.clear();
        }
        if let Some(old) = st.ablation.take() {
            b.free(old.mask);
        }
        if a.is_empty() {
            return Ok(());
        }
        let mut mask = vec![1f32; c.n_layers * c.n_heads];
        let mut layers = vec![false; c.n_layers];
        for &(l, h) in &a.off {
            mask[l * c.n_heads + h] = 0.0;
            layers[l] = true;
        }
        st.ablation = Some(AblationBufs { mask: b.upload_f32(&mask), layers });
        Ok(())
    }

    fn check_positions(&self, tokens: &[u32], positions: &[usize]) -> Result<()> {
        match positions.iter().find(|&&p| p >= tokens.len()) {
            Some(p) => Err(Error::BadArgument(format!("position {p} is past the end of the sequence ({} tokens)", tokens.len()))),
            None => Ok(()),
        }
    }

    /// Every number of query head `at.head` of `at.layer` at position
    /// `at.pos` of `tokens` (already in the caches), from a read-only pass of
    /// that one token: nothing in the caches changes. Kept keys are listed
    /// in position order.
    pub async fn probe(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], at: ProbeAt) -> Result<Probe> {
        let c = &self.config;
        let ProbeAt { layer, head, pos, max_keys } = at;
        if layer >= c.n_layers || head >= c.n_heads {
            return Err(Error::BadArgument(format!("there is no head {layer}:{head}: the model has layers 0–{} and heads 0–{}", c.n_layers - 1, c.n_heads - 1)));
        }
        self.check_positions(tokens, &[pos])?;
        let (d, hd, kvd) = (c.dim, c.head_dim, c.kv_dim());
        let kv_head = head / c.group_size();
        let mut one_hot = vec![0f32; c.n_heads];
        one_hot[head] = 1.0;
        let mut pb = ProbeBufs {
            layer,
            x_in: b.buf(d),
            normed: b.buf(d),
            q_pre: b.buf(d),
            q: b.buf(d),
            attn: b.buf(d),
            one_hot: b.upload_f32(&one_hot),
            alone: b.buf(d),
            contribution: b.buf(d),
            neurons: b.buf(c.ffn_dim),
            ffn: b.buf(d),
        };
        self.layers(b, st, &tokens[pos..=pos], pos, &mut Taps { store: false, upto: Some(layer + 1), probe: Some(&mut pb), ..Taps::default() });
        let n = pos + 1;
        let (kc, vc) = B::cache_kv(&st.caches[layer]);
        let reads = [
            (&pb.x_in, d),
            (&pb.normed, d),
            (&pb.q_pre, d),
            (&pb.q, d),
            (&pb.attn, d),
            (&pb.contribution, d),
            (&pb.neurons, c.ffn_dim),
            (&pb.ffn, d),
            (&st.probs, c.n_heads * n),
            (kc, n * kvd),
            (vc, n * kvd),
        ];
        let got = b.read(&reads).await;
        for buf in [pb.x_in, pb.normed, pb.q_pre, pb.q, pb.attn, pb.one_hot, pb.alone, pb.contribution, pb.neurons, pb.ffn] {
            b.free(buf);
        }
        let got = got?;
        let [x_in, normed, q_pre, q, attn, contribution, neurons, ffn, probs, ks, vs] = <[Vec<f32>; 11]>::try_from(got).map_err(|_| Error::Backend("probe: short read".into()))?;
        let head_slice = |v: &[f32]| v[head * hd..(head + 1) * hd].to_vec();
        let qh = head_slice(&q);
        let scale = 1.0 / (hd as f32).sqrt();
        let weights = &probs[head * n..(head + 1) * n];
        let mut keys: Vec<ProbeKey> = (0..n)
            .map(|j| {
                let k = ks[j * kvd + kv_head * hd..j * kvd + (kv_head + 1) * hd].to_vec();
                let v = vs[j * kvd + kv_head * hd..j * kvd + (kv_head + 1) * hd].to_vec();
                let score = crate::quant::dot_f32(&qh, &k);
                ProbeKey { pos: j, id: tokens[j], k, v, score, scaled: score * scale, weight: weights[j] }
            })
            .collect();
        if let Some(m) = max_keys.filter(|&m| m < keys.len()) {
            keys.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.pos.cmp(&b.pos)));
            keys.truncate(m);
            keys.sort_by_key(|k| k.pos);
        }
        let mut top: Vec<Neuron> = neurons.iter().enumerate().map(|(neuron, &value)| Neuron { neuron, value }).collect();
        top.sort_by(|a, b| b.value.abs().total_cmp(&a.value.abs()).then(a.neuron.cmp(&b.neuron)));
        top.truncate(10);
        let rms = (x_in.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / d as f64).sqrt() as f32;
        Ok(Probe {
            layer,
            head,
            kv_head,
            pos,
            token: tokens[pos],
            rms,
            normed: normed[..16.min(d)].to_vec(),
            q_pre_rope: head_slice(&q_pre),
            q: qh,
            angles: crate::backend::rope_angles(pos, hd, c.rope_base),
            keys,
            n_keys: n,
            out: head_slice(&attn),
            contribution_norm: norm(&contribution),
            contribution,
            ffn_top: top,
            ffn_norm: norm(&ffn),
        })
    }

    /// The logit lens at positions p0..p1 of `tokens` (already in the
    /// caches): for each layer, the residual stream after it through the
    /// final RMSNorm and the output matrix, the `top` most likely tokens of
    /// the full softmax, and the token that actually follows with its rank.
    /// Read-only; the last layer's lens is the model's own prediction.
    pub async fn lens(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], p0: usize, p1: usize, top: usize) -> Result<Vec<Lens>> {
        if top == 0 || top > crate::backend::TOPK_K {
            return Err(Error::BadArgument(format!("the lens shows 1 to {} tokens per layer, not {top}", crate::backend::TOPK_K)));
        }
        if p0 >= p1 {
            return Ok(Vec::new());
        }
        self.check_positions(tokens, &[p1 - 1])?;
        self.lens_range(b, st, tokens, p0, p1, top, false).await
    }

    /// The model's own next-token distribution after each of the positions
    /// p0..p1 (the lens's last layer alone): its top tokens and the rank and
    /// probability of the token that actually followed. Read-only.
    pub async fn next_tokens(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], p0: usize, p1: usize, top: usize) -> Result<Vec<Lens>> {
        if top == 0 || top > crate::backend::TOPK_K {
            return Err(Error::BadArgument(format!("1 to {} tokens per position, not {top}", crate::backend::TOPK_K)));
        }
        if p0 >= p1 {
            return Ok(Vec::new());
        }
        self.check_positions(tokens, &[p1 - 1])?;
        self.lens_range(b, st, tokens, p0, p1, top, true).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn lens_range(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], p0: usize, p1: usize, top: usize, last_only: bool) -> Result<Vec<Lens>> {
        let mut out = Vec::with_capacity(p1 - p0);
        let mut at = p0;
        while at < p1 {
            let rows = (p1 - at).min(st.max_rows);
            out.extend(self.lens_rows(b, st, tokens, at, rows, top, last_only).await?);
            at += rows;
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    async fn lens_rows(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], p0: usize, rows: usize, top: usize, last_only: bool) -> Result<Vec<Lens>> {
        let c = &self.config;
        let (d, vocab) = (c.dim, c.vocab_size);
        // With `last_only`, one "layer": the residual after the last one.
        let (nl, first_layer) = if last_only { (1, c.n_layers - 1) } else { (c.n_layers, 0) };
        let tl = crate::backend::topk_len(vocab);
        let mut res = b.buf(nl * rows * d);
        if last_only {
            self.layers(b, st, &tokens[p0..p0 + rows], p0, &mut Taps { store: false, ..Taps::default() });
            b.copy(&st.acts.x, 0, &mut res, 0, rows * d);
        } else {
            self.layers(b, st, &tokens[p0..p0 + rows], p0, &mut Taps { store: false, residuals: Some(&mut res), ..Taps::default() });
        }
        let targets: Vec<f32> = (p0..p0 + rows).map(|p| f32::from_bits(tokens.get(p + 1).copied().unwrap_or(u32::MAX))).collect();
        // Several layers' rows go through the output matrix together (a
        // batched matmul reads each weight once for all of them).
        let per = (LENS_BATCH / rows).max(1).min(nl);
        let batch = per * rows;
        let repeated: Vec<f32> = (0..batch).map(|i| targets[i % rows]).collect();
        let (mut xr, mut normed, mut logits) = (b.buf(batch * d), b.buf(batch * d), b.buf(batch * vocab));
        let (mut tk, mut rk, tgt) = (b.buf(batch * tl), b.buf(2 * batch), b.upload_f32(&repeated));
        let (mut acc_tk, mut acc_rk) = (b.buf(nl * rows * tl), b.buf(nl * rows * 2));
        for l0 in (0..nl).step_by(per) {
            // Residuals are (layer, row, dim): layers l0..l0+k are contiguous.
            let n = (nl - l0).min(per) * rows;
            b.copy(&res, l0 * rows * d, &mut xr, 0, n * d);
            b.rmsnorm(&xr, &self.weights.output_norm, &mut normed, n, c.norm_eps);
            b.matmul(&normed, self.weights.lm_head(), &mut logits, n);
            b.topk(&logits, n, vocab, &mut tk);
            b.token_rank(&logits, n, vocab, &tgt, &mut rk);
            b.copy(&tk, 0, &mut acc_tk, l0 * rows * tl, n * tl);
            b.copy(&rk, 0, &mut acc_rk, l0 * rows * 2, n * 2);
        }
        let got = b.read(&[(&acc_tk, nl * rows * tl), (&acc_rk, nl * rows * 2)]).await;
        for buf in [res, xr, normed, logits, tk, rk, tgt, acc_tk, acc_rk] {
            b.free(buf);
        }
        let got = got?;
        let (tks, rks) = (&got[0], &got[1]);
        Ok((0..rows)
            .map(|r| Lens {
                pos: p0 + r,
                layers: (0..nl)
                    .map(|l| {
                        let i = l * rows + r;
                        let (best, log_z) = crate::backend::merge_topk(&tks[i * tl..(i + 1) * tl], vocab);
                        let tok = |id: u32, logit: f32| LensToken { id, logit, prob: (logit - log_z).exp() };
                        let (logit, rank) = (rks[2 * i], rks[2 * i + 1]);
                        let next = (rank >= 0.0).then(|| NextToken { id: targets[r].to_bits(), logit, prob: (logit - log_z).exp(), rank: rank as usize });
                        LensLayer { layer: first_layer + l, top: best.iter().take(top).map(|&(id, l)| tok(id, l)).collect(), next }
                    })
                    .collect(),
            })
            .collect())
    }

    /// The residual stream after each layer at `pos` (n_layers × dim).
    pub async fn residual_stream(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], pos: usize) -> Result<Vec<Vec<f32>>> {
        self.check_positions(tokens, &[pos])?;
        let (d, nl) = (self.config.dim, self.config.n_layers);
        let mut res = b.buf(nl * d);
        self.layers(b, st, &tokens[pos..=pos], pos, &mut Taps { store: false, residuals: Some(&mut res), ..Taps::default() });
        let got = b.read(&[(&res, nl * d)]).await;
        b.free(res);
        Ok(got?.pop().expect("one read").chunks(d).map(<[f32]>::to_vec).collect())
    }

    /// The norms of every layer's attention and FFN updates at `pos`.
    pub async fn residual(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], pos: usize) -> Result<Residual> {
        self.check_positions(tokens, &[pos])?;
        let (d, nl) = (self.config.dim, self.config.n_layers);
        let mut u = b.buf(2 * nl * d);
        self.layers(b, st, &tokens[pos..=pos], pos, &mut Taps { store: false, updates: Some(&mut u), ..Taps::default() });
        let got = b.read(&[(&u, 2 * nl * d)]).await;
        b.free(u);
        let got = got?.pop().expect("one read");
        let norms: Vec<f32> = got.chunks(d).map(norm).collect();
        Ok(Residual { pos, attention: norms.iter().step_by(2).copied().collect(), ffn: norms.iter().skip(1).step_by(2).copied().collect() })
    }
}
