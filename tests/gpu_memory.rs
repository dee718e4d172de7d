//! A 100-step run on the GPU backend creates no GPU buffers or bind groups
//! and does not grow host memory (500 steps proved no more, and took over
//! 3 minutes of CI on lavapipe; 150 took 50 s). Its own test binary, so that no other test
//! shares the process whose memory it measures.

mod common;

use std::sync::Arc;

use glassbox::backend::gpu::{Gpu, GpuContext, GpuOptions};
use glassbox::backend::Backend;
use glassbox::generate::SessionOptions;
use glassbox::{Model, Session};
use pollster::block_on;

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
    s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

#[test]
fn a_hundred_steps_allocate_nothing() {
    let ctx = block_on(GpuContext::new(GpuOptions::default())).unwrap_or_else(|e| panic!("a GPU adapter is required: {e}"));
    let mut g = Gpu::new(Arc::new(ctx));
    let model = Arc::new(Model::load(common::gguf(), &mut g, &mut |_, _| {}).expect("upload the model"));
    let ids = common::tokenizer().encode("Once upon a time").unwrap();
    let mut s = Session::new(g.sibling(), model, common::tokenizer(), SessionOptions { n_ctx: 120, reserve: 120, ..Default::default() }).unwrap();
    block_on(s.prefill(&ids)).unwrap();
    let mut rss_at = Vec::new();
    let mut allocs = None;
    for i in 0..105 {
        block_on(s.step()).unwrap();
        if i == 4 {
            allocs = Some(s.backend.allocations());
        }
        if i % 50 == 4 {
            rss_at.push(rss_bytes() >> 20);
        }
    }
    let after = s.backend.allocations();
    eprintln!("GPU buffers/bind groups after 5 steps {allocs:?}, after 105 {after:?}; RSS (MB) every 50 steps: {rss_at:?}");
    assert_eq!(allocs, Some(after), "a step created GPU buffers or bind groups");
    let growth = rss_at.last().unwrap() - rss_at[0];
    assert!(growth <= 8, "host memory grew by {growth} MB over 100 steps: {rss_at:?}");
    assert_eq!(s.tokens().len(), ids.len() + 105);
}
