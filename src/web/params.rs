//! What the page's address and the browser's storage say before anything
//! runs: the language, the model to load first, the backend and context
//! the tests ask for.

use crate::i18n::Lang;
use crate::protocol::{remote, BackendChoice, KeptModel, MODEL_URL};

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

/// Whether a link or the browser's storage may name `key` as the model: a
/// model kept in this browser, or another site's file by its address.
pub fn nameable(key: &str) -> bool {
    KeptModel::from_key(key).is_some() || remote::is_remote(key)
}

/// The model this copy of the page opens unless told otherwise: the one
/// named when it was published (`<meta name="glassbox-model">`, written by
/// `scripts/dist.sh --model-url`), else the file served beside it.
pub fn default_model() -> String {
    thread_local! {
        static DEFAULT: std::cell::OnceCell<String> = const { std::cell::OnceCell::new() };
    }
    DEFAULT.with(|d| {
        d.get_or_init(|| {
            let doc = web_sys::window().and_then(|w| w.document());
            let named = doc.and_then(|d| d.query_selector("meta[name=glassbox-model]").ok().flatten()).and_then(|m| m.get_attribute("content"));
            named.map(|m| m.trim().to_string()).filter(|m| remote::is_remote(m)).unwrap_or_else(|| MODEL_URL.to_string())
        })
        .clone()
    })
}

/// The model to load first: the link's (`model`, a kept model or an
/// address), else the one used last time when it was kept, else the
/// page's default.
pub fn initial_model() -> String {
    if let Some(m) = query_param("model").filter(|m| nameable(m)) {
        return m;
    }
    let stored = web_sys::window().and_then(|w| w.local_storage().ok().flatten()).and_then(|s| s.get_item(MODEL_KEY).ok().flatten());
    stored.filter(|m| nameable(m)).unwrap_or_else(default_model)
}

/// Remember a kept model for the next visit (any other: the default one).
pub fn remember_model(key: &str, kept: bool) {
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = if kept && key != default_model() && nameable(key) { s.set_item(MODEL_KEY, key) } else { s.remove_item(MODEL_KEY) };
    }
}

/// The page's context cap (`?ctx=N`), for tests and small machines.
pub fn ctx_cap() -> Option<usize> {
    query_param("ctx").and_then(|c| c.parse().ok())
}

/// Play's steps per request (`?ahead=N`, 1 to 64): N every time, on any
/// backend, instead of as many as fit up to `control::PLAY_AHEAD_MAX` on a
/// GPU or `control::PLAY_AHEAD_MAX_CPU` on the CPU (`?ahead=1`: a step at a
/// time).
pub fn play_ahead() -> Option<usize> {
    query_param("ahead").and_then(|c| c.parse().ok()).filter(|n| (1..=64).contains(n))
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

/// Why the CPU engine computes on one thread (the HUD says which).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneThread {
    /// `?threads=1`.
    Asked,
    /// The page is not cross-origin isolated (its server sends no
    /// COOP/COEP headers), so the browser gives it no shared memory.
    NotIsolated,
    /// This copy of the page was built without the threaded module.
    NoBuild,
    /// One core.
    OneCore,
}

/// Threads at most by default: past the measured knee, more threads only
/// add hand-off and wake-up cost per step (README, "Threads in the page").
pub const THREAD_CAP: usize = 8;

/// The CPU engine's threads: the module index.html loaded (the threaded one
/// on a cross-origin-isolated page), `?threads=N` (1: the threaded module
/// on one thread), and `navigator.hardwareConcurrency` (capped at `THREAD_CAP`).
pub fn threads() -> (usize, Option<OneThread>) {
    // Nothing it reads changes while the page lives: read once (the HUD asks on every render).
    thread_local! {
        static PLAN: std::cell::OnceCell<(usize, Option<OneThread>)> = const { std::cell::OnceCell::new() };
    }
    PLAN.with(|p| *p.get_or_init(read_threads))
}

fn read_threads() -> (usize, Option<OneThread>) {
    let build = js_sys::Reflect::get(&js_sys::global(), &"glassboxBuild".into()).ok();
    let why = build.as_ref().and_then(|b| js_sys::Reflect::get(b, &"why".into()).ok()).and_then(|w| w.as_string());
    let threaded = build.as_ref().and_then(|b| js_sys::Reflect::get(b, &"threaded".into()).ok()).and_then(|t| t.as_bool()).unwrap_or(false);
    if !threaded {
        let why = if why.as_deref() == Some("isolation") { OneThread::NotIsolated } else { OneThread::NoBuild };
        return (1, Some(why));
    }
    let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency()) as usize;
    let asked = query_param("threads").and_then(|t| t.parse::<usize>().ok()).filter(|&n| n >= 1);
    match asked {
        Some(1) => (1, Some(OneThread::Asked)),
        Some(n) => (n.min(64), None),
        None if cores <= 1 => (1, Some(OneThread::OneCore)),
        None => (cores.min(THREAD_CAP), None),
    }
}

/// The engine worker's address: the module the page loaded, and with the
/// threaded one, its thread count.
pub fn worker_url() -> String {
    match threads() {
        (_, Some(OneThread::NotIsolated | OneThread::NoBuild)) => "./worker.js".into(),
        (n, _) => format!("./worker.js?pkg=pkg-mt&threads={n}"),
    }
}
