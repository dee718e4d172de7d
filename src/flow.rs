//! How information flowed to a position: for every layer and position, the
//! share of that layer's update to the residual stream that came from each
//! earlier position through each head, and from the position's own FFN.
//!
//! The measure (norm-based, as Kobayashi et al. 2020 for attention and
//! Ferrando and Voita 2024's information-flow graphs use it): at layer l
//! and position i, the attention block writes Σ_h Σ_{j≤i} w_{h,i,j} · W_o,h
//! v_{h,j}, one vector per (head, earlier position), and the FFN writes one
//! more. Each of those vectors' L2 norms, divided by the sum of all of them,
//! is an edge's share: j → i through h, or i → i through the FFN. The shares
//! into one (layer, position) sum to 1. A share says how large a
//! contribution is, not which way it points nor what it causes: vectors
//! can cancel, and an edge is not a causal proof.
//!
//! ‖W_o,h v‖² = vᵀ (W_o,hᵀ W_o,h) v: the small Gram matrix of each head's
//! slice of W_o is computed once (`Grams`) and kept by the caller.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::inspect::MapRequest;
use crate::model::forward::Taps;
use crate::model::{Model, State};

/// Through what an edge goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Head(usize),
    Ffn,
}

impl Serialize for Via {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match *self {
            Via::Head(h) => s.serialize_u64(h as u64),
            Via::Ffn => s.serialize_str("ffn"),
        }
    }
}

impl<'de> Deserialize<'de> for Via {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Via, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Via;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a head number or \"ffn\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Via, E> {
                Ok(Via::Head(v as usize))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Via, E> {
                if v == "ffn" {
                    Ok(Via::Ffn)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// One edge: at `layer`, from position `from` to position `to`, through a
/// head or the FFN, and its share of that layer's update at `to`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub layer: usize,
    pub from: usize,
    pub to: usize,
    pub head: Via,
    pub share: f32,
}

/// The edges into positions `p0..p1` (those at or above the threshold asked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    pub ids: Vec<u32>,
    pub p0: usize,
    pub p1: usize,
    pub edges: Vec<Edge>,
}

/// Each head's W_o,hᵀ W_o,h: (layer, head, head_dim, head_dim).
pub struct Grams(Vec<f32>);

impl Grams {
    /// ‖W_o,h v‖ = √(vᵀ G v) for head `h` of layer `l` (of `n_heads`) and a
    /// vector `v` of `head_dim`: one head's write's size without W_o.
    pub fn head_norm(&self, l: usize, h: usize, n_heads: usize, v: &[f32]) -> f32 {
        let hd = v.len();
        let g = &self.0[(l * n_heads + h) * hd * hd..(l * n_heads + h + 1) * hd * hd];
        let mut q = 0f64;
        for a in 0..hd {
            let ga = &g[a * hd..(a + 1) * hd];
            q += v[a] as f64 * ga.iter().zip(v).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>();
        }
        q.max(0.0).sqrt() as f32
    }
}

/// Head `h`'s Gram matrix W_o,hᵀ W_o,h (`hd` × `hd`, into `g`) from W_o
/// (`d` rows of `d`): each entry summed over the rows in order, in f64 (a
/// product of two f32 is exact there). Only the upper triangle is
/// computed and mirrored (the same sums: products commute), each row's
/// slice widened to f64 once; the inner loop is a contiguous f64 axpy.
pub fn gram(wo: &[f32], d: usize, h: usize, hd: usize, g: &mut [f32]) {
    let mut acc = vec![0f64; hd * hd];
    let mut row = vec![0f64; hd];
    for r in 0..d {
        for (x, &w) in row.iter_mut().zip(&wo[r * d + h * hd..r * d + (h + 1) * hd]) {
            *x = w as f64;
        }
        for a in 0..hd {
            let ra = row[a];
            for (s, &rb) in acc[a * hd + a..(a + 1) * hd].iter_mut().zip(&row[a..]) {
                *s += ra * rb;
            }
        }
    }
    for a in 0..hd {
        for b in a..hd {
            let v = acc[a * hd + b] as f32;
            g[a * hd + b] = v;
            g[b * hd + a] = v;
        }
    }
}

/// Most positions one flow question covers (the graph is for reading).
pub const MAX_FLOW_POSITIONS: usize = 128;

/// The edges that lead to (`n_layers`, `pos`) (the page draws only these),
/// layer by layer from the top:
/// an edge into a position already reached, at or above `t`, reaches its
/// source (and the residual stream carries every reached position down).
pub fn reaching(edges: &[Edge], n_layers: usize, pos: usize, t: f32) -> (Vec<Edge>, Vec<Vec<usize>>) {
    let mut reached = vec![Vec::new(); n_layers + 1];
    reached[n_layers] = vec![pos];
    let mut kept = Vec::new();
    for l in (0..n_layers).rev() {
        let mut now = reached[l + 1].clone();
        for e in edges.iter().filter(|e| e.layer == l && e.share >= t && reached[l + 1].contains(&e.to)) {
            kept.push(*e);
            if !now.contains(&e.from) {
                now.push(e.from);
            }
        }
        reached[l] = now;
    }
    (kept, reached)
}

impl<B: Backend> Model<B> {
    /// The Gram matrix of every head's slice of W_o (read once through the
    /// row lookup the embedding uses).
    pub async fn grams(&self, b: &mut B) -> Result<Grams> {
        let c = &self.config;
        let (d, hd, nh) = (c.dim, c.head_dim, c.n_heads);
        let mut out = vec![0f32; c.n_layers * nh * hd * hd];
        let rows: Vec<u32> = (0..d as u32).collect();
        let mut w = b.buf(d * d);
        for (l, lw) in self.weights.layers.iter().enumerate() {
            b.embed(&lw.wo, &rows, &mut w);
            let got = b.read(&[(&w, d * d)]).await;
            let wo = match got {
                Ok(mut g) => g.pop().expect("one read"),
                Err(e) => {
                    b.free(w);
                    return Err(e);
                }
            };
            // Heads in parallel on the CPU engine's threads (each writes
            // its own block; the numbers do not depend on who computes it).
            let block = &mut out[l * nh * hd * hd..(l + 1) * nh * hd * hd];
            crate::backend::pool::Pool::global().chunks(block, hd * hd, |h, g| gram(&wo, d, h, hd, g));
        }
        b.free(w);
        Ok(Grams(out))
    }

    /// The flow into positions p0..p1 of `tokens` (all in the caches),
    /// every edge whose share is at least `min_share`; heads in `off` are
    /// switched off (their edges are 0). Read-only.
    #[allow(clippy::too_many_arguments)]
    pub async fn flow(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], p0: usize, p1: usize, min_share: f32, off: &[(usize, usize)], grams: &Grams) -> Result<Flow> {
        let c = &self.config;
        let (d, hd, nh, nl, kvd, group) = (c.dim, c.head_dim, c.n_heads, c.n_layers, c.kv_dim(), c.group_size());
        if p0 >= p1 || p1 > tokens.len() {
            return Err(Error::BadArgument(format!("positions {p0}..{p1} are not within the sequence of {} tokens", tokens.len())));
        }
        if p1 - p0 > MAX_FLOW_POSITIONS {
            return Err(Error::BadArgument(format!("the flow covers at most {MAX_FLOW_POSITIONS} positions at once, not {}", p1 - p0)));
        }
        // Each layer's values at every position up to p1.
        let reads: Vec<(&B::Buf, usize)> = st.caches.iter().map(|cache| (B::cache_kv(cache).1, p1 * kvd)).collect();
        let vs = b.read(&reads).await?;
        // ‖W_o,h v_{g(h),j}‖ for every layer, head and position.
        let mut vnorm = vec![0f32; nl * nh * p1];
        for l in 0..nl {
            for h in 0..nh {
                let kv = h / group;
                for j in 0..p1 {
                    vnorm[(l * nh + h) * p1 + j] = grams.head_norm(l, h, nh, &vs[l][j * kvd + kv * hd..j * kvd + (kv + 1) * hd]);
                }
            }
        }
        // Each FFN's output norm at p0..p1, from read-only passes.
        let rows_all = p1 - p0;
        let mut ffn = vec![0f32; nl * rows_all];
        let mut at = p0;
        while at < p1 {
            let rows = (p1 - at).min(st.max_rows);
            let mut u = b.buf(2 * nl * rows * d);
            self.layers(b, st, &tokens[at..at + rows], at, &mut Taps { store: false, updates: Some(&mut u), ..Taps::default() });
            let got = b.read(&[(&u, 2 * nl * rows * d)]).await;
            b.free(u);
            let got = got?.pop().expect("one read");
            for l in 0..nl {
                for r in 0..rows {
                    let f = &got[((2 * l + 1) * rows + r) * d..((2 * l + 1) * rows + r + 1) * d];
                    ffn[l * rows_all + at - p0 + r] = f.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt() as f32;
                }
            }
            at += rows;
        }
        // The attention weights into p0..p1, layer by layer.
        let rows: Vec<u32> = (p0 as u32..p1 as u32).collect();
        let cols: Vec<u32> = (0..p1 as u32).collect();
        let mut edges = Vec::new();
        for l in 0..nl {
            let req = MapRequest { heads: (0..nh).map(|h| (l, h)).collect(), rows: rows.clone(), cols: cols.clone() };
            let w = self.attention_maps(b, st, tokens.len(), &req).await?;
            for i in p0..p1 {
                let r = i - p0;
                let mut parts: Vec<(usize, Via, f64)> = Vec::with_capacity(nh * (i + 1) + 1);
                for h in 0..nh {
                    if off.contains(&(l, h)) {
                        continue;
                    }
                    for j in 0..=i {
                        let weight = w[(h * rows.len() + r) * cols.len() + j] as f64;
                        parts.push((j, Via::Head(h), weight * vnorm[(l * nh + h) * p1 + j] as f64));
                    }
                }
                parts.push((i, Via::Ffn, ffn[l * rows_all + r] as f64));
                let z: f64 = parts.iter().map(|p| p.2).sum();
                for (from, head, v) in parts {
                    let share = if z > 0.0 { (v / z) as f32 } else { 0.0 };
                    if share >= min_share {
                        edges.push(Edge { layer: l, from, to: i, head, share });
                    }
                }
            }
        }
        Ok(Flow { ids: tokens[..p1].to_vec(), p0, p1, edges })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The triangle-and-mirror Gram is the plain loop's, bit for bit, on
    /// seeded random matrices of awkward sizes (head widths 1…64, odd
    /// widths), the worst element reported.
    #[test]
    fn gram_equals_the_plain_loop() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
        };
        for (nh, hd) in [(1, 1), (3, 5), (9, 64), (2, 33), (4, 16), (5, 7)] {
            let d = nh * hd + (hd % 3);
            let wo: Vec<f32> = (0..d * d).map(|_| next()).collect();
            let mut worst = 0f32;
            for h in 0..nh {
                let mut plain = vec![0f64; hd * hd];
                for r in 0..d {
                    let row = &wo[r * d + h * hd..r * d + (h + 1) * hd];
                    for a in 0..hd {
                        for b in 0..hd {
                            plain[a * hd + b] += row[a] as f64 * row[b] as f64;
                        }
                    }
                }
                let mut g = vec![f32::NAN; hd * hd];
                gram(&wo, d, h, hd, &mut g);
                for (x, &p) in g.iter().zip(&plain) {
                    worst = worst.max((x - p as f32).abs());
                    assert_eq!(x.to_bits(), (p as f32).to_bits(), "{nh} heads of {hd}, head {h}");
                }
            }
            eprintln!("{nh} heads of {hd}: worst |gram − plain| = {worst:e}");
        }
    }

    #[test]
    fn only_edges_that_lead_to_the_position_are_kept() {
        let e = |layer, from, to, share| Edge { layer, from, to, head: Via::Head(0), share };
        // Layer 1: 0 → 2 (kept), 1 → 3 (not on the way to 2). Layer 0: 1 → 0 (kept: 0 was reached), 3 → 3 (not).
        let edges = [e(1, 0, 2, 0.5), e(1, 1, 3, 0.9), e(0, 1, 0, 0.3), e(0, 3, 3, 0.9), e(0, 2, 2, 0.05)];
        let (kept, reached) = reaching(&edges, 2, 2, 0.1);
        assert_eq!(kept, vec![e(1, 0, 2, 0.5), e(0, 1, 0, 0.3)]);
        assert_eq!(reached[2], vec![2]);
        assert_eq!(reached[1], vec![2, 0]);
        assert_eq!(reached[0], vec![2, 0, 1]);
    }
}
