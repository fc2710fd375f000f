// Every screen gets a layout that fits: a phone held upright or sideways, a tablet and a desktop.
// On each, every control the page lays out lies inside the viewport on every page of the layout,
// touch targets are at least 40 CSS px, the pad is square and large, and a digit drawn with a
// finger (touch screens) or the mouse is read. A screenshot of each page goes to the test logs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, closeClean, launchBrowser, openPage, startServer, state } from './browser.mjs';
import { DIGITS, draw, fingerStroke, tap } from './drawing.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });

const SCREENS = [
  { name: 'phone-portrait', width: 390, height: 844, dpr: 3, touch: true, padShare: 0.85 },
  { name: 'phone-landscape', width: 844, height: 390, dpr: 3, touch: true, padShare: 0.6 },
  { name: 'tablet', width: 768, height: 1024, dpr: 2, touch: true, padShare: 0.55 },
  { name: 'desktop', width: 1440, height: 900, dpr: 1, touch: false, padShare: 0.5 },
];

function checkControls(controls, screen, where) {
  const names = Object.keys(controls);
  assert.ok(names.length >= 5, `${where}: controls laid out: ${names.join(' ')}`);
  for (const [name, r] of Object.entries(controls)) {
    const inside = r.x >= -0.5 && r.y >= -0.5 && r.x + r.width <= screen.width + 0.5 && r.y + r.height <= screen.height + 0.5;
    assert.ok(inside, `${where}: ${name} at ${JSON.stringify(r)} leaves the ${screen.width}x${screen.height} viewport`);
    if (screen.touch && name !== 'details')
      assert.ok(Math.min(r.width, r.height) >= 40, `${where}: ${name} is ${r.width.toFixed(1)}x${r.height.toFixed(1)} CSS px, under 40 for a finger`);
  }
}

for (const screen of SCREENS) {
  test(`${screen.name} ${screen.width}x${screen.height}: everything fits, a drawn 7 is read`, async () => {
    const { page, errors } = await openPage(browser, server.url, {
      viewport: { width: screen.width, height: screen.height }, deviceScaleFactor: screen.dpr,
      hasTouch: screen.touch, isMobile: screen.touch && screen.width < 800,
    });
    const cdp = screen.touch ? await page.context().newCDPSession(page) : null;
    const press = async (name) => {
      const r = await page.evaluate((n) => window.app.controlRect(n), name);
      assert.ok(r, `${screen.name}: control ${name} should be on screen`);
      if (cdp) await tap(cdp, r); else await page.mouse.click(r.x + r.width / 2, r.y + r.height / 2);
      await page.waitForTimeout(100);
    };
    const stroke = async (digit) => {
      if (!cdp) return draw(page, DIGITS[digit]);
      const rect = await page.evaluate(() => window.app.drawingRect());
      for (const s of DIGITS[digit]) await fingerStroke(cdp, rect, s);
    };
    if (screen.touch) assert.equal((await state(page)).ui.touch, true, 'the page knows it is on a touch screen');

    const pad = await page.evaluate(() => window.app.drawingRect());
    assert.ok(Math.abs(pad.width - pad.height) < 0.5, 'the pad is square');
    assert.ok(pad.width >= screen.padShare * Math.min(screen.width, screen.height),
      `the pad (${pad.width.toFixed(0)} px) takes at least ${screen.padShare} of the screen's short side`);

    for (const digit of ['7', '1']) {  // two samples, so the gallery has something to lay out
      await stroke(digit);
      await press(`digit-${digit}`);
    }
    await stroke('7');
    let s = await state(page);
    assert.equal(s.top, 7, `${screen.name}: a drawn 7 is read as ${s.top}`);
    assert.equal(s.sampleTotal, 2);
    await page.screenshot({ path: path.join(artifacts, `layout-${screen.name}.png`) });

    // Phones show one page at a time behind a navigation bar; every page must fit too.
    const pages = s.ui.layout.startsWith('phone') ? ['draw', 'samples', 'train', 'model'] : [null];
    for (const p of pages) {
      if (p) {
        await press(`nav-${p}`);
        assert.equal((await state(page)).ui.page, p);
        await page.waitForTimeout(100);
        await page.screenshot({ path: path.join(artifacts, `layout-${screen.name}-${p}.png`) });
      }
      checkControls(await page.evaluate(() => window.app.controls()), screen, `${screen.name}${p ? ' / ' + p : ''}`);
    }
    if (pages.length === 1) {
      const names = Object.keys(await page.evaluate(() => window.app.controls()));
      for (const n of ['clear', 'digit-0', 'fine-tune', 'model-picker', 'sample-0'])
        assert.ok(names.includes(n), `${screen.name}: ${n} is on the one page (${names.join(' ')})`);
    }
    const view = await page.evaluate(() => ({ x: scrollX, y: scrollY, scale: visualViewport.scale }));
    assert.deepEqual(view, { x: 0, y: 0, scale: 1 }, 'the page neither scrolls nor zooms');
    await closeClean(page, errors);
  });
}
