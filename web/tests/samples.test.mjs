// A person's samples and fine-tuning: labelling updates the counts, everything survives a reload
// (IndexedDB), fine-tuning runs to completion in the page and changes the model, revert restores it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, closeClean, launchBrowser, openPage, reload, startServer, state } from './browser.mjs';
import { DIGITS, click, draw } from './drawing.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });


test('labelled samples are counted and survive a reload', async () => {
  const { page, errors } = await openPage(browser, server.url);
  assert.equal((await state(page)).sampleTotal, 0);
  await draw(page, DIGITS[7]);
  await page.keyboard.press('7');  // label the drawing with the number key
  await page.waitForTimeout(100);
  let s = await state(page);
  assert.equal(s.samples[7], 1);
  assert.equal(s.hasInk, false, 'the pad is cleared for the next sample');
  await draw(page, DIGITS[1]);
  await page.keyboard.press('1');
  await page.waitForTimeout(100);
  assert.deepEqual((await state(page)).samples, [0, 1, 0, 0, 0, 0, 0, 1, 0, 0]);
  await reload(page);
  s = await state(page);
  assert.deepEqual(s.samples, [0, 1, 0, 0, 0, 0, 0, 1, 0, 0]);
  await page.screenshot({ path: path.join(artifacts, 'samples.png') });
  await closeClean(page, errors);
});

test('fine-tuning runs in the page, changes the model, survives a reload; revert restores it', async () => {
  const { page, errors } = await openPage(browser, server.url);
  for (let round = 0; round < 2; round++)
    for (const digit of ['1', '0', '7']) {
      await draw(page, DIGITS[digit]);
      await page.keyboard.press(digit);
      await page.waitForTimeout(50);
    }
  assert.equal((await state(page)).sampleTotal, 6);
  assert.equal(await page.evaluate(() => window.app.fineTuneWorker), true, 'the fine-tuning worker loads');
  await draw(page, DIGITS[7]);
  const before = (await state(page)).probabilities;

  // A session started and cancelled through the API (which also ticks "last conv block"), then the
  // real one started with the button.
  assert.equal(await page.evaluate(() => window.app.fineTune({ lastBlock: true })), true);
  await page.evaluate(() => window.app.cancelFineTune());
  assert.equal((await state(page)).fineTune.state, 'idle', 'cancel stops a session');
  await click(page, 'fine-tune');
  await page.waitForTimeout(50);
  let s = await state(page);
  assert.ok(['preparing', 'running'].includes(s.fineTune.state), `fine-tuning should have started: ${JSON.stringify(s.fineTune)}`);
  assert.equal(s.fineTune.runsIn, 'worker');
  // The page stays usable while it runs: a stroke started during the session is drawn and read.
  await page.keyboard.press('c');
  assert.ok(['preparing', 'running'].includes((await state(page)).fineTune.state), 'fine-tuning while drawing');
  await draw(page, DIGITS[1]);
  s = await state(page);
  assert.equal(s.strokes, 1);
  assert.equal(s.top, 1);
  await page.keyboard.press('c');
  await page.waitForFunction(() => !['preparing', 'running'].includes(window.app.state().fineTune.state), null, { timeout: 120000 });
  await draw(page, DIGITS[7]);
  s = await state(page);
  assert.equal(s.fineTune.state, 'done', s.notice);
  assert.equal(s.fineTune.progress, 1);
  assert.ok(['budget', 'no improvement'].includes(s.fineTune.ending), `why it ended: ${s.fineTune.ending}`);
  assert.ok(s.fineTune.loss.length >= 2, 'loss points for the plot');
  assert.equal(s.fineTune.heldout.length, s.fineTune.loss.length, 'a held-out point for each loss point');
  assert.ok(s.fineTune.bestStep > 0 && s.fineTune.bestStep <= s.fineTune.step, `best step ${s.fineTune.bestStep}`);
  // Forgetting is measured on shipped MNIST test digits that never enter training.
  assert.equal(s.fineTune.mnistDigits, 500);
  assert.ok(s.fineTune.mnistBefore > 0.95, `MNIST digits before: ${s.fineTune.mnistBefore}`);
  assert.ok(s.fineTune.mnistAfter > 0.9, `MNIST digits after: ${s.fineTune.mnistAfter}`);
  assert.equal(s.tuned, true);
  assert.match(s.model, /fine-tuned/);
  // The worker scored every sample with the fine-tuned model: the gallery marks those it misreads.
  assert.equal(s.readings?.checked, 6, `readings: ${JSON.stringify(s.readings)}`);
  assert.ok(Math.abs((6 - s.readings.misread.length) / 6 - s.fineTune.samplesAfter) < 1e-9,
    `${s.readings.misread.length} marked, ${s.fineTune.samplesAfter} read right`);
  for (const m of s.readings.misread) assert.notEqual(m.reads, s.sampleLabels[m.index], `sample ${m.index}`);
  assert.ok(s.fineTune.samplesBefore >= 0 && s.readings.shipped === s.fineTune.samplesBefore);
  assert.equal(s.top, 7);
  assert.notDeepEqual(s.probabilities, before, 'the fine-tuned model answers differently');
  await page.screenshot({ path: path.join(artifacts, 'fine-tuned.png') });

  await reload(page);
  s = await state(page);
  assert.equal(s.tuned, true, 'the fine-tuned model is kept across reloads');
  assert.match(s.model, /fine-tuned/);

  await page.evaluate(() => window.app.revert());
  s = await state(page);
  assert.equal(s.tuned, false);
  assert.equal(s.model, 'digitlab-cnn');
  await reload(page);
  assert.equal((await state(page)).tuned, false);
  await closeClean(page, errors);
});

test('without Web Workers, fine-tuning runs between the page\'s frames and ends the same way', async () => {
  const { page, errors } = await openPage(browser, server.url, { initScript: () => { delete window.Worker; } });
  assert.equal(await page.evaluate(() => window.app.fineTuneWorker), false);
  for (const digit of ['1', '0', '7']) {
    await draw(page, DIGITS[digit]);
    await page.keyboard.press(digit);
    await page.waitForTimeout(50);
  }
  assert.equal(await page.evaluate(() => window.app.fineTune({ layers: 'head' })), true);
  assert.equal((await state(page)).fineTune.runsIn, 'main thread');
  await draw(page, DIGITS[1]);  // drawing still works meanwhile
  assert.equal((await state(page)).top, 1);
  await page.waitForFunction(() => !['preparing', 'running'].includes(window.app.state().fineTune.state), null, { timeout: 120000 });
  const s = await state(page);
  assert.equal(s.fineTune.state, 'done', s.notice);
  assert.equal(s.tuned, true);
  assert.match(s.notice, /saved/);
  await closeClean(page, errors);
});

test('samples export as an IDX pair and import back; a bad pair is refused', async () => {
  const { page, errors } = await openPage(browser, server.url);
  for (const digit of ['0', '1', '7']) {
    await draw(page, DIGITS[digit]);
    await page.keyboard.press(digit);
    await page.waitForTimeout(50);
  }
  const exported = await page.evaluate(() => {
    const p = window.app.exportSamples();
    return { images: Array.from(p.images), labels: Array.from(p.labels) };
  });
  // IDX headers: 0x00000803 with 3 x 28 x 28, and 0x00000801 with 3 labels.
  assert.deepEqual(exported.images.slice(0, 16), [0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 28, 0, 0, 0, 28]);
  assert.deepEqual(exported.labels, [0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 7]);
  await page.close();

  const fresh = await openPage(browser, server.url);  // a new browser profile: no samples
  assert.equal((await state(fresh.page)).sampleTotal, 0);
  const refused = await fresh.page.evaluate(({ images }) =>
    window.app.importSamples(new Uint8Array(images), new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 0, 1])), exported);
  assert.match(refused, /import failed/);
  assert.equal((await state(fresh.page)).sampleTotal, 0);
  const result = await fresh.page.evaluate(({ images, labels }) =>
    window.app.importSamples(new Uint8Array(images), new Uint8Array(labels)), exported);
  assert.equal(result, null);
  assert.deepEqual((await state(fresh.page)).samples, [1, 1, 0, 0, 0, 0, 0, 1, 0, 0]);
  await reload(fresh.page);
  assert.equal((await state(fresh.page)).sampleTotal, 3);
  assert.deepEqual([...errors, ...fresh.errors], []);
  await fresh.page.close();
});
