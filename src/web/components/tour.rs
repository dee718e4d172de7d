//! A guided tour of a transformer on the live model, in the order of the
//! essay that inspired Glassbox: tokens, embeddings, q/k/v, the scaled dot
//! product, the causal mask, softmax, multi-head and grouped-query
//! attention, the heads' roles (find the induction heads), the feed-forward block, the residual stream, the output
//! logits, why this token (attribution), how information flowed, which part
//! carries the answer (activation patching), decoding; it starts on the map
//! of the whole model. Each stop points at the panel it talks about
//! (highlighted and scrolled into view), marks its place on the map, and
//! uses the numbers on screen. The
//! card never blocks the page; Next/Back/Close are buttons, Escape closes.
//!
//! A stop is one entry in `STOPS` plus its two messages (`tour-<id>-title`,
//! `tour-<id>`) in each catalogue: adding a view to the tour is one entry.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::i18n::{Arg, TOUR};
use crate::inspect::MapRequest;
use crate::web::components::{ask_maps, use_tr, visible};
use crate::web::link::Link;
use crate::roles::Role;
use crate::web::state::{Action, Inside, State, View};

/// One stop: its message id, the element it points at, and the views it opens.
pub struct Stop {
    pub id: &'static str,
    pub target: &'static str,
    pub view: Option<View>,
    pub inside: Option<Inside>,
    /// The grid coloured by this head role.
    pub role: Option<Role>,
    /// Its place on the map of the whole model (a selector; "{head}": the
    /// selected head's box, or the folded layers holding it).
    pub place: &'static str,
}

/// In the order of `i18n::TOUR` (whose ids the catalogue tests check).
pub const STOPS: &[Stop] = &[
    Stop { id: TOUR[0], target: "#map", view: None, inside: None, role: None, place: "#map-svg" },
    Stop { id: TOUR[1], target: "section.tokens", view: None, inside: None, role: None, place: "#map .map-input" },
    Stop { id: TOUR[2], target: "section.inside", view: None, inside: Some(Inside::Math), role: None, place: "#map .map-input .strip" },
    Stop { id: TOUR[3], target: "#math", view: None, inside: Some(Inside::Math), role: None, place: "{head}" },
    Stop { id: TOUR[4], target: "#math .mtable", view: None, inside: Some(Inside::Math), role: None, place: "{head}" },
    Stop { id: TOUR[5], target: "#heatmap", view: Some(View::Heatmap), inside: None, role: None, place: "{head}" },
    Stop { id: TOUR[6], target: "#heatmap", view: Some(View::Heatmap), inside: None, role: None, place: "{head}" },
    Stop { id: TOUR[7], target: "#grid", view: Some(View::Grid), inside: None, role: None, place: "{head}" },
    Stop { id: TOUR[8], target: "#role-panel", view: Some(View::Grid), inside: None, role: Some(Role::Induction), place: "{head}" },
    Stop { id: TOUR[9], target: "section.inside", view: None, inside: Some(Inside::Residual), role: None, place: "#map g.map-box.ffn" },
    Stop { id: TOUR[10], target: "section.inside", view: None, inside: Some(Inside::Lens), role: None, place: "#map .map-spine" },
    Stop { id: TOUR[11], target: "section.candidates", view: None, inside: None, role: None, place: "#map .map-output" },
    Stop { id: TOUR[12], target: "#attribution", view: None, inside: Some(Inside::Why), role: None, place: "#map-svg" },
    Stop { id: TOUR[13], target: "#flow", view: None, inside: Some(Inside::Flow), role: None, place: "#map .map-spine" },
    Stop { id: TOUR[14], target: "#patch", view: None, inside: Some(Inside::Patch), role: None, place: "#map .map-spine" },
    Stop { id: TOUR[15], target: "fieldset.decoding", view: None, inside: None, role: None, place: "#map .map-sampling" },
];

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
    pub link: Link,
}

thread_local! {
    /// The target the tour points at now: a retry for an older one stops.
    static POINTING: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Point at `target`: highlight it and bring it into view (and stop
/// pointing at the previous one). A panel still waiting for its numbers
/// (slow on a busy machine) may draw the element later: keep trying, for up
/// to two minutes, while the tour still points here.
fn point_at(target: &str) {
    POINTING.with(|p| *p.borrow_mut() = target.to_string());
    point_at_try(target.to_string(), 600);
}

fn point_at_try(target: String, tries: u32) {
    if POINTING.with(|p| *p.borrow() != target) {
        return;
    }
    if !point_at_now(&target) && tries > 0 {
        let cb = wasm_bindgen::closure::Closure::once_into_js(move || point_at_try(target, tries - 1));
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 200);
        }
    }
}

/// Mark a stop's place on the map (`tour-place`), the mark of the stop
/// before removed; none when the tour is closed. The map may still be
/// drawing: look again a few times.
fn mark_place(place: Option<&'static str>, layer: usize, head: usize, tries: u32) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    unmark(&doc, "tour-place");
    let Some(place) = place else { return };
    let found = if place == "{head}" {
        // The selected head's box, or the folded row its layer is in.
        doc.query_selector(&format!("#map g.map-box.head[data-layer=\"{layer}\"][data-head=\"{head}\"]")).ok().flatten().or_else(|| doc.query_selector("#map g.map-box.fold").ok().flatten())
    } else {
        doc.query_selector(place).ok().flatten()
    };
    match found {
        Some(el) => {
            let _ = el.class_list().add_1("tour-place");
        }
        None if tries > 0 => {
            let cb = wasm_bindgen::closure::Closure::once_into_js(move || mark_place(Some(place), layer, head, tries - 1));
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 200);
            }
        }
        None => {}
    }
}

/// Remove `class` from every element that has it.
fn unmark(doc: &web_sys::Document, class: &str) {
    if let Ok(list) = doc.query_selector_all(&format!(".{class}")) {
        for i in 0..list.length() {
            if let Some(el) = list.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok()) {
                let _ = el.class_list().remove_1(class);
            }
        }
    }
}

/// Whether the target was there.
fn point_at_now(target: &str) -> bool {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return true };
    unmark(&doc, "tour-target");
    match doc.query_selector(target) {
        Ok(Some(el)) => {
            let _ = el.class_list().add_1("tour-target");
            let opts = web_sys::ScrollIntoViewOptions::new();
            opts.set_block(web_sys::ScrollLogicalPosition::Center);
            el.scroll_into_view_with_scroll_into_view_options(&opts);
            true
        }
        _ => target.starts_with("#no-such"),
    }
}

#[function_component(Tour)]
pub fn tour(p: &Props) -> Html {
    let s = &p.state;
    let tr = use_tr();
    let at = s.views.tour;
    // The stop's own setup, then its target (once the views it opens are drawn).
    {
        let (link, view, inside, role, patched) = (p.link.clone(), s.views.view, s.views.inside, s.views.role, s.views.patch.is_some());
        use_effect_with(at, move |at| {
            if let Some(stop) = at.and_then(|i| STOPS.get(i)) {
                // The patching stop runs the example the card talks about (unless an experiment ran).
                if stop.inside == Some(Inside::Patch) && !patched {
                    let (clean, corrupt) = crate::patch::EXAMPLE;
                    link.act(Action::Patch(Some(crate::share::PatchPrompts { clean: clean.into(), corrupt: corrupt.into(), what: crate::patch::Site::Residual })));
                }
                if stop.role.is_some() && stop.role != role {
                    link.act(Action::Role(stop.role));
                }
                if let Some(v) = stop.view.filter(|&v| v != view) {
                    link.act(Action::View(v));
                }
                if let Some(v) = stop.inside.filter(|&v| v != inside) {
                    link.act(Action::Inside(v));
                }
            } else {
                point_at("#no-such-element");
            }
        });
    }
    {
        let target = at.and_then(|i| STOPS.get(i)).map(|s| s.target);
        use_effect_with((target, s.views.view, s.views.inside, s.ctl.tokens.len()), move |(t, _, _, _)| {
            if let Some(t) = t {
                point_at(t);
            }
        });
    }
    // The stop's place on the map, marked beside the panel it opens.
    {
        let place = at.and_then(|i| STOPS.get(i)).map(|s| s.place);
        let (l, h) = (s.views.layer, s.views.head);
        use_effect_with((place, l, h, s.ctl.tokens.len()), move |&(place, l, h, _)| mark_place(place, l, h, 15));
    }
    // The live numbers of the softmax stop: the last token's heaviest key in the selected head.
    let len = s.ctl.tokens.len();
    let heavy = use_state(|| None::<(usize, usize, f32)>); // (len, key, weight)
    let latest = use_memo((), |_| Rc::new(Cell::new(0u32)));
    {
        let (heavy, latest, link) = (heavy.clone(), (*latest).clone(), p.link.clone());
        let on = at.and_then(|i| STOPS.get(i)).is_some_and(|st| st.id == "softmax");
        use_effect_with((on, len, s.views.layer, s.views.head, s.ctl.epoch, s.ctl.busy()), move |&(on, len, l, h, _, busy)| {
            if on && len > 0 && !busy {
                let req = MapRequest { heads: vec![(l, h)], rows: vec![len as u32 - 1], cols: (0..len as u32).collect() };
                ask_maps(&link, &latest, len, req, move |w| {
                    let best = w.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1));
                    heavy.set(best.map(|(k, x)| (len, k, x)));
                });
            }
        });
    }
    let Some(i) = at else { return html! {} };
    let stop = &STOPS[i.min(STOPS.len() - 1)];
    let tok = |i: usize| s.ctl.tokens.get(i).map(|t| format!("{:?}", visible(&t.text))).unwrap_or_else(|| "–".into());
    let mut args: Vec<(&str, Arg)> = vec![
        ("n", s.ctl.tokens.len().into()),
        ("last", tok(s.ctl.tokens.len().saturating_sub(1)).into()),
        ("id", s.ctl.tokens.last().map_or(0, |t| t.id as usize).into()),
        ("heads", s.model.n_heads.into()),
        ("kv", s.model.n_kv_heads.into()),
        ("total", (s.model.n_layers * s.model.n_heads).into()),
        ("layers", s.model.n_layers.into()),
        ("d", s.model.head_dim.into()),
        ("l", s.views.layer.into()),
        ("h", s.views.head.into()),
        ("g", (s.views.head / (s.model.n_heads / s.model.n_kv_heads.max(1)).max(1)).into()),
        ("width", s.ctl.beam_opts.width.into()),
        ("dim", s.model.dim.into()),
        ("ffn", s.model.ffn_dim.into()),
        ("vocab", s.model.vocab.into()),
    ];
    match s.ctl.candidates.first() {
        Some(c) => {
            args.push(("top", format!("{:?}", visible(&c.text)).into()));
            args.push(("p", format!("{:.2}", c.prob).into()));
        }
        None => {
            args.push(("top", "–".into()));
            args.push(("p", "–".into()));
        }
    }
    let text = match (stop.id, *heavy) {
        ("softmax", Some((n, k, w))) if n == s.ctl.tokens.len() => {
            args.push(("w", format!("{w:.2}").into()));
            args.push(("key", tok(k).into()));
            tr.tf("tour-softmax", &args)
        }
        ("softmax", _) => tr.tf("tour-softmax-plain", &args),
        (id, _) => tr.tf(&format!("tour-{id}"), &args),
    };
    let go = |to: Option<usize>| {
        let link = p.link.clone();
        Callback::from(move |_| link.act(Action::Tour(to)))
    };
    html! {
        <aside class="tour" role="dialog" aria-modal="false" aria-labelledby="tour-title" id="tour">
            <div class="tour-head">
                <span class="muted">{ tr.tf("tour-counter", &[("i", (i + 1).into()), ("n", STOPS.len().into())]) }</span>
                <button class="tour-close" onclick={go(None)} aria-label={tr.t("tour-close")} title={tr.t("tour-close")}>{ "×" }</button>
            </div>
            <h3 id="tour-title">{ tr.t(&format!("tour-{}-title", stop.id)) }</h3>
            <p id="tour-text">{ text }</p>
            <div class="row">
                <button id="tour-back" onclick={go(i.checked_sub(1))} disabled={i == 0}>{ tr.t("tour-back") }</button>
                if i + 1 < STOPS.len() {
                    <button id="tour-next" onclick={go(Some(i + 1))}>{ tr.t("tour-next") }</button>
                } else {
                    <button id="tour-done" onclick={go(None)}>{ tr.t("tour-done") }</button>
                }
            </div>
        </aside>
    }
}
