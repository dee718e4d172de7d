//! What a GGUF file holds, checked the way loading it would check it but
//! without uploading anything: the page shows this card (architecture,
//! sizes, formats) before the weights go to the GPU, and `glassbox info`
//! prints it.

use serde::{Deserialize, Serialize};

use crate::gguf::Gguf;
use crate::model::{weights, Config};
use crate::tensor::fits_binding;
use crate::tokenizer::Tokenizer;
use crate::error::{Error, Result};

/// One weight format and how much of the model uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormatUse {
    /// e.g. "Q4_K".
    pub ty: String,
    pub tensors: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// general.name, for people.
    pub name: String,
    pub architecture: String,
    /// The file's size in bytes.
    pub file_bytes: u64,
    pub n_layers: usize,
    pub dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub ffn_dim: usize,
    pub vocab: usize,
    /// The context the model was trained for.
    pub context: usize,
    pub rope_base: f32,
    pub norm_eps: f32,
    /// Whether the output matrix is the embedding (no `output.weight`).
    pub tied: bool,
    /// tokenizer.ggml.pre, e.g. "smollm".
    pub pre_tokenizer: String,
    pub chat_template: bool,
    /// Weights (elements of every tensor the model reads).
    pub params: u64,
    /// Formats, most bytes first.
    pub formats: Vec<FormatUse>,
    /// The largest tensor: name and bytes (one split over GPU buffers when
    /// larger than one binding).
    pub largest: (String, u64),
    /// The tensor with the longest row in bytes, and that length: one GPU
    /// binding must hold at least one row.
    pub widest_row: (String, u64),
}

/// Why a file cannot be opened, for the page's message (each has its own
/// words in both languages; the engine's detail follows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Problem {
    /// Not a GGUF file at all.
    NotGguf,
    /// The file ends before what its header promises.
    Truncated,
    /// A GGUF version the reader does not know.
    Version,
    /// A GGUF whose structure is damaged in some other way.
    Damaged,
    /// Not a Llama-family architecture.
    Architecture,
    /// A tensor in a weight format Glassbox does not compute with.
    TensorType,
    /// A vocabulary or pre-tokenizer Glassbox does not implement.
    Tokenizer,
    /// Llama-family, but with something the engine does not implement
    /// (RoPE scaling, head width, a missing or misshapen tensor).
    Model,
    /// Larger than this browser or GPU can hold.
    TooBig,
    /// The file could not be read to the end (moved, changed or deleted).
    Unreadable,
    /// Another site's server does not let this page read the file (CORS).
    Cors,
    /// The server has no file at that address (HTTP 404 or 410).
    NotFound,
    /// The server answered with another HTTP error.
    Http,
    /// The server could not be reached, or the network dropped mid-download.
    Network,
    /// Anything else (a GPU failure while uploading…).
    Other,
}

impl Problem {
    /// The kind of problem an engine error is.
    pub fn of(e: &Error) -> Problem {
        use crate::gguf::GgufError as G;
        match e {
            Error::Gguf(G::BadMagic(_)) => Problem::NotGguf,
            // A count the file is too short to hold: its end is missing
            // (or the count is damaged; "incomplete" is the likelier story).
            Error::Gguf(G::Truncated { .. } | G::TensorOutOfBounds { .. } | G::AbsurdCount { .. }) => Problem::Truncated,
            Error::Gguf(G::UnsupportedVersion(_)) => Problem::Version,
            Error::Gguf(G::UnknownTensorType { .. }) => Problem::TensorType,
            Error::Gguf(G::MissingTensor(_)) => Problem::Model,
            Error::Gguf(_) => Problem::Damaged,
            Error::Unsupported(_) => Problem::TensorType,
            Error::Architecture(_) => Problem::Architecture,
            Error::Tokenizer(_) => Problem::Tokenizer,
            Error::Model(_) => Problem::Model,
            _ => Problem::Other,
        }
    }

    /// The message id in the page's catalogues.
    pub fn message_id(self) -> &'static str {
        match self {
            Problem::NotGguf => "open-err-not-gguf",
            Problem::Truncated => "open-err-truncated",
            Problem::Version => "open-err-version",
            Problem::Damaged => "open-err-damaged",
            Problem::Architecture => "open-err-architecture",
            Problem::TensorType => "open-err-type",
            Problem::Tokenizer => "open-err-tokenizer",
            Problem::Model => "open-err-model",
            Problem::TooBig => "open-err-too-big",
            Problem::Unreadable => "open-err-unreadable",
            Problem::Cors => "open-err-cors",
            Problem::NotFound => "open-err-not-found",
            Problem::Http => "open-err-http",
            Problem::Network => "open-err-network",
            Problem::Other => "open-err-other",
        }
    }
}

impl ModelInfo {
    /// Check everything loading would check (configuration, tokenizer,
    /// every tensor's presence, shape and type) and describe the model.
    pub fn inspect(g: &Gguf, file_bytes: u64) -> Result<ModelInfo> {
        // In the order `crate::load` checks, so that both give the same error.
        let tok = Tokenizer::from_gguf(&g.header)?;
        let c = Config::from_gguf(&g.header)?;
        let tensors = weights::check(g, &c)?;
        if tok.vocab_size() != c.vocab_size {
            return Err(Error::Model(format!("the tokenizer has {} tokens but the model's vocabulary is {}", tok.vocab_size(), c.vocab_size)));
        }
        let mut formats: Vec<FormatUse> = Vec::new();
        let (mut params, mut largest) = (0u64, (String::new(), 0u64));
        for t in &tensors {
            let bytes = t.data.len() as u64;
            params += t.rows as u64 * t.cols as u64;
            if bytes > largest.1 {
                largest = (t.name.to_string(), bytes);
            }
            let ty = t.ty.to_string();
            match formats.iter_mut().find(|f| f.ty == ty) {
                Some(f) => {
                    f.tensors += 1;
                    f.bytes += bytes;
                }
                None => formats.push(FormatUse { ty, tensors: 1, bytes }),
            }
        }
        formats.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.ty.cmp(&b.ty)));
        let h = &g.header;
        Ok(ModelInfo {
            name: c.name.clone(),
            architecture: h.get_str("general.architecture").unwrap_or("llama").to_string(),
            file_bytes,
            n_layers: c.n_layers,
            dim: c.dim,
            n_heads: c.n_heads,
            n_kv_heads: c.n_kv_heads,
            head_dim: c.head_dim,
            ffn_dim: c.ffn_dim,
            vocab: c.vocab_size,
            context: c.train_ctx,
            rope_base: c.rope_base,
            norm_eps: c.norm_eps,
            tied: h.tensor("output.weight").is_err(),
            pre_tokenizer: h.get_str("tokenizer.ggml.pre").unwrap_or("default").to_string(),
            chat_template: h.get_str("tokenizer.chat_template").is_ok(),
            params,
            formats,
            largest,
            widest_row: widest_row(&g.header).map_or((String::new(), 0), |(n, b)| (n.to_string(), b)),
        })
    }

    /// Whether the weights fit a GPU that binds at most `max_binding` bytes
    /// per buffer (a tensor larger than that is split by rows, so one row
    /// must fit): the error names the tensor and both sizes.
    pub fn fits_binding(&self, max_binding: u64) -> Result<()> {
        fits_binding(&self.widest_row.0, self.widest_row.1, max_binding)
    }

    /// Bytes of the f32 KV cache at `n_ctx` positions.
    pub fn kv_bytes(&self, n_ctx: usize) -> u64 {
        // In u64: at a long context this passes wasm32's usize.
        [2, self.n_layers, self.n_kv_heads, self.head_dim, n_ctx, 4].iter().map(|&x| x as u64).product()
    }
}

/// The tensor whose rows are longest in bytes, from the header alone: name
/// and bytes of one row (a GPU splits larger tensors by rows).
pub fn widest_row(h: &crate::gguf::GgufHeader) -> Option<(&str, u64)> {
    h.tensors
        .iter()
        .map(|t| {
            let rows = t.dims.iter().skip(1).product::<u64>().max(1);
            (t.name.as_str(), t.size / rows)
        })
        .max_by_key(|&(_, b)| b)
}

