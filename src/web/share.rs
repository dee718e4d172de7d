//! Links that replay a session, session files, and downloads: the page's
//! side of `crate::share`. A link or a file is replayed by sending the same
//! messages a person would (prompt, steps, forced tokens), so what opens is
//! exactly what was shared: sampling replays from its seed.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::generate::Sampling;
use crate::protocol::ToWorker;
use crate::share::{Decoding, FileToken, ModelId, SessionFile, Shared, ViewState, SCHEMA};
use crate::web::link::Link;
use crate::web::state::{Action, Inside, State, TokKind, View};

/// The session on screen, as a link describes it.
pub fn current(s: &State, prompt: &str) -> Shared {
    let decoding = if s.beam_mode {
        Decoding::Beam(s.beam_opts)
    } else if s.sampling.temperature > 0.0 {
        Decoding::Sample(s.sampling.clone())
    } else {
        Decoding::Greedy
    };
    let generated = &s.tokens[s.n_prompt.min(s.tokens.len())..];
    let forced = generated.iter().enumerate().filter(|(_, t)| t.kind == TokKind::Forced).map(|(i, t)| (i, t.id)).collect();
    let steps = if s.beam_mode { s.beam.as_ref().map_or(0, |b| b.tree.steps.len()) } else { generated.len() };
    Shared {
        prompt: prompt.to_string(),
        chat: s.chat,
        decoding,
        steps,
        forced: if s.beam_mode { Vec::new() } else { forced },
        branch: None,
        model: (s.model_key != crate::web::app::MODEL_URL && !s.model_key.is_empty()).then(|| s.model_key.clone()),
        ablation: s.ablation.clone(),
        view: ViewState {
            layer: s.layer,
            head: s.head,
            focus: s.focus,
            view: match s.view {
                View::Heatmap => "heatmap",
                View::Grid => "grid",
                View::Lines => "lines",
            }
            .into(),
            inside: match s.inside {
                Inside::Math => "math",
                Inside::Lens => "lens",
                Inside::Residual => "residual",
            }
            .into(),
        },
        lang: s.lang,
    }
}

/// Replay `sh` from scratch: settings and views at once, then the same
/// messages that made the session (the worker runs them in order).
pub fn replay(sh: &Shared, link: &Link, set_prompt: &yew::Callback<String>, s: &State) {
    link.act(Action::Reset);
    link.send(ToWorker::Reset);
    set_prompt.emit(sh.prompt.clone());
    link.act(Action::Chat(sh.chat));
    link.act(Action::Lang(sh.lang));
    let v = &sh.view;
    let (layer, head) = (v.layer.min(s.n_layers.saturating_sub(1)), v.head.min(s.n_heads.saturating_sub(1)));
    link.act(Action::Select { layer, head });
    link.act(Action::View(match v.view.as_str() {
        "grid" => View::Grid,
        "lines" => View::Lines,
        _ => View::Heatmap,
    }));
    link.act(Action::Inside(match v.inside.as_str() {
        "lens" => Inside::Lens,
        "residual" => Inside::Residual,
        _ => Inside::Math,
    }));
    if !sh.ablation.is_empty() || !s.ablation.is_empty() {
        link.send(ToWorker::Ablate { off: sh.ablation.clone() });
    }
    match &sh.decoding {
        Decoding::Beam(b) => {
            link.act(Action::BeamMode(true));
            link.act(Action::BeamOpts(*b));
            link.send(ToWorker::BeamStart { prompt: sh.prompt.clone(), chat: sh.chat, opts: *b });
            for _ in 1..sh.steps {
                link.send(ToWorker::BeamStep);
            }
            if let Some(node) = sh.branch {
                link.send(ToWorker::BeamChoose { node });
            }
        }
        d => {
            let sampling = match d {
                Decoding::Sample(x) => x.clone(),
                _ => Sampling::greedy(),
            };
            link.act(Action::BeamMode(false));
            link.act(Action::Sampling(sampling.clone()));
            link.send(ToWorker::Prefill { prompt: sh.prompt.clone(), chat: sh.chat, sampling, step: false });
            for i in 0..sh.steps {
                match sh.forced.iter().find(|f| f.0 == i) {
                    Some(&(_, id)) => link.send(ToWorker::Force { id }),
                    None => link.send(ToWorker::Step),
                }
            }
        }
    }
    link.act(Action::Focus(v.focus));
}

/// The page's own address with `query`.
pub fn url_with(query: &str) -> Option<String> {
    let loc = web_sys::window()?.location();
    Some(format!("{}{}?{query}", loc.origin().ok()?, loc.pathname().ok()?))
}

/// Put `url` in the address bar as a new history entry (Back returns to the one before).
pub fn push(url: &str) {
    if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = h.push_state_with_url(&JsValue::from_str("glassbox"), "", Some(url));
    }
}

/// Copy to the clipboard, where the browser allows it.
pub fn copy(text: &str) {
    if let Some(w) = web_sys::window() {
        let clip = js_sys::Reflect::get(&w.navigator(), &"clipboard".into()).ok().filter(|c| !c.is_undefined());
        if let Some(c) = clip {
            if let Ok(f) = js_sys::Reflect::get(&c, &"writeText".into()).and_then(|f| f.dyn_into::<js_sys::Function>()) {
                let _ = f.call1(&c, &JsValue::from_str(text));
            }
        }
    }
}

/// Which model this page runs, for session files.
pub fn model_id(s: &State) -> ModelId {
    ModelId { name: s.model.clone(), n_layers: s.n_layers, n_heads: s.n_heads, vocab: s.vocab }
}

/// The session on screen as a file.
pub fn session_file(s: &State, prompt: &str) -> SessionFile {
    let tokens = s
        .tokens
        .iter()
        .map(|t| FileToken {
            id: t.id,
            text: t.text.clone(),
            kind: match t.kind {
                TokKind::Prompt => "prompt",
                TokKind::Generated => "generated",
                TokKind::Forced => "forced",
            }
            .into(),
        })
        .collect();
    SessionFile { schema: SCHEMA, app: "glassbox".into(), model: model_id(s), session: current(s, prompt), tokens, candidates: (*s.step_cands).clone() }
}

/// Offer `bytes` as a download named `name`.
pub fn download(name: &str, mime: &str, bytes: &[u8]) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let arr = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&arr);
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts) else { return };
    download_blob(&doc, name, &blob);
}

pub fn download_blob(doc: &web_sys::Document, name: &str, blob: &web_sys::Blob) {
    let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else { return };
    if let Ok(a) = doc.create_element("a").map(|a| a.unchecked_into::<web_sys::HtmlAnchorElement>()) {
        a.set_href(&url);
        a.set_download(name);
        if let Some(body) = doc.body() {
            let _ = body.append_child(&a);
            a.click();
            let _ = body.remove_child(&a);
        }
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
