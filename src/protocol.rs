//! Messages between the page (UI thread) and the engine (Web Worker).
//!
//! Control messages are serde enums sent as JSON strings. Numbers a view
//! draws travel as binary: an `Answer` is posted as `[json, ArrayBuffer]`
//! with the buffer transferred (no copy, no text), and its JSON says what
//! the floats are. Every view asks for what it draws with `ToWorker::Ask`,
//! one mechanism for all of them; the worker owns every number.

use serde::{Deserialize, Serialize};

use crate::beam::{BeamOptions, BeamTree};
use crate::sampling::{Sampling, SamplingView};
use crate::model::{ModelInfo, Problem};
use crate::inspect::{Lens, MapRequest, Probe, ProbeAt, Residual};
use crate::trace::{Candidate, StepTrace};

/// The model file, served beside the page by `glassbox serve`.
pub const MODEL_URL: &str = "model.gguf";

/// Which backend the worker should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendChoice {
    /// WebGPU when the browser has it, else the CPU.
    Auto,
    Cpu,
}

/// A request's number. The page numbers its requests 1, 2, 3, … and the
/// worker echoes the number in every reply to it; 0 is no request (the
/// worker's own news: `Alive`, `DeviceLost`, a message it could not read).
pub type RequestId = u32;

/// What the page posts: one request, with its number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: RequestId,
    pub msg: ToWorker,
}

/// What the worker posts: a reply to request `id`. Each request gets any
/// number of replies with `last: false` (progress, a prefill before its
/// first step) and exactly one with `last: true`, which ends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: RequestId,
    pub last: bool,
    pub msg: FromWorker,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Download (or take from the cache) and load the model at `url`. The
    /// context is the model's own (from the GGUF) unless `n_ctx` caps it.
    Load { url: String, backend: BackendChoice, n_ctx: Option<usize> },
    /// Read the user's own GGUF (posted beside this message as a `File`,
    /// `[json, File]`), check it and describe it: `Inspected`, or
    /// `OpenFailed`. Nothing is uploaded yet, and the current model keeps
    /// working. `bytes` is the size the page saw; `backend` and `n_ctx` are
    /// for its load, as `Load`'s.
    Open { name: String, bytes: u64, backend: BackendChoice, n_ctx: Option<usize> },
    /// Download a model another site serves (an http(s) address, or one
    /// the browser cache keeps), check it and describe it, as `Open` does a
    /// file: `Inspected` (its key is the address) or `OpenFailed`.
    OpenUrl { url: String, backend: BackendChoice, n_ctx: Option<usize> },
    /// Load the inspected file (replacing the current model and session,
    /// `Ready`), kept in the browser cache when `keep`.
    OpenConfirm { keep: bool },
    /// Forget the inspected file: `Done`.
    OpenCancel,
    /// The models kept in this browser: `Models`.
    Models,
    /// Remove a kept model from the cache: `Models`.
    Forget { key: String },
    /// For the page's fault tests (`?test-hooks`): "panic" panics the
    /// worker, "lose-device" destroys the GPU device, "no-cache" makes the
    /// Cache API unavailable.
    TestHook { what: String },
    /// A command to the session (see `Command`).
    Session(Command),
    /// A view's question about the current sequence of `len` tokens (of
    /// `side`'s, in compare mode), answered by `FromWorker::Answer`. A
    /// question asked of a sequence that has since changed length is
    /// answered `Stale`, except that `ahead` steps sent before it (Play's
    /// next steps, which only append) are allowed for: a question about
    /// positions before `len` (`Query::about_prefix`) is answered about the
    /// first `len` tokens of a sequence of `len + ahead`.
    Ask {
        len: usize,
        query: Query,
        #[serde(default)]
        side: Side,
        #[serde(default)]
        ahead: usize,
    },
}

/// Which of compare mode's two sequences: A, the page's own (the only one
/// outside compare mode), or B, the second prompt's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    #[default]
    A,
    B,
}

/// What changes the session: the orchestrator's commands
/// (`crate::orchestrator`, where their states and replies are tabled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Start over with this prompt (wrapped with the chat template when
    /// `chat`); with `step`, take the first token too (answered by
    /// `Prefilled`, not the last reply, then `Stepped`). One message, so that a
    /// prompt that fails is the error the page shows.
    ///
    /// With `compare`, compare mode: a second sequence, B, starts from that
    /// prompt beside this one (A), with the same settings and heads, and
    /// every later Step, Force, Undo, SetSampling and Ablate acts on both
    /// (B's replies come first, wrapped in `FromWorker::B`). Without it,
    /// any second sequence is dropped.
    Prefill {
        prompt: String,
        chat: bool,
        sampling: Sampling,
        step: bool,
        #[serde(default)]
        compare: Option<String>,
    },
    /// Sample one token and run it.
    Step,
    /// Play ahead (on a GPU): up to `n` greedy steps computed in one
    /// submission, each token picked on the device, read back once
    /// (`Session::steps_ahead`): one `StepsAhead` (fewer steps when the
    /// text ends). With heads off or compare mode, one plain step
    /// (`Stepped`).
    Steps { n: usize },
    /// Take this token next instead of sampling.
    Force { id: u32 },
    /// Remove the last generated token.
    Undo,
    /// Forget the sequence (and any beam search).
    Reset,
    /// Change decoding settings from the next step on: `Done`.
    SetSampling { sampling: Sampling },
    /// Switch these (layer, head)s off and everything else on; the whole
    /// sequence is recomputed (answered by `Ablated`).
    Ablate { off: Vec<(usize, usize)> },
    /// Start a beam search after this prompt and take its first step (the
    /// prompt also becomes the session's sequence): `Prefilled`, then
    /// `Beam`. Heads switched off stay off in the search.
    BeamStart { prompt: String, chat: bool, opts: BeamOptions },
    /// One more step of the search, or one step back: `Beam`.
    BeamStep,
    BeamUndo,
    /// Make the prompt and the path to this node the session's sequence:
    /// `Replayed`.
    BeamChoose { node: usize },
}

/// What a view can ask. Nothing here changes the session: no token, no
/// number a later step or undo gives (the sampling view may read every logit
/// back, which the session then keeps doing: a cost, not a change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Query {
    /// Attention weights at sampled points (binary: heads × rows × cols f32).
    Maps(MapRequest),
    /// Memory the engine holds.
    Memory,
    /// Every number of one head at one position.
    Probe(ProbeAt),
    /// The logit lens at positions p0..p1, `top` tokens per layer.
    Lens { p0: usize, p1: usize, top: usize },
    /// Each layer's attention and FFN update norms at a position.
    Residual { pos: usize },
    /// What the sampling settings do to the next-token distribution.
    Sampling,
    /// The model's own distribution after positions p0..p1: top 5 and the
    /// token that followed.
    NextTokens { p0: usize, p1: usize },
    /// The sequence as the engine holds it (the page's tests hold the chips
    /// against it).
    Tokens,
    /// The next token's probability for each of these ids (compare mode
    /// shows each side's for the other's candidates).
    NextProbs { ids: Vec<u32> },
    /// The map of the network at `pos` (`crate::map::MapAt`).
    MapAt { pos: usize },
    /// The `k` tokens nearest token `id` in embedding space (about the
    /// model alone).
    Nearest { id: u32, k: usize },
    /// Why the logit of `token` (the top-1 when None) after `pos`: its
    /// direct attribution, and `versus`'s when one is compared.
    Attribution { pos: usize, token: Option<u32>, versus: Option<u32> },
    /// How information flowed into positions p0..p1: the edges whose share
    /// is at least `min`.
    Flow { p0: usize, p1: usize, min: f32 },
    /// What each head does (computed once per model, on its own sequences).
    HeadRoles,
    /// One head's attention on the repeated random sequence the induction
    /// and duplicate scores are measured on (binary: n × n f32).
    RoleEvidence { layer: usize, head: usize },
    /// Activation patching (`crate::patch`) of two prompts of the same
    /// length (each as typed, no chat template): part `part` of `what`'s
    /// grid (a position; a layer for heads), tracking `target` (the clean
    /// run's top-1 when None). Asked part by part, so a view shows progress
    /// and can stop; the two runs are kept between parts.
    Patch { clean: String, corrupt: String, what: crate::patch::Site, target: Option<u32>, part: usize },
    /// The prompt `prompt` (token ids) decoded several ways, `steps` tokens
    /// each (`crate::branches::default_decodings`), with the heads that are
    /// off now switched off.
    Branches { prompt: Vec<u32>, steps: usize },
    /// GPU time per kernel since the last time this was asked (timestamp
    /// queries; the first question starts them, which makes each dispatch
    /// a compute pass of its own from then on): the page's `?profile`.
    Profile,
}

impl Query {
    /// Whether the answer depends on the sequence (a question that does not,
    /// about the model alone, is asked once and never goes stale).
    pub fn follows_sequence(&self) -> bool {
        !matches!(self, Query::HeadRoles | Query::RoleEvidence { .. } | Query::Patch { .. } | Query::Branches { .. } | Query::Nearest { .. })
    }

    /// Whether the answer depends only on positions the question names,
    /// all before `len` (attention rows and columns, a head's probe, the
    /// map at a position): tokens appended after them change nothing in a
    /// causal model, so it can be answered about a prefix of `len` tokens.
    pub fn about_prefix(&self, len: usize) -> bool {
        match self {
            Query::Maps(r) => r.rows.iter().chain(&r.cols).all(|&p| (p as usize) < len),
            Query::Probe(at) => at.pos < len,
            Query::MapAt { pos } => *pos < len,
            _ => false,
        }
    }

    /// The question's kind, by name.
    pub fn kind(&self) -> &'static str {
        match self {
            Query::Maps(_) => "Maps",
            Query::Memory => "Memory",
            Query::Probe(_) => "Probe",
            Query::Lens { .. } => "Lens",
            Query::Residual { .. } => "Residual",
            Query::Sampling => "Sampling",
            Query::NextTokens { .. } => "NextTokens",
            Query::Tokens => "Tokens",
            Query::NextProbs { .. } => "NextProbs",
            Query::MapAt { .. } => "MapAt",
            Query::Nearest { .. } => "Nearest",
            Query::Attribution { .. } => "Attribution",
            Query::Flow { .. } => "Flow",
            Query::HeadRoles => "HeadRoles",
            Query::RoleEvidence { .. } => "RoleEvidence",
            Query::Patch { .. } => "Patch",
            Query::Branches { .. } => "Branches",
            Query::Profile => "Profile",
        }
    }
}

/// One token of the sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: u32,
    pub text: String,
}

/// Where the engine's memory goes, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// The worker's WebAssembly memory (weights too, on the CPU backend).
    pub wasm: u64,
    /// GPU buffers (weights, caches, scratch), on WebGPU.
    pub gpu: Option<u64>,
    /// The session's caches and scratch (on whichever device computes).
    pub state: u64,
    /// Positions in the sequence.
    pub tokens: usize,
    /// Compare mode's second sequence: its caches and scratch, and its
    /// positions (0 and 0 outside compare mode).
    #[serde(default)]
    pub compare_state: u64,
    #[serde(default)]
    pub compare_tokens: usize,
}

/// The answer to an `Ask`; the floats (if any) come beside it as binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Answer {
    /// `floats` weights, heads × rows × cols, for the request asked.
    Maps { floats: usize, ms: f64 },
    Memory(Memory),
    Probe(Box<Probe>),
    /// The lens, and the text of every token id it names.
    Lens { lens: Vec<Lens>, pieces: Vec<(u32, String)> },
    Residual(Residual),
    Sampling(SamplingView),
    NextTokens { lens: Vec<Lens>, pieces: Vec<(u32, String)> },
    Tokens { ids: Vec<u32>, n_prompt: usize },
    /// The probabilities asked, in the order asked.
    NextProbs { probs: Vec<f32> },
    /// The map, and the worker's milliseconds for it.
    MapAt { map: Box<crate::map::MapAt>, ms: f64 },
    /// The neighbours asked, nearest first, and their texts.
    Nearest { id: u32, neighbours: Vec<crate::map::Neighbour>, pieces: Vec<(u32, String)> },
    /// The attribution asked, the compared token's, and the model's top
    /// candidates after that position (id, text, probability).
    Attribution { attribution: Box<crate::attribution::Attribution>, versus: Option<Box<crate::attribution::Attribution>>, top: Vec<(u32, String, f32)> },
    HeadRoles(Box<crate::roles::HeadRoles>),
    /// The flow asked, and the text of each position's token.
    Flow(Box<crate::flow::Flow>),
    /// The repeated sequence's tokens (`n` of them: the floats are n × n).
    RoleEvidence { layer: usize, head: usize, ids: Vec<u32>, pieces: Vec<(u32, String)> },
    Patch(Box<PatchAnswer>),
    /// The branches, and the text of every token id they name.
    Branches { branches: Box<crate::branches::Branches>, pieces: Vec<(u32, String)> },
    /// Per kernel: (name, GPU milliseconds, dispatches) since the last
    /// `Profile`, most expensive first; None where the device has no
    /// timestamp queries (or computes on the CPU).
    Profile { kernels: Option<Vec<(String, f64, usize)>> },
    /// The sequence changed since the question was asked: ask again.
    Stale,
    Failed { message: String },
}

/// One part of a patching grid, with what the whole grid needs: the two
/// prompts' tokens, the tracked token, both runs' outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchAnswer {
    pub clean_ids: Vec<u32>,
    pub corrupt_ids: Vec<u32>,
    pub target: u32,
    pub clean: crate::patch::Outcome,
    pub corrupt: crate::patch::Outcome,
    /// Parts in the grid (positions, or layers for heads).
    pub parts: usize,
    pub part: crate::patch::PatchPart,
    /// The text of every token id named above.
    pub pieces: Vec<(u32, String)>,
    /// Time this part took.
    pub ms: f64,
}

/// A user's model kept in the browser cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptModel {
    /// "kept/SIZE-HASH/NAME": the cache key, and the `model` a link names.
    pub key: String,
    /// The file's name.
    pub name: String,
    pub bytes: u64,
}

impl KeptModel {
    /// The key a file is kept under: its size, a hash of its bytes and its
    /// (percent-encoded) name, so that two different files never share one.
    pub fn key_for(name: &str, bytes: &[u8]) -> String {
        format!("kept/{}-{:016x}/{}", bytes.len(), content_hash(bytes), crate::urlenc::enc(name))
    }

    /// Read a key back (None when it is not a kept model's key).
    pub fn from_key(key: &str) -> Option<KeptModel> {
        let rest = key.strip_prefix("kept/")?;
        let (id, name) = rest.split_once('/')?;
        let (size, hash) = id.split_once('-')?;
        if hash.len() != 16 || u64::from_str_radix(hash, 16).is_err() {
            return None;
        }
        Some(KeptModel { key: key.to_string(), name: crate::urlenc::dec(name)?, bytes: size.parse().ok()? })
    }
}

/// A model another site serves, named by its http(s) address: the page's
/// `?model=URL`, the "From a URL…" field, a share link's `model`. Its key is
/// the address itself; the browser cache keeps it under
/// `remote/<address, percent-encoded>?v=<size>[-<ETag>]`, so a new file at
/// the same address is downloaded again, and any kept version opens offline.
pub mod remote {
    use super::KeptModel;
    use crate::urlenc;

    /// The longest address accepted (links carry it).
    pub const MAX_URL: usize = 2048;

    /// Whether `key` names a model by an http(s) address (with a host, and
    /// no spaces or control characters).
    pub fn is_remote(key: &str) -> bool {
        let Some(rest) = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")) else { return false };
        key.len() <= MAX_URL && !host_of(rest).is_empty() && !key.chars().any(|c| c.is_whitespace() || c.is_control())
    }

    fn host_of(rest: &str) -> &str {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        // (user:password@ is not part of the host.)
        authority.rsplit('@').next().unwrap_or(authority)
    }

    /// The host (and port) of an address: who serves it.
    pub fn host(url: &str) -> &str {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        host_of(rest)
    }

    /// The file's name: the address's last path segment, decoded (its host
    /// when the path is empty).
    pub fn file_name(url: &str) -> String {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let path = rest.split(['?', '#']).next().unwrap_or(rest);
        let last = path.split('/').skip(1).filter(|s| !s.is_empty()).last();
        match last {
            Some(seg) => urlenc::dec(&seg.replace('+', "%2B")).unwrap_or_else(|| seg.to_string()),
            None => host(url).to_string(),
        }
    }

    /// Where every version of `url` is kept in the browser cache.
    pub fn cache_base(url: &str) -> String {
        format!("remote/{}", urlenc::enc(url))
    }

    /// A file's version as the server describes it: its size, and its
    /// ETag (reduced to letters, digits and dashes) when the server shows it.
    /// None when it says neither.
    pub fn version(size: Option<u64>, etag: Option<&str>) -> Option<String> {
        let tag: Option<String> = etag.map(|t| t.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(80).collect()).filter(|t: &String| !t.is_empty());
        match (size, tag) {
            (Some(n), Some(t)) => Some(format!("{n}-{t}")),
            (Some(n), None) => Some(n.to_string()),
            (None, Some(t)) => Some(format!("x-{t}")),
            (None, None) => None,
        }
    }

    /// The cache key of `url` at `version`.
    pub fn cache_key(url: &str, version: &str) -> String {
        format!("{}?v={}", cache_base(url), urlenc::enc(version))
    }

    /// A cache entry's address (absolute, as the Cache API lists it) read
    /// back as a kept model whose key is the model's address.
    pub fn from_cache_url(entry: &str) -> Option<KeptModel> {
        let at = entry.rfind("/remote/")?;
        let (enc, query) = entry[at + "/remote/".len()..].split_once("?v=")?;
        let url = urlenc::dec(enc)?;
        if !is_remote(&url) {
            return None;
        }
        let version = urlenc::dec(query)?;
        let bytes = version.split('-').next()?.parse().unwrap_or(0);
        Some(KeptModel { name: file_name(&url), key: url, bytes })
    }
}

/// FNV-1a over 8-byte words (and the tail): fast enough for a model file
/// in wasm (~0.1 s per 100 MB), and not meant to resist an adversary.
pub fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        h = (h ^ u64::from_le_bytes(c.try_into().unwrap())).wrapping_mul(0x0000_0100_0000_01b3);
    }
    for &b in chunks.remainder() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Why the page's context is shorter than the model's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Capped {
    /// Longer caches would not fit one of this GPU's buffer bindings.
    Gpu,
    /// Longer caches would not fit the page's WebAssembly memory beside the weights.
    Memory,
}

/// Loading phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Download,
    Cache,
    /// Reading a file the user opened (it never leaves the machine).
    Read,
    Parse,
    Shaders,
    Upload,
}

impl Phase {
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Download => "Downloading the model",
            Phase::Cache => "Reading the model from the browser cache",
            Phase::Read => "Reading your file",
            Phase::Parse => "Reading the GGUF file",
            Phase::Shaders => "Starting WebGPU and compiling shaders",
            Phase::Upload => "Uploading weights",
        }
    }
    /// Whether `done`/`total` count bytes (else steps).
    pub fn is_bytes(self) -> bool {
        matches!(self, Phase::Download | Phase::Cache | Phase::Read)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    /// The worker is running and listening.
    Alive,
    Progress { phase: Phase, done: u64, total: u64 },
    Ready {
        /// The model's name, and its vocabulary size (with the shape: which model a session file needs).
        model: String,
        vocab: usize,
        /// e.g. "WebGPU · SwiftShader" or "CPU".
        backend: String,
        webgpu: bool,
        /// Why the CPU is used, when WebGPU was wanted but missing.
        note: Option<String>,
        n_layers: usize,
        n_heads: usize,
        n_kv_heads: usize,
        head_dim: usize,
        /// The residual stream's width, and the feed-forward block's.
        dim: usize,
        ffn_dim: usize,
        /// Whether the output matrix is the embedding's (no `output.weight`).
        #[serde(default)]
        tied: bool,
        /// Positions the page may use: the model's own context, unless capped.
        n_ctx: usize,
        /// Why the context is shorter than the model's, when it is.
        capped: Option<Capped>,
        /// The CPU engine's threads (its Web Worker pool, or 1), or 0 on
        /// WebGPU, where the CPU does not compute.
        threads: usize,
        /// Why the pool the page asked for did not start (then `threads` is 1).
        pool_error: Option<String>,
        /// Whether the model came from the browser cache.
        cached: bool,
        /// Where it came from: the served file's URL, or the cache key of a
        /// user's model ("kept/…"), or "" for a file used once.
        key: String,
        /// The file's size.
        file_bytes: u64,
        /// A kept model that was asked for but is no longer in this
        /// browser (the served model was loaded instead).
        missing: Option<String>,
        /// Whether it is in the browser cache now (false when storage is
        /// full or unavailable, or for a file used once).
        kept: bool,
        load_ms: f64,
    },
    /// The prompt went through the model (a `Stepped` or `Beam` follows
    /// when this is not the request's last reply).
    /// `baseline` (here and below): with heads switched off, each
    /// candidate's probability with every head on.
    Prefilled { tokens: Vec<TokenInfo>, candidates: Vec<Candidate>, ms: f64, baseline: Option<Vec<f32>> },
    /// A token was taken; `next` are the candidates for the one after it.
    Stepped { step: StepTrace, next: Vec<Candidate>, baseline: Option<Vec<f32>> },
    /// Several tokens taken at once (`Command::Steps`), each with the
    /// candidates for the one after it; `read_bytes`: what the device read
    /// back for all of them (one readback), when it says.
    StepsAhead { steps: Vec<(StepTrace, Vec<Candidate>)>, read_bytes: Option<u64> },
    Undone { removed: Option<u32>, candidates: Vec<Candidate>, baseline: Option<Vec<f32>> },
    /// Heads were switched off or on and the sequence recomputed.
    Ablated { off: Vec<(usize, usize)>, candidates: Vec<Candidate>, baseline: Option<Vec<f32>>, ms: f64 },
    /// The sequence was forgotten.
    Cleared,
    /// Compare mode: what happened to the second sequence (B), as the
    /// message beside it says of the first (`Prefilled`, `Stepped`,
    /// `Undone`, `Ablated`; with no baseline).
    B(Box<FromWorker>),
    /// The beam search as it stands, and greedy decoding over as many steps
    /// for comparison; `pieces`: the text of every id in the trees' `next` lists.
    Beam { tree: BeamTree, greedy: BeamTree, root: Vec<(u32, f32)>, pieces: Vec<(u32, String)> },
    /// The session's sequence is now these tokens (the first `n_prompt` the
    /// prompt, the rest forced): a chosen beam branch.
    Replayed { tokens: Vec<TokenInfo>, n_prompt: usize, candidates: Vec<Candidate>, baseline: Option<Vec<f32>> },
    /// The user's file, checked and described; `key` is where it would be
    /// kept. `gpu` says why it cannot go on this GPU, when it cannot.
    Inspected { info: ModelInfo, key: String, gpu: Option<String> },
    /// The user's file cannot be opened; the current model keeps working.
    OpenFailed { problem: Problem, message: String },
    /// Models kept in this browser.
    Models { kept: Vec<KeptModel> },
    /// The answer to `ToWorker::Ask`.
    Answer { answer: Answer },
    /// A request that has nothing more to say was carried out.
    Done,
    Error { message: String },
    /// The GPU device was lost (a driver reset, another tab, a test hook):
    /// nothing more can run on it.
    DeviceLost { message: String },
    /// The worker failed for good (a panic in wasm, an uncaught error); sent
    /// by worker.js, and by the page itself when the worker goes away.
    Crashed { message: String },
}

#[cfg(test)]
mod tests {
    #[test]
    fn remote_models_are_named_by_their_address_and_kept_by_version() {
        use super::remote::*;
        let url = "https://huggingface.co/u/m/resolve/main/My%20Model.Q4_1.gguf?download=true";
        assert!(is_remote(url));
        assert!(is_remote("http://127.0.0.1:8001/m.gguf"));
        for bad in ["model.gguf", "kept/8-0123456789abcdef/a", "ftp://h/m.gguf", "https://", "https:///m.gguf", "https://h/a b.gguf", "javascript:alert(1)", "https://h/\nx"] {
            assert!(!is_remote(bad), "{bad}");
        }
        assert!(!is_remote(&format!("https://h/{}", "a".repeat(MAX_URL))));
        assert_eq!(host(url), "huggingface.co");
        assert_eq!(host("http://me:pw@127.0.0.1:8001/m.gguf"), "127.0.0.1:8001");
        assert_eq!(file_name(url), "My Model.Q4_1.gguf");
        assert_eq!(file_name("https://h.example/"), "h.example");
        assert_eq!(file_name("https://h.example/a+b.gguf"), "a+b.gguf");
        assert_eq!(version(Some(98_000_000), Some("\"abc:123\"")), Some("98000000-abc123".into()));
        assert_eq!(version(Some(5), None), Some("5".into()));
        assert_eq!(version(None, None), None);
        // The cache lists entries by absolute address; each reads back as the model.
        let key = cache_key(url, &version(Some(98_000_000), Some("W/\"x-1\"")).unwrap());
        let k = from_cache_url(&format!("https://glassbox.example/sub/{key}")).expect("a kept remote model");
        assert_eq!((k.key.as_str(), k.name.as_str(), k.bytes), (url, "My Model.Q4_1.gguf", 98_000_000));
        assert_eq!(from_cache_url("https://g.example/kept/8-0123456789abcdef/a"), None);
        // Two versions of one address share a base, two addresses never do.
        assert!(cache_key(url, "1").starts_with(&cache_base(url)));
        assert_ne!(cache_base(url), cache_base("https://huggingface.co/u/m/resolve/main/My%20Model.Q4_1.gguf"));
    }

    use super::*;

    #[test]
    fn messages_round_trip_as_json() {
        let msgs = vec![
            ToWorker::Load { url: "/model.gguf".into(), backend: BackendChoice::Auto, n_ctx: None },
            ToWorker::Session(Command::Prefill { prompt: "Hi".into(), chat: true, sampling: Sampling::default(), step: true, compare: Some("Ho".into()) }),
            ToWorker::Session(Command::Force { id: 7 }),
            ToWorker::Ask { len: 9, query: Query::Maps(MapRequest { heads: vec![(1, 2)], rows: vec![0, 8], cols: vec![0] }), side: Side::B, ahead: 2 },
        ];
        for (i, m) in msgs.into_iter().enumerate() {
            let r = Request { id: i as u32 + 1, msg: m };
            let s = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        }
        let m = FromWorker::Prefilled { tokens: vec![TokenInfo { id: 1, text: "<|im_start|>".into() }], candidates: vec![], ms: 1.5, baseline: None };
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<FromWorker>(&s).unwrap(), m);
        let k = KeptModel::key_for("my model (Q4_K_M).gguf", b"GGUF 123");
        assert!(k.starts_with("kept/8-") && !k.contains(' '), "{k}");
        assert_eq!(KeptModel::from_key(&k), Some(KeptModel { key: k.clone(), name: "my model (Q4_K_M).gguf".into(), bytes: 8 }));
        assert_ne!(k, KeptModel::key_for("my model (Q4_K_M).gguf", b"GGUF 124"));
        assert_eq!(KeptModel::from_key("model.gguf"), None);
        assert_eq!(KeptModel::from_key("kept/8-xyz/a"), None);
        let m = Reply { id: 4, last: true, msg: FromWorker::Answer { answer: Answer::Maps { floats: 12, ms: 0.5 } } };
        assert_eq!(serde_json::from_str::<Reply>(&serde_json::to_string(&m).unwrap()).unwrap(), m);
    }
}
