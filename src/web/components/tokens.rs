//! The sequence as chips (prompt vs generated vs forced, id on hover,
//! whitespace visible) and the generated text beside it.

use yew::prelude::*;

use crate::web::components::{visible, StateProps};
use crate::web::state::{Action, TokKind};

#[function_component(Tokens)]
pub fn tokens(p: &StateProps) -> Html {
    let s = &p.state;
    let link = p.link.clone();
    let chips = s.tokens.iter().enumerate().map(|(i, t)| {
        let kind = match t.kind {
            TokKind::Prompt => "prompt",
            TokKind::Generated => "gen",
            TokKind::Forced => "forced",
        };
        let title = match t.prob {
            Some(pr) => format!("position {i} · id {} · p = {:.3}{}", t.id, pr, if t.kind == TokKind::Forced { " · forced" } else { "" }),
            None => format!("position {i} · id {}", t.id),
        };
        let focus = {
            let link = link.clone();
            Callback::from(move |_| {
                if let Some(l) = &link {
                    l.act(Action::Focus(Some(i)));
                }
            })
        };
        html! {
            <span class={classes!("tok", kind, (s.focus == Some(i)).then_some("focused"))} data-id={t.id.to_string()} data-pos={i.to_string()} title={title} onmouseenter={focus}>
                { visible(&t.text) }
            </span>
        }
    });
    html! {
        <section class="tokens" aria-label="Tokens">
            <h2>{ "Tokens " }<span class="muted">{ format!("{} prompt + {} generated", s.n_prompt, s.generated()) }</span></h2>
            <div class="chips" id="chips">{ for chips }</div>
            <div class="text" id="generated-text" aria-label="Generated text">
                <span class="muted">{ s.tokens[..s.n_prompt].iter().map(|t| t.text.clone()).collect::<String>() }</span>
                <strong>{ s.text() }</strong>
            </div>
        </section>
    }
}
