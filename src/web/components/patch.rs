//! Activation patching (`crate::patch`): two prompts that differ in a word,
//! and a grid of what copying one piece of the clean run into the
//! corrupted one does to the tracked token's probability. Layers up the
//! page; positions across (heads across, for the heads' version). The
//! worker computes the grid one part at a time (a position, or a layer for
//! heads), so it fills while the learner watches, with a progress bar and
//! Cancel. Hover a cell for its number; click it for that run's candidates.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use yew::prelude::*;

use crate::patch::{Outcome, Site, EXAMPLE};
use crate::protocol::{Answer, PatchAnswer, Query};
use crate::web::components::export::DataExports;
use crate::web::components::{use_tr, visible};
use crate::share::PatchPrompts;
use crate::web::link::Link;
use crate::web::state::Action;


const CH: f64 = 13.0;
const TOP: f64 = 8.0;
const LEFT: f64 = 58.0;

/// What is asked: the two prompts, the piece, the tracked token.
#[derive(Clone, Debug, PartialEq)]
struct Asked {
    clean: String,
    corrupt: String,
    what: Site,
    target: Option<u32>,
}

/// A grid being filled (or filled, stopped, failed).
#[derive(Clone, Debug, PartialEq, Default)]
struct Grid {
    asked: Option<Asked>,
    /// The first answer's header (the prompts' tokens, the two runs).
    head: Option<Rc<PatchAnswer>>,
    /// Each part's cells, as they come.
    parts: Vec<Option<Vec<Outcome>>>,
    pieces: HashMap<u32, String>,
    done: usize,
    ms: f64,
    running: bool,
    cancelled: bool,
    failed: Option<String>,
}

impl Grid {
    /// The piece patched.
    fn site(&self) -> Site {
        self.asked.as_ref().map_or(Site::Residual, |a| a.what)
    }

    /// Cell (layer, column: a position, or a head), once its part has come.
    fn cell(&self, l: usize, c: usize) -> Option<&Outcome> {
        let (part, i) = if self.site() == Site::Heads { (l, c) } else { (c, l) };
        self.parts.get(part)?.as_ref()?.get(i)
    }
}

enum Msg {
    Start(Asked),
    Part(Box<PatchAnswer>),
    Failed(String),
    Cancel,
}

impl Reducible for Grid {
    type Action = Msg;
    fn reduce(self: Rc<Self>, m: Msg) -> Rc<Self> {
        let mut g = (*self).clone();
        match m {
            Msg::Start(a) => {
                g = Grid { asked: Some(a), running: true, ..Grid::default() };
            }
            Msg::Part(a) => {
                if !g.running {
                    return self;
                }
                if g.parts.len() != a.parts {
                    g.parts = vec![None; a.parts];
                }
                g.pieces.extend(a.pieces.iter().cloned());
                let i = a.part.index;
                if i < g.parts.len() && g.parts[i].is_none() {
                    g.parts[i] = Some(a.part.cells.clone());
                    g.done += 1;
                }
                g.ms += a.ms;
                g.running = g.done < g.parts.len();
                g.head = Some(Rc::new(*a));
            }
            Msg::Failed(why) => {
                g.running = false;
                g.failed = Some(why);
            }
            Msg::Cancel => {
                if g.running {
                    g.running = false;
                    g.cancelled = true;
                }
            }
        }
        Rc::new(g)
    }
}

/// Ask for part `part` and, when it comes, the next one, until the last
/// or until `gen` moves on (Cancel, a new run). The first answer says how
/// many parts there are.
fn ask_part(link: Link, gen: Rc<Cell<u64>>, mine: u64, asked: Asked, part: usize, grid: UseReducerDispatcher<Grid>) {
    let q = Query::Patch { clean: asked.clean.clone(), corrupt: asked.corrupt.clone(), what: asked.what, target: asked.target, part };
    let link2 = link.clone();
    link.ask(
        0,
        q,
        Callback::from(move |(a, _): (Answer, Option<Vec<f32>>)| {
            if gen.get() != mine {
                return;
            }
            match a {
                Answer::Patch(p) => {
                    let more = part + 1 < p.parts;
                    grid.dispatch(Msg::Part(p));
                    if more {
                        ask_part(link2.clone(), gen.clone(), mine, asked.clone(), part + 1, grid.clone());
                    }
                }
                Answer::Failed { message } => grid.dispatch(Msg::Failed(message)),
                _ => {}
            }
        }),
    );
}

/// Restoration: how much of the way from the corrupted run to the clean
/// one a patch goes, (p − corrupt) / (clean − corrupt).
fn restored(p: f32, clean: f32, corrupt: f32) -> f32 {
    let span = clean - corrupt;
    if span.abs() < 1e-12 {
        0.0
    } else {
        (p - corrupt) / span
    }
}

/// A cell's colour: white to deep purple over 0..1 (below 0: a light blue).
fn cell_rgb(v: f32) -> String {
    if v < 0.0 {
        let t = (-v).min(1.0);
        let m = |c: f32| (255.0 + (c - 255.0) * t) as u8;
        return format!("rgb({},{},{})", m(70.0), m(130.0), m(200.0));
    }
    let t = v.min(1.0);
    let m = |c: f32| (255.0 + (c - 255.0) * t) as u8;
    format!("rgb({},{},{})", m(88.0), m(40.0), m(148.0))
}

#[derive(Properties, PartialEq)]
pub struct Props {
    pub link: Link,
    /// The page's prompt: the clean prompt to start from.
    pub prompt: String,
    /// The experiment a link (or an earlier run) names: it runs when shown.
    pub shared: Option<PatchPrompts>,
    pub n_layers: usize,
    pub n_heads: usize,
}

#[function_component(PatchView)]
pub fn patch_view(p: &Props) -> Html {
    let tr = use_tr();
    let clean = use_state(|| if p.prompt.trim().is_empty() { EXAMPLE.0.to_string() } else { p.prompt.clone() });
    let corrupt = use_state(|| if p.prompt.trim().is_empty() { EXAMPLE.1.to_string() } else { String::new() });
    let what = use_state(|| Site::Residual);
    let restoration = use_state(|| false);
    let selected = use_state(|| None::<(usize, usize)>);
    let grid = use_reducer(Grid::default);
    let gen = use_memo((), |_| Rc::new(Cell::new(0u64)));

    // Leaving the view stops the grid (its parts are asked one after another).
    {
        let gen = (*gen).clone();
        use_effect_with((), move |_| move || gen.set(gen.get() + 1));
    }
    // The experiment last started (links and later renders compare with it).
    let last = use_memo((), |_| Rc::new(std::cell::RefCell::new(None::<PatchPrompts>)));
    let start = {
        let (link, gen, grid, selected, last) = (p.link.clone(), (*gen).clone(), grid.dispatcher(), selected.clone(), (*last).clone());
        Rc::new(move |asked: Asked| {
            let mine = gen.get() + 1;
            gen.set(mine);
            selected.set(None);
            let pp = PatchPrompts { clean: asked.clean.clone(), corrupt: asked.corrupt.clone(), what: asked.what };
            *last.borrow_mut() = Some(pp.clone());
            link.act(Action::Patch(Some(pp)));
            grid.dispatch(Msg::Start(asked.clone()));
            ask_part(link.clone(), gen.clone(), mine, asked, 0, grid.clone());
        })
    };
    // A link's experiment (or the one run before the tab was left) runs when shown.
    {
        let (start, clean, corrupt, what, last) = (start.clone(), clean.clone(), corrupt.clone(), what.clone(), (*last).clone());
        use_effect_with(p.shared.clone(), move |sh| {
            if let Some(sh) = sh.clone().filter(|sh| last.borrow().as_ref() != Some(sh)) {
                clean.set(sh.clean.clone());
                corrupt.set(sh.corrupt.clone());
                what.set(sh.what);
                start(Asked { clean: sh.clean, corrupt: sh.corrupt, what: sh.what, target: None });
            }
        });
    }
    let run = {
        let (start, clean, corrupt, what) = (start.clone(), clean.clone(), corrupt.clone(), what.clone());
        Callback::from(move |_| start(Asked { clean: (*clean).clone(), corrupt: (*corrupt).clone(), what: *what, target: None }))
    };
    let example = {
        let (start, clean, corrupt, what) = (start.clone(), clean.clone(), corrupt.clone(), what.clone());
        Callback::from(move |_| {
            clean.set(EXAMPLE.0.to_string());
            corrupt.set(EXAMPLE.1.to_string());
            start(Asked { clean: EXAMPLE.0.into(), corrupt: EXAMPLE.1.into(), what: *what, target: None });
        })
    };
    let cancel = {
        let (gen, grid) = ((*gen).clone(), grid.dispatcher());
        Callback::from(move |_| {
            gen.set(gen.get() + 1);
            grid.dispatch(Msg::Cancel);
        })
    };
    let text_input = |h: &UseStateHandle<String>| {
        let h = h.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(i) = e.target_dyn_into::<web_sys::HtmlInputElement>() {
                h.set(i.value());
            }
        })
    };
    // The piece: switching it runs the same prompts again (when they ran).
    let tab = |s: Site, label: &str| {
        let (what, start, asked) = (what.clone(), start.clone(), grid.asked.clone());
        let on = *what == s;
        html! {
            <button role="tab" class={classes!("tab", on.then_some("on"))} aria-selected={on.to_string()} data-site={s.name()}
                    onclick={Callback::from(move |_| {
                        what.set(s);
                        if let Some(a) = asked.clone() {
                            start(Asked { what: s, ..a });
                        }
                    })}>{ tr.t(label) }</button>
        }
    };
    let g = &*grid;
    let status = if g.running {
        let total = g.parts.len().max(1);
        html! {
            <div class="row" id="patch-progress">
                <progress max={total.to_string()} value={g.done.to_string()}></progress>
                <span>{ tr.tf("patch-progress", &[("done", g.done.into()), ("total", g.parts.len().into()), ("s", format!("{:.1}", g.ms / 1e3).into())]) }</span>
                <button id="patch-cancel" onclick={cancel}>{ tr.t("patch-cancel") }</button>
            </div>
        }
    } else if let Some(why) = &g.failed {
        html! { <p class="error" id="patch-error" role="alert">{ why.clone() }</p> }
    } else if g.cancelled {
        html! { <p class="muted" id="patch-stopped">{ tr.tf("patch-stopped", &[("done", g.done.into()), ("total", g.parts.len().into())]) }</p> }
    } else if g.head.is_some() {
        html! { <p class="muted" id="patch-done">{ tr.tf("patch-done", &[("total", g.parts.len().into()), ("s", format!("{:.1}", g.ms / 1e3).into())]) }</p> }
    } else {
        html! {}
    };
    let form = html! {
        <div class="patch-form">
            <label for="patch-clean">{ tr.t("patch-clean") }</label>
            <input id="patch-clean" type="text" value={(*clean).clone()} oninput={text_input(&clean)} />
            <label for="patch-corrupt">{ tr.t("patch-corrupt") }</label>
            <input id="patch-corrupt" type="text" value={(*corrupt).clone()} oninput={text_input(&corrupt)} placeholder={tr.t("patch-corrupt-hint")} />
            <div class="row">
                <button id="patch-run" onclick={run} disabled={g.running}>{ tr.t("patch-run") }</button>
                <button id="patch-example" onclick={example} disabled={g.running}>{ tr.t("patch-example") }</button>
            </div>
        </div>
    };
    let tabs = html! {
        <div class="tabs" role="tablist">
            { tab(Site::Residual, "patch-residual") }
            { tab(Site::Heads, "patch-heads") }
            { tab(Site::Ffn, "patch-ffn") }
        </div>
    };
    let Some(head) = g.head.clone() else {
        return html! {
            <div class="patch" id="patch">
                <p class="muted">{ tr.t("patch-help") }</p>
                { form }{ tabs }{ status }
            </div>
        };
    };
    let site = g.site();
    let piece = |id: u32| g.pieces.get(&id).cloned().unwrap_or_else(|| format!("#{id}"));
    let (pc, pk) = (head.clean.p, head.corrupt.p);
    let nl = p.n_layers;
    let t = head.corrupt_ids.len();
    let cols = match site {
        Site::Heads => p.n_heads,
        _ => t,
    };
    let cell = |l: usize, c: usize| g.cell(l, c);
    let value = |o: &Outcome| if *restoration { restored(o.p, pc, pk) } else { o.p };
    let cw = (560.0 / cols as f64).clamp(16.0, 44.0);
    let x = |c: usize| LEFT + cw * c as f64;
    let y = |l: usize| TOP + CH * (nl - 1 - l) as f64;
    let width = LEFT + cw * cols as f64 + 8.0;
    let height = y(0) + CH + 92.0;
    let col_label = |c: usize| -> String {
        match site {
            Site::Heads => tr.tf("patch-head-n", &[("h", c.into())]),
            _ => {
                let (a, b) = (head.clean_ids[c], head.corrupt_ids[c]);
                if a == b {
                    visible(&piece(b))
                } else {
                    format!("{}→{}", visible(&piece(a)), visible(&piece(b)))
                }
            }
        }
    };
    let describe = |l: usize, c: usize, o: &Outcome| {
        let place = match site {
            Site::Heads => tr.tf("patch-head-n", &[("h", c.into())]),
            _ => tr.tf("patch-pos", &[("pos", c.into()), ("tok", format!("{:?}", visible(&piece(head.corrupt_ids[c]))).into())]),
        };
        tr.tf("patch-cell", &[("l", l.into()), ("where", place.into()), ("p", format!("{:.4}", o.p).into()), ("r", format!("{:.0}%", 100.0 * restored(o.p, pc, pk)).into())])
    };
    let mut rects = Vec::new();
    for l in 0..nl {
        for c in 0..cols {
            let Some(o) = cell(l, c) else { continue };
            let sel = *selected == Some((l, c));
            let onclick = {
                let selected = selected.clone();
                Callback::from(move |_| selected.set(Some((l, c))))
            };
            rects.push(html! {
                <rect class={classes!("patch-cell", sel.then_some("sel"))} x={format!("{:.1}", x(c))} y={format!("{:.1}", y(l))} width={format!("{:.1}", cw - 1.0)} height={format!("{:.1}", CH - 1.0)}
                      fill={cell_rgb(value(o))} data-layer={l.to_string()} data-col={c.to_string()} data-p={o.p.to_string()} {onclick}>
                    <title>{ describe(l, c, o) }</title>
                </rect>
            });
        }
    }
    let layer_labels = (0..nl).filter(|l| l % 5 == 0 || *l == nl - 1).map(|l| html! { <text x={(LEFT - 6.0).to_string()} y={format!("{:.1}", y(l) + CH - 3.0)} text-anchor="end" class="rlabel">{ tr.tf("layer-n", &[("l", l.into())]) }</text> });
    let labels = (0..cols).map(|c| html! { <text class="flow-tok" transform={format!("translate({:.1},{:.1}) rotate(-60)", x(c) + cw / 2.0 + 3.0, y(0) + CH + 8.0)} text-anchor="end">{ col_label(c) }</text> });
    let target_text = format!("{:?}", visible(&piece(head.target)));
    let summary = tr.tf("patch-target", &[("tok", target_text.clone().into()), ("clean", format!("{pc:.4}").into()), ("corrupt", format!("{pk:.4}").into())]);
    let top_list = |o: &Outcome| {
        o.top
            .iter()
            .map(|&(id, q)| html! { <li class={classes!((id == head.target).then_some("target"))}><code>{ format!("{:?}", visible(&piece(id))) }</code>{ format!(" {q:.3}") }</li> })
            .collect::<Html>()
    };
    // Another token to track: one of the clean run's candidates.
    let choose = {
        let (start, asked) = (start.clone(), g.asked.clone());
        let options = head.clean.top.iter().map(|&(id, q)| html! { <option value={id.to_string()} selected={id == head.target}>{ format!("{:?} ({q:.3})", visible(&piece(id))) }</option> }).collect::<Html>();
        let onchange = Callback::from(move |e: Event| {
            let Some(sel) = e.target_dyn_into::<web_sys::HtmlSelectElement>() else { return };
            if let (Ok(id), Some(a)) = (sel.value().parse::<u32>(), asked.clone()) {
                start(Asked { target: Some(id), ..a });
            }
        });
        html! { <label>{ tr.t("patch-choose") }{ " " }<select id="patch-target" onchange={onchange} disabled={g.running}>{ options }</select></label> }
    };
    let picked = selected.and_then(|(l, c)| cell(l, c).map(|o| (l, c, o.clone())));
    let metric_toggle = {
        let restoration = restoration.clone();
        let on = *restoration;
        html! {
            <label><input type="checkbox" id="patch-restoration" checked={on} onchange={Callback::from(move |_| restoration.set(!on))} />{ " " }{ tr.t("patch-restoration") }</label>
        }
    };
    let stem = format!("glassbox-patch-{}", site.name());
    let json = {
        let grid = grid.clone();
        Callback::from(move |()| {
            let g = &*grid;
            let layers: Vec<Vec<Option<f32>>> = (0..nl).map(|l| (0..cols).map(|c| g.cell(l, c).map(|o| o.p)).collect()).collect();
            let h = g.head.as_ref();
            // As `glassbox patch` prints it (f32s as f32s); cells not computed are null.
            #[derive(serde::Serialize)]
            struct Export<'a> {
                what: Site,
                clean_ids: Option<&'a [u32]>,
                corrupt_ids: Option<&'a [u32]>,
                target: Option<u32>,
                target_text: Option<&'a String>,
                clean_p: Option<f32>,
                corrupt_p: Option<f32>,
                layers: Vec<Vec<Option<f32>>>,
            }
            serde_json::to_string(&Export {
                what: site,
                clean_ids: h.map(|h| &h.clean_ids[..]),
                corrupt_ids: h.map(|h| &h.corrupt_ids[..]),
                target: h.map(|h| h.target),
                target_text: h.and_then(|h| g.pieces.get(&h.target)),
                clean_p: h.map(|h| h.clean.p),
                corrupt_p: h.map(|h| h.corrupt.p),
                layers,
            })
            .unwrap_or_default()
        })
    };
    let csv = {
        let grid = grid.clone();
        Callback::from(move |()| {
            let g = &*grid;
            let mut out = format!("layer,{},p\n", if site == Site::Heads { "head" } else { "position" });
            for (i, part) in g.parts.iter().enumerate() {
                for (j, o) in part.iter().flatten().enumerate() {
                    let (l, c) = if site == Site::Heads { (i, j) } else { (j, i) };
                    out.push_str(&format!("{l},{c},{}\n", o.p));
                }
            }
            out
        })
    };
    html! {
        <div class="patch" id="patch" data-site={site.name()} data-done={g.done.to_string()} data-parts={g.parts.len().to_string()} data-target={head.target.to_string()}
             data-clean-p={pc.to_string()} data-corrupt-p={pk.to_string()}>
            <p class="muted">{ tr.t("patch-help") }</p>
            { form }{ tabs }{ status }
            <p id="patch-summary">{ summary.clone() }{ " " }{ choose }{ " " }{ metric_toggle }</p>
            <svg id="patch-grid" width={format!("{width:.0}")} height={format!("{height:.0}")} role="img" aria-label={summary.clone()}>
                { for layer_labels }
                { for rects }
                { for labels }
            </svg>
            if let Some((l, c, o)) = picked {
                <div class="patch-picked" id="patch-picked">
                    <p>{ describe(l, c, &o) }</p>
                    <div class="row">
                        <div><p class="muted">{ tr.t("patch-top-patched") }</p><ol>{ top_list(&o) }</ol></div>
                        <div><p class="muted">{ tr.t("patch-top-clean") }</p><ol>{ top_list(&head.clean) }</ol></div>
                        <div><p class="muted">{ tr.t("patch-top-corrupt") }</p><ol>{ top_list(&head.corrupt) }</ol></div>
                    </div>
                </div>
            } else {
                <p class="muted">{ tr.t("patch-click") }</p>
            }
            <p class="muted">{ tr.t(match site { Site::Residual => "patch-residual-means", Site::Heads => "patch-heads-means", Site::Ffn => "patch-ffn-means" }) }</p>
            <DataExports svg={Some(AttrValue::from("#patch-grid"))} caption={vec![summary]} stem={stem} json={json} csv={csv} />
        </div>
    }
}
