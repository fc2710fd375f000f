// The page's own figures (issue 5's goals), measured in headless Debian Chromium on localhost:
// bundle size (gzip, without model weights), navigation -> first prediction, inference time per
// stroke update, and frame times while fine-tuning runs. Prints a table; run by `./run bench page`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { launchBrowser, openPage, root, startServer } from '../web/tests/browser.mjs';
import { DIGITS, draw } from '../web/tests/drawing.mjs';

const served = path.join(root, 'build/wasm/web');
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const pct = (v, p) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(v.length * p))];

function bundle() {
  const files = ['index.html', 'shell.js', 'pointer.js', 'sw.js', 'app.js', 'app.wasm', 'fine_tune_worker.js', 'fine_tune.js', 'fine_tune.wasm'];
  let raw = 0, gz = 0;
  for (const f of files) {
    const b = readFileSync(path.join(served, f));
    raw += b.length;
    gz += gzipSync(b, { level: 9 }).length;
  }
  return { files, raw, gz };
}

// n digits of the shipped replay set as an IDX pair: a person's sample set of that size.
function samplePair(n) {
  const images = gunzipSync(readFileSync(path.join(root, 'models/mnist-replay-1000-images.idx.gz')));
  const labels = gunzipSync(readFileSync(path.join(root, 'models/mnist-replay-1000-labels.idx.gz')));
  const img = Buffer.from(images.subarray(0, 16 + n * 784));
  img.writeUInt32BE(n, 4);
  const lab = Buffer.from(labels.subarray(0, 8 + n));
  lab.writeUInt32BE(n, 4);
  return { images: [...img], labels: [...lab] };
}

// Fine-tunes on n samples and records every animation frame's interval (until 30 frames after the
// session) and the app's work per frame.
async function fineTuneFrames(page, n, layers, settleMs) {
  const pair = samplePair(n);
  return page.evaluate(async ({ pair, layers, settleMs }) => {
    await window.app.fineTuneWorker;  // loaded after ready; a person takes longer than that to label
    const refused = window.app.importSamples(new Uint8Array(pair.images), new Uint8Array(pair.labels));
    if (refused) throw new Error(refused);
    await new Promise((r) => setTimeout(r, settleMs));  // the import's IndexedDB write, the service worker's caching
    // Baseline in the same page: 60 frames with nothing running.
    const idle = [];
    await new Promise((resolve) => {
      let prev = performance.now();
      const frame = (now) => { idle.push(now - prev); prev = now; if (idle.length < 61) requestAnimationFrame(frame); else resolve(); };
      requestAnimationFrame(frame);
    });
    idle.shift();
    const intervals = [], phases = [];
    let last = performance.now(), after = 0, doneAt = null;
    const t0 = last;
    if (!window.app.fineTune({ layers })) throw new Error(window.app.state().notice);
    await new Promise((resolve) => {
      const frame = (now) => {
        intervals.push(now - last);
        last = now;
        const f = window.app.state().fineTune;
        const s = f.state;
        phases.push(`${s}@${f.step}/${f.totalSteps}`);
        // 30 frames past the end too: the tuned model goes into use, its int8 path is calibrated.
        if (s !== 'preparing' && s !== 'running' && after++ === 0) doneAt = now;
        if (after <= 30) requestAnimationFrame(frame); else resolve();
      };
      requestAnimationFrame(frame);
    });
    const s = window.app.state();
    return { seconds: (doneAt - t0) / 1000, idle, intervals, phases, state: s.fineTune.state, steps: s.fineTune.step,
             maxWork: s.perf.maxFrameMsWhileTuning, longestSlice: s.fineTune.longestSliceMs, runsIn: s.fineTune.runsIn,
             startMs: s.perf.fineTuneStartMs, finishMs: s.perf.fineTuneFinishMs };
  }, { pair, layers, settleMs });
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const b = bundle();
  console.log(`browser: ${browser.version()} (headless, --use-angle=swiftshader), page served from 127.0.0.1`);
  console.log(`bundle (${b.files.join(', ')}): ${(b.raw / 1024).toFixed(0)} KiB raw, ${(b.gz / 1024).toFixed(0)} KiB gzip -9` +
              `  [goal <= 1536 KiB gzip, model weights excluded]`);

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
                  `path in use: ${perf.engine} (timed when the model was picked, us per digit: f32 ${perf.f32Us.toFixed(0)}, ` +
                  `Winograd ${perf.winogradUs.toFixed(0)}, int8 ${perf.int8Us.toFixed(0)})`);
    }
    await page.close();
  }
  console.log(`navigation -> model ready (first prediction possible), 5 fresh profiles: median ${median(ready).toFixed(0)} ms, ` +
              `max ${Math.max(...ready).toFixed(0)} ms  [goal <= 1500 ms]`);

  // [samples, layers, where]: sessions run in the page's worker; 'main' takes Worker away, so the
  // session runs between frames on the page's thread (the fallback, and the baseline the worker beats).
  const sessions = process.env.SESSIONS ? JSON.parse(process.env.SESSIONS)
    : [[60, 'head'], [200, 'head'], [200, 'last-block'], [200, 'all'], [200, 'all', 'main']];
  for (const [n, layers, where] of sessions) {
    const { page } = await openPage(browser, server.url, where === 'main' ? { initScript: () => { delete window.Worker; } } : {});
    await draw(page, DIGITS[7]);  // something on the pad, as when a person tunes
    const r = await fineTuneFrames(page, n, layers, Number(process.env.SETTLE_MS ?? 2000));
    const iv = r.intervals.slice(1);
    console.log(`fine-tune ${layers}, ${n} samples x 20 epochs (${r.steps} steps, ${r.state}, in the ${r.runsIn}): ` +
                `${r.seconds.toFixed(1)} s; frame interval median ${median(iv).toFixed(1)} ms, p95 ${pct(iv, 0.95).toFixed(1)} ms, ` +
                `max ${Math.max(...iv).toFixed(1)} ms; app work per frame max ${r.maxWork.toFixed(1)} ms, longest ${r.runsIn} slice ` +
                `${r.longestSlice.toFixed(1)} ms  [goal: no frame over 50 ms]`);
    console.log(`    page-thread work to start the session ${r.startMs.toFixed(1)} ms, to put the tuned model in use ${r.finishMs.toFixed(1)} ms`);
    console.log(`    baseline, same page before the session: frame interval median ${median(r.idle).toFixed(1)} ms, max ${Math.max(...r.idle).toFixed(1)} ms`);
    const worst = iv.map((v, i) => [v, r.phases[i + 1]]).sort((a, b) => b[0] - a[0]).slice(0, 4);
    console.log(`    longest frames: ${worst.map(([v, p]) => `${v.toFixed(0)} ms (${p})`).join(', ')}`);
    await page.close();
  }
} finally {
  await browser.close();
  server.stop();
}
