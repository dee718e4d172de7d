//! The engine in a dedicated Web Worker: glue around the orchestrator.
//! The message pump (this file) takes the page's requests one after
//! another and posts every reply with the request's id; `fetch` and `cache`
//! bring a model's bytes (download with progress, the Cache API, the user's
//! files), `device` opens WebGPU, `load` makes the orchestrator, which
//! carries out every session command and answers every view's question
//! (`crate::orchestrator`). The page never touches GPU buffers.

// wgpu's browser types are not Send; the worker is one thread, and the
// session API shares model and device through Arc as it does natively.
#![allow(clippy::arc_with_non_send_sync)]

pub mod cache;
pub mod device;
pub mod fetch;
pub mod load;
pub mod post;
pub mod threads;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::MessageEvent;
use web_time::Instant;

use crate::backend::gpu::GpuContext;
use crate::gguf::Gguf;
use crate::model::{ModelInfo, Problem};
use crate::protocol::{remote, Answer, BackendChoice, Command, FromWorker, KeptModel, Phase, Reply, Request, ToWorker, MODEL_URL};
use crate::worker::cache::{forget, forget_versions, is_kept, kept_models, NO_CACHE};
use crate::worker::fetch::{fetch_model, read_file};
use crate::worker::load::{keep_or_say, load, AnyEngine, Source};
use crate::worker::post::{handling, post, post_reply, scope};
use crate::error::{Error, Result};

/// Everything the worker holds between requests.
#[derive(Default)]
struct Worker {
    engine: Option<AnyEngine>,
    /// GPU bytes of the weights (uploaded once, shared by the sessions).
    gpu_weights: u64,
    /// The WebGPU device, opened once and kept when the model changes.
    gpu: Rc<RefCell<Option<Arc<GpuContext>>>>,
    /// A user's file, checked and waiting for the page's confirmation.
    pending: Option<Pending>,
    /// The backend and context cap the page asked for.
    choice: Option<(BackendChoice, Option<usize>)>,
}

struct Pending {
    g: Gguf,
    /// The model's key: a kept file's "kept/…", another site's address.
    key: String,
    /// Where the browser cache keeps it (or would).
    cache_key: String,
    /// Already kept there.
    cached: bool,
    /// Too big for this GPU's bindings: load it on the CPU.
    cpu_only: bool,
}

/// Bytes of this worker's WebAssembly memory.
fn wasm_bytes() -> u64 {
    // (An ArrayBuffer, or a SharedArrayBuffer in the threaded build.)
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| js_sys::Reflect::get(&m.buffer(), &"byteLength".into()).ok())
        .and_then(|n| n.as_f64())
        .map_or(0, |n| n as u64)
}

/// A request's last reply, and the floats that go beside it.
type Last = (FromWorker, Option<Vec<f32>>);

fn last(msg: FromWorker) -> Result<Last> {
    Ok((msg, None))
}

async fn handle(w: &RefCell<Worker>, msg: ToWorker, file: Option<JsValue>) -> Result<Last> {
    let t0 = Instant::now();
    match msg {
        ToWorker::Load { url, backend, n_ctx } => {
            {
                let mut wk = w.borrow_mut();
                wk.choice = Some((backend, n_ctx));
                // An inspected file the person did not load is not kept in memory.
                wk.pending = None;
            }
            // A kept model that is no longer in this browser: the served one instead.
            let (url, missing) = match KeptModel::from_key(&url) {
                Some(k) if !is_kept(&url).await => (MODEL_URL.to_string(), Some(k.name)),
                _ => (url, None),
            };
            // Another site's model that cannot be had is said as an opened
            // file's would be, and the current model (if any) stays.
            let is_remote = remote::is_remote(&url);
            let failed = |e: Error| if is_remote { last(FromWorker::OpenFailed { problem: Problem::of(&e), message: e.to_string() }) } else { Err(e) };
            let (bytes, cached, cache_key) = match fetch_model(&url).await {
                Ok(f) => f,
                Err((problem, message)) if is_remote => return last(FromWorker::OpenFailed { problem, message }),
                Err((_, message)) => return Err(Error::Backend(message)),
            };
            post(FromWorker::Progress { phase: Phase::Parse, done: 0, total: 1 });
            let gpu = w.borrow().gpu.clone();
            let loaded = match Gguf::from_bytes(bytes) {
                Ok(g) => load(&gpu, &g, backend, n_ctx, Source { key: url.clone(), cached, missing, kept: cached }, t0).await.map(|l| (l, g)),
                Err(e) => Err(e.into()),
            };
            // A file that fails is never kept, and a kept one that fails is evicted.
            let ((engine, mut ready, gpu_weights), g) = match loaded {
                Ok(l) => l,
                Err(e) => {
                    if cached {
                        forget(&cache_key).await;
                    }
                    return failed(e);
                }
            };
            if !cached {
                // The new version replaces any older one.
                if is_remote {
                    forget_versions(&remote::cache_base(&url)).await;
                } else if KeptModel::from_key(&url).is_none() {
                    forget_versions(&url).await;
                }
                keep_or_say(&cache_key, g.bytes(), &mut ready).await;
            }
            install(w, engine, gpu_weights);
            last(ready)
        }
        ToWorker::Open { name, bytes: _, backend, n_ctx } => {
            {
                let mut wk = w.borrow_mut();
                wk.pending = None;
                wk.choice = Some((backend, n_ctx));
            }
            let Some(file) = file.and_then(|f| f.dyn_into::<web_sys::File>().ok()) else {
                return Err(Error::Usage("Open came without its file".into()));
            };
            let data = match read_file(&file).await {
                Ok(d) => d,
                Err((problem, message)) => return last(FromWorker::OpenFailed { problem, message }),
            };
            let key = KeptModel::key_for(&name, &data);
            Ok(inspect(w, data, key.clone(), key, false).await)
        }
        ToWorker::OpenUrl { url, backend, n_ctx } => {
            {
                let mut wk = w.borrow_mut();
                wk.pending = None;
                wk.choice = Some((backend, n_ctx));
            }
            if !remote::is_remote(&url) {
                return last(FromWorker::OpenFailed { problem: Problem::Other, message: format!("“{url}” is not an http:// or https:// address") });
            }
            let (data, cached, cache_key) = match fetch_model(&url).await {
                Ok(f) => f,
                Err((problem, message)) => return last(FromWorker::OpenFailed { problem, message }),
            };
            Ok(inspect(w, data, url, cache_key, cached).await)
        }
        ToWorker::OpenConfirm { keep } => {
            let p = w.borrow_mut().pending.take().ok_or_else(|| Error::Usage("no opened file is waiting to be loaded".into()))?;
            let (choice, cap) = w.borrow().choice.unwrap_or((BackendChoice::Auto, None));
            let choice = if p.cpu_only { BackendChoice::Cpu } else { choice };
            let key = p.key.clone();
            let gpu = w.borrow().gpu.clone();
            let loaded = load(&gpu, &p.g, choice, cap, Source { key: key.clone(), cached: p.cached, missing: None, kept: p.cached }, t0).await;
            match loaded {
                Ok((engine, mut ready, gpu_weights)) => {
                    install(w, engine, gpu_weights);
                    if keep && !p.cached {
                        if remote::is_remote(&key) {
                            forget_versions(&remote::cache_base(&key)).await;
                        }
                        keep_or_say(&p.cache_key, p.g.bytes(), &mut ready).await;
                    }
                    last(ready)
                }
                Err(e) => last(FromWorker::OpenFailed { problem: Problem::of(&e), message: e.to_string() }),
            }
        }
        ToWorker::OpenCancel => {
            w.borrow_mut().pending = None;
            last(FromWorker::Done)
        }
        ToWorker::Models => last(FromWorker::Models { kept: kept_models().await }),
        ToWorker::Forget { key } => {
            if remote::is_remote(&key) {
                forget_versions(&remote::cache_base(&key)).await;
            } else {
                forget(&key).await;
            }
            last(FromWorker::Models { kept: kept_models().await })
        }
        ToWorker::TestHook { what } => match what.as_str() {
            "panic" => panic!("test hook: a panic in the worker"),
            "no-cache" => {
                NO_CACHE.with(|c| c.set(true));
                last(FromWorker::Done)
            }
            "lose-device" => {
                let ctx = w.borrow().gpu.borrow().clone().ok_or_else(|| Error::Usage("no GPU device to lose".into()))?;
                ctx.device.destroy();
                last(FromWorker::Done)
            }
            other => Err(Error::Usage(format!("unknown test hook '{other}'"))),
        },
        ToWorker::Session(cmd) => {
            // The orchestrator is used by one request at a time (the pump
            // takes them in order); it is out of the cell while it works.
            let mut engine = w.borrow_mut().engine.take().ok_or_else(|| Error::Usage("the model is not loaded yet".into()))?;
            let mut emit = |msg| post(msg);
            let out = match &mut engine {
                AnyEngine::Gpu(o) => o.command(cmd, &mut emit).await,
                AnyEngine::Cpu(o) => o.command(cmd, &mut emit).await,
            };
            w.borrow_mut().engine = Some(engine);
            out.map(|m| (m, None))
        }
        ToWorker::Ask { len, query, side, ahead } => {
            let mut engine = w.borrow_mut().engine.take().ok_or_else(|| Error::Usage("the model is not loaded yet".into()))?;
            let (mut answer, floats) = match &mut engine {
                AnyEngine::Gpu(o) => o.ask_ahead(side, len, ahead, query).await,
                AnyEngine::Cpu(o) => o.ask_ahead(side, len, ahead, query).await,
            };
            let gpu_weights = w.borrow().gpu_weights;
            w.borrow_mut().engine = Some(engine);
            if let Answer::Memory(m) = &mut answer {
                m.wasm = wasm_bytes();
                m.gpu = m.gpu.map(|g| g + gpu_weights);
            }
            Ok((FromWorker::Answer { answer }, floats))
        }
    }
}

/// Check a model's bytes as loading would and describe them (`Inspected`,
/// or `OpenFailed` saying why not); they wait for the page's OpenConfirm.
/// A kept copy that fails the checks is forgotten.
async fn inspect(w: &RefCell<Worker>, data: Vec<u8>, key: String, cache_key: String, cached: bool) -> Last {
    post(FromWorker::Progress { phase: Phase::Parse, done: 0, total: 1 });
    let size = data.len() as u64;
    let checked = Gguf::from_bytes(data).map_err(Error::from).and_then(|g| ModelInfo::inspect(&g, size).map(|i| (g, i)));
    let (g, info) = match checked {
        Ok(c) => c,
        Err(e) => {
            if cached {
                forget(&cache_key).await;
            }
            return (FromWorker::OpenFailed { problem: Problem::of(&e), message: e.to_string() }, None);
        }
    };
    let gpu = {
        let wk = w.borrow();
        let ctx = wk.gpu.borrow().clone();
        match (ctx, wk.choice.map_or(BackendChoice::Auto, |c| c.0)) {
            (Some(ctx), BackendChoice::Auto) => info.fits_binding(ctx.max_binding()).err().map(|e| e.to_string()),
            _ => None,
        }
    };
    w.borrow_mut().pending = Some(Pending { g, key: key.clone(), cache_key, cached, cpu_only: gpu.is_some() });
    (FromWorker::Inspected { info, key, gpu }, None)
}

/// The new model's orchestrator replaces the old one (and its GPU buffers).
fn install(w: &RefCell<Worker>, engine: AnyEngine, gpu_weights: u64) {
    let mut wk = w.borrow_mut();
    wk.engine = None;
    wk.engine = Some(engine);
    wk.gpu_weights = gpu_weights;
}

/// Requests waiting for the worker, each with the file that came beside it.
type Queue = VecDeque<(Request, Option<JsValue>)>;

/// Entry point of the worker script: listen for the page's requests.
#[wasm_bindgen]
pub fn start_worker() {
    console_error_panic_hook();
    let worker = Rc::new(RefCell::new(Worker::default()));
    // Requests are handled strictly one after another, each with the file
    // that came beside it.
    let queue: Rc<RefCell<Queue>> = Rc::default();
    let running = Rc::new(std::cell::Cell::new(false));
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        // A JSON string, or [json, File] for a file the person opened.
        let data = ev.data();
        let (text, file) = match data.as_string() {
            Some(t) => (t, None),
            None => {
                let pair: js_sys::Array = data.unchecked_into();
                (pair.get(0).as_string().unwrap_or_default(), Some(pair.get(1)))
            }
        };
        match serde_json::from_str::<Request>(&text) {
            Ok(req) => queue.borrow_mut().push_back((req, file)),
            Err(e) => {
                post(FromWorker::Error { message: format!("bad message from the page: {e}") });
                return;
            }
        }
        if running.replace(true) {
            return;
        }
        let (worker, queue, running) = (worker.clone(), queue.clone(), running.clone());
        spawn_local(async move {
            loop {
                let next = queue.borrow_mut().pop_front();
                let Some((req, file)) = next else { break };
                let step = matches!(req.msg, ToWorker::Session(Command::Step | Command::Steps { .. }));
                let current = handling(req.id);
                let (msg, floats) = handle(&worker, req.msg, file).await.unwrap_or_else(|e| (FromWorker::Error { message: e.to_string() }, None));
                drop(current);
                if step {
                    // During Play the page sends the next step before it
                    // draws the last one, and the views' questions about
                    // what they show follow it. Those that came during the
                    // step are answered before its reply, so the page has
                    // them while it still shows that token (and the step's
                    // reply is not held up by more than one turn of the
                    // event loop).
                    yield_to_messages().await;
                    loop {
                        let ask = {
                            let mut q = queue.borrow_mut();
                            match q.front() {
                                Some((Request { msg: ToWorker::Ask { .. }, .. }, _)) => q.pop_front(),
                                _ => None,
                            }
                        };
                        let Some((ask, file)) = ask else { break };
                        let _current = handling(ask.id);
                        let (a, f) = handle(&worker, ask.msg, file).await.unwrap_or_else(|e| (FromWorker::Error { message: e.to_string() }, None));
                        post_reply(&Reply { id: ask.id, last: true, msg: a }, f.as_deref());
                    }
                }
                let _current = handling(req.id);
                post_reply(&Reply { id: req.id, last: true, msg }, floats.as_deref());
            }
            running.set(false);
        });
    });
    scope().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(FromWorker::Alive);
}

/// One turn of the worker's event loop: the messages that came while it
/// computed are queued by `onmessage` before this resolves.
async fn yield_to_messages() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Send Rust panics to the browser console instead of an opaque "unreachable".
pub fn console_error_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("Glassbox panicked: {info}").into());
    }));
}
