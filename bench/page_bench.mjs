// The page's own figures, measured in headless Debian Chromium on localhost (issue 17's list):
//   - bundle size (gzip, without model weights);
//   - idle CPU time per second, drawing every frame (?draw=always, the old behaviour) vs drawing only
//     on change (the default), from CDP Performance.getMetrics' TaskDuration over 5 s;
//   - navigation -> model ready (the first prediction possible), and inference per stroke update;
//   - fine-tuning sessions of 20, 200 and 5,000 real MNIST training digits for each trainable part:
//     time, steps, how the session ended, held-out and MNIST-probe accuracy before -> after, and the
//     page thread's work per frame (the app's own timers) p50/p99/max and the frames it drew while the worker trains;
//     the 200-sample sessions again on the single-threaded worker, and the threaded/single-threaded ratios.
// Prints its figures; run by `./run bench page` (which passes --mnist DIR). SESSIONS='[[n, "layers"], [n, "layers", "?threads=1"], ...]'
// picks other sessions (a pair with and without threads=1 in the query prints their ratio, over ROUNDS
// rounds of the pair, 3 unless set).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { launchBrowser, openPage, root, startServer } from '../web/tests/browser.mjs';
import { DIGITS, draw } from '../web/tests/drawing.mjs';

const served = path.join(root, 'build/wasm/web');
const arg = (name, fallback) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : fallback; };
const mnist = arg('--mnist', path.join(root, '../shared/data/mnist'));
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const percent = (v) => (v < 0 ? 'n/a' : `${(100 * v).toFixed(1)}%`);

// What a page downloads: the shell and app, and one of the two worker modules (shell.js picks the
// threaded one only on a cross-origin isolated page).
function bundle(workerModule) {
  const files = ['index.html', 'shell.js', 'pointer.js', 'sw.js', 'manifest.webmanifest', 'icon-192.png', 'icon-512.png',
                 'icon-maskable-512.png', 'app.js', 'app.wasm', 'fine_tune_worker.js', ...workerModule];
  let raw = 0, gz = 0;
  for (const f of files) {
    const b = readFileSync(path.join(served, f));
    raw += b.length;
    gz += gzipSync(b, { level: 9 }).length;
  }
  return { files, raw, gz };
}

// The first n MNIST training digits as an IDX pair: a person's sample set of that size.
const trainImages = gunzipSync(readFileSync(path.join(mnist, 'train-images-idx3-ubyte.gz')));
const trainLabels = gunzipSync(readFileSync(path.join(mnist, 'train-labels-idx1-ubyte.gz')));
function samplePair(n) {
  const img = Buffer.from(trainImages.subarray(0, 16 + n * 784));
  img.writeUInt32BE(n, 4);
  const lab = Buffer.from(trainLabels.subarray(0, 8 + n));
  lab.writeUInt32BE(n, 4);
  return { images: [...img], labels: [...lab] };
}

// Waits until the page has drawn no frame for a second (loading's frames are over), up to 20 s.
async function settle(page) {
  let last = -1;
  for (let i = 0; i < 20; i++) {
    const now = await page.evaluate(() => window.app.state().perf.framesDrawn);
    if (now === last) return;
    last = now;
    await page.waitForTimeout(1000);
  }
}

// CPU time the page's renderer spent on tasks per second of wall time, over 5 s with nothing happening.
async function idleCpu(query) {
  const { page } = await openPage(browser, server.url + query);
  await settle(page);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metric = async (name) => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === name).value;
  const frames0 = await page.evaluate(() => window.app.state().perf.framesDrawn);
  const task0 = await metric('TaskDuration'), t0 = Date.now();
  await page.waitForTimeout(5000);
  const task1 = await metric('TaskDuration'), seconds = (Date.now() - t0) / 1000;
  const frames = (await page.evaluate(() => window.app.state().perf.framesDrawn)) - frames0;
  await page.close();
  return { cpuMsPerS: (1000 * (task1 - task0)) / seconds, framesPerS: frames / seconds };
}

// Fine-tunes on n samples, watching the state every 20 ms from a timer until the session ends, and
// returns the app's own figures: its page-thread work per frame, the frames it drew, the session's
// results. A timer, not requestAnimationFrame: a person watching the progress runs no frame loop, and
// one here would keep Chromium compositing 60 frames a second on the cores the worker trains on.
async function session(page, n, layers) {
  const pair = samplePair(n);
  return page.evaluate(async ({ pair, layers }) => {
    await window.app.fineTuneWorker;
    const refused = window.app.importSamples(new Uint8Array(pair.images), new Uint8Array(pair.labels));
    if (refused) throw new Error(refused);
    await window.app.saved();
    await new Promise((r) => setTimeout(r, 1000));
    const frames0 = window.app.state().perf.framesDrawn;
    const t0 = performance.now();
    if (!window.app.fineTune({ layers })) throw new Error(window.app.state().notice);
    await new Promise((resolve) => {
      const poll = () => {
        const s = window.app.state().fineTune.state;
        if (s !== 'preparing' && s !== 'running') resolve(); else setTimeout(poll, 20);
      };
      poll();
    });
    const seconds = (performance.now() - t0) / 1000;
    const s = window.app.state();
    return { seconds, frames: s.perf.framesDrawn - frames0, f: s.fineTune, perf: s.perf };
  }, { pair, layers });
}

const server = await startServer();
const browser = await launchBrowser();
try {
  console.log(`browser: ${browser.version()} (headless, --use-angle=swiftshader), page served from 127.0.0.1`);
  for (const [what, module] of [['single-threaded worker', ['fine_tune.js', 'fine_tune.wasm']],
                                ['threaded worker, cross-origin isolated pages only', ['fine_tune_mt.js', 'fine_tune_mt.wasm', 'fine_tune_mt.worker.js']]]) {
    const b = bundle(module);
    console.log(`bundle with the ${what} (${b.files.length} files: ${b.files.join(', ')}; fonts are inside app.wasm's data): ` +
                `${(b.raw / 1024).toFixed(0)} KiB raw, ${(b.gz / 1024).toFixed(0)} KiB gzip -9  [goal <= 1536 KiB gzip, weights excluded]`);
  }

  const always = await idleCpu('?draw=always'), quiet = await idleCpu('');
  console.log(`idle, 5 s with nothing happening: drawing every frame (?draw=always) ${always.cpuMsPerS.toFixed(0)} ms CPU/s, ` +
              `${always.framesPerS.toFixed(1)} frames/s; drawing on change (default) ${quiet.cpuMsPerS.toFixed(1)} ms CPU/s, ` +
              `${quiet.framesPerS.toFixed(1)} frames/s  [renderer main thread TaskDuration]`);

  // Navigation -> ready (model loaded: the next input is classified at once), fresh profile each time.
  const ready = [];
  for (let i = 0; i < 5; i++) {
    const { page } = await openPage(browser, server.url);
    ready.push(await page.evaluate(() => window.app.timing.readyMs));
    if (i === 4) {
      // Inference per stroke update: preprocessing + forward pass on every pointer move of a drawn digit.
      const perUpdate = [];
      for (const d of ['1', '0', '7']) {
        const rect = await page.evaluate(() => window.app.drawingRect());
        const stroke = DIGITS[d][0];
        await page.mouse.move(rect.x + stroke[0][0] * rect.width, rect.y + stroke[0][1] * rect.height);
        await page.mouse.down();
        for (let k = 1; k < stroke.length; k++) {
          await page.mouse.move(rect.x + stroke[k][0] * rect.width, rect.y + stroke[k][1] * rect.height, { steps: 4 });
          await page.waitForTimeout(20);
          perUpdate.push((await page.evaluate(() => window.app.state().perf.inferenceMs)));
        }
        await page.mouse.up();
        await page.keyboard.press('c');
      }
      const perf = await page.evaluate(() => window.app.state().perf);
      console.log(`inference per stroke update (preprocess + digitlab-cnn forward, ${perUpdate.length} updates): ` +
                  `median ${median(perUpdate).toFixed(2)} ms, max ${Math.max(...perUpdate).toFixed(2)} ms; ` +
                  `path in use: ${perf.engine} (us per digit: f32 ${perf.f32Us.toFixed(0)}, ` +
                  `Winograd ${perf.winogradUs.toFixed(0)}, int8 ${perf.int8Us.toFixed(0)})`);
    }
    await page.close();
  }
  console.log(`navigation -> model ready (first prediction possible), 5 fresh profiles: median ${median(ready).toFixed(0)} ms, ` +
              `max ${Math.max(...ready).toFixed(0)} ms`);

  // Each session on a fresh page: the worker as this machine's cores give it (threads), then the
  // 200-sample sessions again on the single-threaded worker (?threads=1) to compare in this run, and
  // the whole-network pair once more with no progress drawn (?progressHz=0): what the threads gain
  // when the page's frames (software WebGL here) do not share the cores.
  const sessions = process.env.SESSIONS ? JSON.parse(process.env.SESSIONS)
    : [20, 200, 5000].flatMap((n) => ['head', 'last-block', 'all'].map((layers) => [n, layers]));
  const compare = process.env.SESSIONS ? []
    : [...['head', 'last-block', 'all'].map((layers) => [200, layers, '?threads=1']),
       [200, 'all', '?progressHz=0'], [200, 'all', '?threads=1&progressHz=0']];
  console.log('fine-tuning digitlab-cnn in the worker on the first n MNIST training digits (a fresh page each):');
  const seconds = {};
  const onFreshPage = async (n, layers, query) => {
    const { page } = await openPage(browser, server.url + query);
    await draw(page, DIGITS[7]);  // something on the pad, as when a person tunes
    const r = await session(page, n, layers);
    (seconds[`${n} ${layers} ${query}`] ??= []).push(r.seconds);
    return { page, r };
  };
  for (const [n, layers, query = ''] of [...sessions, ...compare]) {
    const { page, r } = await onFreshPage(n, layers, query);
    const f = r.f, p = r.perf;
    console.log(`  ${String(n).padStart(5)} samples, ${layers.padEnd(10)}: ${r.seconds.toFixed(1).padStart(6)} s on ${f.threads} thread(s)` +
                `${f.threadsNote ? ' (' + f.threadsNote + ')' : ''}${query ? ' ' + query : ''}, ` +
                `${f.step} steps (${f.state}, ${f.ending}, best at ${f.bestStep}), held-out (${f.heldoutSamples}) ` +
                `${percent(f.heldoutBefore)} -> ${percent(f.heldoutAfter)}, MNIST probe (${f.mnistDigits}) ` +
                `${percent(f.mnistBefore)} -> ${percent(f.mnistAfter)}; page work per frame p50 ${p.frameMsWhileTuningP50.toFixed(1)} / ` +
                `p99 ${p.frameMsWhileTuningP99.toFixed(1)} / max ${p.maxFrameMsWhileTuning.toFixed(1)} ms [goal p99 <= 8 ms], ` +
                `less WebGL waits (the app's own work) p50 ${p.ownMsWhileTuningP50.toFixed(1)} / p99 ${p.ownMsWhileTuningP99.toFixed(1)} ms; ` +
                `${r.frames} frames drawn (${(r.frames / r.seconds).toFixed(1)}/s; progress at <= ${p.progressHz}/s: ${p.progressWhy})`);
    // Where the slowest frames' time went: the app's phases, and what is left of the frame's wall
    // time (the browser's: preemption by the worker or the compositor on 2 cores).
    const slow = p.slowestFramesWhileTuning.slice(0, 4).map((s) => {
      const own = s.predictorMs + s.tuningMs + s.uiMs + s.renderMs + s.glMs;
      return `${s.ms.toFixed(1)} (predictor ${s.predictorMs.toFixed(1)}, tick ${s.tuningMs.toFixed(1)}, ui ${s.uiMs.toFixed(1)}, ` +
             `draw lists ${s.renderMs.toFixed(1)}, WebGL ${s.glMs.toFixed(1)}, rest ${(s.ms - own).toFixed(1)}; ${s.vertices} vertices, step ${s.step})`;
    });
    console.log(`        slowest frames (ms): ${slow.join('; ')}`);
    await page.close();
  }
  // Every single-threaded session against the same one threaded (its query less threads=1), over
  // ROUNDS rounds (default 3) of the pair on fresh pages, threaded then single-threaded: this VM's
  // speed drifts by 20% and more within minutes, so one pair alone says little.
  const pairs = [...sessions, ...compare].filter((s) => /threads=1/.test(s[2] || ''))
    .map(([n, layers, query]) => [n, layers, query.replace(/threads=1&?/, '').replace(/\?$/, ''), query])
    .filter(([n, layers, threaded]) => seconds[`${n} ${layers} ${threaded}`]);
  const rounds = Math.max(1, parseInt(process.env.ROUNDS || '3', 10));
  for (let round = 2; round <= rounds; round++) {
    const line = [];
    for (const [n, layers, threaded, single] of pairs) {
      for (const query of [threaded, single]) {
        const { page, r } = await onFreshPage(n, layers, query);
        line.push(`${n} ${layers}${query ? ' ' + query : ''} ${r.seconds.toFixed(1)} s`);
        await page.close();
      }
    }
    console.log(`  round ${round} of ${rounds}: ${line.join(', ')}`);
  }
  const range = (v) => `${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)}`;
  for (const [n, layers, threaded, single] of pairs) {
    const a = seconds[`${n} ${layers} ${threaded}`], b = seconds[`${n} ${layers} ${single}`];
    const perRound = a.map((t, i) => t / b[i]);
    console.log(`  ${n} samples, ${layers}${threaded ? ' ' + threaded : ''}: threaded worker median ${median(a).toFixed(1)} s vs ` +
                `single-threaded ${median(b).toFixed(1)} s over ${a.length} round(s) = ${(median(a) / median(b)).toFixed(2)}x ` +
                `(rounds ${range(perRound)}x)  [goal: all <= 0.60x; head and last-block no slower]`);
  }
} finally {
  await browser.close();
  server.stop();
}
