//! A parsed model onto WebGPU (when chosen and present) or the CPU, as an
//! orchestrator the worker hands the page's commands to.

// wgpu's browser types are not Send; the worker is one thread, and the
// session API shares model and device through Arc as it does natively.
#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::sync::Arc;

use web_time::Instant;

use crate::backend::cpu::Cpu;
use crate::backend::gpu::{Gpu, GpuContext};
use crate::backend::{Backend, QStore};
use crate::generate::{Session, SessionOptions};
use crate::gguf::Gguf;
use crate::orchestrator::Orchestrator;
use crate::model::Model;
use crate::protocol::{BackendChoice, Capped, FromWorker, Phase};
use crate::worker::cache::keep;
use crate::worker::device::{adapter_label, gpu_context};
use crate::worker::post::post;
use crate::worker::threads::Pool;
use crate::error::Result;

/// The model's orchestrator, on whichever backend it runs.
pub enum AnyEngine {
    Gpu(Box<Orchestrator<Gpu>>),
    Cpu(Box<Orchestrator<Cpu>>),
}

fn progress(phase: Phase) -> impl FnMut(usize, usize) {
    move |done, total| post(FromWorker::Progress { phase, done: done as u64, total: total as u64 })
}

/// WebAssembly memory the page's caches may take: 4 GiB, less what the
/// weights (a copy of the file's on the CPU) and the rest of the page need.
fn cache_budget(file_bytes: u64) -> u64 {
    (7u64 << 29).saturating_sub(file_bytes)
}

/// Session options on the page: no per-step trace (views ask for maps), q
/// kept in f16 (maps are for the eye), the model's context unless `cap`
/// (the page's `?ctx=`) is shorter, or it would not fit: on a GPU, one
/// buffer binding per cache; on the CPU, the page's memory.
fn page_options<B: Backend>(model: &Model<B>, b: &B, cap: Option<usize>, file_bytes: u64) -> (SessionOptions, Option<Capped>) {
    let mut opts = SessionOptions { max_batch: 16, trace: false, q_store: QStore::F16, ..Default::default() };
    let mut n_ctx = cap.map_or(model.config.train_ctx, |c| c.min(model.config.train_ctx)).max(1);
    let (fit, why) = match b.max_binding() {
        Some(limit) => (model.max_context(limit, opts.max_batch, opts.trace, opts.q_store), Capped::Gpu),
        None => (model.max_context_in(cache_budget(file_bytes), opts.q_store), Capped::Memory),
    };
    let mut capped = None;
    if n_ctx > fit {
        n_ctx = fit.max(1);
        capped = Some(why);
    }
    opts.n_ctx = n_ctx;
    (opts, capped)
}

/// Where a model comes from, as `Ready` reports it.
pub struct Source {
    pub key: String,
    pub cached: bool,
    pub missing: Option<String>,
    /// Already in the browser cache.
    pub kept: bool,
}

/// Make the orchestrator for the model in `g`, on WebGPU when chosen and
/// present: it, the `Ready` message, and the GPU bytes of the weights.
pub async fn load(gpu_slot: &RefCell<Option<Arc<GpuContext>>>, g: &Gguf, choice: BackendChoice, cap: Option<usize>, src: Source, t0: Instant) -> Result<(AnyEngine, FromWorker, u64)> {
    let mut note = None;
    let file_bytes = g.bytes().len() as u64;
    if choice == BackendChoice::Auto {
        match gpu_context(gpu_slot).await {
            Ok(ctx) => {
                // (Loading checks everything else; this needs the header only.)
                if let Some((name, bytes)) = crate::model::info::widest_row(&g.header) {
                    crate::tensor::fits_binding(name, bytes, ctx.max_binding())?;
                }
                let adapter = match adapter_label().await {
                    Some(l) => l,
                    None if !ctx.info.name.is_empty() => ctx.info.name.clone(),
                    None => "GPU".into(),
                };
                let mut gpu = Gpu::new(ctx);
                let (model, tok) = crate::model::load(g, &mut gpu, &mut progress(Phase::Upload))?;
                let model = Arc::new(model);
                let (opts, capped) = page_options(&model, &gpu, cap, file_bytes);
                let s = Session::new(gpu.sibling(), model.clone(), Arc::new(tok), opts)?;
                let r = ready(&s, &format!("WebGPU · {adapter}"), true, None, capped, Pool { threads: 0, error: None }, &src, file_bytes, t0);
                return Ok((AnyEngine::Gpu(Box::new(Orchestrator::new(s))), r, gpu.bytes_alive()));
            }
            Err(e) => {
                web_sys::console::warn_1(&format!("Glassbox: no WebGPU adapter: {e}").into());
                note = Some("WebGPU is not available in this browser, so the model runs on the CPU in a worker: slower, same tokens".into());
            }
        }
    }
    // The CPU computes: its thread pool, started the first time.
    let pool = crate::worker::threads::start().await;
    let mut cpu = Cpu::new();
    let (model, tok) = crate::model::load(g, &mut cpu, &mut progress(Phase::Upload))?;
    let model = Arc::new(model);
    let (opts, capped) = page_options(&model, &cpu, cap, file_bytes);
    let s = Session::new(Cpu::new(), model.clone(), Arc::new(tok), opts)?;
    let r = ready(&s, "CPU", false, note, capped, pool, &src, file_bytes, t0);
    Ok((AnyEngine::Cpu(Box::new(Orchestrator::new(s))), r, 0))
}

#[allow(clippy::too_many_arguments)]
fn ready<B: Backend>(s: &Session<B>, backend: &str, webgpu: bool, note: Option<String>, capped: Option<Capped>, pool: Pool, src: &Source, file_bytes: u64, t0: Instant) -> FromWorker {
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
        dim: c.dim,
        ffn_dim: c.ffn_dim,
        tied: s.model.weights.output.is_none(),
        n_ctx: s.opts.n_ctx,
        capped,
        threads: pool.threads,
        pool_error: pool.error,
        cached: src.cached,
        key: src.key.clone(),
        file_bytes,
        missing: src.missing.clone(),
        kept: src.kept,
        load_ms: t0.elapsed().as_secs_f64() * 1e3,
    }
}

/// Keep the model in the cache; when that fails, `Ready` says it is not kept.
pub async fn keep_or_say(key: &str, bytes: &[u8], ready: &mut FromWorker) {
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
