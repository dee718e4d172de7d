//! What each head does, detected from the model itself: four scores per
//! head, each a mean attention weight on two probe sequences, the way
//! TransformerLens's head detectors measure them.
//!
//! - On an ordinary text (T tokens; rows i = 1 … T−1):
//!   `previous`: the mean weight on position i−1 (a previous-token head);
//!   `sink`: the mean weight on position 0 (where heads park attention
//!   they do not need: an attention sink).
//! - On R random ordinary tokens followed by the same R again (rows
//!   i = R … 2R−1, the second copy):
//!   `duplicate`: the mean weight on i−R, the same token the first time;
//!   `induction`: the mean weight on i−R+1, the token that *followed* it
//!   then: the head that completes a repeated pattern ("…A B … A → B").
//!
//! Random tokens make the repeat the only structure there is, so a high
//! induction score is the mechanism, not knowledge. A score is evidence
//! about a head's habit, not a proof of what it does for a given prompt.

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::generate::Session;
use crate::inspect::MapRequest;
use crate::tokenizer::Tokenizer;

/// The text `previous` and `sink` are measured on when none is given
/// (about 90 tokens of plain English).
pub const DEFAULT_PROMPT: &str = "The old lighthouse stood at the end of the harbour wall, and every evening the keeper climbed its one hundred and twelve steps to light the lamp. Ships that passed in the dark counted its flashes to know where they were. One winter the keeper fell ill, and his daughter, who had watched him for years, climbed the steps in his place and kept the light burning until spring.";

/// Random tokens in the repeated sequence, each half, by default.
pub const DEFAULT_REPEAT: usize = 30;

/// The four scores of one head.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeadRole {
    pub layer: usize,
    pub head: usize,
    pub previous: f32,
    pub sink: f32,
    pub duplicate: f32,
    pub induction: f32,
}

/// The four habits a head can have (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Previous,
    Sink,
    Duplicate,
    Induction,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Previous, Role::Sink, Role::Duplicate, Role::Induction];

    /// The score at and above which a head clearly has this habit. Most
    /// heads give some weight to position 0, so a sink must give nearly all
    /// of it; the other three are clear well below that.
    pub fn clear_at(self) -> f32 {
        match self {
            Role::Previous => 0.4,
            Role::Sink => 0.9,
            Role::Duplicate | Role::Induction => 0.3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Previous => "previous",
            Role::Sink => "sink",
            Role::Duplicate => "duplicate",
            Role::Induction => "induction",
        }
    }

    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

impl HeadRole {
    pub fn score(&self, r: Role) -> f32 {
        match r {
            Role::Previous => self.previous,
            Role::Sink => self.sink,
            Role::Duplicate => self.duplicate,
            Role::Induction => self.induction,
        }
    }

    /// The head's strongest clear habit: of those at or above their
    /// threshold, the one furthest above it (score ÷ threshold); None when
    /// no habit is clear.
    pub fn clear_role(&self) -> Option<Role> {
        Role::ALL
            .into_iter()
            .filter(|&r| self.score(r) >= r.clear_at())
            .max_by(|&a, &b| (self.score(a) / a.clear_at()).total_cmp(&(self.score(b) / b.clear_at())))
    }
}

/// Every head's scores, with the two sequences they were measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadRoles {
    pub prompt_ids: Vec<u32>,
    pub repeat_ids: Vec<u32>,
    pub heads: Vec<HeadRole>,
}

/// `r` ordinary token ids (no special tokens) drawn with `seed`, then the
/// same `r` again.
pub fn repeat_ids(tok: &Tokenizer, r: usize, seed: u64) -> Vec<u32> {
    // SplitMix64: a fixed, documented generator, so a seed means the same ids everywhere.
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let vocab = tok.vocab_size() as u64;
    let mut half = Vec::with_capacity(r);
    while half.len() < r {
        let id = (next() % vocab) as u32;
        if !tok.is_special(id) {
            half.push(id);
        }
    }
    let mut ids = half.clone();
    ids.extend(half);
    ids
}

/// Every head's weights over `ids` as (layer, head) → rows × cols, one
/// layer at a time: `f(layer, head, weight(i, j))`.
async fn each_head<B: Backend>(s: &mut Session<B>, ids: &[u32], mut f: impl FnMut(usize, usize, &dyn Fn(usize, usize) -> f32)) -> Result<()> {
    s.clear();
    s.prefill(ids).await?;
    let (nl, nh) = (s.model.config.n_layers, s.model.config.n_heads);
    let n = ids.len();
    let all: Vec<u32> = (0..n as u32).collect();
    for l in 0..nl {
        let req = MapRequest { heads: (0..nh).map(|h| (l, h)).collect(), rows: all.clone(), cols: all.clone() };
        let w = s.attention_maps(&req).await?;
        for h in 0..nh {
            let at = |i: usize, j: usize| w[(h * n + i) * n + j];
            f(l, h, &at);
        }
    }
    s.clear();
    Ok(())
}

/// Score every head of `s`'s model (see the module doc). The session is
/// cleared before and after; run it on one with no heads switched off.
pub async fn head_roles<B: Backend>(s: &mut Session<B>, prompt_ids: &[u32], repeat_ids: &[u32]) -> Result<HeadRoles> {
    let t = prompt_ids.len();
    if t < 2 {
        return Err(Error::BadArgument(format!("the prompt has {t} token(s); previous-token and sink scores need at least 2")));
    }
    let r = repeat_ids.len() / 2;
    if r < 2 || repeat_ids.len() != 2 * r || repeat_ids[..r] != repeat_ids[r..] {
        return Err(Error::BadArgument("the repeated sequence must be at least 2 tokens, then the same tokens again".into()));
    }
    let need = t.max(2 * r);
    if need > s.opts.n_ctx {
        return Err(Error::ContextFull { needed: need, n_ctx: s.opts.n_ctx });
    }
    let (nl, nh) = (s.model.config.n_layers, s.model.config.n_heads);
    let mut heads: Vec<HeadRole> = (0..nl * nh).map(|i| HeadRole { layer: i / nh, head: i % nh, previous: 0.0, sink: 0.0, duplicate: 0.0, induction: 0.0 }).collect();
    let mean = |f: &dyn Fn(usize) -> f32, rows: std::ops::Range<usize>| {
        let n = rows.len() as f64;
        (rows.map(|i| f(i) as f64).sum::<f64>() / n) as f32
    };
    each_head(s, prompt_ids, |l, h, w| {
        let x = &mut heads[l * nh + h];
        x.previous = mean(&|i| w(i, i - 1), 1..t);
        x.sink = mean(&|i| w(i, 0), 1..t);
    })
    .await?;
    each_head(s, repeat_ids, |l, h, w| {
        let x = &mut heads[l * nh + h];
        x.duplicate = mean(&|i| w(i, i - r), r..2 * r);
        x.induction = mean(&|i| w(i, i - r + 1), r..2 * r);
    })
    .await?;
    Ok(HeadRoles { prompt_ids: prompt_ids.to_vec(), repeat_ids: repeat_ids.to_vec(), heads })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_shows_its_clearest_habit() {
        let h = |previous, sink, duplicate, induction| HeadRole { layer: 0, head: 0, previous, sink, duplicate, induction };
        assert_eq!(h(0.1, 0.5, 0.1, 0.1).clear_role(), None, "nothing clear");
        assert_eq!(h(0.1, 0.95, 0.1, 0.1).clear_role(), Some(Role::Sink));
        assert_eq!(h(0.1, 0.95, 0.1, 0.6).clear_role(), Some(Role::Induction), "0.6 / 0.3 beats 0.95 / 0.9");
        assert_eq!(h(0.8, 0.2, 0.35, 0.1).clear_role(), Some(Role::Previous), "0.8 / 0.4 beats 0.35 / 0.3");
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.name()), Some(r));
        }
    }
}
