//! The CPU engine's thread pool: a job is `n` numbered tasks, taken one at
//! a time by the calling thread and the pool's threads, and `run` returns
//! when all are done. Which thread takes a task never changes what it
//! computes, so the numbers do not depend on the thread count
//! (tests/threads.rs).
//!
//! Why not rayon, which this replaced: in the page, rayon's threads sleep
//! between jobs (Atomics.wait) and the engine thread waits outside the pool,
//! and a decode step is about 150 small jobs (five per layer). Each job paid
//! a browser wake-up or two, and two threads decoded slower than one (20
//! against 27 tok/s in headless Chromium on 2 cores). Here the caller works
//! on its own job, and idle threads spin a while before sleeping, so the
//! jobs of one step reach running threads (llama.cpp's pool does the same).
//!
//! Threads: natively `std::thread`s; in the page's threaded build, Web
//! Workers that share the engine worker's wasm memory, each running
//! `Pool::serve` (see `worker::threads`). A pool in use by another caller
//! (several sessions on threads of their own, or a task that starts a job)
//! is not waited for: the caller runs its tasks alone.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// A job as the threads see it: its function, on the caller's stack for
/// as long as `run` lasts.
struct Job {
    f: *const (dyn Fn(usize) + Sync),
}

/// `Inner::state`: the job's number (16 bits, wrapping), its task count and
/// its next task (24 bits each), so that one compare-and-swap claims a task
/// that exists, of the job that is current.
const TASK_BITS: u32 = 24;
const TASK_MASK: u64 = (1 << TASK_BITS) - 1;
fn pack(epoch: u64, n: usize, next: usize) -> u64 {
    (epoch << (2 * TASK_BITS)) | ((n as u64) << TASK_BITS) | next as u64
}
fn epoch_of(s: u64) -> u64 {
    s >> (2 * TASK_BITS)
}

struct Inner {
    /// One job at a time: a caller that finds it taken works alone.
    submit: Mutex<()>,
    /// The current job's number, task count and next task (`pack`).
    state: AtomicU64,
    /// The current job; valid while any of its tasks is unclaimed or running.
    job: AtomicPtr<Job>,
    /// Tasks of the current job finished.
    done: AtomicUsize,
    /// Threads asleep, and what wakes them.
    sleepers: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
    /// Threads serving (the caller not counted).
    threads: AtomicUsize,
    stop: AtomicBool,
    /// A task's panic, handed to the caller once the job is done (natively;
    /// the page's build aborts on panic instead).
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    /// A pool thread died (in the page: a trap, see `thread_failed`); the
    /// caller stops waiting for its task and fails.
    failed: AtomicBool,
}

/// Spins of an idle thread (each a load of `state`) before it sleeps:
/// longer than the gaps between the jobs of one step, much shorter than
/// the page's time between steps (measured: see the module doc).
const SPINS: u32 = 1 << 16;

impl Inner {
    /// Claim and run tasks of the current job until none is left.
    fn work(&self) {
        let mut s = self.state.load(Acquire);
        // Tasks this thread finished, told to `run` once, when none is left
        // to claim: one write to the shared counter a job, not one a task.
        // (A job cannot end without this thread's count once it has run a
        // task, so the count never reaches the next job.)
        let mut finished = 0;
        loop {
            let (n, i) = (((s >> TASK_BITS) & TASK_MASK) as usize, (s & TASK_MASK) as usize);
            if i >= n {
                if finished > 0 {
                    self.done.fetch_add(finished, Release);
                }
                return;
            }
            match self.state.compare_exchange_weak(s, s + 1, AcqRel, Acquire) {
                Ok(_) => {
                    // Task i of the current job is ours: the job stays alive
                    // until it is done (`run` waits for `done` to reach n),
                    // and it is the job the state named (stored before it).
                    let job = self.job.load(Acquire);
                    // SAFETY: as above.
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*(*job).f)(i) }));
                    if let Err(p) = ran {
                        self.panic.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(p);
                    }
                    finished += 1;
                    s = self.state.load(Acquire);
                }
                Err(now) => s = now,
            }
        }
    }

    /// A pool thread: work on each new job, spin a while, sleep.
    fn serve(&self) {
        self.threads.fetch_add(1, SeqCst);
        let mut seen = epoch_of(self.state.load(Acquire));
        'outer: loop {
            let mut spins = 0;
            loop {
                if self.stop.load(Relaxed) {
                    break 'outer;
                }
                let epoch = epoch_of(self.state.load(Acquire));
                if epoch != seen {
                    seen = epoch;
                    self.work();
                    spins = 0;
                    continue;
                }
                spins += 1;
                if spins >= SPINS {
                    break;
                }
                std::hint::spin_loop();
            }
            // Sleep until a new job (checked under the lock `run` takes to wake).
            let g = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.sleepers.fetch_add(1, SeqCst);
            if epoch_of(self.state.load(SeqCst)) == seen && !self.stop.load(SeqCst) {
                let _g = self.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            self.sleepers.fetch_sub(1, SeqCst);
        }
        self.threads.fetch_sub(1, SeqCst);
    }

    fn wake_all(&self) {
        if self.sleepers.load(SeqCst) > 0 {
            let _g = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
    }
}

/// A pool (cheap to clone; its threads stop when the last clone is dropped).
#[derive(Clone)]
pub struct Pool(Arc<Handle>);

struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.stop.store(true, SeqCst);
        let _g = self.inner.sleep.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.wake.notify_all();
    }
}

impl Pool {
    /// A pool with no threads yet: `serve` on a thread adds it.
    pub fn empty() -> Pool {
        let inner = Arc::new(Inner {
            submit: Mutex::new(()),
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            threads: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            panic: Mutex::new(None),
            failed: AtomicBool::new(false),
        });
        Pool(Arc::new(Handle { inner }))
    }

    /// A pool of `size` threads counting the caller, on `std::thread`s.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(size: usize) -> Pool {
        let pool = Pool::empty();
        for i in 1..size.max(1) {
            let inner = pool.0.inner.clone();
            std::thread::Builder::new().name(format!("glassbox-cpu-{i}")).spawn(move || inner.serve()).expect("start a CPU thread");
        }
        pool
    }

    /// The shared pool the CPU backend uses unless given one: natively
    /// `GLASSBOX_THREADS` threads, else one per core; in the page, the
    /// threads `worker::threads` started (none in the plain build).
    pub fn global() -> Pool {
        static GLOBAL: OnceLock<Pool> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                #[cfg(not(target_arch = "wasm32"))]
                {
                    let n = std::env::var("GLASSBOX_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                    Pool::new(n)
                }
                #[cfg(target_arch = "wasm32")]
                Pool::empty()
            })
            .clone()
    }

    /// Serve this pool on the calling thread until the pool is dropped.
    pub fn serve(&self) {
        self.0.inner.clone().serve();
    }

    /// A pool thread died (the page's thread.js says so after a trap): the
    /// job it held fails instead of waiting for ever.
    pub fn thread_failed(&self) {
        self.0.inner.failed.store(true, SeqCst);
    }

    /// Threads computing a job now: the caller and the pool's threads.
    pub fn threads(&self) -> usize {
        1 + self.0.inner.threads.load(SeqCst)
    }

    /// Run `f(0..n)`, each task once, on the caller and the pool's threads;
    /// return when all are done.
    pub fn run<F: Fn(usize) + Sync>(&self, n: usize, f: F) {
        let inner = &*self.0.inner;
        let guard = if n > 1 && inner.threads.load(Relaxed) > 0 { inner.submit.try_lock().ok() } else { None };
        let Some(_guard) = guard else {
            (0..n).for_each(f);
            return;
        };
        assert!((n as u64) < TASK_MASK, "too many tasks for one job");
        let f: &(dyn Fn(usize) + Sync) = &f;
        // SAFETY: the lifetime is erased for the threads; they call `f`
        // only for tasks they claim, and this function returns only when
        // every task is done.
        let f: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(f) };
        let mut job = Job { f };
        inner.done.store(0, Relaxed);
        inner.job.store(&mut job, Release);
        let epoch = (epoch_of(inner.state.load(Relaxed)) + 1) & 0xffff;
        inner.state.store(pack(epoch, n, 0), SeqCst);
        inner.wake_all();
        inner.work();
        while inner.done.load(Acquire) < n {
            if inner.failed.load(Relaxed) {
                // A thread died holding a task: its job can never finish.
                panic!("a thread of the CPU engine's pool failed during a job");
            }
            std::hint::spin_loop();
        }
        // (No thread reads `job` again: every task is claimed and done.)
        inner.job.store(std::ptr::null_mut(), Release);
        let p = inner.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(p) = p {
            std::panic::resume_unwind(p);
        }
    }

    /// `f(i, chunk)` for each `chunk`-long piece of `out`, in parallel.
    pub fn chunks<T: Send, F: Fn(usize, &mut [T]) + Sync>(&self, out: &mut [T], chunk: usize, f: F) {
        let (len, chunk) = (out.len(), chunk.max(1));
        let base = SendPtr(out.as_mut_ptr());
        self.run(len.div_ceil(chunk), |i| {
            let start = i * chunk;
            let end = (start + chunk).min(len);
            // SAFETY: tasks take disjoint ranges of `out`, which outlives the job.
            let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), end - start) };
            f(i, piece)
        });
    }
}

/// A pointer the tasks of one job share (each writes its own range).
struct SendPtr<T>(*mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
impl<T> SendPtr<T> {
    fn get(self) -> *mut T {
        self.0
    }
}
