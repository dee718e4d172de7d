//! Links that replay a session and session files: the page's side of
//! `crate::share`. The control core writes the session part (what replays
//! it) and replays it by sending the same commands a person would, so what
//! opens is exactly what was shared; the page adds which views were open.

use crate::share::{FileToken, ModelId, SessionFile, Shared, ViewState, SCHEMA};
use crate::web::state::{Inside, State, TokKind, View};

/// The session on screen, as a link describes it.
pub fn current(s: &State) -> Shared {
    let v = &s.views;
    let view = ViewState {
        layer: v.layer,
        head: v.head,
        focus: v.focus,
        view: match v.view {
            View::Heatmap => "heatmap",
            View::Grid => "grid",
            View::Lines => "lines",
        }
        .into(),
        inside: match v.inside {
            Inside::Math => "math",
            Inside::Lens => "lens",
            Inside::Residual => "residual",
            Inside::Why => "why",
            Inside::Flow => "flow",
            Inside::Patch => "patch",
        }
        .into(),
        patch: v.patch.clone(),
    };
    let model = (s.model.key != crate::web::params::default_model() && !s.model.key.is_empty()).then(|| s.model.key.clone());
    s.ctl.shared(view, s.lang, model)
}

/// Which model this page runs, for session files.
pub fn model_id(s: &State) -> ModelId {
    ModelId { name: s.model.name.clone(), n_layers: s.model.n_layers, n_heads: s.model.n_heads, vocab: s.model.vocab }
}

/// The session on screen as a file.
pub fn session_file(s: &State) -> SessionFile {
    let tokens = s
        .ctl
        .tokens
        .iter()
        .map(|t| FileToken {
            id: t.id,
            text: t.text.clone(),
            kind: match t.kind {
                TokKind::Prompt => "prompt",
                TokKind::Generated => "generated",
                TokKind::Forced => "forced",
            }
            .into(),
        })
        .collect();
    SessionFile { schema: SCHEMA, app: "glassbox".into(), model: model_id(s), session: current(s), tokens, candidates: (*s.ctl.step_cands).clone() }
}
