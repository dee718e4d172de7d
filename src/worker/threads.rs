//! The CPU engine's threads in the page. The threaded build (feature
//! `threads`: nightly, `+atomics,+bulk-memory`, a shared memory; see
//! scripts/build-web.sh) starts Web Workers (www/thread.js) that
//! instantiate this worker's wasm module on its memory and serve the CPU
//! backend's pool (`backend::pool`): the engine thread works on each job
//! with them. The pool starts the first time a model loads on the CPU (a
//! page on WebGPU starts none), with the count the page put in the
//! worker's address (`worker.js?threads=N`, see `web::params::threads`).
//! The plain build computes on this one thread. The numbers are the same
//! either way: each output element is computed by one thread in a fixed
//! order.

/// The pool as `Ready` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// Threads computing (1: this thread alone).
    pub threads: usize,
    /// Why the pool asked for did not start (in full).
    pub error: Option<String>,
}

#[cfg(feature = "threads")]
mod start {
    use std::cell::RefCell;
    use std::time::Duration;

    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

    use crate::backend::pool::Pool as CpuPool;

    /// A pool thread's work: serve the pool until the worker ends
    /// (www/thread.js calls it once the module is up on the shared memory).
    #[wasm_bindgen]
    pub fn serve_pool() {
        CpuPool::global().serve();
    }

    /// Called by www/thread.js when its `serve_pool` trapped (a panic):
    /// the engine thread stops waiting for that thread's task and fails,
    /// and the page restarts the worker as after any crash.
    #[wasm_bindgen]
    pub fn pool_thread_failed() {
        CpuPool::global().thread_failed();
    }

    /// The thread count the page asked for, from this worker's address.
    pub fn requested() -> usize {
        let search = js_sys::global().unchecked_into::<web_sys::WorkerGlobalScope>().location().search();
        web_sys::UrlSearchParams::new_with_str(&search).ok().and_then(|p| p.get("threads")).and_then(|t| t.parse().ok()).unwrap_or(1)
    }

    thread_local! {
        pub static STARTED: RefCell<Option<super::Pool>> = const { RefCell::new(None) };
    }

    async fn sleep(d: Duration) {
        let p = js_sys::Promise::new(&mut |resolve, _| {
            let _ = js_sys::global().unchecked_into::<web_sys::WorkerGlobalScope>().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, d.as_millis() as i32);
        });
        let _ = JsFuture::from(p).await;
    }

    /// One pool thread: a Worker given the module and the memory; resolves
    /// when it has the module up (then it serves the pool).
    fn spawn(glue: &str) -> Result<js_sys::Promise, String> {
        let opts = WorkerOptions::new();
        opts.set_type(WorkerType::Module);
        let w = Worker::new_with_options("./thread.js", &opts).map_err(|e| format!("{e:?}"))?;
        let init = js_sys::Object::new();
        let set = |k: &str, v: &JsValue| js_sys::Reflect::set(&init, &k.into(), v).map(|_| ()).map_err(|e| format!("{e:?}"));
        set("glue", &glue.into())?;
        set("module", &wasm_bindgen::module())?;
        set("memory", &wasm_bindgen::memory())?;
        let worker = w.clone();
        let ready = js_sys::Promise::new(&mut |resolve, reject| {
            let reject2 = reject.clone();
            let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let _ = if ev.data().as_string().as_deref() == Some("ready") { resolve.call0(&JsValue::NULL) } else { reject.call1(&JsValue::NULL, &ev.data()) };
            });
            worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
            onmessage.forget();
            let onerror = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
                let m = js_sys::Reflect::get(&ev, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| "a pool thread failed to start".into());
                let _ = reject2.call1(&JsValue::NULL, &m.into());
            });
            worker.set_onerror(Some(onerror.as_ref().unchecked_ref()));
            onerror.forget();
        });
        w.post_message(&init).map_err(|e| format!("{e:?}"))?;
        Ok(ready)
    }

    pub async fn start(want: usize) -> super::Pool {
        let pool = CpuPool::global();
        let glue = js_sys::Reflect::get(&js_sys::global(), &"glassboxGlue".into()).ok().and_then(|g| g.as_string());
        let Some(glue) = glue else {
            return super::Pool { threads: 1, error: Some("worker.js did not name its module".into()) };
        };
        let mut waits = Vec::new();
        for _ in 1..want {
            match spawn(&glue) {
                Ok(p) => waits.push(p),
                Err(e) => return super::Pool { threads: pool.threads(), error: Some(format!("a pool thread could not start: {e}")) },
            }
        }
        let all = js_sys::Promise::all(&waits.into_iter().collect::<js_sys::Array>());
        if let Err(e) = JsFuture::from(all).await {
            let m = e.as_string().or_else(|| js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string())).unwrap_or_else(|| format!("{e:?}"));
            return super::Pool { threads: pool.threads(), error: Some(m) };
        }
        // Each thread joins as it enters the pool, just after saying ready.
        for _ in 0..200 {
            if pool.threads() >= want {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        super::Pool { threads: pool.threads(), error: None }
    }
}

#[cfg(feature = "threads")]
pub use start::{pool_thread_failed, serve_pool};

/// Start the pool (once; later calls say how the first went).
pub async fn start() -> Pool {
    #[cfg(feature = "threads")]
    {
        if let Some(p) = start::STARTED.with(|s| s.borrow().clone()) {
            return p;
        }
        let want = start::requested().clamp(1, 256);
        let pool = if want <= 1 { Pool { threads: 1, error: None } } else { start::start(want).await };
        if let Some(e) = &pool.error {
            web_sys::console::warn_1(&format!("Glassbox: the thread pool did not start: {e}").into());
        }
        start::STARTED.with(|s| *s.borrow_mut() = Some(pool.clone()));
        pool
    }
    #[cfg(not(feature = "threads"))]
    Pool { threads: 1, error: None }
}
