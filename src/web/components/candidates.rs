//! The next token's top candidates as probability bars with their logits.
//! Clicking one forces it as the next token ("what if"); Undo goes back.
//! With heads switched off, each bar also shows the probability with every
//! head on (a thin mark) and the difference.

use std::cell::RefCell;
use std::rc::Rc;

use yew::prelude::*;

use crate::sampling::SamplingView;
use crate::control::Intent;
use crate::protocol::{Answer, Query};
use crate::web::components::{use_ask, use_tr, visible, StateProps, Tr};

#[function_component(Candidates)]
pub fn candidates(p: &StateProps) -> Html {
    let s = &p.state;
    let tr = use_tr();
    let sampling = s.ctl.sampling.temperature > 0.0 && !s.ctl.beam_mode;
    let link = p.link.clone().expect("the candidates panel has a link");
    let got = use_ask(&link, s.ctl.tokens.len(), s.ctl.busy(), (s.ctl.tokens.len(), s.ctl.epoch, sampling, s.ctl.sampling.clone()), |(len, _, on, _)| {
        (*on && *len > 0).then_some(Query::Sampling)
    });
    // The view each step's draw was made from (the one before the step).
    let history = use_mut_ref(Vec::<(usize, Rc<SamplingView>)>::new);
    let view: Option<Rc<SamplingView>> = match got.as_deref() {
        Some(((len, epoch, true, _), Answer::Sampling(v))) if *len == s.ctl.tokens.len() && *epoch == s.ctl.epoch => {
            let v = Rc::new(v.clone());
            remember(&history, *len, v.clone());
            Some(v)
        }
        _ => None,
    };
    if sampling {
        return sampling_panel(p, view, &history.borrow(), &tr);
    }
    let base = s.ctl.baseline.as_ref().filter(|b| b.len() == s.ctl.candidates.len());
    let max = s.ctl.candidates.iter().map(|c| c.prob).chain(base.into_iter().flatten().copied()).fold(1e-9f32, f32::max);
    let disabled = !s.ctl.allowed(&Intent::Force(0));
    let items = s.ctl.candidates.iter().enumerate().map(|(rank, c)| {
        let force = {
            let (link, id) = (p.link.clone(), c.id);
            Callback::from(move |_| {
                if let Some(l) = &link {
                    l.intent(Intent::Force(id));
                }
            })
        };
        let width = format!("width: {:.1}%", 100.0 * c.prob / max);
        let without = base.map(|b| b[rank]);
        html! {
            <li>
                <button class={classes!("cand", without.is_some().then_some("ablated"))} data-id={c.id.to_string()} data-rank={rank.to_string()}
                        data-prob={c.prob.to_string()} data-base={without.map(|w| w.to_string()).unwrap_or_default()} onclick={force} disabled={disabled}
                        aria-label={tr.tf("force-aria", &[("token", format!("{:?}", c.text).into()), ("p", format!("{:.3}", c.prob).into())])}>
                    <span class="ctext">{ visible(&c.text) }</span>
                    <span class="bar">
                        <span class="fill" style={width}></span>
                        if let Some(w) = without {
                            <span class="base" style={format!("left: {:.1}%", 100.0 * w / max)} title={tr.tf("with-all-heads", &[("p", format!("{:.1}", 100.0 * w).into())])}></span>
                        }
                    </span>
                    <span class="num">{ format!("{:.1}%", 100.0 * c.prob) }</span>
                    if let Some(w) = without {
                        <span class={classes!("num", "delta", if c.prob >= w { "up" } else { "down" })} title={tr.t("delta-title")}>
                            { format!("{:+.1}", 100.0 * (c.prob - w)) }
                        </span>
                    } else {
                        <span class="num muted">{ format!("{:.2}", c.logit) }</span>
                    }
                </button>
            </li>
        }
    });
    let greedy_note = (!s.ctl.beam_mode && !s.ctl.candidates.is_empty()).then(|| html! { <p class="muted sinfo">{ tr.t("greedy-note") }</p> });
    let heading = if base.is_some() { tr.tf("next-heading-ablated", &[("n", s.ctl.ablation.len().into())]) } else { tr.t("next-heading") };
    html! {
        <section class="candidates" aria-label={tr.t("next-token")}>
            <h2>{ tr.t("next-token") }{ " " }<span class="muted">{ heading }</span></h2>
            if s.ctl.candidates.is_empty() {
                <p class="muted">{ tr.t("next-empty") }</p>
            } else {
                { for greedy_note }
                <ol id="candidates">{ for items }</ol>
            }
        </section>
    }
}

fn remember(h: &RefCell<Vec<(usize, Rc<SamplingView>)>>, len: usize, v: Rc<SamplingView>) {
    let mut h = h.borrow_mut();
    h.retain(|(l, _)| *l != len);
    h.push((len, v));
    if h.len() > 8 {
        h.remove(0);
    }
}

/// Sample mode: what temperature, top-k and top-p do to the distribution,
/// and where the last draw fell.
fn sampling_panel(p: &StateProps, view: Option<Rc<SamplingView>>, history: &[(usize, Rc<SamplingView>)], tr: &Tr) -> Html {
    let s = &p.state;
    let disabled = !s.ctl.allowed(&Intent::Force(0));
    let Some(v) = view else {
        return html! { <section class="candidates" aria-label={tr.t("next-token")}><h2>{ tr.t("next-token") }</h2><p class="muted">{ if s.ctl.tokens.is_empty() { tr.t("next-empty") } else { tr.t("sampling-working") } }</p></section> };
    };
    let text = |i: usize| s.ctl.candidates.get(i).map(|c| visible(&c.text)).unwrap_or_default();
    let max = v.rows.iter().map(|r| r.p1.max(r.pt).max(r.p)).fold(1e-9f32, f32::max);
    let n_allowed = v.rows.iter().filter(|r| r.allowed).count();
    let rows = v.rows.iter().enumerate().map(|(rank, r)| {
        let force = {
            let (link, id) = (p.link.clone(), r.id);
            Callback::from(move |_| {
                if let Some(l) = &link {
                    l.intent(Intent::Force(id));
                }
            })
        };
        let cut = if n_allowed == rank && rank < v.rows.len() {
            let why = if v.cut_by_k && v.set_size == v.sampling.top_k {
                tr.tf("cut-k", &[("k", v.sampling.top_k.into())])
            } else {
                tr.tf("cut-p", &[("p", v.sampling.top_p.to_string().into())])
            };
            html! { <li class="cutline" aria-hidden="true">{ why }</li> }
        } else {
            html! {}
        };
        html! {
            <>
            { cut }
            <li>
                <button class={classes!("cand", "srow", if r.allowed { "allowed" } else { "cut" })} data-id={r.id.to_string()} data-rank={rank.to_string()} data-prob={r.p1.to_string()}
                        onclick={force} disabled={disabled} aria-label={tr.tf("force-aria", &[("token", format!("{:?}", text(rank)).into()), ("p", format!("{:.3}", r.p1).into())])}>
                    <span class="ctext">{ text(rank) }</span>
                    <span class="bar">
                        <span class="fill" style={format!("width: {:.1}%", 100.0 * r.p / max)}></span>
                        <span class="base" style={format!("left: {:.1}%", 100.0 * r.p1 / max)} title={tr.tf("model-p-title", &[("p", format!("{:.2}", 100.0 * r.p1).into())])}></span>
                    </span>
                    <span class="num" title={tr.t("col-p1-title")}>{ format!("{:.1}%", 100.0 * r.p1) }</span>
                    <span class="num" title={tr.t("col-pt-title")}>{ format!("{:.1}%", 100.0 * r.pt) }</span>
                    <span class="num" title={tr.t("col-p-title")}><strong>{ if r.allowed { format!("{:.1}%", 100.0 * r.p) } else { tr.t("cut") } }</strong></span>
                </button>
            </li>
            </>
        }
    });
    // Where the last draw fell, in the distribution it was drawn from.
    let draw = s.ctl.last_draw.and_then(|(u, tok)| {
        let (_, prev) = history.iter().find(|(l, _)| *l + 1 == s.ctl.tokens.len())?;
        let mut cum = 0f32;
        let mut at = None;
        for r in prev.rows.iter().filter(|r| r.allowed) {
            if r.id == tok {
                at = Some((cum, cum + r.p));
            }
            cum += r.p;
        }
        let name = s.ctl.tokens.last().map(|t| visible(&t.text)).unwrap_or_default();
        Some(match at {
            Some((a, b)) => tr.tf("draw-in", &[("u", format!("{u:.3}").into()), ("token", format!("{name:?}").into()), ("a", format!("{a:.3}").into()), ("b", format!("{b:.3}").into())]),
            None => tr.tf("draw-beyond", &[("u", format!("{u:.3}").into()), ("token", format!("{name:?}").into())]),
        })
    });
    html! {
        <section class="candidates" aria-label={tr.t("next-token")}>
            <h2>{ tr.t("next-token") }{ " " }<span class="muted">{ tr.t("sampling-heading") }</span></h2>
            <p class="muted sinfo" id="sampling-info">{ tr.tf("sampling-info", &[
                ("t", v.sampling.temperature.to_string().into()),
                ("k", if v.sampling.top_k == 0 { tr.t("off") } else { v.sampling.top_k.to_string() }.into()),
                ("p", v.sampling.top_p.to_string().into()),
                ("n", v.set_size.into()),
                ("mass", format!("{:.1}", 100.0 * v.set_mass).into()),
            ]) }</p>
            <ol id="candidates" class="sampling">{ for rows }</ol>
            if let Some(d) = draw {
                <p class="draw" id="last-draw">{ d }</p>
            }
        </section>
    }
}
