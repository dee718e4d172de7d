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
mod ops;
mod profile;
mod record;
mod upload;

use std::collections::HashMap;
use std::sync::Arc;

use crate::backend::{AttnShape, Backend, CacheShape, LayerTail, QStore, RopeAt, TailBufs, TailTaps};
use crate::tensor::TensorData;
use crate::quant;
use crate::error::{Error, Result};
pub use context::{FeatureUse, GpuContext, GpuOptions};
use kernels::{Kernel, Kernels, WeightFmt, PARAMS_SIZE};
use profile::Profiler;
use record::{Cmd, MAX_BINDINGS, MAX_SLOTS};

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
    /// The attention heads' shares of W_o waiting for the FFN's kernels
    /// (`attention_ffn`), made on first use.
    parts: Option<GpuBuf>,
    /// The token the last `pick` chose (one u32), and its id for bind groups.
    picked: wgpu::Buffer,
    picked_id: u64,
    /// Submissions so far; readbacks so far and the bytes they brought.
    submissions: usize,
    reads: usize,
    bytes_read: u64,
}

const MAX_TOKENS: usize = 4096;

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
        let picked = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("picked token"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut g = Gpu {
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
            parts: None,
            picked,
            picked_id: 0,
            submissions: 0,
            reads: 0,
            bytes_read: 0,
        };
        g.picked_id = g.id();
        g
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
