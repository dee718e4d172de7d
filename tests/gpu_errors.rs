//! A GPU error is never silent: a validation error the device reports
//! outside any error scope (a failing pipeline, a bad buffer) turns the next
//! readback into an error that says so, and the backend works again after.
//! A missing GPU adapter is a failure, not a skip (CI installs lavapipe).

use std::sync::Arc;

use glassbox::backend::gpu::{Gpu, GpuContext, GpuOptions};
use glassbox::backend::Backend;
use pollster::block_on;

#[test]
fn validation_errors_surface_at_the_next_readback() {
    let ctx = Arc::new(block_on(GpuContext::new(GpuOptions::default())).expect("a GPU adapter (lavapipe in CI)"));
    let mut gpu = Gpu::new(ctx.clone());
    let x = gpu.upload_f32(&[1.0, 2.0, 3.0]);
    assert_eq!(block_on(gpu.read(&[(&x, 3)])).unwrap()[0], vec![1.0, 2.0, 3.0]);
    // An invalid buffer: MAP_READ may only go with COPY_DST.
    let _bad = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("invalid on purpose"),
        size: 16,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let e = block_on(gpu.read(&[(&x, 3)])).expect_err("the error is reported").to_string();
    assert!(e.contains("GPU reported 1 error") && e.contains("cannot be trusted"), "{e}");
    eprintln!("{e}");
    // Reported once; the backend goes on.
    assert_eq!(block_on(gpu.read(&[(&x, 3)])).unwrap()[0], vec![1.0, 2.0, 3.0]);
}
