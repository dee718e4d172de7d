//! The page: owns the worker, routes its messages (session updates to the
//! reducer, answers to the view that asked), and lays out the components.
//! Components get data through props and `Link`, never from the engine.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{KeyboardEvent, MessageEvent, Worker, WorkerOptions, WorkerType};
use yew::prelude::*;

use crate::i18n::{Catalog, Lang};
use crate::protocol::{BackendChoice, FromWorker, ToWorker};
use crate::web::components::{
    attention::AttentionPanel, beam_tree::BeamTreeView, candidates::Candidates, controls::Controls, hud::Hud, inside::InsidePanel, status::Status,
    session_bar::{from_location, on_popstate, open_text, verify, Check, SessionBar},
    tokens::Tokens, tour::Tour,
    model_bar::{open_model_file, ModelBar},
};
use crate::web::components::Tr;
use crate::web::link::{Link, Reply};
use crate::web::state::{Action, Load, State};

/// The model file, served beside the page by `glassbox serve`.
pub const MODEL_URL: &str = "model.gguf";

fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window().and_then(|w| w.location().search().ok())?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(name)
}

const LANG_KEY: &str = "glassbox-lang";

/// The page's language: the URL's `lang`, else the one chosen before, else
/// the browser's preference.
pub fn initial_lang() -> Lang {
    if let Some(l) = query_param("lang").as_deref().and_then(Lang::from_code) {
        return l;
    }
    let w = web_sys::window();
    if let Some(l) = w.as_ref().and_then(|w| w.local_storage().ok().flatten()).and_then(|s| s.get_item(LANG_KEY).ok().flatten()).as_deref().and_then(Lang::from_code) {
        return l;
    }
    let langs: Vec<String> = w
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &"languages".into()).ok())
        .map(|v| js_sys::Array::from(&v).iter().filter_map(|x| x.as_string()).collect())
        .unwrap_or_default();
    Lang::from_preferences(langs.iter().map(String::as_str))
}

/// Remember the language, put it in the URL and on the document.
fn apply_lang(l: Lang) {
    let Some(w) = web_sys::window() else { return };
    if let Ok(Some(s)) = w.local_storage() {
        let _ = s.set_item(LANG_KEY, l.code());
    }
    if let Some(doc) = w.document().and_then(|d| d.document_element()) {
        let _ = doc.set_attribute("lang", if l == Lang::Zh { "zh-CN" } else { "en" });
    }
    if let (Ok(href), Ok(history)) = (w.location().href(), w.history()) {
        if let Ok(url) = web_sys::Url::new(&href) {
            url.search_params().set("lang", l.code());
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url.href()));
        }
    }
}

const MODEL_KEY: &str = "glassbox-model";

/// The model to load first: the link's (`model`), else the one used last
/// time when it was kept, else the served one.
fn initial_model() -> String {
    if let Some(m) = query_param("model").filter(|m| crate::protocol::KeptModel::from_key(m).is_some()) {
        return m;
    }
    let stored = web_sys::window().and_then(|w| w.local_storage().ok().flatten()).and_then(|s| s.get_item(MODEL_KEY).ok().flatten());
    stored.filter(|m| crate::protocol::KeptModel::from_key(m).is_some()).unwrap_or_else(|| MODEL_URL.to_string())
}

/// Remember a kept model for the next visit (any other: the served one).
fn remember_model(key: &str, kept: bool) {
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = if kept && key != MODEL_URL { s.set_item(MODEL_KEY, key) } else { s.remove_item(MODEL_KEY) };
    }
}

/// The page's context cap (`?ctx=N`), for tests and small machines.
pub fn ctx_cap() -> Option<usize> {
    query_param("ctx").and_then(|c| c.parse().ok())
}

pub fn backend_choice() -> BackendChoice {
    if query_param("backend").as_deref() == Some("cpu") {
        BackendChoice::Cpu
    } else {
        BackendChoice::Auto
    }
}

/// Read a worker message: a JSON string, or `[json, ArrayBuffer]` when
/// floats come with it.
fn decode(data: JsValue) -> (FromWorker, Option<Vec<f32>>) {
    let parse = |text: Option<String>| match text.map(|t| serde_json::from_str::<FromWorker>(&t)) {
        Some(Ok(m)) => m,
        Some(Err(e)) => FromWorker::Error { message: format!("bad message from the worker: {e}") },
        None => FromWorker::Error { message: "bad message from the worker: not text".into() },
    };
    if let Some(text) = data.as_string() {
        return (parse(Some(text)), None);
    }
    let pair: js_sys::Array = data.unchecked_into();
    let msg = parse(pair.get(0).as_string());
    let floats = pair.get(1).dyn_into::<js_sys::ArrayBuffer>().ok().map(|b| js_sys::Float32Array::new(&b).to_vec());
    (msg, floats)
}

/// The state and prompt as last rendered (for handlers outside the render).
type Latest = Rc<std::cell::RefCell<Option<(UseReducerHandle<State>, String)>>>;

/// What the page needs to start the engine worker, and to start it again.
struct Engine {
    worker: Rc<std::cell::RefCell<Option<Worker>>>,
    asks: Rc<std::cell::RefCell<HashMap<u32, Callback<Reply>>>>,
    dispatch: UseReducerDispatcher<State>,
    /// The Load a new worker is sent first.
    load: Rc<std::cell::RefCell<ToWorker>>,
    /// Set by a restart: the session to replay once the model is ready again.
    after_restart: Rc<std::cell::RefCell<Option<Option<crate::share::Shared>>>>,
    latest: Latest,
    restarts: Rc<Cell<u32>>,
}

/// Start a worker and route its messages.
fn launch(e: &Rc<Engine>) {
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Module);
    let w = match Worker::new_with_options("./worker.js", &opts) {
        Ok(w) => w,
        Err(err) => {
            e.dispatch.dispatch(Action::Worker(FromWorker::Error { message: format!("could not start the engine worker: {err:?}") }));
            return;
        }
    };
    let (e2, w2) = (e.clone(), w.clone());
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let (msg, floats) = decode(ev.data());
        match msg {
            FromWorker::Answer { id, answer } => Link::deliver(&e2.asks, id, (answer, floats)),
            FromWorker::Alive => {
                // `?test-hooks&no-cache`: as if the browser had no Cache API.
                if query_param("test-hooks").is_some() && query_param("no-cache").is_some() {
                    let hook = ToWorker::TestHook { what: "no-cache".into() };
                    let _ = w2.post_message(&JsValue::from_str(&serde_json::to_string(&hook).unwrap()));
                }
                let load = e2.load.borrow().clone();
                let _ = w2.post_message(&JsValue::from_str(&serde_json::to_string(&load).unwrap()));
                e2.dispatch.dispatch(Action::Worker(FromWorker::Alive));
            }
            FromWorker::Crashed { message } => recover(&e2, message, None),
            msg => {
                if let FromWorker::Ready { key, kept, .. } = &msg {
                    remember_model(key, *kept);
                }
                e2.dispatch.dispatch(Action::Worker(msg))
            }
        }
    });
    w.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    let e3 = e.clone();
    let onerror = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
        let message = js_sys::Reflect::get(&ev, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| "the worker failed to start".into());
        let running = e3.latest.borrow().as_ref().is_some_and(|(s, _)| matches!(s.load, Load::Ready));
        if running {
            recover(&e3, message, None);
        } else {
            e3.dispatch.dispatch(Action::Worker(FromWorker::Error { message: format!("engine worker: {message}") }));
        }
    });
    w.set_onerror(Some(onerror.as_ref().unchecked_ref()));
    onerror.forget();
    *e.worker.borrow_mut() = Some(w);
}

/// The worker died (or its GPU did): start a new one, on `backend` when
/// given, load the same model, and replay the session (prompt, settings,
/// steps, forced tokens, heads off, view). Three restarts at most.
fn recover(e: &Rc<Engine>, message: String, backend: Option<BackendChoice>) {
    if let Some(w) = e.worker.borrow_mut().take() {
        w.terminate();
    }
    e.asks.borrow_mut().clear();
    if e.restarts.get() >= 3 {
        e.dispatch.dispatch(Action::Worker(FromWorker::Error { message: format!("the engine stopped again ({message}); reload the page") }));
        return;
    }
    e.restarts.set(e.restarts.get() + 1);
    let cur = e.latest.borrow().clone();
    let mut replay = None;
    if let Some((s, prompt)) = cur {
        if matches!(s.load, Load::Ready) && (!s.tokens.is_empty() || s.beam.is_some()) {
            replay = Some(crate::web::share::current(&s, &prompt));
        }
        if let ToWorker::Load { url, backend: b, .. } = &mut *e.load.borrow_mut() {
            if !s.model_key.is_empty() {
                *url = s.model_key.clone();
            }
            if let Some(nb) = backend {
                *b = nb;
            }
        }
    }
    *e.after_restart.borrow_mut() = Some(replay);
    e.dispatch.dispatch(Action::Restarting(message));
    launch(e);
}

/// `?test-hooks`: window.glassboxTest.{panic, loseDevice, terminate}() for
/// the fault tests in tests/e2e.
fn install_test_hooks(e: &Rc<Engine>) {
    if query_param("test-hooks").is_none() {
        return;
    }
    let obj = js_sys::Object::new();
    let hook = |what: &'static str| {
        let w = e.worker.clone();
        Closure::<dyn Fn()>::new(move || {
            if let Some(w) = w.borrow().as_ref() {
                let msg = ToWorker::TestHook { what: what.into() };
                let _ = w.post_message(&JsValue::from_str(&serde_json::to_string(&msg).unwrap()));
            }
        })
        .into_js_value()
    };
    let _ = js_sys::Reflect::set(&obj, &"panic".into(), &hook("panic"));
    let _ = js_sys::Reflect::set(&obj, &"loseDevice".into(), &hook("lose-device"));
    let e2 = e.clone();
    let terminate = Closure::<dyn Fn()>::new(move || {
        // As if the browser had killed it: the page notices the worker gone.
        if let Some(w) = e2.worker.borrow().as_ref() {
            w.terminate();
        }
        recover(&e2, "the worker was terminated".into(), None);
    })
    .into_js_value();
    let _ = js_sys::Reflect::set(&obj, &"terminate".into(), &terminate);
    if let Some(w) = web_sys::window() {
        let _ = js_sys::Reflect::set(&w, &"glassboxTest".into(), &obj);
    }
}

/// Start a sequence from the prompt (and take its first token with `step`).
fn start(state: &State, prompt: &str, link: &Link, step: bool) {
    link.send(ToWorker::Prefill { prompt: prompt.to_string(), chat: state.chat, sampling: state.sampling.clone(), step });
}

/// What Step, Play, Undo and Reset do, for buttons and keys alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Step,
    PlayPause,
    Undo,
    Reset,
}

impl Command {
    /// Whether the command can run now (buttons are disabled otherwise).
    pub fn allowed(self, s: &State, prompt: &str) -> bool {
        let ready = matches!(s.load, Load::Ready);
        if s.beam_mode {
            let done = s.beam.as_ref().is_some_and(|b| b.tree.done);
            let can_step = ready && !s.busy && !done && !prompt.trim().is_empty();
            return match self {
                Command::Step => can_step && !s.playing,
                Command::PlayPause => ready && (s.playing || can_step),
                Command::Undo => ready && !s.busy && !s.playing && s.beam.as_ref().is_some_and(|b| b.tree.steps.len() > 1),
                Command::Reset => ready && !s.busy && !s.playing,
            };
        }
        let can_step = ready && !s.busy && s.stop_reason().is_none_or(|_| s.tokens.is_empty()) && !prompt.trim().is_empty();
        match self {
            Command::Step => can_step && !s.playing,
            Command::PlayPause => ready && (s.playing || can_step),
            Command::Undo => ready && !s.busy && !s.playing && s.generated() > 0,
            Command::Reset => ready && !s.busy && !s.playing,
        }
    }

    pub fn run(self, s: &State, prompt: &str, link: &Link) {
        if !self.allowed(s, prompt) {
            return;
        }
        if s.beam_mode {
            match self {
                Command::Step if s.beam.is_none() => link.send(ToWorker::BeamStart { prompt: prompt.to_string(), chat: s.chat, opts: s.beam_opts }),
                Command::Step => link.send(ToWorker::BeamStep),
                Command::PlayPause => link.act(Action::Play(!s.playing)),
                Command::Undo => link.send(ToWorker::BeamUndo),
                Command::Reset => {
                    link.act(Action::Reset);
                    link.send(ToWorker::Reset);
                }
            }
            return;
        }
        match self {
            Command::Step if s.tokens.is_empty() => start(s, prompt, link, true),
            Command::Step => link.send(ToWorker::Step),
            Command::PlayPause if s.playing => link.act(Action::Play(false)),
            Command::PlayPause => {
                if s.tokens.is_empty() {
                    start(s, prompt, link, false);
                }
                link.act(Action::Play(true));
            }
            Command::Undo => link.send(ToWorker::Undo),
            Command::Reset => {
                link.act(Action::Reset);
                link.send(ToWorker::Reset);
            }
        }
    }
}

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(|| State { lang: initial_lang(), ..State::default() });
    let tr: Tr = (*use_memo(state.lang, |l| Rc::new(Catalog::new(*l).expect("the message catalogues parse (tests/i18n.rs)")))).clone();
    use_effect_with(state.lang, |l| apply_lang(*l));
    let worker = use_mut_ref(|| None::<Worker>);
    let asks = use_mut_ref(HashMap::<u32, Callback<Reply>>::new);
    let next_id = use_memo((), |_| Rc::new(Cell::new(0u32)));
    let prompt = use_state(|| "The capital of France is".to_string());
    let link = Link::new(worker.clone(), state.dispatcher(), asks.clone(), (*next_id).clone());

    // Start the worker once (and again, replaying the session, if it dies).
    let latest = use_mut_ref(|| None::<(UseReducerHandle<State>, String)>);
    *latest.borrow_mut() = Some((state.clone(), (*prompt).clone()));
    let engine = {
        let (worker, asks, dispatch, latest) = (worker.clone(), asks.clone(), state.dispatcher(), latest.clone());
        (*use_memo((), move |_| {
            Rc::new(Engine {
                worker,
                asks,
                dispatch,
                load: Rc::new(std::cell::RefCell::new(ToWorker::Load { url: initial_model(), backend: backend_choice(), n_ctx: ctx_cap() })),
                after_restart: Rc::default(),
                latest,
                restarts: Rc::default(),
            })
        }))
        .clone()
    };
    {
        let engine = engine.clone();
        use_effect_with((), move |_| {
            launch(&engine);
            install_test_hooks(&engine);
        });
    }

    // Play: ask for the next step whenever the last one is in. The request
    // goes out on a timer, after this render's views have sent their own
    // questions, so that the worker answers them before the next forward pass.
    {
        let (link, s, prompt, latest) = (link.clone(), state.clone(), (*prompt).clone(), latest.clone());
        use_effect_with((state.playing, state.steps_done, state.busy, state.tokens.len()), move |_| {
            let beam = s.beam_mode && s.playing && !s.busy && s.beam.as_ref().is_none_or(|b| !b.tree.done);
            if beam || (s.playing && !s.busy && s.finished.is_none() && !s.tokens.is_empty()) {
                let msg = match (s.beam_mode, &s.beam) {
                    (true, None) => ToWorker::BeamStart { prompt, chat: s.chat, opts: s.beam_opts },
                    (true, Some(_)) => ToWorker::BeamStep,
                    _ => ToWorker::Step,
                };
                // Still playing when the timer fires (a Reset or Pause in between stops it).
                let cb = Closure::once_into_js(move || {
                    let playing = latest.borrow().as_ref().is_some_and(|(s, _)| s.playing && s.resetting == 0);
                    if playing {
                        link.send(msg)
                    }
                });
                if let Some(w) = web_sys::window() {
                    let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 0);
                }
            }
            || ()
        });
    }

    // Keyboard: → or "s" steps, space plays/pauses, Backspace or "u" undoes (outside text fields).
    {
        let (link, s, prompt) = (link.clone(), state.clone(), prompt.clone());
        use_effect_with((state.clone(), (*prompt).clone()), move |_| {
            let handler = Closure::<dyn FnMut(KeyboardEvent)>::new(move |e: KeyboardEvent| {
                // Keys typed into fields, or pressed on a button (space and
                // Enter press the button), are theirs.
                let in_field = e.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).map(|el| matches!(el.tag_name().as_str(), "TEXTAREA" | "INPUT" | "SELECT" | "BUTTON")).unwrap_or(false);
                if e.key() == "Escape" && s.tour.is_some() {
                    link.act(Action::Tour(None));
                    return;
                }
                if in_field || e.ctrl_key() || e.meta_key() || e.alt_key() {
                    return;
                }
                let cmd = match e.key().as_str() {
                    "ArrowRight" | "s" => Command::Step,
                    " " => Command::PlayPause,
                    "Backspace" | "u" => Command::Undo,
                    _ => return,
                };
                e.prevent_default();
                cmd.run(&s, &prompt, &link);
            });
            let doc = web_sys::window().and_then(|w| w.document());
            if let Some(d) = &doc {
                let _ = d.add_event_listener_with_callback("keydown", handler.as_ref().unchecked_ref());
            }
            move || {
                if let Some(d) = doc {
                    let _ = d.remove_event_listener_with_callback("keydown", handler.as_ref().unchecked_ref());
                }
                drop(handler);
            }
        });
    }

    // Views that are not on screen draw nothing; when no attention view is
    // open (loading), the step counts as painted once the tokens render.
    {
        let (link, s) = (link.clone(), state.clone());
        use_effect_with(state.tokens.len(), move |&n| {
            if s.n_layers == 0 {
                link.painted(n);
            }
            || ()
        });
    }

    let on_prompt = {
        let prompt = prompt.clone();
        Callback::from(move |p: String| prompt.set(p))
    };

    // Links: replay the session in the address once the model is ready, and
    // on Back/Forward between shared states; check a replayed file's tokens.
    let check = use_mut_ref(|| None::<Check>);
    {
        let (link, on_prompt, tr, s, after) = (link.clone(), on_prompt.clone(), tr.clone(), state.clone(), engine.after_restart.clone());
        let ready = matches!(state.load, Load::Ready);
        use_effect_with(ready, move |&ready| {
            if ready {
                // After a restart: the session as it was, not the address's.
                match after.borrow_mut().take() {
                    Some(Some(sh)) => crate::web::share::replay(&sh, &link, &on_prompt, &s),
                    Some(None) => {}
                    None => from_location(&s, &link, &on_prompt, &tr),
                }
            }
        });
    }
    {
        let (link, on_prompt, tr, latest) = (link.clone(), on_prompt.clone(), tr.clone(), latest.clone());
        use_effect_with((), move |_| {
            let handler = on_popstate(move || {
                if let Some((s, _)) = latest.borrow().as_ref() {
                    from_location(s, &link, &on_prompt, &tr);
                }
            });
            if let Some(w) = web_sys::window() {
                let _ = w.add_event_listener_with_callback("popstate", handler.as_ref().unchecked_ref());
            }
            handler.forget();
        });
    }
    {
        let (link, on_prompt, tr, check, s) = (link.clone(), on_prompt.clone(), tr.clone(), check.clone(), state.clone());
        use_effect_with((state.tokens.len(), state.busy), move |_| verify(&s, &link, &on_prompt, &check, &tr));
    }
    // A session file or a model dropped anywhere on the page opens like the pickers'.
    {
        let (link, on_prompt, tr, check, latest) = (link.clone(), on_prompt.clone(), tr.clone(), check.clone(), latest.clone());
        use_effect_with((), move |_| {
            let over = Closure::<dyn FnMut(web_sys::DragEvent)>::new(|e: web_sys::DragEvent| e.prevent_default());
            let drop = Closure::<dyn FnMut(web_sys::DragEvent)>::new(move |e: web_sys::DragEvent| {
                e.prevent_default();
                let Some(file) = e.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) else { return };
                let lower = file.name().to_ascii_lowercase();
                if !lower.ends_with(".json") {
                    // Anything else is offered to the model reader, which says
                    // clearly when it is not a GGUF.
                    open_model_file(file, &link);
                    return;
                }
                let (link, on_prompt, tr, check, latest) = (link.clone(), on_prompt.clone(), tr.clone(), check.clone(), latest.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let text = wasm_bindgen_futures::JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string()).unwrap_or_default();
                    let cur = latest.borrow().clone();
                    if let Some((s, prompt)) = cur {
                        open_text(&text, &s, &prompt, &link, &on_prompt, &check, &tr);
                    }
                });
            });
            if let Some(d) = web_sys::window().and_then(|w| w.document()) {
                let _ = d.add_event_listener_with_callback("dragover", over.as_ref().unchecked_ref());
                let _ = d.add_event_listener_with_callback("drop", drop.as_ref().unchecked_ref());
            }
            over.forget();
            drop.forget();
        });
    }
    let langs = Lang::ALL.iter().map(|&l| {
        let link = link.clone();
        html! {
            <button class={classes!("lang", (l == state.lang).then_some("on"))} aria-pressed={(l == state.lang).to_string()} lang={l.code()}
                    onclick={Callback::from(move |_| link.act(Action::Lang(l)))}>{ l.label() }</button>
        }
    });
    html! {
        <ContextProvider<Tr> context={tr.clone()}>
        <div class="page">
            <header class="top">
                <div class="titlebar">
                    <h1>{ tr.t("app-name") }</h1>
                    <button id="tour-start" class="tour-start" onclick={ let l = link.clone(); Callback::from(move |_| l.act(Action::Tour(Some(0)))) }>{ tr.t("tour-start") }</button>
                    <span class="langs" role="group" aria-label={tr.t("language")}>{ for langs }</span>
                </div>
                <p class="tagline">{ tr.t("tagline") }</p>
                <Status state={state.clone()} />
                <ModelBar state={state.clone()} link={link.clone()} />
            </header>
            if let Some(m) = &state.device_lost {
                <div class="error" role="alert" id="device-lost">
                    { tr.tf("device-lost", &[("msg", m.as_str().into())]) }
                    <button id="continue-cpu" onclick={ let (e, m) = (engine.clone(), m.clone()); Callback::from(move |_| recover(&e, m.clone(), Some(BackendChoice::Cpu))) }>{ tr.t("continue-cpu") }</button>
                    <button id="reload" onclick={Callback::from(|_| { if let Some(w) = web_sys::window() { let _ = w.location().reload(); } })}>{ tr.t("reload") }</button>
                </div>
            }
            if let Some(m) = &state.restarted {
                <div class="note restarted" role="status" id="restarted">
                    { tr.tf("engine-restarted", &[("msg", m.as_str().into())]) }
                    <button onclick={ let l = link.clone(); Callback::from(move |_| l.act(Action::Restarted(None))) }>{ tr.t("dismiss") }</button>
                </div>
            }
            if let Some(err) = &state.error {
                <div class="error" role="alert">
                    { err.clone() }
                    <button onclick={ let l = link.clone(); Callback::from(move |_| l.act(Action::DismissError)) }>{ tr.t("dismiss") }</button>
                </div>
            }
            <main class="grid">
                <section class="left">
                    <Controls state={state.clone()} link={link.clone()} prompt={(*prompt).clone()} on_prompt={on_prompt.clone()} />
                    <SessionBar state={state.clone()} link={link.clone()} prompt={(*prompt).clone()} on_prompt={on_prompt.clone()} check={check.clone()} />
                    if let (true, Some(view)) = (state.beam_mode, state.beam.clone()) {
                        <BeamTreeView link={link.clone()} view={view} busy={state.busy} />
                    }
                    <Tokens state={state.clone()} link={link.clone()} />
                    <Candidates state={state.clone()} link={link.clone()} />
                    <Hud state={state.clone()} link={link.clone()} />
                </section>
                <section class="right">
                    <AttentionPanel state={state.clone()} link={link.clone()} prompt={(*prompt).clone()} />
                    <InsidePanel state={state.clone()} link={link.clone()} />
                </section>
            </main>
            <Tour state={state.clone()} link={link.clone()} />
        </div>
        </ContextProvider<Tr>>
    }
}
