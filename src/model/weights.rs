//! Named model tensors, handed to a backend still in their GGUF block format.

use crate::backend::Backend;
use crate::gguf::{Gguf, GgufHeader, TensorInfo};
use crate::model::Config;
use crate::quant::UnsupportedType;
use crate::tensor::TensorData;
use crate::error::{Error, Result};

impl<'a> TensorData<'a> {
    /// Look a tensor up and check its type and shape (`rows` = 1 for vectors).
    pub fn get(g: &'a Gguf, name: &str, rows: usize, cols: usize) -> Result<TensorData<'a>> {
        let info = check_info(&g.header, name, rows, cols)?;
        Ok(TensorData { name: &info.name, ty: info.ty, rows, cols, data: g.tensor_data(info) })
    }
}

/// Check one tensor in the header: present, a type Glassbox computes
/// with, and the shape the model needs (`rows` = 1 for vectors).
fn check_info<'a>(h: &'a GgufHeader, name: &str, rows: usize, cols: usize) -> Result<&'a TensorInfo> {
    {
        let info = h.tensor(name)?;
        if !info.ty.supported() {
            return Err(UnsupportedType { name: info.name.clone(), ty: info.ty }.into());
        }
        let want: Vec<u64> = if rows == 1 { vec![cols as u64] } else { vec![cols as u64, rows as u64] };
        let mut have = info.dims.clone();
        while have.len() > want.len() && have.last() == Some(&1) {
            have.pop();
        }
        if have != want {
            return Err(Error::Model(format!("tensor '{name}' has shape {:?}, expected {want:?}", info.dims)));
        }
        Ok(info)
    }
}

/// Every tensor a model with config `c` reads, as (name, rows, cols);
/// `output.weight` only when the file has one (else the embedding is tied).
pub fn expected(h: &GgufHeader, c: &Config) -> Vec<(String, usize, usize)> {
    let (d, kv, f, v) = (c.dim, c.kv_dim(), c.ffn_dim, c.vocab_size);
    let mut out = vec![("token_embd.weight".to_string(), v, d), ("output_norm.weight".to_string(), 1, d)];
    if h.tensor("output.weight").is_ok() {
        out.push(("output.weight".to_string(), v, d));
    }
    for l in 0..c.n_layers {
        for (n, rows, cols) in [
            ("attn_norm", 1, d),
            ("attn_q", d, d),
            ("attn_k", kv, d),
            ("attn_v", kv, d),
            ("attn_output", d, d),
            ("ffn_norm", 1, d),
            ("ffn_gate", f, d),
            ("ffn_up", f, d),
            ("ffn_down", d, f),
        ] {
            out.push((format!("blk.{l}.{n}.weight"), rows, cols));
        }
    }
    out
}

/// Look up every tensor the model reads and check its presence, shape and
/// type, uploading nothing: the first problem is the error.
pub fn check<'a>(g: &'a Gguf, c: &Config) -> Result<Vec<TensorData<'a>>> {
    expected(&g.header, c).iter().map(|(n, r, k)| TensorData::get(g, n, *r, *k)).collect()
}

/// The same checks from the header alone (before the weights are read).
pub fn check_header(h: &GgufHeader, c: &Config) -> Result<()> {
    expected(h, c).iter().try_for_each(|(n, r, k)| check_info(h, n, *r, *k).map(|_| ()))
}

pub struct LayerWeights<B: Backend> {
    pub attn_norm: B::Vec, // (dim)
    pub wq: B::Mat,        // (dim, dim)
    pub wk: B::Mat,        // (kv_dim, dim)
    pub wv: B::Mat,        // (kv_dim, dim)
    pub wo: B::Mat,        // (dim, dim)
    pub ffn_norm: B::Vec,  // (dim)
    pub w_gate: B::Mat,    // (ffn_dim, dim)
    pub w_up: B::Mat,      // (ffn_dim, dim)
    pub w_down: B::Mat,    // (dim, ffn_dim)
}

pub struct Weights<B: Backend> {
    pub token_embd: B::Mat,  // (vocab, dim)
    pub layers: Vec<LayerWeights<B>>,
    pub output_norm: B::Vec, // (dim)
    /// The final norm's gain on the host (attribution weighs by it).
    pub output_gain: Vec<f32>, // (dim)
    /// (vocab, dim); None when tied to `token_embd`.
    pub output: Option<B::Mat>,
}

/// The matrices `upload_mats` returned, one per tensor.
fn each<T, const N: usize>(v: Vec<T>) -> Result<[T; N]> {
    v.try_into().map_err(|v: Vec<T>| Error::Backend(format!("{N} matrices were uploaded but {} came back", v.len())))
}

impl<B: Backend> Weights<B> {
    /// Check every tensor, then hand each to the backend.
    pub fn load(g: &Gguf, c: &Config, b: &mut B, progress: &mut dyn FnMut(usize, usize)) -> Result<Weights<B>> {
        // Every tensor is checked (present, shape, type) before the first upload.
        check(g, c)?;
        let (d, kv, f, v) = (c.dim, c.kv_dim(), c.ffn_dim, c.vocab_size);
        let total = c.n_layers + 2;
        progress(0, total);
        let token_embd = b.upload_mat(&TensorData::get(g, "token_embd.weight", v, d)?)?;
        let norm = TensorData::get(g, "output_norm.weight", 1, d)?;
        let output_norm = b.upload_vec(&norm)?;
        let mut output_gain = vec![0f32; d];
        crate::quant::dequantize(norm.ty, norm.data, &mut output_gain);
        let output = match g.header.tensor("output.weight") {
            Ok(_) => Some(b.upload_mat(&TensorData::get(g, "output.weight", v, d)?)?),
            Err(_) => None,
        };
        progress(1, total);
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let t = |n: &str, rows, cols| TensorData::get(g, &format!("blk.{l}.{n}.weight"), rows, cols);
            // The matrices that read the same normed input go up together
            // (a backend may then run each group as one fused dispatch).
            let [wq, wk, wv] = each(b.upload_mats(&[t("attn_q", d, d)?, t("attn_k", kv, d)?, t("attn_v", kv, d)?])?)?;
            let [w_gate, w_up] = each(b.upload_mats(&[t("ffn_gate", f, d)?, t("ffn_up", f, d)?])?)?;
            layers.push(LayerWeights {
                attn_norm: b.upload_vec(&t("attn_norm", 1, d)?)?,
                wq,
                wk,
                wv,
                wo: b.upload_mat(&t("attn_output", d, d)?)?,
                ffn_norm: b.upload_vec(&t("ffn_norm", 1, d)?)?,
                w_gate,
                w_up,
                w_down: b.upload_mat(&t("ffn_down", d, f)?)?,
            });
            progress(l + 2, total);
        }
        progress(total, total);
        Ok(Weights { token_embd, layers, output_norm, output_gain, output })
    }

    /// The matrix that turns the final hidden state into logits.
    pub fn lm_head(&self) -> &B::Mat {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}
