//! Speed: prefill and decode tokens per second, milliseconds per step.

use yew::prelude::*;

use crate::web::components::StateProps;

#[function_component(Hud)]
pub fn hud(p: &StateProps) -> Html {
    let s = &p.state;
    let prefill = (s.prefill_ms > 0.0).then(|| s.prefill_tokens as f64 / (s.prefill_ms / 1e3));
    let last = s.step_ms.last().copied();
    let fmt = |v: Option<f64>, unit: &str| v.map(|v| format!("{v:.1} {unit}")).unwrap_or_else(|| "–".into());
    html! {
        <section class="hud" aria-label="Speed">
            <div><span class="k">{ "prefill" }</span><span class="v" id="hud-prefill">{ fmt(prefill, "tok/s") }</span></div>
            <div><span class="k">{ "decode" }</span><span class="v" id="hud-decode">{ fmt(s.decode_tok_s(), "tok/s") }</span></div>
            <div><span class="k">{ "last step" }</span><span class="v">{ fmt(last, "ms") }</span></div>
            <div><span class="k">{ "backend" }</span><span class="v">{ if s.backend.is_empty() { "–".to_string() } else { s.backend.clone() } }</span></div>
        </section>
    }
}
