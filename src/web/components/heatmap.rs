//! One head's attention as a query × key heatmap (causal: nothing above the
//! diagonal). Hovering a cell shows the two tokens and the weight.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData, MouseEvent};
use yew::prelude::*;

use crate::web::components::colors::weight_rgb;
use crate::web::components::{visible, HeadProps};


/// Draw an n × n matrix given by `cell(q, k)` into `canvas`, one pixel per cell.
pub fn draw_matrix(canvas: &HtmlCanvasElement, n: usize, cell: impl Fn(usize, usize) -> f32) {
    let n = n.max(1);
    canvas.set_width(n as u32);
    canvas.set_height(n as u32);
    let mut px = vec![0u8; n * n * 4];
    for q in 0..n {
        for k in 0..n {
            let i = (q * n + k) * 4;
            if k > q {
                px[i..i + 4].copy_from_slice(&[242, 242, 242, 255]);
            } else {
                let [r, g, b] = weight_rgb(cell(q, k));
                px[i..i + 4].copy_from_slice(&[r, g, b, 255]);
            }
        }
    }
    if let Ok(Some(ctx)) = canvas.get_context("2d") {
        let ctx: CanvasRenderingContext2d = ctx.unchecked_into();
        if let Ok(img) = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&px), n as u32, n as u32) {
            let _ = ctx.put_image_data(&img, 0.0, 0.0);
        }
    }
}

#[function_component(Heatmap)]
pub fn heatmap(p: &HeadProps) -> Html {
    let canvas = use_node_ref();
    let hover = use_state(|| None::<(usize, usize)>);
    {
        let (canvas, attn, layer, head) = (canvas.clone(), p.attn.clone(), p.layer, p.head);
        use_effect_with((attn.version, layer, head), move |_| {
            if let Some(c) = canvas.cast::<HtmlCanvasElement>() {
                let st = attn.store.borrow();
                draw_matrix(&c, st.len(), |q, k| st.get(layer, head, q, k));
            }
            || ()
        });
    }
    let n = p.attn.store.borrow().len();
    let onmousemove = {
        let (canvas, hover) = (canvas.clone(), hover.clone());
        Callback::from(move |e: MouseEvent| {
            let Some(c) = canvas.cast::<HtmlCanvasElement>() else { return };
            let r = c.get_bounding_client_rect();
            if n == 0 || r.width() <= 0.0 {
                return;
            }
            let k = ((e.client_x() as f64 - r.left()) / r.width() * n as f64).floor() as isize;
            let q = ((e.client_y() as f64 - r.top()) / r.height() * n as f64).floor() as isize;
            if (0..n as isize).contains(&k) && (0..n as isize).contains(&q) {
                hover.set(Some((q as usize, k as usize)));
            }
        })
    };
    let onmouseleave = {
        let hover = hover.clone();
        Callback::from(move |_| hover.set(None))
    };
    let tip = match *hover {
        Some((q, k)) if q < p.tokens.len() && k < p.tokens.len() => {
            let w = p.attn.store.borrow().get(p.layer, p.head, q, k);
            if k > q {
                format!("query {q} {:?} cannot see key {k} {:?} (causal mask)", visible(&p.tokens[q]), visible(&p.tokens[k]))
            } else {
                format!("query {q} {:?} → key {k} {:?}: {w:.4}", visible(&p.tokens[q]), visible(&p.tokens[k]))
            }
        }
        _ => "Hover a cell: row = query (the token looking), column = key (the token looked at).".into(),
    };
    html! {
        <div class="heatmap">
            <canvas id="heatmap" ref={canvas} {onmousemove} {onmouseleave} aria-label={format!("Attention heatmap, layer {} head {}", p.layer, p.head)}></canvas>
            <p id="attn-tooltip" class="tooltip" aria-live="polite">{ tip }</p>
        </div>
    }
}
