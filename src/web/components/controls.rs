//! Prompt, generation buttons and decoding settings.

use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::control::Intent;
use crate::sampling::Sampling;
use crate::web::components::use_tr;
use crate::web::link::Link;
use crate::web::state::State;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
    pub link: Link,
}

/// A number field that checks what was typed: a valid value is applied; an
/// invalid one puts the last valid value back and says at the field what
/// is allowed (`bad`: the field's name, what it takes, the value kept).
fn field<T: 'static>(bad: UseStateHandle<Option<(String, String, String)>>, name: String, allowed: String, kept: String, parse: impl Fn(&str) -> Option<T> + 'static, apply: impl Fn(T) + 'static) -> Callback<Event> {
    Callback::from(move |e: Event| {
        let input = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok());
        let text = input.as_ref().map(|i| i.value()).unwrap_or_default();
        match parse(text.trim()) {
            Some(v) => {
                bad.set(None);
                apply(v);
            }
            None => {
                if let Some(i) = input {
                    i.set_value(&kept);
                }
                bad.set(Some((name.clone(), allowed.clone(), kept.clone())));
            }
        }
    })
}

/// A sampling field's reader: the settings with the typed value, if allowed.
type SamplingParse = Box<dyn Fn(&str) -> Option<Sampling>>;

fn in_range<T: std::str::FromStr + PartialOrd>(lo: T, hi: T) -> impl Fn(&str) -> Option<T> {
    move |t| t.parse::<T>().ok().filter(|v| *v >= lo && *v <= hi)
}

#[function_component(Controls)]
pub fn controls(p: &Props) -> Html {
    let s = &p.state;
    let c = &s.ctl;
    let link = &p.link;
    let allowed = |i: Intent| c.allowed(&i);

    // A changed prompt (or mode, or decoding) starts a new sequence at the next step.
    let on_input = {
        let link = link.clone();
        Callback::from(move |e: InputEvent| {
            let v = e.target().and_then(|t| t.dyn_into::<HtmlTextAreaElement>().ok()).map(|t| t.value()).unwrap_or_default();
            link.intent(Intent::Prompt(v));
        })
    };
    // Compare mode: a second prompt, B, decoded beside A in lock step.
    let on_compare = {
        let (link, a) = (link.clone(), c.prompt.clone());
        Callback::from(move |e: Event| {
            let on = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()).is_some_and(|i| i.checked());
            // B starts as A's text: change one word and Step.
            link.intent(Intent::Compare(on.then(|| a.clone())));
        })
    };
    let on_input_b = {
        let link = link.clone();
        Callback::from(move |e: InputEvent| {
            let v = e.target().and_then(|t| t.dyn_into::<HtmlTextAreaElement>().ok()).map(|t| t.value()).unwrap_or_default();
            link.intent(Intent::Compare(Some(v)));
        })
    };
    let intent = |i: Intent| {
        let link = link.clone();
        Callback::from(move |_: MouseEvent| link.intent(i.clone()))
    };
    let (step, play, undo, reset) = (intent(Intent::Step), intent(Intent::PlayPause), intent(Intent::Undo), intent(Intent::Reset));
    let on_mode = {
        let link = link.clone();
        Callback::from(move |e: Event| {
            let v = e.target().and_then(|t| t.dyn_into::<HtmlSelectElement>().ok()).map(|t| t.value()).unwrap_or_default();
            link.intent(Intent::Chat(v == "chat"));
        })
    };
    let set_sampling = {
        let link = link.clone();
        move |x: Sampling| link.intent(Intent::Sampling(x))
    };
    let beam = c.beam_mode;
    let greedy = c.sampling.temperature <= 0.0 && !beam;
    let sample = !greedy && !beam;
    let on_decoding = {
        let (set, cur, link) = (set_sampling.clone(), c.sampling.clone(), link.clone());
        Callback::from(move |e: Event| {
            let v = e.target().and_then(|t| t.dyn_into::<HtmlSelectElement>().ok()).map(|t| t.value()).unwrap_or_default();
            // Beam search starts from the prompt; leaving it starts over too.
            link.intent(Intent::BeamMode(v == "beam"));
            if v != "beam" {
                let temperature = if v == "greedy" { 0.0 } else if cur.temperature > 0.0 { cur.temperature } else { 0.8 };
                set(Sampling { temperature, ..cur.clone() });
            }
        })
    };
    let tr = use_tr();
    let bad = use_state(|| None::<(String, String, String)>);
    let range = |lo: &str, hi: &str| tr.tf("allowed-range", &[("min", lo.to_string().into()), ("max", hi.to_string().into())]);
    let whole = |lo: usize, hi: usize| tr.tf("allowed-whole", &[("min", lo.into()), ("max", hi.into())]);
    let beam_field = |name: &str, allowed: String, kept: String, set: fn(&mut crate::beam::BeamOptions, f32), lo: f32, hi: f32| {
        let (link, cur) = (link.clone(), c.beam_opts);
        field(bad.clone(), tr.t(name), allowed, kept, in_range(lo, hi), move |v: f32| {
            let mut o = cur;
            set(&mut o, v);
            link.intent(Intent::BeamOpts(o));
        })
    };
    let max_steps = crate::beam::MAX_BEAM_STEPS;
    let on_width = beam_field("beam-width-aria", whole(1, 8), c.beam_opts.width.to_string(), |o, v| o.width = v as usize, 1.0, 8.0);
    let on_steps = beam_field("beam-steps-aria", whole(1, max_steps), c.beam_opts.steps.to_string(), |o, v| o.steps = v as usize, 1.0, max_steps as f32);
    let on_alpha = beam_field("length-penalty-aria", range("0", "5"), c.beam_opts.length_penalty.to_string(), |o, v| o.length_penalty = v, 0.0, 5.0);
    let sampling_field = |name: &str, allowed: String, kept: String, parse: SamplingParse| {
        let set = set_sampling.clone();
        field(bad.clone(), tr.t(name), allowed, kept, parse, move |x: Sampling| set(x))
    };
    let cur = c.sampling.clone();
    let vocab = s.model.vocab.max(1);
    let on_temp = {
        let cur = cur.clone();
        sampling_field("temperature-aria", range("0.05", "5"), cur.temperature.to_string(), Box::new(move |t| in_range(0.05f32, 5.0)(t).map(|v| Sampling { temperature: v, ..cur.clone() })))
    };
    let on_topk = {
        let cur = cur.clone();
        sampling_field("top-k-aria", tr.tf("allowed-top-k", &[("max", vocab.into())]), cur.top_k.to_string(), Box::new(move |t| in_range(0usize, vocab)(t).map(|v| Sampling { top_k: v, ..cur.clone() })))
    };
    let on_topp = {
        let cur = cur.clone();
        sampling_field("top-p-aria", tr.t("allowed-top-p"), cur.top_p.to_string(), Box::new(move |t| t.parse::<f32>().ok().filter(|v| *v > 0.0 && *v <= 1.0).map(|v| Sampling { top_p: v, ..cur.clone() })))
    };
    let on_seed = {
        let cur = cur.clone();
        sampling_field("seed-aria", tr.t("allowed-seed"), cur.seed.to_string(), Box::new(move |t| t.parse::<u64>().ok().map(|v| Sampling { seed: v, ..cur.clone() })))
    };
    let n_ctx = c.n_ctx.max(1);
    let on_max = {
        let link = link.clone();
        field(bad.clone(), tr.t("max-tokens"), whole(1, n_ctx), c.max_tokens.to_string(), in_range(1usize, n_ctx), move |n| link.intent(Intent::MaxTokens(n)))
    };

    html! {
        <section class="controls" aria-label={tr.t("controls-aria")}>
            <label for="prompt">{ tr.t("prompt") }</label>
            <textarea id="prompt" rows="3" value={c.prompt.clone()} oninput={on_input} placeholder={tr.t("prompt-placeholder")} />
            <label class="inline compare-on" title={tr.t("compare-title")}>
                <input type="checkbox" id="compare-on" checked={c.compare.is_some()} onchange={on_compare}
                       disabled={!allowed(Intent::Compare(if c.compare.is_some() { None } else { Some(c.prompt.clone()) }))} />
                { " " }{ tr.t("compare") }
            </label>
            if let Some(b) = &c.compare {
                <label for="prompt-b">{ tr.t("prompt-b") }</label>
                <textarea id="prompt-b" rows="2" value={b.clone()} oninput={on_input_b} placeholder={tr.t("prompt-b-placeholder")} />
            }
            <div class="row">
                <label class="inline">{ tr.t("mode") }{ " " }
                    <select onchange={on_mode} aria-label={tr.t("mode")}>
                        <option value="raw" selected={!c.chat}>{ tr.t("mode-raw") }</option>
                        <option value="chat" selected={c.chat}>{ tr.t("mode-chat") }</option>
                    </select>
                </label>
                <label class="inline">{ tr.t("max-tokens") }{ " " }
                    <input type="number" min="1" max={n_ctx.to_string()} value={c.max_tokens.to_string()} onchange={on_max} aria-label={tr.t("max-tokens")} />
                </label>
            </div>
            <div class="row buttons">
                <button id="step" onclick={step} disabled={!allowed(Intent::Step)} title={tr.t("step-title")}>{ tr.t("step") }</button>
                <button id="play" onclick={play} disabled={!allowed(Intent::PlayPause)} title={tr.t("play-title")}>
                    { if c.playing { tr.t("pause") } else { tr.t("play") } }
                </button>
                <button id="undo" onclick={undo} disabled={!allowed(Intent::Undo)} title={tr.t("undo-title")}>{ tr.t("undo") }</button>
                <button id="reset" onclick={reset} disabled={!allowed(Intent::Reset) || (c.tokens.is_empty() && c.beam.is_none() && !c.busy())}>{ tr.t("reset") }</button>
            </div>
            <fieldset class="row decoding">
                <legend>{ tr.t("decoding") }</legend>
                <select onchange={on_decoding} aria-label={tr.t("decoding")}>
                    <option value="greedy" selected={greedy}>{ tr.t("decoding-greedy") }</option>
                    <option value="sample" selected={sample}>{ tr.t("decoding-sample") }</option>
                    <option value="beam" selected={beam}>{ tr.t("decoding-beam") }</option>
                </select>
                if beam {
                    <label class="inline">{ tr.t("beam-width") }{ " " }<input type="number" min="1" max="8" value={c.beam_opts.width.to_string()} onchange={on_width} aria-label={tr.t("beam-width-aria")} /></label>
                    <label class="inline">{ tr.t("beam-steps") }{ " " }<input type="number" min="1" max={max_steps.to_string()} value={c.beam_opts.steps.to_string()} onchange={on_steps} aria-label={tr.t("beam-steps-aria")} /></label>
                    <label class="inline" title={tr.t("length-penalty-title")}>{ tr.t("length-penalty") }{ " " }<input type="number" step="0.1" min="0" max="5" value={c.beam_opts.length_penalty.to_string()} onchange={on_alpha} aria-label={tr.t("length-penalty-aria")} /></label>
                } else {
                    <label class="inline">{ tr.t("temperature") }{ " " }<input type="number" step="0.1" min="0.05" max="5" disabled={greedy} value={c.sampling.temperature.to_string()} onchange={on_temp} aria-label={tr.t("temperature-aria")} /></label>
                    <label class="inline">{ tr.t("top-k") }{ " " }<input type="number" min="0" max={vocab.to_string()} disabled={greedy} value={c.sampling.top_k.to_string()} onchange={on_topk} aria-label={tr.t("top-k-aria")} /></label>
                    <label class="inline">{ tr.t("top-p") }{ " " }<input type="number" step="0.05" min="0.01" max="1" disabled={greedy} value={c.sampling.top_p.to_string()} onchange={on_topp} aria-label={tr.t("top-p-aria")} /></label>
                    <label class="inline">{ tr.t("seed") }{ " " }<input type="number" min="0" disabled={greedy} value={c.sampling.seed.to_string()} onchange={on_seed} aria-label={tr.t("seed-aria")} /></label>
                }
            </fieldset>
            if let Some((name, allowed, kept)) = &*bad {
                <p class="field-error" role="alert" id="field-error">{ tr.tf("field-invalid", &[("field", name.as_str().into()), ("allowed", allowed.as_str().into()), ("kept", kept.as_str().into())]) }</p>
            }
            if let Some(why) = &c.finished {
                <p class="muted" id="finished">{ tr.tf("stopped", &[("why", why.describe(&tr).into())]) }</p>
            }
        </section>
    }
}
