//! The math of one head at one position, with its real vectors (the probe):
//! the residual entering the layer and its RMSNorm, q before and after
//! RoPE, each key's k, q·k, ÷√d, the causal mask, softmax, the weighted
//! values, the head's output and its contribution through W_o, and the
//! layer's FFN. Click a heatmap row or a token chip to choose the query.

use yew::prelude::*;

use crate::inspect::{Probe, ProbeAt};
use crate::protocol::{Answer, Query};
use crate::web::components::{focused, strip, use_ask, use_tr, visible, HeadProps};

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
    let tr = use_tr();
    let q = focused(p);
    let key = q.map(|pos| ProbeAt { layer: p.layer, head: p.head, pos, max_keys: (pos + 1 > ALL_KEYS).then_some(KEYS) });
    let got = use_ask(&p.link, p.tokens.len(), p.busy, (key, p.epoch), |(k, _)| k.map(Query::Probe));
    let ok = matches!(got.as_deref(), Some(((Some(k), _), Answer::Probe(_))) if k.pos < p.tokens.len());
    let (Some(answer), true) = (got, ok) else {
        return html! { <div class="math" id="math"><p class="muted">{ if q.is_some() { tr.t("math-computing") } else { tr.t("math-empty") } }</p></div> };
    };
    let Answer::Probe(pr) = &answer.1 else { unreachable!("checked above") };
    // Only what the probe's own view shows: it re-renders when these change, not every step.
    let texts: Vec<String> = std::iter::once(pr.pos).chain(pr.keys.iter().map(|k| k.pos)).map(|i| visible(p.tokens.get(i).map(String::as_str).unwrap_or(""))).collect();
    let masked = p.tokens.len().saturating_sub(pr.pos + 1);
    html! { <ProbeView answer={answer.clone()} texts={texts} masked={masked} head_dim={p.head_dim} /> }
}

type ProbeAnswer = std::rc::Rc<((Option<ProbeAt>, u64), Answer)>;

#[derive(Properties)]
struct ViewProps {
    answer: ProbeAnswer,
    /// The query's token text, then each listed key's.
    texts: Vec<String>,
    masked: usize,
    head_dim: usize,
}

impl PartialEq for ViewProps {
    fn eq(&self, o: &ViewProps) -> bool {
        std::rc::Rc::ptr_eq(&self.answer, &o.answer) && self.texts == o.texts && self.masked == o.masked && self.head_dim == o.head_dim
    }
}

#[function_component(ProbeView)]
fn probe_view(v: &ViewProps) -> Html {
    let tr = use_tr();
    let Answer::Probe(pr) = &v.answer.1 else { return html! {} };
    let pr: &Probe = pr;
    let key_text = |i: usize| v.texts.get(i + 1).cloned().unwrap_or_default();
    let masked = v.masked;
    let d = v.head_dim;
    let sqrt_d = (d as f32).sqrt();
    let shown_w: f32 = pr.keys.iter().map(|k| k.weight).sum();
    let kscale = pr.keys.iter().map(|k| max_abs(&k.k)).fold(0f32, f32::max);
    let vscale = pr.keys.iter().map(|k| max_abs(&k.v)).fold(0f32, f32::max);
    let qscale = max_abs(&pr.q).max(max_abs(&pr.q_pre_rope));
    let wmax = pr.keys.iter().map(|k| k.weight).fold(1e-9f32, f32::max);
    let rows = pr.keys.iter().enumerate().map(|(ki, k)| {
        html! {
            <tr class={classes!((k.pos == pr.pos).then_some("self"))}>
                <td class="num">{ k.pos }</td>
                <td class="ctext">{ key_text(ki) }</td>
                <td>{ strip(&k.k, kscale, &format!("k{}", k.pos)) }</td>
                <td class="num">{ format!("{:.3}", k.score) }</td>
                <td class="num">{ format!("{:.3}", k.scaled) }</td>
                <td class="num"><span class="wbar" style={format!("width: {:.0}px", 40.0 * k.weight / wmax)}></span><strong>{ format!("{:.4}", k.weight) }</strong></td>
                <td>{ strip(&k.v, vscale, &format!("v{}", k.pos)) }</td>
            </tr>
        }
    });
    let hidden = pr.n_keys - pr.keys.len();
    let ffn = pr.ffn_top.iter().map(|n| html! { <span class="neuron" title={tr.tf("neuron-title", &[("n", n.neuron.into()), ("v", format!("{:.4}", n.value).into())])}>{ format!("#{} {:+.2}", n.neuron, n.value) }</span> });
    let f = |id: &str, args: &[(&str, crate::i18n::Arg)]| tr.tf(id, args);
    let angles = format!("{}, … {:.2e}", pr.angles.iter().take(4).map(|a| format!("{a:.3}")).collect::<Vec<_>>().join(", "), pr.angles.last().copied().unwrap_or(0.0));
    html! {
        <div class="math" id="math" data-layer={pr.layer.to_string()} data-head={pr.head.to_string()}>
            <p>
                { f("math-query", &[("pos", pr.pos.into()), ("tok", format!("{:?}", v.texts[0]).into()), ("l", pr.layer.into()), ("h", pr.head.into()), ("g", pr.kv_head.into())]) }
                <span class="muted">{ " " }{ tr.t("math-hover") }</span>
            </p>
            <ol class="msteps">
                { step(1, html! { { f("math-1", &[("rms", format!("{:.4}", pr.rms).into())]) } },
                    html! { <div>{ strip(&pr.normed, max_abs(&pr.normed), "normed") }<span class="muted">{ " " }{ f("math-first", &[("n", pr.normed.len().into()), ("d", pr.contribution.len().into())]) }</span></div> }) }
                { step(2, html! { { f("math-2", &[("d", d.into()), ("pos", pr.pos.into())]) } },
                    html! { <div class="qq"><div>{ tr.t("math-before") }{ " " }{ strip(&pr.q_pre_rope, qscale, "q before RoPE") }</div><div>{ tr.t("math-after") }{ " " }{ strip(&pr.q, qscale, "q") }</div>
                            <div class="muted">{ f("math-angles", &[("a", angles.into())]) }</div></div> }) }
                { step(3, html! { { f("math-3", &[("g", pr.kv_head.into()), ("d", d.into()), ("sqrt", sqrt_d.to_string().into())]) } },
                    html! {
                        <>
                        <div class="mtable"><table>
                            <thead><tr><th>{ tr.t("math-key") }</th><th>{ tr.t("math-token") }</th><th>{ "k" }</th><th>{ "q·k" }</th><th>{ format!("÷{sqrt_d}") }</th><th>{ "softmax" }</th><th>{ "v" }</th></tr></thead>
                            <tbody>{ for rows }</tbody>
                        </table></div>
                        if hidden > 0 {
                            <p class="muted">{ f("math-hidden", &[("n", hidden.into()), ("shown", pr.keys.len().into()), ("w", format!("{:.4}", (1.0 - shown_w).max(0.0)).into())]) }</p>
                        }
                        <p class="muted">{ if masked > 0 { f("math-mask", &[("n", masked.into())]) } else { tr.t("math-mask-none") } }</p>
                        </>
                    }) }
                { step(4, html! { { tr.t("math-4") } }, strip(&pr.out, max_abs(&pr.out), "o")) }
                { step(5, html! { { f("math-5", &[("n", pr.contribution.len().into()), ("norm", format!("{:.3}", pr.contribution_norm).into())]) } },
                    strip(&pr.contribution, max_abs(&pr.contribution), "W_o·o")) }
                { step(6, html! { { f("math-6", &[("norm", format!("{:.3}", pr.ffn_norm).into())]) } },
                    html! { <div class="neurons">{ for ffn }</div> }) }
            </ol>
        </div>
    }
}
