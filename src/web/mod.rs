//! The page (wasm32 only): a yew app on the UI thread and the engine in a
//! Web Worker (`crate::worker`), talking through the serde messages of
//! `crate::protocol`, with the control core (`crate::control`) deciding
//! what is sent.

pub mod app;
pub mod clock;
pub mod components;
pub mod download;
pub mod link;
pub mod params;
pub mod share;
pub mod state;

use wasm_bindgen::prelude::*;

/// Entry point of the page script.
#[wasm_bindgen]
pub fn start_app() {
    crate::worker::console_error_panic_hook();
    let root = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("app"))
        .expect("the page has a #app element");
    yew::Renderer::<app::App>::with_root(root).render();
}
