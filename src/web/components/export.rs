//! Exports: figures for slides and numbers for notebooks. PNGs are drawn at
//! 2× with a caption (model, prompt, layer and head) inside the image; SVGs
//! keep their text as text; the attention matrix goes out as CSV or JSON
//! with the token texts.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};
use yew::prelude::*;

use crate::inspect::MapRequest;
use crate::web::components::{ask_maps, use_tr, visible};
use crate::web::link::Link;
use crate::web::download::{download, download_blob};

/// Caption lines under a figure: the model, the prompt (shortened), what the figure shows.
pub fn caption(model: &str, prompt: &str, what: &str) -> Vec<String> {
    let p: String = prompt.chars().take(90).collect();
    let more = if prompt.chars().count() > 90 { "…" } else { "" };
    vec![format!("{what} · {model}"), format!("“{p}{more}”")]
}

/// A new canvas of w × h layout pixels, drawn at 2×.
fn canvas_2x(w: f64, h: f64) -> Option<(HtmlCanvasElement, CanvasRenderingContext2d)> {
    let doc = web_sys::window()?.document()?;
    let c: HtmlCanvasElement = doc.create_element("canvas").ok()?.dyn_into().ok()?;
    c.set_width((w * 2.0) as u32);
    c.set_height((h * 2.0) as u32);
    let ctx: CanvasRenderingContext2d = c.get_context("2d").ok()??.dyn_into().ok()?;
    let _ = ctx.scale(2.0, 2.0);
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, w, h);
    Some((c, ctx))
}

/// Offer the canvas as a PNG download.
fn save_png(c: &HtmlCanvasElement, name: &str) {
    let name = name.to_string();
    let cb = Closure::once_into_js(move |blob: JsValue| {
        if let (Ok(blob), Some(doc)) = (blob.dyn_into::<web_sys::Blob>(), web_sys::window().and_then(|w| w.document())) {
            download_blob(&doc, &name, &blob);
        }
    });
    let _ = c.to_blob(cb.unchecked_ref());
}

/// `src` (its own pixels, already at 2×, or scaled up) with `left`/`top`
/// margins painted by `decorate` and the caption below, as a PNG.
/// `frame`: the figure's layout width and height, then its left and top margins.
pub fn png_figure(src: &HtmlCanvasElement, frame: (f64, f64, f64, f64), lines: &[String], name: &str, decorate: impl Fn(&CanvasRenderingContext2d)) {
    let (layout_w, layout_h, left, top) = frame;
    let h = top + layout_h + 14.0 + 16.0 * lines.len() as f64;
    let Some((c, ctx)) = canvas_2x(left + layout_w + 8.0, h) else { return };
    ctx.set_image_smoothing_enabled(false);
    let _ = ctx.draw_image_with_html_canvas_element_and_dw_and_dh(src, left, top, layout_w, layout_h);
    decorate(&ctx);
    ctx.set_fill_style_str("#1d2330");
    ctx.set_font("12px system-ui, sans-serif");
    ctx.set_text_align("left");
    ctx.set_text_baseline("alphabetic");
    for (i, l) in lines.iter().enumerate() {
        let _ = ctx.fill_text(l, 6.0, top + layout_h + 18.0 + 16.0 * i as f64);
    }
    save_png(&c, name);
}

/// The SVG element matching `selector` as a standalone document
/// (namespace, and the page's styles for it), with its layout size.
fn standalone_svg(selector: &str, css: &str) -> Option<(String, f64, f64)> {
    let doc = web_sys::window()?.document()?;
    let el = doc.query_selector(selector).ok()??;
    let (w, h) = (el.get_attribute("width")?.parse().ok()?, el.get_attribute("height")?.parse().ok()?);
    let copy: web_sys::Element = el.clone_node_with_deep(true).ok()?.dyn_into().ok()?;
    let _ = copy.set_attribute("xmlns", "http://www.w3.org/2000/svg");
    if let Ok(style) = doc.create_element_ns(Some("http://www.w3.org/2000/svg"), "style") {
        style.set_text_content(Some(css));
        let _ = copy.insert_before(&style, copy.first_child().as_ref());
    }
    Some((format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", copy.outer_html()), w, h))
}

/// The SVG element matching `selector`, standalone (namespace, fonts and
/// the page's styles for it), text kept as text.
pub fn save_svg(selector: &str, css: &str, name: &str) {
    if let Some((text, _, _)) = standalone_svg(selector, css) {
        download(name, "image/svg+xml", text.as_bytes());
    }
}

/// The SVG element matching `selector` drawn at 2× on white, with the
/// caption below, as a PNG.
pub fn svg_png(selector: &str, css: &str, lines: Vec<String>, name: &str) {
    let Some((text, w, h)) = standalone_svg(selector, css) else { return };
    let Ok(img) = web_sys::HtmlImageElement::new() else { return };
    let name = name.to_string();
    let img2 = img.clone();
    let onload = Closure::once_into_js(move || {
        let Some((c, ctx)) = canvas_2x(w + 12.0, h + 12.0 + 16.0 * lines.len() as f64 + 8.0) else { return };
        let _ = ctx.draw_image_with_html_image_element_and_dw_and_dh(&img2, 6.0, 6.0, w, h);
        ctx.set_fill_style_str("#1d2330");
        ctx.set_font("12px system-ui, sans-serif");
        for (i, l) in lines.iter().enumerate() {
            let _ = ctx.fill_text(l, 6.0, h + 12.0 + 16.0 * (i as f64 + 1.0));
        }
        save_png(&c, &name);
    });
    img.set_onload(Some(onload.unchecked_ref()));
    let url = format!("data:image/svg+xml;charset=utf-8,{}", String::from(js_sys::encode_uri_component(&text)));
    img.set_src(&url);
}

/// The styles a standalone SVG of the "why" views needs.
pub const WHY_CSS: &str = "text { font-family: system-ui, sans-serif; font-size: 10px; fill: #495057; }";

#[derive(Properties, PartialEq)]
pub struct DataProps {
    /// The figure's SVG (a selector; none: numbers only), its caption, and the file names' stem.
    #[prop_or_default]
    pub svg: Option<AttrValue>,
    pub caption: Vec<String>,
    pub stem: AttrValue,
    /// The numbers, made when a button is pressed.
    pub json: Callback<(), String>,
    pub csv: Callback<(), String>,
}

/// A figure's exports: PNG (2×, with its caption), SVG, and its numbers as CSV and JSON.
#[function_component(DataExports)]
pub fn data_exports(p: &DataProps) -> Html {
    let tr = use_tr();
    let (svg, stem) = (p.svg.as_ref().map(|s| s.to_string()).unwrap_or_default(), p.stem.to_string());
    let png = {
        let (svg, stem, caption) = (svg.clone(), stem.clone(), p.caption.clone());
        Callback::from(move |_| svg_png(&svg, WHY_CSS, caption.clone(), &format!("{stem}.png")))
    };
    let as_svg = {
        let (svg, stem) = (svg.clone(), stem.clone());
        Callback::from(move |_| save_svg(&svg, WHY_CSS, &format!("{stem}.svg")))
    };
    let data = |json: bool| {
        let (f, stem) = (if json { p.json.clone() } else { p.csv.clone() }, stem.clone());
        Callback::from(move |_| {
            let text = f.emit(());
            if json {
                download(&format!("{stem}.json"), "application/json", text.as_bytes());
            } else {
                download(&format!("{stem}.csv"), "text/csv", text.as_bytes());
            }
        })
    };
    html! {
        <div class="row exports" aria-label={tr.t("export")}>
            <span class="muted">{ tr.t("export") }</span>
            if p.svg.is_some() {
                <button onclick={png} data-export="png">{ "PNG" }</button>
                <button onclick={as_svg} data-export="svg">{ "SVG" }</button>
            }
            <button onclick={data(false)} data-export="csv">{ "CSV" }</button>
            <button onclick={data(true)} data-export="json">{ "JSON" }</button>
        </div>
    }
}

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One head's matrix as CSV: a header of key tokens, a row per query.
pub fn matrix_csv(tokens: &[String], w: &[f32]) -> String {
    let n = tokens.len();
    let mut out = String::from("query\\key");
    for (k, t) in tokens.iter().enumerate() {
        out.push(',');
        out.push_str(&csv_field(&format!("{k}:{t}")));
    }
    out.push('\n');
    for (q, t) in tokens.iter().enumerate() {
        out.push_str(&csv_field(&format!("{q}:{t}")));
        for k in 0..n {
            out.push_str(&format!(",{}", w[q * n + k]));
        }
        out.push('\n');
    }
    out
}

/// Most positions the "all heads" JSON takes (layers × heads × T² numbers).
pub const ALL_HEADS_MAX: usize = 128;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub link: Link,
    pub tokens: std::rc::Rc<Vec<String>>,
    pub model: String,
    pub prompt: String,
    pub layer: usize,
    pub head: usize,
    pub layers: usize,
    pub heads: usize,
    pub busy: bool,
    /// "heatmap", "grid" or "lines".
    pub view: String,
}

/// The attention panel's exports: the figure on screen, and the matrix.
#[function_component(ExportBar)]
pub fn export_bar(p: &Props) -> Html {
    let tr = use_tr();
    let latest = use_memo((), |_| std::rc::Rc::new(std::cell::Cell::new(0u32)));
    let n = p.tokens.len();
    let what = tr.tf("export-what", &[("l", p.layer.into()), ("h", p.head.into())]);
    let figure = {
        let (view, model, prompt, what, tr, layers, heads) = (p.view.clone(), p.model.clone(), p.prompt.clone(), what.clone(), tr.clone(), p.layers, p.heads);
        Callback::from(move |_| {
            let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
            match view.as_str() {
                "heatmap" => {
                    if let Some((c, size)) = crate::web::components::heatmap::render(2.0) {
                        png_figure(&c, (size, size, 0.0, 0.0), &caption(&model, &prompt, &what), "glassbox-heatmap.png", |_| {});
                    }
                }
                "grid" => {
                    if let Some(c) = doc.get_element_by_id("grid").and_then(|e| e.dyn_into::<HtmlCanvasElement>().ok()) {
                        // Thumbnails 2× their size, layer and head numbers in the margins.
                        let (w, h) = (c.width() as f64 * 2.0, c.height() as f64 * 2.0);
                        let (cw, ch) = (w / heads as f64, h / layers as f64);
                        let lines = caption(&model, &prompt, &tr.t("export-grid"));
                        png_figure(&c, (w, h, 28.0, 18.0), &lines, "glassbox-all-heads.png", |ctx| {
                            ctx.set_fill_style_str("#1d2330");
                            ctx.set_font("11px ui-monospace, monospace");
                            ctx.set_text_align("right");
                            ctx.set_text_baseline("middle");
                            for l in 0..layers {
                                let _ = ctx.fill_text(&l.to_string(), 24.0, 18.0 + (l as f64 + 0.45) * ch);
                            }
                            ctx.set_text_align("center");
                            for hd in 0..heads {
                                let _ = ctx.fill_text(&hd.to_string(), 28.0 + (hd as f64 + 0.45) * cw, 9.0);
                            }
                        });
                    }
                }
                _ => save_svg("#lines", "text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; } .ltok.on { font-weight: 700; fill: #e64980; }", "glassbox-lines.svg"),
            }
        })
    };
    let matrix = |json: bool, all: bool| {
        let (link, latest, tokens, model, prompt, layer, head, layers, heads) = (p.link.clone(), (*latest).clone(), p.tokens.clone(), p.model.clone(), p.prompt.clone(), p.layer, p.head, p.layers, p.heads);
        Callback::from(move |_| {
            let n = tokens.len();
            let pos: Vec<u32> = (0..n as u32).collect();
            let list: Vec<(usize, usize)> = if all { (0..layers).flat_map(|l| (0..heads).map(move |h| (l, h))).collect() } else { vec![(layer, head)] };
            let req = MapRequest { heads: list.clone(), rows: pos.clone(), cols: pos };
            let (tokens, model, prompt) = (tokens.clone(), model.clone(), prompt.clone());
            ask_maps(&link, &latest, n, req, move |w| {
                let texts: Vec<String> = tokens.iter().map(|t| visible(t)).collect();
                if json {
                    let maps: Vec<serde_json::Value> = list
                        .iter()
                        .enumerate()
                        .map(|(i, &(l, h))| {
                            let rows: Vec<&[f32]> = w[i * n * n..(i + 1) * n * n].chunks(n).collect();
                            serde_json::json!({"layer": l, "head": h, "weights": rows})
                        })
                        .collect();
                    let doc = serde_json::json!({"model": model, "prompt": prompt, "tokens": *tokens, "layout": "weights[query][key]; 0 above the diagonal (causal mask)", "maps": maps});
                    download(if all { "glassbox-attention-all.json" } else { "glassbox-attention.json" }, "application/json", doc.to_string().as_bytes());
                } else {
                    download("glassbox-attention.csv", "text/csv", matrix_csv(&texts, &w[..n * n]).as_bytes());
                }
            });
        })
    };
    let off = p.busy || n == 0;
    // One head's n × n matrix in one answer: past the limit, say so at the button.
    let max = crate::inspect::MapRequest::max_square();
    let too_long = n > max;
    let matrix_title = |id: &str| if too_long { tr.tf("export-too-long", &[("max", max.into())]) } else { tr.t(id) };
    html! {
        <div class="row exports" aria-label={tr.t("export")}>
            <span class="muted">{ tr.t("export") }</span>
            <button id="export-figure" onclick={figure} disabled={off}>{ if p.view == "lines" { "SVG" } else { "PNG" } }</button>
            <button id="export-csv" onclick={matrix(false, false)} disabled={off || too_long} title={matrix_title("export-csv-title")}>{ "CSV" }</button>
            <button id="export-json" onclick={matrix(true, false)} disabled={off || too_long} title={matrix_title("export-json-title")}>{ "JSON" }</button>
            <button id="export-json-all" onclick={matrix(true, true)} disabled={off || n > ALL_HEADS_MAX}
                    title={tr.tf("export-all-title", &[("max", ALL_HEADS_MAX.into())])}>{ tr.t("export-all") }</button>
        </div>
    }
}
