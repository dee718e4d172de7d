//! The sequence as chips (prompt vs generated vs forced, id on hover,
//! whitespace visible) and the generated text beside it. Chips are drawn in
//! blocks that re-render only when their own tokens change, so a step at
//! thousands of tokens touches one block.

use std::rc::Rc;

use yew::prelude::*;

use crate::web::components::{visible, StateProps};
use crate::web::link::Link;
use crate::web::state::{Action, Tok, TokKind};

/// Tokens per block of chips.
const BLOCK: usize = 64;

#[derive(Properties, Clone)]
struct BlockProps {
    tokens: Rc<Vec<Tok>>,
    start: usize,
    focus: Option<usize>,
    link: Option<Link>,
}

impl BlockProps {
    fn end(&self) -> usize {
        (self.start + BLOCK).min(self.tokens.len())
    }
}

impl PartialEq for BlockProps {
    fn eq(&self, o: &BlockProps) -> bool {
        let focus_in = |p: &BlockProps| p.focus.filter(|f| (p.start..p.end()).contains(f));
        self.start == o.start
            && focus_in(self) == focus_in(o)
            && self.link == o.link
            && (Rc::ptr_eq(&self.tokens, &o.tokens) || self.tokens[self.start..self.end()] == o.tokens.get(o.start..o.end()).unwrap_or_default()[..])
    }
}

#[function_component(ChipBlock)]
fn chip_block(p: &BlockProps) -> Html {
    let chips = (p.start..p.end()).map(|i| {
        let t = &p.tokens[i];
        let kind = match t.kind {
            TokKind::Prompt => "prompt",
            TokKind::Generated => "gen",
            TokKind::Forced => "forced",
        };
        let title = match t.prob {
            Some(pr) => format!("position {i} · id {} · p = {:.3}{} · click to look inside this position", t.id, pr, if t.kind == TokKind::Forced { " · forced" } else { "" }),
            None => format!("position {i} · id {} · click to look inside this position", t.id),
        };
        let focus = {
            let link = p.link.clone();
            Callback::from(move |_| {
                if let Some(l) = &link {
                    l.act(Action::Focus(Some(i)));
                }
            })
        };
        html! {
            <span class={classes!("tok", kind, (p.focus == Some(i)).then_some("focused"))} data-id={t.id.to_string()} data-pos={i.to_string()} title={title} onclick={focus}>
                { visible(&t.text) }
            </span>
        }
    });
    html! { <>{ for chips }</> }
}

#[function_component(Tokens)]
pub fn tokens(p: &StateProps) -> Html {
    let s = &p.state;
    let blocks = (0..s.tokens.len().div_ceil(BLOCK)).map(|b| {
        html! { <ChipBlock key={b} tokens={s.tokens.clone()} start={b * BLOCK} focus={s.focus} link={p.link.clone()} /> }
    });
    html! {
        <section class="tokens" aria-label="Tokens">
            <h2>{ "Tokens " }<span class="muted">{ format!("{} prompt + {} generated", s.n_prompt, s.generated()) }</span></h2>
            <div class="chips" id="chips">{ for blocks }</div>
            <div class="text" id="generated-text" aria-label="Generated text">
                <span class="muted">{ s.tokens[..s.n_prompt].iter().map(|t| t.text.clone()).collect::<String>() }</span>
                <strong>{ s.text() }</strong>
            </div>
        </section>
    }
}
