//! The native command line: tokenize, logits, generate, trace, probe,
//! lens, attribute, flow, patch, branches, heads, beams, bench, info, synth, serve (arguments in `args`, the
//! benchmark in `bench`).
//! Output contracts are exact (scripts and tests depend on them); errors go
//! to stderr with a non-zero exit status.

pub mod args;
pub mod bench;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use pollster::block_on;
use serde_json::json;

use crate::backend::cpu::Cpu;
use crate::backend::gpu::{Gpu, GpuContext, GpuOptions};
use crate::backend::Backend;
use crate::beam::{BeamOptions, BeamSearch};
use crate::cli::args::{BackendKind, Cli, Cmd, Common};
use crate::cli::bench::BenchArgs;
use crate::error::{Error, Result};
use crate::generate::{Session, SessionOptions};
use crate::model::{load, Model};
use crate::sampling::Sampling;
use crate::tokenizer::Tokenizer;

pub use crate::cli::bench::BENCH_PROMPT;

pub const DEFAULT_MODEL: &str = "assets/models/SmolLM2-135M-Instruct.Q4_1.gguf";

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

/// A model loaded for a command, and its tokenizer.
pub struct Loaded<B: Backend> {
    pub model: Arc<Model<B>>,
    pub tok: Arc<Tokenizer>,
}

fn load_with<B: Backend>(common: &Common, b: &mut B) -> Result<Loaded<B>> {
    let g = read_gguf(&model_path(common.model.as_deref()))?;
    let (model, tok) = load(&g, b, &mut |_, _| {})?;
    Ok(Loaded { model: Arc::new(model), tok: Arc::new(tok) })
}

pub fn session<B: Backend>(l: &Loaded<B>, b: B, common: &Common, sampling: Sampling, trace: bool, top_n: usize) -> Result<Session<B>> {
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
        Cmd::Serve { host, port, dir, model, log, no_isolation } => return crate::serve::serve(host, *port, dir, &model_path(model.as_deref()), *log, !*no_isolation),
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
        | Cmd::Attribute { common, .. }
        | Cmd::Map { common, .. }
        | Cmd::Heads { common, .. }
        | Cmd::Flow { common, .. }
        | Cmd::Patch { common, .. }
        | Cmd::Branches { common, .. }
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
        Cmd::Attribute { pos, token, prompt, ablate, common } => {
            let mut s = session(&l, backend(), &common, Sampling::greedy(), false, 10)?;
            block_on(s.set_ablation(ablate.get()?))?;
            let ids = l.tok.encode_prompt(&prompt)?;
            block_on(s.prefill(&ids))?;
            let a = block_on(s.attribute(pos.unwrap_or(ids.len() - 1), token))?;
            writeln!(out, "{}", serde_json::to_string(&a).unwrap()).map_err(w)?;
        }
        Cmd::Map { pos, nearest, prompt, ablate, common } => {
            let mut s = session(&l, backend(), &common, Sampling::greedy(), false, 10)?;
            block_on(s.set_ablation(ablate.get()?))?;
            let ids = l.tok.encode_prompt(&prompt)?;
            block_on(s.prefill(&ids))?;
            let mm = block_on(s.map_model())?;
            let m = block_on(s.map_at(pos.unwrap_or(ids.len() - 1), &mm, None))?;
            let norms = block_on(s.model.embedding_norms(&mut s.backend))?;
            let near = block_on(s.model.nearest(&mut s.backend, m.token, &norms, nearest))?;
            let near: Vec<serde_json::Value> = near.iter().map(|n| serde_json::json!({"id": n.id, "text": l.tok.piece(n.id), "cos": n.cos})).collect();
            let mut v = serde_json::to_value(&m).unwrap();
            v["text"] = l.tok.piece(m.token).into();
            v["nearest"] = near.into();
            writeln!(out, "{v}").map_err(w)?;
        }
        Cmd::Flow { min, prompt, ablate, common } => {
            if !(0.0..=1.0).contains(&min) {
                return Err(Error::BadArgument(format!("--min {min}: a share is between 0 and 1")));
            }
            let mut s = session(&l, backend(), &common, Sampling::greedy(), false, 10)?;
            block_on(s.set_ablation(ablate.get()?))?;
            let ids = l.tok.encode_prompt(&prompt)?;
            block_on(s.prefill(&ids))?;
            let grams = block_on(s.grams())?;
            let f = block_on(s.flow(0, ids.len(), min, &grams))?;
            writeln!(out, "{}", serde_json::to_string(&f).unwrap()).map_err(w)?;
        }
        Cmd::Patch { target, what, clean, corrupt, common } => {
            let site = crate::patch::Site::parse(&what).ok_or_else(|| Error::BadArgument(format!("--what {what}: residual, heads or ffn")))?;
            let mut s = session(&l, backend(), &common, Sampling::greedy(), false, 10)?;
            let (clean, corrupt) = (l.tok.encode_prompt(&clean)?, l.tok.encode_prompt(&corrupt)?);
            let mut p = block_on(s.model.patch(&mut s.backend, &clean, &corrupt, target, site))?;
            p.target_text = l.tok.decode(&[p.target]);
            writeln!(out, "{}", serde_json::to_string(&p).unwrap()).map_err(w)?;
        }
        Cmd::Branches { n, chat, prompt, ablate, .. } => {
            let ids = prompt_ids(&l.tok, &prompt, chat)?;
            let decodings = crate::branches::default_decodings(n);
            let b = block_on(crate::branches::branches(&backend(), &l.model, &l.tok, &ids, &decodings, n, &ablate.get()?))?;
            writeln!(out, "{}", serde_json::to_string(&b).unwrap()).map_err(w)?;
        }
        Cmd::Heads { repeat, seed, prompt, common } => {
            let mut s = session(&l, backend(), &common, Sampling::greedy(), false, 10)?;
            let ids = l.tok.encode_prompt(prompt.as_deref().unwrap_or(crate::roles::DEFAULT_PROMPT))?;
            let rep = crate::roles::repeat_ids(&l.tok, repeat, seed);
            let roles = block_on(crate::roles::head_roles(&mut s, &ids, &rep))?;
            writeln!(out, "{}", serde_json::to_string(&roles).unwrap()).map_err(w)?;
        }
        Cmd::Bench { runs, tokens, json, lens, why, beams, map_at, patch, play, common } => {
            bench::bench(&l, backend, &common, BenchArgs { runs, tokens, json, lens, why, beams, map_at, patch, play }, out)?
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
