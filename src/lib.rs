//! Glassbox: a small language model you can watch think.
//!
//! GGUF bytes → [`gguf`] → [`tokenizer`] + [`model`] (generic over a
//! [`backend::Backend`]) → [`generate::Session`] → [`trace::StepTrace`].

pub mod attribution;
pub mod backend;
pub mod beam;
pub mod branches;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod control;
pub mod error;
pub mod flow;
pub mod generate;
pub mod gguf;
pub mod i18n;
pub mod inspect;
pub mod map;
pub mod model;
pub mod orchestrator;
pub mod patch;
pub mod protocol;
pub mod quant;
pub mod roles;
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

pub use error::{Error, Result};
pub use generate::Session;
pub use model::load;
pub use sampling::Sampling;
pub use model::Model;
pub use tokenizer::Tokenizer;
