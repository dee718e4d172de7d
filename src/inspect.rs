//! Read-only questions about the current sequence, answered from the
//! attention caches: they never write the caches, so every later step, undo
//! and logit stays bit-identical to what it would have been without them.
//!
//! Attention maps: any head's weights at any (query, key) point, computed
//! again from the stored q, K and log-sum-exp instead of being kept for every
//! step (30 × 9 × T² weights at T = 8,192 would be 72 GB of f32).

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
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
    /// `n` positions spread evenly over 0..len (all of them when n ≥ len):
    /// the sampling every view uses, so that thumbnails and zoomed-out maps
    /// hit the same points.
    pub fn spread(len: usize, n: usize) -> Vec<u32> {
        if n >= len {
            return (0..len as u32).collect();
        }
        (0..n).map(|i| ((i * len + len / 2) / n) as u32).collect()
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
        let fits = st.maps.as_ref().is_some_and(|((_, a), (_, o))| *a >= need.0 && *o >= need.1);
        if !fits {
            let (a, o) = st.maps.as_ref().map_or((0, 0), |((_, a), (_, o))| (*a, *o));
            let (a, o) = (a.max(need.0).next_power_of_two().max(256), o.max(need.1).next_power_of_two().max(4096));
            if let Some(((ib, _), (ob, _))) = st.maps.take() {
                b.free(ib);
                b.free(ob);
            }
            st.maps = Some(((b.buf(a), a), (b.buf(o), o)));
        }
        let ((idx, _), (out, _)) = st.maps.as_mut().expect("map scratch");
        let positions: Vec<f32> = req.rows.iter().chain(&req.cols).map(|&p| f32::from_bits(p)).collect();
        b.write_f32(idx, &positions);
        for (i, &(l, h)) in req.heads.iter().enumerate() {
            b.attn_map(&st.caches[l], h, idx, n_rows, n_cols, out, i * n_rows * n_cols);
        }
        let mut got = b.read(&[(&*out, req.len())]).await?;
        Ok(got.pop().expect("one buffer read"))
    }
}
