// Touch and pen: a finger draws on the pad through real touch input (Chromium's touch emulation over
// the DevTools protocol, the events a phone sends) on a HiDPI screen; the page neither scrolls nor
// zooms, and a tap presses a button where the finger is.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, closeClean, launchBrowser, openPage, startServer } from './browser.mjs';
import { DIGITS, fingerStroke, tap } from './drawing.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });

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
