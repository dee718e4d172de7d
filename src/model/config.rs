//! Model hyper-parameters, read from GGUF metadata.

use serde::Serialize;

use crate::gguf::GgufHeader;
use crate::error::{Error, Result};

/// The widest attention head the kernels hold (a workgroup array in WGSL).
pub const MAX_HEAD_DIM: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// The model's name (general.name), for people: "SmolLM2 135M Instruct".
    pub name: String,
    /// Transformer blocks (30 for SmolLM2-135M).
    pub n_layers: usize,
    /// Residual stream width d (576).
    pub dim: usize,
    /// SwiGLU hidden width (1536).
    pub ffn_dim: usize,
    /// Query heads (9).
    pub n_heads: usize,
    /// Key/value heads (3): query head h reads KV head h / (n_heads / n_kv_heads).
    pub n_kv_heads: usize,
    /// dim / n_heads (64).
    pub head_dim: usize,
    pub vocab_size: usize,
    /// Context length the model was trained for.
    pub train_ctx: usize,
    pub rope_base: f32,
    pub norm_eps: f32,
}

impl Config {
    pub fn from_gguf(h: &GgufHeader) -> Result<Config> {
        let arch = h.get_str("general.architecture")?;
        if arch != "llama" {
            return Err(Error::Architecture(arch.to_string()));
        }
        let u = |k: &str| h.get_u32(&format!("llama.{k}")).map(|v| v as usize);
        let n_heads = u("attention.head_count")?;
        let n_kv_heads = u("attention.head_count_kv").unwrap_or(n_heads);
        let dim = u("embedding_length")?;
        let vocab_size = match u("vocab_size") {
            Ok(v) => v,
            Err(_) => h.get_array("tokenizer.ggml.tokens")?.len(),
        };
        let c = Config {
            name: h.get_str("general.name").unwrap_or("unnamed model").to_string(),
            n_layers: u("block_count")?,
            dim,
            ffn_dim: u("feed_forward_length")?,
            n_heads,
            n_kv_heads,
            head_dim: dim.checked_div(n_heads).unwrap_or(0),
            vocab_size,
            train_ctx: u("context_length")?,
            rope_base: h.get_f64("llama.rope.freq_base").unwrap_or(10000.0) as f32,
            norm_eps: h.get_f64("llama.attention.layer_norm_rms_epsilon")? as f32,
        };
        let bad = |what: &str| Err(Error::Model(format!("invalid model shape: {what} ({c:?})")));
        if c.n_layers == 0 || c.n_layers > 1024 || c.dim == 0 || c.dim > 1 << 16 || c.ffn_dim == 0 || c.ffn_dim > 1 << 18 {
            return bad("sizes out of range");
        }
        if n_heads == 0 || n_kv_heads == 0 || dim % n_heads != 0 || n_heads % n_kv_heads != 0 {
            return bad("heads do not divide the width");
        }
        if !c.head_dim.is_multiple_of(2) {
            return bad("head dimension must be even for RoPE");
        }
        if let Ok(rot) = u("rope.dimension_count") {
            if rot != c.head_dim {
                return bad("partial RoPE is not supported");
            }
        }
        if c.head_dim > MAX_HEAD_DIM {
            return Err(Error::Model(format!(
                "head dimension {} is larger than Glassbox's attention kernels hold ({MAX_HEAD_DIM})",
                c.head_dim
            )));
        }
        for k in ["attention.key_length", "attention.value_length"] {
            if let Ok(v) = u(k) {
                if v != c.head_dim {
                    return Err(Error::Model(format!("llama.{k} = {v} differs from width / heads = {}; not supported", c.head_dim)));
                }
            }
        }
        // Scaled RoPE (linear, YaRN, Llama 3.1's rope_freqs) changes every
        // angle; running it as plain RoPE would give quietly wrong logits.
        if let Ok(kind) = h.get_str("llama.rope.scaling.type") {
            let factor = h.get_f64("llama.rope.scaling.factor").unwrap_or(1.0);
            if kind != "none" && factor != 1.0 {
                return Err(Error::Model(format!("RoPE scaling '{kind}' (factor {factor}) is not supported; Glassbox implements plain RoPE")));
            }
        }
        if h.get_f64("llama.rope.scale_linear").is_ok_and(|f| f != 1.0) {
            return Err(Error::Model("linear RoPE scaling (llama.rope.scale_linear) is not supported; Glassbox implements plain RoPE".into()));
        }
        if h.tensor("rope_freqs.weight").is_ok() {
            return Err(Error::Model(
                "this model scales RoPE frequencies (rope_freqs.weight, as in Llama 3.1+), which Glassbox does not implement".into(),
            ));
        }
        if c.vocab_size == 0 {
            return bad("empty vocabulary");
        }
        Ok(c)
    }

    /// Width of one K or V row: n_kv_heads × head_dim (192).
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// How many query heads share one KV head (3).
    pub fn group_size(&self) -> usize {
        self.n_heads / self.n_kv_heads
    }
}
