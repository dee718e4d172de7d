//! The attention panel: pickers (layer, query head — coloured by the KV head
//! it shares, which makes grouped-query attention visible; heads can be
//! switched off and on), the legend, and the three views.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::control::Intent;
use crate::web::components::colors::{diff_gradient, group_css, legend_gradient};
use crate::web::components::export::ExportBar;
use crate::web::components::grid::{Grid, CELL, GAP};
use crate::web::components::roles::{RoleBar, RoleOverlay, RolePanel};
use crate::web::components::heatmap::Heatmap;
use crate::web::components::lines::Lines;
use crate::web::components::{use_tr, HeadProps};
use crate::web::link::Link;
use crate::web::state::{Action, Shown, State, View};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
    pub link: Link,
}

/// The props of the one-head views, from the state.
pub fn head_props(s: &State, link: &Link) -> HeadProps {
    let on_focus = {
        let link = link.clone();
        Callback::from(move |f: Option<usize>| link.act(Action::Focus(f)))
    };
    HeadProps {
        link: link.clone(),
        tokens: Rc::new(s.ctl.tokens.iter().map(|t| t.text.clone()).collect()),
        epoch: s.ctl.epoch,
        // (During Play, the views ask about what they show while the next
        // step is computed: see Control::views_wait.)
        busy: s.ctl.views_wait(),
        layer: s.views.layer,
        head: s.views.head,
        group: (s.model.n_heads / s.model.n_kv_heads.max(1)).max(1),
        head_dim: s.model.head_dim,
        focus: s.views.focus,
        on_focus,
        side: crate::protocol::Side::A,
        diff: false,
    }
}

/// Compare mode: what the one-head attention views show (A, B, or B − A
/// when both sequences have as many tokens; else A), and the props for it.
fn shown_props(s: &State, link: &Link) -> (Shown, HeadProps) {
    let a = head_props(s, link);
    if s.ctl.compare.is_none() || s.ctl.b.tokens.is_empty() {
        return (Shown::A, a);
    }
    match s.views.shown {
        Shown::A => (Shown::A, a),
        Shown::B => {
            // B's positions: the focus is A's, unless it is one of B's too.
            let tokens = Rc::new(s.ctl.b.tokens.iter().map(|t| t.text.clone()).collect::<Vec<_>>());
            (Shown::B, HeadProps { tokens, side: crate::protocol::Side::B, ..a })
        }
        Shown::Diff if s.ctl.b.tokens.len() == s.ctl.tokens.len() && s.views.view == View::Heatmap => (Shown::Diff, HeadProps { diff: true, ..a }),
        Shown::Diff => (Shown::A, a),
    }
}

/// Switch one head off or back on (the worker recomputes the sequence).
pub fn toggle_head(s: &State, link: &Link, lh: (usize, usize)) {
    let mut off = s.ctl.ablation.clone();
    match off.iter().position(|&x| x == lh) {
        Some(i) => {
            off.remove(i);
        }
        None => off.push(lh),
    }
    link.intent(Intent::Ablate(off));
}

#[function_component(AttentionPanel)]
pub fn attention_panel(p: &Props) -> Html {
    let s = &p.state;
    let tr = use_tr();
    let link = p.link.clone();
    if s.model.n_layers == 0 {
        return html! { <section class="attention"><h2>{ tr.t("attention") }</h2><p class="muted">{ tr.t("loading") }</p></section> };
    }
    let group = (s.model.n_heads / s.model.n_kv_heads.max(1)).max(1);
    let tab = |v: View, label: &str| {
        let link = link.clone();
        html! {
            <button role="tab" aria-selected={(s.views.view == v).to_string()} class={classes!("tab", (s.views.view == v).then_some("on"))}
                    onclick={Callback::from(move |_| link.act(Action::View(v)))}>{ tr.t(label) }</button>
        }
    };
    let on_layer = {
        let (link, head) = (link.clone(), s.views.head);
        Callback::from(move |e: Event| {
            let v = e.target().and_then(|t| t.dyn_into::<HtmlSelectElement>().ok()).map(|t| t.value()).unwrap_or_default();
            if let Ok(layer) = v.parse() {
                link.act(Action::Select { layer, head });
            }
        })
    };
    let is_off = |l: usize, h: usize| s.ctl.ablation.contains(&(l, h));
    let heads = (0..s.model.n_heads).map(|h| {
        let (link, layer) = (link.clone(), s.views.layer);
        let g = h / group;
        let off = is_off(layer, h);
        html! {
            <button class={classes!("head", (h == s.views.head).then_some("on"), off.then_some("off"))} style={format!("border-color: {}", group_css(g))}
                    title={format!("{}{}", tr.tf("head-title", &[("h", h.into()), ("g", g.into())]), if off { format!(" · {}", tr.t("switched-off")) } else { String::new() })}
                    aria-label={tr.tf("head-aria", &[("h", h.into())])}
                    onclick={Callback::from(move |_| link.act(Action::Select { layer, head: h }))}>
                { h.to_string() }<sub style={format!("color: {}", group_css(g))}>{ format!("kv{g}") }</sub>
            </button>
        }
    });
    let on_select = {
        let link = link.clone();
        Callback::from(move |(layer, head): (usize, usize)| {
            link.act(Action::Select { layer, head });
            link.act(Action::View(View::Heatmap));
        })
    };
    let on_toggle = {
        let (link, st) = (link.clone(), s.clone());
        Callback::from(move |lh: (usize, usize)| toggle_head(&st, &link, lh))
    };
    let selected_off = is_off(s.views.layer, s.views.head);
    let can_change = !s.ctl.busy() && !s.ctl.playing;
    let toggle_selected = {
        let (on_toggle, lh) = (on_toggle.clone(), (s.views.layer, s.views.head));
        Callback::from(move |_| on_toggle.emit(lh))
    };
    let restore = {
        let link = link.clone();
        Callback::from(move |_| link.intent(Intent::Ablate(Vec::new())))
    };
    let (shown, head_props) = shown_props(s, &link);
    let compare = s.ctl.compare.is_some() && !s.ctl.b.tokens.is_empty();
    let same_len = s.ctl.b.tokens.len() == s.ctl.tokens.len();
    let side_tab = |v: Shown, label: &str, enabled: bool| {
        let link = link.clone();
        html! {
            <button role="tab" aria-selected={(shown == v).to_string()} class={classes!("tab", (shown == v).then_some("on"))} disabled={!enabled}
                    data-shown={label.to_string()} onclick={Callback::from(move |_| link.act(Action::Shown(v)))}>{ tr.t(label) }</button>
        }
    };
    let view_name = match s.views.view {
        View::Heatmap => "heatmap",
        View::Grid => "grid",
        View::Lines => "lines",
    };
    html! {
        <section class="attention" aria-label={tr.t("attention")}>
            <h2>{ tr.t("attention") }{ " " }<span class="muted">{ tr.tf("attention-formula", &[("d", s.model.head_dim.into())]) }</span></h2>
            if compare {
                <div class="tabs sides" role="tablist" id="shown" aria-label={tr.t("shown-aria")}>
                    { side_tab(Shown::A, "shown-a", true) }
                    { side_tab(Shown::B, "shown-b", true) }
                    { side_tab(Shown::Diff, "shown-diff", same_len && s.views.view == View::Heatmap) }
                    if !same_len {
                        <span class="muted">{ tr.tf("shown-diff-lengths", &[("a", s.ctl.tokens.len().into()), ("b", s.ctl.b.tokens.len().into())]) }</span>
                    } else if shown == Shown::Diff {
                        <span class="muted" id="diff-legend">{ tr.t("shown-diff-legend") }</span>
                    }
                    if s.views.view == View::Grid && s.views.shown != Shown::A {
                        <span class="muted">{ tr.t("shown-grid-a") }</span>
                    }
                </div>
            }
            <div class="tabs" role="tablist">
                { tab(View::Heatmap, "tab-heatmap") }
                { tab(View::Grid, "tab-grid") }
                { tab(View::Lines, "tab-lines") }
            </div>
            <div class="pickers">
                <label class="inline">{ tr.t("layer") }{ " " }
                    <select onchange={on_layer} aria-label={tr.t("layer")}>
                        { for (0..s.model.n_layers).map(|l| html! { <option value={l.to_string()} selected={l == s.views.layer}>{ l.to_string() }</option> }) }
                    </select>
                </label>
                <span class="inline">{ tr.t("head") }{ " " }{ for heads }</span>
            </div>
            <div class="ablate row">
                <button id="toggle-head" onclick={toggle_selected} disabled={!can_change} title={tr.t("toggle-head-title")}>
                    { tr.tf(if selected_off { "head-on" } else { "head-off" }, &[("lh", format!("{}:{}", s.views.layer, s.views.head).into())]) }
                </button>
                if !s.ctl.ablation.is_empty() {
                    <button id="restore-heads" onclick={restore} disabled={!can_change}>{ tr.tf("restore-all", &[("n", s.ctl.ablation.len().into())]) }</button>
                    <span class="muted">{ tr.tf("ablated-info", &[("heads", s.ctl.ablation.iter().map(|(l, h)| format!("{l}:{h}")).collect::<Vec<_>>().join(", ").into()), ("ms", format!("{:.0}", s.ctl.ablate_ms).into())]) }</span>
                }
            </div>
            <p class="gqa muted">
                { tr.tf("gqa", &[("n", s.model.n_heads.into()), ("kv", s.model.n_kv_heads.into()), ("last", (group - 1).into()), ("h", s.views.head.into()), ("g", (s.views.head / group).into())]) }
            </p>
            if shown == Shown::Diff {
                <div class="legend"><span>{ "−1" }</span><span class="ramp" style={format!("background: {}", diff_gradient())}></span><span>{ "+1" }</span><span class="muted">{ " " }{ tr.t("legend-diff") }</span></div>
            } else {
                <div class="legend"><span>{ "0" }</span><span class="ramp" style={format!("background: {}", legend_gradient())}></span><span>{ "1" }</span><span class="muted">{ " " }{ tr.t("legend") }</span></div>
            }
            {
                match s.views.view {
                    View::Heatmap => html! { <Heatmap ..head_props.clone() /> },
                    View::Grid => {
                        let (len, busy, role) = (s.ctl.tokens.len(), s.ctl.busy(), s.views.role);
                        let (gw, gh) = (s.model.n_heads * (CELL + GAP), s.model.n_layers * (CELL + GAP));
                        let overlay = html! { <RoleOverlay link={link.clone()} {len} {busy} {role} width={gw} height={gh} cell={CELL} gap={GAP} /> };
                        html! {
                            <>
                                <RoleBar link={link.clone()} {role} />
                                <Grid link={link.clone()} {len} epoch={s.ctl.epoch} {busy} layers={s.model.n_layers} heads={s.model.n_heads} group={group}
                                      selected={(s.views.layer, s.views.head)} off={s.ctl.ablation.clone()} can_toggle={can_change} on_select={on_select} on_toggle={on_toggle} {overlay} />
                            </>
                        }
                    }
                    View::Lines => html! { <Lines ..head_props.clone() /> },
                }
            }
            // What the selected head does, while the grid is coloured by a role
            // (and after a click on it opened the head).
            <RolePanel link={link.clone()} len={s.ctl.tokens.len()} busy={s.ctl.busy()} role={s.views.role} layer={s.views.layer} head={s.views.head} />
            <ExportBar link={link.clone()} tokens={head_props.tokens.clone()} model={s.model.name.clone()} prompt={s.ctl.prompt.clone()} layer={s.views.layer} head={s.views.head}
                       layers={s.model.n_layers} heads={s.model.n_heads} busy={s.ctl.busy()} view={view_name} />
        </section>
    }
}
