//! `glassbox bench`: prefill and decode speed, and what the GPU's kernels,
//! the logit lens, "why this token", the head roles and beam search cost, as text or JSON.

use std::io::Write;
use std::time::Instant;

use pollster::block_on;
use serde_json::json;

use crate::backend::Backend;
use crate::beam::{BeamOptions, BeamSearch};
use crate::cli::{session, Common, Loaded};
use crate::error::{Error, Result};
use crate::generate::{Session, SessionOptions};
use crate::sampling::Sampling;

/// The fixed prompt `bench` uses (about 100 tokens).
pub const BENCH_PROMPT: &str = "The transformer is a neural network architecture that relies entirely on attention. \
Each token looks at every earlier token, weighs how relevant each one is, and mixes their values into a new \
representation. Stacking many such layers, with feed-forward networks in between, lets a small model like this \
one predict the next word surprisingly well. In this short passage we measure how quickly the model reads a \
prompt and then how quickly it writes";

/// What `bench` measures.
pub struct BenchArgs {
    pub runs: usize,
    pub tokens: usize,
    pub json: bool,
    pub lens: bool,
    pub why: bool,
    pub beams: Option<usize>,
    pub map_at: Option<usize>,
    pub patch: bool,
    /// Play ahead, this many steps a call.
    pub play: Option<usize>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Run the benchmark on `l` and print its figures to `out`.
pub fn bench<B: Backend>(l: &Loaded<B>, backend: impl Fn() -> B, common: &Common, a: BenchArgs, out: &mut impl Write) -> Result<()> {
    let w = |e: std::io::Error| if e.kind() == std::io::ErrorKind::BrokenPipe { Error::OutputClosed } else { Error::Usage(format!("writing output: {e}")) };
    let BenchArgs { runs, tokens, json: as_json, lens, why, beams, map_at, patch, play } = a;
    let ids = l.tok.encode_prompt(BENCH_PROMPT)?;
    let runs = runs.max(1);
    let (mut pre, mut dec) = (Vec::new(), Vec::new());
    let mut s = session(l, backend(), common, Sampling::greedy(), false, 10)?;
    let mut prefill_submissions = None;
    for _ in 0..runs {
        let before = s.backend.submissions();
        let t = Instant::now();
        block_on(s.prefill(&ids))?;
        pre.push(ids.len() as f64 / t.elapsed().as_secs_f64());
        prefill_submissions = before.zip(s.backend.submissions()).map(|(a, b)| b - a);
        let t = Instant::now();
        let mut n = 0;
        for _ in 0..tokens {
            block_on(s.step())?;
            n += 1;
        }
        dec.push(n as f64 / t.elapsed().as_secs_f64());
    }
    let threads = crate::backend::pool::Pool::global().threads();
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
    // What "why this token" adds: after each step, the attribution at the
    // newest position; and measuring every head's role once.
    let mut why_ms = None;
    if why {
        block_on(s.prefill(&ids))?;
        let grams_t = Instant::now();
        let grams = block_on(s.grams())?;
        let grams_ms = grams_t.elapsed().as_secs_f64() * 1e3;
        let (mut step_t, mut why_t, mut flow_t, mut map_t) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // (Position 0's spine is kept between steps, as the page does.)
        let mm = block_on(s.map_model())?;
        let map_first = Some(block_on(s.map_at(0, &mm, None))?.first);
        for _ in 0..tokens.clamp(1, 16) {
            let t = Instant::now();
            block_on(s.step())?;
            step_t.push(t.elapsed().as_secs_f64() * 1e3);
            let n = s.tokens().len();
            let t = Instant::now();
            block_on(s.attribute(n - 1, None))?;
            why_t.push(t.elapsed().as_secs_f64() * 1e3);
            // The flow as the page asks it: into the last 40 positions, shares ≥ 0.02.
            let t = Instant::now();
            block_on(s.flow(n.saturating_sub(40), n, 0.02, &grams))?;
            flow_t.push(t.elapsed().as_secs_f64() * 1e3);
            // The map of the network at the newest position.
            let t = Instant::now();
            block_on(s.map_at(n - 1, &mm, map_first.clone()))?;
            map_t.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let mut side = session(l, backend(), common, Sampling::greedy(), false, 10)?;
        let prompt = l.tok.encode_prompt(crate::roles::DEFAULT_PROMPT)?;
        let repeat = crate::roles::repeat_ids(&l.tok, crate::roles::DEFAULT_REPEAT, 0);
        let t = Instant::now();
        block_on(crate::roles::head_roles(&mut side, &prompt, &repeat))?;
        why_ms = Some((median(why_t), median(step_t), t.elapsed().as_secs_f64() * 1e3, median(flow_t), grams_ms, median(map_t)));
    }
    // The map at the newest position with a long context, as the page asks
    // it after each step: kept by the step (a readback), or a second pass.
    // Two sessions, stepped in turn: (step kept, map kept, step plain, map computed).
    let mut map_fig = None;
    if let Some(n) = map_at {
        let long: Vec<u32> = ids.iter().copied().cycle().take(n.max(2)).collect();
        let steps = tokens.clamp(1, 16);
        let opts = SessionOptions { n_ctx: long.len() + steps + 1, max_batch: 64, ..Default::default() };
        let mut kept = Session::new(backend(), l.model.clone(), l.tok.clone(), opts.clone())?;
        let mut plain = Session::new(backend(), l.model.clone(), l.tok.clone(), opts)?;
        kept.set_keep_map(true);
        let mm = block_on(kept.map_model())?;
        block_on(kept.prefill(&long))?;
        block_on(plain.prefill(&long))?;
        let first = Some(block_on(kept.map_at(0, &mm, None))?.first);
        let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        let mut time = |i: usize, t0: Instant| t[i].push(t0.elapsed().as_secs_f64() * 1e3);
        for _ in 0..steps {
            for (k, s) in [&mut kept, &mut plain].into_iter().enumerate() {
                let t0 = Instant::now();
                block_on(s.step())?;
                time(2 * k, t0);
                let t0 = Instant::now();
                let pos = s.tokens().len() - 1;
                block_on(s.map_at(pos, &mm, first.clone()))?;
                time(2 * k + 1, t0);
            }
        }
        let [a, b, c, d] = t.map(median);
        map_fig = Some((long.len(), a, b, c, d));
    }
    // Play ahead: greedy steps `k` at a time (one submission and one
    // readback each where the backend picks on the device), against single
    // steps in the same runs: tokens/s, readbacks and bytes per token.
    let mut play_fig = None;
    if let Some(k) = play {
        let k = k.max(1);
        let (mut ahead_t, mut single_t) = (Vec::new(), Vec::new());
        let mut per_token = None;
        for _ in 0..runs {
            block_on(s.prefill(&ids))?;
            let before = s.backend.readbacks();
            let t = Instant::now();
            let mut n = 0;
            while n < tokens.max(1) {
                n += block_on(s.steps_ahead(k.min(tokens.max(1) - n)))?.len();
            }
            ahead_t.push(n as f64 / t.elapsed().as_secs_f64());
            if let (Some((r0, b0)), Some((r1, b1))) = (before, s.backend.readbacks()) {
                per_token = Some(((r1 - r0) as f64 / n as f64, (b1 - b0) as f64 / n as f64));
            }
            block_on(s.prefill(&ids))?;
            let t = Instant::now();
            for _ in 0..tokens.max(1) {
                block_on(s.step())?;
            }
            single_t.push(tokens.max(1) as f64 / t.elapsed().as_secs_f64());
        }
        play_fig = Some((k, median(ahead_t), median(single_t), per_token));
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
    // Activation patching of the page's example: each grid whole, once.
    let mut patch_ms = Vec::new();
    if patch {
        let (clean, corrupt) = crate::patch::EXAMPLE;
        let (clean, corrupt) = (l.tok.encode_prompt(clean)?, l.tok.encode_prompt(corrupt)?);
        for site in [crate::patch::Site::Residual, crate::patch::Site::Heads, crate::patch::Site::Ffn] {
            let mut b = backend();
            let t = Instant::now();
            block_on(l.model.patch(&mut b, &clean, &corrupt, None, site))?;
            patch_ms.push((site, t.elapsed().as_secs_f64() * 1e3));
        }
    }
    if as_json {
        let kernels: Vec<_> = kernels.iter().map(|(k, ms, n)| json!({"kernel": k, "ms_per_token": ms / steps, "dispatches_per_token": *n as f64 / steps})).collect();
        let doc = json!({"backend": s.backend.name(), "threads": threads, "simd": crate::quant::simd_level(), "prompt_tokens": ids.len(),
            "decode_tokens": tokens, "runs": runs, "prefill_tok_s": p, "decode_tok_s": d,
            "dispatches_per_decode_step": dispatches, "decode_kernels": kernels, "prefill_submissions": prefill_submissions,
            "play_steps_per_call": play_fig.map(|f| f.0), "play_tok_s": play_fig.map(|f| f.1), "play_single_steps_tok_s": play_fig.map(|f| f.2),
            "readbacks_per_token_play": play_fig.and_then(|f| f.3).map(|r| r.0), "bytes_read_per_token_play": play_fig.and_then(|f| f.3).map(|r| r.1),
            "lens_ms_per_step": lens_ms.map(|l| l.0), "step_ms_with_lens": lens_ms.map(|l| l.1),
            "attribution_ms_per_step": why_ms.map(|w| w.0), "step_ms_with_attribution": why_ms.map(|w| w.1), "head_roles_ms": why_ms.map(|w| w.2),
            "flow_ms_per_step": why_ms.map(|w| w.3), "flow_grams_ms": why_ms.map(|w| w.4), "map_ms_per_step": why_ms.map(|w| w.5),
            "map_at": map_fig.map(|(n, sk, mk, sp, mp)| json!({"context": n, "step_ms_kept": sk, "map_ms_kept": mk, "step_ms_plain": sp, "map_ms_second_pass": mp})),
            "patch_ms": (!patch_ms.is_empty()).then(|| patch_ms.iter().map(|(s, ms)| (s.name().to_string(), json!(ms))).collect::<serde_json::Map<_, _>>()),
            "beams": beam_fig.map(|(w, n, tps, sps, bytes)| json!({"width": w, "steps": n, "tokens_per_s": tps, "steps_per_s": sps, "bytes_per_beam": bytes}))});
        writeln!(out, "{doc}").map_err(w)?;
    } else {
        writeln!(out, "backend {} · {threads} CPU threads · {} · prompt {} tokens · {tokens} decode steps · median of {runs} runs", s.backend.name(), crate::quant::simd_level(), ids.len()).map_err(w)?;
        writeln!(out, "prefill {p:8.1} tok/s").map_err(w)?;
        writeln!(out, "decode  {d:8.1} tok/s ({:.1} ms/token)", 1e3 / d).map_err(w)?;
        if let Some(n) = dispatches {
            writeln!(out, "dispatches per decode step: {n}").map_err(w)?;
        }
        if let Some(n) = prefill_submissions {
            writeln!(out, "submissions per prefill: {n} (each at most {:.1} GFLOP)", crate::model::forward::SUBMIT_FLOPS / 1e9).map_err(w)?;
        }
        if let Some((k, a, single, per_token)) = play_fig {
            write!(out, "play ahead, {k} steps a call: {a:.1} tok/s (single steps {single:.1} tok/s)").map_err(w)?;
            match per_token {
                Some((r, b)) => writeln!(out, "; {r:.3} readbacks and {b:.0} bytes read back per token").map_err(w)?,
                None => writeln!(out).map_err(w)?,
            }
        }
        if let Some((width, n, tps, sps, bytes)) = beam_fig {
            writeln!(out, "beam search, width {width}: {n} steps, {sps:.1} steps/s ({tps:.1} tokens/s over all beams), {:.1} MB of cache per beam (room for {} positions)", bytes as f64 / 1e6, ids.len() + tokens.max(1)).map_err(w)?;
        }
        if let Some((a, st, roles, flow, grams, map)) = why_ms {
            writeln!(out, "the map of the network (at the newest position): {map:.1} ms per step").map_err(w)?;
            writeln!(out, "why this token (attribution at the newest position): {a:.1} ms per step, beside {st:.1} ms for the step itself; head roles measured once in {roles:.0} ms").map_err(w)?;
            writeln!(out, "information flow into the last 40 positions: {flow:.1} ms per step (W_o's Gram matrices once: {grams:.0} ms)").map_err(w)?;
        }
        if let Some((n, sk, mk, sp, mp)) = map_fig {
            writeln!(out, "the map at the newest position, {n} tokens in context: kept by the step {mk:.2} ms (the step {sk:.1} ms with it kept, {sp:.1} ms without: {:+.2} ms); by a second pass {mp:.1} ms", sk - sp).map_err(w)?;
        }
        for (site, ms) in &patch_ms {
            writeln!(out, "activation patching, {} grid of the 10-token example: {:.2} s", site.name(), ms / 1e3).map_err(w)?;
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
        
    Ok(())
}
