//! Share, save and open: a link that replays the session on screen (copied
//! and added to the browser's history), a session file to download, and a
//! file to open (picker or drop) that is checked before it replaces anything.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::share::{FileError, SessionFile, Shared, MAX_URL};
use crate::web::components::{use_tr, Tr};
use crate::web::link::Link;
use crate::web::share::{copy, current, download, model_id, push, replay, session_file, url_with};
use crate::web::state::{Action, Load, State};

/// A file being replayed: the generated ids it says its settings give, and
/// the session to go back to if they do not.
#[derive(PartialEq)]
pub struct Check {
    pub expected: Vec<u32>,
    pub previous: Shared,
}

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
    pub link: Link,
    pub prompt: String,
    pub on_prompt: Callback<String>,
    pub check: Rc<RefCell<Option<Check>>>,
}

fn file_error(tr: &Tr, e: &FileError) -> String {
    match e {
        FileError::NotASession(why) => tr.tf("file-not-session", &[("why", why.as_str().into())]),
        FileError::NewerSchema(v) => tr.tf("file-newer", &[("v", (*v as usize).into())]),
        FileError::OtherModel { file, page } => tr.tf("file-other-model", &[("file", file.as_str().into()), ("page", page.as_str().into())]),
    }
}

/// Open a session file's text: check it, then replay it (the result is
/// verified once the tokens are in, see `verify`).
pub fn open_text(text: &str, s: &State, prompt: &str, link: &Link, on_prompt: &Callback<String>, check: &Rc<RefCell<Option<Check>>>, tr: &Tr) {
    match SessionFile::read(text, &model_id(s)) {
        Err(e) => link.act(Action::Fail(file_error(tr, &e))),
        Ok(f) => {
            *check.borrow_mut() = Some(Check { expected: f.generated_ids(), previous: current(s, prompt) });
            replay(&f.session, link, on_prompt, s);
        }
    }
}

/// After a file's replay: its tokens must be what its settings give; if not,
/// say where they part and put the previous session back.
pub fn verify(s: &State, link: &Link, on_prompt: &Callback<String>, check: &Rc<RefCell<Option<Check>>>, tr: &Tr) {
    if s.busy || s.beam_mode {
        return;
    }
    let done = check.borrow().as_ref().is_some_and(|c| s.tokens.len() >= s.n_prompt + c.expected.len() && s.n_prompt > 0);
    if !done {
        return;
    }
    let c = check.borrow_mut().take().expect("a pending check");
    let got: Vec<u32> = s.tokens[s.n_prompt..].iter().map(|t| t.id).collect();
    if let Some(i) = (0..c.expected.len()).find(|&i| got.get(i) != Some(&c.expected[i])) {
        let msg = tr.tf("file-edited", &[("i", (i + 1).into()), ("file", (c.expected[i] as usize).into()), ("model", got.get(i).map_or(0, |&x| x as usize).into())]);
        replay(&c.previous, link, on_prompt, s);
        link.act(Action::Fail(msg));
    }
}

#[function_component(SessionBar)]
pub fn session_bar(p: &Props) -> Html {
    let s = &p.state;
    let tr = use_tr();
    let shown = use_state(|| None::<String>);
    let input = use_node_ref();
    let ready = matches!(s.load, Load::Ready) && !s.busy && !s.playing;
    let share = {
        let (s, link, prompt, shown, tr) = (s.clone(), p.link.clone(), p.prompt.clone(), shown.clone(), tr.clone());
        Callback::from(move |_| {
            if prompt.trim().is_empty() {
                return;
            }
            let Some(url) = url_with(&current(&s, &prompt).to_query()) else { return };
            if url.len() > MAX_URL {
                link.act(Action::Fail(tr.tf("link-too-long", &[("n", url.len().into()), ("max", MAX_URL.into())])));
                return;
            }
            push(&url);
            copy(&url);
            shown.set(Some(url));
        })
    };
    let save = {
        let (s, prompt) = (s.clone(), p.prompt.clone());
        Callback::from(move |_| {
            let f = session_file(&s, &prompt);
            let json = serde_json::to_string_pretty(&f).expect("a session serializes");
            download("glassbox-session.json", "application/json", json.as_bytes());
        })
    };
    let open = {
        let input = input.clone();
        Callback::from(move |_| {
            if let Some(i) = input.cast::<HtmlInputElement>() {
                i.click();
            }
        })
    };
    let on_file = {
        let (s, link, prompt, on_prompt, check, tr) = (s.clone(), p.link.clone(), p.prompt.clone(), p.on_prompt.clone(), p.check.clone(), tr.clone());
        Callback::from(move |e: Event| {
            let Some(i) = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()) else { return };
            let Some(file) = i.files().and_then(|f| f.get(0)) else { return };
            i.set_value("");
            let (s, link, prompt, on_prompt, check, tr) = (s.clone(), link.clone(), prompt.clone(), on_prompt.clone(), check.clone(), tr.clone());
            spawn_local(async move {
                match JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string()) {
                    Some(text) => open_text(&text, &s, &prompt, &link, &on_prompt, &check, &tr),
                    None => link.act(Action::Fail(tr.tf("file-not-session", &[("why", "unreadable".into())]))),
                }
            });
        })
    };
    html! {
        <div class="row sessionbar">
            <button id="share" onclick={share} disabled={!ready || p.prompt.trim().is_empty()} title={tr.t("share-title")}>{ tr.t("share") }</button>
            <button id="save-session" onclick={save} disabled={!ready || s.tokens.is_empty()} title={tr.t("save-title")}>{ tr.t("save") }</button>
            <button id="open-session" onclick={open} disabled={!ready} title={tr.t("open-title")}>{ tr.t("open") }</button>
            <input type="file" accept=".json,application/json" ref={input} onchange={on_file} hidden=true aria-label={tr.t("open")} id="session-file" />
            if let Some(url) = &*shown {
                <input class="shared-url" id="shared-url" readonly=true value={url.clone()} aria-label={tr.t("shared-link")}
                       onfocus={Callback::from(|e: FocusEvent| if let Some(i) = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()) { i.select() })} />
                <span class="muted">{ tr.t("link-copied") }</span>
            }
        </div>
    }
}

/// Replay the session the address describes (on load and on Back/Forward);
/// a damaged link is said so, and the page stays as it is.
pub fn from_location(s: &State, link: &Link, on_prompt: &Callback<String>, tr: &Tr) {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    match Shared::from_query(&search) {
        // A link made with another model replays only on that model.
        Ok(Some(sh)) if sh.model.as_deref().unwrap_or(crate::web::app::MODEL_URL) != s.model_key => {
            let name = sh.model.as_deref().and_then(crate::protocol::KeptModel::from_key).map_or_else(|| crate::web::app::MODEL_URL.to_string(), |k| k.name);
            link.act(Action::Fail(tr.tf("link-other-model", &[("name", name.into())])))
        }
        Ok(Some(sh)) => replay(&sh, link, on_prompt, s),
        Ok(None) => {}
        Err(e) => link.act(Action::Fail(tr.tf("link-damaged", &[("param", e.param.as_str().into()), ("value", e.value.as_str().into())]))),
    }
}

/// Listen for Back/Forward between shared states.
pub fn on_popstate(f: impl Fn() + 'static) -> Closure<dyn FnMut(JsValue)> {
    Closure::<dyn FnMut(JsValue)>::new(move |_| f())
}
