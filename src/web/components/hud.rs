//! Speed, as the engine sees it and as the user does: prefill tokens/s,
//! decode tokens/s of the forward pass alone, the last step's engine time
//! and its click-to-painted time (the page's own share is the difference),
//! and the tokens/s Play delivers.

use yew::prelude::*;

use crate::protocol::{Answer, Memory, Query};
use crate::web::components::StateProps;

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    Some(s[s.len() / 2])
}

fn mb(b: u64) -> String {
    format!("{:.0} MB", b as f64 / 1e6)
}

#[function_component(Hud)]
pub fn hud(p: &StateProps) -> Html {
    let s = &p.state;
    // The engine's memory, asked after each change of the sequence.
    let memory = use_state(|| None::<Memory>);
    {
        let (memory, link, len, busy, ready) = (memory.clone(), p.link.clone(), s.tokens.len(), s.busy, s.n_layers > 0);
        use_effect_with((len, s.epoch, busy, ready), move |_| {
            if let (Some(link), false, true) = (link, busy, ready) {
                link.ask(
                    len,
                    Query::Memory,
                    Callback::from(move |(a, _): (Answer, Option<Vec<f32>>)| {
                        if let Answer::Memory(m) = a {
                            memory.set(Some(m));
                        }
                    }),
                );
            }
        });
    }
    let mem = match &*memory {
        Some(m) => format!("wasm {}{} · caches {}", mb(m.wasm), m.gpu.map(|g| format!(" · GPU {}", mb(g))).unwrap_or_default(), mb(m.state)),
        None => "–".into(),
    };
    let prefill = (s.prefill_ms > 0.0).then(|| s.prefill_tokens as f64 / (s.prefill_ms / 1e3));
    let engine = s.step_ms.last().copied();
    let e2e = s.e2e_ms.last().copied();
    // The page's share: click-to-painted minus the forward pass, over recent steps.
    let n = s.e2e_ms.len().min(s.step_ms.len());
    let overhead: Vec<f64> = (0..n).map(|i| s.e2e_ms[s.e2e_ms.len() - n + i] - s.step_ms[s.step_ms.len() - n + i]).collect();
    let fmt = |v: Option<f64>, unit: &str| v.map(|v| format!("{v:.1} {unit}")).unwrap_or_else(|| "–".into());
    let cell = |k: &str, id: &str, v: String, title: &str| {
        html! { <div title={title.to_string()}><span class="k">{ k.to_string() }</span><span class="v" id={id.to_string()}>{ v }</span></div> }
    };
    html! {
        <section class="hud" aria-label="Speed">
            { cell("prefill", "hud-prefill", fmt(prefill, "tok/s"), "prompt tokens per second through the model") }
            { cell("decode (engine)", "hud-decode", fmt(s.decode_tok_s(), "tok/s"), "forward passes per second, recent steps") }
            { cell("Play", "hud-play", fmt(s.play_tok_s(), "tok/s"), "tokens per second a user sees during Play") }
            { cell("backend", "hud-backend", if s.backend.is_empty() { "–".to_string() } else { s.backend.clone() }, "where the model runs") }
            { cell("engine step", "hud-engine", fmt(engine, "ms"), "the last step's forward pass") }
            <div title="from Step to the new token's attention drawn"><span class="k">{ "click → painted" }</span><span class="v" id="hud-e2e" data-len={s.painted_len.to_string()}>{ fmt(e2e, "ms") }</span></div>
            { cell("page overhead", "hud-overhead", fmt(median(&overhead), "ms"), "median of (click → painted − engine step) over recent steps") }
            <div><span class="k">{ "context" }</span><span class="v" id="hud-ctx">{ format!("{} / {}", s.tokens.len(), s.n_ctx) }</span></div>
            <div class="wide" title="the worker's WebAssembly memory, its GPU buffers (weights included) and the attention caches"><span class="k">{ "engine memory" }</span><span class="v" id="hud-memory">{ mem }</span></div>
        </section>
    }
}
