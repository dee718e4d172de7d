//! Compute pipelines: one per kernel (and per weight format where the kernel
//! reads weights), created once when the backend starts.
//!
//! Every kernel has the same first bind group: its `Params` uniform, bound
//! with a dynamic offset into one arena that holds the parameters of every
//! dispatch of a submission. Group 1 holds its storage buffers.

use crate::quant::GgmlType;

const FMT_Q4_0: &str = include_str!("../../shaders/fmt_q4_0.wgsl");
const FMT_Q4_1: &str = include_str!("../../shaders/fmt_q4_1.wgsl");
const FMT_Q5_0: &str = include_str!("../../shaders/fmt_q5_0.wgsl");
const FMT_Q5_1: &str = include_str!("../../shaders/fmt_q5_1.wgsl");
const Q5: &str = include_str!("../../shaders/q5.wgsl");
const FMT_Q8_0: &str = include_str!("../../shaders/fmt_q8_0.wgsl");
const FMT_Q4_K: &str = include_str!("../../shaders/fmt_q4_k.wgsl");
const FMT_Q5_K: &str = include_str!("../../shaders/fmt_q5_k.wgsl");
const FMT_Q6_K: &str = include_str!("../../shaders/fmt_q6_k.wgsl");
const FMT_HALF: &str = include_str!("../../shaders/fmt_half.wgsl");
const FMT_F32: &str = include_str!("../../shaders/fmt_f32.wgsl");
const BYTES: &str = include_str!("../../shaders/bytes.wgsl");
const KQUANT: &str = include_str!("../../shaders/kquant.wgsl");
const ITEM: &str = include_str!("../../shaders/item.wgsl");
const XLOAD: &str = include_str!("../../shaders/xload.wgsl");
const PENDING: &str = include_str!("../../shaders/pending.wgsl");
const ROPE_TURN: &str = include_str!("../../shaders/rope_turn.wgsl");

/// Every kernel Glassbox dispatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    Embed(WeightFmt),
    /// Matrix × one activation row (decode).
    Matvec(WeightFmt),
    /// Matrix × a tile of 8 activation rows (prefill).
    Matmul(WeightFmt),
    /// Matrix × one row with subgroup reductions (devices with `subgroups`).
    MatvecSg(WeightFmt),
    /// RMSNorm fused into the projections after it, one row (decode):
    /// up to three outputs (q, k, v), or with `true` silu(gate) ⊙ up.
    NormMatvec(WeightFmt, bool),
    /// The same for tiles of 8 rows (prefill).
    NormMatmul(WeightFmt, bool),
    RmsNorm,
    Rope,
    Attention,
    /// Attention with W_o (in this format) folded in: each head's share of
    /// the attention block's update (one row; attention_wo.wgsl).
    AttentionWo(WeightFmt),
    /// Attention weights recomputed from a layer's cache (maps on demand).
    AttnMap,
    SwiGlu,
    Add,
    TopK,
    /// The greedy token of a row's packed top-k, kept on the device (Play ahead).
    Pick,
    /// The target token's logit and rank in each row (logit lens).
    TokenRank,
    /// Scale each head's slice of the attention output (ablation, probes).
    MaskHeads,
}

/// The weight formats the GPU reads in place (no dequantized copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum WeightFmt {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4_K,
    Q5_K,
    Q6_K,
    F16,
    BF16,
    F32,
}

impl WeightFmt {
    pub fn of(ty: GgmlType) -> Option<WeightFmt> {
        Some(match ty {
            GgmlType::Q4_0 => WeightFmt::Q4_0,
            GgmlType::Q4_1 => WeightFmt::Q4_1,
            GgmlType::Q5_0 => WeightFmt::Q5_0,
            GgmlType::Q5_1 => WeightFmt::Q5_1,
            GgmlType::Q8_0 => WeightFmt::Q8_0,
            GgmlType::Q4_K => WeightFmt::Q4_K,
            GgmlType::Q5_K => WeightFmt::Q5_K,
            GgmlType::Q6_K => WeightFmt::Q6_K,
            GgmlType::F16 => WeightFmt::F16,
            GgmlType::BF16 => WeightFmt::BF16,
            GgmlType::F32 => WeightFmt::F32,
            _ => return None,
        })
    }
    /// Columns of one block of the format: a head's columns of W_o are
    /// whole items when the head's width is a multiple of this.
    pub fn block_cols(self) -> usize {
        match self {
            WeightFmt::Q4_0 | WeightFmt::Q4_1 | WeightFmt::Q5_0 | WeightFmt::Q5_1 | WeightFmt::Q8_0 => 32,
            WeightFmt::Q4_K | WeightFmt::Q5_K | WeightFmt::Q6_K => 256,
            WeightFmt::F16 | WeightFmt::BF16 | WeightFmt::F32 => 8,
        }
    }

    /// The format's reader, with the `Item` it returns and the byte helpers.
    fn source(self) -> String {
        let fmt = match self {
            WeightFmt::Q4_0 => FMT_Q4_0.to_string(),
            WeightFmt::Q4_1 => FMT_Q4_1.to_string(),
            WeightFmt::Q5_0 => format!("{Q5}\n{FMT_Q5_0}"),
            WeightFmt::Q5_1 => format!("{Q5}\n{FMT_Q5_1}"),
            WeightFmt::Q8_0 => FMT_Q8_0.to_string(),
            WeightFmt::Q4_K => format!("{KQUANT}\n{FMT_Q4_K}"),
            WeightFmt::Q5_K => format!("{KQUANT}\n{FMT_Q5_K}"),
            WeightFmt::Q6_K => FMT_Q6_K.to_string(),
            WeightFmt::F16 => format!("const BF16: bool = false;\n{FMT_HALF}"),
            WeightFmt::BF16 => format!("const BF16: bool = true;\n{FMT_HALF}"),
            WeightFmt::F32 => FMT_F32.to_string(),
        };
        format!("{ITEM}\n{BYTES}\n{fmt}")
    }
}

pub const FMTS: [WeightFmt; 11] = [
    WeightFmt::Q4_0,
    WeightFmt::Q4_1,
    WeightFmt::Q5_0,
    WeightFmt::Q5_1,
    WeightFmt::Q8_0,
    WeightFmt::Q4_K,
    WeightFmt::Q5_K,
    WeightFmt::Q6_K,
    WeightFmt::F16,
    WeightFmt::BF16,
    WeightFmt::F32,
];

impl Kernel {
    /// The kernels a device runs: the subgroup variants only where it has subgroups.
    pub fn all(subgroups: bool) -> Vec<Kernel> {
        let mut v: Vec<Kernel> = FMTS.iter().flat_map(|&f| Kernel::matrix(f).into_iter().chain(Kernel::fused(f))).collect();
        if subgroups {
            v.extend(FMTS.iter().map(|&f| Kernel::MatvecSg(f)));
        }
        v.extend([Kernel::RmsNorm, Kernel::Rope, Kernel::Attention, Kernel::AttnMap, Kernel::SwiGlu, Kernel::Add, Kernel::TopK, Kernel::Pick, Kernel::TokenRank, Kernel::MaskHeads]);
        v
    }

    /// The portable kernels that read weights of format `f`.
    pub fn matrix(f: WeightFmt) -> [Kernel; 3] {
        [Kernel::Embed(f), Kernel::Matvec(f), Kernel::Matmul(f)]
    }

    /// The kernels that read matrices of format `f` uploaded together (`Gpu::upload_mats`).
    pub fn fused(f: WeightFmt) -> [Kernel; 4] {
        [
            Kernel::NormMatvec(f, false),
            Kernel::NormMatvec(f, true),
            Kernel::NormMatmul(f, false),
            Kernel::NormMatmul(f, true),
        ]
    }

    /// The weight format a matrix kernel reads.
    pub fn format(self) -> Option<WeightFmt> {
        match self {
            Kernel::Embed(f)
            | Kernel::Matvec(f)
            | Kernel::Matmul(f)
            | Kernel::MatvecSg(f)
            | Kernel::NormMatvec(f, _)
            | Kernel::NormMatmul(f, _)
            | Kernel::AttentionWo(f) => Some(f),
            _ => None,
        }
    }

    pub fn uses_subgroups(self) -> bool {
        matches!(self, Kernel::MatvecSg(_))
    }

    /// WGSL source (weight-format code spliced in front where needed).
    fn source(self) -> String {
        match self {
            Kernel::Embed(f) => format!("{}\n{}", f.source(), include_str!("../../shaders/embed.wgsl")),
            Kernel::Matmul(f) | Kernel::Matvec(f) => format!("{}\n{XLOAD}\n{PENDING}\n{}", f.source(), include_str!("../../shaders/matmul.wgsl")),
            Kernel::NormMatmul(f, _) | Kernel::NormMatvec(f, _) => {
                format!("{}\n{XLOAD}\n{ROPE_TURN}\n{}", f.source(), include_str!("../../shaders/norm_matmul.wgsl"))
            }
            // Browsers require the directive; naga (native) rejects it and
            // enables subgroup builtins from the device feature instead.
            Kernel::MatvecSg(f) => format!(
                "{}{}\n{XLOAD}\n{PENDING}\n{}",
                if cfg!(target_arch = "wasm32") { "enable subgroups;\n" } else { "" },
                f.source(),
                include_str!("../../shaders/matvec_sg.wgsl")
            ),
            Kernel::RmsNorm => include_str!("../../shaders/rmsnorm.wgsl").into(),
            Kernel::Rope => format!("{ROPE_TURN}\n{}", include_str!("../../shaders/rope.wgsl")),
            Kernel::Attention => format!("{}\n{}", include_str!("../../shaders/attention_out.wgsl"), include_str!("../../shaders/attention.wgsl")),
            Kernel::AttentionWo(f) => {
                format!("{}\n{}\n{}", f.source(), include_str!("../../shaders/attention_wo.wgsl"), include_str!("../../shaders/attention.wgsl"))
            }
            Kernel::AttnMap => include_str!("../../shaders/attn_map.wgsl").into(),
            Kernel::SwiGlu => include_str!("../../shaders/swiglu.wgsl").into(),
            Kernel::Add => include_str!("../../shaders/add.wgsl").into(),
            Kernel::TopK => include_str!("../../shaders/topk.wgsl").into(),
            Kernel::Pick => include_str!("../../shaders/pick.wgsl").into(),
            Kernel::TokenRank => include_str!("../../shaders/token_rank.wgsl").into(),
            Kernel::MaskHeads => include_str!("../../shaders/mask_heads.wgsl").into(),
        }
    }

    /// Storage bindings of group 1, in order: true = read-only.
    pub fn bindings(self) -> &'static [bool] {
        match self {
            Kernel::Embed(_) | Kernel::RmsNorm => &[true, true, false],
            // w, x, out, and the pending parts of a residual update (x again when none).
            Kernel::Matvec(_) | Kernel::Matmul(_) | Kernel::MatvecSg(_) => &[true, true, false, true],
            Kernel::Rope => &[false, false],
            Kernel::NormMatvec(..) | Kernel::NormMatmul(..) => &[true, true, true, false, false, false],
            Kernel::Attention => &[true, true, true, false, false, false, false],
            Kernel::AttentionWo(_) => &[true, true, true, false, false, false, false, true],
            Kernel::AttnMap => &[true, true, true, true, false],
            Kernel::SwiGlu | Kernel::Add => &[false, true],
            Kernel::TopK | Kernel::Pick => &[true, false],
            Kernel::TokenRank => &[true, true, false],
            Kernel::MaskHeads => &[false, true],
        }
    }

    /// Pipeline-overridable constants.
    fn constants(self) -> &'static [(&'static str, f64)] {
        match self {
            Kernel::Matvec(_) => &[("TILE", 1.0), ("LANES", MATVEC_LANES)],
            Kernel::NormMatvec(_, false) => &[("TILE", 1.0), ("LANES", MATVEC_LANES), ("XS", 1.0)],
            Kernel::Matmul(_) => &[("TILE", 8.0), ("LANES", MATMUL_LANES)],
            Kernel::NormMatmul(_, false) => &[("TILE", 8.0), ("LANES", MATMUL_LANES), ("XS", 1.0)],
            Kernel::NormMatvec(_, true) => &[("TILE", 1.0), ("LANES", MATVEC_LANES), ("GLU", 1.0), ("XS", PARTS_MAX_DIM as f64)],
            Kernel::NormMatmul(_, true) => &[("TILE", 8.0), ("LANES", MATMUL_LANES), ("GLU", 1.0), ("XS", 1.0)],
            _ => &[],
        }
    }

    /// A short name for timing tables.
    pub fn name(self) -> String {
        match self {
            Kernel::Embed(f) => format!("embed_{f:?}").to_lowercase(),
            Kernel::Matvec(f) => format!("matvec_{f:?}").to_lowercase(),
            Kernel::Matmul(f) => format!("matmul_{f:?}").to_lowercase(),
            Kernel::MatvecSg(f) => format!("matvec_sg_{f:?}").to_lowercase(),
            Kernel::NormMatvec(f, glu) => format!("norm_matvec_{}{f:?}", if glu { "glu_" } else { "" }).to_lowercase(),
            Kernel::NormMatmul(f, glu) => format!("norm_matmul_{}{f:?}", if glu { "glu_" } else { "" }).to_lowercase(),
            Kernel::AttentionWo(f) => format!("attention_wo_{f:?}").to_lowercase(),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// The compute pipelines, built on first use (a model needs the matrix
/// kernels of the few formats it holds; `warm` builds them at load time).
pub struct Kernels {
    pub params_layout: wgpu::BindGroupLayout,
    device: wgpu::Device,
    subgroups: bool,
    pipelines: std::sync::Mutex<Vec<(Kernel, std::sync::Arc<Pipeline>)>>,
}

/// Threads sharing one output column in the matrix kernels.
pub const MATVEC_LANES: f64 = 4.0;
pub const MATMUL_LANES: f64 = 4.0;

/// The widest residual stream whose pending attention update the FFN's
/// one-row fused kernel builds in workgroup memory (norm_matmul.wgsl's XS).
pub const PARTS_MAX_DIM: usize = 2048;

/// Bytes reserved for one dispatch's `Params` in the uniform arena.
pub const PARAMS_SIZE: u64 = 48;

impl Kernels {
    pub fn new(device: &wgpu::Device, subgroups: bool) -> Kernels {
        let params_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("params"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(PARAMS_SIZE),
                },
                count: None,
            }],
        });
        let k = Kernels { params_layout, device: device.clone(), subgroups, pipelines: std::sync::Mutex::new(Vec::new()) };
        // The kernels every model runs, built now; matrix kernels per weight format on first use.
        for kernel in Kernel::all(subgroups).into_iter().filter(|k| k.format().is_none()) {
            k.get(kernel);
        }
        k
    }

    /// Build the kernels that read weights of format `f` (at load time),
    /// with the fused ones when matrices of `f` were uploaded together.
    pub fn warm(&self, f: WeightFmt, fused: bool) {
        for kernel in Kernel::matrix(f) {
            self.get(kernel);
        }
        if fused {
            for kernel in Kernel::fused(f) {
                self.get(kernel);
            }
        }
        if self.subgroups {
            self.get(Kernel::MatvecSg(f));
        }
    }

    fn build(&self, k: Kernel) -> Pipeline {
        let device = &self.device;
        let entries: Vec<_> = k
            .bindings()
            .iter()
            .enumerate()
            .map(|(i, &read_only)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Storage { read_only }, has_dynamic_offset: false, min_binding_size: None },
                count: None,
            })
            .collect();
        let name = k.name();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(&name), entries: &entries });
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&name),
            bind_group_layouts: &[Some(&self.params_layout), Some(&layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(&name), source: wgpu::ShaderSource::Wgsl(k.source().into()) });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&name),
            layout: Some(&pl),
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions { constants: k.constants(), ..Default::default() },
            cache: None,
        });
        Pipeline { pipeline, layout }
    }

    /// The pipeline of kernel `k`, built the first time it is asked for.
    pub fn get(&self, k: Kernel) -> std::sync::Arc<Pipeline> {
        let mut p = self.pipelines.lock().expect("the pipeline table");
        if let Some((_, pl)) = p.iter().find(|(kk, _)| *kk == k) {
            return pl.clone();
        }
        let pl = std::sync::Arc::new(self.build(k));
        p.push((k, pl.clone()));
        pl
    }
}
