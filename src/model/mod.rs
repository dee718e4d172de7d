//! The model definition: configuration, weights and the forward pass.

pub mod config;
pub mod forward;
pub mod info;
pub mod weights;

pub use config::Config;
pub use info::{FormatUse, ModelInfo, Problem};
pub use forward::{Model, NextLogits, State};
pub use weights::{LayerWeights, Weights};

use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;

/// Build the tokenizer and upload the model to backend `b` from a parsed GGUF.
/// `progress(done, total)` is called as layers are uploaded.
pub fn load<B: crate::backend::Backend>(
    g: &crate::gguf::Gguf,
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
