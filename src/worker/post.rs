//! The worker's side of JavaScript: its scope, JavaScript errors as ours,
//! and posting replies to the page. Every reply names the request it
//! answers: the one being handled (`CURRENT`), or none (0) for the
//! worker's own news.

use std::cell::Cell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::DedicatedWorkerGlobalScope;

use crate::error::Error;
use crate::protocol::{FromWorker, Reply, RequestId};

/// A JavaScript error as ours, with what was being done.
pub fn js_err(context: &str) -> impl Fn(JsValue) -> Error + '_ {
    move |e| Error::Backend(format!("{context}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}"))))
}

pub fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

thread_local! {
    /// The request being handled (0 between requests).
    static CURRENT: Cell<RequestId> = const { Cell::new(0) };
}

/// Handle request `id` until the returned guard goes.
pub fn handling(id: RequestId) -> impl Drop {
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(0));
        }
    }
    CURRENT.with(|c| c.set(id));
    Guard
}

/// Post `reply` (with `data` beside it as a transferred ArrayBuffer of
/// f32: the page receives `[json, ArrayBuffer]`, and no number becomes text).
pub fn post_reply(reply: &Reply, data: Option<&[f32]>) {
    let s = serde_json::to_string(reply).expect("messages serialize");
    match data {
        None => {
            let _ = scope().post_message(&JsValue::from_str(&s));
        }
        Some(data) => {
            let floats = js_sys::Float32Array::new_with_length(data.len() as u32);
            floats.copy_from(data);
            let buffer = floats.buffer();
            let pair = js_sys::Array::of2(&JsValue::from_str(&s), &buffer);
            let _ = scope().post_message_with_transfer(&pair, &js_sys::Array::of1(&buffer));
        }
    }
}

/// A reply to the request being handled that is not its last (progress, a
/// prefill before its step); outside a request, the worker's own news.
pub fn post(msg: FromWorker) {
    let id = CURRENT.with(|c| c.get());
    post_reply(&Reply { id, last: id == 0, msg }, None);
}
