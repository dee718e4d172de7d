//! What the page's address and the browser's storage say before anything
//! runs: the language, the model to load first, the backend and context
//! the tests ask for.

use crate::i18n::Lang;
use crate::protocol::{BackendChoice, KeptModel, MODEL_URL};

pub fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window().and_then(|w| w.location().search().ok())?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(name)
}

pub const LANG_KEY: &str = "glassbox-lang";

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

const MODEL_KEY: &str = "glassbox-model";

/// The model to load first: the link's (`model`), else the one used last
/// time when it was kept, else the served one.
pub fn initial_model() -> String {
    if let Some(m) = query_param("model").filter(|m| KeptModel::from_key(m).is_some()) {
        return m;
    }
    let stored = web_sys::window().and_then(|w| w.local_storage().ok().flatten()).and_then(|s| s.get_item(MODEL_KEY).ok().flatten());
    stored.filter(|m| KeptModel::from_key(m).is_some()).unwrap_or_else(|| MODEL_URL.to_string())
}

/// Remember a kept model for the next visit (any other: the served one).
pub fn remember_model(key: &str, kept: bool) {
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

/// The Load for `url` with the backend and context this page asks for.
pub fn load(url: &str) -> crate::protocol::ToWorker {
    crate::protocol::ToWorker::Load { url: url.to_string(), backend: backend_choice(), n_ctx: ctx_cap() }
}
