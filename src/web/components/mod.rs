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
use crate::web::state::State;

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
