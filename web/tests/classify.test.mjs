// Live classification as a person uses it: digits drawn with the mouse on the pad (found through
// window.app.drawingRect(), at a realistic size) are read correctly by the shipped model on the
// inference path the page measured fastest, and a corrupt weights file is refused without losing the
// working model.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, closeClean, launchBrowser, openPage, startServer } from './browser.mjs';
import { DIGITS, draw } from './drawing.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });

test('drawn 1, 0 and 7 are classified correctly, live', async () => {
  const { page, errors } = await openPage(browser, server.url);
  const start = await page.evaluate(() => window.app.state());
  assert.equal(start.model, 'digitlab-cnn');
  assert.equal(start.top, null);
  // The page timed its three inference paths for this model and predicts with the fastest.
  const { engine, f32Us, winogradUs, int8Us } = start.perf;
  assert.ok(f32Us > 0 && winogradUs > 0 && int8Us > 0, JSON.stringify(start.perf));
  const timed = { f32: f32Us, winograd: winogradUs, int8: int8Us };
  assert.equal(timed[engine], Math.min(f32Us, winogradUs, int8Us), JSON.stringify(start.perf));
  for (const digit of ['1', '0', '7']) {
    await draw(page, DIGITS[digit]);
    const s = await page.evaluate(() => window.app.state());
    await page.screenshot({ path: path.join(artifacts, `classify-${digit}.png`) });
    assert.equal(s.top, Number(digit), `drew a ${digit}, page says ${s.top} (${JSON.stringify(s.probabilities)})`);
    assert.ok(s.probabilities[s.top] > 0.5, `confidence ${s.probabilities[s.top]}`);
    assert.ok(Math.abs(s.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    await page.keyboard.press('c');  // clear
    await page.waitForTimeout(50);
    assert.equal((await page.evaluate(() => window.app.state())).top, null);
  }
  await closeClean(page, errors);
});

test('a corrupt weights file is refused and the model keeps working', async () => {
  const { page, errors } = await openPage(browser, server.url);
  const message = await page.evaluate(() => window.app.loadModel(new TextEncoder().encode('not a model at all'), 'junk.safetensors'));
  assert.match(message, /junk\.safetensors/);
  const s = await page.evaluate(() => window.app.state());
  assert.equal(s.model, 'digitlab-cnn');
  assert.match(s.modelError, /junk\.safetensors/);
  await draw(page, DIGITS[1]);
  assert.equal((await page.evaluate(() => window.app.state())).top, 1);
  await closeClean(page, errors);
});
