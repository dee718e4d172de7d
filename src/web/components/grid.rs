//! Model view: every head of every layer as a thumbnail (layers down, heads
//! across, grouped by the KV head they share). Click one to open it.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData, MouseEvent};
use yew::prelude::*;

use crate::web::components::colors::{group_css, weight_rgb};
use crate::web::state::Attn;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub attn: Attn,
    pub layers: usize,
    pub heads: usize,
    pub group: usize,
    pub selected: (usize, usize),
    pub on_select: Callback<(usize, usize)>,
}

/// Thumbnail size and the gap between thumbnails, in canvas pixels.
const CELL: usize = 36;
const GAP: usize = 4;

#[function_component(Grid)]
pub fn grid(p: &Props) -> Html {
    let canvas = use_node_ref();
    let hover = use_state(|| None::<(usize, usize)>);
    let (w, h) = (p.heads * (CELL + GAP), p.layers * (CELL + GAP));
    {
        let (canvas, attn, layers, heads, sel) = (canvas.clone(), p.attn.clone(), p.layers, p.heads, p.selected);
        use_effect_with((attn.version, sel), move |_| {
            if let Some(c) = canvas.cast::<HtmlCanvasElement>() {
                c.set_width(w as u32);
                c.set_height(h as u32);
                let st = attn.store.borrow();
                let n = st.len();
                let mut px = vec![255u8; w * h * 4];
                for l in 0..layers {
                    for hd in 0..heads {
                        let (x0, y0) = (hd * (CELL + GAP), l * (CELL + GAP));
                        let border = (l, hd) == sel;
                        for y in 0..CELL {
                            for x in 0..CELL {
                                let i = ((y0 + y) * w + x0 + x) * 4;
                                let rgb = if border && (x < 2 || y < 2 || x >= CELL - 2 || y >= CELL - 2) {
                                    [230, 73, 128]
                                } else if n == 0 {
                                    [245, 245, 245]
                                } else {
                                    let (q, k) = (y * n / CELL, x * n / CELL);
                                    if k > q { [242, 242, 242] } else { weight_rgb(st.get(l, hd, q, k)) }
                                };
                                px[i..i + 3].copy_from_slice(&rgb);
                            }
                        }
                    }
                }
                if let Ok(Some(ctx)) = c.get_context("2d") {
                    let ctx: CanvasRenderingContext2d = ctx.unchecked_into();
                    if let Ok(img) = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&px), w as u32, h as u32) {
                        let _ = ctx.put_image_data(&img, 0.0, 0.0);
                    }
                }
            }
            || ()
        });
    }
    let locate = {
        let (canvas, layers, heads) = (canvas.clone(), p.layers, p.heads);
        move |e: &MouseEvent| -> Option<(usize, usize)> {
            let c = canvas.cast::<HtmlCanvasElement>()?;
            let r = c.get_bounding_client_rect();
            let x = (e.client_x() as f64 - r.left()) / r.width() * w as f64;
            let y = (e.client_y() as f64 - r.top()) / r.height() * h as f64;
            let (hd, l) = ((x / (CELL + GAP) as f64) as usize, (y / (CELL + GAP) as f64) as usize);
            (x >= 0.0 && y >= 0.0 && l < layers && hd < heads).then_some((l, hd))
        }
    };
    let onclick = {
        let (locate, on_select) = (locate.clone(), p.on_select.clone());
        Callback::from(move |e: MouseEvent| {
            if let Some(lh) = locate(&e) {
                on_select.emit(lh);
            }
        })
    };
    let onmousemove = {
        let hover = hover.clone();
        Callback::from(move |e: MouseEvent| hover.set(locate(&e)))
    };
    let groups = (0..p.heads / p.group.max(1)).map(|g| {
        html! { <span style={format!("color: {}; width: {:.2}%", group_css(g), 100.0 * p.group as f64 / p.heads as f64)}>{ format!("KV head {g}") }</span> }
    });
    html! {
        <div class="model-view">
            <div class="groups">{ for groups }</div>
            <canvas id="grid" ref={canvas} {onclick} {onmousemove} aria-label="All heads of all layers; click one to open it"></canvas>
            <p class="tooltip" id="grid-tooltip">
                { match *hover { Some((l, hd)) => format!("layer {l} · head {hd} (KV head {}) — click to open", hd / p.group.max(1)), None => format!("Layers 0 (top) to {} (bottom), query heads 0 to {} left to right, grouped by the KV head they share.", p.layers - 1, p.heads - 1) } }
            </p>
        </div>
    }
}
