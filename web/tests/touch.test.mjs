// Touch and pen: a finger draws on the pad through real touch input (Chromium's touch emulation over
// the DevTools protocol, the events a phone sends) on a HiDPI screen; the page neither scrolls nor
// zooms, and a tap presses a button where the finger is.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, closeClean, launchBrowser, openPage, startServer } from './browser.mjs';
import { DIGITS } from './drawing.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });

// One finger along a stroke in pad-relative coordinates, as touchStart/touchMove/touchEnd.
async function fingerStroke(cdp, rect, stroke) {
  const at = ([u, v]) => ({ x: rect.x + u * rect.width, y: rect.y + v * rect.height });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [at(stroke[0])] });
  for (let i = 1; i < stroke.length; i++) {
    const a = at(stroke[i - 1]), b = at(stroke[i]);
    const steps = Math.max(1, Math.round(Math.hypot(b.x - a.x, b.y - a.y) / 8));
    for (let k = 1; k <= steps; k++) {
      const p = { x: a.x + ((b.x - a.x) * k) / steps, y: a.y + ((b.y - a.y) * k) / steps };
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [p] });
      await new Promise((r) => setTimeout(r, 4));
    }
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await new Promise((r) => setTimeout(r, 100));
}

async function tap(cdp, rect) {
  const p = { x: rect.x + rect.width / 2, y: rect.y + rect.height / 2 };
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [p] });
  await new Promise((r) => setTimeout(r, 50));
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await new Promise((r) => setTimeout(r, 100));
}

test('a finger draws digits on a HiDPI touch screen without scrolling or zooming the page', async () => {
  const { page, errors } = await openPage(browser, server.url, { hasTouch: true, deviceScaleFactor: 2 });
  const cdp = await page.context().newCDPSession(page);
  const state = () => page.evaluate(() => window.app.state());
  // Sharp on HiDPI: the canvas backing store has device pixels, not CSS pixels.
  const dims = await page.evaluate(() => [document.getElementById('canvas').width, innerWidth]);
  assert.equal(dims[0], 2 * dims[1]);

  const rect = await page.evaluate(() => window.app.drawingRect());
  for (const digit of ['7', '1']) {
    await fingerStroke(cdp, rect, DIGITS[digit][0]);
    const s = await state();
    assert.equal(s.strokes, 1, `one stroke per finger gesture (${digit})`);
    assert.equal(s.top, Number(digit), `drew a ${digit} with a finger, page says ${s.top}`);
    if (digit === '7') await page.screenshot({ path: path.join(artifacts, 'touch-7.png') });
    // The "Clear" button, tapped with the finger.
    await tap(cdp, await page.evaluate(() => window.app.controlRect('clear')));
    assert.equal((await state()).strokes, 0, 'a tap on Clear clears the pad');
  }
  // A tap on a digit button labels the drawing, as with the mouse.
  await fingerStroke(cdp, rect, DIGITS[1][0]);
  await tap(cdp, await page.evaluate(() => window.app.controlRect('digit-1')));
  assert.equal((await state()).samples[1], 1);

  const view = await page.evaluate(() => ({ x: scrollX, y: scrollY, scale: visualViewport.scale }));
  assert.deepEqual(view, { x: 0, y: 0, scale: 1 });
  await closeClean(page, errors);
});
