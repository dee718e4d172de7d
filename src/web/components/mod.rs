//! One component per file. Components read state through props and talk to
//! the engine only through `Link`: messages that change the session, and
//! questions (`Link::ask`) for the numbers a view draws.

pub mod attention;
pub mod attribution;
pub mod beam_tree;
pub mod branches;
pub mod candidates;
pub mod canvas;
pub mod colors;
pub mod controls;
pub mod export;
pub mod flow;
pub mod grid;
pub mod heatmap;
pub mod hud;
pub mod inside;
pub mod lens;
pub mod lines;
pub mod map;
pub mod math;
pub mod model_bar;
pub mod patch;
pub mod residual;
pub mod roles;
pub mod session_bar;
pub mod status;
pub mod tokens;
pub mod tour;

use std::cell::Cell;
use std::rc::Rc;

use yew::prelude::*;

use crate::inspect::MapRequest;
use crate::protocol::{Answer, Query, Side};
use crate::web::link::Link;
use crate::web::state::State;

pub use crate::i18n::Tr;

/// The current language's messages.
#[hook]
pub fn use_tr() -> Tr {
    use_context::<Tr>().expect("the app provides the message catalogue")
}

/// Props shared by most components.
#[derive(Properties, PartialEq, Clone)]
pub struct StateProps {
    pub state: UseReducerHandle<State>,
    #[prop_or_default]
    pub link: Option<Link>,
}

/// A token's text with whitespace made visible (· space, ↵ newline, → tab).
pub fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' ' => '·',
            '\n' => '↵',
            '\t' => '→',
            '\r' => '␍',
            c => c,
        })
        .collect()
}

/// What the one-head views (heatmap, lines, math) need: the sequence, which
/// head, and which query token is in focus. They ask the worker for weights.
#[derive(Properties, PartialEq, Clone)]
pub struct HeadProps {
    pub link: Link,
    pub tokens: Rc<Vec<String>>,
    /// See `State::epoch`.
    pub epoch: u64,
    /// A request that changes the sequence is in flight: wait for it.
    pub busy: bool,
    pub layer: usize,
    pub head: usize,
    /// Query heads per KV head.
    pub group: usize,
    pub head_dim: usize,
    pub focus: Option<usize>,
    #[prop_or_default]
    pub on_focus: Callback<Option<usize>>,
    /// Compare mode: whose sequence (`tokens` are that side's).
    #[prop_or_default]
    pub side: Side,
    /// Compare mode, the heatmap: B − A (both sides have `tokens.len()` tokens).
    #[prop_or_default]
    pub diff: bool,
}

/// Ask for attention weights on behalf of a view. Only the view's latest
/// question is answered (`latest` holds its id): an answer to an older one,
/// or to a sequence that has changed since, is dropped, and the view asks
/// again when its props change.
pub fn ask_maps(link: &Link, latest: &Rc<Cell<u32>>, len: usize, req: MapRequest, on: impl Fn(Vec<f32>) + 'static) {
    ask_maps_on(link, Side::A, latest, len, req, on)
}

/// `ask_maps` about compare mode's sequence `side`.
pub fn ask_maps_on(link: &Link, side: Side, latest: &Rc<Cell<u32>>, len: usize, req: MapRequest, on: impl Fn(Vec<f32>) + 'static) {
    let mine = latest.clone();
    let link2 = link.clone();
    let id_cell = Rc::new(Cell::new(0u32));
    let id_in = id_cell.clone();
    let id = link.ask_on(
        side,
        len,
        Query::Maps(req),
        Callback::from(move |(answer, floats): (Answer, Option<Vec<f32>>)| {
            if mine.get() != id_in.get() {
                return;
            }
            match (answer, floats) {
                (Answer::Maps { .. }, Some(f)) => on(f),
                // Shown, not only logged: the view cannot draw what it was asked for.
                (Answer::Failed { message }, _) => {
                    let msg = link2.tr().map_or_else(|| message.clone(), |tr| tr.tf("map-failed", &[("why", message.as_str().into())]));
                    link2.act(crate::web::state::Action::Fail(msg));
                }
                _ => {}
            }
        }),
    );
    id_cell.set(id);
    latest.set(id);
}

/// The focused query of the one-head views: the chosen token, else the last.
pub fn focused(p: &HeadProps) -> Option<usize> {
    let n = p.tokens.len();
    (n > 0).then(|| p.focus.filter(|&f| f < n).unwrap_or(n - 1))
}

/// One query's weights: (query, key positions, weights).
pub type Row = Rc<(usize, Vec<u32>, Vec<f32>)>;

/// One query's weights over `cols`, asked of the worker whenever the head,
/// the query, the columns or the sequence change. None until they arrive
/// (the previous answer is kept meanwhile, so the view does not flicker).
#[hook]
pub fn use_row(p: &HeadProps, q: Option<usize>, cols: Vec<u32>, report: bool) -> Option<Row> {
    let row = use_state(|| None::<Row>);
    let latest = use_memo((), |_| Rc::new(Cell::new(0u32)));
    {
        let (row, latest, link, len, busy) = (row.clone(), (*latest).clone(), p.link.clone(), p.tokens.len(), p.busy);
        let (layer, head, side) = (p.layer, p.head, p.side);
        use_effect_with((len, p.epoch, layer, head, q, cols, busy, side), move |(_, _, _, _, q, cols, busy, _)| {
            let Some(q) = *q else {
                latest.set(0); // an answer on its way is for what was shown before
                row.set(None);
                return;
            };
            if *busy || cols.is_empty() {
                return;
            }
            let cols2 = cols.clone();
            let link2 = link.clone();
            ask_maps_on(&link, side, &latest, len, MapRequest { heads: vec![(layer, head)], rows: vec![q as u32], cols: cols.clone() }, move |w| {
                row.set(Some(Rc::new((q, cols2.clone(), w))));
                if report {
                    link2.painted(len);
                }
            });
        });
    }
    (*row).clone()
}

/// During Play, a view other than the attention row asks about a new token
/// at most this often (ms).
pub const PLAY_MS: f64 = 250.0;

/// Ask the worker `query(&key)` whenever `key` or the sequence changes (and
/// nothing that changes the sequence is in flight); the latest answer with
/// the key it was for. Stale answers are dropped (the view asks again).
#[hook]
pub fn use_ask<K, F>(link: &Link, len: usize, busy: bool, key: K, query: F) -> Option<Rc<(K, Answer)>>
where
    K: PartialEq + Clone + 'static,
    F: Fn(&K) -> Option<Query> + 'static,
{
    use_ask_as(link, (Side::A, len), busy, key, query, |a, _| a)
}

/// `use_ask` about compare mode's sequence `side` (of `len` tokens).
#[hook]
pub fn use_ask_on<K, F>(link: &Link, side: Side, len: usize, busy: bool, key: K, query: F) -> Option<Rc<(K, Answer)>>
where
    K: PartialEq + Clone + 'static,
    F: Fn(&K) -> Option<Query> + 'static,
{
    use_ask_as(link, (side, len), busy, key, query, |a, _| a)
}

/// `use_ask`, asked at once rather than after the attention views'
/// questions: during Play a question asked later lands behind the next
/// step and is stale. For a cheap question asked at every step (the map).
#[hook]
pub fn use_ask_now<K, F>(link: &Link, len: usize, busy: bool, key: K, query: F) -> Option<Rc<(K, Answer)>>
where
    K: PartialEq + Clone + 'static,
    F: Fn(&K) -> Option<Query> + 'static,
{
    use_ask_with(link, (Side::A, len), busy, key, query, |a, _| a, true)
}

/// An answer and the floats that came beside it.
pub type WithFloats = (Answer, Option<Vec<f32>>);

/// `use_ask` for an answer with floats beside it (kept with the answer).
#[hook]
pub fn use_ask_floats<K, F>(link: &Link, len: usize, busy: bool, key: K, query: F) -> Option<Rc<(K, WithFloats)>>
where
    K: PartialEq + Clone + 'static,
    F: Fn(&K) -> Option<Query> + 'static,
{
    use_ask_as(link, (Side::A, len), busy, key, query, |a, f| (a, f))
}

/// The one way views ask, about `side`'s sequence of `len` tokens: `keep`
/// makes what is kept of an answer.
#[hook]
fn use_ask_as<K, F, T>(link: &Link, at: (Side, usize), busy: bool, key: K, query: F, keep: fn(Answer, Option<Vec<f32>>) -> T) -> Option<Rc<(K, T)>>
where
    K: PartialEq + Clone + 'static,
    F: Fn(&K) -> Option<Query> + 'static,
    T: 'static,
{
    use_ask_with(link, at, busy, key, query, keep, false)
}

/// `use_ask_as`, asked on a timer or (`now`) at once.
#[allow(clippy::too_many_arguments)]
#[hook]
fn use_ask_with<K, F, T>(link: &Link, at: (Side, usize), busy: bool, key: K, query: F, keep: fn(Answer, Option<Vec<f32>>) -> T, now: bool) -> Option<Rc<(K, T)>>
where
    K: PartialEq + Clone + 'static,
    F: Fn(&K) -> Option<Query> + 'static,
    T: 'static,
{
    let (side, len) = at;
    let got = use_state(|| None::<Rc<(K, T)>>);
    let latest = use_memo((), |_| Rc::new(Cell::new(0u32)));
    // During Play these views (all but the attention row a step waits for)
    // ask about a new token at most every PLAY_MS: each answer is a redraw
    // on the page's thread, which on two cores is the engine's too, and
    // nobody reads that fast. What they asked last stays the question (its
    // key too: the newest position is in most keys) until PLAY_MS have
    // passed; once Play stops, the next render asks about what is shown.
    // (The map, asked `now`, keeps its own pace.)
    let (key, len) = {
        let last = use_mut_ref(|| None::<(f64, K, usize)>);
        let mut l = last.borrow_mut();
        let now_ms = js_sys::Date::now();
        match &*l {
            Some((t, k, n)) if !now && link.control().playing && now_ms - t < PLAY_MS && *n <= len => (k.clone(), *n),
            Some((_, k, n)) if *k == key && *n == len => (key, len),
            _ => {
                *l = Some((now_ms, key.clone(), len));
                (key, len)
            }
        }
    };
    {
        let (got, latest, link) = (got.clone(), (*latest).clone(), link.clone());
        // A question about the model alone is asked again only when its key
        // changes, not at every step.
        let follows = query(&key).is_none_or(|q| q.follows_sequence());
        let deps = if follows { (key, len, busy) } else { (key, 0, false) };
        use_effect_with(deps, move |(key, _, busy)| {
            let Some(q) = query(key) else {
                latest.set(0); // an answer on its way is for what was shown before
                got.set(None);
                return;
            };
            if *busy {
                return;
            }
            // Asked on a timer, after the attention views' own questions of
            // this render: the view a step is waiting for is answered first.
            let (mine, k) = (latest.clone(), key.clone());
            let ask = move || {
                let id_cell = Rc::new(Cell::new(0u32));
                let id_in = id_cell.clone();
                let id = link.ask_on(
                    side,
                    len,
                    q,
                    Callback::from(move |(a, floats): (Answer, Option<Vec<f32>>)| {
                        if mine.get() == id_in.get() && a != Answer::Stale {
                            got.set(Some(Rc::new((k.clone(), keep(a, floats)))));
                        }
                    }),
                );
                id_cell.set(id);
                latest.set(id);
            };
            if now {
                ask();
                return;
            }
            let cb = wasm_bindgen::closure::Closure::once_into_js(ask);
            if let Some(w) = web_sys::window() {
                use wasm_bindgen::JsCast;
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 0);
            }
        });
    }
    (*got).clone()
}

/// A vector as a strip of coloured cells (orange positive, blue negative,
/// strength ∝ |value| / scale), each value on hover. Long vectors wrap in
/// rows of 64.
pub fn strip(values: &[f32], scale: f32, label: &str) -> Html {
    html! { <Strip values={values.to_vec()} {scale} label={AttrValue::from(label.to_string())} /> }
}

/// The cells of a strip as RGBA pixels
/// (one pixel a cell, `cols` a row; cells past the end stay transparent).
pub fn strip_pixels(values: &[f32], scale: f32, cols: usize) -> Vec<u8> {
    let scale = scale.max(1e-12);
    let rows = values.len().div_ceil(cols.max(1)).max(1);
    let mut px = vec![0u8; rows * cols * 4];
    for (i, &v) in values.iter().enumerate() {
        let t = (v.abs() / scale).min(1.0);
        let (r, g, b) = if v >= 0.0 { (230.0, 110.0, 30.0) } else { (30.0, 90.0, 210.0) };
        let mix = |c: f64| (255.0 + (c - 255.0) * t as f64).round() as u8;
        px[i * 4..i * 4 + 4].copy_from_slice(&[mix(r), mix(g), mix(b), 255]);
    }
    px
}

#[derive(Properties, PartialEq)]
pub struct StripProps {
    pub values: Vec<f32>,
    pub scale: f32,
    pub label: AttrValue,
}

/// One canvas a strip, one pixel a cell, scaled up by CSS: the math of a
/// head draws two strips a key for every key shown, and a span a number
/// (thousands of elements, each with a formatted title) cost most of a
/// Play step's redraw. A canvas is drawn only when its numbers change; the
/// hovered cell's value is set as the canvas's title.
#[function_component(Strip)]
fn strip_view(p: &StripProps) -> Html {
    let canvas = use_node_ref();
    let n = p.values.len();
    let cols = n.clamp(1, 64);
    let rows = n.div_ceil(cols).max(1);
    {
        let canvas = canvas.clone();
        use_effect_with((p.values.clone(), p.scale.to_bits()), move |(values, scale)| {
            if let Some(c) = canvas.cast::<web_sys::HtmlCanvasElement>() {
                if let Some(ctx) = canvas::context(&c) {
                    ctx.clear_rect(0.0, 0.0, cols as f64, rows as f64);
                    canvas::put(&ctx, &strip_pixels(values, f32::from_bits(*scale), cols), cols, rows, 0.0, 0.0);
                }
            }
        });
    }
    let onmousemove = {
        let (values, label) = (p.values.clone(), p.label.clone());
        Callback::from(move |e: MouseEvent| {
            let Some(c) = e.target_dyn_into::<web_sys::HtmlCanvasElement>() else { return };
            let (w, h) = (c.client_width().max(1) as f64, c.client_height().max(1) as f64);
            let col = ((e.offset_x() as f64 / w * cols as f64) as usize).min(cols - 1);
            let row = ((e.offset_y() as f64 / h * rows as f64) as usize).min(rows - 1);
            let i = row * cols + col;
            let title = values.get(i).map_or(String::new(), |v| format!("{label}[{i}] = {v:.4}"));
            let _ = c.set_attribute("title", &title);
        })
    };
    html! {
        <span class={classes!("strip", (n > 64).then_some("wrap"))} role="img" aria-label={format!("{}: {} numbers", p.label, n)}>
            <canvas ref={canvas} width={cols.to_string()} height={rows.to_string()} style={format!("--c: {cols}; --r: {rows}")} {onmousemove}></canvas>
        </span>
    }
}
