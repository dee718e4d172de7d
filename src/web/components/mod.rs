//! One component per file. Components read state through props and talk to
//! the engine only through `Link` messages.

pub mod attention;
pub mod candidates;
pub mod colors;
pub mod controls;
pub mod grid;
pub mod heatmap;
pub mod hud;
pub mod lines;
pub mod math;
pub mod status;
pub mod tokens;

use yew::prelude::*;

use crate::web::app::Link;
use crate::web::state::{Attn, State};

/// Props shared by most components.
#[derive(Properties, PartialEq, Clone)]
pub struct StateProps {
    pub state: UseReducerHandle<State>,
    #[prop_or_default]
    pub link: Option<Link>,
}

/// A token's text with whitespace made visible (· space, ↵ newline, → tab).
pub fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' ' => '·',
            '\n' => '↵',
            '\t' => '→',
            '\r' => '␍',
            c => c,
        })
        .collect()
}

/// What the one-head views (heatmap, lines, math) show: the attention store,
/// the tokens, which head, and which query token is in focus.
#[derive(Properties, PartialEq, Clone)]
pub struct HeadProps {
    pub attn: Attn,
    pub tokens: Vec<String>,
    pub layer: usize,
    pub head: usize,
    /// Query heads per KV head.
    pub group: usize,
    pub focus: Option<usize>,
    #[prop_or_default]
    pub on_focus: Callback<Option<usize>>,
}
