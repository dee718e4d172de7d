//! Speed, as the engine sees it and as the user does: prefill tokens/s,
//! decode tokens/s of the forward pass alone, the last step's engine time
//! and its click-to-painted time (the page's own share is the difference),
//! and the tokens/s Play delivers.

use yew::prelude::*;

use crate::i18n::Arg;
use crate::protocol::{Answer, Memory, Query};
use crate::web::params::OneThread;
use crate::web::components::{use_tr, StateProps};

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
    let tr = use_tr();
    // The engine's memory, asked after each change of the sequence.
    let memory = use_state(|| None::<Memory>);
    {
        let (memory, link, len, busy, ready) = (memory.clone(), p.link.clone(), s.ctl.tokens.len(), s.ctl.busy(), s.model.n_layers > 0);
        use_effect_with((len, s.ctl.epoch, busy, ready), move |_| {
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
    // `?profile`: GPU time per kernel since the last question, asked as the memory is.
    let profile = use_state(|| None::<Option<Vec<(String, f64, usize)>>>);
    let profiling = crate::web::params::query_param("profile").is_some();
    {
        let (profile, link, len, busy, ready) = (profile.clone(), p.link.clone(), s.ctl.tokens.len(), s.ctl.busy(), s.model.n_layers > 0);
        use_effect_with((len, s.ctl.epoch, busy, ready), move |_| {
            if let (Some(link), false, true, true) = (link, busy, ready, profiling) {
                link.ask(
                    len,
                    Query::Profile,
                    Callback::from(move |(a, _): (Answer, Option<Vec<f32>>)| {
                        // (An empty table: nothing ran since the last question.)
                        if let Answer::Profile { kernels } = a {
                            if kernels.as_ref().is_none_or(|k| !k.is_empty()) {
                                profile.set(Some(kernels));
                            }
                        }
                    }),
                );
            }
        });
    }
    let profile_row = match &*profile {
        Some(Some(k)) => {
            let total: f64 = k.iter().map(|x| x.1).sum();
            let top: Vec<String> = k.iter().take(6).map(|(name, ms, n)| format!("{name} {ms:.2} ms ({n})")).collect();
            Some(format!("{total:.1} ms: {}", top.join(" · ")))
        }
        Some(None) => Some(tr.t("hud-profile-none")),
        None => None,
    };
    let mem = match &*memory {
        Some(m) => {
            let gpu = m.gpu.map(|g| format!(" · {} {}", tr.t("mem-gpu"), mb(g))).unwrap_or_default();
            if m.compare_tokens > 0 {
                // Compare mode: both sequences' caches.
                format!("wasm {}{gpu} · {} A {} + B {}", mb(m.wasm), tr.t("mem-caches"), mb(m.state), mb(m.compare_state))
            } else {
                format!("wasm {}{gpu} · {} {}", mb(m.wasm), tr.t("mem-caches"), mb(m.state))
            }
        }
        None => "–".into(),
    };
    let prefill = (s.ctl.prefill_ms > 0.0).then(|| s.ctl.prefill_tokens as f64 / (s.ctl.prefill_ms / 1e3));
    let engine = s.ctl.step_ms.last().copied();
    let e2e = s.timings.e2e_ms.last().copied();
    // The page's share: click-to-painted minus the forward pass, over recent steps.
    let n = s.timings.e2e_ms.len().min(s.ctl.step_ms.len());
    let overhead: Vec<f64> = (0..n).map(|i| s.timings.e2e_ms[s.timings.e2e_ms.len() - n + i] - s.ctl.step_ms[s.ctl.step_ms.len() - n + i]).collect();
    let fmt = |v: Option<f64>, unit: &str| v.map(|v| format!("{v:.1} {unit}")).unwrap_or_else(|| "–".into());
    let cell = |label: &str, title: &str, id: &str, v: String| {
        html! { <div title={tr.t(title)}><span class="k">{ tr.t(label) }</span><span class="v" id={id.to_string()}>{ v }</span></div> }
    };
    // Play ahead: the device's readbacks per token, and the bytes each token cost.
    let (replies, steps, bytes) = s.ctl.ahead_reads;
    let reads = if steps > 0 {
        let kb = if bytes > 0 { format!(" · {:.1} KB", bytes as f64 / steps as f64 / 1e3) } else { String::new() };
        format!("{:.3}{kb}", replies as f64 / steps as f64)
    } else {
        "–".into()
    };
    // The CPU engine's threads, and why one when one.
    let (threads, threads_why) = if !s.ready() {
        ("–".to_string(), None)
    } else if s.model.webgpu {
        (tr.t("threads-gpu"), None)
    } else {
        let why = match (&s.model.pool_error, crate::web::params::threads().1) {
            (Some(e), _) => Some(tr.tf("threads-why-pool", &[("error", Arg::Str(e.clone()))])),
            (None, Some(OneThread::Asked)) => Some(tr.t("threads-why-asked")),
            (None, Some(OneThread::NotIsolated)) => Some(tr.t("threads-why-isolation")),
            (None, Some(OneThread::NoBuild)) => Some(tr.t("threads-why-build")),
            (None, Some(OneThread::OneCore)) => Some(tr.t("threads-why-core")),
            (None, None) => None,
        };
        (s.model.threads.to_string(), why.filter(|_| s.model.threads <= 1))
    };
    html! {
        <section class="hud" aria-label={tr.t("hud")}>
            { cell("hud-prefill", "hud-prefill-title", "hud-prefill", fmt(prefill, "tok/s")) }
            { cell("hud-decode", "hud-decode-title", "hud-decode", fmt(s.decode_tok_s(), "tok/s")) }
            { cell("hud-play", "hud-play-title", "hud-play", fmt(s.play_tok_s(), "tok/s")) }
            { cell("hud-backend", "hud-backend-title", "hud-backend", if s.model.backend.is_empty() { "–".to_string() } else { s.model.backend.clone() }) }
            { cell("hud-threads", "hud-threads-title", "hud-threads", threads) }
            { cell("hud-engine", "hud-engine-title", "hud-engine", fmt(engine, "ms")) }
            <div title={tr.t("hud-e2e-title")}><span class="k">{ tr.t("hud-e2e") }</span><span class="v" id="hud-e2e" data-len={s.timings.painted_len.to_string()}>{ fmt(e2e, "ms") }</span></div>
            { cell("hud-overhead", "hud-overhead-title", "hud-overhead", fmt(median(&overhead), "ms")) }
            { cell("hud-context", "hud-context-title", "hud-ctx", format!("{} / {}", s.ctl.tokens.len(), s.ctl.n_ctx)) }
            { cell("hud-reads", "hud-reads-title", "hud-reads", reads) }
            if let Some(why) = threads_why {
                <div class="wide"><span class="v" id="hud-threads-why">{ why }</span></div>
            }
            if let Some(row) = profile_row {
                <div class="wide" title={tr.t("hud-profile-title")}><span class="k">{ tr.t("hud-profile") }</span><span class="v" id="hud-profile">{ row }</span></div>
            }
            <div class="wide" title={tr.t("hud-memory-title")}><span class="k">{ tr.t("hud-memory") }</span><span class="v" id="hud-memory">{ mem }</span></div>
        </section>
    }
}
