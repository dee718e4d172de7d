//! The model from scratch, for tests: a plain f64 forward pass over the
//! GGUF's weights (dequantized by `quant::dequantize`, the one piece shared
//! with the engine), written from the Llama architecture's definition and
//! nothing else of the engine's: no backend, no caches, no fused kernels.
//! Slow (about a second per ten tokens) and only as long as a test needs.

use glassbox::gguf::Gguf;
use glassbox::model::Config;
use glassbox::tensor::TensorData;

/// What the tests compare, at the last position (`pos`) of the sequence.
pub struct Reference {
    pub pos: usize,
    /// The token's embedding row.
    pub embed: Vec<f64>,
    /// [layer][head]: W_o applied to that head's output alone.
    pub heads: Vec<Vec<Vec<f64>>>,
    /// [layer]: the FFN block's output.
    pub ffn: Vec<Vec<f64>>,
    /// The residual stream after the last layer.
    pub x: Vec<f64>,
    /// [layer][head][query][key]: attention weights over the whole sequence.
    pub probs: Vec<Vec<Vec<Vec<f64>>>>,
    /// The final norm's gain.
    pub gain: Vec<f64>,
    /// Every logit.
    pub logits: Vec<f64>,
    /// When asked (`forward_flow`): [layer][head][position] ‖W_o,h v_{h,j}‖,
    /// and [layer][position] the FFN output's norm.
    pub vnorm: Vec<Vec<Vec<f64>>>,
    pub ffn_norm: Vec<Vec<f64>>,
    /// At every position, [layer][position]: the residual stream after the
    /// layer, the FFN block's output, and the heads' outputs before W_o
    /// (all heads, one after the other): what patching copies.
    pub res_all: Vec<Vec<Vec<f64>>>,
    pub ffn_all: Vec<Vec<Vec<f64>>>,
    pub heads_all: Vec<Vec<Vec<f64>>>,
    /// [layer]: the FFN's neurons, silu(W_gate n) ⊙ W_up n, at `pos`.
    pub ffn_hidden: Vec<Vec<f64>>,
}

/// A piece of another run copied into this one (activation patching).
pub enum Patch {
    /// The residual stream after block `layer` at `pos`.
    Residual { layer: usize, pos: usize },
    /// The FFN block's output in `layer` at `pos`.
    Ffn { layer: usize, pos: usize },
    /// Head `head`'s output (before W_o) in `layer` at every position.
    Head { layer: usize, head: usize },
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// A matrix of `rows` × `cols` as f32, row-major.
fn matrix(g: &Gguf, name: &str, rows: usize, cols: usize) -> Vec<f32> {
    let t = TensorData::get(g, name, rows, cols).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut out = vec![0f32; rows * cols];
    glassbox::quant::dequantize(t.ty, t.data, &mut out);
    out
}

/// W x for W of shape (rows, x.len()).
fn mul(w: &[f32], x: &[f64]) -> Vec<f64> {
    w.chunks_exact(x.len()).map(|row| row.iter().zip(x).map(|(&a, &b)| a as f64 * b).sum()).collect()
}

fn rmsnorm(x: &[f64], g: &[f32], eps: f64) -> Vec<f64> {
    let r = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64 + eps).sqrt();
    x.iter().zip(g).map(|(v, &g)| v / r * g as f64).collect()
}

/// RoPE as the GGUF llama layout has it: adjacent pairs (2i, 2i+1) of each
/// head turn by pos · base^(−2i/head_dim).
fn rope(v: &mut [f64], head_dim: usize, pos: usize, base: f64) {
    for head in v.chunks_exact_mut(head_dim) {
        for i in 0..head_dim / 2 {
            let t = pos as f64 * base.powf(-2.0 * i as f64 / head_dim as f64);
            let (c, s) = (t.cos(), t.sin());
            let (a, b) = (head[2 * i], head[2 * i + 1]);
            head[2 * i] = a * c - b * s;
            head[2 * i + 1] = a * s + b * c;
        }
    }
}

/// Run `ids` through the model, with the heads in `off` ((layer, head)) switched off.
pub fn forward(g: &Gguf, c: &Config, ids: &[u32], off: &[(usize, usize)]) -> Reference {
    run(g, c, ids, off, false, None)
}

/// `forward` with one piece of `clean` (a run of as many tokens) copied in.
pub fn forward_patched(g: &Gguf, c: &Config, ids: &[u32], patch: &Patch, clean: &Reference) -> Reference {
    run(g, c, ids, &[], false, Some((patch, clean)))
}

/// `forward`, keeping what the information flow needs at every position.
pub fn forward_flow(g: &Gguf, c: &Config, ids: &[u32], off: &[(usize, usize)]) -> Reference {
    run(g, c, ids, off, true, None)
}

fn run(g: &Gguf, c: &Config, ids: &[u32], off: &[(usize, usize)], flow: bool, patch: Option<(&Patch, &Reference)>) -> Reference {
    let (d, hd, nh, nkv, f) = (c.dim, c.head_dim, c.n_heads, c.n_kv_heads, c.ffn_dim);
    let (kvd, group, t_len, eps) = (nkv * hd, nh / nkv, ids.len(), c.norm_eps as f64);
    let embd = TensorData::get(g, "token_embd.weight", c.vocab_size, d).expect("token_embd");
    let row_of = |t: &TensorData, id: u32| {
        let bytes = t.data.len() / t.rows;
        let mut out = vec![0f32; t.cols];
        glassbox::quant::dequantize(t.ty, &t.data[id as usize * bytes..(id as usize + 1) * bytes], &mut out);
        out.into_iter().map(f64::from).collect::<Vec<f64>>()
    };
    let mut xs: Vec<Vec<f64>> = ids.iter().map(|&id| row_of(&embd, id)).collect();
    let embed = xs[t_len - 1].clone();
    let (mut heads, mut ffn, mut probs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut vnorm, mut ffn_norm) = (Vec::new(), Vec::new());
    let mut ffn_hidden = Vec::new();
    let (mut res_all, mut ffn_all, mut heads_all) = (Vec::new(), Vec::new(), Vec::new());
    for l in 0..c.n_layers {
        let m = |n: &str, rows, cols| matrix(g, &format!("blk.{l}.{n}.weight"), rows, cols);
        let (wq, wk, wv, wo) = (m("attn_q", d, d), m("attn_k", kvd, d), m("attn_v", kvd, d), m("attn_output", d, d));
        let (an, fnorm) = (m("attn_norm", 1, d), m("ffn_norm", 1, d));
        let (gate, up, down) = (m("ffn_gate", f, d), m("ffn_up", f, d), m("ffn_down", d, f));
        let (mut qs, mut ks, mut vs) = (Vec::new(), Vec::new(), Vec::new());
        for (p, x) in xs.iter().enumerate() {
            let n = rmsnorm(x, &an, eps);
            let (mut q, mut k) = (mul(&wq, &n), mul(&wk, &n));
            rope(&mut q, hd, p, c.rope_base as f64);
            rope(&mut k, hd, p, c.rope_base as f64);
            qs.push(q);
            ks.push(k);
            vs.push(mul(&wv, &n));
        }
        if flow {
            // Each head's value at each position alone through W_o.
            vnorm.push(
                (0..nh)
                    .map(|h| {
                        let kvh = h / group;
                        vs.iter()
                            .map(|v| {
                                let mut o = vec![0f64; d];
                                o[h * hd..(h + 1) * hd].copy_from_slice(&v[kvh * hd..(kvh + 1) * hd]);
                                norm(&mul(&wo, &o))
                            })
                            .collect()
                    })
                    .collect(),
            );
        }
        let mut layer_probs = vec![vec![vec![0f64; t_len]; t_len]; nh];
        let mut layer_heads = Vec::new();
        for (p, x) in xs.iter_mut().enumerate() {
            let mut outs = Vec::new();
            let mut all = vec![0f64; d];
            for h in 0..nh {
                let kvh = h / group;
                let q = &qs[p][h * hd..(h + 1) * hd];
                let scores: Vec<f64> = (0..=p).map(|j| q.iter().zip(&ks[j][kvh * hd..(kvh + 1) * hd]).map(|(a, b)| a * b).sum::<f64>() / (hd as f64).sqrt()).collect();
                let top = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = scores.iter().map(|s| (s - top).exp()).sum();
                let mut o = vec![0f64; d];
                if !off.contains(&(l, h)) {
                    for (j, s) in scores.iter().enumerate() {
                        let w = (s - top).exp() / z;
                        layer_probs[h][p][j] = w;
                        for (i, v) in vs[j][kvh * hd..(kvh + 1) * hd].iter().enumerate() {
                            o[h * hd + i] += w * v;
                        }
                    }
                } else {
                    for (j, s) in scores.iter().enumerate() {
                        layer_probs[h][p][j] = (s - top).exp() / z;
                    }
                }
                if let Some((&Patch::Head { layer, head }, clean)) = patch {
                    if (layer, head) == (l, h) {
                        o[h * hd..(h + 1) * hd].copy_from_slice(&clean.heads_all[l][p][h * hd..(h + 1) * hd]);
                    }
                }
                all[h * hd..(h + 1) * hd].copy_from_slice(&o[h * hd..(h + 1) * hd]);
                // This head's output alone through W_o.
                outs.push(mul(&wo, &o));
            }
            layer_heads.push(all);
            for o in &outs {
                x.iter_mut().zip(o).for_each(|(x, o)| *x += o);
            }
            if p == t_len - 1 {
                heads.push(outs);
            }
        }
        let (mut norms, mut layer_ffn) = (Vec::new(), Vec::new());
        for (p, x) in xs.iter_mut().enumerate() {
            let n = rmsnorm(x, &fnorm, eps);
            let (gt, u) = (mul(&gate, &n), mul(&up, &n));
            let hidden: Vec<f64> = gt.iter().zip(&u).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            let mut out = mul(&down, &hidden);
            if let Some((&Patch::Ffn { layer, pos }, clean)) = patch {
                if (layer, pos) == (l, p) {
                    out = clean.ffn_all[l][p].clone();
                }
            }
            norms.push(norm(&out));
            layer_ffn.push(out.clone());
            x.iter_mut().zip(&out).for_each(|(x, o)| *x += o);
            if p == t_len - 1 {
                ffn.push(out);
                ffn_hidden.push(hidden);
            }
        }
        if let Some((&Patch::Residual { layer, pos }, clean)) = patch {
            if layer == l {
                xs[pos] = clean.res_all[l][pos].clone();
            }
        }
        probs.push(layer_probs);
        ffn_norm.push(norms);
        res_all.push(xs.clone());
        ffn_all.push(layer_ffn);
        heads_all.push(layer_heads);
    }
    let gain: Vec<f64> = matrix(g, "output_norm.weight", 1, d).into_iter().map(f64::from).collect();
    let x = xs[t_len - 1].clone();
    let n = rmsnorm(&x, &gain.iter().map(|&v| v as f32).collect::<Vec<_>>(), eps);
    let out = match g.header.tensor("output.weight") {
        Ok(_) => matrix(g, "output.weight", c.vocab_size, d),
        Err(_) => matrix(g, "token_embd.weight", c.vocab_size, d),
    };
    let logits = mul(&out, &n);
    Reference { pos: t_len - 1, embed, heads, ffn, x, probs, gain, logits, vnorm, ffn_norm, res_all, ffn_all, heads_all, ffn_hidden }
}

impl Reference {
    /// The probability of `token` next, after the last position.
    pub fn p(&self, token: u32) -> f64 {
        let m = self.logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = self.logits.iter().map(|l| (l - m).exp()).sum();
        (self.logits[token as usize] - m).exp() / z
    }

    /// The output matrix's row for `token`.
    pub fn out_row(g: &Gguf, c: &Config, token: u32) -> Vec<f64> {
        let name = if g.header.tensor("output.weight").is_ok() { "output.weight" } else { "token_embd.weight" };
        let t = TensorData::get(g, name, c.vocab_size, c.dim).expect("output matrix");
        let bytes = t.data.len() / t.rows;
        let mut out = vec![0f32; t.cols];
        glassbox::quant::dequantize(t.ty, &t.data[token as usize * bytes..(token as usize + 1) * bytes], &mut out);
        out.into_iter().map(f64::from).collect()
    }

    /// Direct logit attribution of `token` from scratch: the embedding, then
    /// per layer its heads and its FFN, each `Σ out[t]·g·c / R`.
    pub fn attribution(&self, out_row: &[f64], eps: f64) -> Vec<f64> {
        let r = (self.x.iter().map(|v| v * v).sum::<f64>() / self.x.len() as f64 + eps).sqrt();
        let w: Vec<f64> = out_row.iter().zip(&self.gain).map(|(o, g)| o * g / r).collect();
        let weigh = |c: &[f64]| w.iter().zip(c).map(|(a, b)| a * b).sum::<f64>();
        let mut parts = vec![weigh(&self.embed)];
        for (hs, f) in self.heads.iter().zip(&self.ffn) {
            parts.extend(hs.iter().map(|h| weigh(h)));
            parts.push(weigh(f));
        }
        parts
    }
}
