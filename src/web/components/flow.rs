//! How information flowed to the chosen position (`crate::flow`), drawn the
//! way the LLM Transparency Tool draws its contribution graph: positions
//! across, the residual stream between layers up the page, and for each
//! layer the edges that carried a large share of a position's update, from
//! an earlier position through a head (coloured by its key/value group) or
//! through the position's own FFN (orange). Only edges that lead to the
//! chosen position are drawn, from the top down, above a threshold the
//! slider sets. Hover an edge for its head and share; click it to open the head.

use yew::prelude::*;

use crate::flow::{reaching, Via};
use crate::protocol::{Answer, Query};
use crate::web::components::colors::group_css;
use crate::web::components::export::DataExports;
use crate::web::components::{focused, use_ask, use_tr, visible, HeadProps};
use crate::web::state::{Action, View};

/// Positions one graph shows at most (the chosen one and those before it).
const WINDOW: usize = 40;
/// The smallest share asked of the worker (the slider's low end).
const MIN_ASKED: f32 = 0.02;
/// Where the slider starts: a readable graph for a 20-token prompt.
const START: f32 = 0.1;
const LH: f64 = 17.0;
const TOP: f64 = 14.0;
const LEFT: f64 = 54.0;

#[derive(Properties, PartialEq, Clone)]
pub struct Props {
    pub head: HeadProps,
    pub n_layers: usize,
}

#[function_component(FlowView)]
pub fn flow_view(p: &Props) -> Html {
    let tr = use_tr();
    let hp = &p.head;
    let pos = focused(hp);
    let threshold = use_state(|| START);
    let key = (pos, hp.epoch);
    let got = use_ask(&hp.link, hp.tokens.len(), hp.busy, key, |&(pos, _)| pos.map(|pos| Query::Flow { p0: (pos + 1).saturating_sub(WINDOW), p1: pos + 1, min: MIN_ASKED }));
    let Some(Answer::Flow(f)) = got.as_deref().map(|g| &g.1) else {
        let failed = match got.as_deref().map(|g| &g.1) {
            Some(Answer::Failed { message }) => Some(message.clone()),
            _ => None,
        };
        return html! { <p class="muted" id="flow">{ failed.unwrap_or_else(|| if pos.is_some() { tr.t("computing") } else { tr.t("flow-empty") }) }</p> };
    };
    let target = f.p1 - 1;
    if f.p1 > hp.tokens.len() {
        return html! { <p class="muted" id="flow">{ tr.t("computing") }</p> };
    }
    let nl = p.n_layers;
    let (kept, reached) = reaching(&f.edges, nl, target, *threshold);
    // Columns: the window, and one for anything earlier.
    let first = f.p0;
    let earlier = f.edges.iter().any(|e| e.from < first);
    let cols = f.p1 - first + usize::from(earlier);
    let cw = (600.0 / cols as f64).clamp(14.0, 44.0);
    let x = |i: usize| LEFT + cw * (if i < first { 0 } else { i - first + usize::from(earlier) }) as f64 + cw / 2.0;
    // Boundary k (0: the embeddings, nl: after the last layer), bottom to top.
    let y = |k: usize| TOP + LH * (nl - k) as f64;
    let width = LEFT + cw * cols as f64 + 8.0;
    let height = y(0) + 70.0;
    let group = (hp.group).max(1);
    let lines = kept.iter().map(|e| {
        let (x0, y0, x1, y1, colour, label, click) = match e.head {
            Via::Head(h) => (
                x(e.from),
                y(e.layer),
                x(e.to),
                y(e.layer + 1),
                group_css(h / group).to_string(),
                tr.tf("flow-edge-head", &[("l", e.layer.into()), ("h", h.into()), ("from", e.from.into()), ("to", e.to.into()), ("share", format!("{:.3}", e.share).into())]),
                Some((e.layer, h)),
            ),
            Via::Ffn => (x(e.to) + 3.0, y(e.layer), x(e.to) + 3.0, y(e.layer + 1), "#e8590c".to_string(), tr.tf("flow-edge-ffn", &[("l", e.layer.into()), ("to", e.to.into()), ("share", format!("{:.3}", e.share).into())]), None),
        };
        let onclick = click.map(|(layer, head)| {
            let link = hp.link.clone();
            Callback::from(move |_| {
                link.act(Action::Select { layer, head });
                link.act(Action::View(View::Heatmap));
            })
        });
        html! {
            <line class={classes!("flow-edge", onclick.is_some().then_some("clickable"))} x1={format!("{x0:.1}")} y1={format!("{y0:.1}")} x2={format!("{x1:.1}")} y2={format!("{y1:.1}")}
                  stroke={colour} stroke-width={format!("{:.2}", 0.6 + 5.0 * e.share)} stroke-opacity={format!("{:.2}", 0.35 + 0.65 * e.share)}
                  data-layer={e.layer.to_string()} data-head={match e.head { Via::Head(h) => h.to_string(), Via::Ffn => "ffn".into() }} data-from={e.from.to_string()} data-to={e.to.to_string()} {onclick}>
                <title>{ label }</title>
            </line>
        }
    });
    // The residual stream of every reached position, and its nodes.
    let mut stream = Vec::new();
    for k in 0..nl {
        for &i in &reached[k + 1] {
            if reached[k].contains(&i) {
                stream.push(html! { <line class="flow-residual" x1={format!("{:.1}", x(i))} y1={format!("{:.1}", y(k))} x2={format!("{:.1}", x(i))} y2={format!("{:.1}", y(k + 1))} stroke="#ced4da" stroke-width="1" /> });
            }
        }
    }
    let nodes = (0..=nl).flat_map(|k| reached[k].iter().map(move |&i| (k, i))).map(|(k, i)| html! { <circle cx={format!("{:.1}", x(i))} cy={format!("{:.1}", y(k))} r="1.8" fill="#495057" /> });
    let labels = (first..f.p1).map(|i| {
        let t = visible(hp.tokens.get(i).map(String::as_str).unwrap_or(""));
        html! { <text class="flow-tok" transform={format!("translate({:.1},{:.1}) rotate(-60)", x(i) + 3.0, y(0) + 8.0)} text-anchor="end">{ t }</text> }
    });
    let layer_labels = (0..nl).filter(|l| l % 5 == 0 || *l == nl - 1).map(|l| html! { <text x={(LEFT - 6.0).to_string()} y={format!("{:.1}", (y(l) + y(l + 1)) / 2.0 + 3.0)} text-anchor="end" class="rlabel">{ tr.tf("layer-n", &[("l", l.into())]) }</text> });
    let on_slide = {
        let threshold = threshold.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(v) = e.target_dyn_into::<web_sys::HtmlInputElement>().and_then(|i| i.value().parse::<f32>().ok()) {
                threshold.set(v.clamp(MIN_ASKED, 1.0));
            }
        })
    };
    let crossing = kept.iter().filter(|e| e.from != e.to).count();
    let count_text = tr.tf("flow-count", &[("t", format!("{:.2}", *threshold).into()), ("n", kept.len().into()), ("cross", crossing.into()), ("pos", target.into()), ("tok", format!("{:?}", visible(hp.tokens.get(target).map(String::as_str).unwrap_or(""))).into())]);
    // The numbers: every edge asked (as `glassbox flow --min 0.02` prints them).
    let json = {
        let f = f.clone();
        Callback::from(move |()| serde_json::to_string(&*f).unwrap_or_default())
    };
    let csv = {
        let f = f.clone();
        Callback::from(move |()| {
            let mut out = String::from("layer,from,to,head,share\n");
            for e in &f.edges {
                let via = match e.head {
                    Via::Head(h) => h.to_string(),
                    Via::Ffn => "ffn".into(),
                };
                out.push_str(&format!("{},{},{},{via},{}\n", e.layer, e.from, e.to, e.share));
            }
            out
        })
    };
    html! {
        <div class="flow" id="flow" data-pos={target.to_string()} data-edges={kept.len().to_string()}>
            <p class="muted">{ tr.t("flow-help") }</p>
            <div class="row">
                <label for="flow-threshold">{ tr.t("flow-threshold") }</label>
                <input type="range" id="flow-threshold" min={MIN_ASKED.to_string()} max="0.5" step="0.01" value={threshold.to_string()} oninput={on_slide} />
                <span id="flow-count">{ count_text.clone() }</span>
            </div>
            <svg id="flow-graph" width={format!("{width:.0}")} height={format!("{height:.0}")} role="img" aria-label={tr.tf("flow-aria", &[("pos", target.into())])}>
                if earlier {
                    <text class="flow-tok" transform={format!("translate({:.1},{:.1}) rotate(-60)", x(0) + 3.0, y(0) + 8.0)} text-anchor="end">{ tr.t("flow-earlier") }</text>
                }
                { for layer_labels }
                { for stream }
                { for lines }
                { for nodes }
                { for labels }
            </svg>
            <p class="muted">{ tr.t("flow-caveat") }</p>
            <DataExports svg={Some(AttrValue::from("#flow-graph"))} caption={vec![count_text.clone()]} stem="glassbox-flow" json={json} csv={csv} />
        </div>
    }
}
