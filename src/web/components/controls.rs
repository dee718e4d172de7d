//! Prompt, generation buttons and decoding settings.

use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::generate::Sampling;
use crate::protocol::ToWorker;
use crate::web::app::Command;
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

    html! {
        <section class="controls" aria-label="Prompt and generation">
            <label for="prompt">{ "Prompt" }</label>
            <textarea id="prompt" rows="3" value={p.prompt.clone()} oninput={on_input} placeholder="Type a prompt, then Step" />
            <div class="row">
                <label class="inline">{ "Mode " }
                    <select onchange={on_mode} aria-label="Mode">
                        <option value="raw" selected={!s.chat}>{ "Raw completion" }</option>
                        <option value="chat" selected={s.chat}>{ "Chat (ChatML template)" }</option>
                    </select>
                </label>
                <label class="inline">{ "Max tokens " }
                    <input type="number" min="1" max={s.n_ctx.max(1).to_string()} value={s.max_tokens.to_string()} onchange={on_max} aria-label="Max tokens" />
                </label>
            </div>
            <div class="row buttons">
                <button id="step" onclick={step} disabled={!allowed(Command::Step)} title="Step (→ or s)">{ "Step" }</button>
                <button id="play" onclick={play} disabled={!allowed(Command::PlayPause)} title="Play / Pause (space)">
                    { if s.playing { "Pause" } else { "Play" } }
                </button>
                <button id="undo" onclick={undo} disabled={!allowed(Command::Undo)} title="Undo (Backspace or u)">{ "Undo" }</button>
                <button id="reset" onclick={reset} disabled={!allowed(Command::Reset)}>{ "Reset" }</button>
            </div>
            <fieldset class="row decoding">
                <legend>{ "Decoding" }</legend>
                <select onchange={on_decoding} aria-label="Decoding">
                    <option value="greedy" selected={greedy}>{ "Greedy (argmax)" }</option>
                    <option value="sample" selected={sample}>{ "Sample" }</option>
                    <option value="beam" selected={beam}>{ "Beam search" }</option>
                </select>
                if beam {
                    <label class="inline">{ "width " }<input type="number" min="1" max="8" value={s.beam_opts.width.to_string()} onchange={on_width} aria-label="Beam width" /></label>
                    <label class="inline">{ "steps " }<input type="number" min="1" max="256" value={s.beam_opts.steps.to_string()} onchange={on_steps} aria-label="Beam steps" /></label>
                    <label class="inline" title="rank hypotheses by score / length^α">{ "length penalty α " }<input type="number" step="0.1" min="0" max="5" value={s.beam_opts.length_penalty.to_string()} onchange={on_alpha} aria-label="Length penalty" /></label>
                } else {
                    <label class="inline">{ "temperature " }<input type="number" step="0.1" min="0.05" max="5" disabled={greedy} value={s.sampling.temperature.to_string()} onchange={on_temp} aria-label="Temperature" /></label>
                    <label class="inline">{ "top-k " }<input type="number" min="0" max="49152" disabled={greedy} value={s.sampling.top_k.to_string()} onchange={on_topk} aria-label="Top-k" /></label>
                    <label class="inline">{ "top-p " }<input type="number" step="0.05" min="0.01" max="1" disabled={greedy} value={s.sampling.top_p.to_string()} onchange={on_topp} aria-label="Top-p" /></label>
                    <label class="inline">{ "seed " }<input type="number" min="0" disabled={greedy} value={s.sampling.seed.to_string()} onchange={on_seed} aria-label="Seed" /></label>
                }
            </fieldset>
            if let Some(why) = &s.finished {
                <p class="muted" id="finished">{ format!("Stopped: {why}.") }</p>
            }
        </section>
    }
}
