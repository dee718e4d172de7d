//! The WebGPU device: opened once and kept for the next model, opened
//! again after it was lost (a driver reset, another tab, a test hook).

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::backend::gpu::{GpuContext, GpuOptions};
use crate::protocol::{FromWorker, Phase, Reply};
use crate::worker::post::{post, post_reply, scope};
use crate::error::Error;

thread_local! {
    /// The device was lost: nothing more runs on it.
    static LOST: Cell<bool> = const { Cell::new(false) };
}

/// The GPU device: the one opened before while it lives, else a new one.
pub async fn gpu_context(slot: &RefCell<Option<Arc<GpuContext>>>) -> Result<Arc<GpuContext>, Error> {
    if LOST.with(|l| l.replace(false)) {
        slot.borrow_mut().take();
    }
    if let Some(ctx) = slot.borrow().clone() {
        return Ok(ctx);
    }
    post(FromWorker::Progress { phase: Phase::Shaders, done: 0, total: 1 });
    let ctx = Arc::new(GpuContext::new(GpuOptions::default()).await?);
    // Tell the page when the device goes (news of its own, whatever request
    // is being handled): it offers the CPU or a reload.
    ctx.device.set_device_lost_callback(|reason, message| {
        LOST.with(|l| l.set(true));
        post_reply(&Reply { id: 0, last: true, msg: FromWorker::DeviceLost { message: format!("{reason:?}: {message}") } }, None);
    });
    *slot.borrow_mut() = Some(ctx.clone());
    Ok(ctx)
}

/// The adapter's own words (vendor, architecture), which wgpu does not pass on:
/// e.g. "SwiftShader" for Chromium's software adapter.
pub async fn adapter_label() -> Option<String> {
    let get = |o: &JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).ok().filter(|v| !v.is_undefined() && !v.is_null());
    let gpu = get(&scope().navigator().into(), "gpu")?;
    let request = get(&gpu, "requestAdapter")?.dyn_into::<js_sys::Function>().ok()?;
    let promise = request.call0(&gpu).ok()?.dyn_into::<js_sys::Promise>().ok()?;
    let adapter = JsFuture::from(promise).await.ok().filter(|a| !a.is_null())?;
    let info = get(&adapter, "info")?;
    let field = |k: &str| get(&info, k).and_then(|v| v.as_string()).filter(|s| !s.is_empty());
    let arch = field("architecture");
    if arch.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("swiftshader")) {
        return Some("SwiftShader".into());
    }
    let words: Vec<String> = [field("vendor"), arch, field("description")].into_iter().flatten().collect();
    (!words.is_empty()).then(|| words.join(" "))
}
