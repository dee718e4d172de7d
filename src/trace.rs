//! What one step shows: the chosen token, the candidates it was chosen from,
//! and where every head of every layer looked.

use serde::{Deserialize, Serialize};

/// One next-token candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: u32,
    /// The token's own text (U+FFFD where it ends mid-character).
    pub text: String,
    pub logit: f32,
    /// softmax(logits) at temperature 1: the model's own belief.
    pub prob: f32,
}

/// The attention of one query position: for each layer and query head, the
/// weights over keys 0..=pos (they sum to 1). Stored flat:
/// data[(layer · n_heads + head) · len + key].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttnRows {
    pub n_layers: usize,
    pub n_heads: usize,
    /// Keys seen: pos + 1.
    pub len: usize,
    pub data: Vec<f32>,
}

impl AttnRows {
    pub fn row(&self, layer: usize, head: usize) -> &[f32] {
        let start = (layer * self.n_heads + head) * self.len;
        &self.data[start..start + self.len]
    }

    /// Gather query row `r` from a forward pass's probabilities, laid out as
    /// (n_layers, rows, n_heads, kv_len), keeping keys 0..len.
    pub fn from_layers(probs: &[f32], rows: usize, n_heads: usize, kv_len: usize, r: usize, len: usize) -> AttnRows {
        let layer_len = rows * n_heads * kv_len;
        let n_layers = probs.len() / layer_len;
        let mut data = Vec::with_capacity(n_layers * n_heads * len);
        for layer in probs.chunks_exact(layer_len) {
            for h in 0..n_heads {
                let start = (r * n_heads + h) * kv_len;
                data.extend_from_slice(&layer[start..start + len]);
            }
        }
        AttnRows { n_layers, n_heads, len, data }
    }

    /// As nested rows [layer][head][key], the shape people read.
    pub fn nested(&self) -> Vec<Vec<&[f32]>> {
        (0..self.n_layers).map(|l| (0..self.n_heads).map(|h| self.row(l, h)).collect()).collect()
    }
}

/// Wall-clock time of a step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Time in the forward pass, milliseconds.
    pub forward_ms: f64,
    /// Choosing the token (softmax, sort, sampling), milliseconds.
    pub sample_ms: f64,
}

/// One autoregressive step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTrace {
    /// Position of the new token in the sequence.
    pub pos: usize,
    pub token: u32,
    /// The token's own text.
    pub text: String,
    /// Text completed by this token (may be empty mid-character).
    pub text_delta: String,
    /// Whether the token was forced rather than sampled.
    pub forced: bool,
    /// The top candidates of the distribution the token was chosen from.
    pub candidates: Vec<Candidate>,
    /// The new token's attention rows (keys 0..=pos); present when the step was traced.
    pub attention: Option<AttnRows>,
    /// Whether this token ends generation (end-of-sequence).
    pub eos: bool,
    /// When sampled: the uniform draw in [0, 1) that picked the token.
    #[serde(default)]
    pub draw: Option<f64>,
    pub timing: Timing,
}

/// The prompt's pass through the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefillTrace {
    pub tokens: Vec<u32>,
    /// Attention rows of every prompt position, when traced.
    pub attention: Option<Vec<AttnRows>>,
    /// The candidates for the first generated token.
    pub candidates: Vec<Candidate>,
    pub forward_ms: f64,
}
