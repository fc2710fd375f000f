// Fine-tuning on every core: served cross-origin isolated (COOP/COEP, as ./run demo does) the page's
// worker runs the -pthread module on at least 2 threads; served without those headers (a host that
// cannot send them) the page still loads, classifies and fine-tunes, single-threaded. Both give the
// same model, byte for byte, from the same samples: the thread count never changes the result.
// A worker that dies mid-session (its module aborts) fails that session only. The threaded module is
// downloaded (and kept offline by sw.js) only where it runs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { closeClean, launchBrowser, openPage, startServer, state } from './browser.mjs';
import { DIGITS, addSamples, draw } from './drawing.mjs';

let isolated, plain, browser;
before(async () => {
  isolated = await startServer();
  plain = await startServer({ isolated: false });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); isolated?.stop(); plain?.stop(); });

const settled = (page) => page.waitForFunction(
  () => !['preparing', 'running'].includes(window.app.state().fineTune.state), null, { timeout: 240000, polling: 250 });

// A whole-network session on the page's samples; returns its final state and the model it made.
// Also returns how long it took and how many frames the page drew only to show its progress.
async function wholeNetworkSession(page) {
  assert.equal(await page.evaluate(() => window.app.fineTuneWorker), true, 'the fine-tuning worker loads');
  const start = await page.evaluate(() => ({ frames: window.app.state().perf.progressFrames, t: performance.now() }));
  assert.equal(await page.evaluate(() => window.app.fineTune({ layers: 'all' })), true);
  assert.equal((await state(page)).fineTune.runsIn, 'worker');
  await settled(page);
  const end = await page.evaluate(() => ({ frames: window.app.state().perf.progressFrames, t: performance.now() }));
  const s = await state(page);
  assert.equal(s.fineTune.state, 'done', s.notice);
  assert.equal(s.tuned, true);
  return { s, model: Buffer.from(await page.evaluate(() => Array.from(window.app.modelBytes()))),
           seconds: (end.t - start.t) / 1000, frames: end.frames - start.frames };
}

let samples = null, threadedModel = null;

test('served cross-origin isolated, a session trains on >= 2 threads', async () => {
  const { page, errors } = await openPage(browser, isolated.url);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
  const planned = (await state(page)).perf.threads;
  assert.equal(planned.module, 'fine_tune_mt', planned.why);
  assert.ok(planned.training >= 2, `training threads planned: ${JSON.stringify(planned)}`);
  assert.equal(planned.inference, 1);
  await addSamples(page, '107107');
  samples = await page.evaluate(() => {
    const p = window.app.exportSamples();
    return { images: Array.from(p.images), labels: Array.from(p.labels) };
  });
  // The offline copy (sw.js) holds the threaded module here, where it is used.
  assert.equal(await page.evaluate(async () => { await navigator.serviceWorker.ready; return !!(await caches.match('fine_tune_mt.wasm')); }), true);
  // This Chromium renders WebGL in software (SwiftShader): the page draws the worker's progress at
  // 4 Hz, not at every status, leaving the cores to the training threads; it still moves.
  const perf = (await state(page)).perf;
  assert.match(perf.webglRenderer, /SwiftShader/);
  assert.equal(perf.progressHz, 4, perf.progressWhy);
  assert.match(perf.progressWhy, /software WebGL/);
  const { s, model, seconds, frames } = await wholeNetworkSession(page);
  assert.ok(frames <= 4 * seconds + 1, `${frames} progress frames drawn in a ${seconds.toFixed(1)} s session`);
  assert.ok(frames >= 1, `no progress drawn in a ${seconds.toFixed(1)} s session`);
  assert.ok(s.fineTune.threads >= 2, `training threads used: ${s.fineTune.threads} (${s.fineTune.threadsNote})`);
  assert.equal(s.fineTune.threads, planned.training, s.fineTune.threadsNote);
  const worker = page.workers().find((w) => w.url().includes('fine_tune_worker.js'));
  const loaded = (await worker.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name))).map((u) => new URL(u).pathname);
  assert.ok(loaded.includes('/fine_tune_mt.wasm') && !loaded.includes('/fine_tune.wasm'), `the worker loaded ${loaded}`);
  threadedModel = model;
  await closeClean(page, errors);
});

test('served without COOP/COEP, the page loads, classifies and fine-tunes single-threaded: the same model', async () => {
  assert.ok(samples && threadedModel, 'needs the isolated session above');
  const { page, errors } = await openPage(browser, plain.url);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), false);
  const planned = (await state(page)).perf.threads;
  assert.deepEqual([planned.module, planned.training], ['fine_tune', 1]);
  assert.match(planned.why, /not cross-origin isolated/);
  await draw(page, DIGITS[7]);
  assert.equal((await state(page)).top, 7);
  await page.keyboard.press('c');
  assert.equal(await page.evaluate(({ images, labels }) =>
    window.app.importSamples(new Uint8Array(images), new Uint8Array(labels)), samples), null);
  const { s, model } = await wholeNetworkSession(page);
  assert.equal(s.fineTune.threads, 1);
  // Nothing of the threaded module was downloaded, for the offline copy or otherwise.
  assert.equal(await page.evaluate(async () => { await navigator.serviceWorker.ready; return !!(await caches.match('fine_tune_mt.wasm')); }), false);
  const worker = page.workers().find((w) => w.url().includes('fine_tune_worker.js'));
  const loaded = (await worker.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name))).map((u) => new URL(u).pathname);
  assert.deepEqual(loaded.filter((p) => p.startsWith('/fine_tune')).sort(), ['/fine_tune.js', '/fine_tune.wasm']);
  assert.equal(model.length, threadedModel.length);
  assert.ok(model.equals(threadedModel), 'the single-threaded worker makes the same model as the threaded one');
  await closeClean(page, errors);
});

test('a threaded worker that dies mid-session fails that session; the next runs on the page\'s thread', async () => {
  const { page, errors } = await openPage(browser, isolated.url);
  await addSamples(page, '107');
  assert.equal(await page.evaluate(() => window.app.fineTuneWorker), true);
  assert.equal(await page.evaluate(() => window.app.fineTune({ layers: 'all' })), true);
  await page.waitForFunction(() => window.app.state().fineTune.step > 0, null, { timeout: 60000, polling: 50 });
  // The worker script itself (not one of its module's pool threads) aborts its module.
  const worker = page.workers().find((w) => w.url().includes('fine_tune_worker.js'));
  assert.ok(worker, `the fine-tuning worker among ${page.workers().map((w) => w.url())}`);
  await worker.evaluate(() => { setTimeout(() => abort('killed by the test'), 0); });
  await settled(page);
  let s = await state(page);
  assert.equal(s.fineTune.state, 'failed');
  assert.match(s.fineTune.message, /worker stopped/);
  assert.equal(s.tuned, false, 'the model in use stays the shipped one');
  assert.equal(await page.evaluate(() => window.app.fineTune({ layers: 'head' })), true);
  assert.equal((await state(page)).fineTune.runsIn, 'main thread');
  await settled(page);
  s = await state(page);
  assert.equal(s.fineTune.state, 'done', s.notice);
  assert.equal(s.tuned, true);
  // The abort is reported on the console by the worker's module: expected here, nothing else is.
  assert.deepEqual(errors.filter((e) => !/killed by the test|abort|Aborted/i.test(e)), []);
  await page.close();
});
