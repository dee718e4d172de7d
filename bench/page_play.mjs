// Where a Play step's time goes in the page (CPU engine, outside CI): the
// 84-token bench prompt, Step, then Play for a fixed number of tokens while
// Chromium records a trace. It prints, per generated token: the wall clock,
// the engine's forward pass (the HUD), how long the page's main thread was
// busy and on what (script, style and layout, paint), and how long the
// engine worker waited between two steps for the page. On 2 cores the main
// thread's work competes with the engine's threads for the CPU.
//
//   cargo build --release && scripts/build-web.sh && scripts/fetch-model.sh
//   node bench/page_play.mjs [threads…]        (default: 1 and the cores)
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(path.join(root, 'tests/e2e/package.json'))('playwright-core');
const counts = process.argv.slice(2).map(Number).filter(n => n > 0);
const THREADS = counts.length ? counts : [...new Set([1, os.cpus().length])];
const TOKENS = Number(process.env.TOKENS || 48);
const LONG = 1_800_000;
const PORT = 18500 + (process.pid % 90);
const src = fs.readFileSync(path.join(root, 'src/cli/bench.rs'), 'utf8');
const PROMPT = src.match(/BENCH_PROMPT: &str = "([\s\S]*?)";/)[1].replace(/\\\n/g, '');
const server = spawn(path.join(root, 'target/release/glassbox'), ['serve', '--port', String(PORT), '--dir', path.join(root, 'www')], { cwd: root });
await new Promise(r => setTimeout(r, 1000));
const args = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });

// Top-level tasks of a thread, by what they did (trace event names).
const KINDS = {
  style: ['UpdateLayoutTree', 'RecalculateStyles', 'Layout', 'UpdateLayerTree', 'PrePaint', 'Layerize'],
  paint: ['Paint', 'PaintImage', 'CompositeLayers', 'Commit', 'RasterTask', 'Decode Image'],
};
function summarize(trace) {
  const ev = JSON.parse(trace).traceEvents;
  const names = new Map();
  for (const e of ev) if (e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args.name);
  const main = [...names].filter(([, n]) => n === 'CrRendererMain').map(([k]) => k);
  const byThread = new Map();
  for (const e of ev) {
    if (e.ph !== 'X' || !e.dur) continue;
    const k = `${e.pid}:${e.tid}`;
    if (!byThread.has(k)) byThread.set(k, []);
    byThread.get(k).push(e);
  }
  // The page's main thread: the one with the most busy time among renderer mains.
  const busy = k => (byThread.get(k) || []).filter(e => e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask').reduce((s, e) => s + e.dur, 0);
  const k = main.sort((a, b) => busy(b) - busy(a))[0];
  const evs = byThread.get(k) || [];
  const sum = names => evs.filter(e => names.includes(e.name)).reduce((s, e) => s + e.dur, 0) / 1e3;
  if (process.env.THREADS_BUSY) {
    for (const [tk, list] of byThread) {
      const b = list.filter(e => e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask').reduce((s, e) => s + e.dur, 0);
      const top = list.filter(e => e.name !== 'ThreadControllerImpl::RunTask' && e.name !== 'RunTask').reduce((m, e) => m.set(e.name, (m.get(e.name) || 0) + e.dur), new Map());
      const t3 = [...top].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([n, d]) => `${n} ${(d / 1e3 / TOKENS).toFixed(1)}`).join(', ');
      if (b > 1e4) console.log(`  ${names.get(tk) || tk}: busy ${(b / 1e3 / TOKENS).toFixed(1)} ms/token (${t3})`);
    }
  }
  if (process.env.TIMELINE) {
    // One stretch of Play: each thread's tasks over 1 ms, in time order.
    const all = [];
    for (const [tk, list] of byThread) {
      const n = names.get(tk) || tk;
      if (!/CrRendererMain|DedicatedWorker/.test(n)) continue;
      for (const e of list) if ((e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask') && e.dur > 500) {
        const inner = list.filter(c => c !== e && c.ts >= e.ts && c.ts + c.dur <= e.ts + e.dur && c.dur > 300 && !/RunTask|v8\.|FunctionCall/.test(c.name)).map(c => `${c.name} ${(c.dur / 1e3).toFixed(1)}`).slice(0, 5).join(', ');
        all.push([e.ts, `${n.slice(0, 14).padEnd(14)} ${(e.dur / 1e3).toFixed(1).padStart(6)} ms  ${inner}`]);
      }
    }
    all.sort((a, b) => a[0] - b[0]);
    const mid = process.env.TIMELINE_FROM ? Number(process.env.TIMELINE_FROM) : Math.floor(all.length / 2), t0 = all[mid][0];
    for (const [ts, line] of all.slice(mid, mid + Number(process.env.TIMELINE))) console.log(`  +${((ts - t0) / 1e3).toFixed(1).padStart(7)}  ${line}`);
    if (process.env.WORKER_ALL) {
      const span = all.slice(mid, mid + Number(process.env.TIMELINE));
      const t1 = span[span.length - 1][0];
      for (const [tk, list] of byThread) {
        if (!/DedicatedWorker/.test(names.get(tk) || '')) continue;
        for (const e of list.filter(e => e.ts >= t0 && e.ts <= t1 && !/RunTask/.test(e.name)).sort((a, b) => a.ts - b.ts))
          console.log(`    w ${tk.split(':')[1]} +${((e.ts - t0) / 1e3).toFixed(1).padStart(7)} ${(e.dur / 1e3).toFixed(2).padStart(6)} ms ${e.name}`);
      }
    }
  }
  if (process.env.EVENTS) {
    const by = new Map();
    for (const e of evs) { const b = by.get(e.name) || [0, 0]; b[0] += e.dur; b[1]++; by.set(e.name, b); }
    for (const [n, [d, c]] of [...by].sort((a, b) => b[1][0] - a[1][0]).slice(0, Number(process.env.EVENTS))) console.log(`  ${(d / 1e3 / TOKENS).toFixed(2).padStart(7)} ms/token ${String(c).padStart(6)}×  ${n}`);
  }
  // (Script events nest; the rest of the busy time is script and messages.)
  const style = sum(KINDS.style), paint = sum(KINDS.paint);
  return { busy: busy(k) / 1e3, script: busy(k) / 1e3 - style - paint, style, paint };
}

try {
  for (const t of THREADS) {
    const ctx = await browser.newContext({ viewport: { width: Number(process.env.VW || 1280), height: Number(process.env.VH || 1000) } });
    const page = await ctx.newPage();
    page.on('pageerror', e => console.error('page error:', e.message));
    const ts = [];
    if (process.env.TS) page.on('console', m => { const x = m.text(); if (x.startsWith('TS ')) ts.push(x); });
    await page.goto(`http://127.0.0.1:${PORT}/?backend=cpu&threads=${t}&test-hooks${process.env.URLX || ""}`);
    await page.waitForFunction(() => document.querySelector('[role=status] .badge'), null, { timeout: LONG });
    await page.fill('#prompt', PROMPT);
    await page.click('#step');
    await page.waitForFunction(() => document.querySelectorAll('.tok.gen').length >= 1 && !document.querySelector('#step').disabled, null, { timeout: LONG });
    if (process.env.HIDE) for (const sel of process.env.HIDE.split(',')) await page.click(sel);
    if (process.env.SETTLE) await page.waitForTimeout(Number(process.env.SETTLE));
    const start = await page.evaluate(() => document.querySelectorAll('.tok.gen').length);
    const asked0 = await page.evaluate(() => window.glassboxTest.asked());
    const tracing = !process.env.NO_TRACE && !process.env.PROFILE;
    let cdp;
    if (process.env.PROFILE) {
      cdp = await page.context().newCDPSession(page);
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    if (tracing) await browser.startTracing(page, { categories: ['devtools.timeline', 'toplevel', 'v8'] });
    const t0 = await page.evaluate(() => { document.querySelector('#play').click(); return performance.now(); });
    // Each token's arrival (a frame's resolution): the first one apart,
    // since Play's first step can wait on what the page asked before it.
    const [t1, firstAt] = await page.evaluate(([n, s0]) => new Promise(resolve => {
      let first = null;
      const tick = () => {
        const k = document.querySelectorAll('.tok.gen').length;
        if (first === null && k > s0) first = performance.now();
        k >= n ? resolve([performance.now(), first]) : requestAnimationFrame(tick);
      };
      tick();
    }), [start + TOKENS, start]);
    if (cdp) {
      const { profile } = await cdp.send('Profiler.stop');
      // Self time by function (the main thread only: the page's target).
      const self = new Map();
      const byId = new Map(profile.nodes.map(n => [n.id, n]));
      const dt = new Map();
      profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) || 0) + (profile.timeDeltas[i] || 0)));
      for (const [id, us] of dt) {
        const f = byId.get(id).callFrame;
        const name = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}`;
        self.set(name, (self.get(name) || 0) + us);
      }
      // Inclusive time by function (each name once per sample's stack).
      const parent = new Map();
      for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
      const incl = new Map();
      profile.samples.forEach((id, i) => {
        const seen = new Set();
        for (let n = id; n !== undefined; n = parent.get(n)) {
          const f = byId.get(n).callFrame;
          let name = f.functionName || '(anon)';
          name = name.replace(/\[[0-9a-f]{16}\]/g, '');
          if (!seen.has(name)) { seen.add(name); incl.set(name, (incl.get(name) || 0) + (profile.timeDeltas[i] || 0)); }
        }
      });
      if (process.env.INCL) {
        const re = new RegExp(process.env.INCL);
        for (const [n, us] of [...incl].filter(([n]) => re.test(n)).sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(us / 1e3 / TOKENS).toFixed(2).padStart(7)} ms/token incl  ${n.slice(0, 160)}`);
      }
      const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.PROFILE) || 30);
      for (const [n, us] of top) console.log(`${(us / 1e3 / TOKENS).toFixed(2).padStart(7)} ms/token  ${n}`);
    }
    const trace = tracing ? (await browser.stopTracing()).toString() : '{"traceEvents":[]}';
    const asked1 = await page.evaluate(() => window.glassboxTest.asked());
    const asks = Object.keys(asked1).map(k => `${k} ${((asked1[k] - (asked0[k] || 0)) / TOKENS).toFixed(2)}`).join(', ');
    await page.click('#play');
    await page.waitForFunction(() => document.querySelector('#play').textContent === 'Play' && !document.querySelector('#step').disabled, null, { timeout: LONG });
    const decode = parseFloat(await page.textContent('#hud-decode'));
    const threads = (await page.textContent('#hud-threads')).trim();
    const wall = (t1 - t0) / TOKENS;
    const s = summarize(trace);
    const per = v => (v / TOKENS).toFixed(1);
    console.log(`${t} thread(s) (HUD: ${threads}): ${TOKENS} tokens, wall ${wall.toFixed(1)} ms/token (${(1e3 / wall).toFixed(1)} tok/s; first token ${(firstAt - t0).toFixed(0)} ms, then ${((t1 - firstAt) / (TOKENS - 1)).toFixed(1)} ms/token) · engine ${(1e3 / decode).toFixed(1)} ms (${decode} tok/s) · main thread busy ${per(s.busy)} ms/token: script and messages ${per(s.script)}, style+layout ${per(s.style)}, paint ${per(s.paint)}; questions per token: ${asks}`);
    if (ts.length) {
      const rows = ts.slice(-60).map(x => { const m = x.match(/^TS (.*) at ([\d.]+)$/); return [parseFloat(m[2]), m[1]]; });
      const t0 = rows[0][0];
      for (const [t, w] of rows) console.log(`  ${(t - t0).toFixed(1).padStart(8)}  ${w}`);
    }
    await ctx.close();
  }
} finally {
  await browser.close();
  server.kill();
}
