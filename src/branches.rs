//! The same prompt decoded several ways, side by side: greedy, sampling at
//! three temperatures (each with its seed), and beam search. Each branch
//! keeps, for every token, the model's five most likely tokens at that
//! point, so a learner sees where a draw left the most likely path and what
//! else was possible. The branches run on sessions of their own: the
//! page's sequence is untouched.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::beam::{BeamOptions, BeamSearch};
use crate::error::{Error, Result};
use crate::generate::{Session, SessionOptions};
use crate::inspect::Ablation;
use crate::model::Model;
use crate::sampling::Sampling;
use crate::tokenizer::Tokenizer;

/// A way of decoding: greedy, sampling with these settings, or a beam search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Decoding {
    Greedy,
    Sample(Sampling),
    Beam(BeamOptions),
}

impl Decoding {
    /// The sampling settings (greedy for beam search).
    pub fn sampling(&self) -> Sampling {
        match self {
            Decoding::Sample(s) => s.clone(),
            Decoding::Greedy | Decoding::Beam(_) => Sampling::greedy(),
        }
    }
}

/// Most tokens a branch takes.
pub const MAX_BRANCH_STEPS: usize = 64;
/// The model's top tokens kept at each point of a branch.
pub const BRANCH_TOP: usize = 5;

/// The decodings the page compares: greedy, three temperatures (seeds 1,
/// 2, 3, no top-k or top-p cut) and a beam search of width 4.
pub fn default_decodings(steps: usize) -> Vec<Decoding> {
    let sample = |temperature: f32, seed: u64| Decoding::Sample(Sampling { temperature, top_k: 0, top_p: 1.0, seed });
    vec![Decoding::Greedy, sample(0.7, 1), sample(1.0, 2), sample(1.3, 3), Decoding::Beam(BeamOptions { width: 4, steps, length_penalty: 0.0 })]
}

/// One way of decoding and what it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    pub decoding: Decoding,
    /// The tokens after the prompt (up to the end-of-sequence token, included).
    pub ids: Vec<u32>,
    /// For each token: the model's top tokens at that point (id, p), and
    /// the chosen token's own p (from the full distribution's top 32; None
    /// when it was not among them).
    pub top: Vec<Vec<(u32, f32)>>,
    pub p: Vec<Option<f32>>,
}

/// Every branch after one prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branches {
    pub prompt_ids: Vec<u32>,
    pub branches: Vec<Branch>,
    /// The first index (after the prompt) where the branches do not all
    /// have the same token; None when they agree all along.
    pub parts_at: Option<usize>,
}

/// Where the branches part: the first index at which two of them differ
/// (one ending before another counts).
pub fn parting(branches: &[Branch]) -> Option<usize> {
    let longest = branches.iter().map(|b| b.ids.len()).max()?;
    (0..longest).find(|&i| {
        let first = branches[0].ids.get(i);
        branches.iter().any(|b| b.ids.get(i) != first)
    })
}

/// A session after `prompt` with the given sampling and heads off.
async fn session<B: Backend>(b: B, model: &Arc<Model<B>>, tok: &Arc<Tokenizer>, prompt: &[u32], sampling: Sampling, off: &Ablation) -> Result<Session<B>> {
    let mut s = Session::new(b, model.clone(), tok.clone(), SessionOptions { sampling, top_n: BRANCH_TOP, ..Default::default() })?;
    s.set_ablation(off.clone()).await?;
    s.prefill(prompt).await?;
    Ok(s)
}

/// The model's most likely tokens now (id, p): the 32 the backend keeps.
fn point<B: Backend>(s: &Session<B>) -> Vec<(u32, f32)> {
    let next = s.next_logits();
    next.top.iter().map(|&(i, l)| (i, (l - next.log_z).exp())).collect()
}

impl Branch {
    /// Add token `id`, chosen where the model's top tokens were `top`.
    fn push(&mut self, id: u32, top: Vec<(u32, f32)>) {
        self.p.push(top.iter().find(|t| t.0 == id).map(|t| t.1));
        self.top.push(top.into_iter().take(BRANCH_TOP).collect());
        self.ids.push(id);
    }
}

/// Decode `prompt` each way in `decodings`, up to `steps` tokens, with the
/// heads in `off` switched off. `backend` makes a backend for each session.
pub async fn branches<B: Backend>(backend: &B, model: &Arc<Model<B>>, tok: &Arc<Tokenizer>, prompt: &[u32], decodings: &[Decoding], steps: usize, off: &Ablation) -> Result<Branches> {
    if steps == 0 || steps > MAX_BRANCH_STEPS {
        return Err(Error::BadArgument(format!("a branch takes 1 to {MAX_BRANCH_STEPS} tokens, not {steps}")));
    }
    if prompt.is_empty() {
        return Err(Error::BadArgument("branches need a prompt".into()));
    }
    let mut out = Vec::new();
    for d in decodings {
        let mut br = Branch { decoding: d.clone(), ids: Vec::new(), top: Vec::new(), p: Vec::new() };
        match d {
            Decoding::Greedy | Decoding::Sample(_) => {
                let sampling = match d {
                    Decoding::Sample(s) => s.clone(),
                    _ => Sampling::greedy(),
                };
                let mut s = session(backend.sibling(), model, tok, prompt, sampling, off).await?;
                for _ in 0..steps {
                    if s.tokens().len() >= s.opts.n_ctx {
                        break;
                    }
                    let top = point(&s);
                    let st = s.step().await?;
                    br.push(st.token, top);
                    if st.eos {
                        break;
                    }
                }
            }
            Decoding::Beam(opts) => {
                let mut b = backend.sibling();
                let opts = BeamOptions { steps, ..*opts };
                let mut search = BeamSearch::new(&mut b, model.clone(), tok.clone(), prompt, opts, 64)?;
                search.set_ablation(&mut b, off)?;
                let tree = search.run(&mut b).await?;
                // The best hypothesis, with the model's view at each point
                // (forced along the path in a session of its own).
                let mut s = session(backend.sibling(), model, tok, prompt, Sampling::greedy(), off).await?;
                for &id in &tree.best {
                    br.push(id, point(&s));
                    if s.tokens().len() < s.opts.n_ctx {
                        s.force(id).await?;
                    }
                }
            }
        }
        out.push(br);
    }
    let parts_at = parting(&out);
    Ok(Branches { prompt_ids: prompt.to_vec(), branches: out, parts_at })
}
