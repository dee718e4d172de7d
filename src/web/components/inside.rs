//! Inside one step: the math of one head with its real vectors, the logit
//! lens, and the residual stream, each asked of the worker when shown.

use yew::prelude::*;

use crate::web::components::attention::head_props;
use crate::web::components::lens::LensView;
use crate::web::components::math::Math;
use crate::web::components::residual::ResidualView;
use crate::web::link::Link;
use crate::web::state::{Action, Inside, State};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
    pub link: Link,
}

#[function_component(InsidePanel)]
pub fn inside_panel(p: &Props) -> Html {
    let s = &p.state;
    if s.n_layers == 0 {
        return html! {};
    }
    let tab = |v: Inside, label: &str| {
        let link = p.link.clone();
        html! {
            <button role="tab" aria-selected={(s.inside == v).to_string()} class={classes!("tab", (s.inside == v).then_some("on"))}
                    onclick={Callback::from(move |_| link.act(Action::Inside(v)))}>{ label.to_string() }</button>
        }
    };
    let hp = head_props(s, &p.link);
    html! {
        <section class="inside" aria-label="Inside one step">
            <h2>{ "Inside one step " }<span class="muted">{ "click a heatmap row or a token to choose the position" }</span></h2>
            <div class="tabs" role="tablist">
                { tab(Inside::Math, "The math of this head") }
                { tab(Inside::Lens, "Logit lens") }
                { tab(Inside::Residual, "Residual stream") }
            </div>
            {
                match s.inside {
                    Inside::Math => html! { <Math ..hp /> },
                    Inside::Lens => html! { <LensView link={p.link.clone()} tokens={hp.tokens.clone()} epoch={s.epoch} busy={s.busy} /> },
                    Inside::Residual => html! { <ResidualView ..hp /> },
                }
            }
        </section>
    }
}
