//! The page's state: one reducer with an `Action` enum. The session and the
//! requests in flight are the control core's (`crate::control`): the state
//! holds its latest snapshot, published by `Link` after each change. The
//! rest is the page's own, one sub-state per concern: the model and its
//! loading, the views, the timings a person sees. The numbers views draw
//! stay in the worker until a view asks for them.

use std::rc::Rc;

use yew::Reducible;

use crate::control::Control;
pub use crate::control::{BeamView, Stop, Tok, TokKind};
use crate::model::{ModelInfo, Problem};
use crate::protocol::{FromWorker, KeptModel, Phase};

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

/// Compare mode: which sequence the attention views show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shown {
    #[default]
    A,
    B,
    /// B − A, cell by cell (when both have as many tokens).
    Diff,
}

/// The views of what happens inside one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inside {
    Math,
    Lens,
    Residual,
    /// Why this token: direct logit attribution.
    Why,
    /// How information flowed to the position.
    Flow,
    /// Activation patching: two prompts, one piece copied between them.
    Patch,
}

/// The model the page runs, and how it got here.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelState {
    pub load: Load,
    pub backend: String,
    pub webgpu: bool,
    pub note: Option<String>,
    pub cached: bool,
    pub load_ms: f64,
    pub name: String,
    /// Where the model came from: the served file's URL, a kept model's
    /// cache key ("kept/…"), or "" for a file used once.
    pub key: String,
    pub bytes: u64,
    /// Whether the model is in the browser cache.
    pub kept: bool,
    /// A kept model that was asked for (by a link or the last visit) but is
    /// no longer in this browser.
    pub missing: Option<String>,
    /// A user's model being opened.
    pub opening: Option<Opening>,
    /// Models kept in this browser.
    pub kept_models: Vec<KeptModel>,
    pub vocab: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub dim: usize,
    pub ffn_dim: usize,
    /// Whether the output matrix is the embedding's.
    pub tied: bool,
    /// Why the context is shorter than the model's own, when it is.
    pub capped: Option<crate::protocol::Capped>,
    /// The CPU engine's threads (0 on WebGPU), and why a pool the page
    /// asked for did not start.
    pub threads: usize,
    pub pool_error: Option<String>,
}

impl Default for ModelState {
    fn default() -> ModelState {
        ModelState {
            load: Load::Starting,
            backend: String::new(),
            webgpu: false,
            note: None,
            cached: false,
            load_ms: 0.0,
            name: String::new(),
            key: String::new(),
            bytes: 0,
            kept: false,
            missing: None,
            opening: None,
            kept_models: Vec::new(),
            vocab: 0,
            n_layers: 0,
            n_heads: 0,
            n_kv_heads: 0,
            head_dim: 0,
            dim: 0,
            ffn_dim: 0,
            tied: false,
            capped: None,
            threads: 0,
            pool_error: None,
        }
    }
}

/// What the views show: which head, which panel, which query.
#[derive(Clone, Debug, PartialEq)]
pub struct Views {
    pub layer: usize,
    pub head: usize,
    pub view: View,
    pub inside: Inside,
    /// The query position whose attention the line view and tooltip follow.
    pub focus: Option<usize>,
    /// Colour the token chips by the probability the model gave each.
    pub prob_colours: bool,
    /// The guided tour's current stop, when it is open.
    pub tour: Option<usize>,
    /// The all-heads grid coloured by what each head does (None: plain).
    pub role: Option<crate::roles::Role>,
    /// The patching view's experiment, once it ran (share links carry it).
    pub patch: Option<crate::share::PatchPrompts>,
    /// Compare mode: A, B or B − A in the attention views.
    pub shown: Shown,
}

impl Default for Views {
    fn default() -> Views {
        Views { layer: 0, head: 0, view: View::Heatmap, inside: Inside::Math, focus: None, prob_colours: false, tour: None, role: None, patch: None, shown: Shown::A }
    }
}

/// What a person waits for, measured on the page's clock.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timings {
    /// A step in flight: (sequence length once it has landed, sent at ms).
    pub pending: Option<(Option<usize>, f64)>,
    /// Click-to-painted milliseconds of recent steps.
    pub e2e_ms: Vec<f64>,
    /// Sequence length of the last step that was painted.
    pub painted_len: usize,
    /// When recent steps arrived during Play (ms), for the tokens/s a person sees.
    pub play_times: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// The session as the control core has it (its latest snapshot).
    pub ctl: Rc<Control>,
    pub model: ModelState,
    pub views: Views,
    pub timings: Timings,
    /// The GPU device was lost (why): the page offers the CPU or a reload.
    pub device_lost: Option<String>,
    /// The engine stopped and was restarted (why); the session was replayed.
    pub restarted: Option<String>,
    pub error: Option<String>,
    pub lang: crate::i18n::Lang,
}

impl Default for State {
    fn default() -> State {
        State {
            ctl: Rc::default(),
            model: ModelState::default(),
            views: Views::default(),
            timings: Timings::default(),
            device_lost: None,
            restarted: None,
            error: None,
            lang: crate::i18n::Lang::En,
        }
    }
}

#[derive(Clone)]
pub enum Action {
    /// The control core changed (published by `Link`).
    Control(Rc<Control>),
    /// A message from the worker that is the page's, not the session's.
    Worker(FromWorker),
    /// A step went to the worker at `at` ms.
    StepSent { at: f64 },
    /// A step landed: the sequence is `len` long.
    StepLanded { len: usize, at: f64, playing: bool },
    /// A view drew what the first `len` tokens show, at `at` ms.
    Painted { len: usize, at: f64 },
    Select { layer: usize, head: usize },
    View(View),
    /// Colour the all-heads grid by a head role (None: plain).
    Role(Option<crate::roles::Role>),
    /// The patching view ran this experiment.
    Patch(Option<crate::share::PatchPrompts>),
    /// Compare mode: what the attention views show.
    Shown(Shown),
    Inside(Inside),
    Focus(Option<usize>),
    ProbColours(bool),
    Lang(crate::i18n::Lang),
    Tour(Option<usize>),
    /// Play was switched on or off (the tokens/s a person sees starts over).
    Playing,
    /// The model bar's own steps: a file picked (reading), cancelled, confirmed, dismissed.
    Opening(Option<Opening>),
    /// A new worker is starting after the old one stopped (why).
    Restarting(String),
    /// Dismiss (None) the restart notice.
    Restarted(Option<String>),
    DismissError,
    /// Something the page found wrong (a damaged link, a refused file, a failed command).
    Fail(String),
}

impl State {
    /// Engine tokens/s: forward passes only.
    pub fn decode_tok_s(&self) -> Option<f64> {
        let ms = &self.ctl.step_ms;
        (!ms.is_empty()).then(|| 1e3 * ms.len() as f64 / ms.iter().sum::<f64>())
    }
    /// Tokens/s a person sees during Play (arrival to arrival).
    pub fn play_tok_s(&self) -> Option<f64> {
        let t = &self.timings.play_times;
        (t.len() >= 3).then(|| 1e3 * (t.len() - 1) as f64 / (t[t.len() - 1] - t[0]))
    }
    pub fn ready(&self) -> bool {
        matches!(self.model.load, Load::Ready)
    }
    /// Query heads per KV head.
    pub fn group(&self) -> usize {
        (self.model.n_heads / self.model.n_kv_heads.max(1)).max(1)
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
            Action::Control(c) => {
                // The focus stays on its token while the tokens up to it are
                // the same (a step, an Undo after it); a new sequence drops it
                // (a replay brings its own, which the views check against the tokens).
                if let Some(f) = s.views.focus {
                    let same = Rc::ptr_eq(&c.tokens, &s.ctl.tokens) || c.tokens.get(..=f).is_some_and(|a| Some(a) == s.ctl.tokens.get(..=f));
                    if !same && !c.replaying() {
                        s.views.focus = None;
                    }
                }
                // A Reset: no step is on its way any more.
                if c.tokens.is_empty() && !c.busy() {
                    s.timings.pending = None;
                }
                s.ctl = c;
            }
            Action::StepSent { at } => s.timings.pending = Some((None, at)),
            Action::StepLanded { len, at, playing } => {
                if let Some((want @ None, _)) = &mut s.timings.pending {
                    *want = Some(len);
                }
                if playing {
                    push_recent(&mut s.timings.play_times, at);
                }
            }
            Action::Painted { len, at } => match s.timings.pending {
                Some((Some(want), t0)) if want == len && s.ctl.tokens.len() == len => {
                    push_recent(&mut s.timings.e2e_ms, at - t0);
                    s.timings.pending = None;
                    s.timings.painted_len = len;
                }
                _ => return self,
            },
            Action::Playing => s.timings.play_times.clear(),
            Action::Select { layer, head } => {
                s.views.layer = layer;
                s.views.head = head;
            }
            Action::View(v) => s.views.view = v,
            Action::Role(r) => s.views.role = r,
            Action::Patch(pp) => s.views.patch = pp,
            Action::Shown(v) => s.views.shown = v,
            Action::Inside(v) => s.views.inside = v,
            Action::Focus(f) => s.views.focus = f,
            Action::ProbColours(on) => s.views.prob_colours = on,
            Action::Lang(l) => s.lang = l,
            Action::Tour(t) => s.views.tour = t,
            Action::DismissError => s.error = None,
            Action::Fail(m) => s.error = Some(m),
            Action::Opening(o) => s.model.opening = o,
            Action::Restarting(why) => {
                s.timings = Timings::default();
                s.model.load = Load::Starting;
                s.model.opening = None;
                s.device_lost = None;
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
        self.model.opening.as_ref().map_or_else(String::new, |o| o.name().to_string())
    }

    fn apply(&mut self, msg: FromWorker) {
        let m = &mut self.model;
        match msg {
            // While the user's file is read or loaded, the current model stays
            // usable: progress goes to the model bar, not the status line.
            FromWorker::Progress { phase, done, total } => match &m.opening {
                Some(Opening::Reading { name, .. }) if phase != Phase::Upload && phase != Phase::Shaders => {
                    m.opening = Some(Opening::Reading { name: name.clone(), phase, done, total })
                }
                Some(o @ (Opening::Reading { .. } | Opening::Loading { .. } | Opening::Inspected { .. })) => {
                    m.opening = Some(Opening::Loading { name: o.name().to_string(), phase, done, total })
                }
                _ => m.load = Load::Loading { phase, done, total },
            },
            FromWorker::Inspected { info, key, gpu } => {
                let name = self.opening_name();
                self.model.opening = Some(Opening::Inspected { name, info: Box::new(info), key, gpu });
            }
            FromWorker::OpenFailed { problem, message } => {
                let name = self.opening_name();
                self.model.opening = Some(Opening::Failed { name, problem, message });
            }
            FromWorker::Models { kept } => m.kept_models = kept,
            FromWorker::Ready { model, vocab, backend, webgpu, note, n_layers, n_heads, n_kv_heads, head_dim, dim, ffn_dim, tied, n_ctx: _, capped, threads, pool_error, cached, load_ms, key, file_bytes, missing, kept } => {
                m.capped = capped;
                m.threads = threads;
                m.pool_error = pool_error;
                m.dim = dim;
                m.ffn_dim = ffn_dim;
                // A new model starts a new session, with its own shape.
                m.opening = None;
                m.key = key;
                m.bytes = file_bytes;
                m.kept = kept;
                m.missing = missing;
                m.name = model;
                m.vocab = vocab;
                m.head_dim = head_dim;
                m.load = Load::Ready;
                m.backend = backend;
                m.webgpu = webgpu;
                m.note = note;
                m.n_layers = n_layers;
                m.n_heads = n_heads;
                m.n_kv_heads = n_kv_heads;
                m.tied = tied;
                m.cached = cached;
                m.load_ms = load_ms;
                self.views.layer = self.views.layer.min(n_layers.saturating_sub(1));
                self.views.head = self.views.head.min(n_heads.saturating_sub(1));
                self.views.focus = None;
                self.timings = Timings::default();
                self.error = None;
                // (A model loaded after the device was lost runs on a new one.)
                self.device_lost = None;
            }
            FromWorker::DeviceLost { message } => {
                self.device_lost = Some(message);
                self.timings.pending = None;
            }
            FromWorker::Crashed { message } => self.error = Some(message),
            FromWorker::Error { message } if matches!(m.opening, Some(Opening::Reading { .. } | Opening::Loading { .. })) => {
                let name = self.opening_name();
                self.model.opening = Some(Opening::Failed { name, problem: Problem::Other, message });
            }
            FromWorker::Error { message } => {
                if matches!(m.load, Load::Ready) {
                    self.error = Some(message);
                } else {
                    m.load = Load::Failed(message);
                }
                self.timings.pending = None;
            }
            // The session's messages are the control core's.
            _ => {}
        }
    }
}
