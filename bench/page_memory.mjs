// The page at long contexts, in headless Chromium (outside CI: minutes on
// the CPU fallback). For prompts of about 500, 2,000 and 8,150 tokens it
// prints the engine's memory (the worker's wasm memory, GPU buffers, the
// attention caches, as the HUD shows them) and the page's JS heap, then
// steps to the model's 8,192-token limit and checks the message there, and
// that a longer prompt is refused with its length.
//
//   cargo build --release && scripts/build-web.sh && scripts/fetch-model.sh
//   node bench/page_memory.mjs [cpu|webgpu]
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(path.join(root, 'tests/e2e/package.json'))('playwright-core');
const backend = process.argv[2] || 'cpu';
const PORT = 18500 + (process.pid % 400);
const LONG = 3_600_000;

const server = spawn(path.join(root, 'target/release/glassbox'), ['serve', '--port', String(PORT), '--dir', path.join(root, 'www')], { cwd: root });
await new Promise(r => setTimeout(r, 1000));
const args = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-precise-memory-info'];
if (backend === 'webgpu') args.push('--enable-unsafe-webgpu');
const ctx = await chromium.launchPersistentContext(fs.mkdtempSync('/tmp/glassbox-mem-'), { executablePath: '/usr/bin/chromium', headless: true, args, viewport: { width: 1280, height: 1000 } });
const page = ctx.pages()[0] || await ctx.newPage();
page.on('pageerror', e => console.error('page error:', e.message));
try {
  await page.goto(`http://127.0.0.1:${PORT}/${backend === 'cpu' ? '?backend=cpu' : ''}`);
  await page.waitForFunction(() => document.querySelector('[role=status] .badge'), null, { timeout: LONG });
  console.log('backend:', (await page.textContent('[role=status] .badge')).trim());
  const para = 'The river runs past the old mill, and the miller counts the sacks of grain one by one before the winter comes. ';
  const count = () => page.evaluate(() => document.querySelectorAll('.tok').length);
  const report = async () => {
    const n = await count();
    await page.waitForFunction(n => document.querySelector('#hud-ctx').textContent.startsWith(n + ' ') && /caches \d+ MB/.test(document.querySelector('#hud-memory').textContent), n, { timeout: LONG });
    await page.waitForTimeout(1500);
    const heap = await page.evaluate(() => performance.memory.usedJSHeapSize);
    console.log(`${n} tokens: ${await page.textContent('#hud-memory')} · page JS heap ${(heap / 1e6).toFixed(0)} MB · engine step ${await page.textContent('#hud-engine')} · page overhead ${await page.textContent('#hud-overhead')}`);
  };
  for (const reps of [19, 77, 313]) {
    if (await count()) {
      await page.click('#reset');
      await page.waitForFunction(() => document.querySelectorAll('.tok').length === 0 && !document.querySelector('#step').disabled, null, { timeout: LONG });
    }
    await page.fill('#prompt', para.repeat(reps));
    const t0 = Date.now();
    await page.click('#step');
    await page.waitForFunction(() => document.querySelectorAll('.tok.gen').length === 1 && !document.querySelector('#step').disabled, null, { timeout: LONG });
    console.log(`prompt of ${(await count()) - 1} tokens: first token shown after ${((Date.now() - t0) / 1e3).toFixed(1)} s`);
    for (let i = 0; i < 3; i++) {
      const n = await count();
      await page.click('#step');
      await page.waitForFunction(n => Number(document.querySelector('#hud-e2e').dataset.len) === n + 1, n, { timeout: LONG });
    }
    await report();
  }
  // To the limit: Play until the page stops at the context's end.
  await page.fill('input[aria-label="Max tokens"]', '8192');
  await page.press('input[aria-label="Max tokens"]', 'Tab');
  await page.click('#play');
  await page.waitForFunction(() => /context is full/.test(document.querySelector('#finished')?.textContent || ''), null, { timeout: LONG });
  console.log(`at the limit (${await count()} tokens): "${(await page.textContent('#finished')).trim()}"`);
  await report();
  // A prompt longer than the context.
  await page.click('#reset');
  await page.waitForFunction(() => document.querySelectorAll('.tok').length === 0 && !document.querySelector('#step').disabled, null, { timeout: LONG });
  await page.fill('#prompt', para.repeat(330));
  await page.click('#step');
  await page.waitForSelector('.error', { timeout: LONG });
  console.log(`a longer prompt: "${(await page.textContent('.error')).replace('Dismiss', '').trim()}"`);
} finally {
  await ctx.close();
  server.kill();
}
