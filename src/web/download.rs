//! What leaves the page: downloads, the clipboard, the address bar.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The page's own address with `query`.
pub fn url_with(query: &str) -> Option<String> {
    let loc = web_sys::window()?.location();
    Some(format!("{}{}?{query}", loc.origin().ok()?, loc.pathname().ok()?))
}

/// Put `url` in the address bar as a new history entry (Back returns to the one before).
pub fn push(url: &str) {
    if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = h.push_state_with_url(&JsValue::from_str("glassbox"), "", Some(url));
    }
}

/// Copy to the clipboard, where the browser allows it.
pub fn copy(text: &str) {
    if let Some(w) = web_sys::window() {
        let clip = js_sys::Reflect::get(&w.navigator(), &"clipboard".into()).ok().filter(|c| !c.is_undefined());
        if let Some(c) = clip {
            if let Ok(f) = js_sys::Reflect::get(&c, &"writeText".into()).and_then(|f| f.dyn_into::<js_sys::Function>()) {
                let _ = f.call1(&c, &JsValue::from_str(text));
            }
        }
    }
}

/// Offer `bytes` as a download named `name`.
pub fn download(name: &str, mime: &str, bytes: &[u8]) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let arr = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&arr);
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts) else { return };
    download_blob(&doc, name, &blob);
}

pub fn download_blob(doc: &web_sys::Document, name: &str, blob: &web_sys::Blob) {
    let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else { return };
    if let Ok(a) = doc.create_element("a").map(|a| a.unchecked_into::<web_sys::HtmlAnchorElement>()) {
        a.set_href(&url);
        a.set_download(name);
        if let Some(body) = doc.body() {
            let _ = body.append_child(&a);
            a.click();
            let _ = body.remove_child(&a);
        }
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
