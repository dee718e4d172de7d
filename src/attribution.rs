//! Direct logit attribution: why the model gave a token its logit.
//!
//! The residual stream after the last layer is a sum: the token's
//! embedding, every head's write through W_o, and every FFN's output. The
//! logit of token t at position P is `out[t] · (g ⊙ x) / R`, where x is that
//! residual, g the final norm's gain and R = √(mean x² + ε) its scale. With R
//! frozen at its actual value the logit is linear in x, so it splits exactly
//! into one part per component c: `Σᵢ out[t][i] · g[i] · c[i] / R`.
//!
//! What it is and is not: a part is the component's *direct* effect, through
//! the residual stream straight to the output. A head whose write is read by
//! a later layer has effects this does not count (they show up in that later
//! component's part), and R depends on every component, so a part is a
//! linearization at this input, not what removing the component would do.
//! (Switching a head off, and watching the logit, is that experiment.)
//!
//! Read-only, like every question in `inspect`: one pass over position P
//! that reads the caches and writes nothing.

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::model::forward::{HeadBufs, Taps};
use crate::model::{Model, State};

/// One component's direct effect on a logit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Part {
    /// The token's own embedding row.
    Embed { value: f32 },
    /// One query head's output through W_o.
    Head { layer: usize, head: usize, value: f32 },
    /// One layer's feed-forward block.
    Ffn { layer: usize, value: f32 },
}

impl Part {
    pub fn value(&self) -> f32 {
        match *self {
            Part::Embed { value } | Part::Head { value, .. } | Part::Ffn { value, .. } => value,
        }
    }
}

/// A logit split into its parts (see the module doc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub pos: usize,
    /// The token whose logit is split.
    pub token: u32,
    /// Its text (filled in by the session, which holds the tokenizer).
    pub text: String,
    /// The model's own logit for it at `pos`.
    pub logit: f32,
    /// √(mean x² + ε) of the final residual at `pos`: the frozen scale.
    pub rms: f32,
    /// The embedding, then for each layer its heads in order and its FFN.
    pub parts: Vec<Part>,
    /// Σ parts: the logit again, up to rounding.
    pub sum: f32,
}

/// Σᵢ w[i] · c[i] in f64.
fn weigh(w: &[f64], c: &[f32]) -> f32 {
    w.iter().zip(c).map(|(&w, &c)| w * c as f64).sum::<f64>() as f32
}

/// The largest logit's id (the lower id on ties, as the candidates rank).
fn top1(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

impl<B: Backend> Model<B> {
    /// The logit of `target` (the model's top-1 when None) after position
    /// `pos` of `tokens` (already in the caches), split into the direct
    /// effect of the embedding, every head and every FFN. Heads switched
    /// off give 0; the rest follow the ablated run. Read-only.
    pub async fn attribute(&self, b: &mut B, st: &mut State<B>, tokens: &[u32], pos: usize, target: Option<u32>) -> Result<Attribution> {
        let c = &self.config;
        if pos >= tokens.len() {
            return Err(Error::BadArgument(format!("position {pos} is past the end of the sequence ({} tokens)", tokens.len())));
        }
        if let Some(t) = target.filter(|&t| t as usize >= c.vocab_size) {
            return Err(Error::BadArgument(format!("token id {t} is outside the vocabulary (0..{})", c.vocab_size)));
        }
        let (d, nl, nh, vocab) = (c.dim, c.n_layers, c.n_heads, c.vocab_size);
        let mut updates = b.buf(2 * nl * d);
        let mut heads = HeadBufs::new(b, nl, nh, d);
        self.layers(b, st, &tokens[pos..=pos], pos, &mut Taps { store: false, updates: Some(&mut updates), heads: Some(&mut heads), ..Taps::default() });
        let mut embed = b.buf(d);
        b.embed(&self.weights.token_embd, &tokens[pos..=pos], &mut embed);
        let a = &mut st.acts;
        b.rmsnorm(&a.x, &self.weights.output_norm, &mut a.last, 1, c.norm_eps);
        b.matmul(&a.last, self.weights.lm_head(), &mut a.logits, 1);
        let got = b.read(&[(&updates, 2 * nl * d), (&heads.out, nl * nh * d), (&embed, d), (&a.x, d), (&a.logits, vocab)]).await;
        b.free(updates);
        heads.free(b);
        let got = got?;
        let [updates, heads, emb, x, logits] = <[Vec<f32>; 5]>::try_from(got).map_err(|_| Error::Backend("attribute: short read".into()))?;
        let token = target.unwrap_or_else(|| top1(&logits));
        // The output matrix's row for the token (the embedding op reads one row of any matrix).
        b.embed(self.weights.lm_head(), &[token], &mut embed);
        let row = b.read(&[(&embed, d)]).await;
        b.free(embed);
        let row = row?.pop().expect("one read");
        let rms = (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / d as f64 + c.norm_eps as f64).sqrt();
        let w: Vec<f64> = row.iter().zip(&self.weights.output_gain).map(|(&o, &g)| o as f64 * g as f64 / rms).collect();
        let mut parts = Vec::with_capacity(1 + nl * (nh + 1));
        parts.push(Part::Embed { value: weigh(&w, &emb) });
        for l in 0..nl {
            for h in 0..nh {
                parts.push(Part::Head { layer: l, head: h, value: weigh(&w, &heads[(l * nh + h) * d..(l * nh + h + 1) * d]) });
            }
            parts.push(Part::Ffn { layer: l, value: weigh(&w, &updates[(2 * l + 1) * d..(2 * l + 2) * d]) });
        }
        let sum = parts.iter().map(|p| p.value() as f64).sum::<f64>() as f32;
        Ok(Attribution { pos, token, text: String::new(), logit: logits[token as usize], rms: rms as f32, parts, sum })
    }
}
