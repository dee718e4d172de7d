//! The next token's top candidates as probability bars with their logits.
//! Clicking one forces it as the next token ("what if"); Undo goes back.
//! With heads switched off, each bar also shows the probability with every
//! head on (a thin mark) and the difference.

use std::cell::RefCell;
use std::rc::Rc;

use yew::prelude::*;

use crate::sampling::SamplingView;
use crate::control::Intent;
use crate::protocol::{Answer, Query, Side};
use crate::web::components::{use_ask, use_ask_on, use_tr, visible, StateProps, Tr};

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
    // Compare mode: every candidate of either side, with its probability
    // under A and under B (each side asked for the other's).
    let c = &s.ctl;
    let compare = c.compare.is_some() && !c.b.candidates.is_empty() && !c.candidates.is_empty();
    let mut ids: Vec<u32> = c.candidates.iter().chain(&c.b.candidates).map(|x| x.id).collect();
    {
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
    }
    let (len_a, len_b) = (c.tokens.len(), c.b.tokens.len());
    let probs_of = |(_, _, ids, on): &(usize, u64, Vec<u32>, bool)| on.then(|| Query::NextProbs { ids: ids.clone() });
    let got_a = use_ask_on(&link, Side::A, len_a, c.busy(), (len_a, c.epoch, ids.clone(), compare), probs_of);
    let got_b = use_ask_on(&link, Side::B, len_b, c.busy(), (len_b, c.epoch, ids.clone(), compare), probs_of);
    if compare {
        let answer = |got: Option<Rc<(ProbsKey, Answer)>>, len: usize| match got.as_deref() {
            Some(((l, e, asked, true), Answer::NextProbs { probs })) if *l == len && *e == c.epoch && *asked == ids && probs.len() == ids.len() => Some(probs.clone()),
            _ => None,
        };
        return compare_panel(p, &ids, answer(got_a, len_a), answer(got_b, len_b), &tr);
    }
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

/// A side's question of probabilities: (its length, the epoch, the ids, compare mode on).
type ProbsKey = (usize, u64, Vec<u32>, bool);

/// Compare mode: each candidate of A or B with p under A, p under B and
/// Δ = p_B − p_A. Known at once for a side's own candidates; the other
/// side's come with its answer (`pa`, `pb`: for every id, in order).
fn compare_panel(p: &StateProps, ids: &[u32], pa: Option<Vec<f32>>, pb: Option<Vec<f32>>, tr: &Tr) -> Html {
    let c = &p.state.ctl;
    let own = |cands: &[crate::trace::Candidate], id: u32| cands.iter().find(|x| x.id == id).map(|x| x.prob);
    let text = |id: u32| c.candidates.iter().chain(&c.b.candidates).find(|x| x.id == id).map(|x| visible(&x.text)).unwrap_or_default();
    let mut rows: Vec<(u32, Option<f32>, Option<f32>)> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, pa.as_ref().map(|v| v[i]).or_else(|| own(&c.candidates, id)), pb.as_ref().map(|v| v[i]).or_else(|| own(&c.b.candidates, id))))
        .collect();
    let key = |r: &(u32, Option<f32>, Option<f32>)| r.1.unwrap_or(0.0).max(r.2.unwrap_or(0.0));
    rows.sort_by(|x, y| key(y).total_cmp(&key(x)));
    let max = rows.iter().map(key).fold(1e-9f32, f32::max);
    let disabled = !c.allowed(&Intent::Force(0));
    let pct = |v: Option<f32>| v.map_or("…".to_string(), |v| format!("{:.1}%", 100.0 * v));
    let items = rows.iter().enumerate().map(|(rank, &(id, a, b))| {
        let force = {
            let link = p.link.clone();
            Callback::from(move |_| {
                if let Some(l) = &link {
                    l.intent(Intent::Force(id));
                }
            })
        };
        let delta = a.zip(b).map(|(a, b)| b - a);
        let bar = |v: Option<f32>, side: &str| html! { <span class={classes!("fill", side.to_string())} style={format!("width: {:.1}%", 100.0 * v.unwrap_or(0.0) / max)}></span> };
        html! {
            <li>
                <button class="cand compare" data-id={id.to_string()} data-rank={rank.to_string()} data-pa={a.map(|v| v.to_string()).unwrap_or_default()}
                        data-pb={b.map(|v| v.to_string()).unwrap_or_default()} data-delta={delta.map(|v| v.to_string()).unwrap_or_default()} onclick={force} {disabled}
                        aria-label={tr.tf("force-both-aria", &[("token", format!("{:?}", text(id)).into()), ("a", pct(a).into()), ("b", pct(b).into())])}>
                    <span class="ctext">{ text(id) }</span>
                    <span class="bars"><span class="bar">{ bar(a, "a") }</span><span class="bar">{ bar(b, "b") }</span></span>
                    <span class="num" title={tr.t("col-pa-title")}>{ pct(a) }</span>
                    <span class="num" title={tr.t("col-pb-title")}>{ pct(b) }</span>
                    <span class={classes!("num", "delta", delta.map(|d| if d >= 0.0 { "up" } else { "down" }))} title={tr.t("col-delta-title")}>
                        { delta.map_or("…".to_string(), |d| format!("{:+.1}", 100.0 * d)) }
                    </span>
                </button>
            </li>
        }
    });
    html! {
        <section class="candidates" aria-label={tr.t("next-token")}>
            <h2>{ tr.t("next-token") }{ " " }<span class="muted">{ tr.t("compare-heading") }</span></h2>
            <p class="muted sinfo">{ tr.t("compare-note") }</p>
            <ol id="candidates" class="compare">{ for items }</ol>
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
