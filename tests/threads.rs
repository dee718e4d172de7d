//! The CPU engine's thread pool: every task runs once whatever the thread
//! count, callers that share a pool each get their own answers, and the
//! engine's numbers (logits, attention, lens) are bit-identical on 1, 2, 3
//! and 5 threads.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use pollster::block_on;

use glassbox::backend::cpu::Cpu;
use glassbox::backend::pool::Pool;
use glassbox::generate::SessionOptions;
use glassbox::Session;

#[test]
fn every_task_runs_once_on_any_pool() {
    let mut rng = common::Rng(0x5eed);
    for threads in [1, 2, 3, 5] {
        let pool = Pool::new(threads);
        // Threads join as they start; jobs before that run on fewer.
        for _ in 0..2_000 {
            let n = (rng.next() % 97) as usize;
            let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
            pool.run(n, |i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            let wrong: Vec<usize> = (0..n).filter(|&i| hits[i].load(Ordering::Relaxed) != 1).collect();
            assert!(wrong.is_empty(), "{threads} threads, {n} tasks: tasks {wrong:?} did not run exactly once");
        }
        // Chunks: each element written by its own task.
        let mut out = vec![0u32; 1_001];
        pool.chunks(&mut out, 32, |c, piece| piece.iter_mut().enumerate().for_each(|(j, v)| *v = (c * 32 + j) as u32 + 1));
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u32 + 1), "{threads} threads: chunks");
        eprintln!("{threads} threads: {} serving", pool.threads());
    }
}

#[test]
fn callers_sharing_a_pool_and_jobs_inside_jobs() {
    let pool = Pool::new(3);
    // Four callers at once: one job runs on the pool, the others alone.
    let total = Arc::new(AtomicU32::new(0));
    std::thread::scope(|s| {
        for c in 0..4u32 {
            let (pool, total) = (pool.clone(), total.clone());
            s.spawn(move || {
                for round in 0..300u32 {
                    let n = 1 + ((c * 31 + round * 7) % 50) as usize;
                    let sums: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
                    pool.run(n, |i| {
                        sums[i].fetch_add(i as u32 + c, Ordering::Relaxed);
                    });
                    for (i, v) in sums.iter().enumerate() {
                        assert_eq!(v.load(Ordering::Relaxed), i as u32 + c, "caller {c}, round {round}, task {i}");
                    }
                    total.fetch_add(n as u32, Ordering::Relaxed);
                }
            });
        }
    });
    assert!(total.load(Ordering::Relaxed) > 0);
    // A task that starts a job of its own runs it alone (no deadlock).
    let hits: Vec<AtomicU32> = (0..8 * 8).map(|_| AtomicU32::new(0)).collect();
    pool.run(8, |i| pool.run(8, |j| {
        hits[i * 8 + j].fetch_add(1, Ordering::Relaxed);
    }));
    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "nested jobs");
}

#[test]
fn a_panicking_task_fails_its_caller_and_the_pool_goes_on() {
    let pool = Pool::new(3);
    for round in 0..20 {
        let bad = 7 + round % 5;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(40, |i| {
                if i == bad {
                    panic!("task {i} fails");
                }
            })
        }));
        let msg = r.expect_err("the job fails").downcast::<String>().map(|s| *s).unwrap_or_default();
        assert_eq!(msg, format!("task {bad} fails"), "the task's own panic reaches the caller");
        // The pool still runs every task of the next job.
        let hits: Vec<AtomicU32> = (0..40).map(|_| AtomicU32::new(0)).collect();
        pool.run(40, |i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "round {round}");
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn the_numbers_do_not_depend_on_the_thread_count() {
    let ids = common::tokenizer().encode("One, two, three: the quick brown fox jumps over the lazy dog, and then the dog").unwrap();
    let mut reference = None;
    for threads in [1, 2, 3, 5] {
        let opts = SessionOptions { full_logits: true, trace: true, max_batch: 16, ..Default::default() };
        let mut s = Session::new(Cpu::with_threads(threads), common::cpu_model(), common::tokenizer(), opts).unwrap();
        let pre = block_on(s.prefill(&ids)).unwrap();
        let mut logits = vec![bits(s.logits().unwrap())];
        let mut attention = vec![format!("{:?}", pre.attention)];
        // The candidates come from the top-k's chunks (on the pool's
        // threads) and their merge: ids, logits and probabilities.
        let cands = |s: &Session<Cpu>| s.candidates().iter().map(|c| (c.id, c.logit.to_bits(), c.prob.to_bits())).collect::<Vec<_>>();
        let mut tokens = vec![cands(&s)];
        for _ in 0..6 {
            let st = block_on(s.step()).unwrap();
            tokens.push(vec![(st.token, 0, 0)]);
            tokens.push(cands(&s));
            logits.push(bits(s.logits().unwrap()));
            attention.push(format!("{:?}", st.attention));
        }
        let n = s.tokens().len();
        let lens = format!("{:?}", block_on(s.lens(n - 3, n, 5)).unwrap());
        let got = (tokens, logits, attention, lens);
        match &reference {
            None => reference = Some(got),
            Some(r) => {
                assert_eq!(r.0, got.0, "tokens or candidates differ on {threads} threads");
                for (i, (a, b)) in r.1.iter().zip(&got.1).enumerate() {
                    let worst = a.iter().zip(b).filter(|(x, y)| x != y).count();
                    assert_eq!(worst, 0, "step {i}: {worst} logits differ in their bits on {threads} threads");
                }
                assert!(r.2 == got.2, "attention differs on {threads} threads");
                assert!(r.3 == got.3, "the lens differs on {threads} threads");
            }
        }
    }
}
