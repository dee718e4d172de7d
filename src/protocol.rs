//! Messages between the page (UI thread) and the engine (Web Worker), as
//! serde enums; they travel as JSON strings through `postMessage`.

use serde::{Deserialize, Serialize};

use crate::generate::Sampling;
use crate::trace::{AttnRows, Candidate, StepTrace};

/// Which backend the worker should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendChoice {
    /// WebGPU when the browser has it, else the CPU.
    Auto,
    Cpu,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Download (or take from the cache) and load the model at `url`.
    Load { url: String, backend: BackendChoice, n_ctx: usize },
    /// Start over with this prompt (wrapped with the chat template when `chat`).
    Prefill { prompt: String, chat: bool, sampling: Sampling },
    /// Sample one token and run it.
    Step,
    /// Take this token next instead of sampling.
    Force { id: u32 },
    /// Remove the last generated token.
    Undo,
    /// Change decoding settings from the next step on.
    SetSampling { sampling: Sampling },
}

/// One token of the sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: u32,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    /// The worker is running and listening.
    Alive,
    /// Loading: `phase` is "download", "cache", "parse", "shaders" or "upload".
    Progress { phase: String, done: u64, total: u64 },
    Ready {
        /// e.g. "WebGPU · SwiftShader" or "CPU".
        backend: String,
        webgpu: bool,
        /// Why the CPU is used, when WebGPU was wanted but missing.
        note: Option<String>,
        n_layers: usize,
        n_heads: usize,
        n_kv_heads: usize,
        n_ctx: usize,
        /// Whether the model came from the browser cache.
        cached: bool,
        load_ms: f64,
    },
    Prefilled { tokens: Vec<TokenInfo>, attention: Vec<AttnRows>, candidates: Vec<Candidate>, ms: f64 },
    /// A token was taken; `next` are the candidates for the one after it.
    Stepped { step: StepTrace, next: Vec<Candidate> },
    Undone { removed: Option<u32>, candidates: Vec<Candidate> },
    Error { message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_json() {
        let msgs = vec![
            ToWorker::Load { url: "/model.gguf".into(), backend: BackendChoice::Auto, n_ctx: 512 },
            ToWorker::Prefill { prompt: "Hi".into(), chat: true, sampling: Sampling::default() },
            ToWorker::Force { id: 7 },
        ];
        for m in msgs {
            let s = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<ToWorker>(&s).unwrap(), m);
        }
        let a = AttnRows { n_layers: 1, n_heads: 2, len: 2, data: vec![1.0, 0.0, 0.25, 0.75] };
        let m = FromWorker::Prefilled { tokens: vec![TokenInfo { id: 1, text: "<|im_start|>".into() }], attention: vec![a], candidates: vec![], ms: 1.5 };
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<FromWorker>(&s).unwrap(), m);
    }
}
