//! The page: lays out the components and wires the page-wide events (keys,
//! links in the address, files dropped anywhere) to the link. Components
//! get data through props and `Link`, never from the engine.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::KeyboardEvent;
use yew::prelude::*;

use crate::control::Intent;
use crate::i18n::{Catalog, Lang};
use crate::protocol::BackendChoice;
use crate::web::components::model_bar::{open_model_file, ModelBar};
use crate::web::components::session_bar::{from_location, open_text, SessionBar};
use crate::i18n::Tr;
use crate::web::components::{attention::AttentionPanel, beam_tree::BeamTreeView, branches::BranchesPanel, candidates::Candidates, controls::Controls, hud::Hud, inside::InsidePanel, map::MapPanel, status::Status, tokens::Tokens, tour::Tour};
use crate::web::link::Link;
use crate::web::params::{initial_lang, LANG_KEY};
use crate::web::state::{Action, State};

/// The prompt a visitor sees first.
const FIRST_PROMPT: &str = "The capital of France is";

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

/// Keys outside text fields: → or "s" steps, space plays/pauses, Backspace
/// or "u" undoes, Escape closes the tour.
#[hook]
fn use_keys(link: &Link, tour_open: bool) {
    let link = link.clone();
    use_effect_with(tour_open, move |&tour_open| {
        let handler = Closure::<dyn FnMut(KeyboardEvent)>::new(move |e: KeyboardEvent| {
            // Keys typed into fields, or pressed on a button (space and
            // Enter press the button), are theirs.
            let in_field = e.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).map(|el| matches!(el.tag_name().as_str(), "TEXTAREA" | "INPUT" | "SELECT" | "BUTTON")).unwrap_or(false);
            if e.key() == "Escape" && tour_open {
                link.act(Action::Tour(None));
                return;
            }
            if in_field || e.ctrl_key() || e.meta_key() || e.alt_key() {
                return;
            }
            let intent = match e.key().as_str() {
                "ArrowRight" | "s" => Intent::Step,
                " " => Intent::PlayPause,
                "Backspace" | "u" => Intent::Undo,
                _ => return,
            };
            e.prevent_default();
            link.intent(intent);
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

/// Links: replay the session in the address once the first model is ready,
/// and on Back/Forward between shared states.
#[hook]
fn use_links(link: &Link, ready: bool) {
    {
        let link = link.clone();
        use_effect_with(ready, move |&ready| {
            // (After a restart, the link replays the session as it was.)
            if ready && link.restarts() == 0 {
                from_location(&link);
            }
        });
    }
    let link = link.clone();
    use_effect_with((), move |_| {
        let handler = Closure::<dyn FnMut(JsValue)>::new(move |_| from_location(&link));
        if let Some(w) = web_sys::window() {
            let _ = w.add_event_listener_with_callback("popstate", handler.as_ref().unchecked_ref());
        }
        handler.forget();
    });
}

/// A session file or a model dropped anywhere on the page opens like the pickers'.
#[hook]
fn use_drop(link: &Link) {
    let link = link.clone();
    use_effect_with((), move |_| {
        let over = Closure::<dyn FnMut(web_sys::DragEvent)>::new(|e: web_sys::DragEvent| e.prevent_default());
        let drop = Closure::<dyn FnMut(web_sys::DragEvent)>::new(move |e: web_sys::DragEvent| {
            e.prevent_default();
            let Some(file) = e.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) else { return };
            if !file.name().to_ascii_lowercase().ends_with(".json") {
                // Anything else is offered to the model reader, which says
                // clearly when it is not a GGUF.
                open_model_file(file, &link);
                return;
            }
            let link = link.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let text = wasm_bindgen_futures::JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string()).unwrap_or_default();
                open_text(&text, &link);
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

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(|| State { lang: initial_lang(), ..State::default() });
    let tr: Tr = (*use_memo(state.lang, |l| Rc::new(Catalog::new(*l).expect("the message catalogues parse (tests/i18n.rs)")))).clone();
    use_effect_with(state.lang, |l| apply_lang(*l));
    let link = (*use_memo((), {
        let dispatch = state.dispatcher();
        move |_| Link::new(dispatch, FIRST_PROMPT)
    }))
    .clone();
    link.rendered(&state, &tr);
    {
        // Start the worker once (the link starts it again, replaying the session, if it dies).
        let link = link.clone();
        use_effect_with((), move |_| {
            link.publish();
            link.launch();
            link.install_test_hooks();
        });
    }
    use_keys(&link, state.views.tour.is_some());
    use_links(&link, state.ready());
    use_drop(&link);

    // Views that are not on screen draw nothing; when no attention view is
    // open (loading), the step counts as painted once the tokens render.
    {
        let (link, ready) = (link.clone(), state.model.n_layers > 0);
        use_effect_with(state.ctl.tokens.len(), move |&n| {
            if !ready {
                link.painted(n);
            }
            || ()
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
                    <button id="continue-cpu" onclick={ let (l, m) = (link.clone(), m.clone()); Callback::from(move |_| l.recover(m.clone(), Some(BackendChoice::Cpu))) }>{ tr.t("continue-cpu") }</button>
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
                    <Controls state={state.clone()} link={link.clone()} />
                    <SessionBar state={state.clone()} link={link.clone()} />
                    if let (true, Some(view)) = (state.ctl.beam_mode, state.ctl.beam.clone()) {
                        <BeamTreeView link={link.clone()} view={view} busy={state.ctl.busy()} />
                    }
                    // The way in: the whole model at a glance; every panel is a place on it.
                    <MapPanel state={state.clone()} link={link.clone()} />
                    <Tokens state={state.clone()} link={link.clone()} />
                    <Candidates state={state.clone()} link={link.clone()} />
                    <BranchesPanel state={state.clone()} link={link.clone()} />
                    <Hud state={state.clone()} link={link.clone()} />
                </section>
                <section class="right">
                    <AttentionPanel state={state.clone()} link={link.clone()} />
                    <InsidePanel state={state.clone()} link={link.clone()} />
                </section>
            </main>
            <Tour state={state.clone()} link={link.clone()} />
        </div>
        </ContextProvider<Tr>>
    }
}
