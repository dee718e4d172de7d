// Glassbox's CPU engine in the page beside wllama 3.x (llama.cpp in wasm,
// with threads), on the same GGUF in the same headless Chromium, the same
// prompt (the 84-token `glassbox bench` prompt) and 64 greedy tokens, on 1,
// 2 and the machine's threads, interleaved (Glassbox, wllama, Glassbox, …;
// two rounds, each engine's better round kept). Outside CI, like
// bench/llama_bench.sh.
//
// For Glassbox it measures what a user sees: the real page with its default
// views open, the prompt typed, Step (prefill and the first token), then
// Play until 64 tokens are on the page: wall-clock tokens/s from the Play
// click to the 64th token, beside the engine's own prefill and decode
// figures from the HUD. For wllama: createCompletion's own timings, and the
// wall clock around it. Both pages are served with the isolation headers
// (COOP/COEP), so both get shared memory and threads.
//
//   cargo build --release && scripts/build-web.sh && scripts/fetch-model.sh
//   (cd bench/peers && npm install)      # wllama, only in the bench's folder
//   node bench/browser_peers.mjs [threads…]      (default: 1 2 and the cores)
import { createRequire } from 'node:module';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(path.join(root, 'tests/e2e/package.json'))('playwright-core');
const wllamaDir = path.join(root, 'bench/peers/node_modules/@wllama/wllama');
const model = process.env.GLASSBOX_MODEL || path.join(root, 'assets/models/SmolLM2-135M-Instruct.Q4_1.gguf');
for (const [p, fix] of [[path.join(root, 'www/pkg-mt/glassbox_bg.wasm'), 'scripts/build-web.sh'], [wllamaDir, '(cd bench/peers && npm install)'], [model, 'scripts/fetch-model.sh']]) {
  if (!fs.existsSync(p)) { console.error(`missing ${p}: ${fix}`); process.exit(1); }
}
const wllamaVersion = JSON.parse(fs.readFileSync(path.join(wllamaDir, 'package.json'), 'utf8')).version;
const cores = os.cpus().length;
const counts = process.argv.slice(2).map(Number).filter(n => n > 0);
const THREADS = counts.length ? counts : [...new Set([1, 2, cores])];
const TOKENS = 64;
const LONG = 1_800_000;
// src/cli/bench.rs BENCH_PROMPT: 84 tokens with BOS.
const src = fs.readFileSync(path.join(root, 'src/cli/bench.rs'), 'utf8');
const PROMPT = src.match(/BENCH_PROMPT: &str = "([\s\S]*?)";/)[1].replace(/\\\n/g, '');

// One origin, isolation headers on everything: the page (www/), the model,
// wllama's files and its little runner page.
const RUNNER = `<!doctype html><meta charset="utf-8"><script type="module">
import { Wllama } from './wllama/esm/index.js';
window.runWllama = async (threads, prompt, tokens) => {
  const w = new Wllama({ default: './wllama/esm/wasm/wllama.wasm' }, { suppressNativeLog: !window.WLLAMA_LOG });
  await w.loadModelFromUrl(new URL('/model.gguf', location.href).href, { n_threads: threads, n_ctx: 512, n_gpu_layers: 0, useCache: false });
  const t0 = performance.now();
  const r = await w.createCompletion({ prompt, max_tokens: tokens, temp: 0, top_k: 1, ignore_eos: true, timings_per_token: false });
  const wall = performance.now() - t0;
  const t = r.timings || {};
  const out = { threads: w.getNumThreads(), multithread: w.isMultithread(), prompt_n: t.prompt_n, prompt_ms: t.prompt_ms, predicted_n: t.predicted_n, predicted_ms: t.predicted_ms, wall, text: r.choices?.[0]?.text };
  await w.exit();
  return out;
};
window.ready = true;
</script>`;
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json', '.ftl': 'text/plain; charset=utf-8' };
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store' };
  let file;
  if (url.pathname === '/model.gguf') file = model;
  else if (url.pathname === '/peers/run.html') { res.writeHead(200, { ...headers, 'Content-Type': types['.html'] }); return res.end(RUNNER); }
  else if (url.pathname.startsWith('/peers/wllama/')) file = path.join(wllamaDir, decodeURIComponent(url.pathname.slice('/peers/wllama/'.length)));
  else file = path.join(root, 'www', decodeURIComponent(url.pathname === '/' ? 'index.html' : url.pathname.slice(1)));
  if (!file.startsWith(root) && file !== model) { res.writeHead(400, headers); return res.end(); }
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) { res.writeHead(404, headers); return res.end('not found'); }
    res.writeHead(200, { ...headers, 'Content-Type': types[path.extname(file)] || 'application/octet-stream', 'Content-Length': st.size });
    fs.createReadStream(file).pipe(res);
  });
});
await new Promise(r => server.listen(0, '127.0.0.1', r));
const BASE = `http://127.0.0.1:${server.address().port}`;

const args = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });

async function glassbox(threads) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await ctx.newPage();
  page.on('pageerror', e => console.error('page error:', e.message));
  try {
    await page.goto(`${BASE}/?backend=cpu&threads=${threads}`);
    await page.waitForFunction(() => document.querySelector('[role=status] .badge'), null, { timeout: LONG });
    const hudThreads = (await page.textContent('#hud-threads')).trim();
    await page.fill('#prompt', PROMPT);
    const count = () => page.evaluate(() => document.querySelectorAll('.tok.gen').length);
    await page.click('#step');
    await page.waitForFunction(() => document.querySelectorAll('.tok.gen').length >= 1 && !document.querySelector('#step').disabled, null, { timeout: LONG });
    const promptN = await page.evaluate(() => document.querySelectorAll('.tok').length - 1);
    const prefill = parseFloat(await page.textContent('#hud-prefill'));
    // Play until TOKENS generated tokens are on the page.
    const start = await count();
    const t0 = await page.evaluate(() => { document.querySelector('#play').click(); return performance.now(); });
    const t1 = await page.evaluate(([n]) => new Promise(resolve => {
      const tick = () => document.querySelectorAll('.tok.gen').length >= n ? resolve(performance.now()) : requestAnimationFrame(tick);
      tick();
    }), [TOKENS]);
    await page.click('#play');
    await page.waitForFunction(() => document.querySelector('#play').textContent === 'Play' && !document.querySelector('#step').disabled, null, { timeout: LONG });
    const decode = parseFloat(await page.textContent('#hud-decode'));
    const play = parseFloat(await page.textContent('#hud-play'));
    return { hudThreads, promptN, prefill, engineDecode: decode, hudPlay: play, wall: (TOKENS - start) / ((t1 - t0) / 1e3) };
  } finally {
    await ctx.close();
  }
}

async function wllama(threads) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', e => console.error('wllama page error:', e.message));
  // WLLAMA_LOG=1: llama.cpp's own log lines (which build, threads, SIMD).
  if (process.env.WLLAMA_LOG) {
    page.on('console', m => console.error('wllama:', m.text()));
    await page.addInitScript(() => { window.WLLAMA_LOG = true; });
  }
  try {
    await page.goto(`${BASE}/peers/run.html`);
    await page.waitForFunction(() => window.ready, null, { timeout: LONG });
    const r = await page.evaluate(([t, p, n]) => window.runWllama(t, p, n), [threads, PROMPT, TOKENS]);
    const decode = r.predicted_n / (r.predicted_ms / 1e3);
    return { hudThreads: `${r.threads}${r.multithread ? '' : ' (single-thread build)'}`, promptN: r.prompt_n, prefill: r.prompt_n / (r.prompt_ms / 1e3), engineDecode: decode, wall: r.predicted_n / ((r.wall - r.prompt_ms) / 1e3) };
  } finally {
    await ctx.close();
  }
}

const chrome = `Chromium ${browser.version()}`;
const best = {};
const keep = (k, r) => {
  const b = best[k];
  best[k] = b ? { ...r, prefill: Math.max(b.prefill, r.prefill), engineDecode: Math.max(b.engineDecode, r.engineDecode), wall: Math.max(b.wall, r.wall) } : r;
};
const fmt = v => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(1));
try {
  for (const round of [1, 2]) {
    for (const t of THREADS) {
      const g = await glassbox(t);
      console.error(`round ${round}, ${t} threads: glassbox prefill ${fmt(g.prefill)} · engine decode ${fmt(g.engineDecode)} · Play wall ${fmt(g.wall)} tok/s (HUD threads ${g.hudThreads}, prompt ${g.promptN})`);
      keep(`g${t}`, g);
      const w = await wllama(t);
      console.error(`round ${round}, ${t} threads: wllama   prefill ${fmt(w.prefill)} · decode ${fmt(w.engineDecode)} · wall ${fmt(w.wall)} tok/s (threads ${w.hudThreads}, prompt ${w.promptN})`);
      keep(`w${t}`, w);
    }
  }
} finally {
  await browser.close();
  server.close();
}
console.log(`\n${path.basename(model)} · prompt ${best[`g${THREADS[0]}`].promptN} tokens (wllama counts ${best[`w${THREADS[0]}`].promptN}) · ${TOKENS} greedy tokens · ${chrome} headless, no WebGPU · ${cores} cores · wllama ${wllamaVersion} · best of 2 interleaved rounds`);
console.log('Glassbox: the page with its default views; decode (wall) = tokens/s from the Play click to the 64th token on the page; engine = the forward pass alone (HUD).');
console.log('wllama: createCompletion timings (engine) and the wall clock around it.\n');
console.log('| threads | Glassbox prefill | wllama prefill | ratio | Glassbox decode (wall) | Glassbox decode (engine) | wllama decode (wall) | wllama decode (engine) | ratio (wall) |');
console.log('|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
for (const t of THREADS) {
  const g = best[`g${t}`], w = best[`w${t}`];
  console.log(`| ${t} | ${fmt(g.prefill)} | ${fmt(w.prefill)} | ${(g.prefill / w.prefill).toFixed(2)} | ${fmt(g.wall)} | ${fmt(g.engineDecode)} | ${fmt(w.wall)} | ${fmt(w.engineDecode)} | ${(g.wall / w.wall).toFixed(2)} |`);
}
