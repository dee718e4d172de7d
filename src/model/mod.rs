//! The model definition: configuration, weights and the forward pass.

pub mod config;
pub mod forward;
pub mod weights;

pub use config::Config;
pub use forward::{Model, NextLogits, State};
pub use weights::{LayerWeights, TensorData, Weights};
