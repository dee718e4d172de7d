//! The native command line: tokenize, logits, generate, trace, bench.
//! Output contracts are exact (scripts and tests depend on them); errors go
//! to stderr with a non-zero exit status.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pollster::block_on;
use serde_json::json;

use crate::backend::cpu::Cpu;
use crate::backend::gpu::{Gpu, GpuContext, GpuOptions};
use crate::backend::Backend;
use crate::generate::{Session, SessionOptions};
use crate::sampling::Sampling;
use crate::beam::{BeamOptions, BeamSearch};
use crate::inspect::Ablation;
use crate::error::{Error, Result};
use crate::model::{load, Model};
use crate::tokenizer::Tokenizer;

pub const DEFAULT_MODEL: &str = "assets/models/SmolLM2-135M-Instruct.Q4_1.gguf";

#[derive(Parser)]
#[command(name = "glassbox", version, about = "Run SmolLM2 and watch it think: tokens, logits, attention.")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Common {
    /// GGUF model file [default: $GLASSBOX_MODEL, else the fetched model]
    #[arg(long, global = true)]
    model: Option<PathBuf>,
    /// Compute backend
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu, global = true)]
    backend: BackendKind,
    /// Context size (positions in the KV cache)
    #[arg(long, default_value_t = 2048, global = true)]
    ctx: usize,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum BackendKind {
    /// The plain CPU reference
    Cpu,
    /// WGSL compute shaders through wgpu (Vulkan, Metal or DX12)
    Gpu,
}

#[derive(Args, Clone)]
struct SamplingArgs {
    /// Tokens to generate at most (stops earlier at end-of-sequence)
    #[arg(short = 'n', long = "max-tokens", default_value_t = 64)]
    n: usize,
    /// 0 = greedy
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Keep the K most likely tokens (0 = all)
    #[arg(long = "top-k", default_value_t = 0)]
    top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches P
    #[arg(long = "top-p", default_value_t = 1.0)]
    top_p: f32,
    /// RNG seed for sampling
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Wrap PROMPT as one user turn with the model's chat template
    #[arg(long)]
    chat: bool,
}

#[derive(Args, Clone, Default)]
struct AblateArg {
    /// Switch heads off: LAYER:HEAD[,LAYER:HEAD…] (their output is zeroed before W_o)
    #[arg(long, value_name = "L:H,…", default_value = "")]
    ablate: String,
}

impl AblateArg {
    fn get(&self) -> Result<Ablation> {
        Ablation::parse(&self.ablate)
    }
}

impl SamplingArgs {
    fn sampling(&self) -> Sampling {
        Sampling { temperature: self.temperature, top_k: self.top_k, top_p: self.top_p, seed: self.seed }
    }
}

#[derive(Subcommand)]
enum Cmd {
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
        /// Also time a beam search of this width and print its memory per beam
        #[arg(long)]
        beams: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
}

/// The fixed prompt `bench` uses (about 100 tokens).
pub const BENCH_PROMPT: &str = "The transformer is a neural network architecture that relies entirely on attention. \
Each token looks at every earlier token, weighs how relevant each one is, and mixes their values into a new \
representation. Stacking many such layers, with feed-forward networks in between, lets a small model like this \
one predict the next word surprisingly well. In this short passage we measure how quickly the model reads a \
prompt and then how quickly it writes";

/// Where the model is: --model, else $GLASSBOX_MODEL, else the fetched default.
pub fn model_path(arg: Option<&Path>) -> PathBuf {
    if let Some(p) = arg {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("GLASSBOX_MODEL") {
        return PathBuf::from(p);
    }
    let local = PathBuf::from(DEFAULT_MODEL);
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL)
}

/// Read and parse the GGUF at `path`, with a fix-it message when it is missing.
pub fn read_gguf(path: &Path) -> Result<crate::gguf::Gguf> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the model at {}: {e}\nfetch it with scripts/fetch-model.sh, or pass --model PATH / set GLASSBOX_MODEL",
            path.display()
        ))
    })?;
    Ok(crate::gguf::Gguf::from_bytes(bytes)?)
}

struct Loaded<B: Backend> {
    model: Arc<Model<B>>,
    tok: Arc<Tokenizer>,
}

fn load_with<B: Backend>(common: &Common, b: &mut B) -> Result<Loaded<B>> {
    let g = read_gguf(&model_path(common.model.as_deref()))?;
    let (model, tok) = load(&g, b, &mut |_, _| {})?;
    Ok(Loaded { model: Arc::new(model), tok: Arc::new(tok) })
}

fn session<B: Backend>(l: &Loaded<B>, b: B, common: &Common, sampling: Sampling, trace: bool, top_n: usize) -> Result<Session<B>> {
    // More candidates than the device reduces to: read every logit.
    let full_logits = top_n > crate::backend::TOPK_K;
    let opts = SessionOptions { n_ctx: common.ctx, trace, top_n, sampling, full_logits, max_batch: if trace { 16 } else { 64 }, ..Default::default() };
    Session::new(b, l.model.clone(), l.tok.clone(), opts)
}

fn prompt_ids(tok: &Tokenizer, prompt: &str, chat: bool) -> Result<Vec<u32>> {
    if chat {
        tok.encode_prompt(&tok.chat_prompt(prompt)?)
    } else {
        tok.encode_prompt(prompt)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[allow(clippy::too_many_arguments)]
fn synth(
    out: &Path,
    n_layers: usize,
    dim: usize,
    n_heads: usize,
    n_kv_heads: usize,
    ffn_dim: usize,
    context: usize,
    ty: &str,
    embed: &str,
    output: Option<&str>,
    seed: u64,
    name: Option<String>,
) -> Result<()> {
    use crate::quant::GgmlType;
    let fmt = |s: &str| -> Result<GgmlType> {
        GgmlType::from_name(s)
            .filter(|t| t.supported())
            .ok_or_else(|| Error::BadArgument(format!("--type/--embed/--output '{s}': use one of f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q5_k q6_k")))
    };
    let spec = crate::synth::SynthSpec {
        name: name.unwrap_or_else(|| format!("Synthetic {n_layers}×{n_heads}")),
        n_layers,
        dim,
        n_heads,
        n_kv_heads,
        ffn_dim,
        context,
        rope_base: 10000.0,
        weights: fmt(ty)?,
        embedding: fmt(embed)?,
        output: output.map(fmt).transpose()?,
        seed,
    };
    let bad = |m: &str| Err(Error::BadArgument(m.to_string()));
    if n_layers == 0 || n_heads == 0 || n_kv_heads == 0 || dim == 0 || ffn_dim == 0 || context == 0 {
        return bad("every size must be at least 1");
    }
    if !dim.is_multiple_of(n_heads) || !n_heads.is_multiple_of(n_kv_heads) || !(dim / n_heads).is_multiple_of(2) {
        return bad("--dim must be an even multiple of --heads, and --heads a multiple of --kv-heads");
    }
    for (t, cols) in [(spec.weights, dim), (spec.weights, ffn_dim), (spec.embedding, dim)] {
        if cols % t.block_len() != 0 {
            return Err(Error::BadArgument(format!("{t} stores rows in blocks of {}; {cols} is not a multiple", t.block_len())));
        }
    }
    let bytes = crate::synth::synth_gguf(&spec);
    std::fs::write(out, &bytes).map_err(|e| Error::Usage(format!("writing {}: {e}", out.display())))?;
    eprintln!("wrote {} ({} bytes): {}", out.display(), bytes.len(), spec.name);
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    let common = match &cli.cmd {
        Cmd::Serve { host, port, dir, model, log } => return crate::serve::serve(host, *port, dir, &model_path(model.as_deref()), *log),
        Cmd::Tokenize { text, common } => {
            let g = read_gguf(&model_path(common.model.as_deref()))?;
            let tok = Tokenizer::from_gguf(&g.header)?;
            println!("{}", serde_json::to_string(&tok.encode(text)?).unwrap());
            return Ok(());
        }
        Cmd::Info { common } => {
            let path = model_path(common.model.as_deref());
            let g = read_gguf(&path)?;
            let info = crate::model::ModelInfo::inspect(&g, g.bytes().len() as u64)?;
            println!("{}", serde_json::to_string(&info).unwrap());
            return Ok(());
        }
        Cmd::Synth { out, layers, dim, heads, kv_heads, ffn, context, ty, embed, output, seed, name } => {
            return synth(out, *layers, *dim, *heads, *kv_heads, *ffn, *context, ty, embed, output.as_deref(), *seed, name.clone());
        }
        Cmd::Logits { common, .. }
        | Cmd::Generate { common, .. }
        | Cmd::Trace { common, .. }
        | Cmd::Probe { common, .. }
        | Cmd::Lens { common, .. }
        | Cmd::Beams { common, .. }
        | Cmd::Bench { common, .. } => common.clone(),
    };
    match common.backend {
        BackendKind::Cpu => {
            let l = load_with(&common, &mut Cpu::new())?;
            model_cmd(cli.cmd, l, Cpu::new)
        }
        BackendKind::Gpu => {
            let ctx = Arc::new(block_on(GpuContext::new(GpuOptions::default()))?);
            let mut g = Gpu::new(ctx);
            let l = load_with(&common, &mut g)?;
            model_cmd(cli.cmd, l, || g.sibling())
        }
    }
}

fn model_cmd<B: Backend>(cmd: Cmd, l: Loaded<B>, backend: impl Fn() -> B) -> Result<()> {
    let out = &mut std::io::stdout().lock();
    let w = |e: std::io::Error| if e.kind() == std::io::ErrorKind::BrokenPipe { Error::OutputClosed } else { Error::Usage(format!("writing output: {e}")) };
    match cmd {
        Cmd::Tokenize { .. } | Cmd::Info { .. } | Cmd::Serve { .. } | Cmd::Synth { .. } => unreachable!("handled without a model"),
        Cmd::Logits { top, prompt, ablate, common } => {
            let mut s = session(&l, backend(), &common, Sampling::greedy(), false, top)?;
            block_on(s.set_ablation(ablate.get()?))?;
            block_on(s.prefill(&l.tok.encode_prompt(&prompt)?))?;
            let best = match s.logits() {
                Some(all) => crate::sampling::top_n(all, top),
                None => s.next_logits().top.iter().take(top).copied().collect(),
            };
            let top: Vec<_> = best
                .into_iter()
                .map(|(id, logit)| json!({"id": id, "logit": logit}))
                .collect();
            writeln!(out, "{}", serde_json::to_string(&top).unwrap()).map_err(w)?;
        }
        Cmd::Generate { s: sa, ids, beams: Some(width), length_penalty, prompt, ablate, common } => {
            if sa.temperature > 0.0 {
                return Err(Error::BadArgument("beam search is deterministic: use --beams without --temperature (or with 0)".into()));
            }
            let opts = BeamOptions { width, steps: sa.n, length_penalty };
            opts.check()?;
            let mut b = backend();
            let mut search = BeamSearch::new(&mut b, l.model.clone(), l.tok.clone(), &prompt_ids(&l.tok, &prompt, sa.chat)?, opts, 64)?;
            // The search runs with the heads switched off, as the page's does.
            search.set_ablation(&mut b, &ablate.get()?)?;
            let tree = block_on(search.run(&mut b))?;
            if ids {
                writeln!(out, "{}", serde_json::to_string(&tree.best).unwrap()).map_err(w)?;
            } else {
                let text: Vec<u32> = tree.best.iter().copied().filter(|&t| Some(t) != l.tok.eos).collect();
                writeln!(out, "{}", l.tok.decode(&text)).map_err(w)?;
            }
            let _ = common;
        }
        Cmd::Beams { beams, n, length_penalty, chat, prompt, ablate, common } => {
            let opts = BeamOptions { width: beams, steps: n, length_penalty };
            opts.check()?;
            let mut b = backend();
            let mut search = BeamSearch::new(&mut b, l.model.clone(), l.tok.clone(), &prompt_ids(&l.tok, &prompt, chat)?, opts, 64)?;
            search.set_ablation(&mut b, &ablate.get()?)?;
            let tree = block_on(search.run(&mut b))?;
            let doc = json!({"nodes": tree.nodes, "best": tree.best, "best_score": tree.best_score, "steps": tree.steps, "off": tree.off});
            writeln!(out, "{doc}").map_err(w)?;
            let _ = common;
        }
        Cmd::Generate { s: sa, ids, beams: None, length_penalty: _, prompt, ablate, common } => {
            let mut s = session(&l, backend(), &common, sa.sampling(), false, 0)?;
            block_on(s.set_ablation(ablate.get()?))?;
            block_on(s.prefill(&prompt_ids(&l.tok, &prompt, sa.chat)?))?;
            let eos = l.tok.eos;
            // Step by step, stopping as soon as the output is closed.
            for _ in 0..sa.n {
                let st = block_on(s.step())?;
                if !ids && Some(st.token) != eos {
                    write!(out, "{}", st.text_delta).and_then(|_| out.flush()).map_err(w)?;
                }
                if st.eos {
                    break;
                }
            }
            if ids {
                writeln!(out, "{}", serde_json::to_string(s.generated()).unwrap()).map_err(w)?;
            } else {
                writeln!(out).map_err(w)?;
            }
        }
        Cmd::Trace { s: sa, top, no_prefill_attention, prompt, ablate, common } => {
            let mut s = session(&l, backend(), &common, sa.sampling(), true, top)?;
            block_on(s.set_ablation(ablate.get()?))?;
            let ids = prompt_ids(&l.tok, &prompt, sa.chat)?;
            let pre = block_on(s.prefill(&ids))?;
            let steps = block_on(s.generate(sa.n, |_| {}))?;
            let nested = |a: &crate::trace::AttnRows| json!(a.nested());
            let prefill_attention = match (&pre.attention, no_prefill_attention) {
                (Some(rows), false) => json!(rows.iter().map(nested).collect::<Vec<_>>()),
                _ => json!(null),
            };
            let steps: Vec<_> = steps
                .iter()
                .map(|st| {
                    json!({
                        "pos": st.pos, "token": st.token, "text": st.text, "forced": st.forced, "eos": st.eos,
                        "candidates": st.candidates, "attention": st.attention.as_ref().map(nested),
                        "timing": st.timing,
                    })
                })
                .collect();
            let doc = json!({
                "model": l.model.config,
                "backend": s.backend.name(),
                "sampling": sa.sampling(),
                "prompt": prompt,
                "prompt_ids": ids,
                "prompt_pieces": ids.iter().map(|&i| l.tok.piece(i)).collect::<Vec<_>>(),
                "prefill": {"attention": prefill_attention, "candidates": pre.candidates, "forward_ms": pre.forward_ms},
                "steps": steps,
                "text": l.tok.decode(s.generated()),
            });
            writeln!(out, "{}", serde_json::to_string(&doc).unwrap()).map_err(w)?;
        }
        Cmd::Probe { layer, head, pos, prompt, ablate, common } => {
            let mut s = session(&l, backend(), &common, Sampling::greedy(), false, 10)?;
            block_on(s.set_ablation(ablate.get()?))?;
            let ids = l.tok.encode_prompt(&prompt)?;
            block_on(s.prefill(&ids))?;
            let p = block_on(s.probe(layer, head, pos.unwrap_or(ids.len() - 1), None))?;
            writeln!(out, "{}", serde_json::to_string(&p).unwrap()).map_err(w)?;
        }
        Cmd::Lens { top, pos, prompt, ablate, common } => {
            let mut s = session(&l, backend(), &common, Sampling::greedy(), false, 10)?;
            block_on(s.set_ablation(ablate.get()?))?;
            let ids = l.tok.encode_prompt(&prompt)?;
            block_on(s.prefill(&ids))?;
            let p = pos.unwrap_or(ids.len() - 1);
            let lens = block_on(s.lens(p, p + 1, top))?.pop().ok_or_else(|| Error::BadArgument(format!("position {p} is past the end of the prompt")))?;
            writeln!(out, "{}", serde_json::to_string(&lens).unwrap()).map_err(w)?;
        }
        Cmd::Bench { runs, tokens, json: as_json, lens, beams, common } => {
            let ids = l.tok.encode_prompt(BENCH_PROMPT)?;
            let runs = runs.max(1);
            let (mut pre, mut dec) = (Vec::new(), Vec::new());
            let mut s = session(&l, backend(), &common, Sampling::greedy(), false, 10)?;
            for _ in 0..runs {
                let t = Instant::now();
                block_on(s.prefill(&ids))?;
                pre.push(ids.len() as f64 / t.elapsed().as_secs_f64());
                let t = Instant::now();
                let mut n = 0;
                for _ in 0..tokens {
                    block_on(s.step())?;
                    n += 1;
                }
                dec.push(n as f64 / t.elapsed().as_secs_f64());
            }
            let threads = rayon::current_num_threads();
            let (p, d) = (median(pre), median(dec));
            let dispatches = s.backend.last_dispatches();
            // One more, profiled run: GPU time per kernel kind, where the device has timestamps.
            let mut kernels = Vec::new();
            if s.backend.enable_profiling() {
                block_on(s.prefill(&ids))?;
                s.backend.take_profile();
                for _ in 0..tokens.min(16) {
                    block_on(s.step())?;
                }
                kernels = s.backend.take_profile();
            }
            let steps = tokens.clamp(1, 16) as f64;
            // What the logit lens adds: after each step, the lens at the newest position.
            let mut lens_ms = None;
            if lens {
                block_on(s.prefill(&ids))?;
                let (mut step_t, mut lens_t) = (Vec::new(), Vec::new());
                for _ in 0..tokens.clamp(1, 16) {
                    let t = Instant::now();
                    block_on(s.step())?;
                    step_t.push(t.elapsed().as_secs_f64() * 1e3);
                    let n = s.tokens().len();
                    let t = Instant::now();
                    block_on(s.lens(n - 1, n, 5))?;
                    lens_t.push(t.elapsed().as_secs_f64() * 1e3);
                }
                lens_ms = Some((median(lens_t), median(step_t)));
            }
            // Beam search: tokens/s over the steps, and memory per beam.
            let mut beam_fig = None;
            if let Some(width) = beams {
                let opts = BeamOptions { width, steps: tokens.max(1), length_penalty: 0.0 };
                opts.check()?;
                let mut b = backend();
                let mut search = BeamSearch::new(&mut b, l.model.clone(), l.tok.clone(), &ids, opts, 64)?;
                block_on(search.step(&mut b))?; // the prompt
                let t = Instant::now();
                let mut n = 0;
                while block_on(search.step(&mut b))? {
                    n += 1;
                }
                let secs = t.elapsed().as_secs_f64();
                beam_fig = Some((width, n, n as f64 * width as f64 / secs, n as f64 / secs, search.bytes_per_beam()));
            }
            if as_json {
                let kernels: Vec<_> = kernels.iter().map(|(k, ms, n)| json!({"kernel": k, "ms_per_token": ms / steps, "dispatches_per_token": *n as f64 / steps})).collect();
                let doc = json!({"backend": s.backend.name(), "threads": threads, "prompt_tokens": ids.len(),
                    "decode_tokens": tokens, "runs": runs, "prefill_tok_s": p, "decode_tok_s": d,
                    "dispatches_per_decode_step": dispatches, "decode_kernels": kernels,
                    "lens_ms_per_step": lens_ms.map(|l| l.0), "step_ms_with_lens": lens_ms.map(|l| l.1),
                    "beams": beam_fig.map(|(w, n, tps, sps, bytes)| json!({"width": w, "steps": n, "tokens_per_s": tps, "steps_per_s": sps, "bytes_per_beam": bytes}))});
                writeln!(out, "{doc}").map_err(w)?;
            } else {
                writeln!(out, "backend {} · {threads} CPU threads · prompt {} tokens · {tokens} decode steps · median of {runs} runs", s.backend.name(), ids.len()).map_err(w)?;
                writeln!(out, "prefill {p:8.1} tok/s").map_err(w)?;
                writeln!(out, "decode  {d:8.1} tok/s ({:.1} ms/token)", 1e3 / d).map_err(w)?;
                if let Some(n) = dispatches {
                    writeln!(out, "dispatches per decode step: {n}").map_err(w)?;
                }
                if let Some((width, n, tps, sps, bytes)) = beam_fig {
                    writeln!(out, "beam search, width {width}: {n} steps, {sps:.1} steps/s ({tps:.1} tokens/s over all beams), {:.1} MB of cache per beam (room for {} positions)", bytes as f64 / 1e6, ids.len() + tokens.max(1)).map_err(w)?;
                }
                if let Some((l, st)) = lens_ms {
                    writeln!(out, "logit lens at the newest position ({} layers): {l:.1} ms per step, beside {st:.1} ms for the step itself", s.model.config.n_layers).map_err(w)?;
                }
                if !kernels.is_empty() {
                    writeln!(out, "GPU time per decode token by kernel (timestamp queries, one pass per dispatch):").map_err(w)?;
                    for (k, ms, n) in &kernels {
                        writeln!(out, "  {k:<14} {:8.3} ms  ({:.0} dispatches)", ms / steps, *n as f64 / steps).map_err(w)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Entry point of the `glassbox` binary; returns the exit status: 0, 1 for
/// a failure, 2 for a bad argument (as clap's own usage errors).
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) | Err(Error::OutputClosed) => 0,
        Err(e) => {
            eprintln!("glassbox: error: {e}");
            if matches!(e, Error::BadArgument(_)) {
                2
            } else {
                1
            }
        }
    }
}
