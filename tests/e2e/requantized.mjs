// A recorded whole-model check, not part of the test suite (the requantized
// files are not fetched in CI): each copy of SmolLM2 requantized by
// llama.cpp's own quantize tool (bench/requantize.py) is opened in the page
// as a user would (Open a model…), loaded, and stepped greedily; the page's
// tokens must equal llama.cpp's on that file
// (tests/fixtures/requantized_greedy.json). On the CPU fallback every
// fixture prompt runs to its 30 tokens; on WebGPU (SwiftShader, ~1 tok/s)
// the first prompt runs for --webgpu-steps tokens.
//
//   node tests/e2e/requantized.mjs [--webgpu-steps 6] [--only Q4_K_M,Q6_K]
//
// Needs: cargo build --release, scripts/build-web.sh, bench/requantize.py's files in assets/models.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const webgpuSteps = Number(arg('--webgpu-steps', '6'));
const only = arg('--only', '');
const fx = JSON.parse(fs.readFileSync(path.join(root, 'tests/fixtures/requantized_greedy.json'), 'utf8'));
const PORT = 19000 + (process.pid % 1000);
const LONG = 600_000;

const server = spawn(path.join(root, 'target/release/glassbox'), ['serve', '--port', String(PORT), '--dir', path.join(root, 'www')], { cwd: root });
let log = '';
server.stdout.on('data', d => { log += d; });
for (let i = 0; i < 100 && !log.includes('Glassbox is at'); i++) await new Promise(r => setTimeout(r, 100));

async function page(webgpu) {
  const args = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const profile = fs.mkdtempSync('/tmp/glassbox-rq-');
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args });
  // The profile (a cached model, compiled code) goes when the browser does.
  ctx.on('close', () => fs.rmSync(profile, { recursive: true, force: true }));
  const p = ctx.pages()[0] || await ctx.newPage();
  await p.goto(`http://127.0.0.1:${PORT}/${webgpu ? '' : '?backend=cpu'}`);
  await p.waitForSelector('[role=status] .badge', { timeout: LONG });
  return { ctx, p };
}

// The user's file, through "Open a model…" (the picker), as a user opens it.
async function open(p, file) {
  await p.setInputFiles('#model-file', file);
  await p.waitForSelector('#opening[data-stage=inspected], #opening[data-stage=failed]', { timeout: LONG });
  if (await p.getAttribute('#opening', 'data-stage') === 'failed') throw new Error(await p.textContent('#opening'));
  const formats = await p.$$eval('#model-card .formats li', l => l.map(e => e.dataset.ty));
  await p.click('#model-keep'); // used once: nothing accumulates in the profile
  await p.click('#model-load');
  await p.waitForFunction(() => !document.querySelector('#opening') && !document.querySelector('#step').disabled, null, { timeout: LONG });
  return formats;
}

async function greedy(p, prompt, n) {
  await p.click('#reset').catch(() => {});
  await p.fill('#prompt', prompt);
  for (let i = 0; i < n; i++) {
    const k = await p.locator('.tok').count();
    await p.click('#step');
    await p.waitForFunction(k => document.querySelectorAll('.tok').length > k && !document.querySelector('#step').disabled, k, { timeout: LONG });
  }
  return p.$$eval('.tok.gen, .tok.forced', l => l.map(e => Number(e.dataset.id)));
}

let failures = 0;
const rows = [];
for (const f of fx.files) {
  if (only && !only.split(',').includes(f.format)) continue;
  const file = path.join(root, 'assets/models', f.file);
  if (!fs.existsSync(file)) { console.error(`${f.file}: not present (run bench/requantize.py)`); continue; }
  const result = { format: f.format };
  for (const webgpu of [false, true]) {
    const { ctx, p } = await page(webgpu);
    try {
      const formats = await open(p, file);
      let ok = 0, total = 0;
      const cases = webgpu ? f.cases.slice(0, 1) : f.cases;
      for (const c of cases) {
        const n = webgpu ? Math.min(webgpuSteps, c.ids.length) : c.ids.length;
        const got = await greedy(p, c.prompt, n);
        const want = c.ids.slice(0, got.length);
        total++;
        // (The fixture's ids end at end-of-sequence where llama.cpp stopped.)
        if (JSON.stringify(got) === JSON.stringify(want) && got.length === n) ok++;
        else { failures++; console.error(`${f.format} ${webgpu ? 'WebGPU' : 'CPU'} ${c.name}:\n  page      ${JSON.stringify(got)}\n  llama.cpp ${JSON.stringify(c.ids.slice(0, n))}`); }
      }
      result[webgpu ? 'webgpu' : 'cpu'] = `${ok}/${total}` + (webgpu ? ` (first ${webgpuSteps} tokens)` : '');
      result.formats = formats.join(', ');
    } finally {
      await ctx.close();
    }
  }
  rows.push(result);
  console.error(`${f.format}: ${JSON.stringify(result)}`);
}
server.kill();
console.log('| file | formats (the page\'s card) | page greedy = llama.cpp, CPU fallback (30 tokens) | WebGPU (SwiftShader) |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.format} | ${r.formats} | ${r.cpu} | ${r.webgpu} |`);
process.exit(failures ? 1 : 0);
