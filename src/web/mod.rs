//! The page (wasm32 only): a yew app on the UI thread and the engine in a
//! Web Worker, talking through the serde messages of `crate::protocol`.

pub mod app;
pub mod components;
pub mod link;
pub mod share;
pub mod state;
pub mod worker;

use wasm_bindgen::prelude::*;

/// Entry point of the page script.
#[wasm_bindgen]
pub fn start_app() {
    worker::console_error_panic_hook();
    let root = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("app"))
        .expect("the page has a #app element");
    yew::Renderer::<app::App>::with_root(root).render();
}
