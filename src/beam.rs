//! Beam search, step by step, with the whole search kept as a tree.
//!
//! Semantics (the CLI and the page run this one implementation):
//! - A hypothesis's **score** is the sum of the natural-log probabilities of
//!   its generated tokens, each from the full softmax of the logits at
//!   temperature 1 (log p = logit − log Σ exp(logits), the normalizer reduced
//!   on the device over all 49,152 logits).
//! - Each step, every live beam proposes its B most likely next tokens. The
//!   proposals are ranked by score / (generated length)^α (α = 0 by default:
//!   plain summed log-probability); ties go to the lower token id, then the
//!   lower parent index.
//! - Going down the ranking, a proposal whose token ends the sequence
//!   (`<|im_end|>` or the model's EOS) moves to the finished set if it ranks
//!   among the first B, and is dropped otherwise; every other proposal
//!   becomes a live beam until B are live. So after each step exactly B
//!   beams are live (unless fewer proposals exist), and a finished
//!   hypothesis frees its slot for the next-best proposal.
//! - The search stops after N steps, when no beam is live, or when B
//!   hypotheses are finished and the best live beam ranks no better than the
//!   worst of the best B finished ones (with α = 0 a live score can only
//!   fall). The answer is the best-ranked hypothesis, finished or live.
//! - Each live beam owns a slot: a KV cache. A beam that continues its
//!   parent takes over the parent's slot; a second child of the same parent
//!   gets a free slot, into which the parent's cache rows are copied on the
//!   device. No prefix is ever recomputed. Slots are made once (room for the
//!   prompt and every step), so a long search allocates nothing after its
//!   first steps.
//! - Undo takes back a whole step by replaying the search to the step before
//!   (deterministic, so the tree and every score come out the same).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::inspect::Ablation;
use crate::model::{Model, NextLogits, State};
use crate::tokenizer::Tokenizer;
use crate::error::{Error, Result};

/// The widest beam the CLI and the page allow.
pub const MAX_BEAMS: usize = 16;
/// The most steps a search takes (each keeps a node per proposal: a
/// longer search is a tree no one can read).
pub const MAX_BEAM_STEPS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BeamOptions {
    /// B: beams kept, and proposals per beam.
    pub width: usize,
    /// N: steps at most.
    pub steps: usize,
    /// α: rank by score / length^α.
    pub length_penalty: f32,
}

impl BeamOptions {
    pub fn check(&self) -> Result<()> {
        if self.width == 0 || self.width > MAX_BEAMS {
            return Err(Error::BadArgument(format!("the beam width must be 1 to {MAX_BEAMS}, not {}", self.width)));
        }
        if self.steps == 0 || self.steps > MAX_BEAM_STEPS {
            return Err(Error::BadArgument(format!("a beam search takes 1 to {MAX_BEAM_STEPS} steps, not {}", self.steps)));
        }
        if !self.length_penalty.is_finite() || self.length_penalty < 0.0 {
            return Err(Error::BadArgument(format!("the length penalty must be ≥ 0, not {}", self.length_penalty)));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// On the way to a live beam or a finished hypothesis.
    Live,
    /// Not kept, or its branch died out.
    Pruned,
    /// Ended with end-of-sequence and kept.
    Finished,
    /// On the path of the best hypothesis so far.
    Best,
}

/// One proposal of the search: a token after its parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: usize,
    /// None: the token follows the prompt.
    pub parent: Option<usize>,
    /// 0 for the first generated token.
    pub step: usize,
    pub token: u32,
    pub text: String,
    /// log p(token | parent's sequence).
    pub logp: f32,
    /// The parent's score plus logp.
    pub score: f32,
    pub status: Status,
    /// After this node (when it was live): the top 5 next tokens and their log p.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub next: Vec<(u32, f32)>,
}

/// A live beam: the node it ends at, and the slot holding its cache.
#[derive(Clone)]
struct Beam {
    node: Option<usize>,
    slot: usize,
    next: NextLogits,
}

/// The search's own record of one step (which nodes were live or finished).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub live: Vec<usize>,
    pub finished: Vec<usize>,
}

/// The whole search, as the CLI prints it and the page draws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeamTree {
    pub nodes: Vec<Node>,
    /// The generated ids of the best hypothesis.
    pub best: Vec<u32>,
    /// Its score (summed log p) and ranking score (score / len^α).
    pub best_score: f32,
    pub steps: Vec<StepRecord>,
    pub done: bool,
    /// Heads switched off while searching, (layer, head).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub off: Vec<(usize, usize)>,
}

pub struct BeamSearch<B: Backend> {
    pub opts: BeamOptions,
    model: Arc<Model<B>>,
    tok: Arc<Tokenizer>,
    prompt: Vec<u32>,
    stop: Vec<u32>,
    slots: Vec<State<B>>,
    beams: Vec<Beam>,
    finished: Vec<usize>,
    nodes: Vec<Node>,
    steps: Vec<StepRecord>,
    done: bool,
    n_ctx: usize,
    root: Vec<(u32, f32)>,
    ablation: Ablation,
}

impl<B: Backend> BeamSearch<B> {
    /// A search after `prompt`; nothing runs until the first `step`.
    pub fn new(b: &mut B, model: Arc<Model<B>>, tok: Arc<Tokenizer>, prompt: &[u32], opts: BeamOptions, max_batch: usize) -> Result<BeamSearch<B>> {
        opts.check()?;
        if prompt.is_empty() {
            return Err(Error::Usage("the prompt is empty".into()));
        }
        let n_ctx = model.config.train_ctx.max(prompt.len() + opts.steps);
        if prompt.len() + opts.steps > model.config.train_ctx {
            return Err(Error::ContextFull { needed: prompt.len() + opts.steps, n_ctx: model.config.train_ctx });
        }
        let mut stop: Vec<u32> = tok.eos.into_iter().collect();
        if let Ok(ids) = tok.encode("<|im_end|>") {
            if ids.len() == 1 && !stop.contains(&ids[0]) {
                stop.push(ids[0]);
            }
        }
        let mut s = BeamSearch {
            opts,
            model,
            tok,
            prompt: prompt.to_vec(),
            stop,
            slots: Vec::new(),
            beams: Vec::new(),
            finished: Vec::new(),
            nodes: Vec::new(),
            steps: Vec::new(),
            done: false,
            n_ctx,
            root: Vec::new(),
            ablation: Ablation::default(),
        };
        // Every slot up front, with room for the prompt and every step.
        for _ in 0..opts.width {
            let st = s.model.new_state(b, s.n_ctx, max_batch.clamp(1, s.n_ctx), false, crate::backend::QStore::F32, prompt.len() + opts.steps);
            s.slots.push(st);
        }
        Ok(s)
    }

    pub fn prompt(&self) -> &[u32] {
        &self.prompt
    }

    /// Search with these heads switched off (as `Session::set_ablation`
    /// does for one sequence); only before the first step.
    pub fn set_ablation(&mut self, b: &mut B, a: &Ablation) -> Result<()> {
        if !self.steps.is_empty() {
            return Err(Error::Usage("heads are switched off before a beam search starts".into()));
        }
        for st in &mut self.slots {
            self.model.set_ablation(b, st, a)?;
        }
        self.ablation = a.clone();
        Ok(())
    }
    /// After the prompt: the top 5 first tokens and their log p (once stepped).
    pub fn root_next(&self) -> Vec<(u32, f32)> {
        self.root.clone()
    }
    pub fn done(&self) -> bool {
        self.done
    }
    /// Steps taken.
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }
    /// Bytes of one beam's cache (and scratch) at its full size.
    pub fn bytes_per_beam(&self) -> usize {
        self.slots.first().map_or(0, |s| s.bytes())
    }

    fn rank(&self, score: f32, len: usize) -> f32 {
        if self.opts.length_penalty == 0.0 {
            score
        } else {
            score / (len as f32).powf(self.opts.length_penalty)
        }
    }

    /// The generated tokens up to and including `node`.
    pub fn path(&self, node: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let mut at = Some(node);
        while let Some(n) = at {
            out.push(self.nodes[n].token);
            at = self.nodes[n].parent;
        }
        out.reverse();
        out
    }

    fn top5(next: &NextLogits) -> Vec<(u32, f32)> {
        next.top.iter().take(5).map(|&(id, l)| (id, l - next.log_z)).collect()
    }

    /// One step of the search (the first one runs the prompt). Returns
    /// false, doing nothing, when the search is over.
    pub async fn step(&mut self, b: &mut B) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let width = self.opts.width;
        let pos = self.prompt.len() + self.steps.len();
        if self.beams.is_empty() && self.steps.is_empty() {
            let st = &mut self.slots[0];
            let mut next = None;
            for (i, chunk) in self.prompt.chunks(st.max_rows).enumerate() {
                next = Some(self.model.forward(b, st, chunk, i * st.max_rows, false, false).await?.logits);
            }
            let next = next.expect("a prompt");
            self.root = Self::top5(&next);
            self.beams.push(Beam { node: None, slot: 0, next });
        }
        // Every live beam proposes its B most likely tokens.
        let mut props: Vec<(f32, f32, u32, usize)> = Vec::new(); // (score, logp, token, parent beam)
        for (i, beam) in self.beams.iter().enumerate() {
            let parent_score = beam.node.map_or(0.0, |n| self.nodes[n].score);
            for &(id, logit) in beam.next.top.iter().take(width) {
                let logp = logit - beam.next.log_z;
                props.push((parent_score + logp, logp, id, i));
            }
        }
        let len = self.steps.len() + 1;
        props.sort_by(|a, b| self.rank(b.0, len).total_cmp(&self.rank(a.0, len)).then(a.2.cmp(&b.2)).then(a.3.cmp(&b.3)));
        let mut chosen: Vec<(usize, usize)> = Vec::new(); // (node, parent beam)
        let mut record = StepRecord { live: Vec::new(), finished: Vec::new() };
        for (r, &(score, logp, token, parent)) in props.iter().enumerate() {
            let id = self.nodes.len();
            let stop = self.stop.contains(&token);
            let status = if stop && r < width {
                self.finished.push(id);
                record.finished.push(id);
                Status::Finished
            } else if !stop && chosen.len() < width {
                chosen.push((id, parent));
                record.live.push(id);
                Status::Live
            } else {
                Status::Pruned
            };
            let text = self.tok.piece(token);
            self.nodes.push(Node { id, parent: self.beams[parent].node, step: self.steps.len(), token, text, logp, score, status, next: Vec::new() });
        }
        // Slots: the first child of a beam takes its parent's slot, other
        // children get free slots with a copy of the parent's cache.
        let mut first_child = vec![true; self.beams.len()];
        let mut kept = vec![false; self.slots.len()];
        let mut slot_of = vec![usize::MAX; chosen.len()];
        for (c, &(_, parent)) in chosen.iter().enumerate() {
            if first_child[parent] {
                first_child[parent] = false;
                slot_of[c] = self.beams[parent].slot;
                kept[slot_of[c]] = true;
            }
        }
        let mut free = (0..self.slots.len()).filter(|&s| !kept[s]);
        for (c, &(_, parent)) in chosen.iter().enumerate() {
            if slot_of[c] == usize::MAX {
                let slot = free.next().expect("B slots for B beams");
                slot_of[c] = slot;
                let (from, to) = two(&mut self.slots, self.beams[parent].slot, slot);
                for (a, z) in from.caches.iter().zip(to.caches.iter_mut()) {
                    b.copy_cache(a, z, pos);
                }
            }
        }
        // Run each new beam's token in its slot.
        let mut beams = Vec::with_capacity(chosen.len());
        for (c, &(node, _)) in chosen.iter().enumerate() {
            let st = &mut self.slots[slot_of[c]];
            let next = self.model.forward(b, st, &[self.nodes[node].token], pos, false, false).await?.logits;
            self.nodes[node].next = Self::top5(&next);
            beams.push(Beam { node: Some(node), slot: slot_of[c], next });
        }
        self.beams = beams;
        self.steps.push(record);
        self.done = self.finished_enough() || self.beams.is_empty() || self.steps.len() >= self.opts.steps;
        Ok(true)
    }

    /// B hypotheses finished and no live beam can rank above the worst of the best B.
    fn finished_enough(&self) -> bool {
        let width = self.opts.width;
        if self.finished.len() < width {
            return false;
        }
        let mut ranks: Vec<f32> = self.finished.iter().map(|&n| self.rank(self.nodes[n].score, self.nodes[n].step + 1)).collect();
        ranks.sort_by(|a, b| b.total_cmp(a));
        let worst = ranks[width - 1];
        let len = self.steps.len();
        self.beams.iter().all(|bm| bm.node.is_none_or(|n| self.rank(self.nodes[n].score, len) <= worst))
    }

    /// The best-ranked hypothesis so far (finished or live): its last node.
    pub fn best(&self) -> Option<usize> {
        let live = self.beams.iter().filter_map(|b| b.node);
        self.finished
            .iter()
            .copied()
            .chain(live)
            .max_by(|&a, &b| {
                let (na, nb) = (&self.nodes[a], &self.nodes[b]);
                self.rank(na.score, na.step + 1).total_cmp(&self.rank(nb.score, nb.step + 1)).then(b.cmp(&a))
            })
    }

    /// The tree with every node's status as of now.
    pub fn tree(&self) -> BeamTree {
        let mut nodes = self.nodes.clone();
        for n in nodes.iter_mut() {
            if n.status != Status::Finished {
                n.status = Status::Pruned;
            }
        }
        let mark = |nodes: &mut Vec<Node>, from: usize, st: Status| {
            let mut at = Some(from);
            while let Some(i) = at {
                if nodes[i].status != Status::Finished || st == Status::Best {
                    nodes[i].status = st;
                }
                at = nodes[i].parent;
            }
        };
        for &f in &self.finished {
            if let Some(p) = nodes[f].parent {
                mark(&mut nodes, p, Status::Live);
            }
        }
        for b in &self.beams {
            if let Some(n) = b.node {
                mark(&mut nodes, n, Status::Live);
            }
        }
        let best = self.best();
        if let Some(n) = best {
            mark(&mut nodes, n, Status::Best);
        }
        BeamTree {
            nodes,
            best: best.map(|n| self.path(n)).unwrap_or_default(),
            best_score: best.map_or(0.0, |n| self.nodes[n].score),
            steps: self.steps.clone(),
            done: self.done,
            off: self.ablation.off.clone(),
        }
    }

    /// Run to the end.
    pub async fn run(&mut self, b: &mut B) -> Result<BeamTree> {
        while self.step(b).await? {}
        Ok(self.tree())
    }

    /// Take back the last step (by replaying the search to the step before).
    pub async fn undo(&mut self, b: &mut B) -> Result<()> {
        let target = self.steps.len().saturating_sub(1);
        self.beams.clear();
        self.finished.clear();
        self.nodes.clear();
        self.steps.clear();
        self.done = false;
        while self.steps.len() < target {
            self.step(b).await?;
        }
        Ok(())
    }
}

/// Two distinct elements of a slice, mutably.
fn two<T>(v: &mut [T], a: usize, b: usize) -> (&T, &mut T) {
    assert_ne!(a, b);
    if a < b {
        let (x, y) = v.split_at_mut(b);
        (&x[a], &mut y[0])
    } else {
        let (x, y) = v.split_at_mut(a);
        (&y[0], &mut x[b])
    }
}
