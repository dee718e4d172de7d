//! Line view (as in BertViz's head view): tokens on both sides, a line from
//! the focused query token on the left to each key on the right, as strong
//! as its attention weight. Hover a token on the left to follow it. Long
//! sequences show the keys nearest the query (the rest's weight is summed).

use yew::prelude::*;

use crate::web::components::{focused, use_row, use_tr, visible, HeadProps};

const ROW: f64 = 18.0;
const WIDTH: f64 = 420.0;
const LEFT: f64 = 130.0;
const RIGHT: f64 = 290.0;
/// Most keys drawn: the ones just before (and at) the query.
const SHOWN: usize = 64;

#[function_component(Lines)]
pub fn lines(p: &HeadProps) -> Html {
    let tr = use_tr();
    let q = focused(p);
    let first = q.map_or(0, |q| (q + 1).saturating_sub(SHOWN));
    let cols: Vec<u32> = q.map_or(Vec::new(), |q| (first as u32..=q as u32).collect());
    let row = use_row(p, q, cols, true);
    // The row kept from before may be for a longer sequence (an Undo since):
    // draw only what these tokens have.
    let n_tok = p.tokens.len();
    let row = row.filter(|r| r.0 < n_tok && r.1.iter().all(|&k| (k as usize) < n_tok) && r.1.len() == r.2.len());
    let (Some(q), Some(row)) = (q, row) else {
        return html! { <p class="muted">{ tr.t("step-to-see") }</p> };
    };
    let (rq, ref rcols, ref w) = *row;
    let n = rcols.len();
    let first = rcols.first().copied().unwrap_or(0) as usize;
    let y = |pos: usize| ROW * ((pos - first) as f64 + 1.0);
    let links = rcols.iter().zip(w).map(|(&k, &w)| {
        let k = k as usize;
        html! {
            <line x1={LEFT.to_string()} y1={(y(rq) - 4.0).to_string()} x2={RIGHT.to_string()} y2={(y(k) - 4.0).to_string()}
                  stroke="#1c3d8c" stroke-opacity={format!("{:.3}", w.sqrt())} stroke-width={format!("{:.2}", 0.5 + 4.0 * w)}>
                <title>{ format!("{:?} → {:?}: {w:.4}", visible(&p.tokens[rq]), visible(&p.tokens[k])) }</title>
            </line>
        }
    });
    let left = (first..first + n).map(|i| {
        let on_focus = p.on_focus.clone();
        html! {
            <text x={(LEFT - 6.0).to_string()} y={y(i).to_string()} text-anchor="end" class={classes!("ltok", (i == rq).then_some("on"))}
                  onmouseenter={Callback::from(move |_| on_focus.emit(Some(i)))}>{ visible(&p.tokens[i]) }</text>
        }
    });
    let right = rcols.iter().zip(w).map(|(&k, &w)| {
        html! { <text x={(RIGHT + 6.0).to_string()} y={y(k as usize).to_string()} class="rtok" opacity={format!("{:.2}", 0.35 + 0.65 * w.sqrt())}>{ visible(&p.tokens[k as usize]) }</text> }
    });
    let before: f32 = 1.0 - w.iter().sum::<f32>();
    html! {
        <div class="lines">
            if first > 0 {
                <p class="muted">{ tr.tf("lines-hidden", &[("last", (first - 1).into()), ("w", format!("{:.4}", before.max(0.0)).into()), ("q", q.into())]) }</p>
            }
            <svg id="lines" width={WIDTH.to_string()} height={(ROW * (n as f64 + 1.0)).to_string()} role="img"
                 aria-label={tr.tf("lines-aria", &[("q", rq.into()), ("l", p.layer.into()), ("h", p.head.into())])}>
                { for links }{ for left }{ for right }
            </svg>
        </div>
    }
}
