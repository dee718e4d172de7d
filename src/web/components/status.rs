//! The status line (role="status"): loading phases with a progress bar, then
//! the backend and adapter, or what failed and how to fix it.

use yew::prelude::*;

use crate::web::components::StateProps;
use crate::web::state::Load;

#[function_component(Status)]
pub fn status(p: &StateProps) -> Html {
    let s = &p.state;
    match &s.load {
        Load::Starting => html! { <div class="status" role="status">{ "Starting the engine…" }</div> },
        Load::Loading { phase, done, total } => {
            let (value, max, label) = if phase.is_bytes() {
                let mb = |b: u64| b as f64 / 1e6;
                (*done as f64, (*total).max(1) as f64, format!("{}: {:.1} / {:.1} MB", phase.describe(), mb(*done), mb(*total)))
            } else {
                (*done as f64, (*total).max(1) as f64, format!("{}…", phase.describe()))
            };
            html! {
                <div class="status loading" role="status">
                    <span>{ label.clone() }</span>
                    <progress value={value.to_string()} max={max.to_string()} aria-label={label}></progress>
                </div>
            }
        }
        Load::Ready => html! {
            <div class="status ready" role="status">
                <span class={classes!("badge", if s.webgpu { "gpu" } else { "cpu" })}>{ s.backend.clone() }</span>
                <span class="muted">{ format!(" · model loaded in {:.1} s{}", s.load_ms / 1e3, if s.cached { " from the browser cache" } else { "" }) }</span>
                if let Some(note) = &s.note {
                    <span class="note">{ format!(" · {note}") }</span>
                }
            </div>
        },
        Load::Failed(msg) => html! {
            <div class="status failed" role="status">
                { format!("Could not load the model: {msg}") }
            </div>
        },
    }
}
