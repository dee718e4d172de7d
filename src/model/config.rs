//! Model hyper-parameters, read from GGUF metadata.

use serde::Serialize;

use crate::gguf::GgufHeader;
use crate::{Error, Result};

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
            return Err(Error::Model(format!("architecture '{arch}' is not supported (Glassbox runs 'llama' models)")));
        }
        let u = |k: &str| h.get_u64(&format!("llama.{k}")).map(|v| v as usize);
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
