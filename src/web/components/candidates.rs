//! The next token's top candidates as probability bars with their logits.
//! Clicking one forces it as the next token ("what if"); Undo goes back.

use yew::prelude::*;

use crate::protocol::ToWorker;
use crate::web::components::{visible, StateProps};

#[function_component(Candidates)]
pub fn candidates(p: &StateProps) -> Html {
    let s = &p.state;
    let max = s.candidates.first().map(|c| c.prob).unwrap_or(1.0).max(1e-9);
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
        html! {
            <li>
                <button class="cand" data-id={c.id.to_string()} data-rank={rank.to_string()} onclick={force} disabled={disabled}
                        aria-label={format!("Force {:?} (p = {:.3})", c.text, c.prob)}>
                    <span class="ctext">{ visible(&c.text) }</span>
                    <span class="bar"><span class="fill" style={width}></span></span>
                    <span class="num">{ format!("{:.1}%", 100.0 * c.prob) }</span>
                    <span class="num muted">{ format!("{:.2}", c.logit) }</span>
                </button>
            </li>
        }
    });
    html! {
        <section class="candidates" aria-label="Next token">
            <h2>{ "Next token " }<span class="muted">{ "probability · logit — click one to force it" }</span></h2>
            if s.candidates.is_empty() {
                <p class="muted">{ "Step to see what the model expects next." }</p>
            } else {
                <ol id="candidates">{ for items }</ol>
            }
        </section>
    }
}
