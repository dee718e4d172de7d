//! The whole model at a glance: one live map of the network at the focused
//! position (the last by default), from the token to the probabilities.
//! The token and its embedding row enter at the top; the residual stream
//! runs down a spine through every block, its norm written at each layer
//! (and position 0's beside it: the attention sink's huge activations);
//! each block is two boxes, attention (its heads grouped by the KV head
//! they share, each coloured by its share of the update) and the FFN;
//! the final norm, the output matrix (the embedding's when tied) and the
//! sampling settings where they act (temperature, top-k, top-p, the
//! softmax and the draw) end in the next token, which travels back to the
//! input: autoregression, drawn. The middle layers fold so that the map
//! fits a screen; a click opens them. A head opens the heatmap, an FFN its
//! strongest neurons, the spine the logit lens, the sampling its settings.
//! Every box is focusable and opens with Enter. On a phone the same map is
//! a vertical list. The numbers are the worker's (`Query::MapAt`,
//! `Query::Nearest`, `Query::HeadRoles` for the role badges); each step
//! keeps what the map reads, so it follows Play at the cost of a readback.

use yew::prelude::*;

use crate::map::MapAt;
use crate::protocol::{Answer, Query};
use crate::roles::Role;
use crate::web::components::colors::group_css;
use crate::web::components::export::DataExports;
use crate::web::components::roles::{badge, role_rgb, roles_in, use_roles};
use crate::web::components::{strip, use_ask, use_ask_now, use_tr, visible, StateProps, PLAY_MS};
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

/// The drawing's styles, inside the SVG itself: the page and an exported
/// SVG look the same.
const MAP_CSS: &str = "\
#map-svg text { font-family: system-ui, sans-serif; font-size: 10px; fill: #495057; }
#map-svg .map-h { font-weight: 600; fill: #1d2330; }
#map-svg .map-first, #map-svg .map-off { fill: #adb5bd; }
#map-svg .map-spine { stroke: #1c3d8c; stroke-width: 2; }
#map-svg .map-node { fill: #1c3d8c; }
#map-svg .map-node.in, #map-svg .map-node.next { fill: #fff; stroke: #1c3d8c; stroke-width: 2; }
#map-svg .map-fold { fill: #f1f3f5; stroke: #ced4da; stroke-dasharray: 3 3; }
#map-svg .map-ffn-bg { fill: #f1f3f5; }
#map-svg .map-ffn { fill: #e8590c; }
#map-svg .map-norm { fill: #fff; stroke: #1c3d8c; stroke-width: 1.5; }
#map-svg .map-chip { fill: #fff4e6; stroke: #e8590c; }
#map-svg .map-chip.off { fill: #f8f9fa; stroke: #dee2e6; stroke-dasharray: 2 2; }
#map-svg .map-arrowtext { fill: #868e96; }
#map-svg .map-cand { fill: #1d2330; font-weight: 600; }
#map-svg .map-return { fill: none; stroke: #e64980; stroke-width: 1.5; stroke-dasharray: 4 3; }
#map-svg .map-arrowhead { fill: #e64980; }
#map-svg .map-return-label { fill: #e64980; font-size: 9px; }
#map-svg .map-badge { font-size: 10px; font-weight: 700; pointer-events: none; }
";

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
    let roles_on = use_state(|| false);
    // Hidden, the map asks nothing.
    let hidden = use_state(|| false);
    // The FFN whose neurons are listed (a click on its box).
    let ffn_open = use_state(|| None::<usize>);
    // Asked when the sequence or the position changes, during Play too:
    // the step kept the numbers of its position (a readback). During Play
    // at most every PLAY_MS (nobody reads faster; each answer is a redraw,
    // and on two cores the page's drawing slows the engine's threads).
    let asked = use_mut_ref(|| None::<(f64, (Option<usize>, u64, usize))>);
    let want = (pos.filter(|_| !*hidden), c.epoch, len);
    let key = {
        let mut a = asked.borrow_mut();
        let now = js_sys::Date::now();
        match *a {
            Some((t, k)) if c.playing && now - t < PLAY_MS && k.1 == want.1 => k,
            _ => {
                *a = Some((now, want));
                want
            }
        }
    };
    let got = use_ask_now(&link, key.2, c.views_wait(), key, |&(pos, _, _)| pos.map(|pos| Query::MapAt { pos }));
    let roles_got = use_roles(&link, len, c.busy(), *roles_on);
    let roles = roles_in(&roles_got).filter(|_| *roles_on);
    // The last map drawn stays while the next is on its way (no flicker
    // at each step), as long as its position is still in the sequence.
    let held = use_mut_ref(|| None::<MapAt>);
    let worker_ms = match got.as_deref() {
        Some((_, Answer::MapAt { ms, .. })) => Some(*ms),
        _ => None,
    };
    // An answer is for what is shown, or (during Play, the next step
    // already computed while the page drew) for the newest position one
    // step back: drawn while its token is still there.
    let still_there = |m: &MapAt| m.pos < len && c.tokens.get(m.pos).map(|t| t.id) == Some(m.token);
    let map: Option<MapAt> = match got.as_deref() {
        Some(((at, e, l), Answer::MapAt { map: m, .. }))
            if *e == c.epoch && ((*at == pos && *l == len && m.pos < len) || (s.views.focus.is_none() && *at == l.checked_sub(1) && still_there(m))) =>
        {
            *held.borrow_mut() = Some((**m).clone());
            Some((**m).clone())
        }
        _ => held.borrow().clone().filter(still_there),
    };
    let (nl, nh, nkv) = (s.model.n_layers, s.model.n_heads, s.model.n_kv_heads.max(1));
    // A map of another model (one held across a switch, with the same
    // tokens) is never drawn with this one's shape.
    let map = map.filter(|m| m.residual.len() == nl && m.first.len() == nl && m.attention.len() == nl && m.ffn.len() == nl && m.neurons.len() == nl && m.heads.len() == nl && m.heads.iter().all(|h| h.len() == nh));
    let token = map.as_ref().map(|m| m.token);
    let near = use_ask(&link, 0, false, (token, *nearest_on), |&(t, on)| t.filter(|_| on).map(|id| Query::Nearest { id, k: 8 }));
    if nl == 0 {
        return html! {};
    }
    let hide_button = {
        let h = hidden.clone();
        html! { <button id="map-hide" class="link" aria-expanded={(!*hidden).to_string()} onclick={Callback::from(move |_| h.set(!*h))}>{ if *hidden { tr.t("map-show") } else { tr.t("map-hide") } }</button> }
    };
    if *hidden {
        return html! {
            <section class="map" id="map" aria-label={tr.t("map")} data-hidden="true">
                <h2>{ tr.t("map") }{ " " }{ hide_button }</h2>
            </section>
        };
    }
    let Some(m) = map else {
        return html! {
            <section class="map" id="map" aria-label={tr.t("map")}>
                <h2>{ tr.t("map") }{ " " }{ hide_button }</h2>
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
    // A head's share of its layer's attention update, its description, and
    // what opening it does (the drawing's box and the phone's list).
    let head_at = |l: usize, h: usize| {
        let total: f32 = m.heads[l].iter().sum::<f32>().max(1e-6);
        let share = m.heads[l][h] / total;
        let label = tr.tf("map-head", &[("l", l.into()), ("h", h.into()), ("g", (h / group).into()), ("share", format!("{:.0}", 100.0 * share).into()), ("norm", fmt(m.heads[l][h]).into())]);
        let f = act(vec![Action::Select { layer: l, head: h }, Action::View(View::Heatmap), Action::Inside(Inside::Math)]);
        (share, label, move || {
            f();
            scroll_to("section.attention");
        })
    };
    let tok_text = c.tokens.get(m.pos).map(|t| visible(&t.text)).unwrap_or_default();
    let in_text = tr.tf("map-in-row", &[("tok", format!("{tok_text:?}").into()), ("id", m.token.to_string().into()), ("d", m.embedding.len().into()), ("norm", format!("{:.2}", m.embed_norm).into())]);
    let at_last = m.pos + 1 == len;
    // The next token's three most likely candidates, as the map writes them.
    let next: Vec<(u32, f32, String)> = c.candidates.iter().take(3).map(|k| (k.id, k.prob, format!("{:?} {:.1}%", visible(&k.text), 100.0 * k.prob))).collect();
    // The input row, then the layers.
    let y_in = 34.0;
    let top = y_in + RH + 2.0;
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
        let cells = (0..nh).map(|h| {
            let x = ATTN + h as f64 * (CELL + 1.0) + (h / group) as f64 * 5.0;
            let (share, label, open) = head_at(l, h);
            let role = roles.and_then(|r| r.heads.iter().find(|x| x.layer == l && x.head == h)).and_then(|x| x.clear_role());
            let label = match role {
                Some(r) => format!("{label} {}", tr.tf("map-head-role", &[("role", tr.t(&format!("role-{}", r.name())).into())])),
                None => label,
            };
            clickable(label, Box::new(open), html! {
                <>
                    <rect class="map-head" x={x.to_string()} y={(y + 1.0).to_string()} width={CELL.to_string()} height={(RH - 3.0).to_string()} fill={share_css(share)}
                          stroke={group_css(h / group)} data-norm={heads[h].to_string()} data-role={role.map_or("", Role::name)} />
                    if let Some(r) = role {
                        <text class="map-badge" x={(x + 4.0).to_string()} y={(y + 12.0).to_string()} fill={{ let (r, g, b) = role_rgb(r); format!("rgb({r},{g},{b})") }}>{ badge(r) }</text>
                    }
                </>
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
    // On a phone: the same map as a vertical list (CSS shows one or the other).
    let mut list_items = {
        let mut items = vec![html! { <li class="map-li in">{ in_text.clone() }</li> }];
        let mut prev: Option<usize> = None;
        for &l in &shown {
            if prev.is_some_and(|p| l > p + 1) {
                let (a, b) = (prev.unwrap() + 1, l - 1);
                let o = open.clone();
                items.push(html! { <li class="map-li fold"><button class="link" onclick={Callback::from(move |_| o.set(true))}>{ tr.tf("map-fold", &[("a", a.into()), ("b", b.into()), ("n", (b - a + 1).into())]) }</button></li> });
            }
            prev = Some(l);
            let heads = (0..nh).map(|h| {
                let (share, label, open) = head_at(l, h);
                html! { <button class="map-lhead" style={format!("background: {}; border-color: {}", share_css(share), group_css(h / group))} aria-label={label.clone()} title={label}
                                data-layer={l.to_string()} data-head={h.to_string()} onclick={Callback::from(move |_| open())}></button> }
            });
            let to_lens = act(vec![Action::Inside(Inside::Lens)]);
            let o = ffn_open.clone();
            items.push(html! {
                <li class="map-li" data-layer={l.to_string()}>
                    <button class="link" onclick={Callback::from(move |_| { to_lens(); scroll_to("section.inside"); })}>{ tr.tf("map-li-layer", &[("l", l.into()), ("norm", fmt(m.residual[l]).into())]) }</button>
                    <span class="map-lheads">{ for heads }</span>
                    <span class="muted">{ fmt(m.attention[l]) }</span>
                    <button class="link" onclick={Callback::from(move |_| o.set(Some(l)))}>{ tr.tf("map-li-ffn", &[("norm", fmt(m.ffn[l]).into())]) }</button>
                </li>
            });
        }
        items
    };
    // The output: the final norm and the output matrix, the sampling
    // settings where they act, the next token, and its way back to the input.
    let y_norm = y + 4.0;
    let y_samp = y_norm + RH + 4.0;
    let y_next = y_samp + RH + 4.0;
    let h_total = y_next + RH + 8.0;
    let x_ret = W - 8.0;
    let mid = |y: f64| y + RH / 2.0;
    let to_cands = || Box::new(|| scroll_to("section.candidates")) as Box<dyn Fn()>;
    let out_label = if s.model.tied {
        tr.tf("map-out-tied", &[("vocab", s.model.vocab.into()), ("d", s.model.dim.into())])
    } else {
        tr.tf("map-out-own", &[("vocab", s.model.vocab.into()), ("d", s.model.dim.into())])
    };
    let output_row = html! {
        <g class="map-output" data-tied={s.model.tied.to_string()}>
            { clickable(out_label.clone(), to_cands(), html! {
                <>
                    <rect x={(SPINE - 6.0).to_string()} y={(mid(y_norm) - 6.0).to_string()} width="12" height="12" class="map-norm" />
                    <text x={(SPINE + 12.0).to_string()} y={(y_norm + 12.5).to_string()}>{ out_label.clone() }</text>
                </>
            }, "out", (nl, None)) }
        </g>
    };
    // The sampling chain, as the settings are now.
    let sp = &c.sampling;
    let greedy = sp.temperature <= 0.0;
    let mut chips: Vec<(String, bool)> = Vec::new();
    if greedy {
        chips.push((tr.t("map-samp-greedy"), true));
        chips.push((tr.t("map-samp-topk-off"), false));
        chips.push((tr.t("map-samp-topp-off"), false));
        chips.push((tr.t("map-samp-softmax"), true));
        chips.push((tr.t("map-samp-argmax"), true));
    } else {
        chips.push((tr.tf("map-samp-temp", &[("t", format!("{:.2}", sp.temperature).into())]), true));
        chips.push(if sp.top_k > 0 { (tr.tf("map-samp-topk", &[("k", sp.top_k.into())]), true) } else { (tr.t("map-samp-topk-off"), false) });
        chips.push(if sp.top_p < 1.0 { (tr.tf("map-samp-topp", &[("p", format!("{:.2}", sp.top_p).into())]), true) } else { (tr.t("map-samp-topp-off"), false) });
        chips.push((tr.t("map-samp-softmax"), true));
        chips.push(match c.last_draw {
            Some((u, _)) => (tr.tf("map-samp-draw", &[("u", format!("{u:.3}").into())]), true),
            _ => (tr.tf("map-samp-draw-next", &[("seed", sp.seed.to_string().into())]), true),
        });
    }
    let samp_title = tr.t("map-samp-title");
    let chain = chips.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(" → ");
    let mut cx = SPINE - 6.0;
    let chip_boxes: Vec<Html> = chips
        .iter()
        .map(|(t, on)| {
            let w = 10.0 + 5.6 * t.chars().count() as f64;
            let x = cx;
            cx += w + 14.0;
            html! {
                <>
                    <rect x={x.to_string()} y={(y_samp + 1.0).to_string()} width={w.to_string()} height={(RH - 3.0).to_string()} rx="3" class={classes!("map-chip", (!on).then_some("off"))} />
                    <text x={(x + 5.0).to_string()} y={(y_samp + 12.0).to_string()} class={classes!((!on).then_some("map-off"))}>{ t.clone() }</text>
                    if x > SPINE {
                        <text x={(x - 11.0).to_string()} y={(y_samp + 12.0).to_string()} class="map-arrowtext">{ "→" }</text>
                    }
                </>
            }
        })
        .collect();
    let sampling_row = html! {
        <g class="map-sampling" data-temperature={sp.temperature.to_string()} data-top-k={sp.top_k.to_string()} data-top-p={sp.top_p.to_string()} data-greedy={greedy.to_string()}>
            { clickable(format!("{samp_title} {chain}"), Box::new(|| scroll_to("fieldset.decoding")), html! { <>{ for chip_boxes }</> }, "sampling", (nl, None)) }
        </g>
    };
    let next_row = if at_last {
        let mut x = SPINE + 12.0;
        let items: Vec<Html> = next
            .iter()
            .map(|(id, prob, t)| {
                let at = x;
                x += 18.0 + 5.6 * t.chars().count() as f64;
                html! { <text x={at.to_string()} y={(y_next + 12.5).to_string()} class="map-cand" data-id={id.to_string()} data-prob={prob.to_string()}>{ t.clone() }</text> }
            })
            .collect();
        html! {
            <g id="map-next" class="map-next">
                <circle cx={SPINE.to_string()} cy={mid(y_next).to_string()} r="5" class="map-node next" />
                { for items }
            </g>
        }
    } else {
        html! { <text x={(SPINE + 12.0).to_string()} y={(y_next + 12.5).to_string()} class="muted">{ tr.t("map-not-last") }</text> }
    };
    // The list's end: the output, the sampling and the next token in words.
    list_items.push(html! { <li class="map-li out">{ out_label.clone() }</li> });
    list_items.push(html! { <li class="map-li samp"><button class="link" onclick={Callback::from(|_| scroll_to("fieldset.decoding"))}>{ chain.clone() }</button></li> });
    if at_last {
        list_items.push(html! { <li class="map-li next">{ format!("→ {}", next.iter().map(|n| n.2.as_str()).collect::<Vec<_>>().join(" · ")) }</li> });
    }
    // The way back: the next token becomes the next input (autoregression).
    let back = html! {
        <g class="map-back">
            <path class="map-return" d={format!("M {} {} H {x_ret} V {} H {}", W - 70.0, mid(y_next), mid(y_in), W - 60.0)} marker-end="url(#map-arrow)" />
            <text class="map-return-label" transform={format!("translate({} {}) rotate(-90)", x_ret - 4.0, (mid(y_next) + mid(y_in)) / 2.0)} text-anchor="middle">{ tr.t("map-return") }</text>
        </g>
    };
    let input_row = html! {
        <g class="map-in">
            <circle cx={SPINE.to_string()} cy={mid(y_in).to_string()} r="5" class="map-node in" />
            <text x={(SPINE + 12.0).to_string()} y={(y_in + 12.5).to_string()}>{ in_text }</text>
        </g>
    };
    // The spine's line, and the token travelling down it, through the
    // output and back to the input at each step (looping while Play
    // runs), unless motion is reduced or switched off.
    let pulse = (*animate).then(|| {
        let key = if c.playing { "play".to_string() } else { len.to_string() };
        html! { <circle key={key} class={classes!("map-pulse", c.playing.then_some("playing"))} cx={SPINE.to_string()} cy={mid(y_in).to_string()} r="4"
                        style={format!("--down: {}px; --right: {}px", mid(y_next) - mid(y_in), x_ret - SPINE)} /> }
    });
    let headings = html! {
        <>
            <text x={(SPINE - 10.0).to_string()} y="14" class="map-h">{ tr.t("map-col-spine") }</text>
            <text x={(SPINE + 62.0).to_string()} y="28" class="map-first">{ tr.t("map-col-first") }</text>
            <text x={ATTN.to_string()} y="14" class="map-h">{ tr.tf("map-col-attn", &[("h", nh.into()), ("kv", nkv.into())]) }</text>
            <text x={FFN.to_string()} y="14" class="map-h">{ tr.t("map-col-ffn") }</text>
        </>
    };
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
    let toggle_roles = {
        let r = roles_on.clone();
        Callback::from(move |_| r.set(!*r))
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
        <section class="map" id="map" aria-label={tr.t("map")} data-pos={m.pos.to_string()} data-ms={worker_ms.map(|x| format!("{x:.2}")).unwrap_or_default()}>
            <h2>{ tr.t("map") }{ " " }<span class="muted">{ tr.t("map-sub") }</span>{ " " }{ hide_button }</h2>
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
                <label class="inline"><input type="checkbox" id="map-roles" checked={*roles_on} onchange={toggle_roles} />{ " " }{ tr.t("map-roles") }</label>
                if *roles_on && roles.is_none() {
                    <span class="muted">{ tr.t("computing") }</span>
                }
            </div>
            <svg id="map-svg" viewBox={format!("0 0 {W} {h_total}")} width="100%" role="group" aria-label={tr.tf("map-aria", &[("l", nl.into()), ("h", nh.into())])}>
                <style>{ MAP_CSS }</style>
                <defs>
                    <marker id="map-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="map-arrowhead" /></marker>
                </defs>
                { headings }
                <line x1={SPINE.to_string()} x2={SPINE.to_string()} y1={mid(y_in).to_string()} y2={mid(y_next).to_string()} class="map-spine" />
                { input_row }
                { for rows }
                { output_row }
                { sampling_row }
                { next_row }
                { back }
                { for pulse }
            </svg>
            <ol id="map-list" class="map-list">{ for list_items }</ol>
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
