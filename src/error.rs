//! Everything that can go wrong, as one error type.

/// Everything that can go wrong between a file and a generated token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad GGUF file: {0}")]
    Gguf(#[from] crate::gguf::GgufError),
    #[error(transparent)]
    Unsupported(#[from] crate::quant::UnsupportedType),
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
