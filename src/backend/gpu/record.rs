//! Recording and submission: ops append commands (a dispatch with its
//! parameters in the uniform arena, or a buffer copy); `submit` turns the
//! list into one command encoder and one queue submission. Bind groups are
//! built on first use and cached by the buffers they bind.

use super::*;

pub(super) enum Cmd {
    Dispatch { kernel: Kernel, bind: u64, slot: u32, groups: [u32; 3] },
    Copy { src: wgpu::Buffer, src_off: u64, dst: wgpu::Buffer, dst_off: u64, size: u64 },
}

/// Largest number of dispatches one submission can hold (a decode step
/// records 4 per layer plus 4: 124 for SmolLM2's 30 layers; a deeper model's
/// pass is submitted in parts).
pub(super) const MAX_SLOTS: u32 = 2048;

/// Most storage bindings any kernel has (attention with W_o folded in: q,
/// k, v, out, probs, stored q, lse, W_o; WebGPU guarantees 8 per stage).
pub(super) const MAX_BINDINGS: usize = 8;

impl Gpu {

    /// A process-wide unique buffer id (bind groups are cached by buffer ids,
    /// and sibling backends share weights).
    pub(super) fn id(&mut self) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }


    /// Record one dispatch of `kernel` over `buffers` with `params`.
    pub(super) fn dispatch(&mut self, kernel: Kernel, buffers: &[(&wgpu::Buffer, u64)], params: &[u8], groups: [u32; 3]) {
        assert!(params.len() as u64 <= PARAMS_SIZE);
        if self.params.len() as u64 / self.slot_stride >= MAX_SLOTS as u64 {
            // The parameter buffer is full (a very deep model): submit what
            // is recorded so far; the queue keeps the order.
            self.submit(|_| {});
        }
        let slot = (self.params.len() as u64 / self.slot_stride) as u32;
        self.params.extend_from_slice(params);
        self.params.resize(((slot + 1) as u64 * self.slot_stride) as usize, 0);
        // A fixed-size key: no allocation per dispatch on the host side.
        assert!(buffers.len() <= MAX_BINDINGS, "{kernel:?} binds more buffers than MAX_BINDINGS");
        let mut ids = [u64::MAX; MAX_BINDINGS];
        for (slot, b) in ids.iter_mut().zip(buffers) {
            *slot = b.1;
        }
        let key = (kernel, ids);
        let bind = match self.binds.get(&key) {
            Some(&b) => b,
            None => {
                let pipeline = self.kernels.get(kernel);
                let layout = &pipeline.layout;
                let entries: Vec<_> = buffers
                    .iter()
                    .enumerate()
                    .map(|(i, (b, _))| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
                    .collect();
                let bg = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(&kernel.name()), layout, entries: &entries });
                let id = self.next_bind;
                self.next_bind += 1;
                self.bind_groups.insert(id, bg);
                self.binds.insert(key, id);
                id
            }
        };
        self.cmds.push(Cmd::Dispatch { kernel, bind, slot, groups });
    }


    /// Forget the cached bind groups that use buffer `id`.
    pub(super) fn forget(&mut self, id: u64) {
        let gone: Vec<u64> = self.binds.iter().filter(|(k, _)| k.1.contains(&id)).map(|(_, &b)| b).collect();
        self.binds.retain(|k, _| !k.1.contains(&id));
        for b in gone {
            self.bind_groups.remove(&b);
        }
    }


    pub(super) fn copy_bytes(&mut self, src: &wgpu::Buffer, src_off: u64, dst: &wgpu::Buffer, dst_off: u64, size: u64) {
        if size > 0 {
            self.cmds.push(Cmd::Copy { src: src.clone(), src_off, dst: dst.clone(), dst_off, size });
        }
    }


    /// Encode everything recorded, with `extra` copies at the end, and submit.
    pub(super) fn submit(&mut self, extra: impl FnOnce(&mut wgpu::CommandEncoder)) {
        let q = &self.ctx.queue;
        if !self.params.is_empty() {
            q.write_buffer(&self.params_buf, 0, &self.params);
        }
        if let Some(t) = self.tokens.take() {
            q.write_buffer(&self.tokens_buf, 0, bytemuck::cast_slice(&t));
        }
        let mut enc = self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("forward") });
        let cmds = std::mem::take(&mut self.cmds);
        self.submissions += 1;
        // Every dispatch's pipeline, held while the passes borrow them.
        let pipes: Vec<Option<std::sync::Arc<kernels::Pipeline>>> =
            cmds.iter().map(|c| if let Cmd::Dispatch { kernel, .. } = c { Some(self.kernels.get(*kernel)) } else { None }).collect();
        self.last_dispatches = cmds.iter().filter(|c| matches!(c, Cmd::Dispatch { .. })).count();
        let mut i = 0;
        while i < cmds.len() {
            match &cmds[i] {
                Cmd::Copy { src, src_off, dst, dst_off, size } => {
                    enc.copy_buffer_to_buffer(src, *src_off, dst, *dst_off, *size);
                    i += 1;
                }
                Cmd::Dispatch { kernel, bind, slot, groups } if self.profiler.is_some() => {
                    let prof = self.profiler.as_mut().expect("profiler");
                    let q = prof.last.len() as u32 * 2;
                    prof.last.push(*kernel);
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: &prof.queries,
                            beginning_of_pass_write_index: Some(q),
                            end_of_pass_write_index: Some(q + 1),
                        }),
                    });
                    pass.set_pipeline(&pipes[i].as_ref().expect("a dispatch's pipeline").pipeline);
                    pass.set_bind_group(0, &self.params_group, &[(*slot as u64 * self.slot_stride) as u32]);
                    pass.set_bind_group(1, &self.bind_groups[bind], &[]);
                    pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                    i += 1;
                }
                Cmd::Dispatch { .. } => {
                    // Consecutive dispatches share one compute pass.
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
                    while let Some(Cmd::Dispatch { bind, slot, groups, .. }) = cmds.get(i) {
                        pass.set_pipeline(&pipes[i].as_ref().expect("a dispatch's pipeline").pipeline);
                        pass.set_bind_group(0, &self.params_group, &[(*slot as u64 * self.slot_stride) as u32]);
                        pass.set_bind_group(1, &self.bind_groups[bind], &[]);
                        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                        i += 1;
                    }
                }
            }
        }
        if let Some(prof) = &self.profiler {
            let n = prof.last.len() as u32 * 2;
            if n > 0 {
                enc.resolve_query_set(&prof.queries, 0..n, &prof.resolve, 0);
                enc.copy_buffer_to_buffer(&prof.resolve, 0, &prof.readback, 0, n as u64 * 8);
            }
        }
        extra(&mut enc);
        q.submit([enc.finish()]);
        self.params.clear();
    }
}
