//! The residual stream at one position: how much each layer's attention
//! block and FFN add to it (the L2 norm of each update), 60 bars, so that
//! one sees which layers do the work.

use yew::prelude::*;

use crate::protocol::{Answer, Query};
use crate::web::components::{focused, use_ask, use_tr, visible, HeadProps};

const W: f64 = 420.0;
const ROW: f64 = 13.0;
const LEFT: f64 = 52.0;

#[function_component(ResidualView)]
pub fn residual_view(p: &HeadProps) -> Html {
    let tr = use_tr();
    let q = focused(p);
    let got = use_ask(&p.link, p.tokens.len(), p.busy, (q, p.epoch), |(q, _)| q.map(|pos| Query::Residual { pos }));
    let Some(Answer::Residual(r)) = got.as_deref().map(|g| &g.1) else {
        return html! { <p class="muted" id="residual">{ if q.is_some() { tr.t("computing") } else { tr.t("residual-empty") } }</p> };
    };
    let max = r.attention.iter().chain(&r.ffn).fold(1e-9f32, |m, &x| m.max(x)) as f64;
    // Bar length ∝ √norm: the last layers' updates are many times the first ones'.
    let scale = |v: f32| (v as f64 / max).sqrt() * (W - LEFT - 10.0);
    let bars = r.attention.iter().zip(&r.ffn).enumerate().map(|(l, (&a, &f))| {
        let y = ROW * l as f64 + 16.0;
        html! {
            <g>
                <text x={(LEFT - 6.0).to_string()} y={(y + 9.0).to_string()} text-anchor="end" class="rlabel">{ tr.tf("layer-n", &[("l", l.into())]) }</text>
                <rect x={LEFT.to_string()} y={y.to_string()} width={scale(a).max(0.5).to_string()} height="5" fill="#1c3d8c"><title>{ tr.tf("residual-attn", &[("l", l.into()), ("v", format!("{a:.3}").into())]) }</title></rect>
                <rect x={LEFT.to_string()} y={(y + 6.0).to_string()} width={scale(f).max(0.5).to_string()} height="5" fill="#e8590c"><title>{ tr.tf("residual-ffn", &[("l", l.into()), ("v", format!("{f:.3}").into())]) }</title></rect>
            </g>
        }
    });
    let n = r.attention.len();
    html! {
        <div class="residual" id="residual">
            <p class="muted">{ tr.tf("residual-info", &[("pos", r.pos.into()), ("tok", format!("{:?}", visible(p.tokens.get(r.pos).map(String::as_str).unwrap_or(""))).into())]) }{ " " }
                <span style="color:#1c3d8c">{ tr.t("residual-attention") }</span>{ " · " }<span style="color:#e8590c">{ tr.t("residual-feedforward") }</span>{ " " }{ tr.t("residual-scale") }</p>
            <svg width={W.to_string()} height={(ROW * n as f64 + 24.0).to_string()} role="img" aria-label={tr.tf("residual-aria", &[("pos", r.pos.into()), ("n", n.into())])}>
                { for bars }
            </svg>
        </div>
    }
}
