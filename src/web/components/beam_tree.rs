//! The beam search as a tree: one column per step, each node its token with
//! its log-probability and the hypothesis's running score. Pruned branches
//! stay, greyed; finished hypotheses are marked; the best path is
//! highlighted. Hover a node for the top 5 alternatives at that point; click
//! it to make its branch the current sequence (the attention and candidate
//! panels then show it). Below: greedy decoding over as many steps, so that
//! one sees whether beam search found a more likely sequence.

use std::rc::Rc;

use yew::prelude::*;

use crate::beam::Status;
use crate::control::Intent;
use crate::web::components::export::save_svg;
use crate::web::components::{use_tr, visible};
use crate::web::link::Link;
use crate::web::state::BeamView;

const COL: f64 = 190.0;
const ROW: f64 = 17.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 22.0;

/// The tree's look, carried into its SVG export.
const BEAM_CSS: &str = "text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11px; white-space: pre; } \
    .bnode.pruned text { fill: #adb5bd; } .bnode.finished text { fill: #2b8a3e; font-weight: 700; } .bnode.best text { fill: #c2255c; font-weight: 700; } \
    .bnum { fill: #6b7385; font-weight: 400; } .bprompt { fill: #6b7385; } .edge { stroke: #868e96; stroke-width: 1; } .edge.pruned { stroke: #dee2e6; } \
    .edge.best { stroke: #c2255c; stroke-width: 2; }";

#[derive(Properties, PartialEq)]
pub struct Props {
    pub link: Link,
    pub view: Rc<BeamView>,
    pub busy: bool,
}

#[function_component(BeamTreeView)]
pub fn beam_tree(p: &Props) -> Html {
    let tr = use_tr();
    let v = &p.view;
    let t = &v.tree;
    let text = |id: u32| visible(v.pieces.get(&id).map(String::as_str).unwrap_or("?"));
    // Rows: each step's nodes in the order of their parents' rows, then by score.
    let n_steps = t.nodes.iter().map(|n| n.step + 1).max().unwrap_or(0);
    let mut row = vec![0usize; t.nodes.len()];
    let mut height = 0;
    for s in 0..n_steps {
        let mut ids: Vec<usize> = t.nodes.iter().filter(|n| n.step == s).map(|n| n.id).collect();
        ids.sort_by(|&a, &b| {
            let pa = t.nodes[a].parent.map_or(0, |x| row[x]);
            let pb = t.nodes[b].parent.map_or(0, |x| row[x]);
            pa.cmp(&pb).then(t.nodes[b].score.total_cmp(&t.nodes[a].score))
        });
        for (i, id) in ids.iter().enumerate() {
            row[*id] = i;
        }
        height = height.max(ids.len());
    }
    let x = |step: usize| LEFT + COL * step as f64;
    let y = |r: usize| TOP + ROW * r as f64;
    let edges = t.nodes.iter().map(|n| {
        let (x0, y0) = match n.parent {
            Some(pn) => (x(t.nodes[pn].step) + COL - 8.0, y(row[pn])),
            None => (LEFT - 8.0, y(0)),
        };
        let class = match n.status {
            Status::Best => "edge best",
            Status::Pruned => "edge pruned",
            _ => "edge",
        };
        html! { <line class={class} x1={x0.to_string()} y1={(y0 - 4.0).to_string()} x2={x(n.step).to_string()} y2={(y(row[n.id]) - 4.0).to_string()} /> }
    });
    let nodes = t.nodes.iter().map(|n| {
        let alts = match n.parent {
            Some(pn) => &t.nodes[pn].next,
            None => &v.root,
        };
        let status = match n.status {
            Status::Finished => format!(" · {}", tr.t("beam-finished")),
            Status::Pruned => format!(" · {}", tr.t("beam-pruned")),
            Status::Best => format!(" · {}", tr.t("beam-best")),
            Status::Live => String::new(),
        };
        let head = tr.tf("beam-node", &[("step", n.step.into()), ("tok", format!("{:?}", visible(&n.text)).into()), ("logp", format!("{:.3}", n.logp).into()), ("score", format!("{:.3}", n.score).into())]);
        let tip = format!("{head}{status}\n{}\n{}", tr.t("beam-alternatives"), alts.iter().map(|&(id, lp)| format!("  {:?} {:.3}", text(id), lp)).collect::<Vec<_>>().join("\n"));
        let class = match n.status {
            Status::Best => "bnode best",
            Status::Pruned => "bnode pruned",
            Status::Finished => "bnode finished",
            Status::Live => "bnode live",
        };
        let (link, id, busy) = (p.link.clone(), n.id, p.busy);
        let label: String = visible(&n.text).chars().take(9).collect();
        html! {
            <g class={class} data-node={n.id.to_string()} data-status={format!("{:?}", n.status).to_lowercase()} onclick={Callback::from(move |_| if !busy { link.intent(Intent::BeamChoose(id)) })}>
                <title>{ tip }</title>
                <text x={x(n.step).to_string()} y={y(row[n.id]).to_string()}>
                    { label }{ if n.status == Status::Finished { " ■" } else { "" } }
                    <tspan class="bnum">{ format!(" {:.2} ({:.2})", n.logp, n.score) }</tspan>
                </text>
            </g>
        }
    });
    let w = LEFT + COL * n_steps as f64 + 10.0;
    let h = TOP + ROW * height.max(1) as f64;
    let best_text: String = t.nodes.iter().filter(|n| n.status == Status::Best).map(|n| n.text.clone()).collect();
    let greedy_text: String = p.view.greedy.nodes.iter().filter(|n| n.status == Status::Best).map(|n| n.text.clone()).collect();
    html! {
        <section class="beam" aria-label={tr.t("beam")}>
            <h2>{ tr.t("beam") }{ " " }<span class="muted">{ tr.tf(if t.done { "beam-heading-done" } else { "beam-heading" }, &[("n", t.steps.len().into())]) }</span></h2>
            <div class="beam-scroll">
                <svg id="beam-tree" width={w.to_string()} height={h.to_string()} role="img" aria-label={tr.tf("beam-aria", &[("n", t.nodes.len().into())])}>
                    <text x="0" y={y(0).to_string()} class="bprompt">{ tr.t("beam-prompt") }</text>
                    { for edges }{ for nodes }
                </svg>
            </div>
            <div class="row exports">
                <span class="muted">{ tr.t("export") }</span>
                <button id="export-beam" onclick={Callback::from(|_| save_svg("#beam-tree", BEAM_CSS, "glassbox-beam-tree.svg"))}>{ "SVG" }</button>
            </div>
            <p class="compare" id="beam-compare">
                <span class="best">{ tr.tf("beam-best-line", &[("text", format!("{:?}", visible(&best_text)).into()), ("logp", format!("{:.3}", t.best_score).into())]) }</span><br />
                <span>{ tr.tf("beam-greedy-line", &[("text", format!("{:?}", visible(&greedy_text)).into()), ("logp", format!("{:.3}", p.view.greedy.best_score).into())]) }</span><br />
                <span class="muted">{
                    if t.best_score > p.view.greedy.best_score + 1e-4 { tr.tf("beam-better", &[("x", format!("{:.2}", ((t.best_score - p.view.greedy.best_score) as f64).exp()).into())]) }
                    else { tr.t("beam-same") }
                }</span>
            </p>
        </section>
    }
}
