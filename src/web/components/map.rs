//! The whole model at a glance: one live map of the network at the focused
//! position (the last by default), from the token to the probabilities.
//! The token and its embedding row enter at the top; the residual stream
//! runs down a spine through every block, its norm written at each layer
//! (and position 0's beside it: the attention sink's huge activations);
//! each block is two boxes, attention (its heads grouped by the KV head
//! they share, each coloured by its share of the update) and the FFN;
//! the final norm, the output matrix and the softmax end in the next
//! token. The middle layers fold so that the map fits a screen; a click
//! opens them. A head opens the heatmap, an FFN its strongest neurons, the
//! spine the logit lens. Every box is focusable and opens with Enter.
//! The numbers are the worker's (`Query::MapAt`, `Query::Nearest`).

use yew::prelude::*;

use crate::map::MapAt;
use crate::protocol::{Answer, Query};
use crate::web::components::colors::group_css;
use crate::web::components::export::DataExports;
use crate::web::components::{strip, use_ask, use_tr, visible, StateProps};
use crate::web::state::{Action, Inside, View};

/// Layers shown at each end while the middle is folded.
const ENDS: usize = 3;
/// Row height and the columns of the drawing.
const RH: f64 = 18.0;
const W: f64 = 560.0;
const SPINE: f64 = 64.0;
const ATTN: f64 = 190.0;
const CELL: f64 = 16.0;
const FFN: f64 = 420.0;

fn fmt(v: f32) -> String {
    if v >= 1000.0 {
        format!("{:.0}", v)
    } else {
        format!("{:.1}", v)
    }
}

/// Blue for a share of the layer's update (0 to 1).
fn share_css(s: f32) -> String {
    let t = s.clamp(0.0, 1.0).sqrt();
    let mix = |a: f32, b: f32| (a + (b - a) * t).round() as u8;
    format!("rgb({},{},{})", mix(241.0, 24.0), mix(243.0, 100.0), mix(245.0, 171.0))
}

#[function_component(MapPanel)]
pub fn map_panel(p: &StateProps) -> Html {
    let s = &p.state;
    let tr = use_tr();
    let link = p.link.clone().expect("the map has a link");
    let c = &s.ctl;
    let len = c.tokens.len();
    let pos = s.views.focus.filter(|&f| f < len).or(len.checked_sub(1));
    let open = use_state(|| false);
    let nearest_on = use_state(|| false);
    let animate = use_state(|| true);
    // The FFN whose neurons are listed (a click on its box).
    let ffn_open = use_state(|| None::<usize>);
    // Asked when the sequence or the position changes, not during Play
    // (the map catches up when it stops).
    let got = use_ask(&link, len, c.busy() || c.playing, (pos, c.epoch, len), |&(pos, _, _)| pos.map(|pos| Query::MapAt { pos }));
    // The last map drawn stays while the next is on its way (no flicker
    // at each step), as long as its position is still in the sequence.
    let held = use_mut_ref(|| None::<MapAt>);
    let map: Option<MapAt> = match got.as_deref() {
        Some(((at, e, l), Answer::MapAt(m))) if *at == pos && *e == c.epoch && *l == len && m.pos < len => {
            *held.borrow_mut() = Some((**m).clone());
            Some((**m).clone())
        }
        _ => held.borrow().clone().filter(|m| m.pos < len && c.tokens.get(m.pos).map(|t| t.id) == Some(m.token)),
    };
    let token = map.as_ref().map(|m| m.token);
    let near = use_ask(&link, 0, false, (token, *nearest_on), |&(t, on)| t.filter(|_| on).map(|id| Query::Nearest { id, k: 8 }));
    let (nl, nh, nkv) = (s.model.n_layers, s.model.n_heads, s.model.n_kv_heads.max(1));
    if nl == 0 {
        return html! {};
    }
    let Some(m) = map else {
        return html! {
            <section class="map" id="map" aria-label={tr.t("map")}>
                <h2>{ tr.t("map") }</h2>
                <p class="muted">{ if len == 0 { tr.t("map-empty") } else { tr.t("computing") } }</p>
            </section>
        };
    };
    let group = (nh / nkv).max(1);
    let folded = !*open && nl > 2 * ENDS + 1;
    let shown: Vec<usize> = if folded { (0..ENDS).chain(nl - ENDS..nl).collect() } else { (0..nl).collect() };
    let max_ffn = m.ffn.iter().copied().fold(1e-6f32, f32::max);
    let spine_r = |v: f32| (1.5 + (v.max(1.0)).ln() * 0.9).min(8.0) as f64;
    let act = |a: Vec<Action>| {
        let link = link.clone();
        move || {
            for x in &a {
                link.act(x.clone());
            }
        }
    };
    let clickable = |label: String, f: Box<dyn Fn()>, body: Html, class: &'static str, data: (usize, Option<usize>)| {
        let f = std::rc::Rc::new(f);
        let (f1, f2) = (f.clone(), f);
        let onclick = Callback::from(move |_: MouseEvent| f1());
        let onkeydown = Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" || e.key() == " " {
                e.prevent_default();
                f2();
            }
        });
        html! {
            <g class={classes!("map-box", class)} tabindex="0" role="button" aria-label={label.clone()} data-layer={data.0.to_string()}
               data-head={data.1.map(|h| h.to_string()).unwrap_or_default()} {onclick} {onkeydown}>
                <title>{ label }</title>
                { body }
            </g>
        }
    };
    let top = 34.0;
    let mut y = top;
    let mut rows = Vec::new();
    let mut prev: Option<usize> = None;
    for &l in &shown {
        if prev.is_some_and(|p| l > p + 1) {
            // The folded middle: one row that opens it.
            let (a, b) = (prev.unwrap() + 1, l - 1);
            let label = tr.tf("map-fold", &[("a", a.into()), ("b", b.into()), ("n", (b - a + 1).into())]);
            let o = open.clone();
            rows.push(clickable(label.clone(), Box::new(move || o.set(true)), html! {
                <>
                    <rect x="4" y={(y + 1.0).to_string()} width={(W - 8.0).to_string()} height={(RH - 2.0).to_string()} class="map-fold" />
                    <text x={(SPINE + 14.0).to_string()} y={(y + 12.5).to_string()}>{ label }</text>
                </>
            }, "fold", (a, None)));
            y += RH;
        }
        prev = Some(l);
        let heads = &m.heads[l];
        let total: f32 = heads.iter().sum::<f32>().max(1e-6);
        let cells = (0..nh).map(|h| {
            let x = ATTN + h as f64 * (CELL + 1.0) + (h / group) as f64 * 5.0;
            let share = heads[h] / total;
            let label = tr.tf("map-head", &[("l", l.into()), ("h", h.into()), ("g", (h / group).into()), ("share", format!("{:.0}", 100.0 * share).into()), ("norm", fmt(heads[h]).into())]);
            let f = act(vec![Action::Select { layer: l, head: h }, Action::View(View::Heatmap), Action::Inside(Inside::Math)]);
            clickable(label, Box::new(move || {
                f();
                scroll_to("section.attention");
            }), html! {
                <rect class="map-head" x={x.to_string()} y={(y + 1.0).to_string()} width={CELL.to_string()} height={(RH - 3.0).to_string()} fill={share_css(share)}
                      stroke={group_css(h / group)} data-norm={heads[h].to_string()} />
            }, "head", (l, Some(h)))
        });
        let spine_label = tr.tf("map-spine", &[("l", l.into()), ("norm", fmt(m.residual[l]).into()), ("first", fmt(m.first[l]).into())]);
        let to_lens = act(vec![Action::Inside(Inside::Lens)]);
        let strongest = m.neurons.get(l).and_then(|n| n.first());
        let ffn_label = tr.tf(
            "map-ffn",
            &[("l", l.into()), ("norm", fmt(m.ffn[l]).into()), ("n", strongest.map_or(0, |n| n.index as usize).into()), ("w", strongest.map_or("–".into(), |n| fmt(n.write)).into())],
        );
        let to_res = {
            let o = ffn_open.clone();
            move || o.set(Some(l))
        };
        let fw = (W - FFN - 60.0) * (m.ffn[l] / max_ffn) as f64;
        rows.push(html! {
            <g class="map-layer" data-layer={l.to_string()} data-norm={m.residual[l].to_string()} data-first={m.first[l].to_string()}
               data-attention={m.attention[l].to_string()} data-ffn={m.ffn[l].to_string()}>
                <text x="4" y={(y + 12.5).to_string()} class="map-l">{ l }</text>
                { clickable(spine_label, Box::new(move || { to_lens(); scroll_to("section.inside"); }), html! {
                    <>
                        <circle cx={SPINE.to_string()} cy={(y + RH / 2.0).to_string()} r={spine_r(m.residual[l]).to_string()} class="map-node" />
                        <text x={(SPINE + 12.0).to_string()} y={(y + 12.5).to_string()}>{ fmt(m.residual[l]) }</text>
                        <text x={(SPINE + 62.0).to_string()} y={(y + 12.5).to_string()} class="map-first">{ fmt(m.first[l]) }</text>
                    </>
                }, "spine", (l, None)) }
                { for cells }
                <text x={(ATTN + nh as f64 * (CELL + 1.0) + (nh / group) as f64 * 5.0 + 2.0).to_string()} y={(y + 12.5).to_string()} class="map-n">{ fmt(m.attention[l]) }</text>
                { clickable(ffn_label, Box::new(to_res), html! {
                    <>
                        <rect x={FFN.to_string()} y={(y + 1.0).to_string()} width={(W - FFN - 60.0).to_string()} height={(RH - 3.0).to_string()} class="map-ffn-bg" />
                        <rect x={FFN.to_string()} y={(y + 1.0).to_string()} width={fw.max(1.0).to_string()} height={(RH - 3.0).to_string()} class="map-ffn" />
                        <text x={(W - 56.0).to_string()} y={(y + 12.5).to_string()} class="map-n">{ fmt(m.ffn[l]) }</text>
                    </>
                }, "ffn", (l, None)) }
            </g>
        });
        y += RH;
    }
    let h_total = y + 8.0;
    // The spine's line, and the token travelling down it (then back up as
    // the next input) at each step, unless motion is reduced or switched off.
    let pulse = (*animate).then(|| html! { <circle key={len.to_string()} class="map-pulse" cx={SPINE.to_string()} cy={top.to_string()} r="4" style={format!("--travel: {}px", y - top)} /> });
    let headings = html! {
        <>
            <text x={(SPINE - 10.0).to_string()} y="14" class="map-h">{ tr.t("map-col-spine") }</text>
            <text x={(SPINE + 62.0).to_string()} y="28" class="map-first">{ tr.t("map-col-first") }</text>
            <text x={ATTN.to_string()} y="14" class="map-h">{ tr.tf("map-col-attn", &[("h", nh.into()), ("kv", nkv.into())]) }</text>
            <text x={FFN.to_string()} y="14" class="map-h">{ tr.t("map-col-ffn") }</text>
        </>
    };
    let tok_text = c.tokens.get(m.pos).map(|t| visible(&t.text)).unwrap_or_default();
    let cands: Vec<Html> = c
        .candidates
        .iter()
        .take(3)
        .map(|x| html! { <li data-id={x.id.to_string()}>{ format!("{:?} {:.1}%", visible(&x.text), 100.0 * x.prob) }</li> })
        .collect();
    let at_last = m.pos + 1 == len;
    let nearest = match near.as_deref() {
        Some(((Some(id), true), Answer::Nearest { id: nid, neighbours, pieces })) if *id == m.token && *nid == m.token => {
            let text = |i: u32| pieces.iter().find(|p| p.0 == i).map(|p| visible(&p.1)).unwrap_or_default();
            let items = neighbours.iter().map(|n| html! { <li data-id={n.id.to_string()} data-cos={n.cos.to_string()}>{ format!("{:?} {:.3}", text(n.id), n.cos) }</li> });
            html! { <ol id="map-nearest" class="inline-list">{ for items }</ol> }
        }
        _ if *nearest_on => html! { <p class="muted">{ tr.t("computing") }</p> },
        _ => html! {},
    };
    let toggle_near = {
        let n = nearest_on.clone();
        Callback::from(move |_| n.set(!*n))
    };
    let toggle_anim = {
        let a = animate.clone();
        Callback::from(move |_| a.set(!*a))
    };
    let fold_button = {
        let o = open.clone();
        Callback::from(move |_| o.set(!*o))
    };
    let json = {
        let m = m.clone();
        Callback::from(move |()| serde_json::to_string(&m).unwrap_or_default())
    };
    let csv = {
        let m = m.clone();
        Callback::from(move |()| {
            let mut out = String::from("layer,residual,first,attention,ffn");
            for h in 0..m.heads.first().map_or(0, Vec::len) {
                out.push_str(&format!(",head{h}"));
            }
            out.push('\n');
            for l in 0..m.residual.len() {
                out.push_str(&format!("{l},{},{},{},{}", m.residual[l], m.first[l], m.attention[l], m.ffn[l]));
                for v in &m.heads[l] {
                    out.push_str(&format!(",{v}"));
                }
                out.push('\n');
            }
            out
        })
    };
    let caption = vec![tr.tf("map-caption", &[("model", s.model.name.as_str().into()), ("pos", m.pos.into()), ("tok", format!("{tok_text:?}").into())])];
    html! {
        <section class="map" id="map" aria-label={tr.t("map")} data-pos={m.pos.to_string()}>
            <h2>{ tr.t("map") }{ " " }<span class="muted">{ tr.t("map-sub") }</span></h2>
            <div class="map-input">
                <span>{ tr.tf("map-input", &[("pos", m.pos.into()), ("tok", format!("{tok_text:?}").into()), ("id", m.token.to_string().into())]) }</span>
                { strip(&m.embedding, m.embedding.iter().fold(1e-6f32, |a, &b| a.max(b.abs())), &tr.t("map-embedding")) }
                <span class="muted">{ tr.tf("map-embed-norm", &[("norm", format!("{:.2}", m.embed_norm).into())]) }</span>
                <button id="map-nearest-toggle" class="link" onclick={toggle_near} aria-pressed={nearest_on.to_string()}>{ tr.t("map-nearest") }</button>
                { nearest }
            </div>
            <div class="row">
                <button id="map-fold" onclick={fold_button} aria-expanded={(!folded).to_string()}>{ if folded { tr.t("map-unfold") } else { tr.t("map-fold-all") } }</button>
                <label class="inline"><input type="checkbox" id="map-animate" checked={*animate} onchange={toggle_anim} />{ " " }{ tr.t("map-animate") }</label>
            </div>
            <svg id="map-svg" viewBox={format!("0 0 {W} {h_total}")} width="100%" role="group" aria-label={tr.tf("map-aria", &[("l", nl.into()), ("h", nh.into())])}>
                { headings }
                <line x1={SPINE.to_string()} x2={SPINE.to_string()} y1={top.to_string()} y2={y.to_string()} class="map-spine" />
                { for rows }
                { for pulse }
            </svg>
            if let Some(l) = (*ffn_open).filter(|&l| l < m.neurons.len()) {
                <div id="map-neurons" data-layer={l.to_string()}>
                    <p>{ tr.tf("map-neurons", &[("l", l.into()), ("norm", fmt(m.ffn[l]).into())]) }</p>
                    <ol class="inline-list">
                        { for m.neurons[l].iter().map(|n| html! {
                            <li data-index={n.index.to_string()} data-act={n.act.to_string()} data-write={n.write.to_string()}>
                                { tr.tf("map-neuron", &[("i", (n.index as usize).into()), ("h", format!("{:+.2}", n.act).into()), ("w", fmt(n.write).into())]) }
                            </li>
                        }) }
                    </ol>
                    <button class="link" onclick={ let (l2, o) = (link.clone(), ffn_open.clone()); Callback::from(move |_| { l2.act(Action::Inside(Inside::Residual)); o.set(None); scroll_to("section.inside"); }) }>{ tr.t("map-open-residual") }</button>
                </div>
            }
            <div class="map-output">
                <p>{ tr.tf("map-output", &[("vocab", s.model.vocab.into())]) }</p>
                if at_last {
                    <ol class="inline-list" id="map-next">{ for cands }</ol>
                } else {
                    <p class="muted">{ tr.t("map-not-last") }</p>
                }
            </div>
            <DataExports svg={Some(AttrValue::from("#map-svg"))} caption={caption} stem="glassbox-map" json={json} csv={csv} />
        </section>
    }
}

/// Bring a panel into view (a box on the map opens it).
fn scroll_to(sel: &str) {
    if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.query_selector(sel).ok().flatten()) {
        el.scroll_into_view();
    }
}
