// Drives the side-by-side browser benchmark (`./run bench web` calls this): serves the bench page,
// our wasm module, the shipped models, the ONNX exports and MNIST test digits from one loopback
// server (cross-origin isolated, like the app's server), runs the page in Debian's headless Chromium
// through playwright-core, prints one table per model, fails when any engine's logits differ from
// ours by more than 1e-4, and with --docs rewrites the marked section of docs/benchmarks.md.
//
// node run_bench.mjs --mnist DIR --module-dir DIR --onnx-dir DIR [--models-dir DIR] [--docs FILE]
//   [--command TEXT] [--runs N] [--models a,b] [--engines a,b,c]
//   [--phases latency,batch,finetune] [--profile yes]
// --profile yes|FUNCTION samples the page with Chromium's CPU profiler (50 us interval) and prints where
// the time went, by function and by file (with FUNCTION: only samples with it on the stack); e.g.
// --engines tfjs-wasm --phases latency --runs 4000 --profile latency (our module needs a build linked
// with --profiling-funcs for function names).
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const TOLERANCE = 1e-4;
const DIGITS = 1024;  // MNIST test digits sent to the page: 100 verify the logits, all feed fine-tuning

function parseArgs(argv) {
  const a = { modelsDir: path.join(root, 'models'), runs: '1000' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    a[key] = argv[i + 1];
  }
  for (const k of ['mnist', 'moduleDir', 'onnxDir'])
    if (!a[k]) throw new Error(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} is required`);
  return a;
}

// First `count` images of an IDX file (gzip or not): (count, 28 * 28) bytes, or the first labels.
function readIdx(file, count) {
  let data = readFileSync(file);
  if (file.endsWith('.gz')) data = gunzipSync(data);
  const ndim = data[3];
  const dims = Array.from({ length: ndim }, (_, i) => data.readUInt32BE(4 + 4 * i));
  const per = dims.slice(1).reduce((x, y) => x * y, 1);
  return data.subarray(4 + 4 * ndim, 4 + 4 * ndim + count * per);
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json' };

function startServer(mounts, memory) {
  const requested = new Set();
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-cache' };
    let body = memory[url];
    if (!body) {
      const mount = Object.keys(mounts).find((m) => url.startsWith(m + '/'));
      const file = mount && path.join(mounts[mount], path.normalize(url.slice(mount.length)));
      if (!file || !file.startsWith(mounts[mount]) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
        if (url !== '/favicon.ico') console.log(`[server] 404 ${url}`);
        res.writeHead(404, headers);
        res.end();
        return;
      }
      body = readFileSync(file);
      headers['Content-Type'] = TYPES[path.extname(file)] || 'application/octet-stream';
    }
    requested.add(url);
    res.writeHead(200, headers);
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () =>
    resolve({ url: `http://127.0.0.1:${server.address().port}`, requested, close: () => server.close() })));
}

// The flags of web/tests/browser.mjs, less the WebGL ones this page does not need.
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const us = (ms) => Math.round(ms * 1e3).toLocaleString('en-US');
const int = (x) => Math.round(x).toLocaleString('en-US');
const times = (x) => (x >= 10 ? x.toFixed(0) : x.toFixed(1)) + 'x';

function table(modelName, model) {
  const ours = model.rows.find((r) => r.id === 'ours');
  const lines = [
    `| engine (\`${modelName}\`) | max abs logit diff vs ours (b1 / b64) | b1 median (p95) | b64 img/s | head fine-tune samples/s | ours faster: b1 / b64 / fine-tune |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of model.rows) {
    const isOurs = r.id === 'ours';
    const diff = isOurs ? 'reference' : r.quantized ? `${r.maxDiffSingle.toExponential(1)}; top-1 agrees ${(100 * r.agreement).toFixed(0)}%`
      : `${r.maxDiffSingle.toExponential(1)} / ${r.maxDiffBatch.toExponential(1)}`;
    const ft = r.fineTune ? int(r.fineTune.samplesPerS) : r.inferenceOnly ? 'as ours' : 'cannot train';
    const ratio = isOurs ? '1x' : [times(r.latency.medianMs / ours.latency.medianMs),
      times(ours.batch64.imagesPerS / r.batch64.imagesPerS),
      r.fineTune ? times(ours.fineTune.samplesPerS / r.fineTune.samplesPerS) : '-'].join(' / ');
    const name = isOurs ? `**${r.label}**` : r.label;
    lines.push(`| ${name} | ${diff} | ${us(r.latency.medianMs)} µs (${us(r.latency.p95Ms)}) | ${int(r.batch64.imagesPerS)} | ${ft} | ${ratio} |`);
  }
  return lines.join('\n');
}

function goals(model) {
  const ours = model.rows.find((r) => r.id === 'ours'), int8 = model.rows.find((r) => r.id === 'ours-int8');
  const winograd = model.rows.find((r) => r.id === 'ours-winograd');
  const peers = model.rows.filter((r) => !r.id.startsWith('ours'));
  const bestLat = peers.reduce((b, r) => (r.latency.medianMs < b.latency.medianMs ? r : b));
  const trainers = peers.filter((r) => r.fineTune);
  const bestFt = trainers.reduce((b, r) => (r.fineTune.samplesPerS > b.fineTune.samplesPerS ? r : b));
  const latRatio = ours.latency.medianMs / bestLat.latency.medianMs;
  const ftRatio = ours.fineTune.samplesPerS / bestFt.fineTune.samplesPerS;
  // The faster path: the quicker of Winograd (f32, fewer operations) and int8 in this run.
  const fast = [winograd, int8].filter((r) => r && r.latency).sort((a, b) => a.latency.medianMs - b.latency.medianMs)[0];
  const fastRatio = fast ? fast.latency.medianMs / bestLat.latency.medianMs : NaN;
  return [
    `Single-digit latency against the best peer (${bestLat.label}, ${us(bestLat.latency.medianMs)} µs): ` +
      `ours with direct convolutions ${us(ours.latency.medianMs)} µs = **${latRatio.toFixed(2)}x** (goal ≤ 1.0x with f32: ` +
      (latRatio <= 1 ? 'met' : `missed by ${((latRatio - 1) * 100).toFixed(0)}%`) + ')' +
      (fast ? `; the faster path (${fast.label}) ${us(fast.latency.medianMs)} µs = **${fastRatio.toFixed(2)}x** (goal ≤ 0.5x: ` +
        (fastRatio <= 0.5 ? 'met' : `missed by ${((fastRatio / 0.5 - 1) * 100).toFixed(0)}%`) + ')' : '') + '.' +
      [winograd, int8].filter((r) => r && r !== fast).map((r) => ` ${r.label}: ${us(r.latency.medianMs)} µs = ${(r.latency.medianMs / bestLat.latency.medianMs).toFixed(2)}x.`).join(''),
    `Head fine-tuning: ours ${int(ours.fineTune.samplesPerS)} samples/s vs the best peer that trains (${bestFt.label}) ` +
      `${int(bestFt.fineTune.samplesPerS)} samples/s = **${ftRatio.toFixed(1)}x** (goal ≥ 2x): ` +
      (ftRatio >= 2 ? 'met' : `missed by ${((1 - ftRatio / 2) * 100).toFixed(0)}%`) + '.',
  ];
}

// Self time per function and per file from a CPU profile, the top entries first. within: count only
// samples with that function on the stack (e.g. "latency", the harness's single-digit loop).
function printProfile(profile, within) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const inside = (id) => {
    for (let n = id; n !== undefined; n = parent.get(n)) if (byId.get(n).callFrame.functionName === within) return true;
    return false;
  };
  const self = new Map(), perFile = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    if (within && within !== 'yes' && !inside(id)) return;
    const dt = profile.timeDeltas[i] || 0, f = byId.get(id).callFrame;
    const file = f.url ? path.basename(f.url) : `(${f.functionName || 'native'})`;
    const key = `${f.functionName || '(anonymous)'}  [${file}]`;
    self.set(key, (self.get(key) || 0) + dt);
    perFile.set(file, (perFile.get(file) || 0) + dt);
    total += dt;
  });
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, v]) => `  ${(100 * v / total).toFixed(1).padStart(5)}%  ${(v / 1e3).toFixed(0).padStart(7)} ms  ${k}`).join('\n');
  console.log(`\nCPU profile: ${(total / 1e3).toFixed(0)} ms sampled${within && within !== 'yes' ? ` inside ${within}()` : ''}\nby file:\n${top(perFile, 12)}\nby function (self time):\n${top(self, 25)}\n`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const images = readIdx(path.join(args.mnist, 't10k-images-idx3-ubyte.gz'), DIGITS);
  const labels = readIdx(path.join(args.mnist, 't10k-labels-idx1-ubyte.gz'), DIGITS);
  // Our int8 path calibrates on training digits, as the page does (the shipped replay digits).
  const calibration = readIdx(path.join(root, 'models/mnist-replay-1000-images.idx.gz'), 256);
  const server = await startServer({
    '/page': path.join(here, 'page'), '/lib': path.join(here, 'node_modules'), '/models': path.resolve(args.modelsDir),
    '/ours': path.resolve(args.moduleDir), '/data': path.resolve(args.onnxDir),
  }, { '/data/digits.u8': images, '/data/labels.u8': labels, '/data/calibration.u8': calibration });
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  // Debian's chromium wrapper script prints a harmless shell warning on stderr; keep it out of the output.
  const chromiumVersion = execFileSync(executablePath, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  const loadBefore = os.loadavg()[0];
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_FLAGS });
  let result, profile;
  try {
    const page = await browser.newPage();
    const cdp = args.profile ? await page.context().newCDPSession(page) : null;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 50 });
      await cdp.send('Profiler.start');
    }
    page.on('console', (m) => { if (m.text().startsWith('[bench]')) console.log(m.text()); else if (m.type() === 'error') console.log(`[page error] ${m.text()}`); });
    page.on('pageerror', (e) => console.log(`[page exception] ${e}`));
    const query = new URLSearchParams({ runs: args.runs, ...(args.models && { models: args.models }),
      ...(args.engines && { engines: args.engines }), ...(args.phases && { phases: args.phases }) });
    await page.goto(`${server.url}/page/index.html?${query}`);
    result = await page.evaluate(() => window.benchResult);
    if (cdp) profile = (await cdp.send('Profiler.stop')).profile;
  } finally {
    await browser.close();
    server.close();
  }
  if (result.error) throw new Error(`the bench page failed: ${result.error}`);
  if (profile) printProfile(profile, args.profile);
  if (args.phases) {  // a partial run (profiling): logit check only, no table
    const bad = Object.values(result.models).flatMap((m) => m.rows).filter((r) => !r.quantized && !(r.maxDiffSingle <= TOLERANCE && r.maxDiffBatch <= TOLERANCE));
    process.exit(bad.length ? 1 : 0);
  }

  const wasmFiles = [...server.requested].filter((u) => u.endsWith('.wasm')).map((u) => path.basename(u));
  const out = [];
  out.push(`Browser: ${chromiumVersion} (headless, via playwright-core), flags: \`${CHROMIUM_FLAGS.join(' ')}\` plus playwright-core's defaults; ` +
    `page cross-origin isolated: ${result.crossOriginIsolated}. Wasm binaries the page loaded: ${wasmFiles.map((f) => `\`${f}\``).join(', ')}. ` +
    `Machine: ${os.cpus().length} cores, 1-minute load average ${loadBefore.toFixed(2)} before the run and ${os.loadavg()[0].toFixed(2)} after.`);
  out.push(`Single-digit latency: ${result.config.runs} timed calls per engine after ${result.config.warmup} warm-up calls, ` +
    `pixels (Float32Array) in, logits out, normalisation included; b64: median of batches of 64. Fine-tuning: the classifier ` +
    `head from the shipped weights on ${result.config.trainSamples} cached trunk features, batch ${result.config.train.batch}, ` +
    `SGD lr ${result.config.train.lr} momentum ${result.config.train.momentum}, whole epochs timed as one block after a warm-up epoch and a sizing epoch.`);
  let failed = [];
  for (const [name, model] of Object.entries(result.models)) {
    out.push('', table(name, model));
    for (const r of model.rows) {
      if (r.quantized && r.agreement < 0.99)
        failed.push(`${name} ${r.id}: top-1 agrees with f32 on only ${(100 * r.agreement).toFixed(0)}% of the verification digits`);
      if (r.id !== 'ours' && !r.quantized && !(r.maxDiffSingle <= TOLERANCE && r.maxDiffBatch <= TOLERANCE))
        failed.push(`${name} ${r.id}: max |logit diff| ${r.maxDiffSingle} (b1), ${r.maxDiffBatch} (b64) > ${TOLERANCE}`);
    }
    const ft = model.rows.filter((r) => r.fineTune).map((r) => `${r.id} ${r.fineTune.epochs} epochs, last loss ${Number(r.fineTune.lastLoss).toPrecision(2)}`);
    out.push('', `Fine-tuning runs: ${ft.join('; ')}. Ours classifies ${Math.round(model.verificationAccuracy * 100)} of the ` +
      `100 verification digits correctly; head input: ${model.headInput} values.`);
    const full = model.rows.filter((r) => r.fullTune);
    const oursFull = full.find((r) => r.id === 'ours');
    if (oursFull) {
      out.push('', `Full-model fine-tuning (every layer from the shipped weights, batch 32, the same SGD, ${result.config.fullSamples} images per epoch): ` +
        full.map((r) => `${r.label} ${int(r.fullTune.samplesPerS)} samples/s (${(1000 * 32 / r.fullTune.samplesPerS).toFixed(1)} ms per step)` +
          (r === oursFull ? '' : `, ours **${(oursFull.fullTune.samplesPerS / r.fullTune.samplesPerS).toFixed(0)}x** faster`)).join('; ') +
        '. tfjs-wasm has no convolution filter gradient and ONNX Runtime Web no browser training; tfjs-cpu was left out (tens of seconds a step).');
    }
    if (name === 'digitlab-cnn' && model.rows.length > 1) out.push('', ...goals(model));
  }
  const text = out.join('\n');
  console.log('\n' + text + '\n');
  writeFileSync(path.join(path.resolve(args.onnxDir), 'bench-web-result.json'), JSON.stringify({ chromiumVersion, ...result }, null, 2));

  if (failed.length) {
    console.log(`FAILED: outputs differ from ours:\n  ${failed.join('\n  ')}`);
    process.exit(1);
  }
  if (args.docs) {
    const begin = '<!-- bench-web:begin (written by `./run bench web`) -->', end = '<!-- bench-web:end -->';
    const doc = readFileSync(args.docs, 'utf8');
    const i = doc.indexOf(begin), j = doc.indexOf(end);
    if (i < 0 || j < i) throw new Error(`${args.docs} has no ${begin} ... ${end} section`);
    const stamp = `Last run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, \`${args.command || 'node bench/web/run_bench.mjs'}\`.`;
    writeFileSync(args.docs, doc.slice(0, i + begin.length) + '\n' + stamp + '\n\n' + text + '\n' + doc.slice(j));
    console.log(`updated ${args.docs}`);
  }
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
