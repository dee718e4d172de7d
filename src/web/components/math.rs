//! The math of one head at one position, with its real vectors (the probe):
//! the residual entering the layer and its RMSNorm, q before and after
//! RoPE, each key's k, q·k, ÷√d, the causal mask, softmax, the weighted
//! values, the head's output and its contribution through W_o, and the
//! layer's FFN. Click a heatmap row or a token chip to choose the query.

use yew::prelude::*;

use crate::inspect::{Probe, ProbeAt};
use crate::protocol::{Answer, Query};
use crate::web::components::{focused, strip, use_ask, visible, HeadProps};

/// Sequences up to this many keys list every key...
const ALL_KEYS: usize = 24;
/// ...longer ones the heaviest this many.
const KEYS: usize = 12;

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

fn step(n: u32, title: Html, body: Html) -> Html {
    html! {
        <li class="mstep"><span class="mnum">{ n }</span><div><div class="mtitle">{ title }</div>{ body }</div></li>
    }
}

#[function_component(Math)]
pub fn math(p: &HeadProps) -> Html {
    let q = focused(p);
    let key = q.map(|pos| ProbeAt { layer: p.layer, head: p.head, pos, max_keys: (pos + 1 > ALL_KEYS).then_some(KEYS) });
    let got = use_ask(&p.link, p.tokens.len(), p.busy, (key, p.epoch), |(k, _)| k.map(Query::Probe));
    let probe: Option<&Probe> = match got.as_deref() {
        Some(((Some(k), _), Answer::Probe(pr))) if k.pos < p.tokens.len() => Some(pr),
        _ => None,
    };
    let Some(pr) = probe else {
        return html! { <div class="math" id="math"><p class="muted">{ if q.is_some() { "Computing this head's numbers…" } else { "Step to see the math of one head." } }</p></div> };
    };
    let tok = |i: usize| visible(p.tokens.get(i).map(String::as_str).unwrap_or(""));
    let d = p.head_dim;
    let sqrt_d = (d as f32).sqrt();
    let shown_w: f32 = pr.keys.iter().map(|k| k.weight).sum();
    let kscale = pr.keys.iter().map(|k| max_abs(&k.k)).fold(0f32, f32::max);
    let vscale = pr.keys.iter().map(|k| max_abs(&k.v)).fold(0f32, f32::max);
    let qscale = max_abs(&pr.q).max(max_abs(&pr.q_pre_rope));
    let wmax = pr.keys.iter().map(|k| k.weight).fold(1e-9f32, f32::max);
    let rows = pr.keys.iter().map(|k| {
        html! {
            <tr class={classes!((k.pos == pr.pos).then_some("self"))}>
                <td class="num">{ k.pos }</td>
                <td class="ctext">{ tok(k.pos) }</td>
                <td>{ strip(&k.k, kscale, &format!("k{}", k.pos)) }</td>
                <td class="num">{ format!("{:.3}", k.score) }</td>
                <td class="num">{ format!("{:.3}", k.scaled) }</td>
                <td class="num"><span class="wbar" style={format!("width: {:.0}px", 40.0 * k.weight / wmax)}></span><strong>{ format!("{:.4}", k.weight) }</strong></td>
                <td>{ strip(&k.v, vscale, &format!("v{}", k.pos)) }</td>
            </tr>
        }
    });
    let hidden = pr.n_keys - pr.keys.len();
    let masked = p.tokens.len().saturating_sub(pr.pos + 1);
    let ffn = pr.ffn_top.iter().map(|n| html! { <span class="neuron" title={format!("neuron {} = silu(gate)·up = {:.4}", n.neuron, n.value)}>{ format!("#{} {:+.2}", n.neuron, n.value) }</span> });
    html! {
        <div class="math" id="math">
            <p>
                { format!("Query {} {:?}, layer {}, head {} (reads key/value head {}).", pr.pos, tok(pr.pos), pr.layer, pr.head, pr.kv_head) }
                <span class="muted">{ " Hover any cell for its value." }</span>
            </p>
            <ol class="msteps">
                { step(1, html! { <>{ "The residual stream entering the layer: " }<code>{ format!("rms = {:.4}", pr.rms) }</code>{ ", normalised (RMSNorm × gain):" }</> },
                    html! { <div>{ strip(&pr.normed, max_abs(&pr.normed), "normed") }<span class="muted">{ format!(" first {} of {}", pr.normed.len(), pr.contribution.len()) }</span></div> }) }
                { step(2, html! { <>{ "q = W_q · normed, this head's " }{ d }{ " numbers, before and after RoPE (pair i turns by " }<code>{ format!("{} · θᵢ", pr.pos) }</code>{ "):" }</> },
                    html! { <div class="qq"><div>{ "before " }{ strip(&pr.q_pre_rope, qscale, "q before RoPE") }</div><div>{ "after  " }{ strip(&pr.q, qscale, "q") }</div>
                            <div class="muted">{ format!("angles: {}", pr.angles.iter().take(4).map(|a| format!("{a:.3}")).collect::<Vec<_>>().join(", ")) }{ format!(", … {:.2e} rad", pr.angles.last().copied().unwrap_or(0.0)) }</div></div> }) }
                { step(3, html! { <>{ "Each key k (from KV head " }{ pr.kv_head }{ ", also turned by RoPE): " }<code>{ "q·k" }</code>{ ", then " }<code>{ format!("÷ √{d} = {sqrt_d}") }</code>{ ", softmax over the keys it can see, and each value v weighted:" }</> },
                    html! {
                        <>
                        <div class="mtable"><table>
                            <thead><tr><th>{ "key" }</th><th>{ "token" }</th><th>{ "k" }</th><th>{ "q·k" }</th><th>{ format!("÷{sqrt_d}") }</th><th>{ "softmax" }</th><th>{ "v" }</th></tr></thead>
                            <tbody>{ for rows }</tbody>
                        </table></div>
                        if hidden > 0 {
                            <p class="muted">{ format!("… {hidden} more keys (the {} heaviest are shown) hold {:.4} of the weight.", pr.keys.len(), (1.0 - shown_w).max(0.0)) }</p>
                        }
                        <p class="muted">{ if masked > 0 { format!("Causal mask: the {masked} later position{} get score −∞, weight 0.", if masked == 1 { "" } else { "s" }) } else { "Causal mask: no later positions yet.".to_string() } }</p>
                        </>
                    }) }
                { step(4, html! { <>{ "The head's output " }<code>{ "o = Σ wⱼ vⱼ" }</code>{ ":" }</> }, strip(&pr.out, max_abs(&pr.out), "o")) }
                { step(5, html! { <>{ "Its contribution to the residual stream, " }<code>{ "W_o · o" }</code>{ format!(" ({} numbers), ‖·‖ = {:.3}:", pr.contribution.len(), pr.contribution_norm) }</> },
                    strip(&pr.contribution, max_abs(&pr.contribution), "W_o·o")) }
                { step(6, html! { <>{ "Then the layer's feed-forward block (SwiGLU), " }<code>{ format!("‖output‖ = {:.3}", pr.ffn_norm) }</code>{ "; its strongest neurons here:" }</> },
                    html! { <div class="neurons">{ for ffn }</div> }) }
            </ol>
        </div>
    }
}
