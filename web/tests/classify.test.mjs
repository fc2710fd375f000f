// Live classification as a person uses it: digits drawn with the mouse on the pad (found through
// window.app.drawingRect(), at a realistic size) are read correctly by the shipped model, and a
// corrupt weights file is refused without losing the working model.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, launchBrowser, openPage, startServer } from './browser.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });

// Strokes in pad-relative coordinates (0..1), drawn as real mouse drags.
const DIGITS = {
  1: [[[0.52, 0.18], [0.5, 0.5], [0.48, 0.82]]],
  0: [Array.from({ length: 41 }, (_, i) => {
    const a = (i / 40) * 2 * Math.PI;
    return [0.5 + 0.2 * Math.sin(a), 0.5 - 0.3 * Math.cos(a)];
  })],
  7: [[[0.28, 0.22], [0.72, 0.22], [0.58, 0.5], [0.45, 0.82]]],
};

async function draw(page, strokes) {
  const r = await page.evaluate(() => window.app.drawingRect());
  assert.ok(r && r.width > 100, `drawing pad should be laid out, got ${JSON.stringify(r)}`);
  for (const stroke of strokes) {
    const at = ([u, v]) => [r.x + u * r.width, r.y + v * r.height];
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (let i = 1; i < stroke.length; i++) {
      const [x0, y0] = at(stroke[i - 1]), [x1, y1] = at(stroke[i]);
      const steps = Math.max(1, Math.round(Math.hypot(x1 - x0, y1 - y0) / 8));
      for (let k = 1; k <= steps; k++) {
        await page.mouse.move(x0 + ((x1 - x0) * k) / steps, y0 + ((y1 - y0) * k) / steps);
        await page.waitForTimeout(4);
      }
    }
    await page.mouse.up();
  }
  await page.waitForTimeout(100);
}

test('drawn 1, 0 and 7 are classified correctly, live', async () => {
  const { page, errors } = await openPage(browser, server.url);
  const start = await page.evaluate(() => window.app.state());
  assert.equal(start.model, 'digitlab-cnn');
  assert.equal(start.top, null);
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
  assert.deepEqual(errors, []);
  await page.close();
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
  assert.deepEqual(errors, []);
  await page.close();
});
