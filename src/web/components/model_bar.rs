//! The model bar: which model runs, "Open a model…" (a file picker, or a
//! `.gguf` dropped anywhere on the page), what an opened file holds before
//! its weights go anywhere, the models kept in this browser. The file is
//! read by the worker on this machine; nothing is uploaded.

use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::model::ModelInfo;
use crate::protocol::{remote, KeptModel, ToWorker};
use crate::control::Intent;
use crate::web::params;
use crate::web::components::status::progress;
use crate::web::components::{use_tr, StateProps, Tr};
use crate::web::link::Link;
use crate::web::state::{Action, Load, Opening};

fn mb(b: u64) -> String {
    if b >= 10_000_000 {
        format!("{:.0} MB", b as f64 / 1e6)
    } else {
        format!("{:.2} MB", b as f64 / 1e6)
    }
}

/// Start opening the user's file: the worker reads and checks it.
pub fn open_model_file(file: web_sys::File, link: &Link) {
    let name = file.name();
    let bytes = file.size() as u64;
    link.act(Action::Opening(Some(Opening::Reading { name: name.clone(), phase: crate::protocol::Phase::Read, done: 0, total: bytes })));
    link.open_file(name, bytes, &file);
}

/// The card of an inspected file: what it holds and what it needs.
fn card(tr: &Tr, info: &ModelInfo, n_ctx_kv: u64) -> Html {
    let row = |k: &str, v: String| html! { <tr><th scope="row">{ tr.t(k) }</th><td>{ v }</td></tr> };
    let formats = info
        .formats
        .iter()
        .map(|f| html! { <li data-ty={f.ty.clone()}>{ format!("{} · {} · {}", f.ty, tr.tf("model-tensors", &[("n", f.tensors.into())]), mb(f.bytes)) }</li> });
    let weights: u64 = info.formats.iter().map(|f| f.bytes).sum();
    html! {
        <table class="model-card" id="model-card">
            { row("model-arch", info.architecture.clone()) }
            { row("model-params", format!("{:.1} M", info.params as f64 / 1e6)) }
            { row("model-layers", info.n_layers.to_string()) }
            { row("model-heads", tr.tf("model-heads-value", &[("q", info.n_heads.into()), ("kv", info.n_kv_heads.into()), ("d", info.head_dim.into())])) }
            { row("model-width", tr.tf("model-width-value", &[("d", info.dim.into()), ("ffn", info.ffn_dim.into())])) }
            { row("model-vocab", tr.tf("model-vocab-value", &[("n", info.vocab.into()), ("pre", info.pre_tokenizer.clone().into())])) }
            { row("model-context", info.context.to_string()) }
            { row("model-rope", format!("{}", info.rope_base)) }
            { row("model-output", tr.t(if info.tied { "model-tied" } else { "model-untied" })) }
            <tr><th scope="row">{ tr.t("model-formats") }</th><td><ul class="formats">{ for formats }</ul></td></tr>
            { row("model-needs", tr.tf("model-needs-value", &[("w", mb(weights).into()), ("kv", mb(n_ctx_kv).into()), ("ctx", info.context.into())])) }
        </table>
    }
}

#[function_component(ModelBar)]
pub fn model_bar(p: &StateProps) -> Html {
    let s = &p.state;
    let tr = use_tr();
    let link = p.link.clone().expect("the model bar needs the link");
    let keep = use_state(|| true);
    let input = use_node_ref();
    // "From a URL…": the field is open, and what it says is wrong.
    let url_open = use_state(|| false);
    let url_bad = use_state(|| false);
    let url_input = use_node_ref();
    let default = params::default_model();
    // Where a model comes from, in a line: this computer, or another site.
    let whence = |name: &str| if remote::is_remote(name) { tr.tf("model-remote", &[("host", remote::host(name).into())]) } else { tr.t("model-local") };
    let ready = matches!(s.model.load, Load::Ready);
    // The kept list, once the engine is up.
    {
        let link = link.clone();
        use_effect_with(ready, move |&ready| {
            if ready {
                link.other(ToWorker::Models);
            }
        });
    }
    let on_pick = {
        let (link, input) = (link.clone(), input.clone());
        Callback::from(move |_: Event| {
            let Some(el) = input.cast::<web_sys::HtmlInputElement>() else { return };
            if let Some(file) = el.files().and_then(|f| f.get(0)) {
                open_model_file(file, &link);
            }
            el.set_value("");
        })
    };
    let click_open = {
        let input = input.clone();
        Callback::from(move |_| {
            if let Some(el) = input.cast::<web_sys::HtmlElement>() {
                el.click();
            }
        })
    };
    let toggle_url = {
        let url_open = url_open.clone();
        Callback::from(move |_| url_open.set(!*url_open))
    };
    let submit_url = {
        let (link, url_input, url_bad, url_open) = (link.clone(), url_input.clone(), url_bad.clone(), url_open.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(el) = url_input.cast::<web_sys::HtmlInputElement>() else { return };
            let url = el.value().trim().to_string();
            if !remote::is_remote(&url) {
                url_bad.set(true);
                return;
            }
            url_bad.set(false);
            url_open.set(false);
            link.open_url(url);
        })
    };
    let busy_opening = matches!(s.model.opening, Some(Opening::Reading { .. } | Opening::Loading { .. }));
    let source = if remote::is_remote(&s.model.key) {
        format!("{}{}", tr.tf("model-from", &[("host", remote::host(&s.model.key).into())]), if s.model.kept { format!(", {}", tr.t("model-kept")) } else { String::new() })
    } else if s.model.key == default {
        tr.t("model-served")
    } else if s.model.kept {
        tr.t("model-kept")
    } else {
        tr.t("model-once")
    };
    let use_model = |key: String| {
        let link = link.clone();
        Callback::from(move |_| {
            link.act(Action::Opening(Some(Opening::Loading { name: String::new(), phase: crate::protocol::Phase::Cache, done: 0, total: 1 })));
            link.intent(Intent::Switch(params::load(&key)));
        })
    };
    let kept = s.model.kept_models.iter().map(|k: &KeptModel| {
        let current = k.key == s.model.key;
        let forget = {
            let (link, key) = (link.clone(), k.key.clone());
            Callback::from(move |_| link.other(ToWorker::Forget { key: key.clone() }))
        };
        html! {
            <li class={classes!("kept", current.then_some("current"))} data-key={k.key.clone()}>
                <span class="kept-name">{ k.name.clone() }</span>
                <span class="muted">{ format!(" · {}", mb(k.bytes)) }</span>
                <button class="kept-use" disabled={current || busy_opening || s.ctl.busy()} onclick={use_model(k.key.clone())}>{ tr.t("model-use") }</button>
                <button class="kept-remove" onclick={forget}>{ tr.t("model-remove") }</button>
            </li>
        }
    });
    let opening = match &s.model.opening {
        None => html! {},
        Some(Opening::Reading { name, phase, done, total }) => html! {
            <div class="opening" id="opening" data-stage="reading">
                <p><strong>{ name.clone() }</strong>{ " · " }{ whence(name) }</p>
                <div class="opening-progress">{ progress(&tr, *phase, *done, *total) }</div>
            </div>
        },
        Some(Opening::Loading { name, phase, done, total }) => html! {
            <div class="opening" id="opening" data-stage="loading">
                <p><strong>{ name.clone() }</strong>{ if remote::is_remote(name) { format!(" · {}", whence(name)) } else { String::new() } }</p>
                <div class="opening-progress">{ progress(&tr, *phase, *done, *total) }</div>
            </div>
        },
        Some(Opening::Inspected { name, info, key: _, gpu }) => {
            let confirm = {
                let (link, keep, name) = (link.clone(), keep.clone(), name.clone());
                Callback::from(move |_| {
                    link.act(Action::Opening(Some(Opening::Loading { name: name.clone(), phase: crate::protocol::Phase::Upload, done: 0, total: 1 })));
                    link.intent(Intent::Switch(ToWorker::OpenConfirm { keep: *keep }));
                })
            };
            let cancel = {
                let link = link.clone();
                Callback::from(move |_| {
                    link.other(ToWorker::OpenCancel);
                    link.act(Action::Opening(None));
                })
            };
            let toggle = {
                let keep = keep.clone();
                Callback::from(move |e: Event| {
                    let on = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()).is_some_and(|i| i.checked());
                    keep.set(on);
                })
            };
            html! {
                <div class="opening" id="opening" data-stage="inspected">
                    <p><strong>{ info.name.clone() }</strong>{ format!(" · {} · {}", name, mb(info.file_bytes)) }</p>
                    if remote::is_remote(name) {
                        <p class="muted" id="model-whence">{ whence(name) }</p>
                    }
                    <p class="muted">{ tr.t("model-checked") }</p>
                    { card(&tr, info, info.kv_bytes(info.context)) }
                    if let Some(why) = gpu {
                        <p class="note" id="model-gpu-note">{ tr.tf("model-cpu-only", &[("why", why.as_str().into())]) }</p>
                    }
                    <label><input type="checkbox" id="model-keep" checked={*keep} onchange={toggle} />{ " " }{ tr.t("model-keep") }</label>
                    <div class="row">
                        <button id="model-load" class="primary" disabled={s.ctl.busy()} onclick={confirm}>{ tr.t("model-load") }</button>
                        <button id="model-cancel" onclick={cancel}>{ tr.t("model-cancel") }</button>
                    </div>
                </div>
            }
        }
        Some(Opening::Failed { name, problem, message }) => {
            let dismiss = {
                let link = link.clone();
                Callback::from(move |_| link.act(Action::Opening(None)))
            };
            html! {
                <div class="opening failed" id="opening" data-stage="failed" data-problem={format!("{problem:?}")} role="alert">
                    <p><strong>{ name.clone() }</strong>{ ": " }{ tr.tf(problem.message_id(), &[("host", remote::host(name).into())]) }</p>
                    <p class="detail">{ message.clone() }</p>
                    if ready {
                        <p class="muted">{ tr.tf("model-still", &[("model", s.model.name.clone().into())]) }</p>
                    }
                    <button onclick={dismiss}>{ tr.t("dismiss") }</button>
                </div>
            }
        }
    };
    html! {
        <section class="model-bar" id="model-bar" aria-label={tr.t("model-aria")}>
            <div class="row">
                <span class="muted">{ tr.t("model-label") }</span>
                <strong id="model-name">{ if s.model.name.is_empty() { "…".to_string() } else { s.model.name.clone() } }</strong>
                if ready {
                    <span class="muted" id="model-source">{ format!(" · {} · {}", mb(s.model.bytes), source) }</span>
                }
                <button id="open-model" onclick={click_open} disabled={busy_opening}>{ tr.t("model-open") }</button>
                <input type="file" id="model-file" accept=".gguf" hidden=true ref={input} onchange={on_pick} />
                <button id="open-url" aria-expanded={(*url_open).to_string()} onclick={toggle_url} disabled={busy_opening}>{ tr.t("model-url") }</button>
                if s.model.key != default && ready {
                    <button id="use-served" disabled={busy_opening || s.ctl.busy()} onclick={use_model(default.clone())}>{ tr.t("model-use-served") }</button>
                }
            </div>
            if *url_open {
                <form class="row url-form" id="url-form" onsubmit={submit_url}>
                    <label for="model-url">{ tr.t("model-url-label") }</label>
                    <input type="url" id="model-url" ref={url_input} placeholder="https://huggingface.co/…/resolve/main/….gguf" size="48" />
                    <button type="submit" id="model-url-go" disabled={busy_opening}>{ tr.t("model-url-go") }</button>
                    if *url_bad {
                        <span class="note" id="model-url-bad" role="alert">{ tr.t("model-url-bad") }</span>
                    }
                </form>
            }
            if let Some(m) = &s.model.missing {
                <p class="note" id="model-missing">{ tr.tf("model-missing", &[("name", m.as_str().into())]) }</p>
            }
            if let (true, Some(why)) = (ready, s.model.capped) {
                <p class="note" id="context-capped">{ tr.tf(match why { crate::protocol::Capped::Gpu => "context-capped-gpu", crate::protocol::Capped::Memory => "context-capped-memory" }, &[("n", s.ctl.n_ctx.into())]) }</p>
            }
            if ready && !s.model.kept && s.model.key == default {
                <p class="note" id="model-not-kept">{ tr.t("model-not-kept") }</p>
            }
            if !s.model.kept_models.is_empty() {
                <details class="kept-list" id="kept-models">
                    <summary>{ tr.tf("model-kept-list", &[("n", s.model.kept_models.len().into())]) }</summary>
                    <ul>{ for kept }</ul>
                </details>
            }
            { opening }
        </section>
    }
}
