//! Model view: every head of every layer as a thumbnail (layers down, heads
//! across, grouped by the KV head they share). Click one to open it. The
//! thumbnails are asked of the worker at their own pixel size: evenly
//! spaced query and key positions, whatever the length.

use std::cell::Cell;
use std::rc::Rc;

use web_sys::{HtmlCanvasElement, MouseEvent};
use yew::prelude::*;

use crate::inspect::MapRequest;
use crate::web::components::{ask_maps, use_tr};
use crate::web::components::canvas::{context, paint_cells, put};
use crate::web::components::colors::group_css;
use crate::web::link::Link;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub link: Link,
    pub len: usize,
    pub epoch: u64,
    pub busy: bool,
    pub layers: usize,
    pub heads: usize,
    pub group: usize,
    pub selected: (usize, usize),
    /// Heads switched off (drawn crossed out).
    pub off: Vec<(usize, usize)>,
    pub can_toggle: bool,
    pub on_select: Callback<(usize, usize)>,
    pub on_toggle: Callback<(usize, usize)>,
    /// Drawn over the thumbnails (the head roles), in canvas pixels.
    #[prop_or_default]
    pub overlay: Html,
}

/// Thumbnail size and the gap between thumbnails, in canvas pixels.
pub const CELL: usize = 36;
pub const GAP: usize = 4;

#[function_component(Grid)]
pub fn grid(p: &Props) -> Html {
    let tr = use_tr();
    let canvas = use_node_ref();
    let hover = use_state(|| None::<(usize, usize)>);
    let latest = use_memo((), |_| Rc::new(Cell::new(0u32)));
    // The last thumbnails: (epoch, positions sampled, weights).
    let held = use_mut_ref(|| None::<(u64, Vec<u32>, Rc<Vec<f32>>)>);
    // What a click does: open the head, or switch it off/on.
    let toggling = use_state(|| false);
    let (w, h) = (p.heads * (CELL + GAP), p.layers * (CELL + GAP));
    {
        let (canvas, link, latest, held) = (canvas.clone(), p.link.clone(), (*latest).clone(), held.clone());
        let (len, epoch, layers, heads, sel, busy, off) = (p.len, p.epoch, p.layers, p.heads, p.selected, p.busy, p.off.clone());
        use_effect_with((len, p.epoch, sel, busy, p.off.clone()), move |_| {
            let Some(cv) = canvas.cast::<HtmlCanvasElement>() else { return };
            let paint = move |vals: &[f32], n: usize, rows: &[u32], cols: &[u32]| {
                let Some(c) = context(&cv) else { return };
                let mut px = vec![255u8; w * h * 4];
                for l in 0..layers {
                    for hd in 0..heads {
                        let (x0, y0) = (hd * (CELL + GAP), l * (CELL + GAP));
                        if n > 0 {
                            // n × n samples stretched over CELL × CELL pixels.
                            let m = &vals[(l * heads + hd) * n * n..(l * heads + hd + 1) * n * n];
                            let mut up = vec![0f32; CELL * CELL];
                            for y in 0..CELL {
                                for x in 0..CELL {
                                    up[y * CELL + x] = m[(y * n / CELL) * n + x * n / CELL];
                                }
                            }
                            paint_cells(&mut px, w, x0, y0, CELL, CELL, &up, |y, x| cols[x * n / CELL] > rows[y * n / CELL]);
                        }
                        if off.contains(&(l, hd)) {
                            // Crossed out: the head is switched off.
                            for i in 0..CELL {
                                for x in [i, CELL - 1 - i] {
                                    let o = ((y0 + i) * w + x0 + x) * 4;
                                    px[o..o + 3].copy_from_slice(&[201, 42, 42]);
                                }
                            }
                        }
                        if (l, hd) == sel {
                            for y in 0..CELL {
                                for x in 0..CELL {
                                    if x < 2 || y < 2 || x >= CELL - 2 || y >= CELL - 2 {
                                        let o = ((y0 + y) * w + x0 + x) * 4;
                                        px[o..o + 3].copy_from_slice(&[230, 73, 128]);
                                    }
                                }
                            }
                        }
                    }
                }
                put(&c, &px, w, h, 0.0, 0.0);
            };
            if len == 0 {
                // An answer still on its way belongs to the old sequence (ids start at 1).
                latest.set(0);
                *held.borrow_mut() = None;
                paint(&[], 0, &[], &[]);
                return;
            }
            if busy {
                return;
            }
            // The same sampled positions as last time: nothing new to ask
            // (the sampling only changes every few tokens at long lengths).
            let pos = MapRequest::spread(len, CELL);
            let n = pos.len();
            if let Some((e, p, vals)) = &*held.borrow() {
                if *e == epoch && *p == pos {
                    paint(vals, n, &pos, &pos);
                    link.painted(len);
                    return;
                }
            }
            let heads_all: Vec<(usize, usize)> = (0..layers).flat_map(|l| (0..heads).map(move |h| (l, h))).collect();
            let req = MapRequest { heads: heads_all, rows: pos.clone(), cols: pos.clone() };
            let link2 = link.clone();
            ask_maps(&link, &latest, len, req, move |vals| {
                paint(&vals, n, &pos, &pos);
                *held.borrow_mut() = Some((epoch, pos.clone(), Rc::new(vals)));
                link2.painted(len);
            });
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
        let (locate, on_select, on_toggle, toggling, can) = (locate.clone(), p.on_select.clone(), p.on_toggle.clone(), *toggling, p.can_toggle);
        Callback::from(move |e: MouseEvent| {
            if let Some(lh) = locate(&e) {
                if toggling || e.shift_key() {
                    if can {
                        on_toggle.emit(lh);
                    }
                } else {
                    on_select.emit(lh);
                }
            }
        })
    };
    let mode = |on: bool, label: &str| {
        let toggling = toggling.clone();
        html! { <button class={classes!("tab", (*toggling == on).then_some("on"))} aria-pressed={(*toggling == on).to_string()} onclick={Callback::from(move |_| toggling.set(on))}>{ tr.t(label) }</button> }
    };
    let onmousemove = {
        let hover = hover.clone();
        Callback::from(move |e: MouseEvent| hover.set(locate(&e)))
    };
    let groups = (0..p.heads / p.group.max(1)).map(|g| {
        html! { <span style={format!("color: {}; width: {:.2}%", group_css(g), 100.0 * p.group as f64 / p.heads as f64)}>{ tr.tf("kv-head", &[("g", g.into())]) }</span> }
    });
    html! {
        <div class="model-view">
            <div class="row grid-mode"><span class="muted">{ tr.t("grid-click") }{ " " }</span>{ mode(false, "grid-open") }{ mode(true, "grid-toggle") }<span class="muted">{ " " }{ tr.t("grid-shift") }</span></div>
            <div class="groups">{ for groups }</div>
            <div class="grid-wrap">
                <canvas id="grid" ref={canvas} width={w.to_string()} height={h.to_string()} data-layers={p.layers.to_string()} data-heads={p.heads.to_string()} {onclick} {onmousemove} aria-label={tr.t("grid-aria")}></canvas>
                { p.overlay.clone() }
            </div>
            <p class="tooltip" id="grid-tooltip">
                {
                    match *hover {
                        Some((l, hd)) => tr.tf(
                            if *toggling { "grid-hover-toggle" } else { "grid-hover-open" },
                            &[("l", l.into()), ("h", hd.into()), ("g", (hd / p.group.max(1)).into()), ("off", if p.off.contains(&(l, hd)) { tr.t("switched-off") } else { String::new() }.into())],
                        ),
                        None => tr.tf(
                            "grid-help",
                            &[("last_layer", p.layers.saturating_sub(1).into()), ("last_head", p.heads.saturating_sub(1).into()), ("n", p.len.min(CELL).into()), ("len", p.len.into())],
                        ),
                    }
                }
            </p>
        </div>
    }
}
