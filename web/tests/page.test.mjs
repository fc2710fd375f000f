// The page as a person meets it: it loads without errors, shows the ImGui canvas, and a mouse
// stroke on the drawing pad becomes ink that the preprocessing sees.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, closeClean, launchBrowser, openPage, startServer, state } from './browser.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });

test('page loads with no console errors and renders', async () => {
  const { page, errors } = await openPage(browser, server.url);
  await page.waitForTimeout(300);  // a few frames
  const png = await page.screenshot({ path: path.join(artifacts, 'page-loaded.png') });
  assert.deepEqual(errors, []);
  assert.equal(await page.locator('#status').isHidden(), true, 'loading message should be gone');
  // The canvas fills the window (CSS pixels), and the screenshot shows a drawn UI, not a blank clear
  // colour. (WebGL's buffer is not readable after presentation, so the screenshot is what we inspect.)
  const box = await page.locator('#canvas').boundingBox();
  assert.equal(Math.round(box.width), 1280);
  const distinct = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const ctx = new OffscreenCanvas(img.width, img.height).getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, img.width, img.height).data;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4 * 7) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return colours.size;
  }, png.toString('base64'));
  assert.ok(distinct > 3, `expected a drawn UI, saw ${distinct} colours`);
  await page.close();
});

test('a mouse stroke on the pad becomes ink', async () => {
  const { page, errors } = await openPage(browser, server.url);
  const ink = async () => { const s = await page.evaluate(() => window.app.state()); return { strokes: s.strokes, hasInk: s.hasInk }; };
  assert.deepEqual(await ink(), { strokes: 0, hasInk: false });
  await page.mouse.move(200, 150);
  await page.mouse.down();
  for (let i = 1; i <= 20; i++) { await page.mouse.move(200 + i * 2, 150 + i * 12); await page.waitForTimeout(16); }
  await page.mouse.up();
  await page.waitForTimeout(100);
  await page.screenshot({ path: path.join(artifacts, 'page-stroke.png') });
  assert.deepEqual(await ink(), { strokes: 1, hasInk: true });
  await page.keyboard.press('z');  // undo
  await page.waitForTimeout(100);
  assert.deepEqual(await ink(), { strokes: 0, hasInk: false });
  await closeClean(page, errors);
});

// Quiet when idle: once a change has settled the page stops drawing until something happens, so an
// open tab costs no CPU. Drawing a stroke, by contrast, draws a frame for every move.
test('idle: with nothing happening for 5 s the page draws far fewer frames than while drawing', async () => {
  const { page, errors } = await openPage(browser, server.url);
  const frames = async () => (await state(page)).perf.framesDrawn;
  // Settle: the frames that follow loading (fonts, first prediction) end within a few seconds.
  let last = await frames();
  for (let i = 0; i < 20; i++) {
    await page.waitForTimeout(1000);
    const now = await frames();
    if (now === last) break;
    last = now;
  }
  const idleStart = await frames();
  await page.waitForTimeout(5000);
  const idle = (await frames()) - idleStart;

  const pad = await page.evaluate(() => window.app.drawingRect());
  const drawStart = await frames();
  const t0 = Date.now();
  await page.mouse.move(pad.x + pad.width * 0.3, pad.y + pad.height * 0.2);
  await page.mouse.down();
  for (let i = 1; i <= 30; i++) await page.mouse.move(pad.x + pad.width * (0.3 + i * 0.01), pad.y + pad.height * (0.2 + i * 0.02));
  await page.mouse.up();
  await page.waitForTimeout(200);
  const drawing = (await frames()) - drawStart;
  const drawingSeconds = (Date.now() - t0) / 1000;
  console.log(`frames: ${idle} in 5 s idle; ${drawing} in ${drawingSeconds.toFixed(1)} s of drawing`);
  assert.ok(drawing >= 20, `a stroke of 30 moves drew only ${drawing} frames`);
  assert.ok(idle / 5 <= 0.1 * (drawing / drawingSeconds), `idle page drew ${idle} frames in 5 s`);
  assert.ok(idle <= 5, `idle page drew ${idle} frames in 5 s`);
  await closeClean(page, errors);
});
