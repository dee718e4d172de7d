//! Why this token: the logit of a candidate after the focused position,
//! split into the direct effect of the embedding, every head and every FFN
//! (`crate::attribution`). A layers × (heads + FFN) grid coloured by each
//! part's sign and size, the biggest pushes up and down, and the running sum
//! over the layers reaching the logit. Comparing two candidates shows the
//! difference of their parts ("why Paris and not London"). Clicking a head
//! opens it in the attention view and the math of one head.

use yew::prelude::*;

use crate::attribution::{Attribution, Part};
use crate::protocol::{Answer, Query};
use crate::web::components::export::DataExports;
use crate::protocol::Side;
use crate::web::components::{focused, use_ask, use_ask_on, use_tr, visible, HeadProps, Tr};
use crate::web::state::{Action, Inside};

const CW: f64 = 24.0;
const CH: f64 = 11.0;
const LEFT: f64 = 56.0;
const TOP: f64 = 34.0;

/// RGB for a signed value against the largest |value|: red up, blue down, white 0.
fn signed_rgb(v: f32, max: f32) -> String {
    let t = (v.abs() / max.max(1e-9)).clamp(0.0, 1.0);
    let lerp = |a: f32, b: f32| (a + (b - a) * t).round() as u8;
    let [r, g, b] = if v >= 0.0 { [lerp(255.0, 201.0), lerp(255.0, 42.0), lerp(255.0, 42.0)] } else { [lerp(255.0, 24.0), lerp(255.0, 100.0), lerp(255.0, 171.0)] };
    format!("rgb({r},{g},{b})")
}

/// A part's name for a person.
fn part_name(tr: &Tr, p: &Part) -> String {
    match *p {
        Part::Embed { .. } => tr.t("attr-embed"),
        Part::Head { layer, head, .. } => tr.tf("attr-head", &[("l", layer.into()), ("h", head.into())]),
        Part::Ffn { layer, .. } => tr.tf("attr-ffn", &[("l", layer.into())]),
    }
}

/// The parts shown: the attribution's, or its difference from `versus`'s.
fn shown(a: &Attribution, versus: Option<&Attribution>) -> Vec<Part> {
    match versus {
        None => a.parts.clone(),
        Some(v) => a
            .parts
            .iter()
            .zip(&v.parts)
            .map(|(p, q)| match *p {
                Part::Embed { value } => Part::Embed { value: value - q.value() },
                Part::Head { layer, head, value } => Part::Head { layer, head, value: value - q.value() },
                Part::Ffn { layer, value } => Part::Ffn { layer, value: value - q.value() },
            })
            .collect(),
    }
}

#[derive(Properties, PartialEq, Clone)]
pub struct Props {
    pub head: HeadProps,
    pub n_layers: usize,
    pub n_heads: usize,
    /// Compare mode: B's token count (0 outside it).
    #[prop_or_default]
    pub b_len: usize,
}

#[function_component(AttributionView)]
pub fn attribution_view(p: &Props) -> Html {
    let tr = use_tr();
    let hp = &p.head;
    let pos = focused(hp);
    // The candidate explained and the one compared (None: the top-1, none).
    let target = use_state(|| None::<u32>);
    let versus = use_state(|| None::<u32>);
    {
        let (target, versus) = (target.clone(), versus.clone());
        use_effect_with((pos, hp.epoch), move |_| {
            target.set(None);
            versus.set(None);
        });
    }
    let key = (pos, *target, *versus, hp.epoch);
    let got = use_ask(&hp.link, hp.tokens.len(), hp.busy, key, |&(pos, token, versus, _)| pos.map(|pos| Query::Attribution { pos, token, versus }));
    // Compare mode: A − B, the same token's attribution after B's last
    // position subtracted (at A's last position).
    let against_b = use_state(|| false);
    let len = hp.tokens.len();
    let a_token = match got.as_deref().map(|g| &g.1) {
        Some(Answer::Attribution { attribution, .. }) if attribution.pos + 1 == len => Some(attribution.token),
        _ => None,
    };
    let ab = p.b_len > 0 && *against_b && pos == len.checked_sub(1);
    let b_key = (p.b_len, a_token.filter(|_| ab), hp.epoch);
    let got_b = use_ask_on(&hp.link, Side::B, p.b_len, hp.busy, b_key, |&(n, token, _)| token.map(|t| Query::Attribution { pos: n - 1, token: Some(t), versus: None }));
    let of_b = match got_b.as_deref() {
        Some(((n, Some(t), e), Answer::Attribution { attribution, .. })) if *n == p.b_len && *e == hp.epoch && Some(*t) == a_token && ab => Some(attribution.clone()),
        _ => None,
    };
    let on_against = {
        let against_b = against_b.clone();
        Callback::from(move |e: Event| against_b.set(e.target_dyn_into::<web_sys::HtmlInputElement>().is_some_and(|i| i.checked())))
    };
    let against_box = (p.b_len > 0).then(|| {
        html! {
            <label class="inline" title={tr.t("attr-ab-title")}>
                <input type="checkbox" id="attr-ab" checked={*against_b} onchange={on_against} disabled={pos != len.checked_sub(1)} />{ " " }{ tr.t("attr-ab") }
            </label>
        }
    });
    let Some((_, Answer::Attribution { attribution: a, versus: v, top })) = got.as_deref().map(|g| (&g.0, &g.1)) else {
        let failed = match got.as_deref().map(|g| &g.1) {
            Some(Answer::Failed { message }) => Some(message.clone()),
            _ => None,
        };
        return html! { <p class="muted" id="attribution">{ failed.unwrap_or_else(|| if pos.is_some() { tr.t("computing") } else { tr.t("attr-empty") }) }</p> };
    };
    // An answer about a position this sequence no longer has is not drawn.
    if a.pos >= hp.tokens.len() {
        return html! { <p class="muted" id="attribution">{ tr.t("computing") }</p> };
    }
    if ab && of_b.is_none() {
        return html! { <><p class="muted" id="attribution">{ tr.t("computing") }</p>{ for against_box }</> };
    }
    let v = if ab { of_b.as_deref() } else { v.as_deref() };
    let parts = shown(a, v);
    let max = parts.iter().fold(1e-6f32, |m, p| m.max(p.value().abs()));
    let link = hp.link.clone();
    let open_head = move |layer: usize, head: usize| {
        let link = link.clone();
        Callback::from(move |_| {
            link.act(Action::Select { layer, head });
            link.act(Action::Inside(Inside::Math));
        })
    };
    // The candidate pickers: the model's top 5 here (and the one shown, if not among them).
    let on_pick = |state: UseStateHandle<Option<u32>>| {
        Callback::from(move |e: Event| {
            let value = e.target_dyn_into::<web_sys::HtmlSelectElement>().map(|s| s.value()).unwrap_or_default();
            state.set(value.parse().ok());
        })
    };
    let options = |selected: Option<u32>, skip: Option<u32>| {
        top.iter()
            .filter(|t| Some(t.0) != skip)
            .map(|t| html! { <option value={t.0.to_string()} selected={selected == Some(t.0)}>{ format!("{:?} · {:.1}%", visible(&t.1), t.2 * 100.0) }</option> })
            .collect::<Html>()
    };
    let target_select = html! {
        <select id="attr-target" aria-label={tr.t("attr-target")} onchange={on_pick(target.clone())}>
            { options(Some(a.token), None) }
            if !top.iter().any(|t| t.0 == a.token) {
                <option value={a.token.to_string()} selected=true>{ format!("{:?}", visible(&a.text)) }</option>
            }
        </select>
    };
    let versus_select = html! {
        <select id="attr-versus" aria-label={tr.t("attr-versus")} onchange={on_pick(versus.clone())}>
            <option value="" selected={v.is_none()}>{ tr.t("attr-versus-none") }</option>
            { options(v.map(|v| v.token), Some(a.token)) }
        </select>
    };
    let at = visible(hp.tokens.get(a.pos).map(String::as_str).unwrap_or(""));
    let summary = match v {
        Some(b) if ab => tr.tf(
            "attr-summary-ab",
            &[("tok", format!("{:?}", visible(&a.text)).into()), ("a", format!("{:.3}", a.logit).into()), ("b", format!("{:.3}", b.logit).into()), ("diff", format!("{:+.3}", a.logit - b.logit).into())],
        ),
        None => tr.tf("attr-summary", &[("tok", format!("{:?}", visible(&a.text)).into()), ("logit", format!("{:.3}", a.logit).into()), ("sum", format!("{:.3}", a.sum).into()), ("pos", a.pos.into()), ("at", format!("{at:?}").into())]),
        Some(v) => tr.tf(
            "attr-summary-versus",
            &[("tok", format!("{:?}", visible(&a.text)).into()), ("other", format!("{:?}", visible(&v.text)).into()), ("diff", format!("{:+.3}", a.logit - v.logit).into()), ("pos", a.pos.into()), ("at", format!("{at:?}").into())],
        ),
    };
    // The grid: the embedding on top, then one row per layer: its heads, then its FFN.
    let (nl, nh) = (p.n_layers, p.n_heads);
    let cell = |x: f64, y: f64, part: &Part, selected: bool| {
        let title = format!("{}: {:+.4}", part_name(&tr, part), part.value());
        let click = match *part {
            Part::Head { layer, head, .. } => Some(open_head(layer, head)),
            _ => None,
        };
        let cls = classes!("attr-cell", click.is_some().then_some("clickable"), selected.then_some("selected"));
        let (layer, head) = match *part {
            Part::Head { layer, head, .. } => (layer.to_string(), head.to_string()),
            Part::Ffn { layer, .. } => (layer.to_string(), "ffn".into()),
            Part::Embed { .. } => (String::new(), "embed".into()),
        };
        html! {
            <rect class={cls} x={x.to_string()} y={y.to_string()} width={(CW - 2.0).to_string()} height={(CH - 1.0).to_string()}
                  fill={signed_rgb(part.value(), max)} data-layer={layer} data-head={head} data-value={format!("{:.5}", part.value())} onclick={click}>
                <title>{ title }</title>
            </rect>
        }
    };
    let mut cells = vec![cell(LEFT, 4.0, &parts[0], false)];
    for (i, part) in parts.iter().enumerate().skip(1) {
        let (l, c) = ((i - 1) / (nh + 1), (i - 1) % (nh + 1));
        let selected = matches!(*part, Part::Head { layer, head, .. } if layer == hp.layer && head == hp.head);
        cells.push(cell(LEFT + CW * c as f64 + if c == nh { 6.0 } else { 0.0 }, TOP + CH * l as f64, part, selected));
    }
    let labels = (0..nl).filter(|l| l % 5 == 0 || *l == nl - 1).map(|l| {
        html! { <text x={(LEFT - 6.0).to_string()} y={(TOP + CH * l as f64 + 8.5).to_string()} text-anchor="end" class="rlabel">{ tr.tf("layer-n", &[("l", l.into())]) }</text> }
    });
    let heads_label = (0..nh).map(|h| html! { <text x={(LEFT + CW * h as f64 + CW / 2.0 - 1.0).to_string()} y={(TOP - 4.0).to_string()} text-anchor="middle" class="rlabel">{ h }</text> });
    let grid_w = LEFT + CW * (nh + 1) as f64 + 10.0;
    let grid_h = TOP + CH * nl as f64 + 6.0;
    // The biggest pushes, each way.
    let mut ranked: Vec<&Part> = parts.iter().collect();
    ranked.sort_by(|x, y| y.value().total_cmp(&x.value()));
    let item = |part: &Part| {
        let name = part_name(&tr, part);
        let body = html! { <>{ name }<span class="num">{ format!(" {:+.3}", part.value()) }</span></> };
        match *part {
            Part::Head { layer, head, .. } => html! { <li data-layer={layer.to_string()} data-head={head.to_string()}><button class="link" onclick={open_head(layer, head)}>{ body }</button></li> },
            Part::Ffn { layer, .. } => html! { <li data-layer={layer.to_string()} data-head="ffn">{ body }</li> },
            Part::Embed { .. } => html! { <li data-head="embed">{ body }</li> },
        }
    };
    let up = ranked.iter().take(8).filter(|x| x.value() > 0.0).map(|x| item(x));
    let down = ranked.iter().rev().take(8).filter(|x| x.value() < 0.0).map(|x| item(x));
    // The running sum: the embedding, then after each layer; it ends at the logit (or the difference).
    let mut running = vec![parts[0].value() as f64];
    for l in 0..nl {
        let layer: f64 = parts[1 + l * (nh + 1)..1 + (l + 1) * (nh + 1)].iter().map(|x| x.value() as f64).sum();
        running.push(running.last().unwrap() + layer);
    }
    let (lo, hi) = running.iter().fold((0f64, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let (rw, rh, rl) = (300.0, 110.0, 40.0);
    let px = |i: usize| rl + (rw - rl - 8.0) * i as f64 / nl as f64;
    let py = |y: f64| 8.0 + (rh - 24.0) * (hi - y) / (hi - lo).max(1e-9);
    let points: String = running.iter().enumerate().map(|(i, &y)| format!("{:.1},{:.1}", px(i), py(y))).collect::<Vec<_>>().join(" ");
    let end = *running.last().unwrap();
    // The numbers: the attribution (and the compared one), as `glassbox attribute` prints them.
    let json = {
        let (a, v) = (a.clone(), v.cloned());
        Callback::from(move |()| match &v {
            None => serde_json::to_string(&*a).unwrap_or_default(),
            Some(v) => serde_json::json!({"attribution": &*a, "versus": v}).to_string(),
        })
    };
    let csv = {
        let shown = parts.clone();
        Callback::from(move |()| {
            let mut out = String::from("kind,layer,head,value\n");
            for p in &shown {
                let line = match *p {
                    Part::Embed { value } => format!("embed,,,{value}\n"),
                    Part::Head { layer, head, value } => format!("head,{layer},{head},{value}\n"),
                    Part::Ffn { layer, value } => format!("ffn,{layer},,{value}\n"),
                };
                out.push_str(&line);
            }
            out
        })
    };
    html! {
        <div class="attribution" id="attribution" data-pos={a.pos.to_string()} data-token={a.token.to_string()} data-versus={v.map(|v| v.token.to_string()).unwrap_or_default()}
             data-ab={ab.to_string()} data-logit={a.logit.to_string()} data-b-logit={v.filter(|_| ab).map(|b| b.logit.to_string()).unwrap_or_default()}>
            <p class="muted">{ tr.t("attr-help") }</p>
            <div class="row">
                <label>{ tr.t("attr-target") }{ " " }{ target_select }</label>
                if !ab {
                    <label>{ tr.t("attr-versus") }{ " " }{ versus_select }</label>
                }
                { for against_box }
            </div>
            <p id="attr-summary">{ summary.clone() }</p>
            <div class="attr-body">
                <figure>
                    <svg id="attr-grid" width={grid_w.to_string()} height={grid_h.to_string()} role="img" aria-label={tr.tf("attr-grid-aria", &[("l", nl.into()), ("h", nh.into())])}>
                        <text x={(LEFT - 6.0).to_string()} y="12" text-anchor="end" class="rlabel">{ tr.t("attr-embed-short") }</text>
                        { for heads_label }
                        <text x={(LEFT + CW * nh as f64 + 6.0 + CW / 2.0 - 1.0).to_string()} y={(TOP - 4.0).to_string()} text-anchor="middle" class="rlabel">{ "FFN" }</text>
                        { for labels }
                        { for cells }
                    </svg>
                    <figcaption class="muted">{ tr.tf("attr-legend", &[("max", format!("{max:.3}").into())]) }</figcaption>
                </figure>
                <div class="attr-lists">
                    <h3>{ tr.t("attr-up") }</h3>
                    <ol id="attr-up">{ for up }</ol>
                    <h3>{ tr.t("attr-down") }</h3>
                    <ol id="attr-down">{ for down }</ol>
                    <h3>{ tr.t("attr-running") }</h3>
                    <svg id="attr-running" width={rw.to_string()} height={rh.to_string()} role="img" aria-label={tr.t("attr-running")}>
                        <line x1={rl.to_string()} x2={(rw - 8.0).to_string()} y1={py(0.0).to_string()} y2={py(0.0).to_string()} stroke="#adb5bd" />
                        <line x1={rl.to_string()} x2={(rw - 8.0).to_string()} y1={py(end).to_string()} y2={py(end).to_string()} stroke="#c92a2a" stroke-dasharray="3 3" />
                        <text x={(rl - 4.0).to_string()} y={(py(end) + 4.0).to_string()} text-anchor="end" class="rlabel">{ format!("{end:.2}") }</text>
                        <text x={(rl - 4.0).to_string()} y={(py(0.0) + 4.0).to_string()} text-anchor="end" class="rlabel">{ "0" }</text>
                        <polyline points={points} fill="none" stroke="#1c3d8c" stroke-width="1.5" />
                        <text x={px(0).to_string()} y={(rh - 4.0).to_string()} class="rlabel">{ tr.t("attr-embed-short") }</text>
                        <text x={px(nl).to_string()} y={(rh - 4.0).to_string()} text-anchor="end" class="rlabel">{ tr.tf("layer-n", &[("l", (nl - 1).into())]) }</text>
                    </svg>
                </div>
            </div>
            <p class="muted">{ tr.t("attr-caveat") }</p>
            <DataExports svg={Some(AttrValue::from("#attr-grid"))} caption={vec![summary.clone()]} stem="glassbox-why" json={json} csv={csv} />
        </div>
    }
}
