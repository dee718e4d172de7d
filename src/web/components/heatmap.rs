//! One head's attention as a query × key heatmap, at any length up to the
//! model's context: the window on screen is asked of the worker at the
//! canvas's resolution (every cell when it fits, evenly spaced samples when
//! zoomed out), with token labels on both axes wherever they fit. Wheel or
//! the buttons zoom, dragging pans, a click chooses the query the line and
//! math views follow. While the sequence only grows, only the new rows are
//! asked for.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, MouseEvent, WheelEvent};
use yew::prelude::*;

use crate::inspect::MapRequest;
use crate::protocol::Side;
use crate::web::components::canvas::{context, paint_cells, paint_cells_in, put};
use crate::web::components::colors::diff_rgb;
use crate::web::components::{ask_maps_on, use_tr, visible, HeadProps};

/// Canvas pixels: a margin for labels, then the square plot.
const MARGIN: f64 = 68.0;
const PLOT: f64 = 512.0;
const SIZE: f64 = MARGIN + PLOT;
/// Canvas pixels per layout pixel on screen: the screen's own density (1 or
/// 2); the PNG export draws again at 2×.
fn screen_scale() -> f64 {
    web_sys::window().map_or(1.0, |w| w.device_pixel_ratio()).clamp(1.0, 2.0).round()
}

/// What the heatmap shows, for the PNG export: its cells, tokens and focus.
type Shown = (Rc<RefCell<Drawn>>, Rc<Vec<String>>, Option<usize>);

thread_local! {
    static SHOWN: RefCell<Option<Shown>> = const { RefCell::new(None) };
}

/// The heatmap drawn again into a new canvas at `scale` (labels included).
pub fn render(scale: f64) -> Option<(HtmlCanvasElement, f64)> {
    SHOWN.with(|s| {
        let s = s.borrow();
        let (d, tokens, focus) = s.as_ref()?;
        let c: HtmlCanvasElement = web_sys::window()?.document()?.create_element("canvas").ok()?.dyn_into().ok()?;
        c.set_width((SIZE * scale) as u32);
        c.set_height((SIZE * scale) as u32);
        compose_at(&c, &d.borrow(), tokens, *focus, scale);
        Some((c, SIZE))
    })
}
/// Smallest cell (px) that gets a label of its own.
const LABEL_PX: f64 = 11.0;
/// Fewest positions a zoomed window shows.
const MIN_SPAN: usize = 4;

/// The positions on screen: rows r0.., cols c0.., `span` of each.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub r0: usize,
    pub c0: usize,
    pub span: usize,
}

impl Window {
    /// The window clamped to a sequence of `len` (None = everything).
    fn resolve(w: Option<Window>, len: usize) -> Window {
        let w = w.unwrap_or(Window { r0: 0, c0: 0, span: len });
        let span = w.span.clamp(1, len.max(1));
        Window { r0: w.r0.min(len.saturating_sub(span)), c0: w.c0.min(len.saturating_sub(span)), span }
    }
    /// Rows and columns sampled: every position when they fit the plot,
    /// else every s-th (see `MapRequest::spread`).
    fn samples(&self) -> (Vec<u32>, Vec<u32>) {
        let s = MapRequest::spread(self.span, PLOT as usize);
        (s.iter().map(|&i| i + self.r0 as u32).collect(), s.iter().map(|&i| i + self.c0 as u32).collect())
    }
    /// Positions per cell.
    fn stride(&self) -> usize {
        self.span.div_ceil(PLOT as usize).max(1)
    }
}

/// What is on the canvas: the weights of `rows` × `cols` for one head of
/// one sequence state (epoch, layer, head, and what is shown: 0 A, 1 B,
/// 2 B − A, whose values are differences).
#[derive(Default)]
struct Drawn {
    key: (u64, usize, usize, u8),
    rows: Vec<u32>,
    cols: Vec<u32>,
    vals: Vec<f32>,
}

impl Drawn {
    /// Rows already held when going to (rows, cols): Some(k) when the first
    /// k rows can be kept, because the new columns are all after every
    /// held row (so masked there) and nothing else moved.
    fn reusable(&self, key: (u64, usize, usize, u8), rows: &[u32], cols: &[u32]) -> Option<usize> {
        let k = self.rows.len();
        let last_row = self.rows.iter().copied().max().unwrap_or(0);
        let ok = self.key == key
            && k > 0
            && rows.len() >= k
            && rows[..k] == self.rows[..]
            && cols.len() >= self.cols.len()
            && cols[..self.cols.len()] == self.cols[..]
            && cols[self.cols.len()..].iter().all(|&c| c > last_row);
        ok.then_some(k)
    }

    /// Keep the first `k` rows (padded with masked zeros for new columns)
    /// and append `new` rows over `cols`.
    fn extend(&mut self, k: usize, rows: Vec<u32>, cols: Vec<u32>, new: &[f32]) {
        let (old_c, nc) = (self.cols.len(), cols.len());
        let mut vals = Vec::with_capacity(rows.len() * nc);
        for i in 0..k {
            vals.extend_from_slice(&self.vals[i * old_c..(i + 1) * old_c]);
            vals.resize((i + 1) * nc, 0.0);
        }
        vals.extend_from_slice(new);
        *self = Drawn { key: self.key, rows, cols, vals };
    }
}

/// Paint rows `from..` of `d` (every column) onto the offscreen cell canvas,
/// one pixel per cell, and the columns from `old_cols` on of the rows
/// before `from` (all masked: they are new keys after those queries).
fn paint(d: &Drawn, from: usize, old_cols: usize) {
    let (nr, nc) = (d.rows.len(), d.cols.len());
    let Some(off) = offscreen() else { return };
    let Some(oc) = context(&off) else { return };
    if nr > from {
        let mut px = vec![0u8; (nr - from) * nc * 4];
        let colour = if d.key.3 == 2 { diff_rgb } else { crate::web::components::colors::weight_rgb };
        paint_cells_in(&mut px, nc, 0, 0, nr - from, nc, &d.vals[from * nc..], |i, j| d.cols[j] > d.rows[from + i], colour);
        put(&oc, &px, nc, nr - from, 0.0, from as f64);
    }
    if from > 0 && nc > old_cols {
        let w = nc - old_cols;
        let mut px = vec![0u8; from * w * 4];
        paint_cells(&mut px, w, 0, 0, from, w, &[], |_, _| true);
        put(&oc, &px, w, from, old_cols as f64, 0.0);
    }
}

/// Draw the canvas: the cells scaled up without smoothing, labels, the focused row.
fn compose(canvas: &HtmlCanvasElement, d: &Drawn, tokens: &[String], focus: Option<usize>) {
    compose_at(canvas, d, tokens, focus, canvas.width() as f64 / SIZE);
}

fn compose_at(canvas: &HtmlCanvasElement, d: &Drawn, tokens: &[String], focus: Option<usize>, scale: f64) {
    let Some(c) = context(canvas) else { return };
    let _ = c.set_transform(scale, 0.0, 0.0, scale, 0.0, 0.0);
    c.set_fill_style_str("#fff");
    c.fill_rect(0.0, 0.0, SIZE, SIZE);
    let (nr, nc) = (d.rows.len(), d.cols.len());
    if nr == 0 || nc == 0 {
        return;
    }
    let cell = PLOT / nr.max(nc) as f64;
    if let Some(off) = offscreen() {
        c.set_image_smoothing_enabled(false);
        let _ = c.draw_image_with_html_canvas_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
            &off, 0.0, 0.0, nc as f64, nr as f64, MARGIN, MARGIN, nc as f64 * cell, nr as f64 * cell,
        );
    }
    labels(&c, d, tokens, cell);
    if let Some(i) = focus.and_then(|f| d.rows.iter().position(|&r| r as usize == f)) {
        c.set_stroke_style_str("#e64980");
        c.set_line_width(1.5);
        c.stroke_rect(MARGIN, MARGIN + i as f64 * cell, nc as f64 * cell, cell.max(1.0));
    }
}

/// Token labels: every cell's when cells are big enough, else evenly spaced
/// ones (with their positions) so that both axes stay readable.
fn labels(c: &CanvasRenderingContext2d, d: &Drawn, tokens: &[String], cell: f64) {
    let every = (LABEL_PX / cell).ceil().max(1.0) as usize;
    let font = (cell * 0.8).clamp(8.0, 12.0);
    c.set_font(&format!("{font:.0}px ui-monospace, Menlo, Consolas, monospace"));
    c.set_fill_style_str("#1d2330");
    let text = |p: u32| {
        let t = tokens.get(p as usize).map(|t| visible(t)).unwrap_or_default();
        let t: String = t.chars().take(if every > 1 { 5 } else { 7 }).collect();
        if every > 1 {
            format!("{p} {t}")
        } else {
            t
        }
    };
    c.set_text_align("right");
    c.set_text_baseline("middle");
    for (i, &r) in d.rows.iter().enumerate().step_by(every) {
        let _ = c.fill_text(&text(r), MARGIN - 3.0, MARGIN + (i as f64 + 0.5) * cell);
    }
    c.save();
    c.set_text_align("left");
    for (j, &k) in d.cols.iter().enumerate().step_by(every) {
        c.save();
        let _ = c.translate(MARGIN + (j as f64 + 0.5) * cell, MARGIN - 3.0);
        let _ = c.rotate(-std::f64::consts::FRAC_PI_2);
        let _ = c.fill_text(&text(k), 0.0, 0.0);
        c.restore();
    }
    c.restore();
}

/// A detached canvas holding one pixel per cell (at most PLOT × PLOT),
/// kept between draws so that a step paints only its new row.
fn offscreen() -> Option<HtmlCanvasElement> {
    thread_local! {
        static OFF: RefCell<Option<HtmlCanvasElement>> = const { RefCell::new(None) };
    }
    OFF.with(|o| {
        let mut o = o.borrow_mut();
        if o.is_none() {
            let c: HtmlCanvasElement = web_sys::window()?.document()?.create_element("canvas").ok()?.dyn_into().ok()?;
            c.set_width(PLOT as u32);
            c.set_height(PLOT as u32);
            *o = Some(c);
        }
        o.clone()
    })
}

/// The (row, col) sample under the mouse, from canvas coordinates.
fn cell_at(canvas: &HtmlCanvasElement, d: &Drawn, e: &MouseEvent) -> Option<(usize, usize)> {
    let r = canvas.get_bounding_client_rect();
    if r.width() <= 0.0 || d.rows.is_empty() {
        return None;
    }
    let s = SIZE / r.width();
    let (x, y) = ((e.client_x() as f64 - r.left()) * s - MARGIN, (e.client_y() as f64 - r.top()) * s - MARGIN);
    let cell = PLOT / d.rows.len().max(d.cols.len()) as f64;
    let (i, j) = ((y / cell).floor(), (x / cell).floor());
    (i >= 0.0 && j >= 0.0 && (i as usize) < d.rows.len() && (j as usize) < d.cols.len()).then_some((i as usize, j as usize))
}

#[function_component(Heatmap)]
pub fn heatmap(p: &HeadProps) -> Html {
    let canvas = use_node_ref();
    let drawn = use_mut_ref(Drawn::default);
    let latest = use_memo((), |_| Rc::new(Cell::new(0u32)));
    let latest_b = use_memo((), |_| Rc::new(Cell::new(0u32)));
    let window = use_state(|| None::<Window>);
    let hover = use_state(|| None::<(u32, u32, f32)>);
    let drag = use_mut_ref(|| None::<(f64, f64, Window, bool)>);
    let len = p.tokens.len();
    let win = Window::resolve(*window, len);
    SHOWN.with(|s| *s.borrow_mut() = Some((drawn.clone(), p.tokens.clone(), p.focus)));

    // Ask for what the window shows (only the new rows when the sequence grew).
    {
        let (canvas, drawn, latest, latest_b, link, tokens, focus, busy) = (canvas.clone(), drawn.clone(), (*latest).clone(), (*latest_b).clone(), p.link.clone(), p.tokens.clone(), p.focus, p.busy);
        let (side, diff) = (p.side, p.diff);
        let key = (p.epoch, p.layer, p.head, if diff { 2 } else { side as u8 });
        use_effect_with((len, p.epoch, p.layer, p.head, win, p.busy, p.focus, key.3), move |_| {
            let Some(cv) = canvas.cast::<HtmlCanvasElement>() else { return };
            if len == 0 {
                // An answer still on its way belongs to the old sequence:
                // it must not land in this empty one (ids start at 1).
                latest.set(0);
                *drawn.borrow_mut() = Drawn::default();
                compose(&cv, &drawn.borrow(), &tokens, None);
                return;
            }
            if busy {
                // The sequence is changing: ask once it has.
                return;
            }
            let (rows, cols) = win.samples();
            let keep = drawn.borrow().reusable(key, &rows, &cols);
            if keep == Some(rows.len()) && drawn.borrow().cols == cols {
                // Nothing new to ask: redraw (the focus may have moved).
                compose(&cv, &drawn.borrow(), &tokens, focus);
                link.painted(len);
                return;
            }
            if diff {
                // B − A: both sides' weights over the whole window, subtracted
                // once both have come (no rows kept: a step changes both).
                let req = MapRequest { heads: vec![(key.1, key.2)], rows: rows.clone(), cols: cols.clone() };
                let halves = Rc::new(RefCell::new((None::<Vec<f32>>, None::<Vec<f32>>)));
                let n = rows.len() * cols.len();
                let done = {
                    let (halves, drawn, cv, tokens, link) = (halves.clone(), drawn.clone(), cv.clone(), tokens.clone(), link.clone());
                    let (rows, cols) = (rows.clone(), cols.clone());
                    Rc::new(move || {
                        let h = halves.borrow();
                        let (Some(a), Some(b)) = (&h.0, &h.1) else { return };
                        if a.len() != n || b.len() != n {
                            return;
                        }
                        let mut d = drawn.borrow_mut();
                        *d = Drawn { key, rows: rows.clone(), cols: cols.clone(), vals: a.iter().zip(b).map(|(a, b)| b - a).collect() };
                        paint(&d, 0, 0);
                        compose(&cv, &d, &tokens, focus);
                        link.painted(len);
                    })
                };
                for (s, latest) in [(Side::A, &latest), (Side::B, &latest_b)] {
                    let (halves, done) = (halves.clone(), done.clone());
                    ask_maps_on(&link, s, latest, len, req.clone(), move |vals| {
                        let mut h = halves.borrow_mut();
                        if s == Side::A { h.0 = Some(vals) } else { h.1 = Some(vals) }
                        drop(h);
                        done();
                    });
                }
                return;
            }
            let k = keep.unwrap_or(0);
            let req = MapRequest { heads: vec![(key.1, key.2)], rows: rows[k..].to_vec(), cols: cols.clone() };
            let link2 = link.clone();
            ask_maps_on(&link, side, &latest, len, req, move |vals| {
                let mut d = drawn.borrow_mut();
                if vals.len() != (rows.len() - k) * cols.len() {
                    web_sys::console::warn_1(&format!("Glassbox: attention map of {} numbers for {} × {} cells; not drawn", vals.len(), rows.len() - k, cols.len()).into());
                    return;
                }
                if keep.is_some() && d.reusable(key, &rows, &cols) == Some(k) {
                    let old_cols = d.cols.len();
                    d.extend(k, rows.clone(), cols.clone(), &vals);
                    paint(&d, k, old_cols);
                } else if k == 0 {
                    *d = Drawn { key, rows: rows.clone(), cols: cols.clone(), vals };
                    paint(&d, 0, 0);
                } else {
                    // The rows this answer was to extend are gone (the view
                    // changed since it asked): a newer question follows.
                    return;
                }
                compose(&cv, &d, &tokens, focus);
                link2.painted(len);
            });
        });
    }

    // Wheel zoom around the pointer (a non-passive listener, so the page does not scroll).
    {
        let (canvas, window) = (canvas.clone(), window.clone());
        use_effect_with((len, win), move |_| {
            let cv = canvas.cast::<HtmlCanvasElement>();
            let handler = Closure::<dyn FnMut(WheelEvent)>::new({
                let cv = cv.clone();
                move |e: WheelEvent| {
                    let Some(cv) = &cv else { return };
                    e.prevent_default();
                    let r = cv.get_bounding_client_rect();
                    let s = SIZE / r.width().max(1.0);
                    let fx = (((e.client_x() as f64 - r.left()) * s - MARGIN) / PLOT).clamp(0.0, 1.0);
                    let fy = (((e.client_y() as f64 - r.top()) * s - MARGIN) / PLOT).clamp(0.0, 1.0);
                    window.set(zoom(win, len, if e.delta_y() < 0.0 { 0.7 } else { 1.0 / 0.7 }, fy, fx));
                }
            });
            if let Some(cv) = &cv {
                let opts = web_sys::AddEventListenerOptions::new();
                opts.set_passive(false);
                let _ = cv.add_event_listener_with_callback_and_add_event_listener_options("wheel", handler.as_ref().unchecked_ref(), &opts);
            }
            move || {
                if let Some(cv) = cv {
                    let _ = cv.remove_event_listener_with_callback("wheel", handler.as_ref().unchecked_ref());
                }
                drop(handler);
            }
        });
    }

    let onmousedown = {
        let drag = drag.clone();
        Callback::from(move |e: MouseEvent| *drag.borrow_mut() = Some((e.client_x() as f64, e.client_y() as f64, win, false)))
    };
    let onmousemove = {
        let (canvas, drawn, hover, drag, window) = (canvas.clone(), drawn.clone(), hover.clone(), drag.clone(), window.clone());
        Callback::from(move |e: MouseEvent| {
            let Some(cv) = canvas.cast::<HtmlCanvasElement>() else { return };
            if let Some((x0, y0, w0, moved)) = *drag.borrow() {
                let (dx, dy) = (e.client_x() as f64 - x0, e.client_y() as f64 - y0);
                if e.buttons() & 1 == 1 && (moved || dx.abs() + dy.abs() > 4.0) && w0.span < len {
                    let per_px = w0.span as f64 / (PLOT * cv.get_bounding_client_rect().width() / SIZE);
                    let shift = |at: usize, d: f64| (at as f64 - d * per_px).round().clamp(0.0, (len - w0.span) as f64) as usize;
                    window.set(Some(Window { r0: shift(w0.r0, dy), c0: shift(w0.c0, dx), span: w0.span }));
                    *drag.borrow_mut() = Some((x0, y0, w0, true));
                    return;
                }
            }
            let d = drawn.borrow();
            hover.set(cell_at(&cv, &d, &e).map(|(i, j)| (d.rows[i], d.cols[j], d.vals[i * d.cols.len() + j])));
        })
    };
    let onmouseup = {
        let (canvas, drawn, drag, on_focus) = (canvas.clone(), drawn.clone(), drag.clone(), p.on_focus.clone());
        Callback::from(move |e: MouseEvent| {
            let was = drag.borrow_mut().take();
            if matches!(was, Some((_, _, _, true))) {
                return;
            }
            let Some(cv) = canvas.cast::<HtmlCanvasElement>() else { return };
            let d = drawn.borrow();
            if let Some((i, _)) = cell_at(&cv, &d, &e) {
                on_focus.emit(Some(d.rows[i] as usize));
            }
        })
    };
    let onmouseleave = {
        let (hover, drag) = (hover.clone(), drag.clone());
        Callback::from(move |_| {
            hover.set(None);
            *drag.borrow_mut() = None;
        })
    };
    let tr = use_tr();
    let tip = match *hover {
        Some((q, k, w)) if (q as usize) < len && (k as usize) < len => {
            let (tq, tk) = (format!("{:?}", visible(&p.tokens[q as usize])), format!("{:?}", visible(&p.tokens[k as usize])));
            let args = [("q", (q as usize).into()), ("tq", tq.into()), ("k", (k as usize).into()), ("tk", tk.into()), ("w", if p.diff { format!("{w:+.4}") } else { format!("{w:.4}") }.into())];
            tr.tf(if k > q { "cell-masked" } else { "cell" }, &args)
        }
        _ => tr.t("heatmap-help"),
    };
    let button = |label: &str, title: &str, to: Option<Window>, disabled: bool| {
        let window = window.clone();
        html! { <button class="zoom" title={tr.t(title)} aria-label={tr.t(title)} {disabled} onclick={Callback::from(move |_| window.set(to))}>{ tr.t(label) }</button> }
    };
    let shown = if len == 0 {
        String::new()
    } else {
        let step = win.stride();
        let range = tr.tf(
            "heatmap-window",
            &[("r0", win.r0.into()), ("r1", (win.r0 + win.span - 1).into()), ("c0", win.c0.into()), ("c1", (win.c0 + win.span - 1).into()), ("len", len.into())],
        );
        if step > 1 {
            format!("{range} · {}", tr.tf("heatmap-sampled", &[("step", step.into())]))
        } else {
            range
        }
    };
    let fit = window.is_none() || win.span >= len;
    html! {
        <div class="heatmap">
            <div class="zoombar">
                { button("zoom-in-label", "zoom-in", zoom(win, len, 0.5, 1.0, 1.0), win.span <= MIN_SPAN || len == 0) }
                { button("zoom-out-label", "zoom-out", zoom(win, len, 2.0, 1.0, 1.0), fit) }
                { button("fit-label", "fit", None, fit) }
                { button("end-label", "end", Some(Window { r0: len.saturating_sub(win.span), c0: len.saturating_sub(win.span), span: win.span }), fit) }
                <span class="muted" id="heatmap-window">{ shown }</span>
            </div>
            <canvas id="heatmap" ref={canvas} width={(SIZE * screen_scale()).to_string()} height={(SIZE * screen_scale()).to_string()} {onmousedown} {onmousemove} {onmouseup} {onmouseleave}
                    aria-label={tr.tf("heatmap-aria", &[("l", p.layer.into()), ("h", p.head.into())])}></canvas>
            <p id="attn-tooltip" class="tooltip" aria-live="polite">{ tip }</p>
        </div>
    }
}

/// The window after zooming by `factor` around the point at fractions
/// (fy, fx) of the plot; None when it covers everything.
fn zoom(w: Window, len: usize, factor: f64, fy: f64, fx: f64) -> Option<Window> {
    let span = ((w.span as f64 * factor).round() as usize).clamp(MIN_SPAN.min(len.max(1)), len.max(1));
    if span >= len {
        return None;
    }
    let at = |o: usize, f: f64| {
        let anchor = o as f64 + f * w.span as f64;
        (anchor - f * span as f64).round().clamp(0.0, (len - span) as f64) as usize
    };
    Some(Window { r0: at(w.r0, fy), c0: at(w.c0, fx), span })
}
