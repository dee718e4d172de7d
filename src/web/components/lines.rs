//! Line view (as in BertViz's head view): tokens on both sides, a line from
//! the focused query token on the left to every key on the right, as strong
//! as its attention weight. Hover a token on the left to follow it.

use yew::prelude::*;

use crate::web::components::{visible, HeadProps};


const ROW: f64 = 18.0;
const WIDTH: f64 = 420.0;
const LEFT: f64 = 130.0;
const RIGHT: f64 = 290.0;

#[function_component(Lines)]
pub fn lines(p: &HeadProps) -> Html {
    let st = p.attn.store.borrow();
    let n = st.len().min(p.tokens.len());
    if n == 0 {
        return html! { <p class="muted">{ "Step to see attention." }</p> };
    }
    let q = p.focus.filter(|&f| f < n).unwrap_or(n - 1);
    let y = |i: usize| ROW * (i as f64 + 1.0);
    let links = (0..=q).map(|k| {
        let w = st.get(p.layer, p.head, q, k);
        html! {
            <line x1={LEFT.to_string()} y1={(y(q) - 4.0).to_string()} x2={RIGHT.to_string()} y2={(y(k) - 4.0).to_string()}
                  stroke="#1c3d8c" stroke-opacity={format!("{:.3}", w.sqrt())} stroke-width={format!("{:.2}", 0.5 + 4.0 * w)}>
                <title>{ format!("{:?} → {:?}: {w:.4}", visible(&p.tokens[q]), visible(&p.tokens[k])) }</title>
            </line>
        }
    });
    let left = (0..n).map(|i| {
        let on_focus = p.on_focus.clone();
        html! {
            <text x={(LEFT - 6.0).to_string()} y={y(i).to_string()} text-anchor="end" class={classes!("ltok", (i == q).then_some("on"))}
                  onmouseenter={Callback::from(move |_| on_focus.emit(Some(i)))}>{ visible(&p.tokens[i]) }</text>
        }
    });
    let right = (0..n).map(|i| {
        let w = if i <= q { st.get(p.layer, p.head, q, i) } else { 0.0 };
        html! { <text x={(RIGHT + 6.0).to_string()} y={y(i).to_string()} class="rtok" opacity={format!("{:.2}", 0.35 + 0.65 * w.sqrt())}>{ visible(&p.tokens[i]) }</text> }
    });
    html! {
        <div class="lines">
            <svg id="lines" width={WIDTH.to_string()} height={(ROW * (n as f64 + 1.0)).to_string()} role="img"
                 aria-label={format!("Attention of token {q} in layer {} head {}", p.layer, p.head)}>
                { for links }{ for left }{ for right }
            </svg>
        </div>
    }
}
