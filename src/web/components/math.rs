//! The math with real numbers: for one query token and one head, the
//! weights softmax(q·kᵀ/√d) gives each visible key, largest first, with the
//! scores they imply (log-weights relative to the largest score).

use yew::prelude::*;

use crate::web::components::{focused, use_row, visible, HeadProps};

#[function_component(Math)]
pub fn math(p: &HeadProps) -> Html {
    let q = focused(p);
    let cols: Vec<u32> = q.map_or(Vec::new(), |q| (0..=q as u32).collect());
    let row = use_row(p, q, cols, false);
    let Some(row) = row else { return html! {} };
    let (q, _, ref w) = *row;
    if q >= p.tokens.len() {
        return html! {};
    }
    let mut keys: Vec<(usize, f32)> = w.iter().copied().enumerate().collect();
    keys.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top = keys[0].1.max(1e-12);
    let total: f32 = keys.iter().map(|k| k.1).sum();
    let rows = keys.iter().take(8).map(|&(k, w)| {
        let rel = (w.max(1e-12) / top).ln();
        html! {
            <tr>
                <td class="num">{ k.to_string() }</td>
                <td class="ctext">{ visible(&p.tokens[k]) }</td>
                <td class="num">{ format!("{rel:+.3}") }</td>
                <td class="num"><strong>{ format!("{w:.4}") }</strong></td>
            </tr>
        }
    });
    let d = p.head_dim;
    html! {
        <div class="math" id="math">
            <p>
                { format!("Query {q} {:?} in layer {}, head {} (which reads key/value head {}): ", visible(&p.tokens[q]), p.layer, p.head, p.head / p.group.max(1)) }
                <code>{ format!("weights = softmax(q·kᵀ / √{d}) over the {} keys it can see", q + 1) }</code>
                { format!(" — they sum to {total:.4}.") }
            </p>
            <table>
                <thead><tr><th>{ "key" }</th><th>{ "token" }</th><th title="q·k/√d minus the largest score">{ "score − max" }</th><th>{ "weight" }</th></tr></thead>
                <tbody>{ for rows }</tbody>
            </table>
            if keys.len() > 8 {
                <p class="muted">{ format!("… and {} more keys with {:.4} of the weight together.", keys.len() - 8, keys[8..].iter().map(|k| k.1).sum::<f32>()) }</p>
            }
        </div>
    }
}
