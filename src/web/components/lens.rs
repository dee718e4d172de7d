//! The logit lens: what the model would predict at each of the last
//! positions if it stopped after each layer (the residual stream through the
//! final RMSNorm and the output matrix, softmax over the whole vocabulary).
//! Rows are layers, columns positions; each cell is the top token, coloured
//! by its probability; hover for the top 5 and the token that came next.
//! The cell where the final answer first becomes the top token is marked.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use yew::prelude::*;

use crate::inspect::{parting_layer, Lens};
use crate::protocol::{Answer, Query, Side};
use crate::web::components::colors::weight_rgb;
use crate::web::components::{use_ask_on, use_tr, visible};
use crate::web::link::Link;

/// Positions shown: the newest ones.
pub const COLUMNS: usize = 24;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub link: Link,
    pub tokens: Rc<Vec<String>>,
    pub epoch: u64,
    pub busy: bool,
    /// The model's layers.
    pub layers: usize,
    /// For the PNG's caption.
    pub model: String,
    pub prompt: String,
    /// Compare mode: B's tokens (None outside it).
    #[prop_or_default]
    pub b_tokens: Option<Rc<Vec<String>>>,
}

#[derive(Properties, PartialEq)]
struct CompareProps {
    link: Link,
    a: Rc<Vec<String>>,
    b: Rc<Vec<String>>,
    epoch: u64,
    busy: bool,
}

/// Compare mode: the lens at A's last position beside B's, layer by
/// layer, with the layer where their predictions part marked.
#[function_component(LensCompare)]
fn lens_compare(p: &CompareProps) -> Html {
    let tr = use_tr();
    let (na, nb) = (p.a.len(), p.b.len());
    let last = |(n, _): &(usize, u64)| (*n > 0).then(|| Query::Lens { p0: n - 1, p1: *n, top: 3 });
    let got_a = use_ask_on(&p.link, Side::A, na, p.busy, (na, p.epoch), last);
    let got_b = use_ask_on(&p.link, Side::B, nb, p.busy, (nb, p.epoch), last);
    let side = |got: Option<Rc<((usize, u64), Answer)>>, n: usize| match got.as_deref() {
        Some(((len, e), Answer::Lens { lens, pieces })) if *len == n && *e == p.epoch && lens.len() == 1 => Some((lens[0].clone(), pieces.iter().cloned().collect::<HashMap<u32, String>>())),
        _ => None,
    };
    let (Some((a, pa)), Some((b, pb))) = (side(got_a, na), side(got_b, nb)) else {
        return html! { <p class="muted" id="lens-compare">{ tr.t("lens-compare-computing") }</p> };
    };
    let parts = parting_layer(&a, &b);
    let cell = |l: &crate::inspect::LensLayer, pieces: &HashMap<u32, String>| {
        let Some(t) = l.top.first() else { return html! { <td></td> } };
        let [r, g, bl] = weight_rgb(t.prob);
        let alts: Vec<String> = l.top.iter().map(|t| format!("{:?} {:.1}%", visible(pieces.get(&t.id).map(String::as_str).unwrap_or("?")), 100.0 * t.prob)).collect();
        html! {
            <td class="lcell" data-id={t.id.to_string()} title={alts.join("\n")}
                style={format!("background: rgb({r},{g},{bl}); color: {}", if t.prob > 0.35 { "#fff" } else { "#1d2330" })}>
                { visible(pieces.get(&t.id).map(String::as_str).unwrap_or("?")).chars().take(8).collect::<String>() }
            </td>
        }
    };
    let rows = a.layers.iter().zip(&b.layers).enumerate().map(|(layer, (x, y))| {
        let same = x.top.first().map(|t| t.id) == y.top.first().map(|t| t.id);
        html! {
            <tr class={classes!((parts == Some(layer)).then_some("parts"))} data-layer={layer.to_string()}>
                <th class="num">{ layer }</th>{ cell(x, &pa) }{ cell(y, &pb) }<td class="muted">{ if same { "=" } else { "≠" } }</td>
            </tr>
        }
    });
    let last_text = |t: &Rc<Vec<String>>| t.last().map(|s| visible(s)).unwrap_or_default();
    let summary = match parts {
        Some(l) => tr.tf("lens-compare-parts", &[("l", l.into())]),
        None => tr.t("lens-compare-agree"),
    };
    html! {
        <div class="lens lens-compare" id="lens-compare" data-parts-at={parts.map_or("none".to_string(), |l| l.to_string())}>
            <h3>{ tr.t("lens-compare") }</h3>
            <p class="muted">{ summary }</p>
            <div class="lens-scroll">
                <table aria-label={tr.t("lens-compare")}>
                    <thead><tr><th>{ tr.t("lens-layer") }</th><th>{ format!("A · {:?}", last_text(&p.a)) }</th><th>{ format!("B · {:?}", last_text(&p.b)) }</th><th></th></tr></thead>
                    <tbody>{ for rows }</tbody>
                </table>
            </div>
        </div>
    }
}

/// The lens table drawn into a canvas at 2×, with its caption, as a PNG.
fn export_png(lens: &[&Lens], tokens: &[String], pieces: &HashMap<u32, String>, lines: &[String]) {
    use wasm_bindgen::JsCast;
    let (cw, ch, left, top) = (52.0, 15.0, 34.0, 20.0);
    let n_layers = lens.first().map_or(0, |l| l.layers.len());
    let (w, h) = (left + cw * lens.len() as f64, top + ch * n_layers as f64);
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let Some(src) = doc.create_element("canvas").ok().and_then(|c| c.dyn_into::<web_sys::HtmlCanvasElement>().ok()) else { return };
    src.set_width((w * 2.0) as u32);
    src.set_height((h * 2.0) as u32);
    let Some(ctx) = crate::web::components::canvas::context(&src) else { return };
    let _ = ctx.scale(2.0, 2.0);
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, w, h);
    ctx.set_font("10px ui-monospace, Menlo, Consolas, monospace");
    ctx.set_text_baseline("middle");
    let short = |s: String| s.chars().take(6).collect::<String>();
    ctx.set_fill_style_str("#1d2330");
    for (c, l) in lens.iter().enumerate() {
        let _ = ctx.fill_text(&short(tokens.get(l.pos).map(|t| visible(t)).unwrap_or_default()), left + cw * c as f64 + 2.0, top / 2.0);
    }
    for layer in 0..n_layers {
        ctx.set_fill_style_str("#1d2330");
        let _ = ctx.fill_text(&layer.to_string(), 4.0, top + ch * (layer as f64 + 0.5));
        for (c, l) in lens.iter().enumerate() {
            let Some(t) = l.layers[layer].top.first() else { continue };
            let [r, g, b] = weight_rgb(t.prob);
            ctx.set_fill_style_str(&format!("rgb({r},{g},{b})"));
            ctx.fill_rect(left + cw * c as f64, top + ch * layer as f64, cw - 1.0, ch - 1.0);
            ctx.set_fill_style_str(if t.prob > 0.35 { "#fff" } else { "#1d2330" });
            let _ = ctx.fill_text(&short(visible(pieces.get(&t.id).map(String::as_str).unwrap_or("?"))), left + cw * c as f64 + 2.0, top + ch * (layer as f64 + 0.5));
        }
    }
    crate::web::components::export::png_figure(&src, (w, h, 0.0, 0.0), lines, "glassbox-logit-lens.png", |_| {});
}

#[function_component(LensView)]
pub fn lens_view(p: &Props) -> Html {
    let tr = use_tr();
    let len = p.tokens.len();
    let p0 = len.saturating_sub(COLUMNS);
    // Lenses already computed, by position, for this epoch of the sequence:
    // a position's lens never changes while the sequence only grows, so a
    // step asks for the new position alone.
    let held = use_mut_ref(|| (u64::MAX, BTreeMap::<usize, Lens>::new(), HashMap::<u32, String>::new()));
    let version = use_state(|| 0u64);
    let latest = use_memo((), |_| Rc::new(Cell::new(0u32)));
    {
        let (held, version, latest, link, epoch, busy) = (held.clone(), version.clone(), (*latest).clone(), p.link.clone(), p.epoch, p.busy);
        use_effect_with((len, epoch, busy), move |_| {
            if held.borrow().0 != epoch {
                *held.borrow_mut() = (epoch, BTreeMap::new(), HashMap::new());
            }
            let first = (p0..len).find(|q| !held.borrow().1.contains_key(q));
            let (Some(first), false) = (first, busy) else { return };
            let (mine, id_cell) = (latest.clone(), Rc::new(Cell::new(0u32)));
            let id_in = id_cell.clone();
            let id = link.ask(
                len,
                Query::Lens { p0: first, p1: len, top: 5 },
                Callback::from(move |(a, _): (Answer, Option<Vec<f32>>)| {
                    if mine.get() != id_in.get() {
                        return;
                    }
                    if let Answer::Lens { lens, pieces } = a {
                        let mut h = held.borrow_mut();
                        if h.0 == epoch {
                            h.1.extend(lens.into_iter().map(|l| (l.pos, l)));
                            h.2.extend(pieces);
                            version.set(*version + 1);
                        }
                    }
                }),
            );
            id_cell.set(id);
            latest.set(id);
        });
    }
    let held = held.borrow();
    let lens: Vec<&Lens> = held.1.range(p0..len).map(|(_, l)| l).collect();
    if lens.is_empty() {
        return html! { <p class="muted" id="lens">{ if len == 0 { tr.t("lens-empty") } else { tr.tf("lens-computing", &[("layers", p.layers.into())]) } }</p> };
    }
    let q0 = lens[0].pos;
    let pieces = &held.2;
    let text = |id: u32| visible(pieces.get(&id).map(String::as_str).unwrap_or("?"));
    let n_layers = lens.first().map_or(0, |l| l.layers.len());
    // Per position: the first layer whose top token is the final layer's.
    let first: Vec<Option<usize>> = lens
        .iter()
        .map(|l: &&Lens| {
            let last = l.layers.last()?.top.first()?.id;
            l.layers.iter().position(|x| x.top.first().map(|t| t.id) == Some(last))
        })
        .collect();
    let header = lens.iter().map(|l| html! { <th class="ctext" title={tr.tf("position-n", &[("pos", l.pos.into())])}>{ p.tokens.get(l.pos).map(|t| visible(t)).unwrap_or_default() }</th> });
    let rows = (0..n_layers).map(|layer| {
        let cells = lens.iter().enumerate().map(|(c, l)| {
            let x = &l.layers[layer];
            let Some(top) = x.top.first() else { return html! { <td></td> } };
            let [r, g, b] = weight_rgb(top.prob);
            let dark = top.prob > 0.35;
            let mut tip: Vec<String> = x.top.iter().map(|t| format!("{:?} {:.1}%", text(t.id), 100.0 * t.prob)).collect();
            if let Some(n) = &x.next {
                tip.push(tr.tf("lens-next", &[("tok", format!("{:?}", text(n.id)).into()), ("p", format!("{:.2}", 100.0 * n.prob).into()), ("rank", (n.rank + 1).into())]));
            }
            html! {
                <td class={classes!("lcell", (first[c] == Some(layer)).then_some("first"))} data-layer={layer.to_string()} data-pos={l.pos.to_string()} data-id={top.id.to_string()}
                    style={format!("background: rgb({r},{g},{b}); color: {}", if dark { "#fff" } else { "#1d2330" })}
                    title={format!("{}\n{}", tr.tf("lens-cell", &[("l", layer.into()), ("pos", l.pos.into())]), tip.join("\n"))}>
                    { text(top.id).chars().take(6).collect::<String>() }
                </td>
            }
        });
        html! { <tr><th class="num">{ layer }</th>{ for cells }</tr> }
    });
    let export = {
        let (lens_owned, tokens, pieces, lines) = (
            lens.iter().map(|l| (*l).clone()).collect::<Vec<Lens>>(),
            p.tokens.clone(),
            held.2.clone(),
            crate::web::components::export::caption(&p.model, &p.prompt, &tr.t("tab-lens")),
        );
        Callback::from(move |_| export_png(&lens_owned.iter().collect::<Vec<_>>(), &tokens, &pieces, &lines))
    };
    let compare = p.b_tokens.clone().filter(|b| !b.is_empty()).map(|b| html! { <LensCompare link={p.link.clone()} a={p.tokens.clone()} {b} epoch={p.epoch} busy={p.busy} /> });
    html! {
        <>
        { for compare }
        <div class="lens" id="lens">
            <div class="row exports"><span class="muted">{ tr.t("export") }</span><button id="export-lens" onclick={export}>{ "PNG" }</button></div>
            <p class="muted">{ tr.tf("lens-info", &[("p0", q0.into()), ("p1", (q0 + lens.len().max(1) - 1).into())]) }</p>
            <div class="lens-scroll">
                <table aria-label={tr.t("lens-aria")}>
                    <thead><tr><th>{ tr.t("lens-layer") }</th>{ for header }</tr></thead>
                    <tbody>{ for rows }</tbody>
                </table>
            </div>
        </div>
        </>
    }
}
