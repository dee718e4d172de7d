//! The engine in a dedicated Web Worker: loads the model (download with
//! progress, kept in the Cache API), picks WebGPU or the CPU, and answers
//! the page's messages. The page never touches GPU buffers.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Cache, DedicatedWorkerGlobalScope, MessageEvent, ReadableStreamDefaultReader, Response};
use web_time::Instant;

use crate::backend::cpu::Cpu;
use crate::backend::gpu::{Gpu, GpuContext, GpuOptions};
use crate::backend::Backend;
use crate::generate::{Session, SessionOptions};
use crate::gguf::Gguf;
use crate::protocol::{BackendChoice, FromWorker, ToWorker, TokenInfo};
use crate::{Error, Model, Result, Tokenizer};

const CACHE_NAME: &str = "glassbox-models-v1";

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(msg: &FromWorker) {
    let s = serde_json::to_string(msg).expect("messages serialize");
    let _ = scope().post_message(&JsValue::from_str(&s));
}

fn js_err(context: &str) -> impl Fn(JsValue) -> Error + '_ {
    move |e| Error::Backend(format!("{context}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}"))))
}

enum AnySession {
    Gpu(Session<Gpu>),
    Cpu(Session<Cpu>),
}

macro_rules! with_session {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            AnySession::Gpu($v) => $body,
            AnySession::Cpu($v) => $body,
        }
    };
}

#[derive(Default)]
struct Engine {
    session: Option<AnySession>,
}

/// Read a response body to the end, reporting progress every megabyte.
async fn read_body(resp: &Response, phase: &str, total: u64) -> Result<Vec<u8>> {
    let body = resp.body().ok_or_else(|| Error::Backend("the model response has no body".into()))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total as usize);
    let mut last = 0u64;
    post(&FromWorker::Progress { phase: phase.into(), done: 0, total });
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(js_err("reading the model"))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map(|v| v.is_truthy()).unwrap_or(true);
        if done {
            break;
        }
        let value: Uint8Array = js_sys::Reflect::get(&chunk, &"value".into()).map_err(js_err("reading the model"))?.unchecked_into();
        let start = bytes.len();
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        if bytes.len() as u64 - last >= 1 << 20 {
            last = bytes.len() as u64;
            post(&FromWorker::Progress { phase: phase.into(), done: last, total });
        }
    }
    post(&FromWorker::Progress { phase: phase.into(), done: bytes.len() as u64, total: total.max(bytes.len() as u64) });
    Ok(bytes)
}

/// The model's bytes: from the browser cache when there, else downloaded and cached.
async fn fetch_model(url: &str) -> Result<(Vec<u8>, bool)> {
    let caches = scope().caches().map_err(js_err("opening the browser cache"))?;
    let cache: Cache = JsFuture::from(caches.open(CACHE_NAME)).await.map_err(js_err("opening the browser cache"))?.unchecked_into();
    let hit = JsFuture::from(cache.match_with_str(url)).await.map_err(js_err("reading the browser cache"))?;
    if let Ok(resp) = hit.dyn_into::<Response>() {
        let total = resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
        let bytes = read_body(&resp, "cache", total).await?;
        if total == 0 || bytes.len() as u64 == total {
            return Ok((bytes, true));
        }
        // A damaged entry: forget it and download again.
        let _ = JsFuture::from(cache.delete_with_str(url)).await;
    }
    let resp: Response = JsFuture::from(scope().fetch_with_str(url))
        .await
        .map_err(js_err(&format!("downloading the model from {url}")))?
        .unchecked_into();
    if !resp.ok() {
        return Err(Error::Backend(format!(
            "downloading the model from {url} failed: HTTP {} (is `glassbox serve` running with the model fetched by scripts/fetch-model.sh?)",
            resp.status()
        )));
    }
    let total = resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut bytes = read_body(&resp, "download", total).await?;
    // Keep it for the next visit. A full cache is not an error: say so and go on.
    let init = web_sys::ResponseInit::new();
    init.set_status(200);
    let headers = web_sys::Headers::new().map_err(js_err("caching the model"))?;
    let _ = headers.set("content-length", &bytes.len().to_string());
    let _ = headers.set("content-type", "application/octet-stream");
    init.set_headers(&headers);
    match Response::new_with_opt_u8_array_and_init(Some(&mut bytes), &init) {
        Ok(copy) => {
            if let Err(e) = JsFuture::from(cache.put_with_str(url, &copy)).await {
                web_sys::console::warn_2(&"Glassbox: could not keep the model in the browser cache:".into(), &e);
            }
        }
        Err(e) => web_sys::console::warn_2(&"Glassbox: could not keep the model in the browser cache:".into(), &e),
    }
    Ok((bytes, false))
}

fn progress(phase: &'static str) -> impl FnMut(usize, usize) {
    move |done, total| post(&FromWorker::Progress { phase: phase.into(), done: done as u64, total: total as u64 })
}

async fn load(url: &str, choice: BackendChoice, n_ctx: usize) -> Result<(AnySession, FromWorker)> {
    let t0 = Instant::now();
    let (bytes, cached) = fetch_model(url).await?;
    post(&FromWorker::Progress { phase: "parse".into(), done: 0, total: 1 });
    let g = Gguf::from_bytes(bytes)?;
    let tok = Arc::new(Tokenizer::from_gguf(&g.header)?);
    let opts = SessionOptions { n_ctx, max_batch: 16, trace: true, ..Default::default() };
    let mut note = None;
    if choice == BackendChoice::Auto {
        post(&FromWorker::Progress { phase: "shaders".into(), done: 0, total: 1 });
        match GpuContext::new(GpuOptions::default()).await {
            Ok(ctx) => {
                let adapter = match adapter_label().await {
                    Some(l) => l,
                    None if !ctx.info.name.is_empty() => ctx.info.name.clone(),
                    None => "GPU".into(),
                };
                let mut gpu = Gpu::new(Arc::new(ctx));
                let model = Arc::new(Model::load(&g, &mut gpu, &mut progress("upload"))?);
                let s = Session::new(gpu.sibling(), model.clone(), tok, opts)?;
                let ready = ready(&model, &format!("WebGPU · {adapter}"), true, None, cached, t0);
                return Ok((AnySession::Gpu(s), ready));
            }
            Err(e) => {
                web_sys::console::warn_1(&format!("Glassbox: no WebGPU adapter: {e}").into());
                note = Some("WebGPU is not available in this browser, so the model runs on the CPU in a worker: slower, same tokens".into());
            }
        }
    }
    let mut cpu = Cpu::new();
    let model = Arc::new(Model::load(&g, &mut cpu, &mut progress("upload"))?);
    let s = Session::new(Cpu::new(), model.clone(), tok, opts)?;
    let ready = ready(&model, "CPU", false, note, cached, t0);
    Ok((AnySession::Cpu(s), ready))
}

/// The adapter's own words (vendor, architecture), which wgpu does not pass on:
/// e.g. "SwiftShader" for Chromium's software adapter.
async fn adapter_label() -> Option<String> {
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

fn ready<B: Backend>(m: &Model<B>, backend: &str, webgpu: bool, note: Option<String>, cached: bool, t0: Instant) -> FromWorker {
    let c = &m.config;
    FromWorker::Ready {
        backend: backend.into(),
        webgpu,
        note,
        n_layers: c.n_layers,
        n_heads: c.n_heads,
        n_kv_heads: c.n_kv_heads,
        n_ctx: 0,
        cached,
        load_ms: t0.elapsed().as_secs_f64() * 1e3,
    }
}

async fn handle(engine: &RefCell<Engine>, msg: ToWorker) -> Result<Option<FromWorker>> {
    if let ToWorker::Load { url, backend, n_ctx } = msg {
        let (s, mut ready) = load(&url, backend, n_ctx).await?;
        if let FromWorker::Ready { n_ctx: n, .. } = &mut ready {
            *n = n_ctx;
        }
        engine.borrow_mut().session = Some(s);
        return Ok(Some(ready));
    }
    // Sessions are used by one message at a time (the page waits for each answer).
    let mut session = engine.borrow_mut().session.take().ok_or_else(|| Error::Usage("the model is not loaded yet".into()))?;
    let out = with_session!(&mut session, s => run(s, msg).await);
    engine.borrow_mut().session = Some(session);
    out
}

async fn run<B: Backend>(s: &mut Session<B>, msg: ToWorker) -> Result<Option<FromWorker>> {
    Ok(Some(match msg {
        ToWorker::Load { .. } => unreachable!("handled above"),
        ToWorker::Prefill { prompt, chat, sampling } => {
            let text = if chat { s.tokenizer.chat_prompt(&prompt)? } else { prompt };
            let ids = s.tokenizer.encode(&text)?;
            s.set_sampling(sampling)?;
            let pre = s.prefill(&ids).await?;
            let tokens = ids.iter().map(|&id| TokenInfo { id, text: s.tokenizer.piece(id) }).collect();
            FromWorker::Prefilled { tokens, attention: pre.attention.unwrap_or_default(), candidates: pre.candidates, ms: pre.forward_ms }
        }
        ToWorker::Step => {
            let step = s.step().await?;
            FromWorker::Stepped { step, next: s.candidates() }
        }
        ToWorker::Force { id } => {
            let step = s.force(id).await?;
            FromWorker::Stepped { step, next: s.candidates() }
        }
        ToWorker::Undo => {
            let removed = s.undo().await?;
            FromWorker::Undone { removed, candidates: s.candidates() }
        }
        ToWorker::SetSampling { sampling } => {
            s.set_sampling(sampling)?;
            return Ok(None);
        }
    }))
}

/// Entry point of the worker script: listen for the page's messages.
#[wasm_bindgen]
pub fn start_worker() {
    console_error_panic_hook();
    let engine = Rc::new(RefCell::new(Engine::default()));
    // Messages are handled strictly one after another.
    let queue: Rc<RefCell<Vec<ToWorker>>> = Rc::new(RefCell::new(Vec::new()));
    let busy = Rc::new(RefCell::new(false));
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let Some(text) = ev.data().as_string() else { return };
        match serde_json::from_str::<ToWorker>(&text) {
            Ok(msg) => queue.borrow_mut().push(msg),
            Err(e) => {
                post(&FromWorker::Error { message: format!("bad message from the page: {e}") });
                return;
            }
        }
        if *busy.borrow() {
            return;
        }
        *busy.borrow_mut() = true;
        let (engine, queue, busy) = (engine.clone(), queue.clone(), busy.clone());
        spawn_local(async move {
            loop {
                let next = {
                    let mut q = queue.borrow_mut();
                    if q.is_empty() {
                        None
                    } else {
                        Some(q.remove(0))
                    }
                };
                let Some(msg) = next else { break };
                match handle(&engine, msg).await {
                    Ok(Some(reply)) => post(&reply),
                    Ok(None) => {}
                    Err(e) => post(&FromWorker::Error { message: e.to_string() }),
                }
            }
            *busy.borrow_mut() = false;
        });
    });
    scope().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(&FromWorker::Alive);
}

/// Send Rust panics to the browser console instead of an opaque "unreachable".
pub fn console_error_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("Glassbox panicked: {info}").into());
    }));
}
