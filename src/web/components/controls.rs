//! Prompt, generation buttons and decoding settings.

use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::generate::Sampling;
use crate::protocol::ToWorker;
use crate::web::app::Command;
use crate::web::components::use_tr;
use crate::web::link::Link;
use crate::web::state::{Action, State};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
    pub link: Link,
    pub prompt: String,
    pub on_prompt: Callback<String>,
}

fn input_value(e: &Event) -> String {
    e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()).map(|i| i.value()).unwrap_or_default()
}

#[function_component(Controls)]
pub fn controls(p: &Props) -> Html {
    let s = &p.state;
    let link = &p.link;
    let allowed = |c: Command| c.allowed(s, &p.prompt);

    let on_input = {
        let (on_prompt, link, has_tokens) = (p.on_prompt.clone(), link.clone(), !s.tokens.is_empty());
        Callback::from(move |e: InputEvent| {
            let v = e.target().and_then(|t| t.dyn_into::<HtmlTextAreaElement>().ok()).map(|t| t.value()).unwrap_or_default();
            on_prompt.emit(v);
            // A changed prompt starts a new sequence at the next step.
            if has_tokens {
                link.act(Action::Reset);
                link.send(ToWorker::Reset);
            }
        })
    };
    let command = |c: Command| {
        let (s, link, prompt) = (s.clone(), link.clone(), p.prompt.clone());
        Callback::from(move |_: MouseEvent| c.run(&s, &prompt, &link))
    };
    let (step, play, undo, reset) = (command(Command::Step), command(Command::PlayPause), command(Command::Undo), command(Command::Reset));
    let on_mode = {
        let link = link.clone();
        Callback::from(move |e: Event| {
            let v = e.target().and_then(|t| t.dyn_into::<HtmlSelectElement>().ok()).map(|t| t.value()).unwrap_or_default();
            link.act(Action::Chat(v == "chat"));
            link.act(Action::Reset);
            link.send(ToWorker::Reset);
        })
    };
    let set_sampling = {
        let (link, has_tokens) = (link.clone(), !s.tokens.is_empty());
        move |x: Sampling| {
            if x.validate().is_ok() {
                if has_tokens {
                    link.send(ToWorker::SetSampling { sampling: x.clone() });
                }
                link.act(Action::Sampling(x));
            }
        }
    };
    let beam = s.beam_mode;
    let greedy = s.sampling.temperature <= 0.0 && !beam;
    let sample = !greedy && !beam;
    let on_decoding = {
        let (set, cur, link, was_beam, has_tokens) = (set_sampling.clone(), s.sampling.clone(), link.clone(), beam, !s.tokens.is_empty());
        Callback::from(move |e: Event| {
            let v = e.target().and_then(|t| t.dyn_into::<HtmlSelectElement>().ok()).map(|t| t.value()).unwrap_or_default();
            let to_beam = v == "beam";
            if to_beam != was_beam {
                // Beam search starts from the prompt; leaving it starts over too.
                link.act(Action::BeamMode(to_beam));
                if has_tokens {
                    link.act(Action::Reset);
                    link.send(ToWorker::Reset);
                }
            }
            if !to_beam {
                let temperature = if v == "greedy" { 0.0 } else if cur.temperature > 0.0 { cur.temperature } else { 0.8 };
                set(Sampling { temperature, ..cur.clone() });
            }
        })
    };
    let beam_num = |f: fn(&mut crate::beam::BeamOptions, &str)| {
        let (link, cur) = (link.clone(), s.beam_opts);
        Callback::from(move |e: Event| {
            let mut o = cur;
            f(&mut o, &input_value(&e));
            o.width = o.width.clamp(1, 8);
            o.steps = o.steps.clamp(1, 256);
            if o.check().is_ok() && o != cur {
                link.act(Action::BeamOpts(o));
            }
        })
    };
    let on_width = beam_num(|o, v| o.width = v.parse().unwrap_or(o.width));
    let on_steps = beam_num(|o, v| o.steps = v.parse().unwrap_or(o.steps));
    let on_alpha = beam_num(|o, v| o.length_penalty = v.parse().unwrap_or(o.length_penalty));
    let num = |f: fn(&mut Sampling, &str)| {
        let (set, cur) = (set_sampling.clone(), s.sampling.clone());
        Callback::from(move |e: Event| {
            let mut x = cur.clone();
            f(&mut x, &input_value(&e));
            set(x);
        })
    };
    let on_temp = num(|x, v| x.temperature = v.parse().unwrap_or(x.temperature));
    let on_topk = num(|x, v| x.top_k = v.parse().unwrap_or(x.top_k));
    let on_topp = num(|x, v| x.top_p = v.parse().unwrap_or(x.top_p));
    let on_seed = num(|x, v| x.seed = v.parse().unwrap_or(x.seed));
    let on_max = {
        let link = link.clone();
        Callback::from(move |e: Event| {
            if let Ok(n) = input_value(&e).parse() {
                link.act(Action::MaxTokens(n));
            }
        })
    };

    let tr = use_tr();
    html! {
        <section class="controls" aria-label={tr.t("controls-aria")}>
            <label for="prompt">{ tr.t("prompt") }</label>
            <textarea id="prompt" rows="3" value={p.prompt.clone()} oninput={on_input} placeholder={tr.t("prompt-placeholder")} />
            <div class="row">
                <label class="inline">{ tr.t("mode") }{ " " }
                    <select onchange={on_mode} aria-label={tr.t("mode")}>
                        <option value="raw" selected={!s.chat}>{ tr.t("mode-raw") }</option>
                        <option value="chat" selected={s.chat}>{ tr.t("mode-chat") }</option>
                    </select>
                </label>
                <label class="inline">{ tr.t("max-tokens") }{ " " }
                    <input type="number" min="1" max={s.n_ctx.max(1).to_string()} value={s.max_tokens.to_string()} onchange={on_max} aria-label={tr.t("max-tokens")} />
                </label>
            </div>
            <div class="row buttons">
                <button id="step" onclick={step} disabled={!allowed(Command::Step)} title={tr.t("step-title")}>{ tr.t("step") }</button>
                <button id="play" onclick={play} disabled={!allowed(Command::PlayPause)} title={tr.t("play-title")}>
                    { if s.playing { tr.t("pause") } else { tr.t("play") } }
                </button>
                <button id="undo" onclick={undo} disabled={!allowed(Command::Undo)} title={tr.t("undo-title")}>{ tr.t("undo") }</button>
                <button id="reset" onclick={reset} disabled={!allowed(Command::Reset)}>{ tr.t("reset") }</button>
            </div>
            <fieldset class="row decoding">
                <legend>{ tr.t("decoding") }</legend>
                <select onchange={on_decoding} aria-label={tr.t("decoding")}>
                    <option value="greedy" selected={greedy}>{ tr.t("decoding-greedy") }</option>
                    <option value="sample" selected={sample}>{ tr.t("decoding-sample") }</option>
                    <option value="beam" selected={beam}>{ tr.t("decoding-beam") }</option>
                </select>
                if beam {
                    <label class="inline">{ tr.t("beam-width") }{ " " }<input type="number" min="1" max="8" value={s.beam_opts.width.to_string()} onchange={on_width} aria-label={tr.t("beam-width-aria")} /></label>
                    <label class="inline">{ tr.t("beam-steps") }{ " " }<input type="number" min="1" max="256" value={s.beam_opts.steps.to_string()} onchange={on_steps} aria-label={tr.t("beam-steps-aria")} /></label>
                    <label class="inline" title={tr.t("length-penalty-title")}>{ tr.t("length-penalty") }{ " " }<input type="number" step="0.1" min="0" max="5" value={s.beam_opts.length_penalty.to_string()} onchange={on_alpha} aria-label={tr.t("length-penalty-aria")} /></label>
                } else {
                    <label class="inline">{ tr.t("temperature") }{ " " }<input type="number" step="0.1" min="0.05" max="5" disabled={greedy} value={s.sampling.temperature.to_string()} onchange={on_temp} aria-label={tr.t("temperature-aria")} /></label>
                    <label class="inline">{ tr.t("top-k") }{ " " }<input type="number" min="0" max="49152" disabled={greedy} value={s.sampling.top_k.to_string()} onchange={on_topk} aria-label={tr.t("top-k-aria")} /></label>
                    <label class="inline">{ tr.t("top-p") }{ " " }<input type="number" step="0.05" min="0.01" max="1" disabled={greedy} value={s.sampling.top_p.to_string()} onchange={on_topp} aria-label={tr.t("top-p-aria")} /></label>
                    <label class="inline">{ tr.t("seed") }{ " " }<input type="number" min="0" disabled={greedy} value={s.sampling.seed.to_string()} onchange={on_seed} aria-label={tr.t("seed-aria")} /></label>
                }
            </fieldset>
            if let Some(why) = &s.finished {
                <p class="muted" id="finished">{ tr.tf("stopped", &[("why", why.describe(&tr).into())]) }</p>
            }
        </section>
    }
}
