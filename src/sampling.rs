//! How the next token is chosen, and the arithmetic under it: softmax,
//! the top candidates, temperature, top-k and top-p, the seeded draw. Below
//! both the CPU backend (softmax, top candidates) and the session.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the next token is chosen. Temperature 0 is greedy (argmax).
/// Otherwise, as in Hugging Face transformers: logits / temperature, keep the
/// `top_k` most likely (0 = all), keep the smallest set whose probability
/// reaches `top_p` (1 = all), renormalize, draw with a ChaCha8 RNG seeded by
/// `seed` (see `draw_rng`: one stream per position, so a draw depends on
/// the settings and the position only, never on what was drawn before).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Sampling {
        Sampling { temperature: 0.0, top_k: 0, top_p: 1.0, seed: 0 }
    }
}

impl Sampling {
    pub fn greedy() -> Sampling {
        Sampling::default()
    }
    /// The settings as far as they decide a draw: greedy whatever the rest says.
    pub fn effective(&self) -> Sampling {
        if self.temperature > 0.0 {
            self.clone()
        } else {
            Sampling::greedy()
        }
    }
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::Usage(format!("temperature must be ≥ 0, got {}", self.temperature)));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Usage(format!("top-p must be in (0, 1], got {}", self.top_p)));
        }
        Ok(())
    }
}

/// In-place softmax (max subtracted; the sum kept in f64 as ggml does).
/// Returns log Σ exp(x), the normalizer: p_i = exp(x_i − lse).
pub fn softmax_in_place(x: &mut [f32]) -> f32 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
    (max as f64 + sum.ln()) as f32
}

/// Softmax probabilities at temperature 1.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let mut p = logits.to_vec();
    softmax_in_place(&mut p);
    p
}

/// The `n` highest logits, highest first (ties: lower id first).
pub fn top_n(logits: &[f32], n: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    let by = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b));
    let n = n.min(idx.len());
    if n < idx.len() && n > 0 {
        idx.select_nth_unstable_by(n - 1, by);
        idx.truncate(n);
    }
    idx.sort_unstable_by(by);
    idx.truncate(n);
    idx.into_iter().map(|i| (i, logits[i as usize])).collect()
}

/// Index of the largest logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The tokens sampling may pick, with their probabilities (summing to 1), most likely first.
pub fn allowed_set(logits: &[f32], s: &Sampling) -> Vec<(u32, f32)> {
    if s.temperature <= 0.0 {
        return vec![(argmax(logits), 1.0)];
    }
    let k = if s.top_k == 0 { logits.len() } else { s.top_k.min(logits.len()) };
    let kept = top_n(logits, k);
    let max = kept[0].1;
    let weights: Vec<f64> = kept.iter().map(|&(_, l)| (((l - max) / s.temperature) as f64).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut out = Vec::new();
    let mut cum = 0.0;
    for (&(id, _), w) in kept.iter().zip(&weights) {
        let p = w / total;
        out.push((id, p));
        cum += p;
        if cum >= s.top_p as f64 {
            break;
        }
    }
    let kept_total: f64 = out.iter().map(|x| x.1).sum();
    out.into_iter().map(|(id, p)| (id, (p / kept_total) as f32)).collect()
}

/// Choose the next token from `logits`.
pub fn sample(logits: &[f32], s: &Sampling, rng: &mut ChaCha8Rng) -> u32 {
    sample_draw(logits, s, rng).0
}

/// Choose the next token from `logits`, and say where the uniform draw u in
/// [0, 1) fell (None for greedy): the token is the first of the allowed set,
/// most likely first, whose cumulative probability passes u.
pub fn sample_draw(logits: &[f32], s: &Sampling, rng: &mut ChaCha8Rng) -> (u32, Option<f64>) {
    if s.temperature <= 0.0 {
        return (argmax(logits), None);
    }
    let set = allowed_set(logits, s);
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut cum = 0.0;
    for &(id, p) in &set {
        cum += p as f64;
        if u < cum {
            return (id, Some(u));
        }
    }
    (set.last().expect("allowed set is never empty").0, Some(u))
}

/// One candidate as the sampler sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    pub id: u32,
    /// The model's probability (temperature 1).
    pub p1: f32,
    /// After the temperature (softmax of logits / T over the whole vocabulary).
    pub pt: f32,
    /// Whether top-k and top-p keep it.
    pub allowed: bool,
    /// What the draw uses: renormalized over the allowed set (0 when cut).
    pub p: f32,
}

/// What a sampling setting does to the next-token distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingView {
    pub sampling: Sampling,
    /// The most likely tokens, most likely first.
    pub rows: Vec<SampleRow>,
    /// Tokens the draw can pick, and their probability after the
    /// temperature before renormalizing.
    pub set_size: usize,
    pub set_mass: f32,
    /// Whether top-k, then top-p, cut the distribution short.
    pub cut_by_k: bool,
    pub cut_by_p: bool,
}

/// The sampler's view of `logits` for its `n` most likely tokens.
pub fn sampling_view(logits: &[f32], s: &Sampling, n: usize) -> SamplingView {
    let top = top_n(logits, n);
    let m = top.first().map_or(0.0, |t| t.1) as f64;
    let z1: f64 = logits.iter().map(|&l| (l as f64 - m).exp()).sum();
    let t = if s.temperature > 0.0 { s.temperature as f64 } else { 1.0 };
    let zt: f64 = logits.iter().map(|&l| ((l as f64 - m) / t).exp()).sum();
    let set = allowed_set(logits, s);
    let in_set: std::collections::HashMap<u32, f32> = set.iter().copied().collect();
    let set_mass: f64 = set.iter().map(|&(id, _)| ((logits[id as usize] as f64 - m) / t).exp() / zt).sum();
    let k = if s.top_k == 0 { logits.len() } else { s.top_k.min(logits.len()) };
    SamplingView {
        sampling: s.clone(),
        rows: top
            .iter()
            .map(|&(id, l)| SampleRow {
                id,
                p1: ((l as f64 - m).exp() / z1) as f32,
                pt: (((l as f64 - m) / t).exp() / zt) as f32,
                allowed: in_set.contains_key(&id),
                p: in_set.get(&id).copied().unwrap_or(0.0),
            })
            .collect(),
        set_size: set.len(),
        set_mass: set_mass as f32,
        cut_by_k: s.temperature > 0.0 && k < logits.len(),
        cut_by_p: s.temperature > 0.0 && set.len() < k,
    }
}

/// The random numbers of the draw for the token at position `pos`: the
/// ChaCha8 stream `pos` of `seed`. Keyed by position, a draw does not
/// depend on earlier draws: the same settings at the same position draw
/// the same number whatever came before (a settings change mid-sequence,
/// an undo), so a session replays from the settings each token was drawn
/// with.
pub fn draw_rng(seed: u64, pos: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(pos as u64);
    rng
}

