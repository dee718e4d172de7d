// The page's CPU engine on 1 thread and on more, in headless Chromium
// (outside CI): the time from Step to the first token after a prompt of
// about 2,000 tokens (prefill and its attention over long rows), and the
// page's memory as the browser measures it (every worker included:
// performance.measureUserAgentSpecificMemory, which a cross-origin-isolated
// page may call), beside the engine's wasm memory from the HUD.
//
//   cargo build --release && scripts/build-web.sh && scripts/fetch-model.sh
//   node bench/page_threads.mjs [threads…]        (default: 1 and the cores)
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
const LONG = 3_600_000;
const PORT = 18400 + (process.pid % 90);
const server = spawn(path.join(root, 'target/release/glassbox'), ['serve', '--port', String(PORT), '--dir', path.join(root, 'www')], { cwd: root });
await new Promise(r => setTimeout(r, 1000));
const args = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
const para = 'The river runs past the old mill, and the miller counts the sacks of grain one by one before the winter comes. ';
const rows = [];
try {
  for (const t of THREADS) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await ctx.newPage();
    page.on('pageerror', e => console.error('page error:', e.message));
    await page.goto(`http://127.0.0.1:${PORT}/?backend=cpu&threads=${t}`);
    await page.waitForFunction(() => document.querySelector('[role=status] .badge'), null, { timeout: LONG });
    await page.fill('#prompt', para.repeat(80));
    const t0 = await page.evaluate(() => { document.querySelector('#step').click(); return performance.now(); });
    const t1 = await page.evaluate(() => new Promise(r => { const f = () => document.querySelectorAll('.tok.gen').length >= 1 ? r(performance.now()) : requestAnimationFrame(f); f(); }));
    const n = await page.evaluate(() => document.querySelectorAll('.tok').length - 1);
    await page.waitForFunction(() => !document.querySelector('#step').disabled && /caches \d+ MB/.test(document.querySelector('#hud-memory').textContent), null, { timeout: LONG });
    await page.waitForTimeout(1500);
    const mem = await page.evaluate(async () => {
      const m = await performance.measureUserAgentSpecificMemory();
      const workers = m.breakdown.filter(b => b.attribution.some(a => a.scope === 'DedicatedWorkerGlobalScope')).length;
      return { bytes: m.bytes, workers };
    });
    rows.push({ t, hud: (await page.textContent('#hud-threads')).trim(), n, first: (t1 - t0) / 1e3, prefill: await page.textContent('#hud-prefill'), wasm: await page.textContent('#hud-memory'), mem });
    console.error(rows.at(-1));
    await ctx.close();
  }
} finally {
  await browser.close();
  server.kill();
}
console.log(`\nprompt of ${rows[0].n} tokens, CPU engine, ${os.cpus().length} cores, Chromium ${browser.version()} headless\n`);
console.log('| threads | Step → first token | prefill (HUD) | engine memory (HUD) | page memory (browser, all workers) |');
console.log('|--:|--:|--:|--|--:|');
for (const r of rows) console.log(`| ${r.hud} | ${r.first.toFixed(1)} s | ${r.prefill} | ${r.wasm} | ${(r.mem.bytes / 1e6).toFixed(0)} MB (${r.mem.workers} workers) |`);
