//! The status line (role="status"): loading phases with a progress bar, then
//! the backend and adapter, or what failed and how to fix it.

use yew::prelude::*;

use crate::protocol::Phase;
use crate::web::components::{use_tr, StateProps};
use crate::web::state::Load;

fn phase_id(p: Phase) -> &'static str {
    match p {
        Phase::Download => "phase-download",
        Phase::Cache => "phase-cache",
        Phase::Read => "phase-read",
        Phase::Parse => "phase-parse",
        Phase::Shaders => "phase-shaders",
        Phase::Upload => "phase-upload",
    }
}

/// A loading phase's words ("Uploading weights…", "…: 12.0 / 98.4 MB")
/// and its progress bar: the status line's, and the model bar's for a
/// user's file.
pub fn progress(tr: &crate::web::components::Tr, phase: Phase, done: u64, total: u64) -> Html {
    let label = if phase.is_bytes() {
        let mb = |b: u64| format!("{:.1}", b as f64 / 1e6);
        tr.tf("status-bytes", &[("phase", tr.t(phase_id(phase)).into()), ("done", mb(done).into()), ("total", mb(total).into())])
    } else {
        tr.tf("status-phase", &[("phase", tr.t(phase_id(phase)).into())])
    };
    html! {
        <>
            <span>{ label.clone() }</span>
            <progress value={done.to_string()} max={total.max(1).to_string()} aria-label={label}></progress>
        </>
    }
}

#[function_component(Status)]
pub fn status(p: &StateProps) -> Html {
    let s = &p.state;
    let tr = use_tr();
    match &s.model.load {
        Load::Starting => html! { <div class="status" role="status">{ tr.t("status-starting") }</div> },
        Load::Loading { phase, done, total } => html! {
            <div class="status loading" role="status">{ progress(&tr, *phase, *done, *total) }</div>
        },
        Load::Ready => html! {
            <div class="status ready" role="status">
                <span class={classes!("badge", if s.model.webgpu { "gpu" } else { "cpu" })}>{ s.model.backend.clone() }</span>
                <span class="muted">{ " · " }{ tr.tf(if s.model.cached { "status-loaded-cache" } else { "status-loaded" }, &[("s", format!("{:.1}", s.model.load_ms / 1e3).into())]) }</span>
                if s.model.note.is_some() {
                    <span class="note">{ " · " }{ tr.t("status-no-webgpu") }</span>
                }
                if s.model.cached && web_sys::window().is_some_and(|w| !w.navigator().on_line()) {
                    <span class="note" id="status-offline">{ " · " }{ tr.t("status-offline") }</span>
                }
            </div>
        },
        Load::Failed(msg) => html! {
            <div class="status failed" role="status">
                { tr.tf("status-failed", &[("msg", msg.as_str().into())]) }
            </div>
        },
    }
}
