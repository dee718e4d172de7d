//! What each head does, on the all-heads grid: colour the grid by one of
//! the four habits `crate::roles` measures (previous token, sink,
//! duplicate, induction), a badge on each head for its clearest habit, and
//! for the selected head what its scores mean with the evidence: its
//! attention on 30 random tokens repeated, where an induction head draws a
//! stripe just below the diagonal of the second copy. Measured once per
//! model in the worker, on sequences of its own.

use std::rc::Rc;

use web_sys::HtmlCanvasElement;
use yew::prelude::*;

use crate::protocol::{Answer, Query};
use crate::roles::{HeadRoles, Role};
use crate::web::components::canvas::{context, paint_cells, put};
use crate::web::components::export::DataExports;
use crate::web::components::{use_ask, use_ask_floats, use_tr, visible};
use crate::web::link::Link;
use crate::web::state::Action;

/// The role's colour on the grid.
pub(crate) fn role_rgb(r: Role) -> (u8, u8, u8) {
    match r {
        Role::Previous => (43, 138, 62),
        Role::Sink => (134, 142, 150),
        Role::Duplicate => (230, 119, 0),
        Role::Induction => (201, 42, 42),
    }
}

/// The badge letter of a role.
pub(crate) fn badge(r: Role) -> &'static str {
    match r {
        Role::Previous => "P",
        Role::Sink => "S",
        Role::Duplicate => "D",
        Role::Induction => "I",
    }
}

fn role_label(r: Role) -> String {
    format!("role-{}", r.name())
}

/// The heads' roles, asked once per model while the grid is coloured
/// (the answer, as it came).
#[hook]
pub(crate) fn use_roles(link: &Link, len: usize, busy: bool, on: bool) -> Option<Rc<(bool, Answer)>> {
    use_ask(link, len, busy, on, |&on| on.then_some(Query::HeadRoles))
}

/// The roles in an answer from `use_roles`.
pub(crate) fn roles_in(got: &Option<Rc<(bool, Answer)>>) -> Option<&HeadRoles> {
    match got.as_deref().map(|g| &g.1) {
        Some(Answer::HeadRoles(r)) => Some(r),
        _ => None,
    }
}

#[derive(Properties, PartialEq)]
pub struct BarProps {
    pub link: Link,
    pub role: Option<Role>,
}

/// "Colour by": plain attention, or one of the four habits.
#[function_component(RoleBar)]
pub fn role_bar(p: &BarProps) -> Html {
    let tr = use_tr();
    let button = |r: Option<Role>| {
        let link = p.link.clone();
        let label = r.map_or_else(|| "role-none".to_string(), role_label);
        let on = p.role == r;
        html! {
            <button class={classes!("tab", on.then_some("on"))} aria-pressed={on.to_string()} data-role={r.map_or("none", Role::name)}
                    onclick={Callback::from(move |_| link.act(Action::Role(r)))}>{ tr.t(&label) }</button>
        }
    };
    html! {
        <div class="row role-bar" id="role-bar"><span class="muted">{ tr.t("role-colour-by") }{ " " }</span>
            { button(None) }{ for Role::ALL.into_iter().map(|r| button(Some(r))) }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct OverlayProps {
    pub link: Link,
    pub len: usize,
    pub busy: bool,
    pub role: Option<Role>,
    /// The grid's canvas size and its cells (as `grid` draws them).
    pub width: usize,
    pub height: usize,
    pub cell: usize,
    pub gap: usize,
}

/// Over the grid's canvas: each head tinted by its score for the chosen
/// role, and a badge for its clearest habit.
#[function_component(RoleOverlay)]
pub fn role_overlay(p: &OverlayProps) -> Html {
    let tr = use_tr();
    let got = use_roles(&p.link, p.len, p.busy, p.role.is_some());
    let (Some(role), Some(roles)) = (p.role, roles_in(&got)) else {
        return html! {};
    };
    let (r, g, b) = role_rgb(role);
    let step = (p.cell + p.gap) as f64;
    let cells = roles.heads.iter().map(|h| {
        let (x, y) = (h.head as f64 * step, h.layer as f64 * step);
        let score = h.score(role);
        let clear = h.clear_role();
        let title = tr.tf(
            "role-title",
            &[("l", h.layer.into()), ("h", h.head.into()), ("p", format!("{:.2}", h.previous).into()), ("s", format!("{:.2}", h.sink).into()), ("d", format!("{:.2}", h.duplicate).into()), ("i", format!("{:.2}", h.induction).into())],
        );
        html! {
            <g class="role-head" data-layer={h.layer.to_string()} data-head={h.head.to_string()} data-score={format!("{score:.4}")} data-role={clear.map_or("", Role::name)}>
                <title>{ title }</title>
                <rect x={x.to_string()} y={y.to_string()} width={p.cell.to_string()} height={p.cell.to_string()} fill={format!("rgb({r},{g},{b})")} fill-opacity={format!("{:.3}", 0.85 * score.clamp(0.0, 1.0))} />
                if let Some(c) = clear {
                    <text x={(x + 3.0).to_string()} y={(y + 12.0).to_string()} class="role-badge" fill={{ let (r, g, b) = role_rgb(c); format!("rgb({r},{g},{b})") }}>{ badge(c) }</text>
                }
            </g>
        }
    });
    html! {
        <svg class="role-overlay" id="role-overlay" data-role={role.name()} viewBox={format!("0 0 {} {}", p.width, p.height)} preserveAspectRatio="none" aria-hidden="true">
            { for cells }
        </svg>
    }
}

#[derive(Properties, PartialEq)]
pub struct PanelProps {
    pub link: Link,
    pub len: usize,
    pub busy: bool,
    pub role: Option<Role>,
    pub layer: usize,
    pub head: usize,
}

/// Evidence pixels per token.
const PX: usize = 4;

/// The selected head's four scores, what they mean, and its attention on
/// the repeated sequence.
#[function_component(RolePanel)]
pub fn role_panel(p: &PanelProps) -> Html {
    let tr = use_tr();
    let got = use_roles(&p.link, p.len, p.busy, p.role.is_some());
    let evidence = use_ask_floats(&p.link, p.len, p.busy, (p.role.is_some(), p.layer, p.head), |&(on, layer, head)| on.then_some(Query::RoleEvidence { layer, head }));
    let canvas = use_node_ref();
    {
        let (canvas, evidence) = (canvas.clone(), evidence.clone());
        use_effect_with(evidence.as_ref().map(|e| Rc::as_ptr(e) as usize), move |_| {
            let Some(e) = evidence.as_deref() else { return };
            let (Answer::RoleEvidence { ids, .. }, Some(w)) = (&e.1 .0, e.1 .1.as_ref()) else { return };
            let (Some(cv), n) = (canvas.cast::<HtmlCanvasElement>(), ids.len()) else { return };
            if w.len() != n * n {
                return;
            }
            let Some(c) = context(&cv) else { return };
            let size = n * PX;
            let mut up = vec![0f32; size * size];
            for y in 0..size {
                for x in 0..size {
                    up[y * size + x] = w[(y / PX) * n + x / PX];
                }
            }
            let mut px = vec![255u8; size * size * 4];
            paint_cells(&mut px, size, 0, 0, size, size, &up, |y, x| x / PX > y / PX);
            put(&c, &px, size, size, 0.0, 0.0);
        });
    }
    if p.role.is_none() {
        return html! {};
    }
    let Some(roles) = roles_in(&got) else {
        return html! { <p class="muted" id="role-panel">{ tr.t("role-computing") }</p> };
    };
    let Some(h) = roles.heads.iter().find(|h| h.layer == p.layer && h.head == p.head) else {
        return html! {};
    };
    let n = evidence.as_deref().and_then(|e| match &e.1 .0 {
        Answer::RoleEvidence { ids, pieces, .. } => Some((ids.len(), ids.clone(), pieces.clone())),
        _ => None,
    });
    let clear = h.clear_role();
    // Every head's scores, as `glassbox heads` prints them.
    let json = {
        let got = got.clone();
        Callback::from(move |()| roles_in(&got).and_then(|r| serde_json::to_string(r).ok()).unwrap_or_default())
    };
    let csv = {
        let got = got.clone();
        Callback::from(move |()| {
            let mut out = String::from("layer,head,previous,sink,duplicate,induction,role\n");
            for h in roles_in(&got).map_or(&[][..], |r| &r.heads[..]) {
                out.push_str(&format!("{},{},{},{},{},{},{}\n", h.layer, h.head, h.previous, h.sink, h.duplicate, h.induction, h.clear_role().map_or("", Role::name)));
            }
            out
        })
    };
    let rows = Role::ALL.into_iter().map(|r| {
        let (cr, cg, cb) = role_rgb(r);
        html! {
            <tr class={classes!((clear == Some(r)).then_some("clear"))} data-role={r.name()}>
                <th scope="row" style={format!("color: rgb({cr},{cg},{cb})")}>{ tr.t(&role_label(r)) }</th>
                <td class="num">{ format!("{:.3}", h.score(r)) }</td>
                <td class="muted">{ tr.t(&format!("role-{}-means", r.name())) }</td>
            </tr>
        }
    });
    let repeated = n.as_ref().map(|(n, ids, pieces)| {
        let half = n / 2;
        let text: String = ids[..half.min(8)].iter().map(|id| pieces.iter().find(|p| p.0 == *id).map_or(String::new(), |p| visible(&p.1))).collect::<Vec<_>>().join(" ");
        tr.tf("role-evidence", &[("n", half.into()), ("m", half.saturating_sub(1).into()), ("start", text.into())])
    });
    html! {
        <div class="role-panel" id="role-panel" data-layer={h.layer.to_string()} data-head={h.head.to_string()} data-role={clear.map_or("", Role::name)}>
            <p><strong>{ tr.tf("role-head", &[("l", h.layer.into()), ("h", h.head.into())]) }</strong>{ " " }
                { match clear { Some(r) => tr.tf("role-clear", &[("role", tr.t(&role_label(r)).into())]), None => tr.t("role-unclear") } }{ " " }
                <button class="link" id="role-hide" onclick={{ let link = p.link.clone(); Callback::from(move |_| link.act(Action::Role(None))) }}>{ tr.t("role-hide") }</button></p>
            <table class="role-scores">{ for rows }</table>
            <figure class="role-evidence">
                <canvas id="role-evidence" ref={canvas} width={n.as_ref().map_or(0, |x| x.0 * PX).to_string()} height={n.as_ref().map_or(0, |x| x.0 * PX).to_string()}></canvas>
                <figcaption class="muted">{ repeated.unwrap_or_else(|| tr.t("role-computing")) }</figcaption>
            </figure>
            <p class="muted">{ tr.t("role-caveat") }</p>
            <DataExports caption={Vec::<String>::new()} stem="glassbox-head-roles" json={json} csv={csv} />
        </div>
    }
}
