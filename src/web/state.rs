//! The page's state: one reducer with an `Action` enum. It keeps only what
//! the page itself shows (tokens, candidates, settings, timings); the
//! numbers views draw stay in the worker until a view asks for them.

use std::rc::Rc;

use yew::Reducible;

use crate::beam::{BeamOptions, BeamTree};
use crate::generate::Sampling;
use crate::model::{ModelInfo, Problem};
use crate::protocol::{FromWorker, KeptModel, Phase};
use crate::trace::Candidate;

/// A beam search as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct BeamView {
    pub tree: BeamTree,
    pub greedy: BeamTree,
    /// After the prompt: the top 5 first tokens (id, log p).
    pub root: Vec<(u32, f32)>,
    pub pieces: std::collections::HashMap<u32, String>,
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

/// Why generation stopped (or cannot go on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    EndOfSequence,
    MaxTokens(usize),
    ContextFull(usize),
    NoPrompt,
    BeamDone,
}

impl Stop {
    pub fn describe(self, tr: &crate::i18n::Catalog) -> String {
        match self {
            Stop::EndOfSequence => tr.t("stop-eos"),
            Stop::MaxTokens(n) => tr.tf("stop-max", &[("n", n.into())]),
            Stop::ContextFull(n) => tr.tf("stop-context", &[("n", n.into())]),
            Stop::NoPrompt => tr.t("stop-prompt"),
            Stop::BeamDone => tr.t("stop-beam"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Load {
    Starting,
    Loading { phase: Phase, done: u64, total: u64 },
    Ready,
    Failed(String),
}

/// A user's own model on its way in: read, checked, shown, then loaded;
/// the current model keeps working meanwhile and after a failure.
#[derive(Clone, Debug, PartialEq)]
pub enum Opening {
    /// Reading and checking the file (`phase` Read, then Parse).
    Reading { name: String, phase: Phase, done: u64, total: u64 },
    /// Checked: what it holds, waiting for Load or Cancel. `gpu`: why it
    /// cannot go on this GPU (it would run on the CPU).
    Inspected { name: String, info: Box<ModelInfo>, key: String, gpu: Option<String> },
    /// Going to the GPU (or the CPU).
    Loading { name: String, phase: Phase, done: u64, total: u64 },
    Failed { name: String, problem: Problem, message: String },
}

impl Opening {
    pub fn name(&self) -> &str {
        match self {
            Opening::Reading { name, .. } | Opening::Inspected { name, .. } | Opening::Loading { name, .. } | Opening::Failed { name, .. } => name,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Heatmap,
    Grid,
    Lines,
}

/// The views of what happens inside one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inside {
    Math,
    Lens,
    Residual,
}

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub load: Load,
    pub backend: String,
    pub webgpu: bool,
    pub note: Option<String>,
    pub cached: bool,
    pub load_ms: f64,
    pub model: String,
    /// Where the model came from: the served file's URL, a kept model's
    /// cache key ("kept/…"), or "" for a file used once.
    pub model_key: String,
    pub model_bytes: u64,
    /// Whether the model is in the browser cache.
    pub model_kept: bool,
    /// A kept model that was asked for (by a link or the last visit) but is
    /// no longer in this browser.
    pub model_missing: Option<String>,
    /// A user's model being opened.
    pub opening: Option<Opening>,
    /// The GPU device was lost (why): the page offers the CPU or a reload.
    pub device_lost: Option<String>,
    /// The engine stopped and was restarted (why); the session was replayed.
    pub restarted: Option<String>,
    /// Models kept in this browser.
    pub kept: Vec<KeptModel>,
    pub vocab: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub n_ctx: usize,
    /// Shared, so that cloning the state for each action does not copy them.
    pub tokens: Rc<Vec<Tok>>,
    /// Bumped whenever positions already shown may change (a new prompt,
    /// Undo, Reset): views keep what they fetched while it is unchanged
    /// and the sequence only grows.
    pub epoch: u64,
    pub n_prompt: usize,
    /// Text completed by each generated token (joined: the generated text).
    pub deltas: Rc<Vec<String>>,
    /// For each generated token: the candidates it was chosen from.
    pub step_cands: Rc<Vec<Vec<Candidate>>>,
    pub candidates: Vec<Candidate>,
    /// With heads switched off: each candidate's probability with every head on.
    pub baseline: Option<Vec<f32>>,
    /// Heads switched off, (layer, head), sorted.
    pub ablation: Vec<(usize, usize)>,
    /// A request is with the worker.
    pub busy: bool,
    pub playing: bool,
    /// Bumped after each step, so that Play can ask for the next one.
    pub steps_done: u64,
    pub finished: Option<Stop>,
    pub error: Option<String>,
    pub prefill_ms: f64,
    /// How long the last switch of heads took (the sequence is recomputed).
    pub ablate_ms: f64,
    pub prefill_tokens: usize,
    /// Forward-pass milliseconds of recent steps (the engine's time).
    pub step_ms: Vec<f64>,
    /// A Step or Force in flight: (sequence length once it has landed, sent at ms).
    pub pending: Option<(Option<usize>, f64)>,
    /// Click-to-painted milliseconds of recent steps (what the user waits).
    pub e2e_ms: Vec<f64>,
    /// Sequence length of the last step that was painted.
    pub painted_len: usize,
    /// When recent steps arrived during Play (ms), for the tokens/s a user sees.
    pub play_times: Vec<f64>,
    pub layer: usize,
    pub head: usize,
    pub view: View,
    pub inside: Inside,
    /// The query position whose attention the line view and tooltip follow.
    pub focus: Option<usize>,
    pub sampling: Sampling,
    /// Beam mode (instead of greedy or sampling), its settings and the search.
    pub beam_mode: bool,
    pub beam_opts: BeamOptions,
    pub beam: Option<Rc<BeamView>>,
    /// The uniform draw of the last sampled step, and the token it picked.
    pub last_draw: Option<(f64, u32)>,
    /// Colour the token chips by the probability the model gave each.
    pub prob_colours: bool,
    pub chat: bool,
    pub max_tokens: usize,
    pub lang: crate::i18n::Lang,
    /// The guided tour's current stop, when it is open.
    pub tour: Option<usize>,
    /// Resets sent to the worker and not yet answered (`Cleared`): replies
    /// that arrive before then belong to the sequence that was reset, and
    /// are dropped (the worker answers in order).
    pub resetting: u32,
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
            model: String::new(),
            model_key: String::new(),
            model_bytes: 0,
            model_kept: false,
            model_missing: None,
            opening: None,
            device_lost: None,
            restarted: None,
            kept: Vec::new(),
            vocab: 0,
            n_layers: 0,
            n_heads: 0,
            n_kv_heads: 0,
            head_dim: 0,
            n_ctx: 0,
            tokens: Rc::default(),
            epoch: 0,
            n_prompt: 0,
            deltas: Rc::default(),
            step_cands: Rc::default(),
            candidates: Vec::new(),
            baseline: None,
            ablation: Vec::new(),
            busy: false,
            playing: false,
            steps_done: 0,
            finished: None,
            error: None,
            prefill_ms: 0.0,
            ablate_ms: 0.0,
            prefill_tokens: 0,
            step_ms: Vec::new(),
            pending: None,
            e2e_ms: Vec::new(),
            painted_len: 0,
            play_times: Vec::new(),
            layer: 0,
            head: 0,
            view: View::Heatmap,
            inside: Inside::Math,
            focus: None,
            sampling: Sampling::greedy(),
            beam_mode: false,
            beam_opts: BeamOptions { width: 3, steps: 12, length_penalty: 0.0 },
            beam: None,
            last_draw: None,
            prob_colours: false,
            chat: false,
            max_tokens: 64,
            lang: crate::i18n::Lang::En,
            tour: None,
            resetting: 0,
        }
    }
}

pub enum Action {
    /// A message from the worker.
    Worker(FromWorker),
    /// A request went to the worker; `step_at` when it was a Step or Force.
    Sent { step_at: Option<f64> },
    /// A view drew what the first `len` tokens show, at `at` ms.
    Painted { len: usize, at: f64 },
    Play(bool),
    Select { layer: usize, head: usize },
    View(View),
    Inside(Inside),
    Focus(Option<usize>),
    Sampling(Sampling),
    BeamMode(bool),
    BeamOpts(BeamOptions),
    ProbColours(bool),
    Lang(crate::i18n::Lang),
    Tour(Option<usize>),
    Chat(bool),
    MaxTokens(usize),
    Reset,
    /// The model bar's own steps: a file picked (reading), cancelled, confirmed, dismissed.
    Opening(Option<Opening>),
    /// A new worker is starting after the old one stopped (why).
    Restarting(String),
    /// Dismiss (None) the restart notice.
    Restarted(Option<String>),
    DismissError,
    /// Something the page itself found wrong (a damaged link, a refused file).
    Fail(String),
}

impl State {
    pub fn generated(&self) -> usize {
        self.tokens.len() - self.n_prompt
    }
    pub fn text(&self) -> String {
        self.deltas.concat()
    }
    /// Whether another step is allowed, and if not why.
    pub fn stop_reason(&self) -> Option<Stop> {
        if self.tokens.is_empty() {
            return Some(Stop::NoPrompt);
        }
        if self.n_ctx > 0 && self.tokens.len() >= self.n_ctx {
            return Some(Stop::ContextFull(self.n_ctx));
        }
        None
    }
    /// Engine tokens/s: forward passes only.
    pub fn decode_tok_s(&self) -> Option<f64> {
        let n = self.step_ms.len();
        (n > 0).then(|| 1e3 * n as f64 / self.step_ms.iter().sum::<f64>())
    }
    /// Tokens/s a user sees during Play (arrival to arrival).
    pub fn play_tok_s(&self) -> Option<f64> {
        let t = &self.play_times;
        (t.len() >= 3).then(|| 1e3 * (t.len() - 1) as f64 / (t[t.len() - 1] - t[0]))
    }
}

fn push_recent(v: &mut Vec<f64>, x: f64) {
    v.push(x);
    if v.len() > 32 {
        v.remove(0);
    }
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Sent { step_at } => {
                s.busy = true;
                if let Some(at) = step_at {
                    s.pending = Some((None, at));
                }
            }
            Action::Painted { len, at } => match s.pending {
                Some((Some(want), t0)) if want == len && s.tokens.len() == len => {
                    push_recent(&mut s.e2e_ms, at - t0);
                    s.pending = None;
                    s.painted_len = len;
                }
                _ => return self,
            },
            Action::Play(p) => {
                s.playing = p;
                s.play_times.clear();
            }
            Action::Select { layer, head } => {
                s.layer = layer;
                s.head = head;
            }
            Action::View(v) => s.view = v,
            Action::Inside(v) => s.inside = v,
            Action::Focus(f) => s.focus = f,
            Action::Sampling(x) => s.sampling = x,
            Action::BeamMode(on) => {
                s.beam_mode = on;
                s.beam = None;
            }
            Action::BeamOpts(o) => {
                s.beam_opts = o;
                s.beam = None;
            }
            Action::ProbColours(on) => s.prob_colours = on,
            Action::Lang(l) => s.lang = l,
            Action::Tour(t) => s.tour = t,
            Action::Chat(c) => s.chat = c,
            Action::MaxTokens(n) => s.max_tokens = n.max(1),
            Action::DismissError => s.error = None,
            Action::Fail(m) => s.error = Some(m),
            Action::Reset => {
                s.clear_session();
                s.resetting += 1;
            }
            Action::Opening(o) => s.opening = o,
            Action::Restarting(why) => {
                s.clear_session();
                s.resetting = 0;
                s.load = Load::Starting;
                s.busy = false;
                s.device_lost = None;
                s.opening = None;
                s.restarted = Some(why);
            }
            Action::Restarted(r) => s.restarted = r,
            Action::Worker(msg) => s.apply(msg),
        }
        Rc::new(s)
    }
}

impl State {
    /// The name of the file being opened ("" when none).
    fn opening_name(&self) -> String {
        self.opening.as_ref().map_or_else(String::new, |o| o.name().to_string())
    }

    /// Forget the sequence (Reset, and a new model).
    fn clear_session(&mut self) {
        self.tokens = Rc::default();
        self.deltas = Rc::default();
        self.step_cands = Rc::default();
        self.candidates.clear();
        self.n_prompt = 0;
        self.playing = false;
        self.finished = None;
        self.focus = None;
        self.step_ms.clear();
        self.pending = None;
        self.beam = None;
        self.last_draw = None;
        self.epoch += 1;
    }

    fn apply(&mut self, msg: FromWorker) {
        // A reply to a request made before a Reset the worker has not
        // answered yet: it belongs to the old sequence.
        if self.resetting > 0
            && matches!(
                msg,
                FromWorker::Prefilled { .. } | FromWorker::Stepped { .. } | FromWorker::Undone { .. } | FromWorker::Ablated { .. } | FromWorker::Beam { .. } | FromWorker::Replayed { .. }
            )
        {
            self.busy = false;
            return;
        }
        match msg {
            FromWorker::Alive => {}
            // While the user's file is read or loaded, the current model stays
            // usable: progress goes to the model bar, not the status line.
            FromWorker::Progress { phase, done, total } => match &self.opening {
                Some(Opening::Reading { name, .. }) if phase != Phase::Upload && phase != Phase::Shaders => {
                    self.opening = Some(Opening::Reading { name: name.clone(), phase, done, total })
                }
                Some(o @ (Opening::Reading { .. } | Opening::Loading { .. } | Opening::Inspected { .. })) => {
                    self.opening = Some(Opening::Loading { name: o.name().to_string(), phase, done, total })
                }
                _ => self.load = Load::Loading { phase, done, total },
            },
            FromWorker::Inspected { info, key, gpu } => {
                let name = self.opening_name();
                self.opening = Some(Opening::Inspected { name, info: Box::new(info), key, gpu });
            }
            FromWorker::OpenFailed { problem, message } => {
                let name = self.opening_name();
                self.opening = Some(Opening::Failed { name, problem, message });
                self.busy = false;
            }
            FromWorker::Models { kept } => self.kept = kept,
            FromWorker::Ready { model, vocab, backend, webgpu, note, n_layers, n_heads, n_kv_heads, head_dim, n_ctx, cached, load_ms, key, file_bytes, missing, kept } => {
                // A new model starts a new session, with its own shape.
                self.clear_session();
                self.resetting = 0;
                self.opening = None;
                self.ablation.clear();
                self.baseline = None;
                self.error = None;
                self.layer = self.layer.min(n_layers.saturating_sub(1));
                self.head = self.head.min(n_heads.saturating_sub(1));
                self.model_key = key;
                self.model_bytes = file_bytes;
                self.model_kept = kept;
                self.model_missing = missing;
                self.model = model;
                self.vocab = vocab;
                self.head_dim = head_dim;
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
            FromWorker::Prefilled { tokens, candidates, ms, more, baseline } => {
                self.baseline = baseline;
                self.prefill_tokens = tokens.len();
                self.n_prompt = tokens.len();
                self.tokens = Rc::new(tokens.into_iter().map(|t| Tok { id: t.id, text: t.text, kind: TokKind::Prompt, prob: None }).collect());
                self.deltas = Rc::default();
                self.step_cands = Rc::default();
                self.candidates = candidates;
                self.prefill_ms = ms;
                self.step_ms.clear();
                // A Stepped follows when the prefill came with a step.
                self.busy = more;
                self.finished = None;
                self.focus = None;
                self.epoch += 1;
            }
            FromWorker::Stepped { step, next, baseline } => {
                self.baseline = baseline;
                let prob = step.candidates.iter().find(|c| c.id == step.token).map(|c| c.prob);
                let kind = if step.forced { TokKind::Forced } else { TokKind::Generated };
                self.last_draw = step.draw.map(|u| (u, step.token));
                Rc::make_mut(&mut self.tokens).push(Tok { id: step.token, text: step.text, kind, prob });
                Rc::make_mut(&mut self.deltas).push(step.text_delta);
                Rc::make_mut(&mut self.step_cands).push(step.candidates);
                self.candidates = next;
                push_recent(&mut self.step_ms, step.timing.forward_ms);
                if let Some((want @ None, _)) = &mut self.pending {
                    *want = Some(self.tokens.len());
                }
                if self.playing {
                    push_recent(&mut self.play_times, crate::web::link::now_ms());
                }
                self.busy = false;
                self.steps_done += 1;
                // A step taken after a stop (Step after end-of-sequence) lifts it.
                self.finished = None;
                if step.eos {
                    self.finished = Some(Stop::EndOfSequence);
                    self.playing = false;
                } else if self.generated() >= self.max_tokens {
                    self.finished = Some(Stop::MaxTokens(self.max_tokens));
                    self.playing = false;
                } else if let Some(r) = self.stop_reason() {
                    self.finished = Some(r);
                    self.playing = false;
                }
            }
            FromWorker::Ablated { off, candidates, baseline, ms } => {
                self.ablation = off;
                self.candidates = candidates;
                self.baseline = baseline;
                self.busy = false;
                self.ablate_ms = ms;
                // Every position was recomputed.
                self.epoch += 1;
            }
            FromWorker::Undone { removed, candidates, baseline } => {
                self.baseline = baseline;
                if removed.is_some() {
                    Rc::make_mut(&mut self.tokens).pop();
                    Rc::make_mut(&mut self.deltas).pop();
                    Rc::make_mut(&mut self.step_cands).pop();
                    self.epoch += 1;
                }
                self.candidates = candidates;
                self.finished = None;
                self.busy = false;
            }
            FromWorker::Cleared => {
                self.busy = false;
                self.resetting = self.resetting.saturating_sub(1);
            }
            FromWorker::Beam { tree, greedy, root, pieces } => {
                self.busy = false;
                if tree.done {
                    self.finished = Some(Stop::BeamDone);
                    self.playing = false;
                } else {
                    self.finished = None;
                }
                self.steps_done += 1;
                self.beam = Some(Rc::new(BeamView { tree, greedy, root, pieces: pieces.into_iter().collect() }));
            }
            FromWorker::Replayed { tokens, n_prompt, candidates, baseline } => {
                let toks: Vec<Tok> = tokens
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| Tok { id: t.id, text: t.text, kind: if i < n_prompt { TokKind::Prompt } else { TokKind::Forced }, prob: None })
                    .collect();
                self.deltas = Rc::new(toks[n_prompt..].iter().map(|t| t.text.clone()).collect());
                self.step_cands = Rc::new(vec![Vec::new(); toks.len() - n_prompt]);
                self.tokens = Rc::new(toks);
                self.n_prompt = n_prompt;
                self.candidates = candidates;
                self.baseline = baseline;
                self.busy = false;
                self.focus = None;
                self.epoch += 1;
            }
            FromWorker::Answer { .. } => {}
            FromWorker::DeviceLost { message } => {
                self.device_lost = Some(message);
                self.busy = false;
                self.playing = false;
                self.pending = None;
            }
            FromWorker::Crashed { message } => self.error = Some(message),
            FromWorker::Error { message } if matches!(self.opening, Some(Opening::Reading { .. } | Opening::Loading { .. })) => {
                let name = self.opening_name();
                self.opening = Some(Opening::Failed { name, problem: Problem::Other, message });
                self.busy = false;
            }
            FromWorker::Error { message } => {
                // (It may answer the Reset itself: never wait for a Cleared that will not come.)
                self.resetting = 0;
                if matches!(self.load, Load::Ready) {
                    self.error = Some(message);
                } else {
                    self.load = Load::Failed(message);
                }
                self.busy = false;
                self.playing = false;
                self.pending = None;
            }
        }
    }
}
