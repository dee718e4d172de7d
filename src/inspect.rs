//! Read-only questions about the current sequence, answered from the
//! attention caches: they never write the caches, so every later step, undo
//! and logit stays bit-identical to what it would have been without them.
//!
//! Attention maps: any head's weights at any (query, key) point, computed
//! again from the stored q, K and log-sum-exp instead of being kept for every
//! step (30 × 9 × T² weights at T = 8,192 would be 72 GB of f32).

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::model::forward::MapScratch;
use crate::model::{Model, State};
use crate::{Error, Result};

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
}

/// Most floats one map request may ask for (32 MB).
pub const MAX_MAP_FLOATS: usize = 1 << 23;
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
