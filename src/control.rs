//! The page's control core: what the page knows of the session, which
//! requests are with the worker, and what a person's action sends. Native
//! (nothing here touches the browser), so that `tests/control.rs` drives it
//! against the orchestrator it talks to, with random actions and replies in
//! random order. Buttons, keys, links, session files and restarts all go
//! through `Control::intent`; the worker's replies through `receive`; Play
//! and replays through `pump`.
//!
//! ## Requests
//! Every request gets a new id (1, 2, 3, …; never 0 and never reused) and
//! the worker echoes it in each reply. `inflight` holds the requests not yet
//! ended (by their last reply), each marked *superseded* once a Reset or a
//! replay has made its answer obsolete: replies to a superseded request are
//! dropped, by id. Settings the engine took from such a request (heads off,
//! sampling) still count, since the engine did take them.
//!
//! ## States and transitions
//! - **NoModel**: before the first `Ready`, and after a restart.
//! - **Switching**: a `Load` or `OpenConfirm` in flight (the current model,
//!   if any, keeps its session until `Ready`).
//! - **Idle**: a model, no session command in flight.
//! - **Busy**: a session command in flight (not superseded).
//! - **Playing**: Play is on: `pump` sends the next step whenever Idle.
//! - **Replaying**: a link, file or restart is being replayed: `pump`
//!   sends its commands one by one, each when the one before has ended.
//!
//! | intent        | allowed when                                    | sends                      | to a request in flight |
//! |---------------|-------------------------------------------------|----------------------------|------------------------|
//! | Step          | Idle, not Playing, prompt, room left            | Prefill+step / Step / BeamStart / BeamStep | — |
//! | Play          | Idle (or Playing: Pause)                        | (pump: as Step; then each next one as the last lands, `pump_ahead`: Steps { n }, or Step) | — |
//! | Pause         | Playing                                         | nothing                    | lands as usual (all n of a Steps) |
//! | Force         | Idle, not Playing, not beam mode, a sequence    | Force                      | —                      |
//! | Undo          | Idle, not Playing, a generated token / beam step| Undo / BeamUndo            | —                      |
//! | BeamChoose    | Idle, not Playing, the node exists              | BeamChoose                 | —                      |
//! | Ablate        | Idle, a model                                   | Ablate                     | —                      |
//! | Sampling      | a model, not Replaying                          | SetSampling (a sequence)   | — (queued after it)    |
//! | Reset         | a model                                         | Reset                      | superseded             |
//! | Prompt, Chat, BeamMode, BeamOpts | not Replaying                | Reset (a sequence or search) | superseded           |
//! | Compare       | not Replaying; a prompt B only outside beam mode | Reset (a sequence)    | superseded             |
//! | Replay        | a model                                         | Reset, then (pump) the script | superseded          |
//! | Switch        | not Switching                                   | Load / OpenConfirm         | answered before it; superseded at `Ready` |
//!
//! Play ahead: greedy Play's requests are `Steps { n }` (`ahead_steps`: as
//! many as fit in `PLAY_BATCH_MS` at the recent step time, up to
//! `ahead_max`: 8 on a GPU, where the engine runs them to one submission
//! and one readback, 4 on the CPU, where the page draws once for all; one
//! reply, `StepsAhead`, applied step by step). They count n ahead for the
//! views' questions (`ahead`), like n plain steps.
//!
//! Replaying and Switching are Busy for every intent but Reset (which
//! cancels a replay), Switch and Replay. Pause, Prompt, Chat and settings
//! need no model. A refused intent sends nothing and changes nothing.
//!
//! ## Compare mode
//! With a second prompt (`compare`), the Prefill carries it and the engine
//! keeps a second sequence, B, in lock step with the first, A: every Step,
//! Force and Undo acts on both, so one request still changes the session
//! and the table above is unchanged. B's replies (`FromWorker::B`) come
//! before A's and land in `b`. Beam mode turns compare mode off.

use std::collections::VecDeque;
use std::rc::Rc;

use crate::beam::{BeamOptions, BeamTree};
use crate::sampling::Sampling;
use crate::protocol::{Command, FromWorker, Reply, Request, RequestId, TokenInfo, ToWorker};
use crate::share::{Decoding, Shared, ViewState};
use crate::trace::{Candidate, StepTrace};

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
    /// The settings it was drawn with (generated, not forced).
    pub drawn: Option<Sampling>,
    /// The heads that were off when it was computed (generated and forced).
    pub off: Option<Rc<Vec<(usize, usize)>>>,
}

/// Compare mode's second sequence (B) as the engine has it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeqB {
    pub tokens: Rc<Vec<Tok>>,
    pub n_prompt: usize,
    /// Text completed by each generated token.
    pub deltas: Rc<Vec<String>>,
    /// For each generated token: the candidates it was chosen from.
    pub step_cands: Rc<Vec<Vec<Candidate>>>,
    pub candidates: Vec<Candidate>,
    /// Its last token ended the text.
    pub eos: bool,
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

/// What a person (a button, a key, a link, a file, a restart) asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Intent {
    Step,
    /// Play, or Pause when playing.
    PlayPause,
    Pause,
    Undo,
    Reset,
    Force(u32),
    BeamChoose(usize),
    /// Switch these (layer, head)s off, every other on.
    Ablate(Vec<(usize, usize)>),
    /// The prompt was edited (a sequence made from the old one is reset).
    Prompt(String),
    Chat(bool),
    Sampling(Sampling),
    BeamMode(bool),
    BeamOpts(BeamOptions),
    /// Compare mode on with this second prompt, or off (None).
    Compare(Option<String>),
    MaxTokens(usize),
    /// Replay a shared session from scratch (a link, a file, a restart).
    Replay(Box<Replay>),
    /// Load another model (`ToWorker::Load` or `OpenConfirm`).
    Switch(ToWorker),
}

/// A session to replay, and what it must give.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    pub session: Shared,
    /// A session file's generated ids: the replay must give these, or the
    /// page says where they part and puts `previous` back.
    pub expect: Option<Vec<u32>>,
    pub previous: Option<Shared>,
}

/// Why a replay cannot start.
#[derive(Clone, Debug, PartialEq)]
pub enum Refused {
    /// More steps than the model's context holds.
    TooLong { steps: usize, n_ctx: usize },
    /// Not now (no model yet, or a model is being switched).
    NotNow,
}

/// What a reply did.
#[derive(Clone, Debug, PartialEq)]
pub enum Received {
    /// The session changed (or nothing did: `Cleared`, `Done`); the page
    /// draws from `Control`. `stepped`: a token was added.
    Applied { stepped: bool },
    /// A reply to a superseded request.
    Dropped,
    /// Not the session's: loading progress, a new model, kept models, an
    /// inspected file, a question's answer, the worker's own news, and the
    /// errors of such requests. The page's own state takes it.
    Page(Box<FromWorker>),
    /// A session command failed: what to show (Play and replays stopped).
    Failed(String),
    /// A replayed session file did not give its tokens: at generated index
    /// `at`, the file has `file` and the model gave `model` (None: fewer
    /// tokens). The page puts `previous` back (a replay of its own).
    Edited { at: usize, file: u32, model: Option<u32>, previous: Option<Box<Shared>> },
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Session(Command),
    /// Load or OpenConfirm.
    Switch,
    /// Anything else (questions, the model bar's requests).
    Other,
}

#[derive(Clone, Debug, PartialEq)]
struct Sent {
    id: RequestId,
    kind: Kind,
    superseded: bool,
    /// Play's next step, sent as soon as the last one landed, before the
    /// page drew it (`pump_ahead`).
    ahead: bool,
    /// The settings a step is drawn with, and the heads off when it is
    /// computed (the engine's when it runs it).
    sampling: Sampling,
    off: Rc<Vec<(usize, usize)>>,
}

impl Sent {
    /// Its reply changes what the page shows (`Control::in_flight`).
    fn changes_view(&self) -> bool {
        match &self.kind {
            Kind::Session(Command::Reset | Command::SetSampling { .. }) => false,
            Kind::Session(_) => !self.superseded,
            Kind::Switch => true,
            Kind::Other => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Script {
    commands: VecDeque<Command>,
    expect: Option<Vec<u32>>,
    previous: Option<Shared>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Control {
    next_id: RequestId,
    inflight: Vec<Sent>,
    /// A model is loaded (`Ready` came, and no restart since).
    pub ready: bool,
    /// Positions the session may use (the model's context, or the page's cap).
    pub n_ctx: usize,
    // What the person set up.
    pub prompt: String,
    pub chat: bool,
    pub sampling: Sampling,
    pub beam_mode: bool,
    pub beam_opts: BeamOptions,
    pub max_tokens: usize,
    /// Compare mode's second prompt (None: compare mode is off).
    pub compare: Option<String>,
    /// Compare mode's second sequence, as the engine has it.
    pub b: SeqB,
    /// The sampling settings and heads off the engine has (the last ones sent).
    engine_sampling: Sampling,
    engine_off: Rc<Vec<(usize, usize)>>,
    /// The model's layers and heads per layer.
    pub shape: (usize, usize),
    // The session as the engine has it.
    pub tokens: Rc<Vec<Tok>>,
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
    pub beam: Option<Rc<BeamView>>,
    /// The beam node whose branch is the sequence.
    pub branch: Option<usize>,
    /// Bumped whenever positions already shown may change (a new prompt,
    /// Undo, Reset, heads switched): views keep what they fetched while it
    /// is unchanged and the sequence only grows.
    pub epoch: u64,
    /// The uniform draw of the last sampled step, and the token it picked.
    pub last_draw: Option<(f64, u32)>,
    pub finished: Option<Stop>,
    pub playing: bool,
    script: Option<Script>,
    /// Bumped after each step or beam step.
    pub steps_done: u64,
    // The engine's timings.
    pub prefill_ms: f64,
    pub prefill_tokens: usize,
    pub ablate_ms: f64,
    /// Forward-pass milliseconds of recent steps.
    pub step_ms: Vec<f64>,
    /// Play's steps per request (`Command::Steps`): at most this many (1: a
    /// step at a time). Set when a model is ready: `PLAY_AHEAD_MAX` on a
    /// GPU, `PLAY_AHEAD_MAX_CPU` on the CPU engine, or `ahead_param`.
    pub ahead_max: usize,
    /// The address's `?ahead=N`: always N, however long a step takes.
    pub ahead_param: Option<usize>,
    /// Play ahead so far: replies, the steps they took, the bytes the
    /// device read back for them.
    pub ahead_reads: (usize, usize, u64),
}

/// Most steps one Play request takes on a GPU (issue: at most one readback
/// per 8 tokens during Play).
pub const PLAY_AHEAD_MAX: usize = 8;
/// Most steps one Play request takes on the CPU engine. There each token
/// the page draws costs the main thread about as much as a step costs the
/// engine, and on two cores the drawing takes the core the engine's second
/// thread needs: four steps to a drawing played 29 tok/s where one played
/// 21 (84-token prompt, default views, `bench/page_play.mjs`), and the
/// page still shows every token, several times a second.
pub const PLAY_AHEAD_MAX_CPU: usize = 4;
/// Unless the address fixes the count, a request takes as many steps as
/// fit in this long at the recent step time, so a slow device still shows
/// a token several times a second.
pub const PLAY_BATCH_MS: f64 = 250.0;

impl Default for Control {
    fn default() -> Control {
        Control {
            next_id: 0,
            inflight: Vec::new(),
            ready: false,
            n_ctx: 0,
            prompt: String::new(),
            chat: false,
            sampling: Sampling::greedy(),
            beam_mode: false,
            beam_opts: BeamOptions { width: 3, steps: 12, length_penalty: 0.0 },
            max_tokens: 64,
            compare: None,
            b: SeqB::default(),
            engine_sampling: Sampling::greedy(),
            engine_off: Rc::default(),
            shape: (0, 0),
            tokens: Rc::default(),
            n_prompt: 0,
            deltas: Rc::default(),
            step_cands: Rc::default(),
            candidates: Vec::new(),
            baseline: None,
            ablation: Vec::new(),
            beam: None,
            branch: None,
            epoch: 0,
            last_draw: None,
            finished: None,
            playing: false,
            script: None,
            steps_done: 0,
            prefill_ms: 0.0,
            prefill_tokens: 0,
            ablate_ms: 0.0,
            step_ms: Vec::new(),
            ahead_max: 1,
            ahead_param: None,
            ahead_reads: (0, 0, 0),
        }
    }
}

fn push_recent(v: &mut Vec<f64>, x: f64) {
    v.push(x);
    if v.len() > 32 {
        v.remove(0);
    }
}

impl Control {
    pub fn new(prompt: &str) -> Control {
        Control { prompt: prompt.to_string(), ..Control::default() }
    }

    pub fn generated(&self) -> usize {
        self.tokens.len() - self.n_prompt
    }

    /// The generated text.
    pub fn text(&self) -> String {
        self.deltas.concat()
    }

    /// A session command (not superseded) whose reply changes what the
    /// page shows, or a model switch, is in flight. (A Reset's or a
    /// SetSampling's reply changes nothing here: the page took them when it
    /// sent them, and the worker runs what follows after them.)
    pub fn in_flight(&self) -> bool {
        self.inflight.iter().any(Sent::changes_view)
    }

    /// A model switch is in flight.
    pub fn switching(&self) -> bool {
        self.inflight.iter().any(|s| s.kind == Kind::Switch)
    }

    pub fn replaying(&self) -> bool {
        self.script.is_some()
    }

    /// Views wait while the sequence may still change: a command in flight
    /// or a replay under way.
    pub fn busy(&self) -> bool {
        self.in_flight() || self.replaying()
    }

    /// How many steps the worker's sequence is ahead of the page's when
    /// all that is in flight is Play's next steps sent ahead (`pump_ahead`):
    /// they only append, so a question about the page's sequence is a
    /// question about a prefix of the worker's. None when anything else
    /// that changes the sequence is in flight.
    pub fn ahead(&self) -> Option<usize> {
        let mut n = 0;
        for s in self.inflight.iter().filter(|s| s.changes_view()) {
            match (&s.kind, s.ahead) {
                (Kind::Session(Command::Step), true) => n += 1,
                (Kind::Session(Command::Steps { n: k }), true) => n += k,
                _ => return None,
            }
        }
        Some(n)
    }

    /// Whether the views hold their questions: `busy`, except while the
    /// only thing in flight is Play's next step sent ahead (the views ask
    /// about what they show, and the worker answers it as a prefix).
    pub fn views_wait(&self) -> bool {
        self.replaying() || (self.in_flight() && self.ahead().is_none())
    }

    /// Requests in flight, oldest first (for tests and the HUD).
    pub fn pending(&self) -> Vec<RequestId> {
        self.inflight.iter().map(|s| s.id).collect()
    }

    /// Whether another step is allowed, and if not why.
    pub fn stop_reason(&self) -> Option<Stop> {
        if self.tokens.is_empty() {
            return Some(Stop::NoPrompt);
        }
        // (In compare mode, B's sequence is as long as its prompt is.)
        if self.n_ctx > 0 && self.tokens.len().max(self.b.tokens.len()) >= self.n_ctx {
            return Some(Stop::ContextFull(self.n_ctx));
        }
        None
    }

    /// Whether a step (Step, or the next of Play) can go now.
    fn can_step(&self) -> bool {
        if !self.ready || self.busy() || self.prompt.trim().is_empty() || self.compare.as_ref().is_some_and(|c| c.trim().is_empty()) {
            return false;
        }
        if self.beam_mode {
            return self.beam.as_ref().is_none_or(|b| !b.tree.done);
        }
        self.tokens.is_empty() || self.stop_reason().is_none()
    }

    /// Whether `intent` would do something now (buttons are disabled otherwise).
    pub fn allowed(&self, intent: &Intent) -> bool {
        let idle = self.ready && !self.busy();
        match intent {
            Intent::Step => self.can_step() && !self.playing,
            Intent::PlayPause => self.playing || self.can_step(),
            Intent::Pause => self.playing,
            Intent::Undo if self.beam_mode => idle && !self.playing && self.beam.as_ref().is_some_and(|b| b.tree.steps.len() > 1),
            Intent::Undo => idle && !self.playing && self.generated() > 0,
            Intent::Force(_) => idle && !self.playing && !self.beam_mode && self.stop_reason().is_none(),
            Intent::BeamChoose(node) => idle && !self.playing && self.beam.as_ref().is_some_and(|b| *node < b.tree.nodes.len()),
            Intent::Ablate(off) => idle && off.iter().all(|&(l, h)| l < self.shape.0 && h < self.shape.1),
            Intent::Reset => self.ready && !self.switching(),
            Intent::Sampling(s) => !self.replaying() && s.validate().is_ok(),
            Intent::Prompt(_) | Intent::Chat(_) | Intent::BeamMode(_) | Intent::BeamOpts(_) => !self.replaying() && !self.switching(),
            Intent::Compare(c) => !self.replaying() && !self.switching() && (c.is_none() || !self.beam_mode),
            Intent::MaxTokens(n) => *n >= 1,
            Intent::Replay(_) => self.ready && !self.switching(),
            Intent::Switch(_) => !self.switching(),
        }
    }

    /// A new request id.
    pub fn new_id(&mut self) -> RequestId {
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        self.next_id
    }

    fn send(&mut self, kind: Kind, msg: ToWorker) -> Request {
        let id = self.new_id();
        match &msg {
            ToWorker::Session(Command::Prefill { sampling, .. } | Command::SetSampling { sampling }) => self.engine_sampling = sampling.clone(),
            ToWorker::Session(Command::Ablate { off }) => self.engine_off = Rc::new(crate::inspect::Ablation::new(off.clone()).off),
            _ => {}
        }
        self.inflight.push(Sent { id, kind, superseded: false, ahead: false, sampling: self.engine_sampling.clone(), off: self.engine_off.clone() });
        Request { id, msg }
    }

    fn command(&mut self, c: Command) -> Request {
        self.send(Kind::Session(c.clone()), ToWorker::Session(c))
    }

    /// A request that is not the session's (the model bar's, test hooks):
    /// numbered and tracked until its last reply.
    pub fn other(&mut self, msg: ToWorker) -> Request {
        self.send(Kind::Other, msg)
    }

    /// A view's question: numbered; its answer is the asker's.
    pub fn ask_id(&mut self) -> RequestId {
        self.new_id()
    }

    /// Forget the sequence as the page shows it.
    fn clear_session(&mut self) {
        self.tokens = Rc::default();
        self.deltas = Rc::default();
        self.step_cands = Rc::default();
        self.candidates.clear();
        self.baseline = None;
        self.n_prompt = 0;
        self.playing = false;
        self.finished = None;
        self.step_ms.clear();
        self.beam = None;
        self.branch = None;
        self.last_draw = None;
        self.b = SeqB::default();
        self.epoch += 1;
    }

    /// Reset: the page forgets the sequence now, every session request in
    /// flight is superseded, a replay is cancelled, and the engine is told.
    fn reset(&mut self) -> Request {
        for s in self.inflight.iter_mut() {
            if matches!(s.kind, Kind::Session(_)) {
                s.superseded = true;
            }
        }
        self.script = None;
        self.clear_session();
        self.command(Command::Reset)
    }

    /// Reset when there is a sequence or a search (or something on its way
    /// to make one), so that the next step starts from the new settings.
    fn reset_if_started(&mut self) -> Vec<Request> {
        let started = !self.tokens.is_empty() || self.beam.is_some() || self.in_flight() || self.playing;
        if self.ready && started {
            vec![self.reset()]
        } else {
            self.playing = false;
            Vec::new()
        }
    }

    /// A new value for a setting the sequence was made from (the prompt,
    /// chat mode, beam mode): the next step starts a new sequence.
    fn restart_with<T: PartialEq>(&mut self, v: T, field: impl Fn(&mut Control) -> &mut T) -> Vec<Request> {
        if *field(self) == v {
            return Vec::new();
        }
        *field(self) = v;
        self.reset_if_started()
    }

    /// The next step's command (Step and Play alike).
    fn step_command(&self) -> Command {
        if self.beam_mode {
            return match self.beam {
                None => Command::BeamStart { prompt: self.prompt.clone(), chat: self.chat, opts: self.beam_opts },
                Some(_) => Command::BeamStep,
            };
        }
        if self.tokens.is_empty() {
            Command::Prefill { prompt: self.prompt.clone(), chat: self.chat, sampling: self.sampling.clone(), step: true, compare: self.compare.clone() }
        } else {
            Command::Step
        }
    }

    /// Carry out what a person asked for: the requests to post now, in
    /// order (none when it is not allowed now).
    pub fn intent(&mut self, intent: Intent) -> Vec<Request> {
        if !self.allowed(&intent) {
            return Vec::new();
        }
        match intent {
            Intent::Step => {
                let c = self.step_command();
                vec![self.command(c)]
            }
            Intent::PlayPause | Intent::Pause if self.playing => {
                self.playing = false;
                Vec::new()
            }
            Intent::PlayPause => {
                self.playing = true;
                self.pump().into_iter().collect()
            }
            Intent::Pause => Vec::new(),
            Intent::Undo => {
                let c = if self.beam_mode { Command::BeamUndo } else { Command::Undo };
                vec![self.command(c)]
            }
            Intent::Reset => vec![self.reset()],
            Intent::Force(id) => vec![self.command(Command::Force { id })],
            Intent::BeamChoose(node) => vec![self.command(Command::BeamChoose { node })],
            Intent::Ablate(off) => vec![self.command(Command::Ablate { off })],
            Intent::Prompt(p) => self.restart_with(p, |c| &mut c.prompt),
            Intent::Chat(chat) => self.restart_with(chat, |c| &mut c.chat),
            Intent::BeamMode(on) => {
                // Beam search has no second sequence.
                if on {
                    self.compare = None;
                }
                self.restart_with(on, |c| &mut c.beam_mode)
            }
            Intent::Compare(c) => self.restart_with(c, |c| &mut c.compare),
            Intent::BeamOpts(o) => {
                if o == self.beam_opts || o.check().is_err() {
                    return Vec::new();
                }
                self.beam_opts = o;
                // A search (or one on its way) was made with the old settings.
                if self.beam_mode {
                    self.reset_if_started()
                } else {
                    Vec::new()
                }
            }
            Intent::Sampling(s) => {
                self.sampling = s.clone();
                if self.ready && (!self.tokens.is_empty() || self.in_flight()) && s != self.engine_sampling {
                    // Taken from the next step on; ordered after anything in flight.
                    vec![self.command(Command::SetSampling { sampling: s })]
                } else {
                    Vec::new()
                }
            }
            Intent::MaxTokens(n) => {
                self.max_tokens = n;
                if matches!(self.finished, Some(Stop::MaxTokens(_))) && self.generated() < n {
                    self.finished = None;
                }
                Vec::new()
            }
            Intent::Replay(r) => self.replay(*r).unwrap_or_default(),
            Intent::Switch(msg) => {
                self.playing = false;
                self.script = None;
                vec![self.send(Kind::Switch, msg)]
            }
        }
    }

    /// Start replaying `r`: the settings it names at once, then (from
    /// `pump`) the commands that made it, one at a time.
    pub fn replay(&mut self, r: Replay) -> Result<Vec<Request>, Refused> {
        if !self.allowed(&Intent::Replay(Box::new(r.clone()))) {
            return Err(Refused::NotNow);
        }
        let sh = &r.session;
        // Every step takes a position after at least one of the prompt.
        if sh.steps >= self.n_ctx {
            return Err(Refused::TooLong { steps: sh.steps, n_ctx: self.n_ctx });
        }
        let reset = self.reset();
        self.prompt = sh.prompt.clone();
        self.chat = sh.chat;
        self.compare = if matches!(sh.decoding, Decoding::Beam(_)) { None } else { sh.compare.clone() };
        let mut commands = VecDeque::new();
        let ablation = crate::inspect::Ablation::new(sh.ablation.clone()).off;
        let mut off = if matches!(sh.decoding, Decoding::Beam(_)) { ablation.clone() } else { sh.heads_at(0) };
        if off != *self.engine_off {
            commands.push_back(Command::Ablate { off: off.clone() });
        }
        match &sh.decoding {
            Decoding::Beam(opts) => {
                self.beam_mode = true;
                self.beam_opts = *opts;
                commands.push_back(Command::BeamStart { prompt: sh.prompt.clone(), chat: sh.chat, opts: *opts });
                commands.extend((1..sh.steps.min(opts.steps)).map(|_| Command::BeamStep));
                if let Some(node) = sh.branch {
                    commands.push_back(Command::BeamChoose { node });
                }
            }
            d => {
                self.beam_mode = false;
                self.sampling = d.sampling().effective();
                let mut cur = sh.drawn_at(0);
                commands.push_back(Command::Prefill { prompt: sh.prompt.clone(), chat: sh.chat, sampling: cur.clone(), step: false, compare: self.compare.clone() });
                for i in 0..sh.steps {
                    let o = sh.heads_at(i);
                    if o != off {
                        commands.push_back(Command::Ablate { off: o.clone() });
                        off = o;
                    }
                    match sh.forced.iter().find(|f| f.0 == i) {
                        Some(&(_, id)) => commands.push_back(Command::Force { id }),
                        None => {
                            let s = sh.drawn_at(i);
                            if s != cur {
                                commands.push_back(Command::SetSampling { sampling: s.clone() });
                                cur = s;
                            }
                            commands.push_back(Command::Step);
                        }
                    }
                }
                if cur != self.sampling {
                    commands.push_back(Command::SetSampling { sampling: self.sampling.clone() });
                }
                if off != ablation {
                    commands.push_back(Command::Ablate { off: ablation });
                }
            }
        }
        self.script = Some(Script { commands, expect: r.expect, previous: r.previous });
        let mut out = vec![reset];
        out.extend(self.pump());
        Ok(out)
    }

    /// Play's next step at once, when the step that just landed leaves
    /// Play going: the worker computes it while the page draws the last
    /// one. Only plain steps (not a beam, compare mode or a replay), and
    /// one ahead at most.
    pub fn pump_ahead(&mut self) -> Option<Request> {
        if !self.playing || self.beam_mode || self.compare.is_some() || self.script.is_some() || self.tokens.is_empty() || self.finished.is_some() || !self.can_step() {
            return None;
        }
        let n = self.ahead_steps();
        let r = self.command(if n > 1 { Command::Steps { n } } else { Command::Step });
        if let Some(s) = self.inflight.last_mut() {
            s.ahead = true;
        }
        Some(r)
    }

    /// How many steps Play's next request takes: one, or where the engine
    /// goes ahead on its device (greedy, every head on) as many as fit in
    /// `PLAY_BATCH_MS` at the recent step time, up to `ahead_max` (all of
    /// it when the address fixed it); never past Max tokens or the context.
    fn ahead_steps(&self) -> usize {
        if self.ahead_max <= 1 || self.engine_sampling.temperature > 0.0 || !self.engine_off.is_empty() {
            return 1;
        }
        let room = self.max_tokens.saturating_sub(self.generated()).min(self.n_ctx.saturating_sub(self.tokens.len()));
        let n = if self.ahead_param.is_some() {
            self.ahead_max
        } else {
            let ms = self.step_ms.last().copied().unwrap_or(f64::INFINITY);
            ((PLAY_BATCH_MS / ms.max(0.01)).floor() as usize).clamp(1, self.ahead_max)
        };
        n.min(room).max(1)
    }

    /// What goes out next without a person asking: a replay's next command,
    /// or Play's next step. None while a command is in flight.
    pub fn pump(&mut self) -> Option<Request> {
        if !self.ready || self.in_flight() {
            return None;
        }
        if let Some(script) = self.script.as_mut() {
            return script.commands.pop_front().map(|c| self.command(c));
        }
        if !self.playing {
            return None;
        }
        if self.can_step() && self.finished.is_none() {
            let c = self.step_command();
            return Some(self.command(c));
        }
        self.playing = false;
        None
    }

    /// The session as a link describes it (the view is the page's).
    pub fn shared(&self, view: ViewState, lang: crate::i18n::Lang, model: Option<String>) -> Shared {
        let generated = &self.tokens[self.n_prompt.min(self.tokens.len())..];
        let decoding = if self.beam_mode {
            Decoding::Beam(self.beam_opts)
        } else if self.sampling.temperature > 0.0 {
            Decoding::Sample(self.sampling.clone())
        } else {
            Decoding::Greedy
        };
        let (steps, forced, drawn) = if self.beam_mode {
            (self.beam.as_ref().map_or(0, |b| b.tree.steps.len()), Vec::new(), Vec::new())
        } else {
            let forced = generated.iter().enumerate().filter(|(_, t)| t.kind == TokKind::Forced).map(|(i, t)| (i, t.id)).collect();
            let mut drawn = Vec::new();
            let mut prev = decoding.sampling();
            for (i, t) in generated.iter().enumerate() {
                if let Some(s) = t.drawn.as_ref().filter(|&s| *s != prev) {
                    drawn.push((i, s.clone()));
                    prev = s.clone();
                }
            }
            (generated.len(), forced, drawn)
        };
        let mut heads = Vec::new();
        if !self.beam_mode {
            let mut prev = &self.ablation;
            for (i, t) in generated.iter().enumerate() {
                if let Some(off) = t.off.as_deref().filter(|&off| off != prev) {
                    heads.push((i, off.clone()));
                    prev = off;
                }
            }
        }
        Shared {
            prompt: self.prompt.clone(),
            chat: self.chat,
            decoding,
            steps,
            forced,
            drawn,
            branch: if self.beam_mode { self.branch } else { None },
            ablation: self.ablation.clone(),
            heads,
            view,
            lang,
            model,
            compare: if self.beam_mode { None } else { self.compare.clone() },
        }
    }

    /// Take a reply from the worker.
    pub fn receive(&mut self, reply: Reply) -> Received {
        let Some(at) = self.inflight.iter().position(|s| s.id == reply.id) else {
            // The worker's own news, or a reply to a request made before a
            // restart (a new worker never sends those).
            return Received::Page(Box::new(reply.msg));
        };
        let sent = if reply.last { self.inflight.remove(at) } else { self.inflight[at].clone() };
        let out = match &sent.kind {
            Kind::Other => Received::Page(Box::new(reply.msg)),
            Kind::Switch => {
                if let FromWorker::Ready { n_ctx, n_layers, n_heads, threads, .. } = &reply.msg {
                    self.model_ready(*n_ctx);
                    self.shape = (*n_layers, *n_heads);
                    // Play goes ahead several steps a request: on a GPU (no
                    // CPU threads) for fewer readbacks, on the CPU for fewer
                    // drawings.
                    self.ahead_max = self.ahead_param.unwrap_or(if *threads == 0 { PLAY_AHEAD_MAX } else { PLAY_AHEAD_MAX_CPU }).max(1);
                }
                Received::Page(Box::new(reply.msg))
            }
            Kind::Session(_) if sent.superseded => {
                // The engine still took the heads it was asked to switch.
                if let FromWorker::Ablated { off, .. } = reply.msg {
                    self.ablation = off;
                }
                Received::Dropped
            }
            Kind::Session(cmd) => self.apply(cmd, &sent, reply.msg),
        };
        if reply.last {
            if let Some(done) = self.replay_done() {
                return done;
            }
        }
        out
    }

    /// A new model: a new session, with its own shape.
    fn model_ready(&mut self, n_ctx: usize) {
        for s in self.inflight.iter_mut() {
            if matches!(s.kind, Kind::Session(_)) {
                s.superseded = true;
            }
        }
        self.script = None;
        self.clear_session();
        self.ablation.clear();
        self.engine_sampling = Sampling::greedy();
        self.engine_off = Rc::default();
        self.n_ctx = n_ctx;
        self.ready = true;
        self.max_tokens = self.max_tokens.min(n_ctx.max(1));
    }

    /// The worker is gone (a crash, a lost device): nothing in flight will
    /// be answered, and the next worker starts with no model.
    pub fn restart(&mut self) {
        self.inflight.clear();
        self.script = None;
        self.ready = false;
        self.clear_session();
        self.ablation.clear();
        self.engine_sampling = Sampling::greedy();
        self.engine_off = Rc::default();
    }

    /// A replay whose last command has ended: check what a file expected.
    fn replay_done(&mut self) -> Option<Received> {
        let done = self.script.as_ref().is_some_and(|s| s.commands.is_empty()) && !self.in_flight();
        if !done {
            return None;
        }
        let script = self.script.take()?;
        let expect = script.expect?;
        let got: Vec<u32> = self.tokens[self.n_prompt.min(self.tokens.len())..].iter().map(|t| t.id).collect();
        let at = (0..expect.len().max(got.len())).find(|&i| got.get(i) != expect.get(i))?;
        let &file = expect.get(at)?;
        Some(Received::Edited { at, file, model: got.get(at).copied(), previous: script.previous.map(Box::new) })
    }

    /// What the engine did to compare mode's second sequence (before it
    /// says what it did to the first).
    fn apply_b(&mut self, sent: &Sent, msg: FromWorker) {
        let b = &mut self.b;
        match msg {
            FromWorker::Prefilled { tokens, candidates, .. } => {
                b.n_prompt = tokens.len();
                b.tokens = Rc::new(tokens.into_iter().map(|t| Tok { id: t.id, text: t.text, kind: TokKind::Prompt, prob: None, drawn: None, off: None }).collect());
                b.deltas = Rc::default();
                b.step_cands = Rc::default();
                b.candidates = candidates;
                b.eos = false;
                self.epoch += 1;
            }
            FromWorker::Stepped { step, next, .. } => {
                let prob = step.candidates.iter().find(|c| c.id == step.token).map(|c| c.prob);
                let kind = if step.forced { TokKind::Forced } else { TokKind::Generated };
                let drawn = (!step.forced).then(|| sent.sampling.effective());
                Rc::make_mut(&mut b.tokens).push(Tok { id: step.token, text: step.text, kind, prob, drawn, off: Some(sent.off.clone()) });
                Rc::make_mut(&mut b.deltas).push(step.text_delta);
                Rc::make_mut(&mut b.step_cands).push(step.candidates);
                b.candidates = next;
                b.eos = step.eos;
            }
            FromWorker::Undone { removed, candidates, .. } => {
                if removed.is_some() {
                    Rc::make_mut(&mut b.tokens).pop();
                    Rc::make_mut(&mut b.deltas).pop();
                    Rc::make_mut(&mut b.step_cands).pop();
                }
                b.candidates = candidates;
                b.eos = false;
            }
            FromWorker::Ablated { candidates, .. } => b.candidates = candidates,
            _ => {}
        }
    }

    /// One token taken (`Stepped`, or each of `StepsAhead`'s).
    fn apply_step(&mut self, sent: &Sent, step: StepTrace, next: Vec<Candidate>, baseline: Option<Vec<f32>>) {
        let prob = step.candidates.iter().find(|c| c.id == step.token).map(|c| c.prob);
        let kind = if step.forced { TokKind::Forced } else { TokKind::Generated };
        let drawn = (!step.forced).then(|| sent.sampling.effective());
        self.last_draw = step.draw.map(|u| (u, step.token));
        Rc::make_mut(&mut self.tokens).push(Tok { id: step.token, text: step.text, kind, prob, drawn, off: Some(sent.off.clone()) });
        Rc::make_mut(&mut self.deltas).push(step.text_delta);
        Rc::make_mut(&mut self.step_cands).push(step.candidates);
        self.candidates = next;
        self.baseline = baseline;
        push_recent(&mut self.step_ms, step.timing.forward_ms);
        self.steps_done += 1;
        // A step taken after a stop (Step after end-of-sequence) lifts it.
        self.finished = None;
        // (Compare mode: B's step came first; either text ending stops.)
        if step.eos || (!self.b.tokens.is_empty() && self.b.eos) {
            self.finished = Some(Stop::EndOfSequence);
        } else if self.generated() >= self.max_tokens {
            self.finished = Some(Stop::MaxTokens(self.max_tokens));
        } else if let Some(r) = self.stop_reason() {
            self.finished = Some(r);
        }
        if self.finished.is_some() {
            self.playing = false;
        }
    }

    fn apply(&mut self, cmd: &Command, sent: &Sent, msg: FromWorker) -> Received {
        let toks = |tokens: Vec<TokenInfo>, n_prompt: usize| -> Vec<Tok> {
            tokens
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let (kind, off) = if i < n_prompt { (TokKind::Prompt, None) } else { (TokKind::Forced, Some(sent.off.clone())) };
                    Tok { id: t.id, text: t.text, kind, prob: None, drawn: None, off }
                })
                .collect()
        };
        match msg {
            FromWorker::Prefilled { tokens, candidates, ms, baseline } => {
                let n = tokens.len();
                self.tokens = Rc::new(toks(tokens, n));
                self.n_prompt = n;
                self.prefill_tokens = n;
                self.deltas = Rc::default();
                self.step_cands = Rc::default();
                self.candidates = candidates;
                self.baseline = baseline;
                self.prefill_ms = ms;
                self.step_ms.clear();
                self.finished = None;
                self.branch = None;
                self.epoch += 1;
                if !matches!(cmd, Command::BeamStart { .. }) {
                    self.beam = None;
                }
            }
            FromWorker::Stepped { step, next, baseline } => {
                self.apply_step(sent, step, next, baseline);
                return Received::Applied { stepped: true };
            }
            FromWorker::StepsAhead { steps, read_bytes } => {
                self.ahead_reads.0 += 1;
                self.ahead_reads.1 += steps.len();
                self.ahead_reads.2 += read_bytes.unwrap_or(0);
                for (step, next) in steps {
                    self.apply_step(sent, step, next, None);
                }
                return Received::Applied { stepped: true };
            }
            FromWorker::Undone { removed, candidates, baseline } => {
                if removed.is_some() {
                    Rc::make_mut(&mut self.tokens).pop();
                    Rc::make_mut(&mut self.deltas).pop();
                    Rc::make_mut(&mut self.step_cands).pop();
                    self.epoch += 1;
                }
                self.candidates = candidates;
                self.baseline = baseline;
                self.finished = None;
            }
            FromWorker::Ablated { off, candidates, baseline, ms } => {
                self.ablation = off;
                self.candidates = candidates;
                self.baseline = baseline;
                self.ablate_ms = ms;
                // Every position was recomputed.
                self.epoch += 1;
            }
            FromWorker::Beam { tree, greedy, root, pieces } => {
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
                let toks = toks(tokens, n_prompt);
                self.deltas = Rc::new(toks[n_prompt.min(toks.len())..].iter().map(|t| t.text.clone()).collect());
                self.step_cands = Rc::new(vec![Vec::new(); toks.len().saturating_sub(n_prompt)]);
                self.tokens = Rc::new(toks);
                self.n_prompt = n_prompt;
                self.candidates = candidates;
                self.baseline = baseline;
                self.finished = None;
                self.epoch += 1;
                // A chosen branch, or (a beam step taken back past it) the prompt alone.
                self.branch = match cmd {
                    Command::BeamChoose { node } => Some(*node),
                    _ => None,
                };
            }
            FromWorker::B(msg) => self.apply_b(sent, *msg),
            FromWorker::Cleared | FromWorker::Done => {}
            FromWorker::Error { message } => {
                if matches!(cmd, Command::Ablate { .. }) {
                    // The engine kept the heads it had.
                    self.engine_off = Rc::new(self.ablation.clone());
                }
                self.playing = false;
                self.script = None;
                return Received::Failed(message);
            }
            other => return Received::Page(Box::new(other)),
        }
        Received::Applied { stepped: false }
    }
}
