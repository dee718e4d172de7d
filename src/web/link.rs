//! The page's one handle on the engine. Components reach the worker only
//! through it: `intent` for what a person does (it goes through the control
//! core, which numbers the requests and knows what is in flight), `ask` for
//! what a view draws (answered with binary numbers), `act` for the page's
//! own state. It also starts the worker, routes its replies by request id,
//! and starts a new worker (replaying the session) when one dies.

use std::cell::{Cell, Ref, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};
use yew::prelude::*;

use crate::control::{Control, Intent, Received, Refused, Replay};
use crate::protocol::{Answer, BackendChoice, Command, FromWorker, Query, Reply, Request, RequestId, Side, ToWorker};
use crate::share::Shared;
use crate::web::clock::now_ms;
use crate::i18n::Tr;
use crate::web::params;
use crate::web::state::{Action, Inside, State, View};

/// What a view receives: the answer, and the floats that came with it.
pub type Answered = (Answer, Option<Vec<f32>>);

#[derive(Clone)]
pub struct Link(Rc<Inner>);

struct Inner {
    worker: RefCell<Option<Worker>>,
    control: RefCell<Control>,
    /// Questions asked and not answered, by request id.
    asks: RefCell<HashMap<RequestId, Callback<Answered>>>,
    dispatch: UseReducerDispatcher<State>,
    /// The page's messages in its language (set by the app as it renders).
    tr: RefCell<Option<Tr>>,
    /// The state as last rendered (for a restart's replay of the view).
    latest: RefCell<Option<UseReducerHandle<State>>>,
    /// The model a new worker loads first.
    load: RefCell<ToWorker>,
    restarts: Cell<u32>,
    /// After a restart: the session to replay once the model is ready.
    after_restart: RefCell<Option<Shared>>,
    /// The file the person opened last (being read, checked or loaded).
    inspecting: RefCell<Option<web_sys::File>>,
    /// The model in use is that file, used once: a new worker reads it again.
    opened: RefCell<Option<web_sys::File>>,
    /// Reading that file again after a restart: load it once inspected.
    reopening: Cell<bool>,
    /// An opened file's load (OpenConfirm) is on its way.
    confirming: Cell<bool>,
    /// The first model is another site's (`?model=URL`): when it cannot be
    /// had, the page says why and loads its default instead.
    first_remote: Cell<bool>,
    /// Why that model could not be had: said once the page's own is ready
    /// (a new model clears the error line).
    fallback_why: RefCell<Option<String>>,
    pump_scheduled: Cell<bool>,
    /// Questions asked, by kind, and Play's steps sent ahead ("StepAhead"),
    /// for the page's tests and benches.
    asked: RefCell<HashMap<&'static str, u32>>,
    /// Answers that came while Play's next step was computed, for the step's
    /// reply to hand over in its own task: the page then draws once, after
    /// the next step has gone out (drawn on their own, they kept the reply
    /// waiting behind their drawing).
    held: RefCell<Vec<(Callback<Answered>, Answered)>>,
}

impl PartialEq for Link {
    fn eq(&self, o: &Link) -> bool {
        Rc::ptr_eq(&self.0, &o.0)
    }
}

/// Read a worker message: a JSON string, or `[json, ArrayBuffer]` when
/// floats come with it.
fn decode(data: JsValue) -> (Reply, Option<Vec<f32>>) {
    let parse = |text: Option<String>| match text.map(|t| serde_json::from_str::<Reply>(&t)) {
        Some(Ok(r)) => r,
        Some(Err(e)) => Reply { id: 0, last: true, msg: FromWorker::Error { message: format!("bad message from the worker: {e}") } },
        None => Reply { id: 0, last: true, msg: FromWorker::Error { message: "bad message from the worker: not text".into() } },
    };
    if let Some(text) = data.as_string() {
        return (parse(Some(text)), None);
    }
    let pair: js_sys::Array = data.unchecked_into();
    let reply = parse(pair.get(0).as_string());
    let floats = pair.get(1).dyn_into::<js_sys::ArrayBuffer>().ok().map(|b| js_sys::Float32Array::new(&b).to_vec());
    (reply, floats)
}

/// Whether a request takes a step (its click-to-painted time is measured).
fn is_step(msg: &ToWorker) -> bool {
    matches!(msg, ToWorker::Session(Command::Step | Command::Steps { .. } | Command::Force { .. } | Command::Prefill { step: true, .. } | Command::BeamStep | Command::BeamStart { .. }))
}

impl Link {
    pub fn new(dispatch: UseReducerDispatcher<State>, prompt: &str) -> Link {
        Link(Rc::new(Inner {
            worker: RefCell::new(None),
            control: RefCell::new({
                let mut c = Control::new(prompt);
                c.ahead_param = params::play_ahead();
                c
            }),
            asks: RefCell::default(),
            dispatch,
            tr: RefCell::new(None),
            latest: RefCell::new(None),
            load: RefCell::new(params::load(&params::initial_model())),
            restarts: Cell::new(0),
            after_restart: RefCell::new(None),
            inspecting: RefCell::new(None),
            opened: RefCell::new(None),
            reopening: Cell::new(false),
            confirming: Cell::new(false),
            first_remote: Cell::new(false),
            fallback_why: RefCell::new(None),
            pump_scheduled: Cell::new(false),
            asked: RefCell::default(),
            held: RefCell::default(),
        }))
    }

    /// The app, as it renders: the state it shows and its language.
    pub fn rendered(&self, state: &UseReducerHandle<State>, tr: &Tr) {
        *self.0.latest.borrow_mut() = Some(state.clone());
        *self.0.tr.borrow_mut() = Some(tr.clone());
    }

    /// The control core as it is now (ahead of the last render).
    pub fn control(&self) -> Ref<'_, Control> {
        self.0.control.borrow()
    }

    /// How many times the worker was started again.
    pub fn restarts(&self) -> u32 {
        self.0.restarts.get()
    }

    fn post(&self, req: &Request, file: Option<&web_sys::File>) {
        let Some(w) = self.0.worker.borrow().clone() else { return };
        let text = JsValue::from_str(&serde_json::to_string(req).expect("messages serialize"));
        let _ = match file {
            None => w.post_message(&text),
            Some(f) => w.post_message(&js_sys::Array::of2(&text, f)),
        };
        if is_step(&req.msg) {
            self.0.dispatch.dispatch(Action::StepSent { at: now_ms() });
        }
    }

    /// The page shows the control core as it is now.
    pub fn publish(&self) {
        let snapshot = Rc::new(self.0.control.borrow().clone());
        self.0.dispatch.dispatch(Action::Control(snapshot));
    }

    /// What a person does: through the control core, which refuses what is
    /// not allowed now.
    pub fn intent(&self, i: Intent) {
        let play = matches!(i, Intent::PlayPause | Intent::Pause);
        if matches!(i, Intent::Switch(ToWorker::OpenConfirm { .. })) && self.control().allowed(&i) {
            self.0.confirming.set(true);
        }
        let reqs = self.0.control.borrow_mut().intent(i);
        for r in &reqs {
            self.post(r, None);
        }
        if play {
            self.0.dispatch.dispatch(Action::Playing);
        }
        self.publish();
        self.schedule_pump();
    }

    /// A replay's next command (and Play's first step, or one not sent
    /// ahead) goes out once the views have rendered what just landed and
    /// asked their own questions: in a microtask queued behind yew's render,
    /// which runs in a microtask too. (Play's steps go out ahead, in
    /// `receive`.)
    fn schedule_pump(&self) {
        if self.0.pump_scheduled.replace(true) {
            return;
        }
        let link = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            link.0.pump_scheduled.set(false);
            let next = link.0.control.borrow_mut().pump();
            if let Some(r) = next {
                link.post(&r, None);
                link.publish();
            }
        });
    }

    /// A request that is not the session's (kept models, test hooks).
    pub fn other(&self, msg: ToWorker) {
        let r = self.0.control.borrow_mut().other(msg);
        self.post(&r, None);
    }

    /// Send the person's model file to the worker to be read and checked
    /// (`[json, File]`: the browser hands the worker a reference, and the
    /// bytes are read there), for the backend and context this page loads with.
    pub fn open_file(&self, name: String, bytes: u64, file: &web_sys::File) {
        *self.0.inspecting.borrow_mut() = Some(file.clone());
        let (backend, n_ctx) = self.load_choice();
        let r = self.0.control.borrow_mut().other(ToWorker::Open { name, bytes, backend, n_ctx });
        self.post(&r, Some(file));
    }

    /// The backend and context this page loads models with.
    fn load_choice(&self) -> (BackendChoice, Option<usize>) {
        match &*self.0.load.borrow() {
            ToWorker::Load { backend, n_ctx, .. } => (*backend, *n_ctx),
            _ => (params::backend_choice(), params::ctx_cap()),
        }
    }

    /// Download a model another site serves, to be checked and shown as an
    /// opened file is (for the backend and context this page loads with).
    pub fn open_url(&self, url: String) {
        self.act(Action::Opening(Some(crate::web::state::Opening::Reading { name: url.clone(), phase: crate::protocol::Phase::Download, done: 0, total: 0 })));
        let (backend, n_ctx) = self.load_choice();
        let r = self.0.control.borrow_mut().other(ToWorker::OpenUrl { url, backend, n_ctx });
        self.post(&r, None);
    }

    /// Ask the worker a question about a sequence of `len` tokens; `reply`
    /// gets the answer (Stale if the sequence has changed). Returns the
    /// question's id (never 0, which the views use for "none").
    pub fn ask(&self, len: usize, query: Query, reply: Callback<Answered>) -> u32 {
        self.ask_on(Side::A, len, query, reply)
    }

    /// Ask about compare mode's sequence `side` (as `ask` does about A's).
    pub fn ask_on(&self, side: Side, len: usize, query: Query, reply: Callback<Answered>) -> u32 {
        let id = self.0.control.borrow_mut().ask_id();
        *self.0.asked.borrow_mut().entry(query.kind()).or_default() += 1;
        self.0.asks.borrow_mut().insert(id, reply);
        if self.0.worker.borrow().is_none() {
            self.0.asks.borrow_mut().remove(&id);
            return id;
        }
        // Play's next steps sent ahead of what the page shows (A's only).
        let ahead = if side == Side::A { self.0.control.borrow().ahead().unwrap_or(0) } else { 0 };
        self.post(&Request { id, msg: ToWorker::Ask { len, query, side, ahead } }, None);
        id
    }

    /// A view has drawn what the first `len` tokens show (for the HUD's
    /// click-to-painted time).
    pub fn painted(&self, len: usize) {
        self.0.dispatch.dispatch(Action::Painted { len, at: now_ms() });
    }

    pub fn act(&self, a: Action) {
        self.0.dispatch.dispatch(a);
    }

    /// Replay `sh` from scratch: its view at once, then the session. A
    /// session file's `expect`ed tokens are checked when the replay ends.
    pub fn replay(&self, sh: &Shared, expect: Option<Vec<u32>>, previous: Option<Shared>) -> Result<(), Refused> {
        let r = Replay { session: sh.clone(), expect, previous };
        let reqs = self.0.control.borrow_mut().replay(r)?;
        for q in &reqs {
            self.post(q, None);
        }
        let (n_layers, n_heads) = self.0.control.borrow().shape;
        let v = &sh.view;
        self.act(Action::Lang(sh.lang));
        self.act(Action::Select { layer: v.layer.min(n_layers.saturating_sub(1)), head: v.head.min(n_heads.saturating_sub(1)) });
        self.act(Action::View(match v.view.as_str() {
            "grid" => View::Grid,
            "lines" => View::Lines,
            _ => View::Heatmap,
        }));
        self.act(Action::Inside(match v.inside.as_str() {
            "lens" => Inside::Lens,
            "residual" => Inside::Residual,
            "why" => Inside::Why,
            "flow" => Inside::Flow,
            "patch" => Inside::Patch,
            _ => Inside::Math,
        }));
        self.act(Action::Patch(v.patch.clone()));
        self.act(Action::Focus(v.focus));
        // (The focus may point past the prompt: the views check it against the tokens.)
        self.publish();
        self.schedule_pump();
        Ok(())
    }

    /// The page's messages in its language (once the app has rendered).
    pub fn tr(&self) -> Option<Tr> {
        self.0.tr.borrow().clone()
    }

    /// The state as last rendered.
    pub fn state(&self) -> Option<UseReducerHandle<State>> {
        self.0.latest.borrow().clone()
    }

    /// Replay a link or a file, saying why not when it cannot be.
    pub fn replay_or_say(&self, sh: &Shared, expect: Option<Vec<u32>>, previous: Option<Shared>) {
        let Err(why) = self.replay(sh, expect, previous) else { return };
        let Some(tr) = self.tr() else { return };
        let msg = match why {
            Refused::TooLong { steps, n_ctx } => tr.tf("replay-too-long", &[("n", steps.into()), ("ctx", n_ctx.into())]),
            Refused::NotNow => tr.t("replay-not-now"),
        };
        self.act(Action::Fail(msg));
    }

    /// A reply from the worker.
    fn receive(&self, data: JsValue) {
        let (reply, floats) = decode(data);
        if let FromWorker::Answer { answer } = reply.msg {
            let cb = self.0.asks.borrow_mut().remove(&reply.id);
            if let Some(cb) = cb {
                if self.0.control.borrow().ahead().is_some_and(|n| n > 0) {
                    self.0.held.borrow_mut().push((cb, (answer, floats)));
                } else {
                    cb.emit((answer, floats));
                }
            }
            return;
        }
        let received = self.0.control.borrow_mut().receive(reply);
        self.publish();
        match received {
            Received::Applied { stepped: true } => {
                let c = self.0.control.borrow();
                let (len, playing) = (c.tokens.len(), c.playing);
                drop(c);
                self.act(Action::StepLanded { len, at: now_ms(), playing });
                // Play: the next step goes out now, before this one is
                // drawn, so the engine computes while the page draws (the
                // views' questions follow it and are answered about what
                // they show: Ask.ahead).
                let next = self.0.control.borrow_mut().pump_ahead();
                if let Some(r) = next {
                    self.post(&r, None);
                    self.publish();
                    *self.0.asked.borrow_mut().entry("StepAhead").or_default() += 1;
                }
            }
            Received::Applied { .. } | Received::Dropped => {}
            Received::Failed(message) => self.act(Action::Fail(message)),
            Received::Edited { at, file, model, previous } => {
                if let Some(p) = previous {
                    let _ = self.replay(&p, None, None);
                }
                if let Some(tr) = self.tr() {
                    let msg = tr.tf("file-edited", &[("i", (at + 1).into()), ("file", (file as usize).into()), ("model", model.map_or(0, |x| x as usize).into())]);
                    self.act(Action::Fail(msg));
                }
            }
            Received::Page(msg) => self.page_message(*msg),
        }
        let held = std::mem::take(&mut *self.0.held.borrow_mut());
        for (cb, answered) in held {
            cb.emit(answered);
        }
        self.schedule_pump();
    }

    fn page_message(&self, msg: FromWorker) {
        if matches!(msg, FromWorker::OpenFailed { .. }) {
            self.0.confirming.set(false);
        }
        match msg {
            FromWorker::Alive => {
                // `?test-hooks&no-cache`: as if the browser had no Cache API.
                if params::query_param("test-hooks").is_some() && params::query_param("no-cache").is_some() {
                    self.other(ToWorker::TestHook { what: "no-cache".into() });
                }
                let file = self.0.opened.borrow().clone().filter(|_| self.0.reopening.get());
                match file {
                    // The model the person used once, read again from their file.
                    Some(f) => self.open_file(f.name(), f.size() as u64, &f),
                    None => {
                        let load = self.0.load.borrow().clone();
                        if let ToWorker::Load { url, .. } = &load {
                            // Another site's model: its download shows in the model bar.
                            if crate::protocol::remote::is_remote(url) {
                                self.0.first_remote.set(true);
                                self.act(Action::Opening(Some(crate::web::state::Opening::Loading { name: url.clone(), phase: crate::protocol::Phase::Download, done: 0, total: 0 })));
                            }
                        }
                        self.intent(Intent::Switch(load));
                    }
                }
            }
            FromWorker::Crashed { message } => self.recover(message, None),
            FromWorker::Inspected { .. } if self.0.reopening.get() => self.intent(Intent::Switch(ToWorker::OpenConfirm { keep: false })),
            FromWorker::OpenFailed { message, .. } if self.0.reopening.replace(false) => {
                // The file cannot be read again (moved, changed): the served model, no replay.
                self.0.after_restart.borrow_mut().take();
                self.act(Action::Fail(message));
                self.intent(Intent::Switch(params::load(&params::default_model())));
            }
            FromWorker::OpenFailed { problem, message } if self.0.first_remote.replace(false) => {
                // The page opened on another site's model it cannot have: say
                // why, and run on its own.
                let name = match &*self.0.load.borrow() {
                    ToWorker::Load { url, .. } => url.clone(),
                    _ => String::new(),
                };
                if let Some(tr) = self.tr() {
                    let host = crate::protocol::remote::host(&name).to_string();
                    let why = tr.tf(problem.message_id(), &[("host", host.into())]);
                    *self.0.fallback_why.borrow_mut() = Some(tr.tf("model-url-failed", &[("name", name.into()), ("why", why.into()), ("detail", message.into())]));
                }
                self.act(Action::Opening(None));
                self.0.after_restart.borrow_mut().take();
                let fallback = params::load(&params::default_model());
                *self.0.load.borrow_mut() = fallback.clone();
                self.intent(Intent::Switch(fallback));
            }
            FromWorker::Ready { ref key, kept, .. } => {
                self.0.reopening.set(false);
                self.0.first_remote.set(false);
                params::remember_model(key, kept);
                *self.0.load.borrow_mut() = params::load(key);
                // A file loaded and not kept (used once, or no room in the
                // cache) lives only in the person's file: a new worker reads it again.
                let confirmed = self.0.confirming.replace(false);
                *self.0.opened.borrow_mut() = if confirmed && !kept { self.0.inspecting.borrow_mut().take() } else { None };
                self.act(Action::Worker(msg));
                if let Some(why) = self.0.fallback_why.borrow_mut().take() {
                    self.act(Action::Fail(why));
                }
                // After a restart: the session as it was.
                let replay = self.0.after_restart.borrow_mut().take();
                if let Some(sh) = replay {
                    let _ = self.replay(&sh, None, None);
                }
            }
            msg => self.act(Action::Worker(msg)),
        }
    }

    /// Start a worker and route its messages.
    pub fn launch(&self) {
        let opts = WorkerOptions::new();
        opts.set_type(WorkerType::Module);
        let w = match Worker::new_with_options(&params::worker_url(), &opts) {
            Ok(w) => w,
            Err(err) => {
                self.act(Action::Worker(FromWorker::Error { message: format!("could not start the engine worker: {err:?}") }));
                return;
            }
        };
        let link = self.clone();
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| link.receive(ev.data()));
        w.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        onmessage.forget();
        let link = self.clone();
        let onerror = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let message = js_sys::Reflect::get(&ev, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| "the worker failed to start".into());
            let running = link.0.latest.borrow().as_ref().is_some_and(|s| s.ready());
            if running {
                link.recover(message, None);
            } else {
                link.act(Action::Worker(FromWorker::Error { message: format!("engine worker: {message}") }));
            }
        });
        w.set_onerror(Some(onerror.as_ref().unchecked_ref()));
        onerror.forget();
        *self.0.worker.borrow_mut() = Some(w);
    }

    /// The worker died (or its GPU did): start a new one, on `backend` when
    /// given, load the same model (a file used once is read again), and
    /// replay the session (prompt, settings, steps, forced tokens, heads
    /// off, view). Three restarts at most.
    pub fn recover(&self, message: String, backend: Option<BackendChoice>) {
        if let Some(w) = self.0.worker.borrow_mut().take() {
            w.terminate();
        }
        self.0.asks.borrow_mut().clear();
        if self.0.restarts.get() >= 3 {
            self.act(Action::Worker(FromWorker::Error { message: format!("the engine stopped again ({message}); reload the page") }));
            return;
        }
        self.0.restarts.set(self.0.restarts.get() + 1);
        let latest = self.0.latest.borrow().clone();
        let mut replay = None;
        if let Some(s) = latest {
            if s.ctl.ready && (!s.ctl.tokens.is_empty() || s.ctl.beam.is_some()) {
                replay = Some(crate::web::share::current(&s));
            }
            // A file that is not kept: read it again.
            self.0.reopening.set(self.0.opened.borrow().is_some());
        }
        if let (Some(b), ToWorker::Load { backend: lb, .. }) = (backend, &mut *self.0.load.borrow_mut()) {
            *lb = b;
        }
        *self.0.after_restart.borrow_mut() = replay;
        self.0.control.borrow_mut().restart();
        self.publish();
        self.act(Action::Restarting(message));
        self.launch();
    }

    /// `?test-hooks`: window.glassboxTest.{panic, loseDevice, terminate}() for
    /// the fault tests in tests/e2e.
    pub fn install_test_hooks(&self) {
        if params::query_param("test-hooks").is_none() {
            return;
        }
        let obj = js_sys::Object::new();
        let hook = |what: &'static str| {
            let link = self.clone();
            Closure::<dyn Fn()>::new(move || link.other(ToWorker::TestHook { what: what.into() })).into_js_value()
        };
        let _ = js_sys::Reflect::set(&obj, &"panic".into(), &hook("panic"));
        let _ = js_sys::Reflect::set(&obj, &"loseDevice".into(), &hook("lose-device"));
        let link = self.clone();
        let terminate = Closure::<dyn Fn()>::new(move || {
            // As if the browser had killed it: the page notices the worker gone.
            if let Some(w) = link.0.worker.borrow().as_ref() {
                w.terminate();
            }
            link.recover("the worker was terminated".into(), None);
        })
        .into_js_value();
        let _ = js_sys::Reflect::set(&obj, &"terminate".into(), &terminate);
        // The control core as it is now: whether anything is on its way.
        let link = self.clone();
        let state = Closure::<dyn Fn() -> JsValue>::new(move || {
            let c = link.control();
            let o = js_sys::Object::new();
            let set = |k: &str, v: JsValue| {
                let _ = js_sys::Reflect::set(&o, &k.into(), &v);
            };
            set("ready", c.ready.into());
            set("busy", c.busy().into());
            set("playing", c.playing.into());
            set("replaying", c.replaying().into());
            set("pending", (c.pending().len() as u32).into());
            set("tokens", c.tokens.iter().map(|t| JsValue::from(t.id)).collect::<js_sys::Array>().into());
            set("bTokens", c.b.tokens.iter().map(|t| JsValue::from(t.id)).collect::<js_sys::Array>().into());
            o.into()
        })
        .into_js_value();
        let _ = js_sys::Reflect::set(&obj, &"state".into(), &state);
        // The engine's own sequence (a promise of its ids; null when the
        // page's length is not the engine's).
        let link = self.clone();
        let engine = Closure::<dyn Fn() -> js_sys::Promise>::new(move || {
            let link = link.clone();
            js_sys::Promise::new(&mut |resolve, _| {
                let len = link.control().tokens.len();
                link.ask(
                    len,
                    Query::Tokens,
                    Callback::from(move |(a, _): Answered| {
                        let v = match a {
                            Answer::Tokens { ids, .. } => ids.into_iter().map(JsValue::from).collect::<js_sys::Array>().into(),
                            _ => JsValue::NULL,
                        };
                        let _ = resolve.call1(&JsValue::NULL, &v);
                    }),
                );
            })
        })
        .into_js_value();
        let _ = js_sys::Reflect::set(&obj, &"engineTokens".into(), &engine);
        // Questions the views asked so far, by kind.
        let link = self.clone();
        let asked = Closure::<dyn Fn() -> JsValue>::new(move || {
            let o = js_sys::Object::new();
            for (k, n) in link.0.asked.borrow().iter() {
                let _ = js_sys::Reflect::set(&o, &(*k).into(), &(*n).into());
            }
            o.into()
        })
        .into_js_value();
        let _ = js_sys::Reflect::set(&obj, &"asked".into(), &asked);
        // Requests a person cannot make in that order with the buttons.
        let link = self.clone();
        let load = Closure::<dyn Fn(String)>::new(move |url: String| link.intent(Intent::Switch(params::load(&url)))).into_js_value();
        let _ = js_sys::Reflect::set(&obj, &"load".into(), &load);
        let link = self.clone();
        let confirm = Closure::<dyn Fn()>::new(move || link.intent(Intent::Switch(ToWorker::OpenConfirm { keep: false }))).into_js_value();
        let _ = js_sys::Reflect::set(&obj, &"confirmOpen".into(), &confirm);
        if let Some(w) = web_sys::window() {
            let _ = js_sys::Reflect::set(&w, &"glassboxTest".into(), &obj);
        }
    }
}
