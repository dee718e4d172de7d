//! Synthetic Llama GGUF files: any shape, any weight format, seeded random
//! weights and a small byte-level vocabulary.
//!
//! They exist to test what the one real model cannot: other head counts
//! (GQA ratios 1…8), other widths, every supported block format, untied
//! output matrices, and files that must be refused with a clear message.
//! `glassbox synth` writes one; the page accepts it like any other GGUF.
//!
//! Random weights are random bytes in each block with the block's f16
//! scale fields set so every weight matrix has an RMS near `0.05`
//! (measured by dequantizing once at scale 1 and rescaling: block scales
//! multiply every weight of the block linearly).

use half::{bf16, f16};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::quant::{dequantize, GgmlType};

/// Writes GGUF version 3 (version 2 with `version = 2`), little-endian,
/// tensors aligned to 32 bytes. Tests use it raw to craft broken files.
#[derive(Default)]
pub struct GgufWriter {
    pub version: u32,
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<u8>,
    n_tensors: u64,
    data: Vec<u8>,
}

pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

impl GgufWriter {
    pub fn new() -> Self {
        GgufWriter { version: 3, ..Default::default() }
    }
    /// Raw key/value: type id and already-encoded value bytes.
    pub fn kv_raw(&mut self, key: &str, ty: u32, value: &[u8]) -> &mut Self {
        put_str(&mut self.kv, key);
        self.kv.extend_from_slice(&ty.to_le_bytes());
        self.kv.extend_from_slice(value);
        self.n_kv += 1;
        self
    }
    pub fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.kv_raw(key, 4, &v.to_le_bytes())
    }
    pub fn kv_f32(&mut self, key: &str, v: f32) -> &mut Self {
        self.kv_raw(key, 6, &v.to_le_bytes())
    }
    pub fn kv_bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.kv_raw(key, 7, &[v as u8])
    }
    pub fn kv_str(&mut self, key: &str, v: &str) -> &mut Self {
        let mut b = Vec::new();
        put_str(&mut b, v);
        self.kv_raw(key, 8, &b)
    }
    pub fn kv_str_array(&mut self, key: &str, items: &[&str]) -> &mut Self {
        let mut b = Vec::new();
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for s in items {
            put_str(&mut b, s);
        }
        self.kv_raw(key, 9, &b)
    }
    pub fn kv_i32_array(&mut self, key: &str, items: &[i32]) -> &mut Self {
        let mut b = Vec::new();
        b.extend_from_slice(&5u32.to_le_bytes());
        b.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for v in items {
            b.extend_from_slice(&v.to_le_bytes());
        }
        self.kv_raw(key, 9, &b)
    }
    /// Tensor with ggml type id `ty`, dims in ggml order, data appended (aligned to 32).
    pub fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, data: &[u8]) -> &mut Self {
        while !self.data.len().is_multiple_of(32) {
            self.data.push(0);
        }
        put_str(&mut self.infos, name);
        self.infos.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            self.infos.extend_from_slice(&d.to_le_bytes());
        }
        self.infos.extend_from_slice(&ty.to_le_bytes());
        self.infos.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        self.data.extend_from_slice(data);
        self.n_tensors += 1;
        self
    }
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&self.n_tensors.to_le_bytes());
        b.extend_from_slice(&self.n_kv.to_le_bytes());
        b.extend_from_slice(&self.kv);
        b.extend_from_slice(&self.infos);
        while !b.len().is_multiple_of(32) {
            b.push(0);
        }
        b.extend_from_slice(&self.data);
        b
    }
}

/// The shape and formats of a synthetic model.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub name: String,
    pub n_layers: usize,
    pub dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub ffn_dim: usize,
    pub context: usize,
    pub rope_base: f32,
    /// Format of the attention and feed-forward matrices.
    pub weights: GgmlType,
    /// Format of the token embedding.
    pub embedding: GgmlType,
    /// Format of a separate output matrix; None ties it to the embedding.
    pub output: Option<GgmlType>,
    pub seed: u64,
}

impl Default for SynthSpec {
    /// 4 layers, 4 query heads over 2 KV heads of width 64: small enough for
    /// a browser test on a software GPU.
    fn default() -> Self {
        SynthSpec {
            name: "Synthetic 4×4".into(),
            n_layers: 4,
            dim: 256,
            n_heads: 4,
            n_kv_heads: 2,
            ffn_dim: 512,
            context: 512,
            rope_base: 10000.0,
            weights: GgmlType::Q4_K,
            embedding: GgmlType::Q8_0,
            output: None,
            seed: 1,
        }
    }
}

/// Merges of the synthetic vocabulary (a few English pieces on top of bytes).
const MERGES: &[(&str, &str)] = &[
    ("Ġ", "t"),
    ("h", "e"),
    ("Ġt", "he"),
    ("i", "n"),
    ("Ġ", "a"),
    ("e", "r"),
    ("o", "n"),
    ("Ġ", "s"),
    ("a", "t"),
    ("e", "n"),
];
/// Control tokens, after the bytes and merges.
pub const SYNTH_SPECIAL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const CHATML: &str = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// The tokens of the synthetic vocabulary: 256 byte-level characters, the
/// merges, then the control tokens.
pub fn synth_vocab() -> Vec<String> {
    let mut v: Vec<String> = crate::tokenizer::byte_level_chars().iter().map(|c| c.to_string()).collect();
    v.extend(MERGES.iter().map(|(a, b)| format!("{a}{b}")));
    v.extend(SYNTH_SPECIAL.iter().map(|s| s.to_string()));
    v
}

/// Byte offsets of the f16 scale fields in one block of `ty`.
fn scale_fields(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q6_K => &[208],
        _ => &[],
    }
}

/// `rows × cols` random weights in format `ty` with RMS ≈ `rms` (or, for
/// norms, `1 ± rms`): the bytes of a GGUF tensor.
pub fn random_tensor(ty: GgmlType, rows: usize, cols: usize, rms: f32, norm: bool, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let n = rows * cols;
    let mut normal = || {
        // Sum of four uniforms: bell-shaped, unit variance, no extra crate.
        let s: f32 = (0..4).map(|_| (rng.next_u32() as f32 / u32::MAX as f32) - 0.5).sum();
        s * 3f32.sqrt()
    };
    let values = |normal: &mut dyn FnMut() -> f32| -> Vec<f32> { (0..n).map(|_| if norm { 1.0 + rms * normal() } else { rms * normal() }).collect() };
    match ty {
        GgmlType::F32 => values(&mut normal).iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => values(&mut normal).iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect(),
        GgmlType::BF16 => values(&mut normal).iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect(),
        _ => {
            assert!(!norm, "norms are floats");
            let fields = scale_fields(ty);
            assert!(!fields.is_empty() && n.is_multiple_of(ty.block_len()), "synth cannot write {ty} for {n} weights");
            let mut bytes = vec![0u8; ty.bytes_for(n)];
            rng.fill_bytes(&mut bytes);
            let set = |bytes: &mut [u8], s: f32| {
                for block in bytes.chunks_exact_mut(ty.block_bytes()) {
                    for &o in fields {
                        // A few per cent of variety between blocks.
                        let jitter = 0.75 + 0.5 * (block[(o + 4) % block.len()] as f32 / 255.0);
                        block[o..o + 2].copy_from_slice(&f16::from_f32(s * jitter).to_le_bytes());
                    }
                }
            };
            set(&mut bytes, 1.0);
            let mut w = vec![0f32; n];
            dequantize(ty, &bytes, &mut w);
            let have = (w.iter().map(|x| x * x).sum::<f32>() / n as f32).sqrt().max(1e-12);
            set(&mut bytes, rms / have);
            bytes
        }
    }
}

/// A whole synthetic Llama GGUF file.
pub fn synth_gguf(s: &SynthSpec) -> Vec<u8> {
    let vocab = synth_vocab();
    let nv = vocab.len();
    let head_dim = s.dim / s.n_heads.max(1);
    let kv = s.n_kv_heads * head_dim;
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut w = GgufWriter::new();
    let toks: Vec<&str> = vocab.iter().map(String::as_str).collect();
    let merges: Vec<String> = MERGES.iter().map(|(a, b)| format!("{a} {b}")).collect();
    let merges: Vec<&str> = merges.iter().map(String::as_str).collect();
    let types: Vec<i32> = (0..nv).map(|i| if i >= nv - SYNTH_SPECIAL.len() { 3 } else { 1 }).collect();
    w.kv_str("general.architecture", "llama")
        .kv_str("general.name", &s.name)
        .kv_u32("general.alignment", 32)
        .kv_u32("llama.block_count", s.n_layers as u32)
        .kv_u32("llama.context_length", s.context as u32)
        .kv_u32("llama.embedding_length", s.dim as u32)
        .kv_u32("llama.feed_forward_length", s.ffn_dim as u32)
        .kv_u32("llama.attention.head_count", s.n_heads as u32)
        .kv_u32("llama.attention.head_count_kv", s.n_kv_heads as u32)
        .kv_u32("llama.rope.dimension_count", head_dim as u32)
        .kv_f32("llama.rope.freq_base", s.rope_base)
        .kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5)
        .kv_u32("llama.vocab_size", nv as u32)
        .kv_str("tokenizer.ggml.model", "gpt2")
        .kv_str("tokenizer.ggml.pre", "gpt2")
        .kv_str_array("tokenizer.ggml.tokens", &toks)
        .kv_i32_array("tokenizer.ggml.token_type", &types)
        .kv_str_array("tokenizer.ggml.merges", &merges)
        .kv_u32("tokenizer.ggml.bos_token_id", (nv - 3) as u32)
        .kv_u32("tokenizer.ggml.eos_token_id", (nv - 1) as u32)
        .kv_bool("tokenizer.ggml.add_bos_token", false)
        .kv_str("tokenizer.chat_template", CHATML);
    let mut mat = |w: &mut GgufWriter, name: &str, ty: GgmlType, rows: usize, cols: usize, rms: f32, norm: bool| {
        let data = random_tensor(ty, rows, cols, rms, norm, &mut rng);
        let dims: Vec<u64> = if rows == 1 { vec![cols as u64] } else { vec![cols as u64, rows as u64] };
        w.tensor(name, &dims, ty.id(), &data);
    };
    // Tied logits are h·e with |h| ≈ √d: keep them a few units wide.
    mat(&mut w, "token_embd.weight", s.embedding, nv, s.dim, 2.0 / (s.dim as f32).sqrt(), false);
    mat(&mut w, "output_norm.weight", GgmlType::F32, 1, s.dim, 0.1, true);
    if let Some(ty) = s.output {
        mat(&mut w, "output.weight", ty, nv, s.dim, 0.05, false);
    }
    // Scale so the residual stream neither vanishes nor explodes over layers.
    let r = 1.0 / (s.dim as f32).sqrt();
    let rd = 1.0 / (s.ffn_dim as f32).sqrt();
    for l in 0..s.n_layers {
        let t = |n: &str| format!("blk.{l}.{n}.weight");
        mat(&mut w, &t("attn_norm"), GgmlType::F32, 1, s.dim, 0.1, true);
        mat(&mut w, &t("attn_q"), s.weights, s.dim, s.dim, 2.0 * r, false);
        mat(&mut w, &t("attn_k"), s.weights, kv, s.dim, 2.0 * r, false);
        mat(&mut w, &t("attn_v"), s.weights, kv, s.dim, r, false);
        mat(&mut w, &t("attn_output"), s.weights, s.dim, s.dim, r, false);
        mat(&mut w, &t("ffn_norm"), GgmlType::F32, 1, s.dim, 0.1, true);
        mat(&mut w, &t("ffn_gate"), s.weights, s.ffn_dim, s.dim, r, false);
        mat(&mut w, &t("ffn_up"), s.weights, s.ffn_dim, s.dim, r, false);
        mat(&mut w, &t("ffn_down"), s.weights, s.dim, s.ffn_dim, rd, false);
    }
    w.bytes()
}
