//! The engine in a dedicated Web Worker: loads the model (download with
//! progress, kept in the Cache API), picks WebGPU or the CPU, and answers
//! the page's messages. The page never touches GPU buffers.

// wgpu's browser types are not Send; the worker is one thread, and the
// session API shares model and device through Arc as it does natively.
#![allow(clippy::arc_with_non_send_sync)]

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
use crate::backend::QStore;
use crate::beam::{BeamOptions, BeamSearch};
use crate::inspect::Ablation;
use crate::model::{ModelInfo, Problem};
use crate::protocol::{Answer, BackendChoice, FromWorker, KeptModel, Memory, Phase, Query, ToWorker, TokenInfo};
use crate::trace::Candidate;
use crate::{Error, Result};

const CACHE_NAME: &str = "glassbox-models-v1";

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(msg: &FromWorker) {
    let s = serde_json::to_string(msg).expect("messages serialize");
    let _ = scope().post_message(&JsValue::from_str(&s));
}

/// Post `msg` with `data` beside it as a transferred ArrayBuffer of f32:
/// the page receives `[json, ArrayBuffer]`, and no number becomes text.
fn post_binary(msg: &FromWorker, data: &[f32]) {
    let s = serde_json::to_string(msg).expect("messages serialize");
    let floats = js_sys::Float32Array::new_with_length(data.len() as u32);
    floats.copy_from(data);
    let buffer = floats.buffer();
    let pair = js_sys::Array::of2(&JsValue::from_str(&s), &buffer);
    let _ = scope().post_message_with_transfer(&pair, &js_sys::Array::of1(&buffer));
}

/// Bytes of this worker's WebAssembly memory.
fn wasm_bytes() -> u64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0, |b| b.byte_length() as u64)
}

fn js_err(context: &str) -> impl Fn(JsValue) -> Error + '_ {
    move |e| Error::Backend(format!("{context}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}"))))
}

enum AnySession {
    Gpu(Box<Pair<Gpu>>),
    Cpu(Box<Pair<Cpu>>),
}

struct Engine {
    session: Option<AnySession>,
    /// GPU bytes of the weights (uploaded once, shared by sessions).
    gpu_weights: u64,
    /// The WebGPU device, opened once and kept when the model changes.
    gpu: Option<Arc<GpuContext>>,
    /// A user's file, checked and waiting for the page's confirmation.
    pending: Option<Pending>,
    /// The backend and context cap the page asked for.
    choice: (BackendChoice, Option<usize>),
}

struct Pending {
    g: Gguf,
    key: String,
    /// Too big for this GPU's bindings: load it on the CPU.
    cpu_only: bool,
}

/// The largest file the page opens: WebAssembly memory holds 4 GB, and the
/// file, the CPU backend's copy of the weights and the caches share it.
const MAX_OPEN: u64 = 3 << 30;

/// The largest download buffer reserved up front, whatever Content-Length says.
const MAX_RESERVE: u64 = 1 << 30;

/// A body longer than the page can open (said by its header, or read so far).
fn too_long(bytes: u64) -> Error {
    Error::Usage(format!("the model is at least {} MB; the page opens files up to {} MB", bytes >> 20, MAX_OPEN >> 20))
}

/// Read a response body to the end, reporting progress every megabyte.
/// Content-Length only sizes the first reservation (at most MAX_RESERVE)
/// and the progress bar; the body itself may be longer or shorter, and is
/// refused once it passes what the page can open.
async fn read_body(resp: &Response, phase: Phase, total: u64) -> Result<Vec<u8>> {
    if total > MAX_OPEN {
        return Err(too_long(total));
    }
    let body = resp.body().ok_or_else(|| Error::Backend("the model response has no body".into()))?;
    read_stream(&body, phase, total, Vec::with_capacity(total.min(MAX_RESERVE) as usize)).await
}

/// Read a stream to the end into `bytes`, reporting progress every megabyte.
async fn read_stream(body: &web_sys::ReadableStream, phase: Phase, total: u64, mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut last = 0u64;
    post(&FromWorker::Progress { phase, done: 0, total });
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(js_err("reading the model"))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map(|v| v.is_truthy()).unwrap_or(true);
        if done {
            break;
        }
        let value: Uint8Array = js_sys::Reflect::get(&chunk, &"value".into()).map_err(js_err("reading the model"))?.unchecked_into();
        let start = bytes.len();
        if (start + value.length() as usize) as u64 > MAX_OPEN {
            return Err(too_long(start as u64 + value.length() as u64));
        }
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        if bytes.len() as u64 - last >= 1 << 20 {
            last = bytes.len() as u64;
            post(&FromWorker::Progress { phase, done: last, total });
        }
    }
    post(&FromWorker::Progress { phase, done: bytes.len() as u64, total: total.max(bytes.len() as u64) });
    Ok(bytes)
}

/// The served file's version: its ETag (glassbox serve makes it from the
/// size and modification time), from a HEAD request; None when the server
/// gives none or cannot be reached (offline: any kept copy will do).
async fn served_version(url: &str) -> Option<String> {
    let init = web_sys::RequestInit::new();
    init.set_method("HEAD");
    let resp: Response = JsFuture::from(scope().fetch_with_str_and_init(url, &init)).await.ok()?.dyn_into().ok()?;
    if !resp.ok() {
        return None;
    }
    let tag = resp.headers().get("etag").ok().flatten()?;
    let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    (!tag.is_empty()).then_some(tag)
}

/// The model's bytes, whether they came from the browser cache, and the
/// cache key they belong under. The served model is cached by URL and
/// version, so a new file at the same URL is downloaded, not the old one
/// served from the cache forever; a user's kept model by its own key.
async fn fetch_model(url: &str) -> Result<(Vec<u8>, bool, String)> {
    let kept = KeptModel::from_key(url).is_some();
    let version = if kept { None } else { served_version(url).await };
    let key = match &version {
        Some(v) => format!("{url}?v={v}"),
        None => url.to_string(),
    };
    // No cache (a private window, storage off) is no reason not to load.
    let hit = match open_cache().await {
        Ok(cache) if !kept && version.is_none() => {
            // Offline or no version: whichever copy is kept.
            let opts = web_sys::CacheQueryOptions::new();
            opts.set_ignore_search(true);
            JsFuture::from(cache.match_with_str_and_options(url, &opts)).await.ok()
        }
        Ok(cache) => JsFuture::from(cache.match_with_str(&key)).await.ok(),
        Err(_) => None,
    };
    if let Some(resp) = hit.and_then(|h| h.dyn_into::<Response>().ok()) {
        let total = resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
        let bytes = read_body(&resp, Phase::Cache, total).await?;
        if total == 0 || bytes.len() as u64 == total {
            return Ok((bytes, true, key));
        }
        // A damaged entry: forget it and download again.
        forget(&key).await;
    }
    if kept {
        return Err(Error::Usage(format!("the kept model {url} is no longer in this browser")));
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
    let bytes = read_body(&resp, Phase::Download, total).await?;
    Ok((bytes, false, key))
}

/// Forget every kept version of the served file at `url`.
async fn forget_versions(url: &str) {
    if let Ok(cache) = open_cache().await {
        let opts = web_sys::CacheQueryOptions::new();
        opts.set_ignore_search(true);
        let _ = JsFuture::from(cache.delete_with_str_and_options(url, &opts)).await;
    }
}

thread_local! {
    /// The fault tests' stand-in for a browser without the Cache API.
    static NO_CACHE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

async fn open_cache() -> Result<Cache> {
    if NO_CACHE.with(|c| c.get()) {
        return Err(Error::Backend("the browser cache is not available (test hook)".into()));
    }
    let caches = scope().caches().map_err(js_err("opening the browser cache"))?;
    Ok(JsFuture::from(caches.open(CACHE_NAME)).await.map_err(js_err("opening the browser cache"))?.unchecked_into())
}

/// Keep a model's bytes in the browser cache under `key` (only once it has
/// loaded: a file that fails is never kept). A full cache or none at all
/// (private windows) is not an error: the page says so and goes on.
async fn keep(key: &str, bytes: &[u8]) -> Result<()> {
    let cache = open_cache().await?;
    let init = web_sys::ResponseInit::new();
    init.set_status(200);
    let headers = web_sys::Headers::new().map_err(js_err("caching the model"))?;
    let _ = headers.set("content-length", &bytes.len().to_string());
    let _ = headers.set("content-type", "application/octet-stream");
    init.set_headers(&headers);
    let array = Uint8Array::from(bytes);
    let copy = Response::new_with_opt_buffer_source_and_init(Some(&array), &init).map_err(js_err("caching the model"))?;
    JsFuture::from(cache.put_with_str(key, &copy)).await.map_err(js_err("keeping the model in the browser cache"))?;
    Ok(())
}

async fn forget(key: &str) {
    if let Ok(cache) = open_cache().await {
        let _ = JsFuture::from(cache.delete_with_str(key)).await;
    }
}

/// Whether the cache holds `key`.
async fn is_kept(key: &str) -> bool {
    let Ok(cache) = open_cache().await else { return false };
    JsFuture::from(cache.match_with_str(key)).await.is_ok_and(|r| r.dyn_into::<Response>().is_ok())
}

/// The user's models kept in this browser.
async fn kept_models() -> Vec<KeptModel> {
    let Ok(cache) = open_cache().await else { return Vec::new() };
    let Ok(keys) = JsFuture::from(cache.keys()).await else { return Vec::new() };
    let mut out: Vec<KeptModel> = js_sys::Array::from(&keys)
        .iter()
        .filter_map(|r| r.dyn_into::<web_sys::Request>().ok())
        .filter_map(|r| {
            let url = r.url();
            let at = url.find("/kept/")?;
            KeptModel::from_key(&url[at + 1..])
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.key.cmp(&b.key)));
    out
}

/// Read the user's file to the end, with progress; the error says why not.
async fn read_file(file: &web_sys::File) -> std::result::Result<Vec<u8>, (Problem, String)> {
    let size = file.size() as u64;
    if size > MAX_OPEN {
        return Err((
            Problem::TooBig,
            format!("the file is {:.2} GB; this page's WebAssembly memory holds 4 GB, so files up to {:.1} GB open here", size as f64 / 1e9, MAX_OPEN as f64 / 1e9),
        ));
    }
    let mut bytes = Vec::new();
    if bytes.try_reserve_exact(size as usize).is_err() {
        return Err((Problem::TooBig, format!("the browser could not give {:.1} MB of memory to read the file", size as f64 / 1e6)));
    }
    let unreadable = |e: String| (Problem::Unreadable, format!("{e}: was the file moved, changed or deleted while it was read?"));
    let bytes = read_stream(&file.stream(), Phase::Read, size, bytes).await.map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() as u64 != size {
        return Err(unreadable(format!("read {} of {} bytes", bytes.len(), size)));
    }
    Ok(bytes)
}

fn progress(phase: Phase) -> impl FnMut(usize, usize) {
    move |done, total| post(&FromWorker::Progress { phase, done: done as u64, total: total as u64 })
}

/// Session options on the page: no per-step trace (views ask for maps), q
/// kept in f16 (maps are for the eye), the model's context unless capped.
fn page_options(train_ctx: usize, cap: Option<usize>) -> SessionOptions {
    let n_ctx = cap.map_or(train_ctx, |c| c.min(train_ctx)).max(1);
    SessionOptions { n_ctx, max_batch: 16, trace: false, q_store: QStore::F16, ..Default::default() }
}

/// Where a model comes from, as `Ready` reports it.
struct Source {
    key: String,
    cached: bool,
    missing: Option<String>,
    /// Already in the browser cache.
    kept: bool,
}

/// The GPU device: the one opened before, else a new one (None: no WebGPU).
async fn gpu_context(engine: &RefCell<Engine>) -> std::result::Result<Arc<GpuContext>, Error> {
    if let Some(ctx) = engine.borrow().gpu.clone() {
        return Ok(ctx);
    }
    post(&FromWorker::Progress { phase: Phase::Shaders, done: 0, total: 1 });
    let ctx = Arc::new(GpuContext::new(GpuOptions::default()).await?);
    // Tell the page when the device goes: it offers the CPU or a reload.
    ctx.device.set_device_lost_callback(|reason, message| post(&FromWorker::DeviceLost { message: format!("{reason:?}: {message}") }));
    engine.borrow_mut().gpu = Some(ctx.clone());
    Ok(ctx)
}

/// Make a session for the model in `g`, on WebGPU when chosen and present.
async fn load(engine: &RefCell<Engine>, g: &Gguf, choice: BackendChoice, cap: Option<usize>, src: Source, t0: Instant) -> Result<(AnySession, FromWorker, u64)> {
    let mut note = None;
    let file_bytes = g.bytes().len() as u64;
    if choice == BackendChoice::Auto {
        match gpu_context(engine).await {
            Ok(ctx) => {
                // (Loading checks everything else; this needs the header only.)
                if let Some((name, bytes)) = crate::model::info::widest_row(&g.header) {
                    crate::model::info::fits_binding(name, bytes, ctx.max_binding())?;
                }
                let adapter = match adapter_label().await {
                    Some(l) => l,
                    None if !ctx.info.name.is_empty() => ctx.info.name.clone(),
                    None => "GPU".into(),
                };
                let mut gpu = Gpu::new(ctx);
                let (model, tok) = crate::load(g, &mut gpu, &mut progress(Phase::Upload))?;
                let model = Arc::new(model);
                let opts = page_options(model.config.train_ctx, cap);
                let s = Session::new(gpu.sibling(), model.clone(), Arc::new(tok), opts)?;
                let r = make_ready(&s, &format!("WebGPU · {adapter}"), true, None, &src, file_bytes, t0);
                return Ok((AnySession::Gpu(Box::new(Pair { main: s, baseline: None, beam: None })), r, gpu.bytes_alive()));
            }
            Err(e) => {
                web_sys::console::warn_1(&format!("Glassbox: no WebGPU adapter: {e}").into());
                note = Some("WebGPU is not available in this browser, so the model runs on the CPU in a worker: slower, same tokens".into());
            }
        }
    }
    let mut cpu = Cpu::new();
    let (model, tok) = crate::load(g, &mut cpu, &mut progress(Phase::Upload))?;
    let model = Arc::new(model);
    let opts = page_options(model.config.train_ctx, cap);
    let s = Session::new(Cpu::new(), model.clone(), Arc::new(tok), opts)?;
    let r = make_ready(&s, "CPU", false, note, &src, file_bytes, t0);
    Ok((AnySession::Cpu(Box::new(Pair { main: s, baseline: None, beam: None })), r, 0))
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

fn make_ready<B: Backend>(s: &Session<B>, backend: &str, webgpu: bool, note: Option<String>, src: &Source, file_bytes: u64, t0: Instant) -> FromWorker {
    let c = &s.model.config;
    FromWorker::Ready {
        model: c.name.clone(),
        vocab: c.vocab_size,
        backend: backend.into(),
        webgpu,
        note,
        n_layers: c.n_layers,
        n_heads: c.n_heads,
        n_kv_heads: c.n_kv_heads,
        head_dim: c.head_dim,
        n_ctx: s.opts.n_ctx,
        cached: src.cached,
        key: src.key.clone(),
        file_bytes,
        missing: src.missing.clone(),
        kept: src.kept,
        load_ms: t0.elapsed().as_secs_f64() * 1e3,
    }
}

/// A reply: a message, and floats to send beside it as binary.
type Reply = Option<(FromWorker, Option<Vec<f32>>)>;

async fn handle(engine: &RefCell<Engine>, msg: ToWorker, file: Option<JsValue>) -> Result<Reply> {
    let t0 = Instant::now();
    match msg {
        ToWorker::Load { url, backend, n_ctx } => {
            engine.borrow_mut().choice = (backend, n_ctx);
            // A kept model that is no longer in this browser: the served one instead.
            let (url, missing) = match KeptModel::from_key(&url) {
                Some(k) if !is_kept(&url).await => (crate::web::app::MODEL_URL.to_string(), Some(k.name)),
                _ => (url, None),
            };
            let (bytes, cached, cache_key) = fetch_model(&url).await?;
            post(&FromWorker::Progress { phase: Phase::Parse, done: 0, total: 1 });
            let loaded = match Gguf::from_bytes(bytes) {
                Ok(g) => load(engine, &g, backend, n_ctx, Source { key: url.clone(), cached, missing, kept: cached }, t0).await.map(|l| (l, g)),
                Err(e) => Err(e.into()),
            };
            // A file that fails is never kept, and a kept one that fails is evicted.
            let ((s, mut ready, gpu_weights), g) = match loaded {
                Ok(l) => l,
                Err(e) => {
                    if cached {
                        forget(&cache_key).await;
                    }
                    return Err(e);
                }
            };
            if !cached {
                // The new version replaces any older one.
                if KeptModel::from_key(&url).is_none() {
                    forget_versions(&url).await;
                }
                keep_or_say(&cache_key, g.bytes(), &mut ready).await;
            }
            install(engine, s, gpu_weights);
            Ok(Some((ready, None)))
        }
        ToWorker::Open { name, bytes: _ } => {
            engine.borrow_mut().pending = None;
            let Some(file) = file.and_then(|f| f.dyn_into::<web_sys::File>().ok()) else {
                return Err(Error::Usage("Open came without its file".into()));
            };
            let failed = |problem: Problem, message: String| Ok(Some((FromWorker::OpenFailed { problem, message }, None)));
            let data = match read_file(&file).await {
                Ok(d) => d,
                Err((p, m)) => return failed(p, m),
            };
            post(&FromWorker::Progress { phase: Phase::Parse, done: 0, total: 1 });
            let key = KeptModel::key_for(&name, &data);
            let size = data.len() as u64;
            let g = match Gguf::from_bytes(data) {
                Ok(g) => g,
                Err(e) => {
                    let e = Error::from(e);
                    return failed(Problem::of(&e), e.to_string());
                }
            };
            let info = match ModelInfo::inspect(&g, size) {
                Ok(i) => i,
                Err(e) => return failed(Problem::of(&e), e.to_string()),
            };
            let gpu = match (&engine.borrow().gpu, engine.borrow().choice.0) {
                (Some(ctx), BackendChoice::Auto) => info.fits_binding(ctx.max_binding()).err().map(|e| e.to_string()),
                _ => None,
            };
            engine.borrow_mut().pending = Some(Pending { g, key: key.clone(), cpu_only: gpu.is_some() });
            Ok(Some((FromWorker::Inspected { info, key, gpu }, None)))
        }
        ToWorker::OpenConfirm { keep } => {
            let p = engine.borrow_mut().pending.take().ok_or_else(|| Error::Usage("no opened file is waiting to be loaded".into()))?;
            let (choice, cap) = engine.borrow().choice;
            let choice = if p.cpu_only { BackendChoice::Cpu } else { choice };
            let key = p.key.clone();
            match load(engine, &p.g, choice, cap, Source { key: key.clone(), cached: false, missing: None, kept: false }, t0).await {
                Ok((s, mut ready, gpu_weights)) => {
                    install(engine, s, gpu_weights);
                    if keep {
                        keep_or_say(&key, p.g.bytes(), &mut ready).await;
                    }
                    Ok(Some((ready, None)))
                }
                Err(e) => Ok(Some((FromWorker::OpenFailed { problem: Problem::of(&e), message: e.to_string() }, None))),
            }
        }
        ToWorker::OpenCancel => {
            engine.borrow_mut().pending = None;
            Ok(None)
        }
        ToWorker::Models => Ok(Some((FromWorker::Models { kept: kept_models().await }, None))),
        ToWorker::TestHook { what } => match what.as_str() {
            "panic" => panic!("test hook: a panic in the worker"),
            "no-cache" => {
                NO_CACHE.with(|c| c.set(true));
                Ok(None)
            }
            "lose-device" => {
                let ctx = engine.borrow().gpu.clone().ok_or_else(|| Error::Usage("no GPU device to lose".into()))?;
                ctx.device.destroy();
                Ok(None)
            }
            other => Err(Error::Usage(format!("unknown test hook '{other}'"))),
        },
        ToWorker::Forget { key } => {
            forget(&key).await;
            Ok(Some((FromWorker::Models { kept: kept_models().await }, None)))
        }
        msg => session_message(engine, msg).await,
    }
}

/// The new model's session replaces the old one (and its GPU buffers).
fn install(engine: &RefCell<Engine>, s: AnySession, gpu_weights: u64) {
    let mut e = engine.borrow_mut();
    e.session = None;
    e.session = Some(s);
    e.gpu_weights = gpu_weights;
}

/// Keep the model in the cache; when that fails, `Ready` says it is not kept.
async fn keep_or_say(key: &str, bytes: &[u8], ready: &mut FromWorker) {
    let ok = match keep(key, bytes).await {
        Ok(()) => true,
        Err(e) => {
            web_sys::console::warn_1(&format!("Glassbox: could not keep the model in the browser cache: {e}").into());
            false
        }
    };
    if let FromWorker::Ready { kept, .. } = ready {
        *kept = ok;
    }
}

async fn session_message(engine: &RefCell<Engine>, msg: ToWorker) -> Result<Reply> {
    // Sessions are used by one message at a time (the worker queues them).
    let mut session = engine.borrow_mut().session.take().ok_or_else(|| Error::Usage("the model is not loaded yet".into()))?;
    let gpu_weights = engine.borrow().gpu_weights;
    let out = match &mut session {
        AnySession::Gpu(p) => {
            let gpu = gpu_weights
                + p.main.backend.bytes_alive()
                + p.baseline.as_ref().map_or(0, |b| b.backend.bytes_alive())
                + p.beam.as_ref().map_or(0, |b| b.backend.bytes_alive());
            run(p, msg, Some(gpu)).await
        }
        AnySession::Cpu(p) => run(p, msg, None).await,
    };
    engine.borrow_mut().session = Some(session);
    out
}

/// The session the page sees, and, while heads are switched off, a second
/// one over the same tokens with every head on: the "without" of the
/// Next token panel's with/without comparison.
pub struct Pair<B: Backend> {
    pub main: Session<B>,
    pub baseline: Option<Session<B>>,
    /// Beam mode: the search, greedy decoding stepped alongside for the
    /// comparison, and the backend they run on.
    pub beam: Option<BeamRun<B>>,
}

pub struct BeamRun<B: Backend> {
    search: BeamSearch<B>,
    greedy: BeamSearch<B>,
    backend: B,
}

impl<B: Backend> BeamRun<B> {
    fn message(&self, tok: &crate::Tokenizer) -> FromWorker {
        let (tree, greedy) = (self.search.tree(), self.greedy.tree());
        let root = self.search.root_next();
        let mut ids: Vec<u32> = tree.nodes.iter().chain(&greedy.nodes).flat_map(|n| n.next.iter().map(|x| x.0)).chain(root.iter().map(|x| x.0)).collect();
        ids.sort_unstable();
        ids.dedup();
        let pieces = ids.into_iter().map(|id| (id, tok.piece(id))).collect();
        FromWorker::Beam { tree, greedy, root, pieces }
    }

    async fn step(&mut self) -> Result<()> {
        self.search.step(&mut self.backend).await?;
        // Greedy over as many steps (it may have stopped at end-of-sequence).
        while self.greedy.step_count() < self.search.step_count() && self.greedy.step(&mut self.backend).await? {}
        Ok(())
    }
}

impl<B: Backend> Pair<B> {
    /// With heads off: each candidate's probability with every head on.
    fn baseline_probs(&self, candidates: &[Candidate]) -> Option<Vec<f32>> {
        let b = self.baseline.as_ref()?;
        let (logits, log_z) = (b.logits()?, b.next_logits().log_z);
        Some(candidates.iter().map(|c| (logits[c.id as usize] - log_z).exp()).collect())
    }

    /// Start or drop the baseline session so that it matches the ablation.
    async fn sync_baseline(&mut self) -> Result<()> {
        if self.main.ablation().is_empty() {
            self.baseline = None;
            return Ok(());
        }
        if self.baseline.is_some() {
            return Ok(());
        }
        let m = &self.main;
        let opts = SessionOptions { full_logits: true, ..m.opts.clone() };
        let mut b = Session::new(m.backend.sibling(), m.model.clone(), m.tokenizer.clone(), opts)?;
        if !m.tokens().is_empty() {
            b.prefill(&m.tokens()[..m.n_prompt()]).await?;
            for &id in m.generated() {
                b.force(id).await?;
            }
        }
        self.baseline = Some(b);
        Ok(())
    }

    fn stepped(&self, step: crate::trace::StepTrace) -> FromWorker {
        let next = self.main.candidates();
        FromWorker::Stepped { baseline: self.baseline_probs(&next), step, next }
    }
}

async fn run<B: Backend>(p: &mut Pair<B>, msg: ToWorker, gpu_bytes: Option<u64>) -> Result<Reply> {
    let reply = match msg {
        ToWorker::Load { .. }
        | ToWorker::Open { .. }
        | ToWorker::OpenConfirm { .. }
        | ToWorker::OpenCancel
        | ToWorker::Models
        | ToWorker::Forget { .. }
        | ToWorker::TestHook { .. } => {
            unreachable!("handled by `handle`")
        }
        ToWorker::Prefill { prompt, chat, sampling, step } => {
            let s = &mut p.main;
            let text = if chat { s.tokenizer.chat_prompt(&prompt)? } else { prompt };
            let ids = s.tokenizer.encode_prompt(&text)?;
            // Sampling on the page shows what the sampler does: every logit is read.
            s.set_full_logits(sampling.temperature > 0.0).await?;
            s.set_sampling(sampling)?;
            p.beam = None;
            if ids.len() > s.opts.n_ctx {
                return Err(Error::Usage(format!(
                    "the prompt is {} tokens but the context holds {}: shorten it by {} tokens",
                    ids.len(),
                    s.opts.n_ctx,
                    ids.len() - s.opts.n_ctx
                )));
            }
            let pre = s.prefill(&ids).await?;
            if let Some(b) = p.baseline.as_mut() {
                b.prefill(&ids).await?;
            }
            let tokens = ids.iter().map(|&id| TokenInfo { id, text: p.main.tokenizer.piece(id) }).collect();
            let baseline = p.baseline_probs(&pre.candidates);
            post(&FromWorker::Prefilled { tokens, candidates: pre.candidates, ms: pre.forward_ms, more: step, baseline });
            if !step {
                return Ok(None);
            }
            let step = p.main.step().await?;
            if let Some(b) = p.baseline.as_mut() {
                b.force(step.token).await?;
            }
            p.stepped(step)
        }
        ToWorker::Step => {
            let step = p.main.step().await?;
            if let Some(b) = p.baseline.as_mut() {
                b.force(step.token).await?;
            }
            p.stepped(step)
        }
        ToWorker::Force { id } => {
            let step = p.main.force(id).await?;
            if let Some(b) = p.baseline.as_mut() {
                b.force(id).await?;
            }
            p.stepped(step)
        }
        ToWorker::Undo => {
            let removed = p.main.undo().await?;
            if let Some(b) = p.baseline.as_mut() {
                b.undo().await?;
            }
            let candidates = p.main.candidates();
            FromWorker::Undone { removed, baseline: p.baseline_probs(&candidates), candidates }
        }
        ToWorker::Reset => {
            p.beam = None;
            p.main.clear();
            if let Some(b) = p.baseline.as_mut() {
                b.clear();
            }
            FromWorker::Cleared
        }
        ToWorker::SetSampling { sampling } => {
            p.main.set_full_logits(sampling.temperature > 0.0).await?;
            p.main.set_sampling(sampling)?;
            return Ok(None);
        }
        ToWorker::BeamStart { prompt, chat, opts } => {
            let s = &mut p.main;
            let text = if chat { s.tokenizer.chat_prompt(&prompt)? } else { prompt };
            let ids = s.tokenizer.encode_prompt(&text)?;
            let mut backend = s.backend.sibling();
            let greedy = BeamSearch::new(&mut backend, s.model.clone(), s.tokenizer.clone(), &ids, BeamOptions { width: 1, ..opts }, s.opts.max_batch)?;
            let search = BeamSearch::new(&mut backend, s.model.clone(), s.tokenizer.clone(), &ids, opts, s.opts.max_batch)?;
            let pre = s.prefill(&ids).await?;
            if let Some(b) = p.baseline.as_mut() {
                b.prefill(&ids).await?;
            }
            let tokens = ids.iter().map(|&id| TokenInfo { id, text: p.main.tokenizer.piece(id) }).collect();
            let baseline = p.baseline_probs(&pre.candidates);
            post(&FromWorker::Prefilled { tokens, candidates: pre.candidates, ms: pre.forward_ms, more: true, baseline });
            let mut run = BeamRun { search, greedy, backend };
            run.step().await?;
            let msg = run.message(&p.main.tokenizer);
            p.beam = Some(run);
            msg
        }
        ToWorker::BeamStep | ToWorker::BeamUndo => {
            let run = p.beam.as_mut().ok_or_else(|| Error::Usage("start a beam search first".into()))?;
            if matches!(msg, ToWorker::BeamStep) {
                run.step().await?;
            } else {
                run.search.undo(&mut run.backend).await?;
                run.greedy.undo(&mut run.backend).await?;
                while run.greedy.step_count() > run.search.step_count() {
                    run.greedy.undo(&mut run.backend).await?;
                }
            }
            run.message(&p.main.tokenizer)
        }
        ToWorker::BeamChoose { node } => {
            let run = p.beam.as_ref().ok_or_else(|| Error::Usage("start a beam search first".into()))?;
            let tree = run.search.tree();
            if node >= tree.nodes.len() {
                return Err(Error::Usage(format!("there is no node {node} in the beam tree")));
            }
            let prompt = run.search.prompt().to_vec();
            let path = run.search.path(node);
            p.main.prefill(&prompt).await?;
            for &id in &path {
                p.main.force(id).await?;
            }
            if let Some(b) = p.baseline.as_mut() {
                b.prefill(&prompt).await?;
                for &id in &path {
                    b.force(id).await?;
                }
            }
            let tok = &p.main.tokenizer;
            let tokens = p.main.tokens().iter().map(|&id| TokenInfo { id, text: tok.piece(id) }).collect();
            let candidates = p.main.candidates();
            FromWorker::Replayed { tokens, n_prompt: prompt.len(), baseline: p.baseline_probs(&candidates), candidates }
        }
        ToWorker::Ablate { off } => {
            let t0 = Instant::now();
            p.main.set_ablation(Ablation::new(off)).await?;
            p.sync_baseline().await?;
            let candidates = p.main.candidates();
            FromWorker::Ablated {
                off: p.main.ablation().off.clone(),
                baseline: p.baseline_probs(&candidates),
                candidates,
                ms: t0.elapsed().as_secs_f64() * 1e3,
            }
        }
        ToWorker::Ask { id, len, query } => return Ok(Some(ask(&mut p.main, id, len, query, gpu_bytes).await)),
    };
    Ok(Some((reply, None)))
}

/// Answer a view's question; failures are answers too (the view shows them).
async fn ask<B: Backend>(s: &mut Session<B>, id: u32, len: usize, query: Query, gpu: Option<u64>) -> (FromWorker, Option<Vec<f32>>) {
    let answer = |answer| FromWorker::Answer { id, answer };
    if len != s.tokens().len() {
        return (answer(Answer::Stale), None);
    }
    let failed = |e: Error| (answer(Answer::Failed { message: e.to_string() }), None);
    match query {
        Query::Maps(req) => {
            let t0 = Instant::now();
            match s.attention_maps(&req).await {
                Ok(data) => (answer(Answer::Maps { floats: data.len(), ms: t0.elapsed().as_secs_f64() * 1e3 }), Some(data)),
                Err(e) => failed(e),
            }
        }
        Query::Memory => {
            let m = Memory { wasm: wasm_bytes(), gpu, state: s.state_bytes() as u64, tokens: s.tokens().len() };
            (answer(Answer::Memory(m)), None)
        }
        Query::Probe(at) => match s.probe(at.layer, at.head, at.pos, at.max_keys).await {
            Ok(p) => (answer(Answer::Probe(Box::new(p))), None),
            Err(e) => failed(e),
        },
        Query::Lens { p0, p1, top } => match s.lens(p0, p1, top).await {
            Ok(lens) => {
                let mut ids: Vec<u32> = lens.iter().flat_map(|l| l.layers.iter().flat_map(|x| x.top.iter().map(|t| t.id).chain(x.next.as_ref().map(|n| n.id)))).collect();
                ids.sort_unstable();
                ids.dedup();
                let pieces = ids.into_iter().map(|id| (id, s.tokenizer.piece(id))).collect();
                (answer(Answer::Lens { lens, pieces }), None)
            }
            Err(e) => failed(e),
        },
        Query::Residual { pos } => match s.residual(pos).await {
            Ok(r) => (answer(Answer::Residual(r)), None),
            Err(e) => failed(e),
        },
        Query::Sampling => match s.sampling_view().await {
            Ok(v) => (answer(Answer::Sampling(v)), None),
            Err(e) => failed(e),
        },
        Query::NextTokens { p0, p1 } => match s.next_tokens(p0, p1, 5).await {
            Ok(lens) => {
                let mut ids: Vec<u32> = lens.iter().flat_map(|l| l.layers.iter().flat_map(|x| x.top.iter().map(|t| t.id))).collect();
                ids.sort_unstable();
                ids.dedup();
                let pieces = ids.into_iter().map(|id| (id, s.tokenizer.piece(id))).collect();
                (answer(Answer::NextTokens { lens, pieces }), None)
            }
            Err(e) => failed(e),
        },
    }
}

/// Messages waiting for the worker, each with the file that came beside it.
type Queue = Vec<(ToWorker, Option<JsValue>)>;

/// Entry point of the worker script: listen for the page's messages.
#[wasm_bindgen]
pub fn start_worker() {
    console_error_panic_hook();
    let engine = Rc::new(RefCell::new(Engine { session: None, gpu_weights: 0, gpu: None, pending: None, choice: (BackendChoice::Auto, None) }));
    // Messages are handled strictly one after another.
    let queue: Rc<RefCell<Queue>> = Rc::new(RefCell::new(Vec::new()));
    let busy = Rc::new(RefCell::new(false));
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        // A JSON string, or [json, File] for a file the user opened.
        let data = ev.data();
        let (text, file) = match data.as_string() {
            Some(t) => (t, None),
            None => {
                let pair: js_sys::Array = data.unchecked_into();
                (pair.get(0).as_string().unwrap_or_default(), Some(pair.get(1)))
            }
        };
        match serde_json::from_str::<ToWorker>(&text) {
            Ok(msg) => queue.borrow_mut().push((msg, file)),
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
                let Some((msg, file)) = next else { break };
                match handle(&engine, msg, file).await {
                    Ok(Some((reply, None))) => post(&reply),
                    Ok(Some((reply, Some(data)))) => post_binary(&reply, &data),
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
