//! The model definition: configuration, weights and the forward pass.

pub mod config;
pub mod forward;
pub mod info;
pub mod weights;

pub use config::Config;
pub use info::{FormatUse, ModelInfo, Problem};
pub use forward::{Model, NextLogits, State};
pub use weights::{LayerWeights, Weights};
