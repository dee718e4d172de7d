//! Activation patching (causal tracing): which part of the network, at
//! which position, carries the difference between two prompts.
//!
//! Two prompts of the same length: a *clean* one ("The Eiffel Tower is
//! located in the city of") and a *corrupted* one that differs in a word
//! ("The Colosseum is …"). Track one token's probability at the last
//! position (the clean run's top-1: " Paris"). Then run the corrupted
//! prompt again with one piece of the clean run copied in, and watch that
//! probability. A piece that brings it back carries what the change broke.
//!
//! Three kinds of piece (`Site`):
//! - `Residual`: the whole residual stream at position j after block l;
//!   cell (l, j).
//! - `Ffn`: the FFN block's output at position j in layer l; cell (l, j).
//! - `Heads`: one head's output (before W_o, which is the same as its
//!   write through W_o) at every position in layer l; cell (l, h).
//!
//! Cost: each cell runs the corrupted prompt from the patched layer on, and
//! only from the patched position on: positions before j are unchanged, so
//! their keys and values come from the corrupted run's caches. The cells
//! are computed one *part* at a time (a position for `Residual` and `Ffn`,
//! a layer for `Heads`), so that a page can show progress and stop.
//!
//! Sanity identities, by construction: patching the residual after the
//! last layer at the last position gives the clean probability exactly, at
//! any other position the corrupted one; patching a prompt into itself
//! changes nothing (every row is computed the same way in any batch).
//! Every head is on in both runs.

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, QStore};
use crate::error::{Error, Result};
use crate::model::forward::{PatchTap, Taps};
use crate::model::{Model, State};

/// The longest prompts that can be patched (cells grow as tokens × layers,
/// each running up to the rest of the prompt).
pub const MAX_PATCH_TOKENS: usize = 64;
/// The example the page offers in one click and `bench --patch` times
/// (ROME's): the same length, the subject changed.
pub const EXAMPLE: (&str, &str) = ("The Eiffel Tower is located in the city of", "The Colosseum is located in the city of");
/// Candidates kept for each cell.
pub const CELL_TOP: usize = 5;

/// What is copied from the clean run into the corrupted one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Site {
    /// The residual stream after a block, at one position.
    #[default]
    Residual,
    /// One head's output, at every position.
    Heads,
    /// The FFN block's output, at one position.
    Ffn,
}

impl Site {
    pub fn name(self) -> &'static str {
        match self {
            Site::Residual => "residual",
            Site::Heads => "heads",
            Site::Ffn => "ffn",
        }
    }

    pub fn parse(s: &str) -> Option<Site> {
        [Site::Residual, Site::Heads, Site::Ffn].into_iter().find(|w| w.name() == s)
    }

    /// Parts of a patching run: positions, or layers for heads.
    pub fn parts(self, n_tokens: usize, n_layers: usize) -> usize {
        match self {
            Site::Heads => n_layers,
            _ => n_tokens,
        }
    }

    /// Cells in each part: layers, or heads.
    pub fn cells(self, n_layers: usize, n_heads: usize) -> usize {
        match self {
            Site::Heads => n_heads,
            _ => n_layers,
        }
    }
}

/// One run's prediction at the last position: the tracked token's
/// probability and the top candidates (id, probability).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub p: f32,
    pub top: Vec<(u32, f32)>,
}

/// One part of a patching run: for `Residual` and `Ffn`, position
/// `index`, a cell per layer; for `Heads`, layer `index`, a cell per head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchPart {
    pub site: Site,
    pub index: usize,
    pub cells: Vec<Outcome>,
}

/// A whole patching run, as `glassbox patch` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patching {
    pub what: Site,
    pub clean_ids: Vec<u32>,
    pub corrupt_ids: Vec<u32>,
    pub target: u32,
    pub target_text: String,
    pub clean_p: f32,
    pub corrupt_p: f32,
    /// [layer][position] (or [layer][head]): p(target) with that piece patched.
    pub layers: Vec<Vec<f32>>,
}

/// The two runs a patching experiment copies between, kept on the backend
/// while its parts are computed.
pub struct PatchRun<B: Backend> {
    pub clean_ids: Vec<u32>,
    pub corrupt_ids: Vec<u32>,
    pub target: u32,
    pub clean: Outcome,
    pub corrupt: Outcome,
    /// Clean run: residual after each layer (layer, T, d); each layer's two
    /// updates (layer, 2, T, d); the heads' outputs before W_o (layer, T, d).
    clean_res: B::Buf,
    clean_updates: B::Buf,
    clean_heads: B::Buf,
    /// Corrupted run: residual after each layer (layer, T, d), and its caches.
    corrupt_res: B::Buf,
    corrupted: State<B>,
    /// The caches patched runs write; per layer, the first position written
    /// since it last equalled the corrupted run's (usize::MAX: equal).
    scratch: State<B>,
    dirty: Vec<usize>,
    /// The last row of each cell's run, scored together.
    finals: B::Buf,
}

impl<B: Backend> PatchRun<B> {
    pub fn len(&self) -> usize {
        self.clean_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clean_ids.is_empty()
    }

    pub fn free(self, b: &mut B) {
        for buf in [self.clean_res, self.clean_updates, self.clean_heads, self.corrupt_res, self.finals] {
            b.free(buf);
        }
    }
}

impl<B: Backend> Model<B> {
    /// Rows scored at once: every cell of a part, padded to the same count
    /// so that each row is computed in the same batch shape.
    fn score_rows(&self) -> usize {
        self.config.n_layers.max(self.config.n_heads)
    }

    /// Run both prompts and keep what the patched runs need. `target` is
    /// the tracked token (the clean run's top-1 when None).
    pub async fn patch_run(&self, b: &mut B, clean: &[u32], corrupt: &[u32], target: Option<u32>) -> Result<PatchRun<B>> {
        let c = &self.config;
        if clean.len() != corrupt.len() {
            return Err(Error::BadArgument(format!(
                "patching needs two prompts of the same length: the clean one has {} tokens, the corrupted one {}",
                clean.len(),
                corrupt.len()
            )));
        }
        let t = clean.len();
        if t == 0 || t > MAX_PATCH_TOKENS {
            return Err(Error::BadArgument(format!("patching takes prompts of 1 to {MAX_PATCH_TOKENS} tokens, these have {t}")));
        }
        if let Some(&bad) = clean.iter().chain(corrupt).chain(&target).find(|&&id| id as usize >= c.vocab_size) {
            return Err(Error::BadArgument(format!("token id {bad} is outside the vocabulary (0..{})", c.vocab_size)));
        }
        let (d, nl) = (c.dim, c.n_layers);
        let mut scratch = self.new_state(b, t, t, false, QStore::F32, t);
        let mut corrupted = self.new_state(b, t, t, false, QStore::F32, t);
        let (mut clean_res, mut clean_updates, mut clean_heads) = (b.buf(nl * t * d), b.buf(2 * nl * t * d), b.buf(nl * t * d));
        let mut corrupt_res = b.buf(nl * t * d);
        self.layers(
            b,
            &mut scratch,
            clean,
            0,
            &mut Taps { residuals: Some(&mut clean_res), updates: Some(&mut clean_updates), heads_out: Some(&mut clean_heads), ..Taps::default() },
        );
        self.layers(b, &mut corrupted, corrupt, 0, &mut Taps { residuals: Some(&mut corrupt_res), ..Taps::default() });
        for l in 0..nl {
            b.copy_cache(&corrupted.caches[l], &mut scratch.caches[l], t);
        }
        let mut finals = b.buf(self.score_rows() * d);
        let last = ((nl - 1) * t + t - 1) * d;
        b.copy(&clean_res, last, &mut finals, 0, d);
        b.copy(&corrupt_res, last, &mut finals, d, d);
        let target = match target {
            Some(id) => id,
            None => self.score(b, &finals, 2, u32::MAX).await?[0].top[0].0,
        };
        let mut both = self.score(b, &finals, 2, target).await?.into_iter();
        let (clean_out, corrupt_out) = (both.next().expect("two rows"), both.next().expect("two rows"));
        Ok(PatchRun {
            clean_ids: clean.to_vec(),
            corrupt_ids: corrupt.to_vec(),
            target,
            clean: clean_out,
            corrupt: corrupt_out,
            clean_res,
            clean_updates,
            clean_heads,
            corrupt_res,
            corrupted,
            scratch,
            dirty: vec![usize::MAX; nl],
            finals,
        })
    }

    /// The final norm, the output matrix and the softmax on the first `n`
    /// rows of `finals`: p(target) and the top candidates of each.
    async fn score(&self, b: &mut B, finals: &B::Buf, n: usize, target: u32) -> Result<Vec<Outcome>> {
        let c = &self.config;
        let (d, vocab, rows) = (c.dim, c.vocab_size, self.score_rows());
        let tl = crate::backend::topk_len(vocab);
        let (mut normed, mut logits, mut tk, mut rk) = (b.buf(rows * d), b.buf(rows * vocab), b.buf(rows * tl), b.buf(2 * rows));
        let tgt = b.upload_f32(&vec![f32::from_bits(target); rows]);
        b.rmsnorm(finals, &self.weights.output_norm, &mut normed, rows, c.norm_eps);
        b.matmul(&normed, self.weights.lm_head(), &mut logits, rows);
        b.topk(&logits, rows, vocab, &mut tk);
        b.token_rank(&logits, rows, vocab, &tgt, &mut rk);
        let got = b.read(&[(&tk, n * tl), (&rk, 2 * n)]).await;
        for buf in [normed, logits, tk, rk, tgt] {
            b.free(buf);
        }
        let got = got?;
        Ok((0..n)
            .map(|r| {
                let (top, log_z) = crate::backend::merge_topk(&got[0][r * tl..(r + 1) * tl], vocab);
                let (logit, rank) = (got[1][2 * r], got[1][2 * r + 1]);
                let p = if rank >= 0.0 { (logit - log_z).exp() } else { 0.0 };
                Outcome { p, top: top.iter().take(CELL_TOP).map(|&(id, l)| (id, (l - log_z).exp())).collect() }
            })
            .collect())
    }

    /// Make the scratch caches of layers `from..` equal the corrupted run's
    /// before position `pos`, and mark positions `pos..` written.
    fn scratch_for(&self, b: &mut B, run: &mut PatchRun<B>, from: usize, pos: usize) {
        for l in from..self.config.n_layers {
            if run.dirty[l] < pos {
                b.copy_cache(&run.corrupted.caches[l], &mut run.scratch.caches[l], run.clean_ids.len());
                run.dirty[l] = usize::MAX;
            }
            run.dirty[l] = run.dirty[l].min(pos);
        }
    }

    /// One part of `site`'s patching (see `Site::parts`): the corrupted
    /// prompt run again with each of the part's pieces from the clean run.
    pub async fn patch_part(&self, b: &mut B, run: &mut PatchRun<B>, site: Site, index: usize) -> Result<PatchPart> {
        let c = &self.config;
        let (d, nl, nh, hd, t) = (c.dim, c.n_layers, c.n_heads, c.head_dim, run.len());
        let parts = site.parts(t, nl);
        if index >= parts {
            return Err(Error::BadArgument(format!("{} patching has {parts} parts, not {}", site.name(), index + 1)));
        }
        let cells = site.cells(nl, nh);
        for cell in 0..cells {
            // (layer of the patch, first position the run recomputes)
            let (l, j) = match site {
                Site::Heads => (index, 0),
                _ => (cell, index),
            };
            let rows = t - j;
            if site == Site::Residual && l == nl - 1 {
                // After the last block nothing runs: the row itself is scored.
                let src = if j == t - 1 { &run.clean_res } else { &run.corrupt_res };
                b.copy(src, ((nl - 1) * t + t - 1) * d, &mut run.finals, cell * d, d);
                continue;
            }
            // The residual entering the first recomputed layer: the corrupted
            // run's after the layer before (the embedding for layer 0).
            let start = if site == Site::Residual { l + 1 } else { l };
            if start > 0 {
                b.copy(&run.corrupt_res, ((start - 1) * t + j) * d, &mut run.scratch.acts.x, 0, rows * d);
            }
            if site == Site::Residual {
                b.copy(&run.clean_res, (l * t + j) * d, &mut run.scratch.acts.x, 0, d);
            }
            self.scratch_for(b, run, start, j);
            let PatchRun { clean_updates, clean_heads, scratch, corrupt_ids, .. } = run;
            let tap = match site {
                Site::Residual => None,
                Site::Ffn => Some(PatchTap { layer: l, ffn: true, src: &*clean_updates, copies: vec![(((2 * l + 1) * t + j) * d, 0, d)] }),
                Site::Heads => {
                    let h = cell;
                    let copies = (0..t).map(|r| ((l * t + r) * d + h * hd, r * d + h * hd, hd)).collect();
                    Some(PatchTap { layer: l, ffn: false, src: &*clean_heads, copies })
                }
            };
            self.layers(b, scratch, &corrupt_ids[j..], j, &mut Taps { start, patch: tap.as_ref(), ..Taps::default() });
            b.copy(&run.scratch.acts.x, (rows - 1) * d, &mut run.finals, cell * d, d);
        }
        let cells = self.score(b, &run.finals, cells, run.target).await?;
        Ok(PatchPart { site, index, cells })
    }

    /// A whole patching run, part by part (what `glassbox patch` prints;
    /// `target_text` is left for the caller, who holds the tokenizer).
    pub async fn patch(&self, b: &mut B, clean: &[u32], corrupt: &[u32], target: Option<u32>, site: Site) -> Result<Patching> {
        let c = &self.config;
        let mut run = self.patch_run(b, clean, corrupt, target).await?;
        let (t, nl) = (run.len(), c.n_layers);
        let width = if site == Site::Heads { c.n_heads } else { t };
        let mut layers = vec![vec![0f32; width]; nl];
        // Later positions first: a run writes the scratch caches from its
        // position on, which the parts after it never read.
        for index in (0..site.parts(t, nl)).rev() {
            let part = self.patch_part(b, &mut run, site, index).await;
            let part = match part {
                Ok(p) => p,
                Err(e) => {
                    run.free(b);
                    return Err(e);
                }
            };
            for (cell, o) in part.cells.iter().enumerate() {
                match site {
                    Site::Heads => layers[index][cell] = o.p,
                    _ => layers[cell][index] = o.p,
                }
            }
        }
        let out = Patching {
            what: site,
            clean_ids: run.clean_ids.clone(),
            corrupt_ids: run.corrupt_ids.clone(),
            target: run.target,
            target_text: String::new(),
            clean_p: run.clean.p,
            corrupt_p: run.corrupt.p,
            layers,
        };
        run.free(b);
        Ok(out)
    }
}
