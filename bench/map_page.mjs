// What the map of the whole network costs the page per step at about 2,000
// tokens, in headless Chromium on the CPU fallback (outside CI: minutes).
// It prefills a ~2,000-token prompt, then steps in blocks with the map shown
// and hidden, interleaved (shown, hidden, shown, hidden), and prints for
// each the median of the HUD's figures per step: the engine's step, and the
// page's share (click → painted − engine, "overhead" in the HUD), with the
// other default views open as a visitor has them. The difference of the
// two overheads is what the map adds; beside them, the wall clock from the
// click until the step's map (or, hidden, the step) is drawn.
//
//   cargo build --release && scripts/build-web.sh && scripts/fetch-model.sh
//   node bench/map_page.mjs [steps per block, default 8]
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(path.join(root, 'tests/e2e/package.json'))('playwright-core');
const STEPS = Number(process.argv[2]) || 8;
const PORT = 18900 + (process.pid % 400);
const LONG = 3_600_000;

const server = spawn(path.join(root, 'target/release/glassbox'), ['serve', '--port', String(PORT), '--dir', path.join(root, 'www')], { cwd: root });
await new Promise(r => setTimeout(r, 1000));
const profile = fs.mkdtempSync('/tmp/glassbox-mapbench-');
const ctx = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--no-first-run', '--disable-background-networking'], viewport: { width: 1280, height: 1000 } });
const page = ctx.pages()[0] || await ctx.newPage();
page.on('pageerror', e => console.error('page error:', e.message));
const ms = t => Number(String(t).replace(/[^\d.]/g, ''));
const median = v => [...v].sort((a, b) => a - b)[v.length >> 1];
try {
  await page.goto(`http://127.0.0.1:${PORT}/?backend=cpu&ctx=4096`);
  await page.waitForFunction(() => document.querySelector('[role=status] .badge'), null, { timeout: LONG });
  console.log('backend:', (await page.textContent('[role=status] .badge')).trim(), '·', (await page.textContent('#hud-threads').catch(() => '')).trim());
  const para = 'The river runs past the old mill, and the miller counts the sacks of grain one by one before the winter comes. ';
  await page.fill('#prompt', para.repeat(77));
  const t0 = Date.now();
  await page.click('#step');
  await page.waitForFunction(() => document.querySelectorAll('.tok.gen').length === 1 && !document.querySelector('#step').disabled, null, { timeout: LONG });
  const count = () => page.evaluate(() => document.querySelectorAll('.tok').length);
  console.log(`prompt of ${(await count()) - 1} tokens: first token after ${((Date.now() - t0) / 1e3).toFixed(1)} s`);
  const figures = { shown: { engine: [], overhead: [], wall: [] }, hidden: { engine: [], overhead: [], wall: [] } };
  const worker = [];
  const block = async shown => {
    const hidden = await page.evaluate(() => document.querySelector('#map')?.dataset.hidden === 'true');
    if (hidden === shown) await page.click('#map-hide');
    if (shown) await page.waitForSelector('#map-svg', { timeout: LONG });
    for (let i = 0; i < STEPS; i++) {
      const n = await count();
      const c0 = Date.now();
      await page.click('#step');
      await page.waitForFunction(n => Number(document.querySelector('#hud-e2e').dataset.len) === n + 1 && !document.querySelector('#step').disabled, n, { timeout: LONG });
      // The map of the new position drawn (when shown), then the HUD's figures of this step.
      if (shown) await page.waitForSelector(`#map[data-pos="${n}"]`, { timeout: LONG });
      const wall = Date.now() - c0;
      const e2e = ms(await page.textContent('#hud-e2e')), engine = ms(await page.textContent('#hud-engine'));
      if (i > 0) { // the first step of a block pays for the switch
        figures[shown ? 'shown' : 'hidden'].engine.push(engine);
        figures[shown ? 'shown' : 'hidden'].overhead.push(e2e - engine);
        figures[shown ? 'shown' : 'hidden'].wall.push(wall);
        if (shown) worker.push(Number(await page.getAttribute('#map', 'data-ms')));
      }
    }
  };
  for (let round = 0; round < 2; round++) {
    await block(true);
    await block(false);
  }
  const n = await count();
  for (const k of ['shown', 'hidden']) {
    const f = figures[k];
    console.log(`map ${k.padEnd(6)}: engine step ${median(f.engine).toFixed(1)} ms, page's share ${median(f.overhead).toFixed(1)} ms; click → ${k === 'shown' ? 'map' : 'heatmap'} drawn ${median(f.wall).toFixed(0)} ms (the test's own clock; median of ${f.overhead.length} steps)`);
  }
  console.log(`the worker's time for the map at the newest position: median ${median(worker).toFixed(2)} ms (kept by the step: a readback)`);
  console.log(`at ${n} tokens the map adds ${(median(figures.shown.overhead) - median(figures.hidden.overhead)).toFixed(1)} ms to the page's share of a step, ${(median(figures.shown.engine) - median(figures.hidden.engine)).toFixed(1)} ms to the engine's`);
} finally {
  await ctx.close();
  server.kill();
  fs.rmSync(profile, { recursive: true, force: true });
}
