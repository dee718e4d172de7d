//! The numbers of the map of the whole network (one picture, from token to
//! probability): for one position, how large each piece of the residual
//! stream is as it passes through the blocks, and which tokens sit nearest
//! a token in embedding space.
//!
//! - The spine: |x| of the residual stream after each layer at the
//!   position, and at position 0, whose huge activations are what attention
//!   sinks rely on (the first token's norm grows by two orders of magnitude
//!   in a few layers and stays there).
//! - Each block's two updates, |attention| and |FFN|, and inside the
//!   attention update each head's own write (W_o applied to that head's
//!   output alone), so that a head's share of its layer is drawn.
//! - Each FFN's strongest neurons: neuron i of a layer writes
//!   h_i · W_down[:, i] to the stream (h = silu(W_gate n) ⊙ W_up n), so its
//!   write's size is |h_i| · ‖W_down[:, i]‖; the largest five per layer.
//! - The token's embedding row, and its nearest rows by cosine over the
//!   whole vocabulary, read as the forward pass reads them (dequantized).
//!
//! Read-only, like every question in `inspect`: passes over one position
//! that read the caches and write nothing.

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::flow::Grams;
use crate::inspect::norm;
use crate::model::forward::{KeepSlot, MapKeep, Taps};
use crate::model::{Model, State};

/// What the map draws for one position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapAt {
    pub pos: usize,
    /// The token at `pos`.
    pub token: u32,
    /// Its embedding row: the residual stream entering layer 0.
    pub embedding: Vec<f32>,
    /// |x| of the embedding row.
    pub embed_norm: f32,
    /// |x| of the residual stream after each layer, at `pos`.
    pub residual: Vec<f32>,
    /// The same at position 0 (the attention sink).
    pub first: Vec<f32>,
    /// |update| of each layer's attention block, and of its FFN.
    pub attention: Vec<f32>,
    pub ffn: Vec<f32>,
    /// |W_o · head h alone| for each layer's heads: (n_layers, n_heads).
    pub heads: Vec<Vec<f32>>,
    /// Each layer's strongest FFN neurons, largest write first.
    pub neurons: Vec<Vec<Neuron>>,
}

/// One FFN neuron at a position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Neuron {
    /// Its index in the layer's FFN (0..ffn_dim).
    pub index: u32,
    /// h_i = silu(W_gate n)_i · (W_up n)_i.
    pub act: f32,
    /// |h_i| · ‖W_down[:, i]‖: the size of what it writes to the stream.
    pub write: f32,
}

/// Neurons listed per layer.
pub const NEURONS: usize = 5;

/// What the map needs of the model once: each head's W_o Gram matrix and
/// each FFN neuron's ‖W_down[:, i]‖ (n_layers, ffn_dim).
pub struct MapModel {
    pub grams: Grams,
    pub down: Vec<f32>,
}

/// A token near another in embedding space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    pub id: u32,
    /// Cosine similarity of the two embedding rows.
    pub cos: f32,
}

/// The most tokens `nearest` lists.
pub const MAX_NEIGHBOURS: usize = 50;

/// Embedding rows read back at a time.
const CHUNK: usize = 2048;

impl<B: Backend> Model<B> {
    /// The map's numbers at `pos` of `tokens` (already in the caches): one
    /// read-only pass over that position. Each head's write's norm comes
    /// from its output and W_o's Gram matrix (`grams`, once per model);
    /// position 0's spine is `first` when the caller kept it (it depends
    /// only on the first token and the heads off), else a pass over it.
    pub async fn map_at(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], pos: usize, mm: &MapModel, first: Option<Vec<f32>>) -> Result<MapAt> {
        let c = &self.config;
        if pos >= tokens.len() {
            return Err(Error::BadArgument(format!("position {pos} is past the end of the sequence ({} tokens)", tokens.len())));
        }
        let (d, nl, nh, hd, f) = (c.dim, c.n_layers, c.n_heads, c.head_dim, c.ffn_dim);
        if mm.down.len() != nl * f {
            return Err(Error::BadArgument(format!("{} neuron scales for {nl} layers of {f}", mm.down.len())));
        }
        let first = match first.filter(|f| f.len() == nl) {
            Some(f) => f,
            None if pos == 0 => Vec::new(),
            None => self.spine_norms(b, st, tokens, 0).await?,
        };
        let mut embed = b.buf(d);
        b.embed(&self.weights.token_embd, &tokens[pos..=pos], &mut embed);
        let sizes = [nl * d, 2 * nl * d, nl * d, nl * f];
        // A kept position's numbers (the newest, or the one kept before it,
        // when asked to: `set_keep_map`): a readback. Else one read-only pass.
        let got = match st.keep.as_ref().and_then(|k| k.find(pos)) {
            Some(k) => b.read(&[(&k.res, sizes[0]), (&k.updates, sizes[1]), (&k.heads, sizes[2]), (&k.hidden, sizes[3]), (&embed, d)]).await,
            None => {
                let [mut res, mut updates, mut heads, mut hidden] = sizes.map(|n| b.buf(n));
                let taps = &mut Taps { store: false, residuals: Some(&mut res), updates: Some(&mut updates), heads_out: Some(&mut heads), ffn_hidden: Some(&mut hidden), ..Taps::default() };
                self.layers(b, st, &tokens[pos..=pos], pos, taps);
                let got = b.read(&[(&res, sizes[0]), (&updates, sizes[1]), (&heads, sizes[2]), (&hidden, sizes[3]), (&embed, d)]).await;
                for buf in [res, updates, heads, hidden] {
                    b.free(buf);
                }
                got
            }
        };
        b.free(embed);
        let [res, updates, heads, hidden, embedding] = <[Vec<f32>; 5]>::try_from(got?).map_err(|_| Error::Backend("map: short read".into()))?;
        let order = |a: &Neuron, b: &Neuron| b.write.total_cmp(&a.write).then(a.index.cmp(&b.index));
        let neurons = (0..nl)
            .map(|l| {
                let mut ns: Vec<Neuron> = (0..f).map(|i| Neuron { index: i as u32, act: hidden[l * f + i], write: hidden[l * f + i].abs() * mm.down[l * f + i] }).collect();
                // The strongest few, in order (a total order: the same as a full sort's first few).
                if ns.len() > NEURONS {
                    ns.select_nth_unstable_by(NEURONS - 1, order);
                    ns.truncate(NEURONS);
                }
                ns.sort_by(order);
                ns
            })
            .collect();
        let norms = |v: &[f32]| v.chunks(d).map(norm).collect::<Vec<f32>>();
        let up = norms(&updates);
        let residual = norms(&res);
        Ok(MapAt {
            pos,
            token: tokens[pos],
            embed_norm: norm(&embedding),
            embedding,
            first: if pos == 0 { residual.clone() } else { first },
            residual,
            attention: up.iter().step_by(2).copied().collect(),
            ffn: up.iter().skip(1).step_by(2).copied().collect(),
            heads: (0..nl).map(|l| (0..nh).map(|h| mm.grams.head_norm(l, h, nh, &heads[l * d + h * hd..l * d + (h + 1) * hd])).collect()).collect(),
            neurons,
        })
    }

    /// Keep (or stop keeping) the map's numbers from every one-token pass
    /// of `st` (and from the last step of a Play-ahead request), so that
    /// `map_at` at the newest position, or the one kept before it, reads
    /// them back instead of running a second pass. Costs a few copies per
    /// step and `2 · n_layers · (4 · dim + ffn_dim)` floats; changes no
    /// number.
    pub fn set_keep_map(&self, b: &mut B, st: &mut State<B>, on: bool) {
        let c = &self.config;
        match (st.keep.is_some(), on) {
            (false, true) => {
                let (d, nl, f) = (c.dim, c.n_layers, c.ffn_dim);
                let mut slot = || KeepSlot { res: b.buf(nl * d), updates: b.buf(2 * nl * d), heads: b.buf(nl * d), hidden: b.buf(nl * f), at: None };
                let slots = [slot(), slot()];
                st.keep = Some(MapKeep { slots, floats: 2 * nl * (4 * d + f) });
            }
            (true, false) => {
                let k = st.keep.take().expect("kept");
                for s in k.slots {
                    for buf in [s.res, s.updates, s.heads, s.hidden] {
                        b.free(buf);
                    }
                }
            }
            _ => {}
        }
    }

    /// What the map needs once per model (`MapModel`): the Gram matrices,
    /// and W_down's column norms, read back a layer at a time.
    pub async fn map_model(&self, b: &mut B) -> Result<MapModel> {
        let grams = self.grams(b).await?;
        let (d, f) = (self.config.dim, self.config.ffn_dim);
        let mut down = Vec::with_capacity(self.config.n_layers * f);
        let rows: Vec<u32> = (0..d as u32).collect();
        let mut buf = b.buf(d * f);
        for layer in &self.weights.layers {
            // (The embedding op reads rows of any matrix: W_down is dim × ffn_dim.)
            b.embed(&layer.w_down, &rows, &mut buf);
            let got = match b.read(&[(&buf, d * f)]).await {
                Ok(mut g) => g.pop().expect("one read"),
                Err(e) => {
                    b.free(buf);
                    return Err(e);
                }
            };
            let mut sq = vec![0f64; f];
            for r in got.chunks(f) {
                for (s, &x) in sq.iter_mut().zip(r) {
                    *s += x as f64 * x as f64;
                }
            }
            down.extend(sq.into_iter().map(|s| s.sqrt() as f32));
        }
        b.free(buf);
        Ok(MapModel { grams, down })
    }

    /// |x| of the residual stream after each layer at `pos` (read-only).
    pub async fn spine_norms(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], pos: usize) -> Result<Vec<f32>> {
        let (d, nl) = (self.config.dim, self.config.n_layers);
        if pos >= tokens.len() {
            return Err(Error::BadArgument(format!("position {pos} is past the end of the sequence ({} tokens)", tokens.len())));
        }
        let mut res = b.buf(nl * d);
        self.layers(b, st, &tokens[pos..=pos], pos, &mut Taps { store: false, residuals: Some(&mut res), ..Taps::default() });
        let got = b.read(&[(&res, nl * d)]).await;
        b.free(res);
        Ok(got?.pop().expect("one read").chunks(d).map(norm).collect())
    }

    /// Every embedding row's |x| (for `nearest`; once per model).
    pub async fn embedding_norms(&self, b: &mut B) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(self.config.vocab_size);
        self.each_embedding_chunk(b, |_, rows| out.extend(rows.chunks(self.config.dim).map(norm))).await?;
        Ok(out)
    }

    /// The `k` tokens whose embedding rows are nearest `id`'s by cosine
    /// (itself excluded; ties to the lower id), given every row's norm.
    pub async fn nearest(&self, b: &mut B, id: u32, norms: &[f32], k: usize) -> Result<Vec<Neighbour>> {
        let (v, d) = (self.config.vocab_size, self.config.dim);
        if id as usize >= v {
            return Err(Error::BadArgument(format!("token id {id} is outside the vocabulary (0..{v})")));
        }
        if norms.len() != v {
            return Err(Error::BadArgument(format!("{} norms for a vocabulary of {v}", norms.len())));
        }
        let k = k.clamp(1, MAX_NEIGHBOURS);
        let mut row = b.buf(d);
        b.embed(&self.weights.token_embd, &[id], &mut row);
        let got = b.read(&[(&row, d)]).await;
        b.free(row);
        let me: Vec<f64> = got?.pop().expect("one read").iter().map(|&x| x as f64).collect();
        let mine = norms[id as usize] as f64;
        let mut cos = vec![0f32; v];
        self.each_embedding_chunk(b, |first, rows| {
            for (i, r) in rows.chunks(d).enumerate() {
                let t = first + i;
                let dot: f64 = r.iter().zip(&me).map(|(&a, &b)| a as f64 * b).sum();
                let den = mine * norms[t] as f64;
                cos[t] = if den > 0.0 { (dot / den) as f32 } else { 0.0 };
            }
        })
        .await?;
        let mut order: Vec<u32> = (0..v as u32).filter(|&t| t != id).collect();
        order.sort_by(|&a, &b| cos[b as usize].total_cmp(&cos[a as usize]).then(a.cmp(&b)));
        Ok(order.into_iter().take(k).map(|t| Neighbour { id: t, cos: cos[t as usize] }).collect())
    }

    /// Read the embedding matrix back in chunks of rows, as the forward
    /// pass dequantizes them: `f(first id, rows)`.
    async fn each_embedding_chunk(&self, b: &mut B, mut f: impl FnMut(usize, &[f32])) -> Result<()> {
        let (v, d) = (self.config.vocab_size, self.config.dim);
        let mut buf = b.buf(CHUNK.min(v) * d);
        for first in (0..v).step_by(CHUNK) {
            let ids: Vec<u32> = (first as u32..(first + CHUNK).min(v) as u32).collect();
            b.embed(&self.weights.token_embd, &ids, &mut buf);
            match b.read(&[(&buf, ids.len() * d)]).await {
                Ok(mut got) => f(first, &got.pop().expect("one read")),
                Err(e) => {
                    b.free(buf);
                    return Err(e);
                }
            }
        }
        b.free(buf);
        Ok(())
    }
}
