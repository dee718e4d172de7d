//! The sequence as chips (prompt vs generated vs forced, id on hover,
//! whitespace visible) and the generated text beside it. Chips are drawn in
//! blocks that re-render only when their own tokens change, so a step at
//! thousands of tokens touches one block.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::inspect::LensLayer;
use crate::protocol::{Answer, Query};
use crate::web::components::{use_tr, visible, StateProps};
use crate::web::link::Link;
use crate::web::state::{Action, Tok, TokKind};

/// How each token was predicted: for position p ≥ 1, the model's
/// distribution after p − 1 (its top 5) and the token's probability and rank.
#[derive(Clone, Default, PartialEq)]
pub struct Predicted {
    pub at: BTreeMap<usize, LensLayer>,
    pub pieces: HashMap<u32, String>,
}

/// Colour for a probability: red (unlikely) through yellow to green (likely).
fn prob_css(p: f32) -> String {
    let hue = 120.0 * p.clamp(0.0, 1.0).powf(0.5);
    format!("hsl({hue:.0}, 75%, 82%)")
}

/// Positions per question of the probability colouring.
const CHUNK: usize = 256;

/// Tokens per block of chips.
const BLOCK: usize = 64;

#[derive(Properties, Clone)]
struct BlockProps {
    tokens: Rc<Vec<Tok>>,
    start: usize,
    focus: Option<usize>,
    link: Option<Link>,
    /// Probability colouring, when on.
    predicted: Option<Rc<Predicted>>,
    /// Compare mode's second sequence (chips of class `btok`, not `tok`).
    #[prop_or_default]
    b: bool,
}

impl BlockProps {
    fn end(&self) -> usize {
        (self.start + BLOCK).min(self.tokens.len())
    }
}

impl PartialEq for BlockProps {
    fn eq(&self, o: &BlockProps) -> bool {
        let focus_in = |p: &BlockProps| p.focus.filter(|f| (p.start..p.end()).contains(f));
        let pred = |p: &BlockProps| p.predicted.as_ref().map(|x| (p.start..p.end()).filter(|i| x.at.contains_key(&(i.wrapping_sub(1)))).count());
        self.start == o.start
            && self.b == o.b
            && focus_in(self) == focus_in(o)
            && self.link == o.link
            && pred(self) == pred(o)
            && self.predicted.as_ref().map(|x| x.pieces.len()) == o.predicted.as_ref().map(|x| x.pieces.len())
            && (Rc::ptr_eq(&self.tokens, &o.tokens) || self.tokens[self.start..self.end()] == o.tokens.get(o.start..o.end()).unwrap_or_default()[..])
    }
}

#[function_component(ChipBlock)]
fn chip_block(p: &BlockProps) -> Html {
    let tr = use_tr();
    let chips = (p.start..p.end()).map(|i| {
        let t = &p.tokens[i];
        let kind = match t.kind {
            TokKind::Prompt => "prompt",
            TokKind::Generated => "gen",
            TokKind::Forced => "forced",
        };
        let predicted = p.predicted.as_ref().and_then(|x| Some((i.checked_sub(1).and_then(|q| x.at.get(&q))?, &x.pieces)));
        let (title, style) = match predicted {
            Some((l, pieces)) => {
                let n = l.next.as_ref();
                let alts = l.top.iter().map(|t| format!("{:?} {:.1}%", visible(pieces.get(&t.id).map(String::as_str).unwrap_or("?")), 100.0 * t.prob)).collect::<Vec<_>>().join(", ");
                (
                    tr.tf(
                        "chip-predicted",
                        &[("pos", i.into()), ("id", t.id.to_string().into()), ("p", format!("{:.4}", n.map_or(0.0, |n| n.prob)).into()), ("rank", n.map_or(0, |n| n.rank + 1).into()), ("alts", alts.into())],
                    ),
                    n.map(|n| format!("background: {}", prob_css(n.prob))),
                )
            }
            None => {
                let mut title = tr.tf("chip", &[("pos", i.into()), ("id", t.id.to_string().into())]);
                if let Some(pr) = t.prob {
                    title = format!("{title} · p = {pr:.3}");
                }
                if t.kind == TokKind::Forced {
                    title = format!("{title} · {}", tr.t("chip-forced"));
                }
                (format!("{title} · {}", tr.t("chip-click")), None)
            }
        };
        let focus = {
            let link = p.link.clone();
            Callback::from(move |_| {
                if let Some(l) = &link {
                    l.act(Action::Focus(Some(i)));
                }
            })
        };
        let coloured = style.is_some().then_some("coloured");
        html! {
            <span class={classes!(if p.b { "btok" } else { "tok" }, kind, (p.focus == Some(i)).then_some("focused"), coloured)} data-id={t.id.to_string()} data-pos={i.to_string()} title={title} style={style} onclick={focus}>
                { visible(&t.text) }
            </span>
        }
    });
    html! { <>{ for chips }</> }
}

#[function_component(Tokens)]
pub fn tokens(p: &StateProps) -> Html {
    let s = &p.state;
    let tr = use_tr();
    let len = s.ctl.tokens.len();
    // Probability colouring: each position's prediction, asked once, in
    // questions of at most CHUNK positions (a step can go between two). The
    // prediction after q depends on the tokens up to q + 1 and the heads
    // switched off: it is kept while those are unchanged (an Undo keeps
    // every earlier position; a new prompt or other heads, none).
    let held = use_mut_ref(|| (Vec::<u32>::new(), Vec::<(usize, usize)>::new(), Rc::new(Predicted::default())));
    let version = use_state(|| 0u64);
    let latest = use_memo((), |_| Rc::new(Cell::new(0u32)));
    {
        let (held, version, latest, link, busy, on) = (held.clone(), version.clone(), (*latest).clone(), p.link.clone(), s.ctl.busy(), s.views.prob_colours);
        let (tokens, ablation) = (s.ctl.tokens.clone(), s.ctl.ablation.clone());
        use_effect_with((len, s.ctl.epoch, busy, on, *version), move |_| {
            // (Off: nothing to ask; what is held is checked against the tokens when it is on again.)
            if !on {
                return;
            }
            let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
            {
                let mut h = held.borrow_mut();
                if h.1 != ablation {
                    *h = (ids.clone(), ablation.clone(), Rc::default());
                } else {
                    let same = h.0.iter().zip(&ids).take_while(|(a, b)| a == b).count();
                    if same < h.0.len() {
                        Rc::make_mut(&mut h.2).at.retain(|&q, _| q + 1 < same);
                    }
                    h.0 = ids.clone();
                }
            }
            let first = (0..len.saturating_sub(1)).find(|q| !held.borrow().2.at.contains_key(q));
            let (Some(first), false, Some(link)) = (first, busy, link) else { return };
            let p1 = (first + CHUNK).min(len - 1);
            let (mine, id_cell) = (latest.clone(), Rc::new(Cell::new(0u32)));
            let id_in = id_cell.clone();
            let id = link.ask(
                len,
                Query::NextTokens { p0: first, p1 },
                Callback::from(move |(a, _): (Answer, Option<Vec<f32>>)| {
                    if mine.get() != id_in.get() {
                        return;
                    }
                    let Answer::NextTokens { lens, pieces } = a else { return };
                    let mut h = held.borrow_mut();
                    // Still the tokens (and heads) it was asked of.
                    if h.1 == ablation && h.0.get(..=p1) == ids.get(..=p1) {
                        let x = Rc::make_mut(&mut h.2);
                        x.at.extend(lens.into_iter().filter_map(|l| Some((l.pos, l.layers.into_iter().next()?))));
                        x.pieces.extend(pieces);
                        version.set(*version + 1);
                    }
                }),
            );
            id_cell.set(id);
            latest.set(id);
        });
    }
    let predicted = s.views.prob_colours.then(|| held.borrow().2.clone());
    let perplexity = predicted.as_ref().and_then(|x| {
        let lps: Vec<f64> = x.at.values().filter_map(|l| l.next.as_ref().map(|n| (n.prob as f64).max(1e-30).ln())).collect();
        (!lps.is_empty()).then(|| ((-lps.iter().sum::<f64>() / lps.len() as f64).exp(), lps.len()))
    });
    let on_colours = {
        let link = p.link.clone();
        Callback::from(move |e: Event| {
            let on = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()).is_some_and(|i| i.checked());
            if let Some(l) = &link {
                l.act(Action::ProbColours(on));
            }
        })
    };
    let blocks = (0..s.ctl.tokens.len().div_ceil(BLOCK)).map(|b| {
        html! { <ChipBlock key={b} tokens={s.ctl.tokens.clone()} start={b * BLOCK} focus={s.views.focus} link={p.link.clone()} predicted={predicted.clone()} /> }
    });
    html! {
        <section class="tokens" aria-label={tr.t("tokens")}>
            <h2>{ tr.t("tokens") }{ " " }<span class="muted">{ tr.tf("tokens-count", &[("prompt", s.ctl.n_prompt.into()), ("generated", s.ctl.generated().into())]) }</span></h2>
            <div class="row probrow">
                <label class="inline"><input type="checkbox" id="prob-colours" checked={s.views.prob_colours} onchange={on_colours} />{ " " }{ tr.t("prob-colours") }</label>
                if let Some((ppl, n)) = perplexity {
                    <span class="muted" id="perplexity" title={tr.t("perplexity-title")}>{ tr.tf("perplexity", &[("ppl", format!("{ppl:.2}").into()), ("n", n.into())]) }</span>
                }
            </div>
            if s.ctl.compare.is_some() {
                <p class="side-label">{ tr.t("side-a") }</p>
            }
            <div class="chips" id="chips">{ for blocks }</div>
            <div class="text" id="generated-text" aria-label={tr.t("generated-text")}>
                <span class="muted">{ s.ctl.tokens[..s.ctl.n_prompt].iter().map(|t| t.text.clone()).collect::<String>() }</span>
                <strong>{ s.ctl.text() }</strong>
            </div>
            if s.ctl.compare.is_some() {
                <p class="side-label">{ tr.t("side-b") }{ " " }<span class="muted">{ tr.tf("tokens-count", &[("prompt", s.ctl.b.n_prompt.into()), ("generated", (s.ctl.b.tokens.len() - s.ctl.b.n_prompt).into())]) }</span></p>
                <div class="chips" id="chips-b">
                    { for (0..s.ctl.b.tokens.len().div_ceil(BLOCK)).map(|b| html! { <ChipBlock key={b} tokens={s.ctl.b.tokens.clone()} start={b * BLOCK} focus={None::<usize>} link={None::<Link>} predicted={None::<Rc<Predicted>>} b={true} /> }) }
                </div>
                <div class="text" id="generated-text-b">
                    <span class="muted">{ s.ctl.b.tokens[..s.ctl.b.n_prompt].iter().map(|t| t.text.clone()).collect::<String>() }</span>
                    <strong>{ s.ctl.b.deltas.concat() }</strong>
                </div>
            }
        </section>
    }
}
