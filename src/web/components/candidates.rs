//! The next token's top candidates as probability bars with their logits.
//! Clicking one forces it as the next token ("what if"); Undo goes back.
//! With heads switched off, each bar also shows the probability with every
//! head on (a thin mark) and the difference.

use yew::prelude::*;

use crate::protocol::ToWorker;
use crate::web::components::{visible, StateProps};

#[function_component(Candidates)]
pub fn candidates(p: &StateProps) -> Html {
    let s = &p.state;
    let base = s.baseline.as_ref().filter(|b| b.len() == s.candidates.len());
    let max = s.candidates.iter().map(|c| c.prob).chain(base.into_iter().flatten().copied()).fold(1e-9f32, f32::max);
    let disabled = s.busy || s.playing || s.stop_reason().is_some();
    let items = s.candidates.iter().enumerate().map(|(rank, c)| {
        let force = {
            let (link, id) = (p.link.clone(), c.id);
            Callback::from(move |_| {
                if let Some(l) = &link {
                    l.send(ToWorker::Force { id });
                }
            })
        };
        let width = format!("width: {:.1}%", 100.0 * c.prob / max);
        let without = base.map(|b| b[rank]);
        html! {
            <li>
                <button class={classes!("cand", without.is_some().then_some("ablated"))} data-id={c.id.to_string()} data-rank={rank.to_string()}
                        data-prob={c.prob.to_string()} data-base={without.map(|w| w.to_string()).unwrap_or_default()} onclick={force} disabled={disabled}
                        aria-label={format!("Force {:?} (p = {:.3})", c.text, c.prob)}>
                    <span class="ctext">{ visible(&c.text) }</span>
                    <span class="bar">
                        <span class="fill" style={width}></span>
                        if let Some(w) = without {
                            <span class="base" style={format!("left: {:.1}%", 100.0 * w / max)} title={format!("with every head on: {:.1}%", 100.0 * w)}></span>
                        }
                    </span>
                    <span class="num">{ format!("{:.1}%", 100.0 * c.prob) }</span>
                    if let Some(w) = without {
                        <span class={classes!("num", "delta", if c.prob >= w { "up" } else { "down" })} title="change from switching the heads off (percentage points)">
                            { format!("{:+.1}", 100.0 * (c.prob - w)) }
                        </span>
                    } else {
                        <span class="num muted">{ format!("{:.2}", c.logit) }</span>
                    }
                </button>
            </li>
        }
    });
    let heading = if base.is_some() {
        format!("probability with {} head{} off · Δ from all heads on (pp) — click one to force it", s.ablation.len(), if s.ablation.len() == 1 { "" } else { "s" })
    } else {
        "probability · logit — click one to force it".to_string()
    };
    html! {
        <section class="candidates" aria-label="Next token">
            <h2>{ "Next token " }<span class="muted">{ heading }</span></h2>
            if s.candidates.is_empty() {
                <p class="muted">{ "Step to see what the model expects next." }</p>
            } else {
                <ol id="candidates">{ for items }</ol>
            }
        </section>
    }
}
