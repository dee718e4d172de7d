// The page in a real browser (Debian Chromium, headless, driven by
// playwright-core): it loads the model, steps on WebGPU and on the CPU
// fallback to llama.cpp's tokens, forces a candidate, undoes, draws the
// attention views, and loads the model from the browser cache the second time.
// Needs: cargo build --release, scripts/build-web.sh, scripts/fetch-model.sh.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const artifacts = path.join(root, 'tests/e2e/artifacts');
fs.mkdirSync(artifacts, { recursive: true });
const PORT = 18000 + (process.pid % 1000);
const URL_ = `http://127.0.0.1:${PORT}/`;
const greedy = JSON.parse(fs.readFileSync(path.join(root, 'tests/fixtures/greedy.json'), 'utf8'));
const fixture = greedy.cases.find(c => c.name === 'capital');
const STEPS = 5;
const LONG = 300_000;

let server;
let serverLog = '';
before(async () => {
  const bin = path.join(root, 'target/release/glassbox');
  assert.ok(fs.existsSync(bin), 'build the CLI first: cargo build --release');
  assert.ok(fs.existsSync(path.join(root, 'www/pkg/glassbox_bg.wasm')), 'build the page first: scripts/build-web.sh');
  server = spawn(bin, ['serve', '--port', String(PORT), '--log', '--dir', path.join(root, 'www')], { cwd: root });
  server.stdout.on('data', d => { serverLog += d; });
  server.stderr.on('data', d => process.stderr.write(d));
  for (let i = 0; i < 100 && !serverLog.includes('Glassbox is at'); i++) await new Promise(r => setTimeout(r, 100));
  assert.ok(serverLog.includes('Glassbox is at'), 'glassbox serve did not start');
});
after(() => server?.kill());

const modelRequests = () => serverLog.split('\n').filter(l => l.startsWith('GET /model.gguf')).length;

async function launch(userDataDir, webgpu) {
  const args = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const ctx = await chromium.launchPersistentContext(userDataDir, { executablePath: '/usr/bin/chromium', headless: true, args, viewport: { width: 1280, height: 1000 } });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', e => console.error('page error:', e.message));
  page.on('console', m => { if (m.type() === 'error') console.error('console:', m.text()); });
  return { ctx, page };
}

async function waitReady(page) {
  await page.goto(URL_);
  await page.waitForFunction(() => {
    const s = document.querySelector('[role=status]');
    return s && (s.querySelector('.badge') || /Could not load/.test(s.textContent));
  }, null, { timeout: LONG });
  return (await page.textContent('[role=status]')).trim();
}

const genIds = page => page.evaluate(() => [...document.querySelectorAll('.tok.gen, .tok.forced')].map(e => Number(e.dataset.id)));
const allIds = page => page.evaluate(() => [...document.querySelectorAll('.tok')].map(e => Number(e.dataset.id)));

async function stepOnce(page) {
  const n = (await allIds(page)).length;
  await page.click('#step');
  await page.waitForFunction(n => document.querySelectorAll('.tok').length > n && !document.querySelector('#step').disabled
    && document.querySelectorAll('.tok.gen, .tok.forced').length > 0, n, { timeout: LONG });
}

async function greedySteps(page) {
  await page.fill('#prompt', fixture.prompt);
  for (let i = 0; i < STEPS; i++) await stepOnce(page);
  const prompt = (await allIds(page)).slice(0, fixture.prompt_ids.length);
  assert.deepEqual(prompt, fixture.prompt_ids, 'prompt tokens equal llama.cpp');
  assert.deepEqual(await genIds(page), fixture.ids.slice(0, STEPS), 'greedy tokens equal llama.cpp');
}

// Non-background pixels of a canvas (white, and the light grey of masked
// cells, are background), from x0, y0 (the heatmap's plot starts after its
// label margin: 68 of 580 pixels).
const inkedPixels = (page, sel, from = 0) => page.evaluate(([sel, from]) => {
  const c = document.querySelector(sel);
  const x0 = Math.round(c.width * from), y0 = Math.round(c.height * from);
  const d = c.getContext('2d').getImageData(x0, y0, c.width - x0, c.height - y0).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] < 235 || d[i + 1] < 235) n++;
  return n;
}, [sel, from]);
const PLOT_FROM = 70 / 580;

// Wait until the step that made the sequence `n` tokens long has been drawn
// (the HUD's click → painted time is for it).
const painted = (page, n) => page.waitForFunction(n => Number(document.querySelector('#hud-e2e')?.dataset.len) === n, n, { timeout: LONG });
const ms = text => Number((text.match(/([\d.]+) ms/) || [])[1]);

// Every browser profile and site folder a test makes is removed when the test
// ends (a profile holds the cached model and compiled code: 300-700 MB each,
// enough to fill a CI disk over the whole file), and at exit.
const made = [];
const dir = () => {
  const d = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'glassbox-e2e-'));
  made.push(d);
  return d;
};
const sweep = () => {
  for (const d of made.splice(0)) {
    try { fs.rmSync(d, { recursive: true, force: true, maxRetries: 3 }); } catch (e) { console.error(`# could not remove ${d}: ${e.message}`); }
  }
};
afterEach(sweep);
process.on('exit', sweep);

// Hover (x, y) until `pred(arg)` holds in the page. A mouse move reads the
// drawing that is on the canvas at that moment, and a view asked after a step
// or an undo may still be on its way: move again (one pixel either way), as a
// user would, until it holds.
async function hoverUntil(page, x, y, pred, arg) {
  const end = Date.now() + (process.env.HOVER_MS ? Number(process.env.HOVER_MS) : LONG);
  for (let i = 0; ; i++) {
    await page.mouse.move(x + (i % 2), y);
    try {
      await page.waitForFunction(pred, arg, { timeout: 2_000 });
      return;
    } catch (e) {
      if (Date.now() > end) {
        const tip = await page.textContent('#attn-tooltip').catch(() => '(none)');
        throw new Error(`hovering (${x.toFixed(0)}, ${y.toFixed(0)}): the tooltip says ${JSON.stringify(tip)}; ${e.message}`);
      }
    }
  }
}

// Click `sel` and return the bytes of the download it starts.
async function downloaded(page, sel) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: LONG }), page.click(sel)]);
  return fs.readFileSync(await dl.path());
}
const isPng = b => b.length > 1000 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
const pngSize = b => [b.readUInt32BE(16), b.readUInt32BE(20)];

test('WebGPU: loads, steps greedily like llama.cpp, forces, undoes, draws attention, caches the model', { timeout: 1_200_000 }, async () => {
  const profile = dir();
  const { ctx, page } = await launch(profile, true);
  try {
    const status = await waitReady(page);
    assert.match(status, /WebGPU/, `status names WebGPU: ${status}`);
    assert.equal(modelRequests(), 1, 'the first visit downloads the model once');
    await greedySteps(page);
    const hud = await page.textContent('#hud-decode');
    assert.match(hud, /tok\/s/);
    console.log(`# WebGPU page: prefill ${await page.textContent('#hud-prefill')}, decode ${hud}`);
    await page.screenshot({ path: path.join(artifacts, 'webgpu.png'), fullPage: true });

    // What if: force the second candidate, then undo.
    const before = await allIds(page);
    const firstCand = await page.getAttribute('.cand[data-rank="0"]', 'data-id');
    const second = Number(await page.getAttribute('.cand[data-rank="1"]', 'data-id'));
    await page.click('.cand[data-rank="1"]');
    await page.waitForFunction(n => document.querySelectorAll('.tok').length > n && !document.querySelector('#undo').disabled, before.length, { timeout: LONG });
    const after = await allIds(page);
    assert.equal(after.at(-1), second, 'the clicked candidate is the next token');
    assert.equal(await page.getAttribute('.tok:last-child', 'class').then(c => c.includes('forced')), true);
    await page.click('#undo');
    await page.waitForFunction(n => document.querySelectorAll('.tok').length === n && !document.querySelector('#undo').disabled, before.length, { timeout: LONG });
    assert.deepEqual(await allIds(page), before, 'undo restores the sequence');
    assert.equal(await page.getAttribute('.cand[data-rank="0"]', 'data-id'), firstCand, 'undo restores the candidates');

    // Heatmap: drawn, and hovering a cell shows a weight.
    assert.ok(await inkedPixels(page, '#heatmap', PLOT_FROM) > 0, 'the heatmap is drawn');
    const box = await page.locator('#heatmap').boundingBox();
    await hoverUntil(page, box.x + box.width * 0.16, box.y + box.height * 0.95,
      () => /→ key \d+ .*: \d\.\d{4}/.test(document.querySelector('#attn-tooltip').textContent), null);

    // Model view: all heads drawn; clicking one opens it in the heatmap.
    await page.getByRole('tab', { name: 'All heads' }).click();
    await page.waitForSelector('#grid');
    assert.ok(await inkedPixels(page, '#grid') > 1000, 'the model view is drawn');
    await page.screenshot({ path: path.join(artifacts, 'grid.png'), fullPage: true });
    const g = await page.locator('#grid').boundingBox();
    await page.mouse.click(g.x + g.width * (4.5 / 9), g.y + g.height * (2.5 / 30));
    await page.waitForSelector('#heatmap');
    assert.equal(await page.inputValue('select[aria-label=Layer]'), '2');
    await page.screenshot({ path: path.join(artifacts, 'heatmap.png'), fullPage: true });

    // Line view.
    await page.getByRole('tab', { name: 'Lines' }).click();
    await page.waitForSelector('#lines line', { timeout: LONG });
    assert.ok(await page.locator('#lines line').count() > 0, 'the line view has lines');
    await page.screenshot({ path: path.join(artifacts, 'lines.png'), fullPage: true });
  } finally {
    await ctx.close();
  }

  // Second visit with the same browser profile: the model comes from the Cache API.
  const { ctx: ctx2, page: page2 } = await launch(profile, true);
  try {
    const status = await waitReady(page2);
    assert.match(status, /browser cache/, `second load from the cache: ${status}`);
    assert.equal(modelRequests(), 1, 'no new model request on the second visit');
  } finally {
    await ctx2.close();
  }
});

test('WebGPU: Play ahead (?ahead=4): four steps to a submission, each token picked on the GPU, one readback per four tokens in the HUD, the same tokens as llama.cpp', { timeout: 1_200_000 }, async () => {
  const { ctx, page } = await launch(dir(), true);
  try {
    await page.goto(URL_ + '?ahead=4&test-hooks=1');
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    assert.match(await page.textContent('[role=status]'), /WebGPU/);
    const N = 9;
    await page.fill('input[aria-label="Max tokens"]', String(N));
    await page.press('input[aria-label="Max tokens"]', 'Tab');
    await page.fill('#prompt', fixture.prompt);
    await page.click('#play');
    await page.waitForFunction(n => {
      const s = window.glassboxTest && window.glassboxTest.state();
      return s && !s.playing && !s.busy && document.querySelectorAll('.tok.gen').length === n;
    }, N, { timeout: LONG });
    // Play's first step alone, then two requests of four.
    assert.deepEqual(await genIds(page), fixture.ids.slice(0, N), 'greedy tokens equal llama.cpp');
    assert.deepEqual(await allIds(page), await page.evaluate(() => window.glassboxTest.engineTokens()), 'the chips are the engine\'s sequence');
    const reads = await page.textContent('#hud-reads');
    console.log(`# WebGPU Play ahead: readbacks a token ${reads}`);
    assert.match(reads, /^0\.250 · \d+\.\d KB$/, reads);
    // Undo lands on the exact step before; a step after it is the one llama.cpp takes.
    await page.click('#undo');
    await page.waitForFunction(n => document.querySelectorAll('.tok.gen').length === n && !document.querySelector('#step').disabled, N - 1, { timeout: LONG });
    await stepOnce(page);
    assert.deepEqual(await genIds(page), fixture.ids.slice(0, N), 'after Undo, a step gives the same token');

    // ?profile: the HUD has the GPU's time per kernel after a step (or says the device has no timestamp queries).
    await page.goto(URL_ + '?profile');
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    await stepOnce(page);
    await page.waitForSelector('#hud-profile', { timeout: LONG });
    const prof = await page.textContent('#hud-profile');
    console.log(`# WebGPU ?profile: ${prof}`);
    // (A step that keeps what the map reads runs the layer's ops one by one: attention and matvec kernels.)
    assert.match(prof, /^\d+\.\d ms: (\w+ \d+\.\d\d ms \(\d+\)( · )?)+$|no timestamp queries/, prof);
    assert.match(prof, /attention\w* \d+\.\d\d ms \(3\d\)|no timestamp queries/, 'the attention kernel ran once a layer');
  } finally {
    await ctx.close();
  }
});

test('CPU fallback without WebGPU gives the same tokens', { timeout: 1_200_000 }, async () => {
  const { ctx, page } = await launch(dir(), false);
  try {
    const status = await waitReady(page);
    assert.match(status, /CPU/, `status names the CPU: ${status}`);
    const threads = Number(await page.textContent('#hud-threads'));
    assert.equal(threads, Math.min(await page.evaluate(() => navigator.hardwareConcurrency), 8), `the CPU engine runs threaded: ${threads}`);
    await greedySteps(page);
    // The math panel shows this step's weights for the last token: they sum to 1.
    await page.waitForSelector('#math tbody tr', { timeout: LONG });
    const ws = await page.evaluate(() => [...document.querySelectorAll('#math tbody td strong')].map(e => Number(e.textContent)));
    assert.ok(Math.abs(ws.reduce((a, b) => a + b, 0) - 1) < 2e-3, `weights sum to 1: ${ws}`);
    // Play generates on its own until paused.
    const n = (await allIds(page)).length;
    await page.click('#play');
    await page.waitForFunction(n => document.querySelectorAll('.tok').length >= n + 3, n, { timeout: LONG });
    await page.click('#play'); // now labelled Pause
    await page.waitForFunction(() => document.querySelector('#play').textContent === 'Play' && !document.querySelector('#step').disabled, null, { timeout: LONG });
    const paused = (await allIds(page)).length;
    console.log(`# CPU page: prefill ${await page.textContent('#hud-prefill')}, decode ${await page.textContent('#hud-decode')}`);
    await new Promise(r => setTimeout(r, 1500));
    assert.equal((await allIds(page)).length, paused, 'Pause stops generation');
    assert.deepEqual((await genIds(page)).slice(0, 8), fixture.ids.slice(0, 8), 'played tokens continue the greedy sequence');
    {
      // The math of one head with its real vectors: click a heatmap cell; the
      // panel's weight for that key is the heatmap's own.
      const hm = await page.locator('#heatmap').boundingBox();
      const n = (await allIds(page)).length;
      const cellAt = (q, k) => [hm.x + hm.width * (68 + (k + 0.5) * 512 / n) / 580, hm.y + hm.height * (68 + (q + 0.5) * 512 / n) / 580];
      const [qx, qy] = cellAt(n - 3, 1);
      await hoverUntil(page, qx, qy, q => new RegExp(`query ${q} .*→ key 1 .*: \\d\\.\\d{4}`).test(document.querySelector('#attn-tooltip').textContent), n - 3);
      const hover = Number((await page.textContent('#attn-tooltip')).match(/: (\d\.\d{4})$/)[1]);
      await page.mouse.click(qx, qy);
      await page.waitForFunction(q => (document.querySelector('#math')?.textContent || '').startsWith(`Query ${q} `), n - 3, { timeout: LONG });
      const keyRow = page.locator('#math tbody tr').filter({ has: page.locator('td:first-child', { hasText: /^1$/ }) });
      const mathW = Number(await keyRow.locator('td strong').textContent());
      assert.ok(Math.abs(mathW - hover) <= 1e-3, `the math panel's weight ${mathW} is the heatmap's ${hover}`);
      assert.equal(await page.locator('#math tbody tr').count(), n - 2, 'every key 0..=q is listed');
      assert.ok(await page.locator('#math .strip').count() >= 2 * (n - 2) + 4, 'q, k and v are drawn as vectors');
      await page.locator('section.inside').screenshot({ path: path.join(artifacts, 'math.png') });
      // The logit lens: 30 layers; its last row at the newest position is the first candidate.
      await page.getByRole('tab', { name: 'Logit lens' }).click();
      await page.waitForSelector('#lens table', { timeout: LONG });
      assert.equal(await page.locator('#lens tbody tr').count(), 30, 'a row per layer');
      const lastCell = page.locator(`#lens td.lcell[data-layer="29"][data-pos="${n - 1}"]`);
      assert.equal(await lastCell.getAttribute('data-id'), await page.getAttribute('.cand[data-rank="0"]', 'data-id'), 'the last layer predicts the first candidate');
      await page.locator('section.inside').screenshot({ path: path.join(artifacts, 'lens.png') });
      await page.getByRole('tab', { name: 'Residual stream' }).click();
      await page.waitForSelector('#residual svg rect', { timeout: LONG });
      assert.equal(await page.locator('#residual svg rect').count(), 60, 'attention and FFN bars for 30 layers');
      // Heads off: the candidates change; back on: exactly as before.
      const cands = () => page.evaluate(() => [...document.querySelectorAll('.cand')].map(c => [c.dataset.id, c.dataset.prob]));
      const before = await cands();
      await page.selectOption('select[aria-label=Layer]', '29');
      await page.getByRole('button', { name: 'Head 0', exact: true }).click();
      await page.click('#toggle-head');
      await page.waitForSelector('.cand.ablated', { timeout: LONG });
      const off = await cands();
      assert.notDeepEqual(off, before, 'switching head 29:0 off changes the candidates');
      assert.equal(await page.getAttribute('.cand[data-rank="0"]', 'data-base') !== '', true, 'each candidate shows its probability with every head on');
      await page.click('#restore-heads');
      await page.waitForFunction(() => !document.querySelector('.cand.ablated') && !document.querySelector('#step').disabled, null, { timeout: LONG });
      assert.deepEqual(await cands(), before, 'switching it back on restores the candidates exactly');
    }
    // Switching to sampling mid-sequence works (the worker fetches every logit).
    await page.selectOption('select[aria-label=Decoding]', 'sample');
    await page.fill('input[aria-label=Top-k]', '0');
    await page.press('input[aria-label=Top-k]', 'Tab');
    await stepOnce(page);
    assert.equal(await page.locator('.error').count(), 0, 'no error after switching to sampling');
    await page.setViewportSize({ width: 390, height: 900 });
    await page.screenshot({ path: path.join(artifacts, 'cpu-phone.png'), fullPage: true });
  } finally {
    await ctx.close();
  }
});

test('CPU fallback on threads: the threaded engine and one thread give the same candidates; a page without isolation runs on one thread and says why', { timeout: 1_200_000 }, async () => {
  // A prompt long enough that prefill's matmuls and attention rows are split over the threads.
  const prompt = fixture.prompt + ' ' + 'The river runs past the old mill, and the miller counts the sacks of grain one by one. '.repeat(3);
  const cands = page => page.evaluate(() => [...document.querySelectorAll('.cand')].map(c => `${c.dataset.id}:${c.dataset.prob}`).join(' '));
  // Greedy steps; the candidates after each (every digit of every probability).
  const run = async (page, url) => {
    await page.goto(url);
    await page.waitForFunction(() => document.querySelector('[role=status] .badge'), null, { timeout: LONG });
    await page.fill('#prompt', prompt);
    const seen = [];
    for (let i = 0; i < 4; i++) {
      await stepOnce(page);
      seen.push(await cands(page));
    }
    return { seen, ids: await allIds(page), threads: (await page.textContent('#hud-threads')).trim(), why: await page.evaluate(() => document.querySelector('#hud-threads-why')?.textContent || '') };
  };
  const { ctx, page } = await launch(dir(), false);
  const plain = PORT + 2;
  const other = spawn(path.join(root, 'target/release/glassbox'), ['serve', '--port', String(plain), '--dir', path.join(root, 'www'), '--no-isolation'], { cwd: root });
  let out = '';
  other.stdout.on('data', d => { out += d; });
  try {
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    const threaded = await run(page, URL_ + '?backend=cpu');
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'glassbox serve makes the page cross-origin isolated');
    assert.equal(Number(threaded.threads), Math.min(cores, 8), `the HUD shows the threads (${cores} cores): ${threaded.threads}`);
    assert.ok(Number(threaded.threads) >= 2, 'this machine has at least 2 cores: the test needs them');
    assert.equal(threaded.why, '', 'no reason shown when threaded');
    const one = await run(page, URL_ + '?backend=cpu&threads=1');
    assert.equal(one.threads, '1');
    assert.match(one.why, /threads=1/, 'says why one thread');
    const three = await run(page, URL_ + '?backend=cpu&threads=3');
    assert.equal(three.threads, '3', '?threads=N sets the count');
    for (let i = 0; i < 4; i++) {
      assert.equal(threaded.seen[i], one.seen[i], `step ${i + 1}: the same candidates and probabilities on ${threaded.threads} threads and on 1`);
      assert.equal(three.seen[i], one.seen[i], `step ${i + 1}: the same on 3 threads`);
    }
    assert.deepEqual(threaded.ids, one.ids);
    // The page's wasm engine (SIMD128 kernels) against the native one
    // (`glassbox trace`): the same candidates in the same order, and
    // probabilities within 1e-4 relative (not the same bits: exp, sin and
    // cos come from Rust's libm in wasm and from the C library natively).
    const native = JSON.parse(execFileSync(path.join(root, 'target/release/glassbox'), ['trace', '--no-prefill-attention', '-n', '5', '--top', '50', prompt], { cwd: root, maxBuffer: 1 << 28 }).toString());
    for (let i = 0; i < 4; i++) {
      const want = native.steps[i + 1].candidates;
      const got = one.seen[i].split(' ').map(c => c.split(':'));
      assert.ok(got.length >= 5 && got.length <= want.length, `${got.length} candidates on the page`);
      // (Neighbours closer than the tolerance may swap: compare the clear leaders.)
      got.splice(5);
      got.forEach(([id, p], j) => {
        assert.equal(Number(id), want[j].id, `step ${i + 1}, candidate ${j}: the native engine's token`);
        assert.ok(Math.abs(Number(p) - want[j].prob) <= 1e-4 * want[j].prob + 1e-9, `step ${i + 1}, candidate ${j}: ${p} vs the native engine's ${want[j].prob}`);
      });
    }
    assert.deepEqual(threaded.ids.slice(0, fixture.prompt_ids.length), fixture.prompt_ids);
    // A host without the isolation headers, in a browser without the service
    // worker that would add them (?no-sw=1): the plain module, one thread, the reason.
    for (let i = 0; i < 100 && !out.includes('Glassbox is at'); i++) await new Promise(r => setTimeout(r, 100));
    const bare = await run(page, `http://127.0.0.1:${plain}/?backend=cpu&no-sw=1`);
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), false);
    assert.equal(await page.evaluate(() => globalThis.glassboxBuild.threaded), false, 'the plain module');
    assert.equal(bare.threads, '1');
    assert.match(bare.why, /not cross-origin isolated/, `says why: ${bare.why}`);
    for (let i = 0; i < 4; i++) assert.equal(bare.seen[i], one.seen[i], `step ${i + 1}: the plain module gives the same candidates`);
    await page.locator('section.hud').screenshot({ path: path.join(artifacts, 'hud-not-isolated.png') });
    console.log(`# threads: ${threaded.threads} (of ${cores} cores), 1 and 3 give the same candidates for 4 steps; without isolation: "${bare.why}"`);
  } finally {
    other.kill();
    await ctx.close();
  }
});

test('Published: the dist folder on a plain static server, from a sub-path: the service worker isolates the page (threads), greedy like llama.cpp on the CPU and on WebGPU, and it opens and steps offline after one visit', { timeout: 1_200_000 }, async () => {
  const site = dir();
  execFileSync(path.join(root, 'scripts/dist.sh'), [path.join(site, 'glassbox'), '--with-model'], { cwd: root });
  const port = PORT + 3;
  // Python's own static server: no COOP/COEP, no ETag, no Range, no gzip.
  const http = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', site]);
  http.stderr.on('data', () => {});
  const { ctx, page } = await launch(dir(), false);
  try {
    for (let i = 0; i < 100; i++) {
      try { await fetch(`http://127.0.0.1:${port}/glassbox/index.html`); break; } catch { await new Promise(r => setTimeout(r, 100)); }
    }
    await page.goto(`http://127.0.0.1:${port}/glassbox/?backend=cpu`);
    await page.waitForFunction(() => document.querySelector('[role=status] .badge'), null, { timeout: LONG });
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'the service worker made the page cross-origin isolated');
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    assert.equal(Number(await page.textContent('#hud-threads')), Math.min(cores, 8), 'threads on a host that sends no headers');
    await greedySteps(page);
    // Offline: the page from the service worker, the model from the engine's cache.
    await ctx.setOffline(true);
    await page.reload();
    await page.waitForFunction(() => document.querySelector('[role=status] .badge'), null, { timeout: LONG });
    assert.match(await page.textContent('[role=status]'), /browser cache/, 'the kept model');
    assert.equal((await page.textContent('#status-offline')).trim(), '· offline: using the kept copy', 'the status line says so');
    await greedySteps(page);
    await page.screenshot({ path: path.join(artifacts, 'published-offline.png') });
    console.log(`# published folder on python3 -m http.server, sub-path /glassbox/: isolated by the service worker, ${await page.textContent('#hud-threads')} threads, greedy = llama.cpp online and offline`);
    // The same folder on WebGPU.
    const gpu = await launch(dir(), true);
    try {
      await gpu.page.goto(`http://127.0.0.1:${port}/glassbox/`);
      await gpu.page.waitForFunction(() => document.querySelector('[role=status] .badge'), null, { timeout: LONG });
      assert.match(await gpu.page.textContent('[role=status]'), /WebGPU/);
      await greedySteps(gpu.page);
      console.log('# published folder on WebGPU: greedy = llama.cpp');
    } finally {
      await gpu.ctx.close();
    }
  } finally {
    await ctx.setOffline(false).catch(() => {});
    await ctx.close();
    http.kill();
  }
});

// A second origin for models by URL: /cors/ lets other sites read (ranges
// answered, Content-Range and ETag not exposed, so the page checks a resumed
// part by its length); /nocors/ sends no Access-Control-Allow-Origin;
// /cut/ and /cut-norange/ drop their first download halfway (the second
// answers ranges, the first does not); /missing.gguf is a 404 and
// /page.gguf a web page. Every request is logged.
function modelHost(port, file) {
  const body = fs.readFileSync(file);
  const log = [];
  const cut = new Set();
  const server = http.createServer((req, res) => {
    const [, kind] = req.url.split('/');
    log.push(`${req.method} ${req.url} ${req.headers.range || ''}`.trim());
    const cors = kind !== 'nocors' ? { 'access-control-allow-origin': '*' } : {};
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-headers': 'range', 'access-control-allow-methods': 'GET, HEAD' });
      return res.end();
    }
    if (req.url === '/missing.gguf') { res.writeHead(404, cors); return res.end('no such file'); }
    if (req.url === '/page.gguf') { res.writeHead(200, { ...cors, 'content-type': 'text/html' }); return res.end('<!doctype html><title>Sign in</title>'.repeat(50)); }
    const ranges = kind !== 'cut-norange';
    const m = ranges && /^bytes=(\d+)-$/.exec(req.headers.range || '');
    const from = m ? Number(m[1]) : 0;
    const head = { ...cors, 'content-type': 'application/octet-stream', etag: '"v1"', 'content-length': String(body.length - from) };
    if (ranges) head['accept-ranges'] = 'bytes';
    if (m) head['content-range'] = `bytes ${from}-${body.length - 1}/${body.length}`;
    res.writeHead(m ? 206 : 200, head);
    if (req.method === 'HEAD') return res.end();
    if (kind.startsWith('cut') && req.method === 'GET' && !cut.has(kind)) {
      // The network drops halfway through the first download.
      cut.add(kind);
      res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.destroy(), 50));
      return;
    }
    res.end(body.subarray(from));
  });
  server.listen(port, '127.0.0.1');
  return { server, log };
}

// SHA-256 of the copy the page keeps for `url` in the browser cache.
const keptHash = (page, url) => page.evaluate(async url => {
  const cache = await caches.open('glassbox-models-v1');
  const key = (await cache.keys()).find(k => k.url.includes('/remote/' + encodeURIComponent(url).replace(/%20/g, '+')));
  if (!key) return null;
  const bytes = await (await cache.match(key)).arrayBuffer();
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map(b => b.toString(16).padStart(2, '0')).join('');
}, url);

test('Models by URL: a published page with --model-url opens another site\'s model; ?model= and share links carry it; CORS, 404 and not-a-GGUF named; a download cut halfway resumes (Range) or starts again, and the kept copy is the file', { timeout: 1_800_000 }, async () => {
  const file = path.join(root, 'assets/models/SmolLM2-135M-Instruct.Q4_1.gguf');
  const want = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const hostPort = PORT + 5;
  const host = modelHost(hostPort, file);
  const at = p => `http://127.0.0.1:${hostPort}${p}`;
  // The page alone on a static host, its default model on the other origin.
  const site = dir();
  execFileSync(path.join(root, 'scripts/dist.sh'), [path.join(site, 'glassbox'), '--model-url', at('/cors/SmolLM2.gguf')], { cwd: root });
  assert.ok(!fs.existsSync(path.join(site, 'glassbox/model.gguf')), 'no model in the folder');
  const port = PORT + 4;
  const py = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', site]);
  py.stderr.on('data', () => {});
  const { ctx, page } = await launch(dir(), false);
  const ready = () => page.waitForFunction(() => document.querySelector('[role=status] .badge') && !document.querySelector('#opening[data-stage=loading]'), null, { timeout: LONG });
  try {
    for (let i = 0; i < 100; i++) {
      try { await fetch(`http://127.0.0.1:${port}/glassbox/index.html`); break; } catch { await new Promise(r => setTimeout(r, 100)); }
    }
    await page.goto(`http://127.0.0.1:${port}/glassbox/?backend=cpu`);
    await ready();
    assert.match(await page.textContent('#model-source'), new RegExp(`from 127.0.0.1:${hostPort}`), 'the model came from the other origin');
    await greedySteps(page);
    assert.equal(await keptHash(page, at('/cors/SmolLM2.gguf')), want, 'the kept copy is the file');
    // A share link names the model by its address (the default is left out),
    // so one from the plain glassbox serve page carries it: checked below.
    await page.click('#share');
    assert.doesNotMatch(await page.inputValue('#shared-url'), /model=/, 'the page\'s default model is not named');

    // glassbox serve's page (isolated), told ?model= without CORS: the
    // reason, then its own model.
    await page.goto(`${URL_}?backend=cpu&model=${encodeURIComponent(at('/nocors/m.gguf'))}`);
    await ready();
    const err = await page.textContent('.error');
    assert.match(err, new RegExp(`does not allow pages on other sites to read this file`), err);
    assert.match(err, new RegExp(`127.0.0.1:${hostPort}`), err);
    assert.match(await page.textContent('#model-source'), /served with this page/);
    await page.getByRole('button', { name: 'Dismiss' }).click();
    await greedySteps(page);

    // ?model= with CORS, then its share link opens the same model and session.
    await page.goto(`${URL_}?backend=cpu&model=${encodeURIComponent(at('/cors/SmolLM2.gguf'))}`);
    await ready();
    assert.match(await page.textContent('#model-source'), new RegExp(`from 127.0.0.1:${hostPort}, kept in this browser`));
    await greedySteps(page);
    await page.click('#share');
    const link = await page.inputValue('#shared-url');
    assert.ok(new URL(link).searchParams.get('model') === at('/cors/SmolLM2.gguf'), link);
    await page.goto(`${URL_}?backend=cpu`);
    await ready();
    await page.goto(link);
    await page.waitForFunction(n => document.querySelectorAll('.tok.gen').length === n, STEPS, { timeout: LONG });
    assert.deepEqual(await genIds(page), fixture.ids.slice(0, STEPS), 'the link replays on the model it names');
    assert.match(await page.textContent('#model-source'), new RegExp(`from 127.0.0.1:${hostPort}`));

    // "From a URL…": the same card as a dropped file; a cut download resumes.
    const fromUrl = async url => {
      if (!await page.isVisible('#model-url')) await page.click('#open-url');
      await page.fill('#model-url', url);
      await page.click('#model-url-go');
      await page.waitForSelector('#opening[data-stage=inspected], #opening[data-stage=failed]', { timeout: LONG });
    };
    for (const [kind, resumed] of [['cut', true], ['cut-norange', false]]) {
      const url = at(`/${kind}/SmolLM2.gguf`);
      const before = host.log.length;
      await fromUrl(url);
      assert.equal(await page.getAttribute('#opening', 'data-stage'), 'inspected', await page.textContent('#opening'));
      assert.match(await page.textContent('#opening'), new RegExp(`downloaded from 127.0.0.1:${hostPort}`));
      if (resumed) await page.screenshot({ path: path.join(artifacts, 'model-by-url-card.png') });
      await page.click('#model-load');
      await page.waitForFunction(u => document.querySelector('#opening') === null && document.querySelector('#model-source')?.textContent.includes('kept'), url, { timeout: LONG });
      const gets = host.log.slice(before).filter(l => l.startsWith(`GET /${kind}/`));
      if (resumed) assert.ok(gets.length === 2 && /bytes=[1-9]\d*-$/.test(gets[1]), `took up where it stopped: ${gets}`);
      // (It asks for the rest; this server answers with the whole file, which the page takes from the start.)
      else assert.ok(gets.length === 2, `started again: ${gets}`);
      assert.equal(await keptHash(page, url), want, `the kept copy after a cut (${kind}) is the file`);
      await stepOnce(page);
      assert.deepEqual(await genIds(page), fixture.ids.slice(0, 1), 'the model from the resumed download steps like llama.cpp');
    }
    for (const [p, problem, text] of [['/missing.gguf', 'NotFound', /has no file at that address/], ['/page.gguf', 'NotGguf', /not a GGUF file/]]) {
      await fromUrl(at(p));
      assert.equal(await page.getAttribute('#opening', 'data-problem'), problem);
      assert.match(await page.textContent('#opening'), text);
      assert.match(await page.textContent('#opening'), /The page keeps using/);
      await page.getByRole('button', { name: 'Dismiss' }).click();
    }
    await page.screenshot({ path: path.join(artifacts, 'model-by-url.png') });
    console.log(`# models by URL: ${host.log.length} requests to the second origin; resumed with Range and restarted without; kept copies hash-checked`);
  } finally {
    await ctx.close();
    host.server.close();
    py.kill();
  }
});

test('CPU fallback at about 500 tokens: the page adds little per step; zoom, labels, memory', { timeout: 1_200_000 }, async () => {
  const { ctx, page } = await launch(dir(), false);
  try {
    const status = await waitReady(page);
    assert.match(status, /CPU/, status);
    assert.match(await page.textContent('#hud-ctx'), /\/ 8192/, 'the page offers the model\'s own context');
    const para = 'The river runs past the old mill, and the miller counts the sacks of grain one by one before the winter comes. ';
    // A prompt longer than the context: its own error, with the numbers.
    await page.fill('#prompt', para.repeat(330));
    await page.click('#step');
    await page.waitForSelector('.error', { timeout: LONG });
    const err = await page.textContent('.error');
    assert.match(err, /the prompt is \d+ tokens but the context holds 8192/, err);
    await page.getByRole('button', { name: 'Dismiss' }).click();
    await page.fill('#prompt', para.repeat(19));
    const t0 = Date.now();
    await stepOnce(page);
    const n0 = (await allIds(page)).length;
    console.log(`# CPU page: a ${n0 - 1}-token prompt prefilled and the first token shown in ${((Date.now() - t0) / 1e3).toFixed(1)} s`);
    assert.ok(n0 > 450 && n0 < 560, `about 500 tokens: ${n0}`);
    await painted(page, n0);
    const overhead = [];
    for (let i = 0; i < 8; i++) {
      const n = (await allIds(page)).length;
      await stepOnce(page);
      await painted(page, n + 1);
      const e2e = ms(await page.textContent('#hud-e2e'));
      const engine = ms(await page.textContent('#hud-engine'));
      overhead.push(e2e - engine);
    }
    overhead.sort((a, b) => a - b);
    const median = overhead[overhead.length >> 1];
    console.log(`# CPU page at ${(await allIds(page)).length} tokens: per-step overhead (click → painted − engine) median ${median.toFixed(1)} ms, min ${overhead[0].toFixed(1)}, max ${overhead.at(-1).toFixed(1)}; engine step ${await page.textContent('#hud-engine')}`);
    assert.ok(overhead.every(Number.isFinite), `overheads measured: ${overhead}`);
    // The heatmap at full resolution (one cell per position), then zoomed in
    // around the newest tokens: fewer positions, labels on both axes.
    assert.match(await page.textContent('#heatmap-window'), /queries 0–\d+ × keys 0–\d+ of \d+$/);
    assert.ok(await inkedPixels(page, '#heatmap', PLOT_FROM) > 10000, 'the heatmap is drawn');
    for (let i = 0; i < 6; i++) {
      const before = await page.textContent('#heatmap-window');
      await page.getByRole('button', { name: 'Zoom in' }).click();
      await page.waitForFunction(b => document.querySelector('#heatmap-window').textContent !== b, before, { timeout: 10_000 });
    }
    await page.waitForFunction(() => /queries \d+–\d+ × keys \d+–\d+ of/.test(document.querySelector('#heatmap-window').textContent)
      && !/queries 0–/.test(document.querySelector('#heatmap-window').textContent), null, { timeout: LONG });
    const win = await page.textContent('#heatmap-window');
    const [, r0, r1] = win.match(/queries (\d+)–(\d+)/).map(Number);
    assert.ok(r1 - r0 + 1 <= 16, `zoomed to a few positions: ${win}`);
    await page.waitForTimeout(500);
    // Labels: ink in the left margin (row labels) of the zoomed view.
    const labelInk = await page.evaluate(() => {
      const c = document.querySelector('#heatmap');
      const d = c.getContext('2d').getImageData(0, c.height * 80 / 580, c.width * 66 / 580, c.height * 400 / 580).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++;
      return n;
    });
    assert.ok(labelInk > 50, `token labels drawn beside the rows (${labelInk} dark pixels)`);
    await page.screenshot({ path: path.join(artifacts, 'heatmap-zoomed.png'), fullPage: true });
    await page.getByRole('button', { name: 'Show the whole sequence' }).click();
    await page.waitForFunction(() => /queries 0–/.test(document.querySelector('#heatmap-window').textContent), null, { timeout: LONG });
    // Memory: the worker's and the page's.
    await page.waitForFunction(() => /caches \d+ MB/.test(document.querySelector('#hud-memory').textContent), null, { timeout: LONG });
    const heap = await page.evaluate(() => performance.memory ? performance.memory.usedJSHeapSize : 0);
    console.log(`# CPU page memory at ${(await allIds(page)).length} tokens: ${await page.textContent('#hud-memory')}; page JS heap ${(heap / 1e6).toFixed(0)} MB`);
  } finally {
    await ctx.close();
  }
});

test('CPU fallback: beam tree, sampling made visible, every token\'s probability', { timeout: 1_200_000 }, async () => {
  const { ctx, page } = await launch(dir(), false);
  try {
    await waitReady(page);
    await page.fill('#prompt', fixture.prompt);
    // Beam mode, width 3, 3 steps: the tree has the engine's nodes.
    await page.selectOption('select[aria-label=Decoding]', 'beam');
    await page.fill('input[aria-label="Beam width"]', '3');
    await page.press('input[aria-label="Beam width"]', 'Tab');
    await page.fill('input[aria-label="Beam steps"]', '3');
    await page.press('input[aria-label="Beam steps"]', 'Tab');
    for (let i = 0; i < 3; i++) {
      await page.click('#step');
      await page.waitForFunction(n => document.querySelectorAll('#beam-tree g.bnode').length > n && !document.querySelector('#reset').disabled, i * 3, { timeout: LONG });
    }
    const cli = JSON.parse(execFileSync(path.join(root, 'target/release/glassbox'), ['beams', '--beams', '3', '-n', '3', fixture.prompt], { cwd: root }).toString());
    assert.equal(await page.locator('#beam-tree g.bnode').count(), cli.nodes.length, 'the page draws the engine\'s tree');
    const statuses = await page.evaluate(() => [...document.querySelectorAll('#beam-tree g.bnode')].map(g => [Number(g.dataset.node), g.dataset.status]).sort((a, b) => a[0] - b[0]).map(x => x[1]));
    assert.deepEqual(statuses, cli.nodes.map(n => n.status), 'the same statuses');
    assert.match(await page.textContent('#beam-compare'), /Beam: .*log p -\d+\.\d+[\s\S]*Greedy: .*log p -\d+\.\d+/);
    const svg = await downloaded(page, '#export-beam');
    assert.match(svg.toString(), /^<\?xml[\s\S]*<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<text[\s\S]*<\/svg>$/, 'the beam tree as SVG, text as text');
    await page.locator('section.beam').screenshot({ path: path.join(artifacts, 'beam.png') });
    // Clicking a node makes its branch the sequence.
    const node = cli.nodes.find(n => n.step === 1 && n.status !== 'best');
    const branch = [];
    for (let at = node; at; at = at.parent === null ? null : cli.nodes[at.parent]) branch.unshift(at.token);
    await page.locator(`#beam-tree g.bnode[data-node="${node.id}"]`).click();
    await page.waitForFunction(n => document.querySelectorAll('.tok').length === n && !document.querySelector('#reset').disabled, fixture.prompt_ids.length + 2, { timeout: LONG });
    assert.deepEqual((await allIds(page)).slice(fixture.prompt_ids.length), branch, 'the chosen branch is the sequence');
    // Every token's probability: every chip but the first is coloured; a perplexity.
    await page.check('#prob-colours');
    await page.waitForFunction(n => document.querySelectorAll('.tok.coloured').length === n - 1, (await allIds(page)).length, { timeout: LONG });
    assert.equal(await page.getAttribute('.tok[data-pos="0"]', 'class').then(c => c.includes('coloured')), false, 'the first token has no prediction');
    assert.match(await page.textContent('#perplexity'), /perplexity \d+\.\d+ over \d+ tokens/);
    assert.match(await page.getAttribute('.tok[data-pos="1"]', 'title'), /p = 0\.\d+ · rank \d+ · the model expected/);
    // Sampling with top-k 5: exactly 5 tokens allowed; after a step, where the draw fell.
    await page.selectOption('select[aria-label=Decoding]', 'sample');
    await page.fill('#prompt', fixture.prompt);
    await page.fill('input[aria-label=Top-k]', '5');
    await page.press('input[aria-label=Top-k]', 'Tab');
    await stepOnce(page);
    await page.waitForSelector('.srow', { timeout: LONG });
    assert.equal(await page.locator('.srow.allowed').count(), 5, 'top-k 5 allows exactly 5 tokens');
    assert.equal(await page.locator('.srow.cut').count(), 5);
    await stepOnce(page);
    await page.waitForSelector('#last-draw', { timeout: LONG });
    assert.match(await page.textContent('#last-draw'), /drew u = 0\.\d{3}/);
    await page.locator('section.candidates').screenshot({ path: path.join(artifacts, 'sampling.png') });
    // Greedy says what it does.
    await page.selectOption('select[aria-label=Decoding]', 'greedy');
    await page.waitForFunction(() => /arg-max/.test(document.querySelector('section.candidates').textContent), null, { timeout: LONG });
  } finally {
    await ctx.close();
  }
});

test('CPU fallback: why this token: the attribution grid names the head glassbox attribute ranks first, compares two candidates, opens a head; the flow graph draws the edges glassbox flow gives', { timeout: 1_200_000 }, async () => {
  const prompt = 'The capital of France is';
  const cli = JSON.parse(execFileSync(path.join(root, 'target/release/glassbox'), ['attribute', prompt], { cwd: root }).toString());
  const heads = cli.parts.filter(p => p.kind === 'head').sort((a, b) => b.value - a.value);
  const best = heads[0];
  const { ctx, page } = await launch(dir(), false);
  try {
    await waitReady(page);
    await page.fill('#prompt', prompt);
    await stepOnce(page);
    // The last prompt token: why the model predicts what follows it.
    await page.click(`.tok[data-pos="${cli.pos}"]`);
    await page.getByRole('tab', { name: 'Why this token' }).click();
    await page.waitForSelector(`#attribution[data-pos="${cli.pos}"]`, { timeout: LONG });
    assert.equal(Number(await page.getAttribute('#attribution', 'data-token')), cli.token, 'the top-1, as the CLI');
    const summary = await page.textContent('#attr-summary');
    assert.match(summary, new RegExp(`is ${cli.logit.toFixed(3)}`), summary);
    // The strongest push up among the heads is the CLI's.
    const up = await page.$$eval('#attr-up li[data-layer]:not([data-head=ffn])', ls => ls.map(l => [Number(l.dataset.layer), Number(l.dataset.head)]));
    assert.deepEqual(up[0], [best.layer, best.head], `the page's strongest head ${up[0]} vs the CLI's ${best.layer}:${best.head}`);
    const cell = Number(await page.getAttribute(`#attr-grid rect[data-layer="${best.layer}"][data-head="${best.head}"]`, 'data-value'));
    assert.ok(Math.abs(cell - best.value) < 1e-3, `grid cell ${cell} vs CLI ${best.value}`);
    assert.equal(await page.locator('#attr-grid rect.attr-cell').count(), 1 + 30 * 10, 'every part in the grid');
    // Why this and not the runner-up: the difference.
    const other = await page.$eval('#attr-versus', s => s.options[1].value);
    await page.selectOption('#attr-versus', other);
    await page.waitForSelector(`#attribution[data-versus="${other}"]`, { timeout: LONG });
    assert.match(await page.textContent('#attr-summary'), /beats .* by \+/);
    await page.locator('#attribution').screenshot({ path: path.join(artifacts, 'attribution.png') });
    // Exports: the grid as a PNG (2×, captioned) and SVG, the parts as CSV and JSON.
    const png = await downloaded(page, '#attribution [data-export=png]');
    assert.ok(isPng(png) && pngSize(png)[0] > 300, 'a PNG of the grid');
    assert.match((await downloaded(page, '#attribution [data-export=svg]')).toString(), /<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*attr-cell/);
    const csv = (await downloaded(page, '#attribution [data-export=csv]')).toString().trim().split('\n');
    assert.equal(csv.length, 1 + 301, 'a header and every part');
    assert.equal(csv[0], 'kind,layer,head,value');
    const both = JSON.parse((await downloaded(page, '#attribution [data-export=json]')).toString());
    assert.equal(both.attribution.token, cli.token);
    assert.equal(both.versus.token, Number(other));
    // Clicking a head opens it in the attention view and the math of one head.
    await page.selectOption('#attr-versus', '');
    await page.waitForSelector('#attribution[data-versus=""]', { timeout: LONG });
    await page.click(`#attr-up li[data-layer="${best.layer}"][data-head="${best.head}"] button`);
    await page.waitForSelector(`#math[data-layer="${best.layer}"][data-head="${best.head}"]`, { timeout: LONG });
    console.log(`# attribution: ${JSON.stringify(cli.text)} logit ${cli.logit.toFixed(3)}; strongest head ${best.layer}:${best.head} (${best.value.toFixed(3)}) on the page and the CLI`);
    // How information flowed to the same position: the graph keeps the
    // edges glassbox flow gives that lead to it, above the slider's value.
    const flow = JSON.parse(execFileSync(path.join(root, 'target/release/glassbox'), ['flow', '--min', '0.02', prompt], { cwd: root }).toString());
    const leading = t => {
      let reached = new Set([cli.pos]);
      let n = 0;
      for (let l = 29; l >= 0; l--) {
        const now = new Set(reached);
        for (const e of flow.edges) if (e.layer === l && e.share >= t && reached.has(e.to)) { n++; now.add(e.from); }
        reached = now;
      }
      return n;
    };
    await page.getByRole('tab', { name: 'Information flow' }).click();
    await page.waitForSelector(`#flow[data-pos="${cli.pos}"]`, { timeout: LONG });
    const drawn = Number(await page.getAttribute('#flow', 'data-edges'));
    assert.equal(drawn, leading(0.1), 'the graph keeps the CLI\'s edges that lead to the position, at 0.1');
    assert.equal(await page.locator('#flow-graph line.flow-edge').count(), drawn);
    assert.ok(drawn > 10, `${drawn} edges drawn`);
    assert.match(await page.locator('#flow-graph line.flow-edge').first().locator('title').textContent(), /Layer \d+ (head \d+|FFN)/);
    const slide = v => page.$eval('#flow-threshold', (el, v) => { el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); }, v);
    await slide('0.3');
    await page.waitForFunction(n => Number(document.querySelector('#flow').dataset.edges) < n, drawn, { timeout: LONG });
    assert.equal(Number(await page.getAttribute('#flow', 'data-edges')), leading(0.3));
    await slide('0.1');
    await page.locator('#flow').screenshot({ path: path.join(artifacts, 'flow.png') });
    const edges = JSON.parse((await downloaded(page, '#flow [data-export=json]')).toString()).edges;
    assert.equal(edges.length, flow.edges.length, 'the flow as JSON: every edge asked');
    assert.ok(isPng(await downloaded(page, '#flow [data-export=png]')), 'the flow graph as a PNG');
    console.log(`# flow: ${drawn} edges lead to position ${cli.pos} at 0.1, ${leading(0.3)} at 0.3`);
  } finally {
    await ctx.close();
  }
});

test('CPU fallback: activation patching: the grid fills part by part with progress and Cancel, its extreme cells where glassbox patch has them, a cell\'s candidates, the heads\' grid, another target, exports', { timeout: 1_200_000 }, async () => {
  // A short pair (CPU wasm on CI); the one-click example is checked to start.
  const [clean, corrupt] = ['The capital of France is', 'The capital of Italy is'];
  const patch = (...a) => JSON.parse(execFileSync(path.join(root, 'target/release/glassbox'), ['patch', ...a, clean, corrupt], { cwd: root }).toString());
  const cli = patch();
  const t = cli.clean_ids.length;
  const { ctx, page } = await launch(dir(), false);
  try {
    await waitReady(page);
    // (A session to share later; the patching view does not touch it.)
    await page.fill('#prompt', clean);
    await stepOnce(page);
    const seq = await allIds(page);
    await page.getByRole('tab', { name: 'Patching' }).click();
    // Prompts of different lengths: the worker says both lengths.
    await page.fill('#patch-clean', clean);
    await page.fill('#patch-corrupt', 'The capital of the United Kingdom is');
    await page.click('#patch-run');
    await page.waitForSelector('#patch-error', { timeout: LONG });
    assert.match(await page.textContent('#patch-error'), /the clean one has \d+ tokens, the corrupted one \d+/);
    // The example starts, shows progress, and Cancel stops it part way.
    await page.click('#patch-example');
    await page.waitForSelector('#patch-progress', { timeout: LONG });
    assert.equal(await page.inputValue('#patch-corrupt'), 'The Colosseum is located in the city of');
    await page.waitForFunction(() => Number(document.querySelector('#patch')?.dataset.done) >= 1, null, { timeout: LONG });
    await page.click('#patch-cancel');
    await page.waitForSelector('#patch-stopped', { timeout: LONG });
    const stopped = Number(await page.getAttribute('#patch', 'data-done'));
    assert.ok(stopped >= 1 && stopped < Number(await page.getAttribute('#patch', 'data-parts')), `stopped after ${stopped} parts`);
    // The short pair, to the end.
    await page.fill('#patch-clean', clean);
    await page.fill('#patch-corrupt', corrupt);
    const t0 = Date.now();
    await page.click('#patch-run');
    await page.waitForSelector('#patch-done', { timeout: LONG });
    const secs = (Date.now() - t0) / 1e3;
    assert.equal(Number(await page.getAttribute('#patch', 'data-target')), cli.target, 'the tracked token is the CLI\'s');
    assert.ok(Math.abs(Number(await page.getAttribute('#patch', 'data-clean-p')) - cli.clean_p) < 1e-4);
    assert.ok(Math.abs(Number(await page.getAttribute('#patch', 'data-corrupt-p')) - cli.corrupt_p) < 1e-4);
    const cells = await page.$$eval('#patch-grid rect.patch-cell', rs => rs.map(r => [Number(r.dataset.layer), Number(r.dataset.col), Number(r.dataset.p)]));
    assert.equal(cells.length, 30 * t, 'every cell');
    let worst = 0;
    for (const [l, j, p] of cells) worst = Math.max(worst, Math.abs(p - cli.layers[l][j]));
    assert.ok(worst < 1e-4, `every cell is the CLI's (worst ${worst})`);
    const extreme = g => { let b = [0, 0]; g.forEach((row, l) => row.forEach((p, j) => { if (p > g[b[0]][b[1]]) b = [l, j]; })); return b; };
    const [bl, bj] = extreme(cli.layers);
    const pageBest = cells.reduce((m, c) => (c[2] > m[2] ? c : m));
    assert.deepEqual([pageBest[0], pageBest[1]], [bl, bj], 'the brightest cell is the CLI\'s');
    // Hover text and a click: that run's candidates.
    assert.match(await page.locator(`#patch-grid rect[data-layer="${bl}"][data-col="${bj}"] title`).textContent(), /^Layer \d+, position \d+ .*: p = [\d.]+/);
    await page.click(`#patch-grid rect[data-layer="${bl}"][data-col="${bj}"]`);
    await page.waitForSelector('#patch-picked li.target', { timeout: LONG });
    await page.locator('#patch').screenshot({ path: path.join(artifacts, 'patching.png') });
    const json = JSON.parse((await downloaded(page, '#patch [data-export=json]')).toString());
    assert.deepEqual(json.clean_ids, cli.clean_ids);
    assert.equal(json.layers[bl][bj], cli.layers[bl][bj]);
    assert.equal((await downloaded(page, '#patch [data-export=csv]')).toString().trim().split('\n').length, 1 + 30 * t);
    // The heads: layers × heads, as glassbox patch --what heads.
    const heads = patch('--what', 'heads');
    await page.click('#patch [data-site=heads]');
    await page.waitForSelector('#patch[data-site=heads] #patch-done', { timeout: LONG });
    const hcells = await page.$$eval('#patch-grid rect.patch-cell', rs => rs.map(r => [Number(r.dataset.layer), Number(r.dataset.col), Number(r.dataset.p)]));
    assert.equal(hcells.length, 30 * 9);
    const [hl, hh] = extreme(heads.layers);
    const hBest = hcells.reduce((m, c) => (c[2] > m[2] ? c : m));
    assert.deepEqual([hBest[0], hBest[1]], [hl, hh], 'the strongest head is the CLI\'s');
    // Another target: the clean run's second candidate.
    const second = await page.$eval('#patch-target', s => s.options[1].value);
    await page.selectOption('#patch-target', second);
    await page.waitForSelector(`#patch[data-target="${second}"] #patch-done`, { timeout: LONG });
    const other = patch('--what', 'heads', '--target', second);
    assert.ok(Math.abs(Number(await page.getAttribute('#patch', 'data-clean-p')) - other.clean_p) < 1e-4);
    // A share link carries the experiment: it opens on the patching tab and runs again.
    await page.click('#share');
    const link = await page.inputValue('#shared-url');
    assert.match(link, /i=patch/);
    assert.match(link, /pw=heads/);
    const opened = await ctx.newPage();
    await opened.goto(link);
    await opened.waitForSelector('#patch[data-site=heads] #patch-done', { timeout: LONG });
    assert.equal(await opened.inputValue('#patch-corrupt'), corrupt);
    const again = await opened.$$eval('#patch-grid rect.patch-cell', rs => rs.map(r => Number(r.dataset.p)));
    assert.deepEqual(again, hcells.map(c => c[2]), 'the linked experiment gives the same grid');
    await opened.close();
    assert.deepEqual(await allIds(page), seq, 'the page\'s sequence is untouched');
    console.log(`# patching: ${t} tokens, residual grid in ${secs.toFixed(1)} s on the page (CPU); brightest ${bl}:${bj} p ${cli.layers[bl][bj].toFixed(3)}; strongest head ${hl}:${hh}`);
  } finally {
    await ctx.close();
  }
});

test('CPU fallback: branches: five decodings side by side part where glassbox branches says, with the model\'s top five at each token; a branch becomes the sequence', { timeout: 1_200_000 }, async () => {
  const prompt = 'Once upon a time, there was a';
  const cli = JSON.parse(execFileSync(path.join(root, 'target/release/glassbox'), ['branches', '-n', '16', prompt], { cwd: root }).toString());
  const { ctx, page } = await launch(dir(), false);
  try {
    await waitReady(page);
    await page.fill('#prompt', prompt);
    await stepOnce(page);
    await page.click('#branches summary');
    await page.waitForSelector('#branches .branches-table', { timeout: LONG });
    assert.equal(await page.getAttribute('#branches .branches-table', 'data-parts-at'), cli.parts_at === null ? 'none' : String(cli.parts_at), 'they part where the engine says');
    for (let k = 0; k < cli.branches.length; k++) {
      const ids = await page.$$eval(`#branches td[data-branch="${k}"]`, ts => ts.map(t => Number(t.dataset.id)));
      assert.deepEqual(ids, cli.branches[k].ids, `branch ${k} (${JSON.stringify(cli.branches[k].decoding)})`);
    }
    if (cli.parts_at !== null) {
      assert.equal(await page.locator('#branches tr.parts').count(), 1, 'the parting row is marked');
    }
    const b = cli.branches[3];
    const title = await page.getAttribute('#branches td[data-branch="3"][data-i="0"]', 'title');
    assert.ok(title.split('\n').length === 6 && title.includes(b.top[0][0][1].toFixed(3)), `the top five at that point: ${title}`);
    await page.locator('#branches').screenshot({ path: path.join(artifacts, 'branches.png') });
    // The T 1.3 branch becomes the page's sequence.
    await page.click('#branches button[data-use="3"]');
    const want = [...cli.prompt_ids, ...b.ids];
    await page.waitForFunction(n => document.querySelectorAll('.tok').length === n, want.length, { timeout: LONG });
    assert.deepEqual(await allIds(page), want);
    console.log(`# branches: part at ${cli.parts_at}; ${cli.branches.map(x => x.ids.length).join('/')} tokens`);
  } finally {
    await ctx.close();
  }
});

test('CPU fallback: compare mode: two prompts step in lock step like llama.cpp on each, candidates with p under A, p under B and Δ, Force and Undo on both, the heatmap as B and B − A, both caches in the HUD; a share link replays both', { timeout: 1_200_000 }, async () => {
  const other = greedy.cases.find(c => c.name === 'once_upon');
  assert.equal(other.prompt_ids.length, fixture.prompt_ids.length, 'equal lengths: B − A can be drawn');
  const bIds = page => page.evaluate(() => [...document.querySelectorAll('.btok')].map(e => Number(e.dataset.id)));
  const bGen = page => page.evaluate(() => [...document.querySelectorAll('.btok.gen, .btok.forced')].map(e => Number(e.dataset.id)));
  // Every compare row has both probabilities and Δ = p_B − p_A.
  const rows = page => page.$$eval('.cand.compare', bs => bs.map(b => ({ id: Number(b.dataset.id), pa: b.dataset.pa, pb: b.dataset.pb, delta: b.dataset.delta })));
  const filled = page => page.waitForFunction(() => {
    const bs = [...document.querySelectorAll('.cand.compare')];
    return bs.length > 0 && bs.every(b => b.dataset.pa && b.dataset.pb && b.dataset.delta) && !document.querySelector('#step').disabled;
  }, null, { timeout: LONG });
  const { ctx, page } = await launch(dir(), false);
  try {
    await waitReady(page);
    await page.fill('#prompt', fixture.prompt);
    await page.check('#compare-on');
    assert.equal(await page.inputValue('#prompt-b'), fixture.prompt, 'B starts as A');
    await page.fill('#prompt-b', other.prompt);
    const STEPS_C = 4;
    for (let i = 0; i < STEPS_C; i++) await stepOnce(page);
    await page.waitForFunction(n => document.querySelectorAll('.btok').length === n, other.prompt_ids.length + STEPS_C, { timeout: LONG });
    assert.deepEqual(await genIds(page), fixture.ids.slice(0, STEPS_C), 'A is greedy like llama.cpp on A');
    assert.deepEqual((await bIds(page)).slice(0, other.prompt_ids.length), other.prompt_ids, 'B\'s prompt tokens equal llama.cpp\'s');
    assert.deepEqual(await bGen(page), other.ids.slice(0, STEPS_C), 'B is greedy like llama.cpp on B');

    // Candidates: p under A, p under B, Δ; each side's top-1 is llama.cpp's next greedy token.
    await filled(page);
    let r = await rows(page);
    for (const x of r) assert.ok(Math.abs(Number(x.pb) - Number(x.pa) - Number(x.delta)) < 1e-6, JSON.stringify(x));
    const topA = r.reduce((m, x) => (Number(x.pa) > Number(m.pa) ? x : m));
    const topB = r.reduce((m, x) => (Number(x.pb) > Number(m.pb) ? x : m));
    assert.equal(topA.id, fixture.ids[STEPS_C], 'the most likely under A is A\'s next greedy token');
    assert.equal(topB.id, other.ids[STEPS_C], 'the most likely under B is B\'s next greedy token');
    assert.ok(r.some(x => Math.abs(Number(x.delta)) > 0.05), 'the two prompts disagree somewhere');
    assert.match(await page.textContent('#hud-memory'), /A \d+ MB \+ B \d+ MB/, 'the HUD shows both caches');
    await page.locator('.candidates').screenshot({ path: path.join(artifacts, 'compare-candidates.png') });

    // Force one token on both, then undo on both.
    const [a0, b0] = [await allIds(page), await bIds(page)];
    const forced = topB.id;
    await page.click(`.cand.compare[data-id="${forced}"]`);
    await page.waitForFunction(n => document.querySelectorAll('.tok').length > n && !document.querySelector('#undo').disabled, a0.length, { timeout: LONG });
    assert.equal((await allIds(page)).at(-1), forced);
    assert.equal((await bIds(page)).at(-1), forced, 'forced on B too');
    await page.click('#undo');
    await page.waitForFunction(n => document.querySelectorAll('.tok').length === n && !document.querySelector('#undo').disabled, a0.length, { timeout: LONG });
    assert.deepEqual(await allIds(page), a0);
    assert.deepEqual(await bIds(page), b0, 'undone on B too');

    // The heatmap of B, and B − A.
    await page.click('[data-shown="shown-b"]');
    await page.waitForFunction(() => document.querySelector('[data-shown="shown-b"]').getAttribute('aria-selected') === 'true', null, { timeout: LONG });
    // (Compare mode's second prompt and chips push the heatmap down: bring it into view.)
    await page.locator('#heatmap').scrollIntoViewIfNeeded();
    const box = await page.locator('#heatmap').boundingBox();
    const n = a0.length;
    const cellAt = (q, k) => [box.x + box.width * (68 + (k + 0.5) * 512 / n) / 580, box.y + box.height * (68 + (q + 0.5) * 512 / n) / 580];
    const [qx, qy] = cellAt(n - 1, 1);
    const bSecond = (await page.textContent('#chips-b .btok:nth-child(2)')).trim();
    const tipOf = t => { const s = document.querySelector('#attn-tooltip').textContent; return /→ key 1 .*: \d\.\d{4}$/.test(s) && s.includes(t); };
    await hoverUntil(page, qx, qy, tipOf, bSecond);
    const wB = Number((await page.textContent('#attn-tooltip')).match(/: (\d\.\d{4})$/)[1]);
    await page.click('[data-shown="shown-a"]');
    await page.mouse.move(box.x + 2, box.y + 2);
    const aSecond = (await page.textContent('#chips .tok:nth-child(2)')).trim();
    await hoverUntil(page, qx, qy, tipOf, aSecond);
    const wA = Number((await page.textContent('#attn-tooltip')).match(/: (\d\.\d{4})$/)[1]);
    await page.click('[data-shown="shown-diff"]');
    await page.waitForSelector('#diff-legend');
    await page.mouse.move(box.x + 2, box.y + 2);
    await hoverUntil(page, qx, qy, () => /→ key 1 .*: [+-]\d\.\d{4}$/.test(document.querySelector('#attn-tooltip').textContent), null);
    const d = Number((await page.textContent('#attn-tooltip')).match(/: ([+-]\d\.\d{4})$/)[1]);
    assert.ok(Math.abs(d - (wB - wA)) <= 2e-4, `B − A in the cell (${d}) is B's ${wB} minus A's ${wA}`);
    assert.ok(await inkedPixels(page, '#heatmap', PLOT_FROM) > 0, 'B − A is drawn');
    await page.locator('.attention').screenshot({ path: path.join(artifacts, 'compare-diff.png') });

    // The lens of A and B side by side, the parting layer marked: from
    // there on every layer's top tokens differ, and just before it they agree.
    await page.getByRole('tab', { name: 'Logit lens' }).click();
    await page.waitForSelector('#lens-compare[data-parts-at]', { timeout: LONG });
    const lensRows = await page.$$eval('#lens-compare tbody tr', trs => trs.map(tr => [...tr.querySelectorAll('td.lcell')].map(td => Number(td.dataset.id))));
    const partsAt = await page.getAttribute('#lens-compare', 'data-parts-at');
    assert.equal(lensRows.length, 30, 'a row per layer');
    assert.deepEqual(lensRows.at(-1), [fixture.ids[STEPS_C], other.ids[STEPS_C]], 'the last layer predicts each side\'s next greedy token');
    assert.notEqual(partsAt, 'none', 'the two predictions differ at the end');
    const L = Number(partsAt);
    assert.ok(lensRows.slice(L).every(([a, b]) => a !== b) && (L === 0 || lensRows[L - 1][0] === lensRows[L - 1][1]), `they part at layer ${L}`);
    assert.equal(await page.locator('#lens-compare tr.parts').count(), 1);
    assert.equal(await page.getAttribute('#lens-compare tr.parts', 'data-layer'), partsAt);

    // Attribution as A − B, two steps back (where the CLI reads the
    // page's text as the page's tokens): each part is glassbox attribute's
    // after A minus after B, for A's top token.
    for (let i = 0; i < 2; i++) {
      const k = (await allIds(page)).length;
      await page.click('#undo');
      await page.waitForFunction(k => document.querySelectorAll('.tok').length === k - 1 && !document.querySelector('#undo').disabled, k, { timeout: LONG });
    }
    await page.getByRole('tab', { name: 'Why this token' }).click();
    await page.waitForSelector('#attr-ab', { timeout: LONG });
    await page.check('#attr-ab');
    await page.waitForSelector('#attribution[data-ab="true"]', { timeout: LONG });
    const token = await page.getAttribute('#attribution', 'data-token');
    const attribute = text => JSON.parse(execFileSync(path.join(root, 'target/release/glassbox'), ['attribute', '--token', token, text], { cwd: root }).toString());
    const [ca, cb] = [attribute(await page.textContent('#generated-text')), attribute(await page.textContent('#generated-text-b'))];
    assert.equal(ca.pos, (await allIds(page)).length - 1, 'the CLI reads A\'s text as the page\'s tokens');
    assert.equal(cb.pos, (await bIds(page)).length - 1, 'and B\'s');
    assert.ok(Math.abs(Number(await page.getAttribute('#attribution', 'data-logit')) - ca.logit) < 1e-3);
    assert.ok(Math.abs(Number(await page.getAttribute('#attribution', 'data-b-logit')) - cb.logit) < 1e-3);
    const heads = ca.parts.map((p, i) => ({ ...p, d: p.value - cb.parts[i].value })).filter(p => p.kind === 'head').sort((x, y) => Math.abs(y.d) - Math.abs(x.d));
    const top = heads[0];
    const cellAB = Number(await page.getAttribute(`#attr-grid rect[data-layer="${top.layer}"][data-head="${top.head}"]`, 'data-value'));
    assert.ok(Math.abs(cellAB - top.d) < 2e-3, `head ${top.layer}:${top.head}: page A − B ${cellAB}, CLI ${top.d}`);
    await page.locator('#attribution').screenshot({ path: path.join(artifacts, 'compare-attribution.png') });

    // A share link replays both sequences.
    const [a2, b2] = [await allIds(page), await bIds(page)];
    await page.click('#share');
    const url = await page.inputValue('#shared-url');
    assert.match(url, /[?&]c=/);
    const opened = await ctx.newPage();
    await opened.goto(url);
    await opened.waitForFunction(([a, b]) => document.querySelectorAll('.tok').length === a && document.querySelectorAll('.btok').length === b && !document.querySelector('#step').disabled, [a2.length, b2.length], { timeout: LONG });
    assert.deepEqual(await allIds(opened), a2, 'the link replays A');
    assert.deepEqual(await bIds(opened), b2, 'the link replays B');
    assert.equal(await opened.inputValue('#prompt-b'), other.prompt);
    await opened.close();
    // Compare mode off: one sequence again.
    await page.uncheck('#compare-on');
    await page.waitForFunction(() => !document.querySelector('#prompt-b') && document.querySelectorAll('.btok').length === 0, null, { timeout: LONG });
    await stepOnce(page);
    assert.equal(await page.locator('.cand.compare').count(), 0);
    console.log(`# compare: A ${fixture.name} and B ${other.name}, ${STEPS_C} steps; top under A ${topA.id}, under B ${topB.id}; B − A at (${n - 1}, 1) ${d}; lenses part at layer ${L}; A − B strongest at head ${top.layer}:${top.head} (${top.d.toFixed(3)})`);
  } finally {
    await ctx.close();
  }
});

// The rows of token_embd.weight from a GGUF file, read from scratch (the
// header walked by hand, Q8_0 / F32 / F16 rows dequantized here), and the
// k tokens whose rows are nearest `id`'s by cosine (itself excluded; ties
// to the lower id).
function nearestFromScratch(file, id, k) {
  const buf = fs.readFileSync(file);
  let o = 0;
  const u32 = () => { const v = buf.readUInt32LE(o); o += 4; return v; };
  const u64 = () => { const v = Number(buf.readBigUInt64LE(o)); o += 8; return v; };
  const str = () => { const n = u64(); const s = buf.toString('utf8', o, o + n); o += n; return s; };
  const size = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skip = t => { if (t === 8) str(); else if (t === 9) { const et = u32(), n = u64(); for (let i = 0; i < n; i++) skip(et); } else o += size[t]; };
  assert.equal(buf.toString('latin1', 0, 4), 'GGUF');
  o = 4; u32();
  const nt = u64(), nkv = u64();
  let align = 32;
  for (let i = 0; i < nkv; i++) { const key = str(); const t = u32(); if (key === 'general.alignment') { align = u32(); } else skip(t); }
  let emb = null;
  for (let i = 0; i < nt; i++) {
    const name = str(), nd = u32(), dims = [];
    for (let j = 0; j < nd; j++) dims.push(u64());
    const type = u32(), off = u64();
    if (name === 'token_embd.weight') emb = { dims, type, off };
  }
  const data = Math.ceil(o / align) * align + emb.off;
  const [d, v] = emb.dims;
  const row = r => {
    const x = new Float64Array(d);
    if (emb.type === 8) { // Q8_0: blocks of 32, an f16 scale then 32 int8
      const per = d / 32 * 34;
      for (let b = 0; b < d / 32; b++) {
        const at = data + r * per + b * 34;
        const s = f16(buf.readUInt16LE(at));
        for (let j = 0; j < 32; j++) x[b * 32 + j] = s * buf.readInt8(at + 2 + j);
      }
    } else if (emb.type === 0) for (let j = 0; j < d; j++) x[j] = buf.readFloatLE(data + (r * d + j) * 4);
    else throw new Error(`token_embd type ${emb.type}`);
    return x;
  };
  const me = row(id);
  const norm = x => Math.sqrt(x.reduce((s, a) => s + a * a, 0));
  const mine = norm(me);
  const cos = [];
  for (let t = 0; t < v; t++) {
    if (t === id) continue;
    const x = row(t);
    let dot = 0;
    for (let j = 0; j < d; j++) dot += x[j] * me[j];
    const den = mine * norm(x);
    cos.push([t, den > 0 ? dot / den : 0]);
  }
  cos.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return cos.slice(0, k);
}
function f16(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

test('CPU fallback: the map of the whole network: the spine, blocks and heads are glassbox map\'s numbers, the output and the sampling where it acts, role badges as glassbox heads, the middle folds and opens, a head opens the heatmap, Enter on the spine opens the lens, the nearest tokens, Play, reduced motion, SVG text, phone width', { timeout: 1_200_000 }, async () => {
  const { ctx, page } = await launch(dir(), false);
  try {
    await waitReady(page);
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    const n = (await allIds(page)).length;
    await page.waitForSelector(`#map[data-pos="${n - 1}"] g.map-layer`, { timeout: LONG });
    // Folded: the first and last three layers, and one row for the middle.
    assert.equal(await page.locator('#map g.map-layer').count(), 6);
    assert.equal(await page.locator('#map g.map-box.fold').count(), 1);
    await page.click('#map-fold');
    await page.waitForFunction(() => document.querySelectorAll('#map g.map-layer').length === 30, null, { timeout: LONG });
    // Every number is glassbox map's at the same position.
    const text = await page.textContent('#generated-text');
    const cli = JSON.parse(execFileSync(path.join(root, 'target/release/glassbox'), ['map', '--nearest', '8', text], { cwd: root }).toString());
    assert.equal(cli.pos, n - 1, 'the CLI reads the page\'s text as its tokens');
    const layers = await page.$$eval('#map g.map-layer', gs => gs.map(g => ({ l: Number(g.dataset.layer), norm: Number(g.dataset.norm), first: Number(g.dataset.first), attention: Number(g.dataset.attention), ffn: Number(g.dataset.ffn) })));
    const close = (a, b) => Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(b));
    for (const x of layers) {
      assert.ok(close(x.norm, cli.residual[x.l]) && close(x.first, cli.first[x.l]), `layer ${x.l}: spine ${x.norm} / ${x.first} vs ${cli.residual[x.l]} / ${cli.first[x.l]}`);
      assert.ok(close(x.attention, cli.attention[x.l]) && close(x.ffn, cli.ffn[x.l]), `layer ${x.l}: attention ${x.attention}, ffn ${x.ffn}`);
    }
    const heads = await page.$$eval('#map rect.map-head', rs => rs.map(r => Number(r.dataset.norm)));
    assert.equal(heads.length, 30 * 9);
    heads.forEach((v, i) => assert.ok(close(v, cli.heads[Math.floor(i / 9)][i % 9]), `head ${i}: ${v}`));
    const sink = Math.max(...layers.map(x => x.first)), here = Math.max(...layers.map(x => x.norm));
    assert.ok(sink > 10 * here, `position 0's activations dwarf the rest (${sink} vs ${here})`);
    // The output: the final norm, the embedding matrix again (SmolLM2 ties
    // them), the sampling where it acts, and the next token: the candidates'.
    assert.equal(await page.getAttribute('#map .map-output', 'data-tied'), 'true');
    assert.match(await page.textContent('#map .map-output'), /49152/);
    assert.equal(await page.getAttribute('#map .map-sampling', 'data-greedy'), 'true');
    const top3 = (await page.$$eval('.cand', cs => cs.map(c => Number(c.dataset.id)))).slice(0, 3);
    assert.deepEqual(await page.$$eval('#map-next text.map-cand', ts => ts.map(t => Number(t.dataset.id))), top3, 'the map ends in the candidates');
    // Head roles on the map: each head's badge is its clearest habit as glassbox heads measures it.
    const roles = JSON.parse(execFileSync(path.join(root, 'target/release/glassbox'), ['heads'], { cwd: root }).toString());
    const clearAt = { previous: 0.4, sink: 0.9, duplicate: 0.3, induction: 0.3 };
    const clearest = h => Object.keys(clearAt).filter(r => h[r] >= clearAt[r]).sort((a, b) => h[b] / clearAt[b] - h[a] / clearAt[a])[0] || '';
    await page.check('#map-roles');
    await page.waitForSelector('#map rect.map-head[data-role="induction"]', { timeout: LONG });
    const badges = await page.$$eval('#map rect.map-head', rs => rs.map(r => r.dataset.role));
    const want = roles.heads.map(clearest);
    const agree = badges.filter((b, i) => b === want[i]).length;
    assert.ok(agree >= badges.length - 2, `role badges: ${agree} of ${badges.length} agree with glassbox heads (a score at a threshold may round either way)`);
    assert.equal(await page.getAttribute('#map g.map-box.head[data-layer="18"][data-head="6"] rect', 'data-role'), 'induction', 'the strongest induction head, 18:6');
    assert.equal(await page.locator('#map text.map-badge').count(), badges.filter(b => b).length);
    // The nearest tokens in embedding space: a cosine over the whole
    // vocabulary computed here from the file's bytes, and the CLI's.
    await page.click('#map-nearest-toggle');
    await page.waitForSelector('#map-nearest li', { timeout: LONG });
    const near = await page.$$eval('#map-nearest li', ls => ls.map(l => [Number(l.dataset.id), Number(l.dataset.cos)]));
    const scratch = nearestFromScratch(path.join(root, 'assets/models/SmolLM2-135M-Instruct.Q4_1.gguf'), cli.token, 8);
    assert.deepEqual(near.map(x => x[0]), scratch.map(x => x[0]), 'the nearest tokens are a cosine computed from scratch');
    near.forEach((x, i) => assert.ok(Math.abs(x[1] - scratch[i][1]) < 1e-4, `cosine ${x[1]} vs ${scratch[i][1]}`));
    assert.deepEqual(near.map(x => x[0]), cli.nearest.map(x => x.id));
    await page.locator('#map').screenshot({ path: path.join(artifacts, 'map.png') });
    // A head opens the heatmap of that head.
    await page.click('#map g.map-box.head[data-layer="2"][data-head="4"]');
    await page.waitForFunction(() => document.querySelector('select[aria-label=Layer]').value === '2', null, { timeout: LONG });
    assert.equal(await page.getAttribute('section.attention button.head.on', 'aria-label'), 'Head 4');
    assert.ok(await page.locator('#heatmap').count() === 1, 'the heatmap is open');
    // An FFN opens its strongest neurons: the CLI's.
    await page.click('#map g.map-box.ffn[data-layer="29"]');
    await page.waitForSelector('#map-neurons[data-layer="29"] li', { timeout: LONG });
    assert.deepEqual(await page.$$eval('#map-neurons li', ls => ls.map(l => Number(l.dataset.index))), cli.neurons[29].map(x => x.index));
    // Enter on the spine opens the logit lens.
    await page.focus('#map g.map-box.spine[data-layer="10"]');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#lens', { timeout: LONG });
    // Each step sends the token down the spine, unless motion is reduced.
    await stepOnce(page);
    await page.waitForSelector(`#map[data-pos="${n}"]`, { timeout: LONG });
    assert.equal(await page.locator('#map .map-pulse').count(), 1);
    await page.emulateMedia({ reducedMotion: 'reduce' });
    assert.equal(await page.$eval('#map .map-pulse', e => getComputedStyle(e).display), 'none', 'no animation with reduced motion');
    await page.emulateMedia({ reducedMotion: 'no-preference' });
    // Play: the map follows every step (each step keeps what it reads), the pulse loops.
    await page.click('#play');
    await page.waitForSelector('#map .map-pulse.playing', { timeout: LONG });
    const seen = new Set();
    for (let i = 0; i < 400 && seen.size < 3; i++) {
      seen.add(await page.getAttribute('#map', 'data-pos'));
      await page.waitForTimeout(25);
    }
    await page.click('#play');
    await page.waitForFunction(() => document.querySelector('#play').textContent === 'Play' && !document.querySelector('#step').disabled, null, { timeout: LONG });
    assert.ok(seen.size >= 3, `the map was redrawn during Play at positions ${[...seen]}`);
    const last = (await allIds(page)).length - 1;
    await page.waitForSelector(`#map[data-pos="${last}"]`, { timeout: LONG });
    // Sampling: the settings are drawn where they act.
    await page.selectOption('select[aria-label=Decoding]', 'sample');
    await page.waitForSelector('#map .map-sampling[data-greedy="false"]', { timeout: LONG });
    assert.match(await page.textContent('#map .map-sampling'), /÷ T = 0\.80.*softmax.*draw/);
    await page.selectOption('select[aria-label=Decoding]', 'greedy');
    await page.waitForSelector('#map .map-sampling[data-greedy="true"]', { timeout: LONG });
    await page.uncheck('#map-animate');
    assert.equal(await page.locator('#map .map-pulse').count(), 0, 'switched off');
    // The SVG export keeps its words as text.
    const svgText = await page.$eval('#map-svg', e => new XMLSerializer().serializeToString(e));
    assert.ok((svgText.match(/<text/g) || []).length > 50 && svgText.includes('softmax'), 'the map\'s SVG holds its labels as text');
    // Hidden, the map asks nothing and draws nothing; shown again, it is back.
    await page.click('#map-hide');
    await page.waitForSelector('#map[data-hidden="true"]');
    assert.equal(await page.locator('#map-svg').count(), 0);
    await page.click('#map-hide');
    await page.waitForSelector(`#map-svg`, { timeout: LONG });
    // Phone width: the map becomes a vertical list that fits the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('#map').scrollIntoViewIfNeeded();
    assert.equal(await page.$eval('#map-svg', e => getComputedStyle(e).display), 'none');
    const box = await page.locator('#map-list').boundingBox();
    assert.ok(box && box.width <= 390, `the map's list is ${box && box.width} px wide on a 390 px screen`);
    assert.equal(await page.locator('#map-list li.map-li[data-layer]').count(), 30);
    await page.click('#map-list button.map-lhead[data-layer="5"][data-head="1"]');
    await page.waitForFunction(() => document.querySelector('select[aria-label=Layer]').value === '5', null, { timeout: LONG });
    await page.locator('#map').screenshot({ path: path.join(artifacts, 'map-phone.png') });
    console.log(`# map: spine at layer 29 ${cli.residual[29].toFixed(1)}, position 0 peaks at ${sink.toFixed(0)}; nearest ${JSON.stringify(cli.text)}: ${cli.nearest.slice(0, 4).map(x => JSON.stringify(x.text)).join(', ')}`);
  } finally {
    await ctx.close();
  }
});

test('CPU fallback: what each head does: the grid coloured by induction badges the heads glassbox heads ranks first; a head\'s evidence', { timeout: 1_200_000 }, async () => {
  const cli = JSON.parse(execFileSync(path.join(root, 'target/release/glassbox'), ['heads'], { cwd: root }).toString());
  const ranked = [...cli.heads].sort((a, b) => b.induction - a.induction);
  const best = ranked[0];
  const { ctx, page } = await launch(dir(), false);
  try {
    await waitReady(page);
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    await page.getByRole('tab', { name: 'All heads' }).click();
    await page.click('#role-bar button[data-role=induction]');
    const sel = `#role-overlay g.role-head[data-layer="${best.layer}"][data-head="${best.head}"]`;
    await page.waitForSelector(sel, { timeout: LONG, state: 'attached' });
    assert.equal(await page.getAttribute(sel, 'data-role'), 'induction', `the CLI's strongest induction head ${best.layer}:${best.head} has the induction badge`);
    assert.ok(Math.abs(Number(await page.getAttribute(sel, 'data-score')) - best.induction) < 1e-3, 'its score is the CLI\'s');
    const badged = await page.$$eval('#role-overlay g.role-head[data-role=induction]', gs => gs.map(g => [Number(g.dataset.layer), Number(g.dataset.head)]));
    const clear = ranked.filter(h => h.induction >= 0.3).map(h => [h.layer, h.head]);
    for (const h of badged) assert.ok(clear.some(c => c[0] === h[0] && c[1] === h[1]), `badge on ${h}: the CLI scores it ≥ 0.3`);
    // Open that head: its scores and its attention on the repeated tokens.
    const box = await page.locator('#grid').boundingBox();
    const [w, h] = [Number(await page.getAttribute('#grid', 'width')), Number(await page.getAttribute('#grid', 'height'))];
    await page.locator('#grid').click({ position: { x: (best.head * 40 + 18) * box.width / w, y: (best.layer * 40 + 18) * box.height / h } });
    await page.waitForSelector(`#role-panel[data-layer="${best.layer}"][data-head="${best.head}"]`, { timeout: LONG });
    assert.equal(await page.getAttribute('#role-panel', 'data-role'), 'induction');
    await page.waitForFunction(() => document.querySelector('#role-evidence')?.width === 240, null, { timeout: LONG });
    await page.waitForFunction(() => {
      const c = document.querySelector('#role-evidence');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] < 200) n++;
      return n > 500;
    }, null, { timeout: LONG });
    await page.locator('#role-panel').screenshot({ path: path.join(artifacts, 'head-roles.png') });
    const scores = (await downloaded(page, '#role-panel [data-export=csv]')).toString().trim().split('\n');
    assert.equal(scores.length, 1 + 270);
    assert.ok(scores.includes(`${best.layer},${best.head},${[best.previous, best.sink, best.duplicate, best.induction].map(String).join(',')},induction`) || scores.some(l => l.startsWith(`${best.layer},${best.head},`) && l.endsWith(',induction')), 'the strongest induction head, as a row');
    console.log(`# head roles: strongest induction head ${best.layer}:${best.head} (${best.induction.toFixed(3)}); ${badged.length} induction badges on the page`);
  } finally {
    await ctx.close();
  }
});

test('CPU fallback: the guided tour in English and 中文, every message present', { timeout: 1_200_000 }, async () => {
  const { ctx, page } = await launch(dir(), false);
  try {
    await waitReady(page);
    await page.fill('#prompt', fixture.prompt);
    for (let i = 0; i < 3; i++) await stepOnce(page);
    const missing = () => page.evaluate(() => (document.body.innerText.match(/⟦[^⟧]*⟧/g) || []).concat(
      [...document.querySelectorAll('[title],[aria-label],[placeholder]')].flatMap(e => [e.title, e.getAttribute('aria-label'), e.placeholder]).filter(t => t && t.includes('⟦'))));
    for (const lang of ['en', 'zh']) {
      await page.getByRole('button', { name: lang === 'en' ? 'EN' : '中文', exact: true }).click();
      await page.waitForFunction(l => new URL(location.href).searchParams.get('lang') === l, lang, { timeout: 10_000 });
      await page.click('#tour-start');
      await page.waitForSelector('#tour');
      let stops = 0;
      for (;;) {
        stops++;
        // The stop points at an element that exists.
        await page.waitForFunction(() => document.querySelector('.tour-target'), null, { timeout: LONG });
        // ... and its place on the map of the whole model is marked.
        await page.waitForFunction(() => document.querySelector('#map .tour-place'), null, { timeout: LONG });
        const text = await page.textContent('#tour-text');
        assert.ok(text.length > 40, `stop ${stops}: ${text}`);
        if (lang === 'zh') assert.match(text, /[\u4e00-\u9fff]/, `stop ${stops} in 中文 is Chinese: ${text}`);
        else assert.doesNotMatch(text, /[\u4e00-\u9fff]/, `stop ${stops} in English: ${text}`);
        if (stops === 1) assert.ok(await page.$eval('#map', e => e.classList.contains('tour-target')), 'the first stop is on the map');
        if (stops === 12) assert.match(text, lang === 'en' ? /probabilit|0\.\d\d/ : /概率/, 'the logits stop uses the live numbers');
        if (await page.locator('#tour-next').count() === 0) break;
        await page.click('#tour-next');
      }
      assert.equal(stops, 16, 'sixteen stops');
      await page.screenshot({ path: path.join(artifacts, `tour-${lang}.png`), fullPage: false });
      await page.click('#tour-done');
      await page.waitForSelector('#tour', { state: 'detached' });
      // The map in this language (the README's screenshots).
      await page.locator('#map').screenshot({ path: path.join(artifacts, `map-${lang}.png`) });
      // Every view opened along the way, in this language: no missing message.
      for (const tab of await page.getByRole('tab').all()) await tab.click();
      await page.waitForTimeout(500);
      assert.deepEqual(await missing(), [], `every message exists in ${lang}`);
    }
    // The language persists: a reload keeps 中文.
    await page.goto(URL_.replace(/\/$/, '/?backend=cpu'));
    await page.waitForFunction(() => document.documentElement.lang === 'zh-CN' && /单步/.test(document.querySelector('#step')?.textContent || ''), null, { timeout: LONG });
    // Escape closes the tour; it never blocks the page.
    await page.waitForFunction(() => document.querySelector('[role=status] .badge'), null, { timeout: LONG });
    await page.click('#tour-start');
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    assert.ok(await page.locator('#tour').isVisible(), 'the tour stays open while the page is used');
    await page.keyboard.press('Escape');
    await page.waitForSelector('#tour', { state: 'detached' });
  } finally {
    await ctx.close();
  }
});

test('CPU fallback: links replay a session exactly; session files save, open and refuse', { timeout: 1_200_000 }, async () => {
  const { ctx, page } = await launch(dir(), false);
  let url, before;
  try {
    await waitReady(page);
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    await stepOnce(page);
    const forced = Number(await page.getAttribute('.cand[data-rank="2"]', 'data-id'));
    const n = (await allIds(page)).length;
    await page.click('.cand[data-rank="2"]');
    await page.waitForFunction(n => document.querySelectorAll('.tok').length > n && !document.querySelector('#step').disabled, n, { timeout: LONG });
    await stepOnce(page);
    await page.selectOption('select[aria-label=Layer]', '3');
    await page.getByRole('button', { name: 'Head 4', exact: true }).click();
    await page.click('#share');
    url = await page.inputValue('#shared-url');
    assert.ok(url.length < 2000 && /[?&]f=2:\d+/.test(url) && /[?&]l=3/.test(url) && /[?&]h=4/.test(url), url);
    before = await allIds(page);
    assert.equal(before[fixture.prompt_ids.length + 2], forced);

    // Save the session, start over, open it again.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#save-session')]);
    const file = await dl.path();
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(saved.schema, 1);
    assert.equal(saved.candidates.length, 4, 'the candidates of every step');
    await page.click('#reset');
    await page.waitForFunction(() => document.querySelectorAll('.tok').length === 0 && !document.querySelector('#open-session').disabled, null, { timeout: LONG });
    await page.setInputFiles('#session-file', file);
    await page.waitForFunction(n => document.querySelectorAll('.tok').length === n && !document.querySelector('#step').disabled, before.length, { timeout: LONG });
    assert.deepEqual(await allIds(page), before, 'the opened session has the same tokens');
    // A file from another model, and an edited file: each its message, the session left as it was.
    const other = path.join(dir(), 'other.json');
    fs.writeFileSync(other, JSON.stringify({ ...saved, model: { ...saved.model, name: 'Another model', n_layers: 16 } }));
    await page.setInputFiles('#session-file', other);
    await page.waitForSelector('.error', { timeout: LONG });
    assert.match(await page.textContent('.error'), /made with Another model/);
    await page.getByRole('button', { name: 'Dismiss' }).click();
    const edited = path.join(dir(), 'edited.json');
    const toks = saved.tokens.map((t, i) => i === saved.tokens.length - 1 ? { ...t, id: t.id + 1 } : t);
    fs.writeFileSync(edited, JSON.stringify({ ...saved, tokens: toks }));
    await page.setInputFiles('#session-file', edited);
    await page.waitForSelector('.error', { timeout: LONG });
    assert.match(await page.textContent('.error'), /edited/);
    await page.waitForFunction(n => document.querySelectorAll('.tok').length === n && !document.querySelector('#step').disabled, before.length, { timeout: LONG });
    assert.deepEqual(await allIds(page), before, 'the previous session is put back');
  } finally {
    await ctx.close();
  }
  // The link in a fresh browser profile: the same tokens, forced marker and head.
  const { ctx: ctx2, page: page2 } = await launch(dir(), false);
  try {
    await page2.goto(url);
    await page2.waitForFunction(n => document.querySelectorAll('.tok').length === n && !document.querySelector('#step').disabled, before.length, { timeout: LONG });
    assert.deepEqual(await allIds(page2), before, 'the link replays the same tokens');
    assert.equal(await page2.getAttribute(`.tok[data-pos="${fixture.prompt_ids.length + 2}"]`, 'class').then(c => c.includes('forced')), true, 'the forced marker');
    assert.equal(await page2.inputValue('select[aria-label=Layer]'), '3');
    assert.match(await page2.getAttribute('button[aria-label="Head 4"]', 'class'), /\bon\b/, 'the selected head');
    // A tampered link: a clear message and a usable page.
    await page2.goto(url.replace(/f=2:(\d+)/, 'f=2;$1'));
    await page2.waitForSelector('.error', { timeout: LONG });
    assert.match(await page2.textContent('.error'), /damaged.*“f”/);
    await page2.fill('#prompt', fixture.prompt);
    await stepOnce(page2);
    assert.deepEqual((await genIds(page2)).slice(0, 1), fixture.ids.slice(0, 1), 'the page still works');
  } finally {
    await ctx2.close();
  }
});

test('CPU fallback: exports (PNG at 2× with a caption, SVG with text, CSV and JSON with the tokens)', { timeout: 1_200_000 }, async () => {
  const { ctx, page } = await launch(dir(), false);
  try {
    await waitReady(page);
    await page.fill('#prompt', fixture.prompt);
    for (let i = 0; i < 3; i++) await stepOnce(page);
    const n = (await allIds(page)).length;
    await page.waitForFunction(n => Number(document.querySelector('#hud-e2e').dataset.len) === n, n, { timeout: LONG });
    const heat = await downloaded(page, '#export-figure');
    assert.ok(isPng(heat), 'the heatmap is a PNG');
    const [w, h] = pngSize(heat);
    assert.ok(w >= 1160 && h > w, `2× with room for the caption: ${w}×${h}`);
    const csv = (await downloaded(page, '#export-csv')).toString();
    const rows = csv.trim().split('\n');
    assert.ok(rows[0].startsWith('query\\key,"0:The"'), rows[0]);
    assert.equal(rows.length, n + 1, 'a row per query');
    assert.equal(rows[1].split(',').length, n + 1);
    const json = JSON.parse((await downloaded(page, '#export-json')).toString());
    assert.equal(json.tokens.length, n);
    assert.equal(json.maps[0].weights.length, n);
    const sum = json.maps[0].weights[n - 1].reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-2, `a row sums to 1: ${sum}`);
    const all = JSON.parse((await downloaded(page, '#export-json-all')).toString());
    assert.equal(all.maps.length, 270, 'every head');
    await page.getByRole('tab', { name: 'All heads' }).click();
    await page.waitForFunction(n => Number(document.querySelector('#hud-e2e').dataset.len) === n, n, { timeout: LONG });
    await page.waitForTimeout(500);
    assert.ok(isPng(await downloaded(page, '#export-figure')), 'the all-heads view is a PNG');
    await page.getByRole('tab', { name: 'Lines' }).click();
    await page.waitForSelector('#lines line', { timeout: LONG });
    const lines = (await downloaded(page, '#export-figure')).toString();
    assert.match(lines, /^<\?xml[\s\S]*<svg[\s\S]*<text[^>]*>[^<]+<\/text>[\s\S]*<\/svg>$/, 'the line view as SVG with text');
    await page.getByRole('tab', { name: 'Logit lens' }).click();
    await page.waitForSelector('#export-lens', { timeout: LONG });
    assert.ok(isPng(await downloaded(page, '#export-lens')), 'the lens is a PNG');
  } finally {
    await ctx.close();
  }
});

// Drop a file on the page as a user drags one from their desktop.
async function dropFile(page, name, bytes) {
  await page.evaluate(([name, b64]) => {
    const bin = atob(b64);
    const u = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    const dt = new DataTransfer();
    dt.items.add(new File([u], name));
    document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, [name, bytes.toString('base64')]);
}

// The next-token candidates as [id, probability].
const cands = page => page.evaluate(() => [...document.querySelectorAll('.cand:not(.srow)')].map(e => [Number(e.dataset.id), Number(e.dataset.prob)]));

// Wait for the model bar's verdict on an opened file: 'inspected' or 'failed'.
async function opened(page) {
  await page.waitForSelector('#opening[data-stage=inspected], #opening[data-stage=failed]', { timeout: LONG });
  return page.getAttribute('#opening', 'data-stage');
}

// Synthetic models written by `glassbox synth`: a 4-layer, 4-head Llama in
// Q4_K (read in place by the WGSL kernels), a truncated copy, a copy whose
// first attention matrix claims the unsupported Q2_K, and not a GGUF at all.
function userFiles() {
  const d = dir();
  const good = path.join(d, 'tiny-4x4.gguf');
  execFileSync(path.join(root, 'target/release/glassbox'), ['synth', '--out', good, '--layers', '4', '--heads', '4', '--kv-heads', '2', '--name', 'Synthetic 4x4', '--seed', '5']);
  const bytes = fs.readFileSync(good);
  const q2k = Buffer.from(bytes);
  const name = Buffer.from('blk.0.attn_q.weight');
  const at = q2k.indexOf(name) + name.length;
  const nDims = q2k.readUInt32LE(at);
  q2k.writeUInt32LE(10, at + 4 + 8 * nDims); // ggml type 10 = Q2_K (smaller blocks: still in bounds)
  return { good, bytes, truncated: bytes.subarray(0, Math.floor(bytes.length * 0.6)), q2k, notGguf: Buffer.from('PK\x03\x04 this is a zip, not a model') };
}

test('Your own model: checked before loading, bad files refused while the model keeps working, 4 × 4 grid on WebGPU and the CPU, kept across reloads', { timeout: 1_200_000 }, async () => {
  const files = userFiles();
  const profile = dir();
  let { ctx, page } = await launch(profile, true);
  try {
    const status = await waitReady(page);
    assert.match(status, /WebGPU/, status);
    const served = (await page.textContent('#model-name')).trim();
    await page.fill('#prompt', fixture.prompt);

    // Bad files: each its own message, and the served model keeps working.
    const bad = [['truncated.gguf', files.truncated, 'Truncated', /incomplete/], ['q2k.gguf', files.q2k, 'TensorType', /weight format/],
      ['photo.gguf', files.notGguf, 'NotGguf', /not a GGUF/]];
    for (const [name, bytes, problem, words] of bad) {
      await dropFile(page, name, bytes);
      assert.equal(await opened(page), 'failed', name);
      assert.equal(await page.getAttribute('#opening', 'data-problem'), problem, name);
      const text = await page.textContent('#opening');
      assert.match(text, words, text);
      assert.match(text, /keeps using/, text);
      if (problem === 'TensorType') assert.match(text, /blk\.0\.attn_q\.weight.*Q2_K/, text);
      console.log(`# ${name}: ${text.replace(/\s+/g, ' ').slice(0, 200)}`);
      assert.equal((await page.textContent('#model-name')).trim(), served);
      await page.click('#opening button');
    }
    await stepOnce(page);
    assert.deepEqual(await genIds(page), fixture.ids.slice(0, 1), 'the served model still steps like llama.cpp');

    // The synthetic model through the picker: its card, then Load (kept).
    await page.setInputFiles('#model-file', files.good);
    assert.equal(await opened(page), 'inspected');
    const card = await page.textContent('#model-card');
    assert.match(card, /Layers\s*4/, card);
    assert.match(card, /4 query heads, 2 key\/value heads, 64 wide/, card);
    assert.match(card, /Q4_K/, card);
    assert.ok(await page.isChecked('#model-keep'));
    await page.click('#model-load');
    await page.waitForFunction(() => document.querySelector('#model-name')?.textContent.includes('Synthetic 4x4') && !document.querySelector('#opening'), null, { timeout: LONG });
    assert.equal(await page.locator('.tok').count(), 0, 'a new model starts a new session');
    assert.equal(await page.locator('select[aria-label=Layer] option').count(), 4);
    await page.fill('#prompt', 'hello world');
    for (let i = 0; i < 3; i++) await stepOnce(page);
    const gpuIds = await genIds(page);
    const gpuCands = await cands(page);
    await page.getByRole('tab', { name: 'All heads' }).click();
    await page.waitForSelector('#grid');
    assert.equal(await page.getAttribute('#grid', 'data-layers'), '4');
    assert.equal(await page.getAttribute('#grid', 'data-heads'), '4');
    assert.ok(await inkedPixels(page, '#grid') > 100, 'the 4 × 4 grid is drawn');
    // The map sizes to the model: 4 blocks of 4 heads, nothing folded.
    await page.waitForFunction(() => document.querySelectorAll('#map g.map-layer').length === 4, null, { timeout: LONG });
    assert.equal(await page.locator('#map g.map-box.head').count(), 16, 'the map draws 4 × 4 heads');
    assert.equal(await page.locator('#map g.map-box.fold').count(), 0);
    await page.screenshot({ path: path.join(artifacts, 'own-model.png'), fullPage: true });
    assert.match(await page.textContent('#model-source'), /kept in this browser/);

    // Reload: the kept model comes back from the browser cache, not the server.
    const requests = modelRequests();
    await ctx.close();
    ({ ctx, page } = await launch(profile, true));
    await waitReady(page);
    assert.match(await page.textContent('#model-name'), /Synthetic 4x4/);
    assert.equal(modelRequests(), requests, 'the served model was not downloaded for a kept model');
    await page.waitForSelector('#kept-models');
    assert.equal(await page.locator('#kept-models li').count(), 1);

    // Back to the served model, then remove the kept one.
    await page.click('#use-served');
    await page.waitForFunction(s => document.querySelector('#model-name')?.textContent.trim() === s, served, { timeout: LONG });
    await page.click('#kept-models summary');
    await page.click('#kept-models .kept-remove');
    await page.waitForFunction(() => !document.querySelector('#kept-models'), null, { timeout: LONG });
    await ctx.close();

    // The same synthetic model on the CPU fallback: the same greedy tokens.
    ({ ctx, page } = await launch(dir(), false));
    await page.goto(URL_ + '?backend=cpu');
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    await dropFile(page, 'tiny-4x4.gguf', files.bytes);
    assert.equal(await opened(page), 'inspected');
    await page.click('#model-keep');
    await page.click('#model-load');
    await page.waitForFunction(() => document.querySelector('#model-name')?.textContent.includes('Synthetic 4x4'), null, { timeout: LONG });
    assert.match(await page.textContent('#model-source'), /used once/);
    await page.fill('#prompt', 'hello world');
    for (let i = 0; i < 3; i++) await stepOnce(page);
    assert.deepEqual(await genIds(page), gpuIds, 'CPU fallback = WebGPU on the synthetic model');
    const cpuCands = await cands(page);
    assert.deepEqual(cpuCands.map(c => c[0]), gpuCands.map(c => c[0]), 'the same candidates in the same order');
    const worst = Math.max(...cpuCands.map((c, i) => Math.abs(c[1] - gpuCands[i][1])));
    assert.ok(worst < 1e-4, `candidate probabilities differ by ${worst}`);
    console.log(`# synthetic 4x4 (Q4_K): WebGPU and CPU both generate ${JSON.stringify(gpuIds)}; next-token candidates equal, worst |Δp| ${worst.toExponential(1)}`);

    // A link that names a model this browser does not keep: the served model, and why.
    await page.goto(URL_ + '?backend=cpu&model=kept%2F5-0123456789abcdef%2Fgone.gguf');
    await page.waitForSelector('#model-missing', { timeout: LONG });
    assert.match(await page.textContent('#model-missing'), /gone\.gguf/);
  } finally {
    await ctx.close();
  }
});

// A session with a forced token in it, then the ids and which were forced.
async function forcedSession(page) {
  await page.fill('#prompt', fixture.prompt);
  for (let i = 0; i < 2; i++) await stepOnce(page);
  const n = (await allIds(page)).length;
  await page.click('.cand[data-rank="1"]');
  await page.waitForFunction(n => document.querySelectorAll('.tok').length > n && !document.querySelector('#step').disabled, n, { timeout: LONG });
  await stepOnce(page);
  return sessionNow(page);
}
const sessionNow = page => page.evaluate(() => [...document.querySelectorAll('.tok')].map(e => `${e.dataset.id}${e.classList.contains('forced') ? '!' : ''}`));

// The page after a restart: the same tokens, forced ones still forced.
async function replayed(page, want) {
  await page.waitForSelector('#restarted', { timeout: LONG });
  await page.waitForFunction(n => document.querySelectorAll('.tok').length === n && !document.querySelector('#step').disabled, want.length, { timeout: LONG });
  assert.deepEqual(await sessionNow(page), want, 'the session is replayed exactly');
}

test('Faults: settings out of range refused at the field; no Cache API; a panic in the worker, a terminated worker, a lost GPU device: the page notices, restarts, replays the session', { timeout: 1_200_000 }, async () => {
  let { ctx, page } = await launch(dir(), false);
  try {
    await page.goto(URL_ + '?backend=cpu&test-hooks=1');
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    // Settings outside what is allowed: said at the field, the last valid value kept.
    await page.selectOption('select[aria-label=Decoding]', 'sample');
    for (const [label, typed, kept, words] of [['Temperature', '-1', '0.8', /Temperature takes a number from 0\.05 to 5; kept 0\.8/], ['Top-p', '1.5', '1', /Top-p takes a number above 0 and at most 1/],
      ['Top-k', '-3', '0', /Top-k takes a whole number from 0 \(off\) to 49152/], ['Max tokens', '0', '64', /Max tokens takes a whole number from 1 to 8192; kept 64/]]) {
      const sel = `input[aria-label="${label}"]`;
      await page.fill(sel, typed);
      await page.press(sel, 'Tab');
      await page.waitForSelector('#field-error', { timeout: 10_000 });
      assert.match(await page.textContent('#field-error'), words);
      assert.equal(await page.inputValue(sel), kept, `${label} keeps its last valid value`);
    }
    await page.fill('input[aria-label="Temperature"]', '0.5');
    await page.press('input[aria-label="Temperature"]', 'Tab');
    await page.waitForFunction(() => !document.querySelector('#field-error'), null, { timeout: 10_000 });
    await page.selectOption('select[aria-label=Decoding]', 'greedy');
    const want = await forcedSession(page);
    assert.ok(want.some(t => t.endsWith('!')), 'a forced token');
    // Editing the prompt while a step is in flight: the step's late reply
    // belongs to the old sequence and must not land in the new, empty one.
    await page.click('#play');
    await page.waitForFunction(n => document.querySelectorAll('.tok').length > n, want.length, { timeout: LONG });
    await page.evaluate(() => { const p = document.querySelector('#prompt'); p.value += ' '; p.dispatchEvent(new InputEvent('input', { bubbles: true })); });
    await new Promise(r => setTimeout(r, 1500));
    assert.equal(await page.locator('.tok').count(), 0, 'no stale token in the reset sequence');
    await page.fill('#prompt', fixture.prompt);
    const again = await forcedSession(page);
    assert.deepEqual(again, want, 'the same session again');
    await page.evaluate(() => window.glassboxTest.panic());
    await replayed(page, want);
    const note = await page.textContent('#restarted');
    assert.match(note, /engine stopped/, note);
    console.log(`# after a panic in the worker: ${note.trim()}`);
    await page.click('#restarted button');
    await stepOnce(page);
    await page.evaluate(() => window.glassboxTest.terminate());
    const want2 = want.concat([]);
    await page.waitForSelector('#restarted', { timeout: LONG });
    await page.waitForFunction(n => document.querySelectorAll('.tok').length === n + 1 && !document.querySelector('#step').disabled, want2.length, { timeout: LONG });
    assert.deepEqual((await sessionNow(page)).slice(0, want.length), want);
    await ctx.close();

    // No Cache API (a private window, storage off): the model loads from the
    // network, works, and the page says it will not be kept.
    ({ ctx, page } = await launch(dir(), false));
    await page.goto(URL_ + '?backend=cpu&test-hooks=1&no-cache=1');
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    assert.match(await page.textContent('#model-not-kept'), /could not keep the model/);
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    assert.deepEqual(await genIds(page), fixture.ids.slice(0, 1));
    await ctx.close();

    // WebGPU: the device is lost; the page offers the CPU, and the session continues there.
    ({ ctx, page } = await launch(dir(), true));
    await page.goto(URL_ + '?test-hooks=1');
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    assert.match(await page.textContent('[role=status]'), /WebGPU/);
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    await stepOnce(page);
    const gpu = await sessionNow(page);
    await page.evaluate(() => window.glassboxTest.loseDevice());
    await page.waitForSelector('#device-lost', { timeout: LONG });
    const lost = await page.textContent('#device-lost');
    console.log(`# device lost: ${lost.trim()}`);
    await page.click('#continue-cpu');
    await replayed(page, gpu);
    assert.match(await page.textContent('[role=status]'), /CPU/);
    await stepOnce(page);
    assert.deepEqual(await genIds(page), fixture.ids.slice(0, 3), 'greedy on the CPU continues the WebGPU session like llama.cpp');
  } finally {
    await ctx.close();
  }
});

test('CPU fallback: a 2,000-step session (Play to the context limit, Undo and Force on the way): memory flat, clicks handled within a step', { timeout: 1_200_000 }, async () => {
  const { ctx, page } = await launch(dir(), false);
  const memory = async () => {
    await page.waitForFunction(() => /wasm \d+ MB/.test(document.querySelector('#hud-memory')?.textContent || ''), null, { timeout: LONG });
    const hud = await page.textContent('#hud-memory');
    const heap = await page.evaluate(() => performance.memory ? performance.memory.usedJSHeapSize : 0);
    return { wasm: Number(hud.match(/wasm (\d+) MB/)[1]), hud: hud.trim(), heap: heap / 1e6 };
  };
  const count = () => page.locator('.tok').count();
  // Play until the sequence holds n tokens (stepping past an end-of-sequence
  // on the way), then pause; the pause lands within one step.
  async function playTo(n) {
    for (let round = 0; ; round++) {
      assert.ok(round < 50, 'Play keeps stopping');
      await page.click('#play');
      await page.waitForFunction(n => document.querySelectorAll('.tok').length >= n || document.querySelector('#finished'), n, { timeout: LONG });
      if (await count() >= n) break;
      await stepOnce(page);
    }
    if (await page.locator('#finished').count()) return count();
    // Count and click in one task, so that no token lands in between.
    const atClick = await page.evaluate(() => { const n = document.querySelectorAll('.tok').length; document.querySelector('#play').click(); return n; });
    await page.waitForFunction(() => !document.querySelector('#step').disabled || document.querySelector('#finished'), null, { timeout: LONG });
    const settled = await count();
    assert.ok(settled <= atClick + 1, `Pause clicked at ${atClick} tokens took effect at ${settled}`);
    return settled;
  }
  try {
    await page.goto(URL_ + '?backend=cpu&ctx=2048');
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    await page.fill('#prompt', 'Write a long story about a lighthouse keeper and the sea.');
    await page.fill('input[aria-label="Max tokens"]', '2048');
    await page.press('input[aria-label="Max tokens"]', 'Tab');
    // Sampling keeps the text from looping into end-of-sequence.
    await page.selectOption('select[aria-label=Decoding]', 'sample');
    await playTo(100);
    const m100 = await memory();
    await playTo(1000);
    // Undo twice and force a candidate in the middle of it.
    for (let i = 0; i < 2; i++) {
      const n = await count();
      await page.click('#undo');
      await page.waitForFunction(n => document.querySelectorAll('.tok').length === n - 1 && !document.querySelector('#undo').disabled, n, { timeout: LONG });
    }
    const n = await count();
    await page.click('.cand[data-rank="2"]');
    await page.waitForFunction(n => document.querySelectorAll('.tok').length === n + 1 && !document.querySelector('#step').disabled, n, { timeout: LONG });
    // On to the context limit (stepping past any end-of-sequence on the way).
    for (let round = 0; round < 50; round++) {
      await page.click('#play');
      await page.waitForSelector('#finished', { timeout: LONG });
      if (/context is full/.test(await page.textContent('#finished'))) break;
      await stepOnce(page);
    }
    const end = await count();
    const m2000 = await memory();
    assert.equal(end, 2048, 'played to the context limit');
    assert.match(await page.textContent('#finished'), /2048/);
    console.log(`# 2,000-step session: at 100 tokens ${m100.hud}, JS heap ${m100.heap.toFixed(0)} MB; at ${end} tokens ${m2000.hud}, JS heap ${m2000.heap.toFixed(0)} MB`);
    // The caches grow with the sequence by design (~82 KB a position); nothing else should.
    assert.ok(m2000.heap < m100.heap + 40, `the page's JS heap grew from ${m100.heap} to ${m2000.heap} MB`);
    assert.ok(m2000.wasm < m100.wasm + 2048 * 0.082 * 2 + 64, `wasm memory grew from ${m100.wasm} to ${m2000.wasm} MB`);
  } finally {
    await ctx.close();
  }
});

// Issue 16 §3, each defect found by reading the code as a new user would,
// kept fixed: the Lines view after an Undo, a link asking for 400 million
// steps, Reset in the middle of a session file's replay, the probability
// colouring asked in chunks and kept across an Undo, sampling settings
// changed mid-sequence in a shared link, an inspected file not loaded.
test('CPU fallback: the control core\'s defects stay fixed', { timeout: 1_200_000 }, async () => {
  const { ctx, page } = await launch(dir(), false);
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  page.on('console', m => { if (m.type() === 'error' && /panicked|unreachable/.test(m.text())) errors.push(m.text()); });
  const idle = p => p.waitForFunction(() => { const s = window.glassboxTest?.state(); return s && s.ready && !s.busy && !s.playing && s.pending === 0; }, null, { timeout: LONG });
  const base = URL_ + '?backend=cpu&test-hooks=1';
  try {
    await page.goto(base);
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    // §3.1 The Lines view kept its row from before an Undo and indexed past the tokens.
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    await stepOnce(page);
    await page.getByRole('tab', { name: 'Lines' }).click();
    await page.waitForSelector('#lines', { timeout: LONG });
    const n = (await allIds(page)).length;
    await page.click('#undo');
    await page.waitForFunction(n => document.querySelectorAll('.tok').length === n - 1, n, { timeout: LONG });
    await idle(page);
    await page.waitForTimeout(300);
    assert.deepEqual(errors, [], 'no panic after an Undo in the Lines view');
    await stepOnce(page);
    assert.deepEqual(errors, []);
    await page.getByRole('tab', { name: 'Heatmap' }).click();

    // §3.10 Probability colouring: at most 256 positions per question, and
    // an Undo keeps what is still true (it asked for every position again).
    const para = 'The river runs past the old mill, and the miller counts the sacks of grain one by one before the winter comes. ';
    await page.fill('#prompt', para.repeat(13));
    await stepOnce(page);
    const len = (await allIds(page)).length;
    assert.ok(len > 300, `a long sequence: ${len}`);
    const asked = () => page.evaluate(() => window.glassboxTest.asked().NextTokens || 0);
    const before = await asked();
    await page.check('#prob-colours');
    await page.waitForFunction(n => document.querySelectorAll('.tok.coloured').length === n - 1, len, { timeout: LONG });
    const questions = (await asked()) - before;
    assert.ok(questions >= 2, `${len} positions in questions of at most 256: ${questions} questions`);
    await page.click('#undo');
    await page.waitForFunction(n => document.querySelectorAll('.tok.coloured').length === n - 2, len, { timeout: LONG });
    await idle(page);
    await page.waitForTimeout(300);
    assert.equal((await asked()) - before, questions, 'an Undo asks for nothing it knew');
    await page.uncheck('#prob-colours');

    // §3.12 One head's matrix past what one answer holds (2,896 tokens): the
    // export says so at its buttons (it only warned in the console).
    await page.fill('#prompt', para.repeat(113));
    await stepOnce(page);
    const long = (await allIds(page)).length;
    assert.ok(long > 2896, `past the limit: ${long}`);
    await idle(page);
    for (const id of ['#export-csv', '#export-json']) {
      assert.ok(await page.isDisabled(id), `${id} at ${long} tokens`);
      assert.match(await page.getAttribute(id, 'title'), /past 2896 tokens/);
    }
    assert.ok(!(await page.isDisabled('#export-figure')), 'the figure still exports');

    // §3.4 A link asking for 400,000,000 steps is refused whole; the page works.
    await page.goto(base + '&p=Hi&n=400000000');
    await page.waitForSelector('.error', { timeout: LONG });
    assert.match(await page.textContent('.error'), /400000000 steps.*holds 8192/);
    await page.getByRole('button', { name: 'Dismiss' }).click();
    await idle(page);
    assert.equal(await page.locator('.tok').count(), 0, 'nothing was queued');
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    assert.deepEqual(await genIds(page), fixture.ids.slice(0, 1));

    // §3.3 Sampling settings changed mid-sequence: the link replays each token
    // with the settings it was drawn with.
    await page.selectOption('select[aria-label=Decoding]', 'sample');
    for (const [seed, steps] of [['1', 3], ['2', 3]]) {
      await page.fill('input[aria-label=Seed]', seed);
      await page.press('input[aria-label=Seed]', 'Tab');
      for (let i = 0; i < steps; i++) await stepOnce(page);
    }
    await idle(page);
    const sampled = await allIds(page);
    await page.click('#share');
    const url = await page.inputValue('#shared-url');
    assert.match(url, /[?&]w=/, url);
    const fresh = await ctx.newPage();
    fresh.on('pageerror', e => errors.push(e.message));
    await fresh.goto(url.replace('?', '?backend=cpu&test-hooks=1&'));
    await fresh.waitForFunction(n => document.querySelectorAll('.tok').length === n, sampled.length, { timeout: LONG });
    await idle(fresh);
    assert.deepEqual(await allIds(fresh), sampled, 'the link replays every sampled token');
    await fresh.close();

    // §3.5 Reset in the middle of a session file's replay: its token check goes
    // with it (it outlived the replay and put the old session back later).
    await page.selectOption('select[aria-label=Decoding]', 'greedy');
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#save-session')]);
    const saved = JSON.parse(fs.readFileSync(await dl.path(), 'utf8'));
    const file = path.join(dir(), 'long.json');
    const wrong = Array.from({ length: 20 }, () => ({ id: 1, text: '?', kind: 'generated' }));
    fs.writeFileSync(file, JSON.stringify({ ...saved, session: { ...saved.session, steps: 20 }, tokens: saved.tokens.filter(t => t.kind === 'prompt').concat(wrong), candidates: [] }));
    await page.setInputFiles('#session-file', file);
    await page.waitForFunction(() => window.glassboxTest.state().replaying && document.querySelectorAll('.tok.gen').length > 2, null, { timeout: LONG });
    await page.click('#reset');
    await idle(page);
    // Past the file's 20 tokens (where the old check fired), to the end of the sequence.
    await page.click('#play');
    await page.waitForFunction(() => document.querySelectorAll('.tok.gen').length > 20 && !window.glassboxTest.state().playing, null, { timeout: LONG });
    await idle(page);
    await page.waitForTimeout(500);
    assert.equal(await page.locator('.error').count(), 0, 'no "edited" error after the replay was reset');
    assert.deepEqual((await genIds(page)).slice(0, 3), fixture.ids.slice(0, 3), 'the new work is kept');

    // §3.7 An inspected file is not kept when another model is loaded instead.
    const files = userFiles();
    await page.setInputFiles('#model-file', files.good);
    assert.equal(await opened(page), 'inspected');
    await page.evaluate(() => window.glassboxTest.load('model.gguf'));
    await page.waitForFunction(() => !document.querySelector('#opening'), null, { timeout: LONG });
    await idle(page);
    await page.evaluate(() => window.glassboxTest.confirmOpen());
    await page.waitForSelector('.error, #opening[data-stage=failed]', { timeout: LONG });
    assert.match(await page.textContent('body'), /no opened file is waiting to be loaded/);
    assert.deepEqual(errors, [], 'no page error on the way');
  } finally {
    await ctx.close();
  }
});

// Issue 16 §3.6 and §3.8: after a crash, a model the person opened and used
// once comes back (it was silently replaced by the served model, and the
// session "replayed" on that); after the GPU device is lost, the next load
// opens a new device instead of using the dead one.
test('Faults: a model used once survives a crash; a lost GPU device is not used again', { timeout: 1_200_000 }, async () => {
  const files = userFiles();
  let { ctx, page } = await launch(dir(), false);
  try {
    await page.goto(URL_ + '?backend=cpu&test-hooks=1');
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    await page.setInputFiles('#model-file', files.good);
    assert.equal(await opened(page), 'inspected');
    await page.uncheck('#model-keep');
    await page.click('#model-load');
    await page.waitForFunction(() => document.querySelector('#model-name')?.textContent.includes('Synthetic 4x4') && !document.querySelector('#opening'), null, { timeout: LONG });
    await page.fill('#prompt', 'hello world');
    await stepOnce(page);
    await stepOnce(page);
    const want = await allIds(page);
    await page.evaluate(() => window.glassboxTest.terminate());
    await page.waitForSelector('#restarted', { timeout: LONG });
    await page.waitForFunction(n => document.querySelectorAll('.tok').length === n && window.glassboxTest.state().ready && !window.glassboxTest.state().busy, want.length, { timeout: LONG });
    assert.match(await page.textContent('#model-name'), /Synthetic 4x4/, 'the same model, read again from the file');
    assert.deepEqual(await allIds(page), want, 'the session replayed on it');
    await ctx.close();

    ({ ctx, page } = await launch(dir(), true));
    await page.goto(URL_ + '?test-hooks=1');
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    assert.match(await page.textContent('[role=status]'), /WebGPU/);
    await page.evaluate(() => window.glassboxTest.loseDevice());
    await page.waitForSelector('#device-lost', { timeout: LONG });
    // Load the model again in the same worker, instead of Continue on the CPU.
    await page.evaluate(() => window.glassboxTest.load('model.gguf'));
    await page.waitForFunction(() => { const s = window.glassboxTest.state(); return s.ready && !s.busy && s.pending === 0; }, null, { timeout: LONG });
    assert.match(await page.textContent('[role=status]'), /WebGPU/, 'a new device');
    await page.fill('#prompt', fixture.prompt);
    await stepOnce(page);
    assert.deepEqual(await genIds(page), fixture.ids.slice(0, 1), 'the new device computes like llama.cpp');
    assert.equal(await page.locator('.error').count(), 0, 'no GPU error');
  } finally {
    await ctx.close();
  }
});

// A seeded random person on the CPU fallback: every kind of action the
// page offers, in any order and at any moment. After every action: no page
// error or wasm panic, the page returns to idle, and the chips are the
// engine's sequence; at checkpoints a share link opened in a fresh page
// replays the same ids. RANDOM_SEED and RANDOM_ACTIONS choose the run; a
// failure prints the seed and the actions so far.
function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RANDOM_PROMPTS = ['The capital of France is', 'Once upon a time', 'a b c', '1, 2, 3,', 'Hello!'];

test('CPU fallback: random use (seeded): no error, back to idle, chips = the engine\'s sequence, links replay', { timeout: 3_600_000 }, async () => {
  const seed = Number(process.env.RANDOM_SEED || (Date.now() % 1_000_000_007));
  const count = Number(process.env.RANDOM_ACTIONS || 200);
  const rnd = mulberry32(seed);
  const below = n => Math.floor(rnd() * n);
  const pick = a => a[below(a.length)];
  const done = [];
  const slow = [];
  const errors = [];
  const base = URL_ + '?backend=cpu&test-hooks=1&ctx=192';
  const watch = p => {
    p.on('pageerror', e => errors.push(`page error: ${e.message}`));
    p.on('console', m => { if (m.type() === 'error' && /panicked|unreachable|RuntimeError|already borrowed/.test(m.text())) errors.push(`console: ${m.text()}`); });
  };
  const { ctx, page } = await launch(dir(), false);
  watch(page);
  const idle = p => p.waitForFunction(() => {
    const s = window.glassboxTest && window.glassboxTest.state();
    const chips = [...document.querySelectorAll('.tok')].map(e => Number(e.dataset.id));
    const bChips = [...document.querySelectorAll('.btok')].map(e => Number(e.dataset.id));
    return s && s.ready && !s.busy && !s.playing && !s.replaying && s.pending === 0 && chips.join() === s.tokens.join() && bChips.join() === s.bTokens.join();
  }, null, { timeout: LONG });
  // Click one of the elements `sel` finds (chosen by the seed), if any is enabled.
  const click = sel => page.evaluate(([sel, k]) => {
    const all = [...document.querySelectorAll(sel)].filter(e => !e.disabled);
    if (!all.length) return false;
    all[Math.floor(k * all.length)].dispatchEvent(new MouseEvent('click', { bubbles: true }));
    return true;
  }, [sel, rnd()]);
  const select = async (sel, values) => { if (await page.locator(sel).count()) await page.selectOption(sel, pick(values)); };
  const actions = [
    [14, 'step', () => click('#step')],
    [4, 'key →', async () => { await page.evaluate(() => document.activeElement?.blur()); await page.keyboard.press(pick(['ArrowRight', 's'])); }],
    [4, 'play then pause', async () => {
      await click('#play');
      await page.waitForTimeout(below(400));
      const playing = await page.evaluate(() => window.glassboxTest.state().playing);
      if (playing) await click('#play');
    }],
    [2, 'key space', async () => { await page.evaluate(() => document.activeElement?.blur()); await page.keyboard.press(' '); await page.waitForTimeout(below(300)); await page.keyboard.press(' '); }],
    [6, 'undo', () => click('#undo')],
    [2, 'key undo', async () => { await page.evaluate(() => document.activeElement?.blur()); await page.keyboard.press(pick(['u', 'Backspace'])); }],
    [2, 'reset', () => click('#reset')],
    [6, 'force a candidate', () => click('.cand')],
    [3, 'switch a head', () => click('#toggle-head')],
    [1, 'restore heads', () => click('#restore-heads')],
    [3, 'attention tab', () => click('section.attention [role=tab]')],
    [3, 'inside tab', () => click('section.inside [role=tab]')],
    [3, 'layer', () => select('select[aria-label=Layer]', ['0', '3', '12', '29'])],
    [3, 'head', () => click('section.attention button.head')],
    [3, 'decoding', () => select('select[aria-label=Decoding]', ['greedy', 'sample', 'beam'])],
    [1, 'mode', () => select('select[aria-label=Mode]', ['raw', 'chat'])],
    [4, 'beam node', () => click('#beam-tree g.bnode')],
    [4, 'chip', () => click('.tok')],
    [3, 'heatmap', async () => {
      // boundingBox() would wait 30 s for a heatmap that is not shown.
      const box = await page.locator('#heatmap').count() ? await page.locator('#heatmap').boundingBox().catch(() => null) : null;
      if (box) await page.mouse.click(box.x + box.width * (0.15 + 0.8 * rnd()), box.y + box.height * (0.15 + 0.8 * rnd()));
    }],
    [3, 'prompt edit', () => page.fill('#prompt', pick(RANDOM_PROMPTS))],
    [1, 'probability colours', () => click('#prob-colours')],
    [1, 'seed', async () => {
      const sel = 'input[aria-label=Seed]';
      // (isEnabled() would wait 30 s for a seed field that is not shown.)
      if (await page.locator(sel).count() && await page.locator(sel).isEnabled().catch(() => false)) { await page.fill(sel, String(below(5))); await page.press(sel, 'Tab'); }
    }],
    [2, 'share and replay', () => checkpoint()],
    [2, 'compare on or off', () => click('#compare-on')],
    [1, 'prompt B edit', async () => { if (await page.locator('#prompt-b').count()) await page.fill('#prompt-b', pick(RANDOM_PROMPTS)); }],
    [2, 'A, B or B − A', () => click('#shown [role=tab]')],
  ];
  const total = actions.reduce((a, x) => a + x[0], 0);
  // A share link opened in a fresh page gives the same chips.
  async function checkpoint() {
    await idle(page);
    if (await page.locator('#share').isDisabled()) return;
    const chips = await allIds(page);
    const bChips = await page.evaluate(() => [...document.querySelectorAll('.btok')].map(e => Number(e.dataset.id)));
    await page.click('#share');
    // A session too long for a link is told to use a file (the field keeps the last link).
    if (/too long for a link/.test(await page.textContent('body'))) {
      await page.getByRole('button', { name: 'Dismiss' }).click();
      return;
    }
    const url = await page.inputValue('#shared-url').catch(() => '');
    if (!url || !chips.length) return;
    const fresh = await ctx.newPage();
    watch(fresh);
    try {
      await fresh.goto(url.replace('?', '?backend=cpu&test-hooks=1&ctx=192&'));
      await fresh.waitForFunction(() => window.glassboxTest && window.glassboxTest.state().ready, null, { timeout: LONG });
      await idle(fresh);
      assert.deepEqual(await allIds(fresh), chips, `the link ${url} replays the same ids`);
      assert.deepEqual(await fresh.evaluate(() => [...document.querySelectorAll('.btok')].map(e => Number(e.dataset.id))), bChips, `the link ${url} replays the same second sequence`);
    } finally {
      await fresh.close();
    }
  }
  try {
    await page.goto(base);
    await page.waitForSelector('[role=status] .badge', { timeout: LONG });
    await page.fill('#prompt', pick(RANDOM_PROMPTS));
    const t0 = Date.now();
    for (let i = 0; i < count; i++) {
      let r = below(total);
      const [, name, act] = actions.find(a => (r -= a[0]) < 0);
      done.push(name);
      const ta = Date.now();
      await act();
      await idle(page);
      slow.push([Date.now() - ta, i, name]);
      assert.deepEqual(errors, [], 'no page error or panic');
      const chips = await allIds(page);
      const engine = await page.evaluate(() => window.glassboxTest.engineTokens());
      assert.deepEqual(chips, engine, 'the chips are the engine\'s sequence');
      if ((i + 1) % 50 === 0) await checkpoint();
    }
    await checkpoint();
    const kinds = new Set(done).size;
    console.log(`# random use: seed ${seed}, ${count} actions (${kinds} kinds) in ${((Date.now() - t0) / 1e3).toFixed(0)} s, no error`);
    slow.sort((a, b) => b[0] - a[0]);
    console.log(`# slowest actions: ${slow.slice(0, 5).map(([ms, i, name]) => `#${i} ${name} ${(ms / 1e3).toFixed(1)} s`).join(', ')}`);
  } catch (e) {
    console.error(`# random use FAILED: seed ${seed} (RANDOM_SEED=${seed} RANDOM_ACTIONS=${done.length}); actions: ${done.join(', ')}`);
    throw e;
  } finally {
    await ctx.close();
  }
});

test('a missing model is a clear error on the page', { timeout: 300_000 }, async () => {
  const port = PORT + 1;
  const bad = spawn(path.join(root, 'target/release/glassbox'), ['serve', '--port', String(port), '--dir', path.join(root, 'www'), '--model', '/nonexistent/model.gguf'], { cwd: root });
  let out = '';
  bad.stdout.on('data', d => { out += d; });
  bad.stderr.on('data', () => {});
  try {
    for (let i = 0; i < 100 && !out.includes('Glassbox is at'); i++) await new Promise(r => setTimeout(r, 100));
    const { ctx, page } = await launch(dir(), false);
    try {
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction(() => /Could not load/.test(document.querySelector('[role=status]')?.textContent || ''), null, { timeout: LONG });
      const status = await page.textContent('[role=status]');
      assert.match(status, /HTTP 404/, status);
      assert.match(status, /fetch-model\.sh/, 'says how to fix it');
    } finally {
      await ctx.close();
    }
  } finally {
    bad.kill();
  }
});
