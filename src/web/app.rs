//! The page: owns the worker, turns its messages into actions, and lays out
//! the components. Components get data through props and never see the engine.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{KeyboardEvent, MessageEvent, Worker, WorkerOptions, WorkerType};
use yew::prelude::*;

use crate::protocol::{BackendChoice, FromWorker, ToWorker};
use crate::web::components::{
    attention::AttentionPanel, candidates::Candidates, controls::Controls, hud::Hud, status::Status, tokens::Tokens,
};
use crate::web::state::{Action, Attn, AttnStore, State};

/// The model file, served beside the page by `glassbox serve`.
pub const MODEL_URL: &str = "model.gguf";
/// Context on the page: the attention store grows as 30 × 9 × T²/2 weights.
pub const PAGE_CTX: usize = 512;

/// What the components use to talk to the worker.
#[derive(Clone)]
pub struct Link {
    worker: Rc<RefCell<Option<Worker>>>,
    dispatch: UseReducerDispatcher<State>,
}

impl PartialEq for Link {
    fn eq(&self, o: &Link) -> bool {
        Rc::ptr_eq(&self.worker, &o.worker)
    }
}

impl Link {
    pub fn send(&self, msg: ToWorker) {
        if let Some(w) = self.worker.borrow().as_ref() {
            let _ = w.post_message(&JsValue::from_str(&serde_json::to_string(&msg).expect("messages serialize")));
            if !matches!(msg, ToWorker::SetSampling { .. }) {
                self.dispatch.dispatch(Action::Sent);
            }
        }
    }
    pub fn act(&self, a: Action) {
        self.dispatch.dispatch(a);
    }
}

fn backend_choice() -> BackendChoice {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    if search.contains("backend=cpu") {
        BackendChoice::Cpu
    } else {
        BackendChoice::Auto
    }
}

/// Put a message's attention rows into the store, and return it without them.
fn take_attention(store: &RefCell<AttnStore>, msg: FromWorker) -> FromWorker {
    let mut st = store.borrow_mut();
    match msg {
        FromWorker::Prefilled { tokens, attention, candidates, ms } => {
            st.rows.clear();
            for a in &attention {
                st.push(a);
            }
            FromWorker::Prefilled { tokens, attention: Vec::new(), candidates, ms }
        }
        FromWorker::Stepped { mut step, next } => {
            if let Some(a) = step.attention.take() {
                st.push(&a);
            }
            FromWorker::Stepped { step, next }
        }
        FromWorker::Undone { removed, candidates } => {
            if removed.is_some() {
                st.rows.pop();
            }
            FromWorker::Undone { removed, candidates }
        }
        other => other,
    }
}

/// Send a prefill for the current prompt when the sequence does not start with it.
pub fn ensure_prefilled(state: &State, prompt: &str, link: &Link) -> bool {
    if state.tokens.is_empty() {
        if prompt.trim().is_empty() {
            return false;
        }
        link.send(ToWorker::Prefill { prompt: prompt.to_string(), chat: state.chat, sampling: state.sampling.clone() });
    }
    true
}

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(State::default);
    let store = use_mut_ref(AttnStore::default);
    let worker = use_mut_ref(|| None::<Worker>);
    let prompt = use_state(|| "The capital of France is".to_string());
    let link = Link { worker: worker.clone(), dispatch: state.dispatcher() };

    // Start the worker once.
    {
        let (worker, store, dispatch) = (worker.clone(), store.clone(), state.dispatcher());
        use_effect_with((), move |_| {
            let opts = WorkerOptions::new();
            opts.set_type(WorkerType::Module);
            match Worker::new_with_options("./worker.js", &opts) {
                Ok(w) => {
                    let w2 = w.clone();
                    let dispatch2 = dispatch.clone();
                    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                        let Some(text) = ev.data().as_string() else { return };
                        let msg = match serde_json::from_str::<FromWorker>(&text) {
                            Ok(m) => m,
                            Err(e) => FromWorker::Error { message: format!("bad message from the worker: {e}") },
                        };
                        if msg == FromWorker::Alive {
                            let load = ToWorker::Load { url: MODEL_URL.into(), backend: backend_choice(), n_ctx: PAGE_CTX };
                            let _ = w2.post_message(&JsValue::from_str(&serde_json::to_string(&load).unwrap()));
                        }
                        let msg = take_attention(&store, msg);
                        dispatch.dispatch(Action::Worker(msg));
                    });
                    w.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
                    onmessage.forget();
                    let onerror = {
                        let dispatch = dispatch2;
                        Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
                            let message = js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| "the worker failed to start".into());
                            dispatch.dispatch(Action::Worker(FromWorker::Error { message: format!("engine worker: {message}") }));
                        })
                    };
                    w.set_onerror(Some(onerror.as_ref().unchecked_ref()));
                    onerror.forget();
                    *worker.borrow_mut() = Some(w);
                }
                Err(e) => dispatch.dispatch(Action::Worker(FromWorker::Error { message: format!("could not start the engine worker: {e:?}") })),
            }
            || ()
        });
    }

    // Play: ask for the next step whenever the last one is in.
    {
        let (link, s) = (link.clone(), state.clone());
        use_effect_with((state.playing, state.steps_done, state.busy, state.tokens.len()), move |_| {
            if s.playing && !s.busy && s.finished.is_none() && !s.tokens.is_empty() {
                link.send(ToWorker::Step);
            }
            || ()
        });
    }

    // Keyboard: → or "s" steps, space plays/pauses, Backspace or "u" undoes (outside text fields).
    {
        let (link, s, prompt) = (link.clone(), state.clone(), prompt.clone());
        use_effect_with((state.clone(), (*prompt).clone()), move |_| {
            let handler = Closure::<dyn FnMut(KeyboardEvent)>::new(move |e: KeyboardEvent| {
                let in_field = e.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).map(|el| matches!(el.tag_name().as_str(), "TEXTAREA" | "INPUT" | "SELECT")).unwrap_or(false);
                if in_field || e.ctrl_key() || e.meta_key() || e.alt_key() || !matches!(s.load, crate::web::state::Load::Ready) || s.busy {
                    return;
                }
                match e.key().as_str() {
                    "ArrowRight" | "s" => {
                        e.prevent_default();
                        if ensure_prefilled(&s, &prompt, &link) {
                            link.send(ToWorker::Step);
                        }
                    }
                    " " => {
                        e.prevent_default();
                        if s.playing {
                            link.act(Action::Play(false));
                        } else if ensure_prefilled(&s, &prompt, &link) {
                            link.act(Action::Play(true));
                        }
                    }
                    "Backspace" | "u" => {
                        e.prevent_default();
                        link.send(ToWorker::Undo);
                    }
                    _ => {}
                }
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

    let attn = Attn { store: store.clone(), version: state.attn_version };
    let on_prompt = {
        let prompt = prompt.clone();
        Callback::from(move |p: String| prompt.set(p))
    };
    html! {
        <div class="page">
            <header class="top">
                <h1>{ "Glassbox" }</h1>
                <p class="tagline">{ "SmolLM2-135M running on your own GPU — watch every attention weight and every next-token probability, one step at a time." }</p>
                <Status state={state.clone()} />
            </header>
            if let Some(err) = &state.error {
                <div class="error" role="alert">
                    { err.clone() }
                    <button onclick={ let l = link.clone(); Callback::from(move |_| l.act(Action::DismissError)) }>{ "Dismiss" }</button>
                </div>
            }
            <main class="grid">
                <section class="left">
                    <Controls state={state.clone()} link={link.clone()} prompt={(*prompt).clone()} {on_prompt} />
                    <Tokens state={state.clone()} link={link.clone()} />
                    <Candidates state={state.clone()} link={link.clone()} />
                    <Hud state={state.clone()} />
                </section>
                <section class="right">
                    <AttentionPanel state={state.clone()} link={link.clone()} attn={attn} />
                </section>
            </main>
        </div>
    }
}
