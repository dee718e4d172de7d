//! The GPU backend: the same `Backend` trait, implemented with WGSL compute
//! shaders through wgpu (WebGPU in the browser, Vulkan/Metal/DX12 natively).
//!
//! Ops do not run when called: each one appends a command (a dispatch with
//! its parameters, or a buffer copy) to a list. `read` turns the whole list
//! into one command encoder, writes every dispatch's parameters into one
//! uniform arena with a single `write_buffer`, submits once, and maps one
//! staging buffer: one CPU↔GPU synchronisation per forward pass. Weights stay
//! in their GGUF blocks; pipelines are built once; bind groups are built on
//! first use and cached, so a step allocates nothing on the GPU.

pub mod context;
pub mod kernels;

use std::collections::HashMap;
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use crate::backend::{AttnShape, Backend, CacheShape, QStore};
use crate::tensor::TensorData;
use crate::quant;
use crate::error::{Error, Result};
pub use context::{FeatureUse, GpuContext, GpuOptions};
use kernels::{Kernel, Kernels, WeightFmt, PARAMS_SIZE};

/// An f32 activation buffer on the GPU.
pub struct GpuBuf {
    pub buffer: wgpu::Buffer,
    /// Capacity in floats.
    pub len: usize,
    id: u64,
}

/// A weight matrix on the GPU, in its GGUF block format, in one piece or,
/// when it is larger than one buffer binding can hold, split by rows over
/// several buffers (each matmul or embedding is then one dispatch per piece).
pub struct GpuMat {
    pub fmt: WeightFmt,
    pub rows: usize,
    pub cols: usize,
    pieces: Vec<Piece>,
}

/// Rows first..first + rows of a matrix, stored from row `row0` of `buffer`
/// (matrices uploaded together share one buffer and its id).
struct Piece {
    buffer: wgpu::Buffer,
    id: u64,
    first: usize,
    rows: usize,
    row0: usize,
}

impl GpuMat {
    /// The buffers the matrix is split over (1 when it fits one binding).
    pub fn pieces(&self) -> usize {
        self.pieces.len()
    }

    fn whole(&self) -> Option<&Piece> {
        match &self.pieces[..] {
            [p] => Some(p),
            _ => None,
        }
    }

    /// Whether `next` follows this matrix in the same buffer, with the same
    /// format and width (so one kernel can read both as one matrix).
    fn followed_by(&self, next: &GpuMat) -> bool {
        match (self.whole(), next.whole()) {
            (Some(a), Some(b)) => a.id == b.id && self.fmt == next.fmt && self.cols == next.cols && a.row0 + a.rows == b.row0,
            _ => false,
        }
    }
}

/// One layer's attention cache (see `Backend::Cache`). q is kept as u32
/// words: f32 bits, or two f16 packed per word.
pub struct GpuCache {
    pub shape: CacheShape,
    pub capacity: usize,
    pub k: GpuBuf,   // (capacity, kv_dim)
    pub v: GpuBuf,   // (capacity, kv_dim)
    pub q: GpuBuf,   // (capacity, q_dim) f32, or (capacity, q_dim / 2) f16 pairs
    pub lse: GpuBuf, // (capacity, n_heads)
}

impl GpuCache {
    /// Floats (u32 words) per position in each of k, v, q, lse.
    fn widths(s: &CacheShape) -> [usize; 4] {
        let q = match s.q_store {
            QStore::F32 => s.q_dim(),
            QStore::F16 => s.q_dim().div_ceil(2),
        };
        [s.kv_dim(), s.kv_dim(), q, s.n_heads]
    }
}

enum Cmd {
    Dispatch { kernel: Kernel, bind: u64, slot: u32, groups: [u32; 3] },
    Copy { src: wgpu::Buffer, src_off: u64, dst: wgpu::Buffer, dst_off: u64, size: u64 },
}

/// Largest number of dispatches one submission can hold (a decode step
/// records 6 per layer plus 4: 184 for SmolLM2's 30 layers; a deeper model's
/// pass is submitted in parts).
const MAX_SLOTS: u32 = 2048;

/// Most storage bindings any kernel has (attention: q, k, v, out, probs,
/// stored q, lse; WebGPU guarantees 8 per stage).
const MAX_BINDINGS: usize = 7;

pub struct Gpu {
    pub ctx: Arc<GpuContext>,
    kernels: Arc<Kernels>,
    slot_stride: u64,
    params_buf: wgpu::Buffer,
    params_group: wgpu::BindGroup,
    params: Vec<u8>,
    cmds: Vec<Cmd>,
    /// Bind groups by (kernel, buffer ids), built on first use.
    binds: HashMap<(Kernel, [u64; MAX_BINDINGS]), u64>,
    bind_groups: HashMap<u64, wgpu::BindGroup>,
    next_bind: u64,
    tokens_buf: wgpu::Buffer,
    tokens: Option<Vec<u32>>,
    staging: Option<wgpu::Buffer>,
    /// Dispatches recorded by the last submitted forward pass.
    pub last_dispatches: usize,
    profiler: Option<Profiler>,
    buffers_created: usize,
    /// Bytes of the storage buffers this backend has made and not freed.
    bytes_alive: u64,
}

/// Per-kernel GPU time from timestamp queries (native benchmarks only: each
/// dispatch then gets a pass of its own, which itself costs a little).
struct Profiler {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Kernels of the last submission, in dispatch order.
    last: Vec<Kernel>,
    /// Total nanoseconds and dispatch count per kernel name.
    totals: HashMap<String, (f64, usize)>,
}

const MAX_TOKENS: usize = 4096;

#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct P4 {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
}

fn f(x: f32) -> u32 {
    x.to_bits()
}

impl Gpu {
    /// A backend on `ctx`; compiles every pipeline.
    // In the browser wgpu's types are not Send; the worker is one thread.
    #[allow(clippy::arc_with_non_send_sync)]
    pub fn new(ctx: Arc<GpuContext>) -> Gpu {
        let kernels = Arc::new(Kernels::new(&ctx.device, ctx.subgroups));
        Gpu::with_kernels(ctx, kernels)
    }

    fn with_kernels(ctx: Arc<GpuContext>, kernels: Arc<Kernels>) -> Gpu {
        let device = &ctx.device;
        let slot_stride = PARAMS_SIZE.next_multiple_of(ctx.limits.min_uniform_buffer_offset_alignment as u64);
        let params_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params arena"),
            size: slot_stride * MAX_SLOTS as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let params_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("params"),
            layout: &kernels.params_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &params_buf,
                    offset: 0,
                    size: wgpu::BufferSize::new(PARAMS_SIZE),
                }),
            }],
        });
        let tokens_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tokens"),
            size: (MAX_TOKENS * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Gpu {
            ctx,
            kernels,
            slot_stride,
            params_buf,
            params_group,
            params: Vec::new(),
            cmds: Vec::new(),
            binds: HashMap::new(),
            bind_groups: HashMap::new(),
            next_bind: 0,
            tokens_buf,
            tokens: None,
            staging: None,
            last_dispatches: 0,
            profiler: None,
            buffers_created: 0,
            bytes_alive: 0,
        }
    }

    /// A process-wide unique buffer id (bind groups are cached by buffer ids,
    /// and sibling backends share weights).
    fn id(&mut self) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn storage(&mut self, label: &str, bytes: u64, extra: wgpu::BufferUsages) -> wgpu::Buffer {
        self.buffers_created += 1;
        let size = bytes.max(4).next_multiple_of(4);
        self.bytes_alive += size;
        self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST | extra,
            mapped_at_creation: false,
        })
    }

    /// out = x · wᵀ, or out += x · wᵀ with `acc` (the residual add fused in):
    /// one dispatch per piece of `w`, each writing its own columns of `out`.
    fn matmul_acc(&mut self, x: &GpuBuf, w: &GpuMat, out: &mut GpuBuf, rows: usize, acc: bool) {
        let (kernel, tile, lanes) = if rows == 1 && self.ctx.subgroups {
            (Kernel::MatvecSg(w.fmt), 1, 64.0) // one column per workgroup
        } else if rows == 1 {
            (Kernel::Matvec(w.fmt), 1, kernels::MATVEC_LANES)
        } else {
            (Kernel::Matmul(w.fmt), 8, kernels::MATMUL_LANES)
        };
        for pc in &w.pieces {
            let p = [pc.rows as u32, w.cols as u32, rows as u32, acc as u32, pc.row0 as u32, w.rows as u32, pc.first as u32, 0];
            let (gx, gz) = groups_1d(pc.rows, 64 / lanes as usize);
            self.dispatch(
                kernel,
                &[(&pc.buffer, pc.id), (&x.buffer, x.id), (&out.buffer, out.id)],
                bytemuck::cast_slice(&p),
                [gx, rows.div_ceil(tile) as u32, gz],
            );
        }
    }

    /// One dispatch of the fused norm + projection kernel over rows
    /// w.row0..w.row0 + n (+ n more for `glu`) of `w`'s buffer; `outs` are
    /// its three outputs (see norm_matmul.wgsl), `n0`, `n1` the first two widths.
    #[allow(clippy::too_many_arguments)]
    fn norm_dispatch(&mut self, x: &GpuBuf, g: &GpuBuf, eps: f32, w: &GpuMat, n: usize, n0: usize, n1: usize, glu: bool, outs: [&GpuBuf; 3], rows: usize) {
        let pc = w.whole().expect("the fused kernels read matrices in one piece");
        let p = [n as u32, w.cols as u32, rows as u32, pc.row0 as u32, n0 as u32, n1 as u32, f(eps), 0];
        let (kernel, tile, lanes) =
            if rows == 1 { (Kernel::NormMatvec(w.fmt, glu), 1, kernels::MATVEC_LANES) } else { (Kernel::NormMatmul(w.fmt, glu), 8, kernels::MATMUL_LANES) };
        let (gx, gz) = groups_1d(n, 64 / lanes as usize);
        let [o0, o1, o2] = outs;
        self.dispatch(
            kernel,
            &[(&pc.buffer, pc.id), (&x.buffer, x.id), (&g.buffer, g.id), (&o0.buffer, o0.id), (&o1.buffer, o1.id), (&o2.buffer, o2.id)],
            bytemuck::cast_slice(&p),
            [gx, rows.div_ceil(tile) as u32, gz],
        );
    }

    /// Rotate q's `n_heads` and then k's `n_kv_heads` heads in one dispatch.
    #[allow(clippy::too_many_arguments)]
    fn rope_dispatch(&mut self, q: (&wgpu::Buffer, u64), k: (&wgpu::Buffer, u64), rows: usize, n_heads: usize, n_kv_heads: usize, head_dim: usize, pos0: usize, base: f32) {
        // The angles are built as on the CPU (crate::backend::rope_angles):
        // the same f32 ratio, multiplied in the same order.
        let p = [rows as u32, n_heads as u32, head_dim as u32, pos0 as u32, f(crate::backend::rope_ratio(head_dim, base)), n_kv_heads as u32, 0, 0];
        let groups = [((n_heads + n_kv_heads) * head_dim / 2).div_ceil(64) as u32, rows as u32, 1];
        self.dispatch(Kernel::Rope, &[q, k], bytemuck::cast_slice(&p), groups);
    }

    /// Upload `ts` (one format and width) into one buffer, rows one after the other.
    fn upload_together(&mut self, ts: &[TensorData]) -> Result<Vec<GpuMat>> {
        let t0 = &ts[0];
        let fmt = WeightFmt::of(t0.ty).ok_or_else(|| Error::Backend(format!("tensor '{}' ({}) cannot be read by the GPU kernels", t0.name, t0.ty)))?;
        self.kernels.warm(fmt, ts.len() > 1);
        let len: usize = ts.iter().map(|t| t.data.len()).sum();
        // 4 spare bytes: the Q8_0 reader may load one word past a row's last block.
        let size = (len as u64 + 4).next_multiple_of(4);
        let names: Vec<&str> = ts.iter().map(|t| t.name).collect();
        let label = names.join(" + ");
        self.ctx.check_binding(&format!("tensor '{label}'"), size)?;
        let buffer = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&label),
            size,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: true,
        });
        {
            let mut view = buffer.slice(..).get_mapped_range_mut().map_err(|e| Error::Backend(format!("mapping the buffer for '{label}': {e}")))?;
            let mut off = 0;
            for t in ts {
                view.slice(off..off + t.data.len()).copy_from_slice(t.data);
                off += t.data.len();
            }
        }
        buffer.unmap();
        self.bytes_alive += size;
        let id = self.id();
        let mut row0 = 0;
        Ok(ts
            .iter()
            .map(|t| {
                let piece = Piece { buffer: buffer.clone(), id, first: 0, rows: t.rows, row0 };
                row0 += t.rows;
                GpuMat { fmt, rows: t.rows, cols: t.cols, pieces: vec![piece] }
            })
            .collect())
    }

    /// Upload a matrix larger than one binding as pieces of whole rows, each
    /// uploaded alone (a buffer of its own that the device can bind).
    fn upload_split(&mut self, t: &TensorData) -> Result<GpuMat> {
        let row_bytes = t.data.len() / t.rows.max(1);
        crate::tensor::fits_binding(t.name, row_bytes as u64, self.ctx.max_binding())?;
        let per = split_rows(row_bytes, t.rows, self.ctx.max_binding());
        let mut pieces = Vec::new();
        let mut fmt = None;
        for first in (0..t.rows).step_by(per) {
            let rows = per.min(t.rows - first);
            let part = TensorData { rows, data: &t.data[first * row_bytes..(first + rows) * row_bytes], ..*t };
            let m = self.upload_together(std::slice::from_ref(&part))?.remove(0);
            fmt = Some(m.fmt);
            pieces.extend(m.pieces.into_iter().map(|p| Piece { first, ..p }));
        }
        Ok(GpuMat { fmt: fmt.expect("a matrix has rows"), rows: t.rows, cols: t.cols, pieces })
    }

    /// Record one dispatch of `kernel` over `buffers` with `params`.
    fn dispatch(&mut self, kernel: Kernel, buffers: &[(&wgpu::Buffer, u64)], params: &[u8], groups: [u32; 3]) {
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
    fn forget(&mut self, id: u64) {
        let gone: Vec<u64> = self.binds.iter().filter(|(k, _)| k.1.contains(&id)).map(|(_, &b)| b).collect();
        self.binds.retain(|k, _| !k.1.contains(&id));
        for b in gone {
            self.bind_groups.remove(&b);
        }
    }

    fn copy_bytes(&mut self, src: &wgpu::Buffer, src_off: u64, dst: &wgpu::Buffer, dst_off: u64, size: u64) {
        if size > 0 {
            self.cmds.push(Cmd::Copy { src: src.clone(), src_off, dst: dst.clone(), dst_off, size });
        }
    }

    /// Encode everything recorded, with `extra` copies at the end, and submit.
    fn submit(&mut self, extra: impl FnOnce(&mut wgpu::CommandEncoder)) {
        let q = &self.ctx.queue;
        if !self.params.is_empty() {
            q.write_buffer(&self.params_buf, 0, &self.params);
        }
        if let Some(t) = self.tokens.take() {
            q.write_buffer(&self.tokens_buf, 0, bytemuck::cast_slice(&t));
        }
        let mut enc = self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("forward") });
        let cmds = std::mem::take(&mut self.cmds);
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

/// Rows per piece when a matrix of `rows` rows of `row_bytes` is split over
/// buffers of at most `max` bytes, each with upload_together's 4 spare bytes
/// and rounding to 4 (0 when not even one row fits: see info::fits_binding).
fn split_rows(row_bytes: usize, rows: usize, max: u64) -> usize {
    (max.saturating_sub(8) / row_bytes.max(1) as u64).min(rows as u64) as usize
}

/// Workgroups for `n` items of `per` threads, split over x and z when x would pass the limit.
fn groups_1d(n: usize, per: usize) -> (u32, u32) {
    let g = n.div_ceil(per).max(1) as u32;
    if g <= 65535 {
        (g, 1)
    } else {
        (65535, g.div_ceil(65535))
    }
}

impl Backend for Gpu {
    type Buf = GpuBuf;
    type Mat = GpuMat;
    type Vec = GpuBuf;
    type Cache = GpuCache;

    fn name(&self) -> String {
        format!("GPU · {}", self.ctx.describe())
    }

    fn device_bytes(&self) -> Option<u64> {
        Some(self.bytes_alive)
    }

    fn max_binding(&self) -> Option<u64> {
        Some(self.ctx.max_binding())
    }

    /// Shares the compiled pipelines (and can use weights uploaded by this one).
    fn sibling(&self) -> Gpu {
        Gpu::with_kernels(self.ctx.clone(), self.kernels.clone())
    }

    fn upload_mat(&mut self, t: &TensorData) -> Result<GpuMat> {
        if t.data.len() as u64 + 4 > self.ctx.max_binding() {
            return self.upload_split(t);
        }
        Ok(self.upload_together(std::slice::from_ref(t))?.remove(0))
    }

    /// Matrices of one format and width go into one buffer, one after the
    /// other, so that the fused kernels read them in one dispatch (unless
    /// together they would pass the binding limit: then each alone).
    fn upload_mats(&mut self, ts: &[TensorData]) -> Result<Vec<GpuMat>> {
        let same = ts.windows(2).all(|p| p[0].ty == p[1].ty && p[0].cols == p[1].cols);
        let bytes: u64 = ts.iter().map(|t| t.data.len() as u64).sum();
        if ts.len() > 1 && same && self.ctx.check_binding("matrices uploaded together", bytes + 4).is_ok() {
            self.upload_together(ts)
        } else {
            ts.iter().map(|t| self.upload_mat(t)).collect()
        }
    }

    fn upload_vec(&mut self, t: &TensorData) -> Result<GpuBuf> {
        let mut v = vec![0f32; t.rows * t.cols];
        quant::dequantize(t.ty, t.data, &mut v);
        let b = self.buf(v.len());
        self.ctx.queue.write_buffer(&b.buffer, 0, bytemuck::cast_slice(&v));
        Ok(b)
    }

    fn buf(&mut self, len: usize) -> GpuBuf {
        let buffer = self.storage("activations", len as u64 * 4, wgpu::BufferUsages::empty());
        GpuBuf { buffer, len, id: self.id() }
    }

    fn upload_f32(&mut self, data: &[f32]) -> GpuBuf {
        let b = self.buf(data.len());
        self.ctx.queue.write_buffer(&b.buffer, 0, bytemuck::cast_slice(data));
        b
    }

    fn attn_cache(&mut self, capacity: usize, shape: CacheShape) -> GpuCache {
        let [k, v, q, lse] = GpuCache::widths(&shape).map(|w| self.buf(capacity * w));
        GpuCache { shape, capacity, k, v, q, lse }
    }

    fn grow_cache(&mut self, cache: &mut GpuCache, capacity: usize, len: usize) {
        if capacity <= cache.capacity {
            return;
        }
        // New buffers; the positions in use are copied over in order with
        // the recorded ops, then the old buffers are given back.
        let widths = GpuCache::widths(&cache.shape);
        let mut bigger = widths.map(|w| self.buf(capacity * w));
        let old = [&mut cache.k, &mut cache.v, &mut cache.q, &mut cache.lse];
        for ((o, n), w) in old.into_iter().zip(bigger.iter_mut()).zip(widths) {
            let (src, dst) = (o.buffer.clone(), n.buffer.clone());
            self.copy_bytes(&src, 0, &dst, 0, (len.min(cache.capacity) * w * 4) as u64);
            std::mem::swap(o, n);
        }
        for b in bigger {
            self.free(b);
        }
        cache.capacity = capacity;
    }

    fn copy_cache(&mut self, src: &GpuCache, dst: &mut GpuCache, len: usize) {
        assert_eq!(src.shape, dst.shape, "copy_cache between different shapes");
        assert!(len <= src.capacity && len <= dst.capacity, "copy_cache past a cache's capacity");
        let widths = GpuCache::widths(&src.shape);
        for ((a, b), w) in [(&src.k, &dst.k), (&src.v, &dst.v), (&src.q, &dst.q), (&src.lse, &dst.lse)].into_iter().zip(widths) {
            let (a, b) = (a.buffer.clone(), b.buffer.clone());
            self.copy_bytes(&a, 0, &b, 0, (len * w * 4) as u64);
        }
    }

    fn free(&mut self, buf: GpuBuf) {
        self.forget(buf.id);
        self.bytes_alive = self.bytes_alive.saturating_sub((buf.len as u64 * 4).max(4).next_multiple_of(4));
        // wgpu keeps the buffer alive while a recorded command still uses it.
        drop(buf);
    }

    fn write_f32(&mut self, buf: &mut GpuBuf, data: &[f32]) {
        assert!(data.len() <= buf.len, "write_f32 past the end of the buffer");
        // Queue writes land before the next submission, which carries every
        // recorded op that could read this buffer.
        self.ctx.queue.write_buffer(&buf.buffer, 0, bytemuck::cast_slice(data));
    }

    fn embed(&mut self, table: &GpuMat, tokens: &[u32], out: &mut GpuBuf) {
        assert!(tokens.len() <= MAX_TOKENS);
        self.tokens = Some(tokens.to_vec());
        let tb = self.tokens_buf.clone();
        // One dispatch per piece: each writes the tokens whose rows it holds.
        for pc in &table.pieces {
            if !tokens.iter().any(|&t| (pc.first..pc.first + pc.rows).contains(&(t as usize))) {
                continue;
            }
            let p = [table.cols as u32, tokens.len() as u32, pc.first as u32, pc.rows as u32, pc.row0 as u32, 0, 0, 0];
            self.dispatch(
                Kernel::Embed(table.fmt),
                &[(&pc.buffer, pc.id), (&tb, 0), (&out.buffer, out.id)],
                bytemuck::cast_slice(&p),
                [table.cols.div_ceil(64) as u32, tokens.len() as u32, 1],
            );
        }
    }

    fn rmsnorm(&mut self, x: &GpuBuf, w: &GpuBuf, out: &mut GpuBuf, rows: usize, eps: f32) {
        let p = P4 { a: w.len as u32, b: rows as u32, c: f(eps), d: 0 };
        self.dispatch(Kernel::RmsNorm, &[(&x.buffer, x.id), (&w.buffer, w.id), (&out.buffer, out.id)], bytemuck::bytes_of(&p), [rows as u32, 1, 1]);
    }

    fn matmul(&mut self, x: &GpuBuf, w: &GpuMat, out: &mut GpuBuf, rows: usize) {
        self.matmul_acc(x, w, out, rows, false);
    }

    fn matmul_add(&mut self, x: &GpuBuf, w: &GpuMat, out: &mut GpuBuf, _tmp: &mut GpuBuf, rows: usize, _n: usize) {
        self.matmul_acc(x, w, out, rows, true);
    }


    fn rope(&mut self, x: &mut GpuBuf, rows: usize, n_heads: usize, head_dim: usize, pos0: usize, base: f32) {
        // No k heads: the kernel's k binding is bound to a buffer it never touches.
        let tb = self.tokens_buf.clone();
        self.rope_dispatch((&x.buffer, x.id), (&tb, 0), rows, n_heads, 0, head_dim, pos0, base);
    }

    fn rope_qk(&mut self, q: &mut GpuBuf, k: &mut GpuBuf, rows: usize, n_heads: usize, n_kv_heads: usize, head_dim: usize, pos0: usize, base: f32) {
        self.rope_dispatch((&q.buffer, q.id), (&k.buffer, k.id), rows, n_heads, n_kv_heads, head_dim, pos0, base);
    }

    fn norm_matmul(&mut self, x: &GpuBuf, g: &GpuBuf, eps: f32, ws: &[&GpuMat], outs: &mut [&mut GpuBuf], normed: &mut GpuBuf, rows: usize) {
        if let ([w0, w1, w2], [o0, o1, o2]) = (ws, &mut *outs) {
            if w0.followed_by(w1) && w1.followed_by(w2) {
                let n = w0.rows + w1.rows + w2.rows;
                self.norm_dispatch(x, g, eps, w0, n, w0.rows, w1.rows, false, [o0, o1, o2], rows);
                return;
            }
        }
        crate::backend::unfused_norm_matmul(self, x, g, eps, ws, outs, normed, rows);
    }

    fn norm_glu(&mut self, x: &GpuBuf, g: &GpuBuf, eps: f32, gate: &GpuMat, up: &GpuMat, out: &mut GpuBuf, up_out: &mut GpuBuf, normed: &mut GpuBuf, rows: usize, n: usize) {
        if gate.followed_by(up) && gate.rows == up.rows {
            // out1 and out2 are bound but never written under GLU.
            self.norm_dispatch(x, g, eps, gate, gate.rows, gate.rows, 0, true, [out, up_out, normed], rows);
            return;
        }
        crate::backend::unfused_norm_glu(self, x, g, eps, gate, up, out, up_out, normed, rows, n);
    }

    fn attention(
        &mut self,
        s: AttnShape,
        q: &GpuBuf,
        k: &GpuBuf,
        v: &GpuBuf,
        cache: &mut GpuCache,
        out: &mut GpuBuf,
        probs: (&mut GpuBuf, usize),
    ) {
        let row_bytes = (cache.shape.kv_dim() * 4) as u64;
        if s.store {
            let (kb, vb) = (cache.k.buffer.clone(), cache.v.buffer.clone());
            self.copy_bytes(&k.buffer, 0, &kb, s.pos0 as u64 * row_bytes, s.rows as u64 * row_bytes);
            self.copy_bytes(&v.buffer, 0, &vb, s.pos0 as u64 * row_bytes, s.rows as u64 * row_bytes);
        }
        let (pb, offset) = probs;
        let (pbuf, pid) = (pb.buffer.clone(), pb.id);
        let p = [
            s.rows as u32,
            s.pos0 as u32,
            s.n_heads as u32,
            s.n_kv_heads as u32,
            s.head_dim as u32,
            s.kv_len() as u32,
            offset as u32,
            f(1.0 / (s.head_dim as f32).sqrt()),
            (cache.shape.q_store == QStore::F16) as u32,
            s.store as u32,
        ];
        let c = &*cache;
        self.dispatch(
            Kernel::Attention,
            &[
                (&q.buffer, q.id),
                (&c.k.buffer, c.k.id),
                (&c.v.buffer, c.v.id),
                (&out.buffer, out.id),
                (&pbuf, pid),
                (&c.q.buffer, c.q.id),
                (&c.lse.buffer, c.lse.id),
            ],
            bytemuck::cast_slice(&p),
            [s.n_heads as u32, s.rows as u32, 1],
        );
    }

    fn attn_map(&mut self, cache: &GpuCache, head: usize, idx: &GpuBuf, n_rows: usize, n_cols: usize, out: &mut GpuBuf, offset: usize) {
        let sh = cache.shape;
        let p = [
            sh.n_heads as u32,
            sh.n_kv_heads as u32,
            sh.head_dim as u32,
            head as u32,
            n_rows as u32,
            n_cols as u32,
            offset as u32,
            f(1.0 / (sh.head_dim as f32).sqrt()),
            (sh.q_store == QStore::F16) as u32,
        ];
        let (gy, gz) = groups_1d(n_rows, 1);
        self.dispatch(
            Kernel::AttnMap,
            &[(&cache.q.buffer, cache.q.id), (&cache.k.buffer, cache.k.id), (&cache.lse.buffer, cache.lse.id), (&idx.buffer, idx.id), (&out.buffer, out.id)],
            bytemuck::cast_slice(&p),
            [n_cols.div_ceil(64) as u32, gy, gz],
        );
    }

    fn topk(&mut self, logits: &GpuBuf, rows: usize, n: usize, out: &mut GpuBuf) {
        let p = P4 { a: n as u32, b: rows as u32, c: 0, d: 0 };
        let chunks = n.div_ceil(crate::backend::TOPK_CHUNK) as u32;
        self.dispatch(Kernel::TopK, &[(&logits.buffer, logits.id), (&out.buffer, out.id)], bytemuck::bytes_of(&p), [chunks, rows as u32, 1]);
    }

    fn token_rank(&mut self, logits: &GpuBuf, rows: usize, n: usize, targets: &GpuBuf, out: &mut GpuBuf) {
        let p = P4 { a: n as u32, b: rows as u32, c: 0, d: 0 };
        self.dispatch(
            Kernel::TokenRank,
            &[(&logits.buffer, logits.id), (&targets.buffer, targets.id), (&out.buffer, out.id)],
            bytemuck::bytes_of(&p),
            [rows as u32, 1, 1],
        );
    }

    fn mask_heads(&mut self, x: &mut GpuBuf, rows: usize, n_heads: usize, head_dim: usize, mask: &GpuBuf, offset: usize) {
        let len = rows * n_heads * head_dim;
        let p = P4 { a: len as u32, b: n_heads as u32, c: head_dim as u32, d: offset as u32 };
        let (gx, gy) = groups_1d(len, 256);
        self.dispatch(Kernel::MaskHeads, &[(&x.buffer, x.id), (&mask.buffer, mask.id)], bytemuck::bytes_of(&p), [gx, gy, 1]);
    }

    fn cache_kv(cache: &GpuCache) -> (&GpuBuf, &GpuBuf) {
        (&cache.k, &cache.v)
    }

    fn swiglu(&mut self, gate: &mut GpuBuf, up: &GpuBuf, len: usize) {
        let p = P4 { a: len as u32, b: 0, c: 0, d: 0 };
        let (gx, gy) = groups_1d(len, 256);
        self.dispatch(Kernel::SwiGlu, &[(&gate.buffer, gate.id), (&up.buffer, up.id)], bytemuck::bytes_of(&p), [gx, gy, 1]);
    }

    fn add(&mut self, x: &mut GpuBuf, y: &GpuBuf, len: usize) {
        let p = P4 { a: len as u32, b: 0, c: 0, d: 0 };
        let (gx, gy) = groups_1d(len, 256);
        self.dispatch(Kernel::Add, &[(&x.buffer, x.id), (&y.buffer, y.id)], bytemuck::bytes_of(&p), [gx, gy, 1]);
    }

    fn copy(&mut self, src: &GpuBuf, src_off: usize, dst: &mut GpuBuf, dst_off: usize, len: usize) {
        let (s, d) = (src.buffer.clone(), dst.buffer.clone());
        self.copy_bytes(&s, src_off as u64 * 4, &d, dst_off as u64 * 4, len as u64 * 4);
    }

    fn enable_profiling(&mut self) -> bool {
        self.start_profiling()
    }
    fn take_profile(&mut self) -> Vec<(String, f64, usize)> {
        self.profile()
    }
    fn last_dispatches(&self) -> Option<usize> {
        Some(self.last_dispatches)
    }

    async fn read(&mut self, bufs: &[(&GpuBuf, usize)]) -> Result<Vec<Vec<f32>>> {
        let total: u64 = bufs.iter().map(|(_, n)| *n as u64 * 4).sum::<u64>().max(4);
        // Sized by the buffers' capacities, not this read's lengths, so that
        // a growing sequence does not reallocate it.
        let capacity: u64 = bufs.iter().map(|(b, _)| b.len as u64 * 4).sum::<u64>().max(total);
        if self.staging.as_ref().is_none_or(|s| s.size() < total) {
            self.buffers_created += 1;
            self.staging = Some(self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("staging"),
                size: capacity.next_multiple_of(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        let staging = self.staging.clone().expect("staging buffer");
        self.submit(|enc| {
            let mut off = 0;
            for (b, n) in bufs {
                let bytes = *n as u64 * 4;
                if bytes > 0 {
                    enc.copy_buffer_to_buffer(&b.buffer, 0, &staging, off, bytes);
                }
                off += bytes;
            }
        });
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..total).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Backend(format!("waiting for the GPU: {e}")))?;
        rx.await
            .map_err(|_| Error::Backend("the GPU readback was dropped".into()))?
            .map_err(|e| Error::Backend(format!("reading back from the GPU: {e}")))?;
        let out = {
            let view = staging.slice(..total).get_mapped_range().map_err(|e| Error::Backend(format!("reading back from the GPU: {e}")))?;
            let all: &[f32] = bytemuck::cast_slice(&view);
            let mut off = 0;
            bufs.iter()
                .map(|(_, n)| {
                    let v = all[off..off + n].to_vec();
                    off += n;
                    v
                })
                .collect()
        };
        staging.unmap();
        self.collect_profile().await?;
        // A validation or memory error anywhere since the last readback
        // makes these numbers suspect: say so instead of returning them.
        self.ctx.take_error()?;
        Ok(out)
    }
}

impl Gpu {
    /// Start timing every dispatch with timestamp queries (needs the
    /// adapter's `timestamp-query`). Returns false when it is unavailable.
    pub fn start_profiling(&mut self) -> bool {
        if !self.ctx.timestamps {
            return false;
        }
        let n = MAX_SLOTS * 2;
        let d = &self.ctx.device;
        let queries = d.create_query_set(&wgpu::QuerySetDescriptor { label: Some("timestamps"), ty: wgpu::QueryType::Timestamp, count: n });
        let resolve = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: n as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps readback"),
            size: n as u64 * 8,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.profiler = Some(Profiler { queries, resolve, readback, last: Vec::new(), totals: HashMap::new() });
        true
    }

    /// Total GPU milliseconds and dispatch count per kernel since profiling
    /// started (or since the last call), most expensive first.
    pub fn profile(&mut self) -> Vec<(String, f64, usize)> {
        let Some(prof) = self.profiler.as_mut() else { return Vec::new() };
        let mut v: Vec<_> = prof.totals.drain().map(|(k, (ns, n))| (k, ns / 1e6, n)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }

    async fn collect_profile(&mut self) -> Result<()> {
        let Some(prof) = self.profiler.as_mut() else { return Ok(()) };
        let n = prof.last.len();
        if n == 0 {
            return Ok(());
        }
        let slice = prof.readback.slice(..n as u64 * 16);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.ctx.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Backend(format!("waiting for the GPU: {e}")))?;
        rx.await
            .map_err(|_| Error::Backend("timestamp readback dropped".into()))?
            .map_err(|e| Error::Backend(format!("timestamp readback: {e}")))?;
        let period = self.ctx.queue.get_timestamp_period() as f64;
        {
            let view = slice.get_mapped_range().map_err(|e| Error::Backend(format!("timestamp readback: {e}")))?;
            let ts: &[u64] = bytemuck::cast_slice(&view);
            for (i, k) in prof.last.iter().enumerate() {
                let ns = ts[2 * i + 1].saturating_sub(ts[2 * i]) as f64 * period;
                let e = prof.totals.entry(k.name()).or_insert((0.0, 0));
                e.0 += ns;
                e.1 += 1;
            }
        }
        prof.readback.unmap();
        prof.last.clear();
        Ok(())
    }

    /// GPU buffers and bind groups this backend has created so far (a step
    /// in steady state must create none).
    pub fn allocations(&self) -> (usize, usize) {
        (self.buffers_created, self.next_bind as usize)
    }

    /// Bytes of activation and cache buffers made by this backend and not
    /// given back (weights are counted by the backend that uploaded them).
    pub fn bytes_alive(&self) -> u64 {
        self.bytes_alive
    }
}
