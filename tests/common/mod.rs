//! Shared test helpers: the real model (loaded once per test binary) and fixtures.
#![allow(dead_code)]

pub mod reference;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use glassbox::backend::cpu::Cpu;
use glassbox::gguf::Gguf;
use glassbox::{Model, Tokenizer};

pub fn model_path() -> PathBuf {
    glassbox::cli::model_path(None)
}

/// The real model file. Missing is a failure with a fix-it message, never a skip.
pub fn gguf() -> &'static Gguf {
    static G: OnceLock<Gguf> = OnceLock::new();
    G.get_or_init(|| {
        let p = model_path();
        glassbox::cli::read_gguf(&p).unwrap_or_else(|e| panic!("{e}\n(run scripts/fetch-model.sh first)"))
    })
}

pub fn tokenizer() -> Arc<Tokenizer> {
    static T: OnceLock<Arc<Tokenizer>> = OnceLock::new();
    T.get_or_init(|| Arc::new(Tokenizer::from_gguf(&gguf().header).expect("tokenizer"))).clone()
}

pub fn cpu_model() -> Arc<Model<Cpu>> {
    static M: OnceLock<Arc<Model<Cpu>>> = OnceLock::new();
    M.get_or_init(|| Arc::new(Model::load(gguf(), &mut Cpu::new(), &mut |_, _| {}).expect("model"))).clone()
}

/// The GPU backend and the real model on it (once per test binary). No
/// adapter is a failure, never a skip.
pub fn gpu() -> &'static (glassbox::backend::gpu::Gpu, Arc<Model<glassbox::backend::gpu::Gpu>>) {
    use glassbox::backend::gpu::{Gpu, GpuContext, GpuOptions};
    static G: OnceLock<(Gpu, Arc<Model<Gpu>>)> = OnceLock::new();
    G.get_or_init(|| {
        let ctx = pollster::block_on(GpuContext::new(GpuOptions::default())).unwrap_or_else(|e| panic!("a GPU adapter is required: {e}"));
        let mut g = Gpu::new(Arc::new(ctx));
        let model = Model::load(gguf(), &mut g, &mut |_, _| {}).expect("upload the model");
        (g, Arc::new(model))
    })
}

pub fn fixture(name: &str) -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
    serde_json::from_str(&s).expect("fixture JSON")
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().expect("id array").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

#[allow(unused_imports)]
pub use glassbox::synth::{put_str, GgufWriter};

/// A seeded xorshift generator for test inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    pub fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
    /// Uniform in 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
