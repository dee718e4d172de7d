//! Branches: the page's prompt decoded five ways side by side (greedy,
//! sampling at three temperatures with their seeds, a beam search), one
//! column each, aligned by token so the row where they part is plain to
//! see. Hover a token for the model's top five at that point in that
//! branch; any branch can become the page's sequence (a replay that forces
//! its tokens). Asked only while the panel is open, on sessions of the
//! worker's own.

use std::collections::HashMap;

use yew::prelude::*;

use crate::branches::Branch;
use crate::protocol::{Answer, Query};
use crate::share::Decoding;
use crate::web::components::{use_ask, use_tr, visible, StateProps};

/// Tokens per branch the panel offers.
const STEPS: [usize; 3] = [8, 16, 32];

fn label(tr: &crate::i18n::Tr, d: &Decoding) -> String {
    match d {
        Decoding::Greedy => tr.t("branches-greedy"),
        Decoding::Sample(s) => tr.tf("branches-sample", &[("t", format!("{:.1}", s.temperature).into()), ("seed", (s.seed as usize).into())]),
        Decoding::Beam(b) => tr.tf("branches-beam", &[("w", b.width.into())]),
    }
}

#[function_component(BranchesPanel)]
pub fn branches_panel(p: &StateProps) -> Html {
    let tr = use_tr();
    let s = &p.state;
    let open = use_state(|| false);
    let steps = use_state(|| STEPS[1]);
    let link = p.link.clone().expect("the app gives the panel its link");
    let prompt: Vec<u32> = s.ctl.tokens.iter().take(s.ctl.n_prompt).map(|t| t.id).collect();
    let key = (*open, prompt.clone(), *steps, s.ctl.ablation.clone());
    let got = use_ask(&link, s.ctl.tokens.len(), s.ctl.busy(), key, |(open, prompt, steps, _)| (*open && !prompt.is_empty()).then(|| Query::Branches { prompt: prompt.clone(), steps: *steps }));
    let ontoggle = {
        let open = open.clone();
        Callback::from(move |e: Event| {
            if let Some(d) = e.target_dyn_into::<web_sys::HtmlDetailsElement>() {
                open.set(d.open());
            }
        })
    };
    let on_steps = {
        let steps = steps.clone();
        Callback::from(move |e: Event| {
            if let Some(n) = e.target_dyn_into::<web_sys::HtmlSelectElement>().and_then(|s| s.value().parse().ok()) {
                steps.set(n);
            }
        })
    };
    let body = if !*open {
        html! {}
    } else if prompt.is_empty() {
        html! { <p class="muted">{ tr.t("branches-empty") }</p> }
    } else {
        match got.as_deref().map(|g| (&g.0, &g.1)) {
            Some(((_, asked, n, _), Answer::Branches { branches, pieces })) if *asked == prompt && *n == *steps => {
                let pieces: HashMap<u32, String> = pieces.iter().cloned().collect();
                let piece = |id: u32| visible(pieces.get(&id).map(String::as_str).unwrap_or(""));
                let rows = branches.branches.iter().map(|b| b.ids.len()).max().unwrap_or(0);
                let parts = branches.parts_at;
                let use_branch = |b: &Branch| {
                    let (state, link, ids) = (s.clone(), link.clone(), b.ids.clone());
                    Callback::from(move |_| {
                        let mut sh = crate::web::share::current(&state);
                        if matches!(sh.decoding, Decoding::Beam(_)) {
                            sh.decoding = Decoding::Greedy;
                        }
                        sh.steps = ids.len();
                        sh.forced = ids.iter().copied().enumerate().collect();
                        sh.drawn.clear();
                        sh.heads.clear();
                        sh.branch = None;
                        link.replay_or_say(&sh, None, None);
                    })
                };
                let head = branches.branches.iter().enumerate().map(|(k, b)| {
                    html! {
                        <th data-branch={k.to_string()}>
                            { label(&tr, &b.decoding) }<br />
                            <button class="small" data-use={k.to_string()} onclick={use_branch(b)} disabled={s.ctl.busy()}>{ tr.t("branches-use") }</button>
                        </th>
                    }
                });
                let body_rows = (0..rows).map(|i| {
                    let cells = branches.branches.iter().enumerate().map(|(k, b)| match b.ids.get(i) {
                        Some(&id) => {
                            let top = b.top[i].iter().enumerate().map(|(r, &(t, q))| format!("{}. {:?} {q:.3}", r + 1, piece(t))).collect::<Vec<_>>().join("\n");
                            let p = b.p[i].map_or_else(String::new, |p| format!("{p:.2}"));
                            let title = format!("{}\n{top}", tr.t("branches-top"));
                            html! { <td data-branch={k.to_string()} data-i={i.to_string()} data-id={id.to_string()} title={title}><code>{ piece(id) }</code><span class="muted">{ format!(" {p}") }</span></td> }
                        }
                        None => html! { <td></td> },
                    });
                    html! { <tr class={classes!((Some(i) == parts).then_some("parts"))}><th class="muted">{ i + 1 }</th>{ for cells }</tr> }
                });
                let note = match parts {
                    Some(i) => tr.tf("branches-parts", &[("i", (i + 1).into())]),
                    None => tr.tf("branches-agree", &[("n", rows.into())]),
                };
                html! {
                    <>
                        <p id="branches-note">{ note }</p>
                        <table class="branches-table" data-parts-at={parts.map_or("none".to_string(), |i| i.to_string())}>
                            <thead><tr><th></th>{ for head }</tr></thead>
                            <tbody>{ for body_rows }</tbody>
                        </table>
                    </>
                }
            }
            Some((_, Answer::Failed { message })) => html! { <p class="error">{ message.clone() }</p> },
            _ => html! { <p class="muted">{ tr.t("computing") }</p> },
        }
    };
    let options = STEPS.iter().map(|&n| html! { <option value={n.to_string()} selected={n == *steps}>{ n }</option> });
    html! {
        <details class="branches" id="branches" open={*open} {ontoggle}>
            <summary>{ tr.t("branches-title") }</summary>
            <p class="muted">{ tr.t("branches-help") }</p>
            <label>{ tr.t("branches-steps") }{ " " }<select id="branches-steps" onchange={on_steps}>{ for options }</select></label>
            { body }
        </details>
    }
}
