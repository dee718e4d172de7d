//! Glassbox: a small language model you can watch think.
//!
//! GGUF bytes → [`gguf`] → [`tokenizer`] + [`model`] (generic over a
//! [`backend::Backend`]) → [`generate::Session`] → [`trace::StepTrace`].

pub mod backend;
pub mod beam;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod control;
pub mod generate;
pub mod gguf;
pub mod i18n;
pub mod inspect;
pub mod model;
pub mod orchestrator;
pub mod protocol;
pub mod quant;
pub mod sampling;
#[cfg(not(target_arch = "wasm32"))]
pub mod serve;
pub mod share;
pub mod synth;
pub mod tensor;
pub mod tokenizer;
pub mod trace;
pub mod urlenc;
#[cfg(target_arch = "wasm32")]
pub mod web;
#[cfg(target_arch = "wasm32")]
pub mod worker;

pub use generate::Session;
pub use sampling::Sampling;
pub use model::Model;
pub use tokenizer::Tokenizer;

/// Everything that can go wrong between a file and a generated token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad GGUF file: {0}")]
    Gguf(#[from] gguf::GgufError),
    #[error(transparent)]
    Unsupported(#[from] quant::UnsupportedType),
    #[error("model: {0}")]
    Model(String),
    /// general.architecture names something other than a Llama-family model.
    #[error("model: architecture '{0}' is not supported (Glassbox runs 'llama' models)")]
    Architecture(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("the sequence needs {needed} positions but the context holds {n_ctx}; shorten the prompt or raise the context size")]
    ContextFull { needed: usize, n_ctx: usize },
    #[error("{0}")]
    Usage(String),
    /// A command-line value that makes no sense (exit status 2, as for other usage errors).
    #[error("{0}")]
    BadArgument(String),
    #[error("backend: {0}")]
    Backend(String),
    /// Whoever read the output stopped reading (`glassbox generate | head`):
    /// stop quietly.
    #[error("the output was closed")]
    OutputClosed,
}

pub type Result<T> = std::result::Result<T, Error>;

/// Build the tokenizer and upload the model to backend `b` from a parsed GGUF.
/// `progress(done, total)` is called as layers are uploaded.
pub fn load<B: backend::Backend>(
    g: &gguf::Gguf,
    b: &mut B,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Model<B>, Tokenizer)> {
    let tok = Tokenizer::from_gguf(&g.header)?;
    let model = Model::load(g, b, progress)?;
    if tok.vocab_size() != model.config.vocab_size {
        return Err(Error::Model(format!(
            "the tokenizer has {} tokens but the model's vocabulary is {}",
            tok.vocab_size(),
            model.config.vocab_size
        )));
    }
    Ok((model, tok))
}
