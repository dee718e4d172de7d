//! The logit lens: what the model would predict at each of the last
//! positions if it stopped after each layer (the residual stream through the
//! final RMSNorm and the output matrix, softmax over the whole vocabulary).
//! Rows are layers, columns positions; each cell is the top token, coloured
//! by its probability; hover for the top 5 and the token that came next.
//! The cell where the final answer first becomes the top token is marked.

use std::collections::HashMap;
use std::rc::Rc;

use yew::prelude::*;

use crate::inspect::Lens;
use crate::protocol::{Answer, Query};
use crate::web::components::colors::weight_rgb;
use crate::web::components::{use_ask, visible};
use crate::web::link::Link;

/// Positions shown: the newest ones.
pub const COLUMNS: usize = 24;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub link: Link,
    pub tokens: Rc<Vec<String>>,
    pub epoch: u64,
    pub busy: bool,
}

#[function_component(LensView)]
pub fn lens_view(p: &Props) -> Html {
    let len = p.tokens.len();
    let p0 = len.saturating_sub(COLUMNS);
    let got = use_ask(&p.link, len, p.busy, (p0, len, p.epoch), |&(p0, p1, _)| (p1 > p0).then_some(Query::Lens { p0, p1, top: 5 }));
    let Some(got) = got else {
        return html! { <p class="muted" id="lens">{ if len == 0 { "Step to see what each layer predicts." } else { "Computing the lens (30 layers × the newest positions)…" } }</p> };
    };
    let ((q0, _, _), answer) = &*got;
    let Answer::Lens { lens, pieces } = answer else {
        return html! { <p class="muted" id="lens">{ format!("{answer:?}") }</p> };
    };
    let pieces: HashMap<u32, &str> = pieces.iter().map(|(id, t)| (*id, t.as_str())).collect();
    let text = |id: u32| visible(pieces.get(&id).copied().unwrap_or("?"));
    let n_layers = lens.first().map_or(0, |l| l.layers.len());
    // Per position: the first layer whose top token is the final layer's.
    let first: Vec<Option<usize>> = lens
        .iter()
        .map(|l: &Lens| {
            let last = l.layers.last()?.top.first()?.id;
            l.layers.iter().position(|x| x.top.first().map(|t| t.id) == Some(last))
        })
        .collect();
    let header = lens.iter().map(|l| html! { <th class="ctext" title={format!("position {}", l.pos)}>{ p.tokens.get(l.pos).map(|t| visible(t)).unwrap_or_default() }</th> });
    let rows = (0..n_layers).map(|layer| {
        let cells = lens.iter().enumerate().map(|(c, l)| {
            let x = &l.layers[layer];
            let Some(top) = x.top.first() else { return html! { <td></td> } };
            let [r, g, b] = weight_rgb(top.prob);
            let dark = top.prob > 0.35;
            let mut tip: Vec<String> = x.top.iter().map(|t| format!("{:?} {:.1}%", text(t.id), 100.0 * t.prob)).collect();
            if let Some(n) = &x.next {
                tip.push(format!("next token {:?}: {:.2}% (rank {})", text(n.id), 100.0 * n.prob, n.rank + 1));
            }
            html! {
                <td class={classes!("lcell", (first[c] == Some(layer)).then_some("first"))} data-layer={layer.to_string()} data-pos={l.pos.to_string()} data-id={top.id.to_string()}
                    style={format!("background: rgb({r},{g},{b}); color: {}", if dark { "#fff" } else { "#1d2330" })}
                    title={format!("layer {layer}, position {}:\n{}", l.pos, tip.join("\n"))}>
                    { text(top.id).chars().take(6).collect::<String>() }
                </td>
            }
        });
        html! { <tr><th class="num">{ layer }</th>{ for cells }</tr> }
    });
    html! {
        <div class="lens" id="lens">
            <p class="muted">{ format!("Positions {}–{}: the top token each layer would predict (colour = its probability); outlined: the first layer that already predicts the final answer. The last row is the model's own prediction.", q0, q0 + lens.len().max(1) - 1) }</p>
            <div class="lens-scroll">
                <table aria-label="Logit lens: layers by positions">
                    <thead><tr><th>{ "layer" }</th>{ for header }</tr></thead>
                    <tbody>{ for rows }</tbody>
                </table>
            </div>
        </div>
    }
}
