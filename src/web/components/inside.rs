//! Inside one step: the math of one head with its real vectors, the logit
//! lens, the residual stream, why this token (attribution), how information
//! flowed, and activation patching, each asked of the worker when shown.

use yew::prelude::*;

use crate::web::components::attention::head_props;
use crate::web::components::attribution::AttributionView;
use crate::web::components::flow::FlowView;
use crate::web::components::use_tr;
use crate::web::components::lens::LensView;
use crate::web::components::math::Math;
use crate::web::components::patch::PatchView;
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
    let tr = use_tr();
    if s.model.n_layers == 0 {
        return html! {};
    }
    let tab = |v: Inside, label: &str| {
        let link = p.link.clone();
        html! {
            <button role="tab" aria-selected={(s.views.inside == v).to_string()} class={classes!("tab", (s.views.inside == v).then_some("on"))}
                    onclick={Callback::from(move |_| link.act(Action::Inside(v)))}>{ tr.t(label) }</button>
        }
    };
    let hp = head_props(s, &p.link);
    html! {
        <section class="inside" aria-label={tr.t("inside")}>
            <h2>{ tr.t("inside") }{ " " }<span class="muted">{ tr.t("inside-help") }</span></h2>
            <div class="tabs" role="tablist">
                { tab(Inside::Math, "tab-math") }
                { tab(Inside::Lens, "tab-lens") }
                { tab(Inside::Residual, "tab-residual") }
                { tab(Inside::Why, "tab-why") }
                { tab(Inside::Flow, "tab-flow") }
                { tab(Inside::Patch, "tab-patch") }
            </div>
            {
                match s.views.inside {
                    Inside::Math => html! { <Math ..hp /> },
                    Inside::Lens => html! { <LensView link={p.link.clone()} tokens={hp.tokens.clone()} epoch={s.ctl.epoch} busy={s.ctl.busy()} layers={s.model.n_layers}
                                                      model={s.model.name.clone()} prompt={s.ctl.tokens[..s.ctl.n_prompt.min(s.ctl.tokens.len())].iter().map(|t| t.text.as_str()).collect::<String>()}
                                                      b_tokens={s.ctl.compare.is_some().then(|| std::rc::Rc::new(s.ctl.b.tokens.iter().map(|t| t.text.clone()).collect::<Vec<_>>()))} /> },
                    Inside::Residual => html! { <ResidualView ..hp.clone() /> },
                    Inside::Why => html! { <AttributionView head={hp} n_layers={s.model.n_layers} n_heads={s.model.n_heads} b_len={if s.ctl.compare.is_some() { s.ctl.b.tokens.len() } else { 0 }} /> },
                    Inside::Flow => html! { <FlowView head={hp} n_layers={s.model.n_layers} /> },
                    Inside::Patch => html! { <PatchView link={p.link.clone()} prompt={s.ctl.prompt.clone()} shared={s.views.patch.clone()} n_layers={s.model.n_layers} n_heads={s.model.n_heads} /> },
                }
            }
        </section>
    }
}
