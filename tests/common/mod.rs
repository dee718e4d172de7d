//! Shared test helpers: the real model (loaded once per test binary) and fixtures.
#![allow(dead_code)]

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

pub fn fixture(name: &str) -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
    serde_json::from_str(&s).expect("fixture JSON")
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().expect("id array").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

/// Minimal GGUF writer for crafting test files.
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
