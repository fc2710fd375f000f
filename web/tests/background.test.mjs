// A person starts fine-tuning and switches to another tab: the session, in its worker, keeps going
// while the page is hidden (no frames drawn then), and the page shows the result when it comes back.
// Headful Chromium under Xvfb, because only there a tab behind another is really hidden.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, launchOwnBrowser, openPageIn, startServer, state } from './browser.mjs';
import { DIGITS, draw } from './drawing.mjs';

let server, profile, own;
before(async () => {
  server = await startServer();
  profile = mkdtempSync(path.join(os.tmpdir(), 'digitlab-profile-'));
  own = await launchOwnBrowser({ userDataDir: profile, headful: true });
});
after(async () => { await own?.kill(); server?.stop(); rmSync(profile, { recursive: true, force: true }); });

test('a worker session finishes while its tab is in the background, and the page catches up', async () => {
  const { page, errors } = await openPageIn(own.context, server.url);
  for (const digit of ['1', '0', '7', '1', '0', '7']) {
    await draw(page, DIGITS[digit]);
    await page.keyboard.press(digit);
    await page.waitForTimeout(50);
  }
  assert.equal(await page.evaluate(() => document.visibilityState), 'visible');
  assert.equal(await page.evaluate(() => window.app.fineTune({ layers: 'last-block' })), true);
  assert.equal((await state(page)).fineTune.runsIn, 'worker');

  // Another tab in front, in the same window: this one is hidden now.
  const front = await own.context.newPage();
  await front.goto('about:blank');
  await front.bringToFront();
  // (Polled on a timer: a hidden tab runs no requestAnimationFrame, waitForFunction's default.)
  await page.waitForFunction(() => document.visibilityState === 'hidden', null, { timeout: 10000, polling: 250 });
  const hidden = await state(page);
  assert.ok(['preparing', 'running'].includes(hidden.fineTune.state), `still training when hidden: ${hidden.fineTune.state}`);

  // The session runs to the end behind the other tab; the page's own state follows it there,
  // without drawing a frame nobody can see.
  await page.waitForFunction(() => !['preparing', 'running'].includes(window.app.state().fineTune.state), null, { timeout: 240000, polling: 1000 });
  let s = await state(page);
  assert.equal(await page.evaluate(() => document.visibilityState), 'hidden', 'the session ended while the tab was hidden');
  assert.equal(s.fineTune.state, 'done', s.notice);
  assert.ok(s.fineTune.step > hidden.fineTune.step, 'steps were taken while hidden');
  assert.equal(s.tuned, true, 'the fine-tuned model is in use as soon as the session ends');
  assert.ok(s.perf.framesDrawn - hidden.perf.framesDrawn <= 15, `frames drawn while hidden: ${s.perf.framesDrawn - hidden.perf.framesDrawn}`);

  // Back in front: the page draws again and shows the finished session.
  await page.bringToFront();
  await page.waitForFunction(() => document.visibilityState === 'visible', null, { timeout: 10000 });
  await draw(page, DIGITS[7]);
  s = await state(page);
  assert.equal(s.top, 7);
  assert.match(s.model, /fine-tuned/);
  assert.ok(s.perf.framesDrawn > hidden.perf.framesDrawn, 'the page draws again when it is back');
  await page.screenshot({ path: path.join(artifacts, 'background-back.png') });
  assert.deepEqual(errors, []);
});
