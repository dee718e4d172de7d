//! The command line's arguments (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::Result;
use crate::inspect::Ablation;
use crate::sampling::Sampling;

#[derive(Parser)]
#[command(name = "glassbox", version, about = "Run SmolLM2 and watch it think: tokens, logits, attention.")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Args, Clone)]
pub struct Common {
    /// GGUF model file [default: $GLASSBOX_MODEL, else the fetched model]
    #[arg(long, global = true)]
    pub model: Option<PathBuf>,
    /// Compute backend
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu, global = true)]
    pub backend: BackendKind,
    /// Context size (positions in the KV cache)
    #[arg(long, default_value_t = 2048, global = true)]
    pub ctx: usize,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum BackendKind {
    /// The plain CPU reference
    Cpu,
    /// WGSL compute shaders through wgpu (Vulkan, Metal or DX12)
    Gpu,
}

#[derive(Args, Clone)]
pub struct SamplingArgs {
    /// Tokens to generate at most (stops earlier at end-of-sequence)
    #[arg(short = 'n', long = "max-tokens", default_value_t = 64)]
    pub n: usize,
    /// 0 = greedy
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Keep the K most likely tokens (0 = all)
    #[arg(long = "top-k", default_value_t = 0)]
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches P
    #[arg(long = "top-p", default_value_t = 1.0)]
    pub top_p: f32,
    /// RNG seed for sampling
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Wrap PROMPT as one user turn with the model's chat template
    #[arg(long)]
    pub chat: bool,
}

#[derive(Args, Clone, Default)]
pub struct AblateArg {
    /// Switch heads off: LAYER:HEAD[,LAYER:HEAD…] (their output is zeroed before W_o)
    #[arg(long, value_name = "L:H,…", default_value = "")]
    pub ablate: String,
}

impl AblateArg {
    pub fn get(&self) -> Result<Ablation> {
        Ablation::parse(&self.ablate)
    }
}

impl SamplingArgs {
    pub fn sampling(&self) -> Sampling {
        Sampling { temperature: self.temperature, top_k: self.top_k, top_p: self.top_p, seed: self.seed }
    }
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Check a GGUF as loading would (configuration, tokenizer, every tensor) and print what it holds as JSON: architecture, sizes, formats
    Info {
        #[command(flatten)]
        common: Common,
    },
    /// Print PROMPT's token ids as a JSON array (control-token text becomes its id; no BOS)
    Tokenize {
        text: String,
        #[command(flatten)]
        common: Common,
    },
    /// Print the top next-token logits after PROMPT as JSON [{"id":N,"logit":X}, ...]
    Logits {
        /// How many, highest first
        #[arg(long, default_value_t = 10)]
        top: usize,
        prompt: String,
        #[command(flatten)]
        ablate: AblateArg,
        #[command(flatten)]
        common: Common,
    },
    /// Generate text after PROMPT (streamed), or its ids with --ids
    Generate {
        #[command(flatten)]
        s: SamplingArgs,
        /// Print one JSON array of generated token ids instead of text
        #[arg(long)]
        ids: bool,
        /// Beam search with B beams (1 = greedy) instead of sampling; see `glassbox beams`
        #[arg(long)]
        beams: Option<usize>,
        /// With --beams: rank hypotheses by score / length^A
        #[arg(long, default_value_t = 0.0)]
        length_penalty: f32,
        prompt: String,
        #[command(flatten)]
        ablate: AblateArg,
        #[command(flatten)]
        common: Common,
    },
    /// Print JSON of the prefill and every step: tokens, candidates, attention [layer][head][key]
    Trace {
        #[command(flatten)]
        s: SamplingArgs,
        /// Candidates per step
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Leave the prompt's attention rows out (they grow as T²)
        #[arg(long)]
        no_prefill_attention: bool,
        prompt: String,
        #[command(flatten)]
        ablate: AblateArg,
        #[command(flatten)]
        common: Common,
    },
    /// Print every number of one head at one position as JSON: q before and after RoPE, each key's k, v, score and weight, the output and its contribution, the FFN's top neurons
    Probe {
        #[arg(long)]
        layer: usize,
        #[arg(long)]
        head: usize,
        /// Position in the prompt [default: the last]
        #[arg(long)]
        pos: Option<usize>,
        prompt: String,
        #[command(flatten)]
        ablate: AblateArg,
        #[command(flatten)]
        common: Common,
    },
    /// Print the logit lens as JSON: what each layer would predict at a position
    Lens {
        /// Tokens per layer
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Position in the prompt [default: the last]
        #[arg(long)]
        pos: Option<usize>,
        prompt: String,
        #[command(flatten)]
        ablate: AblateArg,
        #[command(flatten)]
        common: Common,
    },
    /// Print the map of the network at a position, as JSON: the embedding row, the residual stream's norm after each layer (there and at position 0), each block's attention and FFN update norms and each head's own write's norm, and the tokens nearest in embedding space
    Map {
        /// Position in the prompt [default: the last]
        #[arg(long)]
        pos: Option<usize>,
        /// How many nearest tokens to list
        #[arg(long, default_value_t = 10)]
        nearest: usize,
        prompt: String,
        #[command(flatten)]
        ablate: AblateArg,
        #[command(flatten)]
        common: Common,
    },
    /// Print why the model gave a token its logit, as JSON: the direct effect of the embedding, every head and every FFN (they sum to the logit)
    Attribute {
        /// Position in the prompt [default: the last]
        #[arg(long)]
        pos: Option<usize>,
        /// The token whose logit is split [default: the model's top-1 at the position]
        #[arg(long)]
        token: Option<u32>,
        prompt: String,
        #[command(flatten)]
        ablate: AblateArg,
        #[command(flatten)]
        common: Common,
    },
    /// Print how information flowed into every position as JSON: each layer's edges from earlier positions through heads, and through the FFN, with their share of the update
    Flow {
        /// Leave out edges whose share is below this
        #[arg(long, default_value_t = 0.0)]
        min: f32,
        prompt: String,
        #[command(flatten)]
        ablate: AblateArg,
        #[command(flatten)]
        common: Common,
    },
    /// Print what each head does as JSON: previous-token and sink scores on a text, duplicate and induction scores on random tokens repeated
    Heads {
        /// Random ordinary tokens in the repeated sequence (then the same again)
        #[arg(long, default_value_t = crate::roles::DEFAULT_REPEAT)]
        repeat: usize,
        /// Seed for drawing them
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The text for the previous-token and sink scores [default: a built-in paragraph]
        prompt: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Print activation patching as JSON: the probability of TARGET after CORRUPT when one piece of the CLEAN run (same length) is copied in, for each layer and position (or head)
    Patch {
        /// The tracked token [default: the clean run's top-1]
        #[arg(long)]
        target: Option<u32>,
        /// What is copied: the residual stream after a block at a position, each head's output at every position, or the FFN's output at a position
        #[arg(long, default_value = "residual", value_parser = ["residual", "heads", "ffn"])]
        what: String,
        clean: String,
        corrupt: String,
        #[command(flatten)]
        common: Common,
    },
    /// Print the prompt decoded five ways as JSON: greedy, sampling at temperatures 0.7, 1.0 and 1.3 (seeds 1, 2, 3) and a beam search of width 4, each token with the model's top five at that point, and where they part
    Branches {
        /// Tokens per branch
        #[arg(short = 'n', long = "max-tokens", default_value_t = 16)]
        n: usize,
        /// Wrap PROMPT as one user turn with the model's chat template
        #[arg(long)]
        chat: bool,
        prompt: String,
        #[command(flatten)]
        ablate: AblateArg,
        #[command(flatten)]
        common: Common,
    },
    /// Print a whole beam search as JSON: every node (token, log p, score, status) and the best hypothesis
    Beams {
        /// B: beams kept (1 to 16)
        #[arg(long)]
        beams: usize,
        /// Steps at most
        #[arg(short = 'n', long = "max-tokens", default_value_t = 8)]
        n: usize,
        /// Rank hypotheses by score / length^A
        #[arg(long, default_value_t = 0.0)]
        length_penalty: f32,
        /// Wrap PROMPT as one user turn with the model's chat template
        #[arg(long)]
        chat: bool,
        prompt: String,
        #[command(flatten)]
        ablate: AblateArg,
        #[command(flatten)]
        common: Common,
    },
    /// Serve the page (www/) and the model on http://HOST:PORT
    Serve {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The built page (scripts/build-web.sh writes www/pkg)
        #[arg(long, default_value = "www")]
        dir: PathBuf,
        /// GGUF model file [default: $GLASSBOX_MODEL, else the fetched model]
        #[arg(long)]
        model: Option<PathBuf>,
        /// Print one line per request (method, path, status)
        #[arg(long)]
        log: bool,
        /// Leave out the cross-origin isolation headers (COOP/COEP), as a
        /// plain static host would: the page then runs its CPU engine on one thread
        #[arg(long)]
        no_isolation: bool,
    },
    /// Write a synthetic Llama GGUF (random weights, byte-level vocabulary) for tests and demos
    Synth {
        /// Where to write it
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 4)]
        layers: usize,
        /// Residual width d
        #[arg(long, default_value_t = 256)]
        dim: usize,
        /// Query heads
        #[arg(long, default_value_t = 4)]
        heads: usize,
        /// Key/value heads (GQA: heads / kv-heads queries share one)
        #[arg(long, default_value_t = 2)]
        kv_heads: usize,
        /// SwiGLU hidden width
        #[arg(long, default_value_t = 512)]
        ffn: usize,
        #[arg(long, default_value_t = 512)]
        context: usize,
        /// Format of the layer matrices: f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q5_k q6_k
        #[arg(long = "type", default_value = "q4_k")]
        ty: String,
        /// Format of the token embedding
        #[arg(long, default_value = "q8_0")]
        embed: String,
        /// A separate output matrix in this format (default: tied to the embedding)
        #[arg(long)]
        output: Option<String>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// general.name [default: "Synthetic LxH"]
        #[arg(long)]
        name: Option<String>,
    },
    /// Measure prefill and decode speed (tokens/s, median of several runs)
    Bench {
        /// Runs to take the median of
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Decode steps per run
        #[arg(long, default_value_t = 64)]
        tokens: usize,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        /// Also time the logit lens at the newest position after each step
        #[arg(long)]
        lens: bool,
        /// Also time "why this token" (the attribution at the newest position) after each step, and measuring the head roles once
        #[arg(long)]
        why: bool,
        /// Also time a beam search of this width and print its memory per beam
        #[arg(long)]
        beams: Option<usize>,
        /// Also time the map of the network at the newest position after each step, with this many tokens in context: kept by the step, and by a second pass
        #[arg(long, value_name = "TOKENS")]
        map_at: Option<usize>,
        /// Also time activation patching of the 10-token example (the Eiffel Tower against the Colosseum), residual, heads and FFN
        #[arg(long)]
        patch: bool,
        /// Also time Play ahead: greedy steps this many at a time, each token picked on the device, one readback per call; prints readbacks and bytes read back per token
        #[arg(long, value_name = "STEPS", num_args = 0..=1, default_missing_value = "8")]
        play: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
}

