//! Share, save and open: a link that replays the session on screen (copied
//! and added to the browser's history), a session file to download, and a
//! file to open (picker or drop) that is checked before it replaces anything.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::protocol::{remote, KeptModel};
use crate::share::{FileError, SessionFile, Shared, MAX_URL};
use crate::web::components::{use_tr, StateProps, Tr};
use crate::web::download::{copy, download, push, url_with};
use crate::web::link::Link;
use crate::web::params;
use crate::web::share::{current, model_id, session_file};
use crate::web::state::Action;

fn file_error(tr: &Tr, e: &FileError) -> String {
    match e {
        FileError::NotASession(why) => tr.tf("file-not-session", &[("why", why.as_str().into())]),
        FileError::NewerSchema(v) => tr.tf("file-newer", &[("v", (*v as usize).into())]),
        FileError::OtherModel { file, page } => tr.tf("file-other-model", &[("file", file.as_str().into()), ("page", page.as_str().into())]),
    }
}

/// Open a session file's text: check it, then replay it. The replay checks
/// the file's tokens when it ends, and puts the session on screen back if
/// they differ (a check that ends with its replay: a Reset cancels both).
pub fn open_text(text: &str, link: &Link) {
    let (Some(s), Some(tr)) = (link.state(), link.tr()) else { return };
    match SessionFile::read(text, &model_id(&s)) {
        Err(e) => link.act(Action::Fail(file_error(&tr, &e))),
        Ok(f) => link.replay_or_say(&f.session, Some(f.generated_ids()), Some(current(&s))),
    }
}

#[function_component(SessionBar)]
pub fn session_bar(p: &StateProps) -> Html {
    let s = &p.state;
    let tr = use_tr();
    let shown = use_state(|| None::<String>);
    let input = use_node_ref();
    let link = p.link.clone().expect("the session bar has a link");
    let ready = s.ready() && !s.ctl.busy() && !s.ctl.playing;
    let has_prompt = !s.ctl.prompt.trim().is_empty();
    let share = {
        let (s, link, shown, tr) = (s.clone(), link.clone(), shown.clone(), tr.clone());
        Callback::from(move |_| {
            if s.ctl.prompt.trim().is_empty() {
                return;
            }
            let Some(url) = url_with(&current(&s).to_query()) else { return };
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
        let s = s.clone();
        Callback::from(move |_| {
            let f = session_file(&s);
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
        let (link, tr) = (link.clone(), tr.clone());
        Callback::from(move |e: Event| {
            let Some(i) = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()) else { return };
            let Some(file) = i.files().and_then(|f| f.get(0)) else { return };
            i.set_value("");
            let (link, tr) = (link.clone(), tr.clone());
            spawn_local(async move {
                match JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string()) {
                    Some(text) => open_text(&text, &link),
                    None => link.act(Action::Fail(tr.tf("file-not-session", &[("why", "unreadable".into())]))),
                }
            });
        })
    };
    html! {
        <div class="row sessionbar">
            <button id="share" onclick={share} disabled={!ready || !has_prompt} title={tr.t("share-title")}>{ tr.t("share") }</button>
            <button id="save-session" onclick={save} disabled={!ready || s.ctl.tokens.is_empty()} title={tr.t("save-title")}>{ tr.t("save") }</button>
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
pub fn from_location(link: &Link) {
    let (Some(s), Some(tr)) = (link.state(), link.tr()) else { return };
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    match Shared::from_query(&search) {
        // A link made with another model replays only on that model.
        Ok(Some(sh)) if sh.model.clone().unwrap_or_else(params::default_model) != s.model.key => {
            let name = sh.model.clone().unwrap_or_else(params::default_model);
            let name = KeptModel::from_key(&name).map_or_else(|| if remote::is_remote(&name) { remote::file_name(&name) } else { name }, |k| k.name);
            link.act(Action::Fail(tr.tf("link-other-model", &[("name", name.into())])))
        }
        Ok(Some(sh)) => link.replay_or_say(&sh, None, None),
        Ok(None) => {}
        Err(e) => link.act(Action::Fail(tr.tf("link-damaged", &[("param", e.param.as_str().into()), ("value", e.value.as_str().into())]))),
    }
}
