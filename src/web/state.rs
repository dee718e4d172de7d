//! The page's state: one reducer with an `Action` enum, plus the attention
//! store kept beside it (it only grows or shrinks at the end, and is far too
//! big to copy on every action).

use std::cell::RefCell;
use std::rc::Rc;

use half::f16;
use yew::Reducible;

use crate::generate::Sampling;
use crate::protocol::FromWorker;
use crate::trace::{AttnRows, Candidate};

/// Where every head looked, one entry per sequence position: for position p,
/// (n_layers × n_heads × (p+1)) weights in f16 (more precision than a colour
/// or a three-digit label needs, half the memory).
#[derive(Default)]
pub struct AttnStore {
    pub n_layers: usize,
    pub n_heads: usize,
    pub rows: Vec<Vec<f16>>,
}

impl AttnStore {
    pub fn push(&mut self, a: &AttnRows) {
        self.n_layers = a.n_layers;
        self.n_heads = a.n_heads;
        self.rows.push(a.data.iter().map(|&v| f16::from_f32(v)).collect());
    }
    /// Weight of query `q` on key `k` in (layer, head); 0 above the diagonal.
    pub fn get(&self, layer: usize, head: usize, q: usize, k: usize) -> f32 {
        if k > q || q >= self.rows.len() {
            return 0.0;
        }
        self.rows[q][(layer * self.n_heads + head) * (q + 1) + k].to_f32()
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A handle to the store that compares equal while its version is unchanged.
#[derive(Clone)]
pub struct Attn {
    pub store: Rc<RefCell<AttnStore>>,
    pub version: u64,
}

impl PartialEq for Attn {
    fn eq(&self, o: &Attn) -> bool {
        Rc::ptr_eq(&self.store, &o.store) && self.version == o.version
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokKind {
    Prompt,
    Generated,
    Forced,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tok {
    pub id: u32,
    pub text: String,
    pub kind: TokKind,
    /// Probability the model gave this token when it was chosen (generated only).
    pub prob: Option<f32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Load {
    Starting,
    Loading { phase: String, done: u64, total: u64 },
    Ready,
    Failed(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Heatmap,
    Grid,
    Lines,
}

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub load: Load,
    pub backend: String,
    pub webgpu: bool,
    pub note: Option<String>,
    pub cached: bool,
    pub load_ms: f64,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub n_ctx: usize,
    pub tokens: Vec<Tok>,
    pub n_prompt: usize,
    /// Text completed by each generated token (joined: the generated text).
    pub deltas: Vec<String>,
    pub candidates: Vec<Candidate>,
    /// A request is with the worker.
    pub busy: bool,
    pub playing: bool,
    /// Bumped after each step, so that Play can ask for the next one.
    pub steps_done: u64,
    pub finished: Option<String>,
    pub error: Option<String>,
    pub prefill_ms: f64,
    pub prefill_tokens: usize,
    /// Forward-pass milliseconds of recent steps.
    pub step_ms: Vec<f64>,
    pub layer: usize,
    pub head: usize,
    pub view: View,
    /// The query position whose attention the line view and tooltip follow.
    pub focus: Option<usize>,
    pub sampling: Sampling,
    pub chat: bool,
    pub max_tokens: usize,
    pub attn_version: u64,
}

impl Default for State {
    fn default() -> State {
        State {
            load: Load::Starting,
            backend: String::new(),
            webgpu: false,
            note: None,
            cached: false,
            load_ms: 0.0,
            n_layers: 0,
            n_heads: 0,
            n_kv_heads: 0,
            n_ctx: 0,
            tokens: Vec::new(),
            n_prompt: 0,
            deltas: Vec::new(),
            candidates: Vec::new(),
            busy: false,
            playing: false,
            steps_done: 0,
            finished: None,
            error: None,
            prefill_ms: 0.0,
            prefill_tokens: 0,
            step_ms: Vec::new(),
            layer: 0,
            head: 0,
            view: View::Heatmap,
            focus: None,
            sampling: Sampling::greedy(),
            chat: false,
            max_tokens: 64,
            attn_version: 0,
        }
    }
}

pub enum Action {
    /// A message from the worker (its attention rows already went to the store).
    Worker(FromWorker),
    /// A request went to the worker.
    Sent,
    Play(bool),
    Select { layer: usize, head: usize },
    View(View),
    Focus(Option<usize>),
    Sampling(Sampling),
    Chat(bool),
    MaxTokens(usize),
    Reset,
    DismissError,
}

impl State {
    pub fn generated(&self) -> usize {
        self.tokens.len() - self.n_prompt
    }
    pub fn text(&self) -> String {
        self.deltas.concat()
    }
    /// Whether another step is allowed, and if not why.
    pub fn stop_reason(&self) -> Option<String> {
        if self.tokens.is_empty() {
            return Some("enter a prompt first".into());
        }
        if self.n_ctx > 0 && self.tokens.len() >= self.n_ctx {
            return Some(format!("the context is full ({} tokens): Undo or Reset to go on", self.n_ctx));
        }
        None
    }
    pub fn decode_tok_s(&self) -> Option<f64> {
        let n = self.step_ms.len();
        (n > 0).then(|| 1e3 * n as f64 / self.step_ms.iter().sum::<f64>())
    }
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Sent => s.busy = true,
            Action::Play(p) => s.playing = p,
            Action::Select { layer, head } => {
                s.layer = layer;
                s.head = head;
            }
            Action::View(v) => s.view = v,
            Action::Focus(f) => s.focus = f,
            Action::Sampling(x) => s.sampling = x,
            Action::Chat(c) => s.chat = c,
            Action::MaxTokens(n) => s.max_tokens = n.max(1),
            Action::DismissError => s.error = None,
            Action::Reset => {
                s.tokens.clear();
                s.deltas.clear();
                s.candidates.clear();
                s.n_prompt = 0;
                s.playing = false;
                s.finished = None;
                s.focus = None;
                s.step_ms.clear();
                s.attn_version += 1;
            }
            Action::Worker(msg) => s.apply(msg),
        }
        Rc::new(s)
    }
}

impl State {
    fn apply(&mut self, msg: FromWorker) {
        match msg {
            FromWorker::Alive => {}
            FromWorker::Progress { phase, done, total } => self.load = Load::Loading { phase, done, total },
            FromWorker::Ready { backend, webgpu, note, n_layers, n_heads, n_kv_heads, n_ctx, cached, load_ms } => {
                self.load = Load::Ready;
                self.backend = backend;
                self.webgpu = webgpu;
                self.note = note;
                self.n_layers = n_layers;
                self.n_heads = n_heads;
                self.n_kv_heads = n_kv_heads;
                self.n_ctx = n_ctx;
                self.cached = cached;
                self.load_ms = load_ms;
                self.busy = false;
            }
            FromWorker::Prefilled { tokens, candidates, ms, .. } => {
                self.prefill_tokens = tokens.len();
                self.n_prompt = tokens.len();
                self.tokens = tokens.into_iter().map(|t| Tok { id: t.id, text: t.text, kind: TokKind::Prompt, prob: None }).collect();
                self.deltas.clear();
                self.candidates = candidates;
                self.prefill_ms = ms;
                self.step_ms.clear();
                self.busy = false;
                self.finished = None;
                self.focus = None;
                self.attn_version += 1;
            }
            FromWorker::Stepped { step, next } => {
                let prob = step.candidates.iter().find(|c| c.id == step.token).map(|c| c.prob);
                let kind = if step.forced { TokKind::Forced } else { TokKind::Generated };
                self.tokens.push(Tok { id: step.token, text: step.text, kind, prob });
                self.deltas.push(step.text_delta);
                self.candidates = next;
                self.step_ms.push(step.timing.forward_ms);
                if self.step_ms.len() > 32 {
                    self.step_ms.remove(0);
                }
                self.busy = false;
                self.steps_done += 1;
                self.attn_version += 1;
                if step.eos {
                    self.finished = Some("end of sequence".into());
                    self.playing = false;
                } else if self.generated() >= self.max_tokens {
                    self.finished = Some(format!("{} tokens generated (the maximum)", self.max_tokens));
                    self.playing = false;
                } else if let Some(r) = self.stop_reason() {
                    self.finished = Some(r);
                    self.playing = false;
                }
            }
            FromWorker::Undone { removed, candidates } => {
                if removed.is_some() {
                    self.tokens.pop();
                    self.deltas.pop();
                    self.attn_version += 1;
                }
                self.candidates = candidates;
                self.finished = None;
                self.busy = false;
            }
            FromWorker::Error { message } => {
                if matches!(self.load, Load::Ready) {
                    self.error = Some(message);
                } else {
                    self.load = Load::Failed(message);
                }
                self.busy = false;
                self.playing = false;
            }
        }
    }
}
