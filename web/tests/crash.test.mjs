// A browser that dies without closing (SIGKILL: a crash, a power cut, a phone killing the app) loses
// nothing that was saved: every sample whose saved() had resolved is there after a relaunch with the
// same profile, and the model in use is the old one or the finished fine-tuned one, never a torn one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { launchOwnBrowser, openPageIn, startServer, state } from './browser.mjs';
import { DIGITS, draw } from './drawing.mjs';

let server, profile;
before(async () => {
  server = await startServer();
  profile = mkdtempSync(path.join(os.tmpdir(), 'digitlab-profile-'));
});
after(() => { server?.stop(); rmSync(profile, { recursive: true, force: true }); });

async function relaunch() {
  const b = await launchOwnBrowser({ userDataDir: profile });
  const { page, errors } = await openPageIn(b.context, server.url);
  return { ...b, page, errors };
}

async function label(page, digit) {
  await draw(page, DIGITS[digit]);
  await page.keyboard.press(digit);
  await page.waitForTimeout(50);
}

// After a relaunch: the model loaded without complaint and reads a drawn 7.
async function modelIsWhole(page) {
  await draw(page, DIGITS[7]);
  const s = await state(page);
  assert.equal(s.modelError, null);
  assert.ok(s.model === 'digitlab-cnn' || /fine-tuned/.test(s.model), `model in use: ${s.model}`);
  assert.equal(s.top, 7, `the model in use reads a 7 (${s.model}, tuned ${s.tuned})`);
  await page.keyboard.press('c');
  return s;
}

test('SIGKILL right after saved() and in the middle of fine-tuning: samples kept, model old or new', async () => {
  let b = await relaunch();
  assert.equal((await state(b.page)).sampleTotal, 0, 'a fresh profile has no samples');
  for (const digit of ['1', '0', '7', '1', '0']) await label(b.page, digit);
  await b.page.evaluate(() => window.app.saved());
  await label(b.page, '7');  // the new sample: killed the moment saved() says it is durable
  await b.page.evaluate(() => window.app.saved());
  await b.kill();

  b = await relaunch();
  let s = await state(b.page);
  assert.deepEqual(s.samples, [2, 2, 0, 0, 0, 0, 0, 2, 0, 0], 'every sample saved before the kill is there');
  assert.equal(s.sampleTotal, 6);
  await modelIsWhole(b.page);

  // Killed mid-session: the worker was training, nothing of it was kept yet.
  assert.equal(await b.page.evaluate(() => window.app.fineTune({ layers: 'all' })), true);
  await b.page.waitForFunction(() => window.app.state().fineTune.step >= 20, null, { timeout: 120000 });
  assert.equal((await state(b.page)).fineTune.state, 'running');
  await b.kill();

  b = await relaunch();
  s = await state(b.page);
  assert.equal(s.sampleTotal, 6, 'samples survive a kill during fine-tuning');
  assert.equal(s.fineTune.state, 'idle', 'a killed session does not come back half done');
  s = await modelIsWhole(b.page);
  assert.equal(s.tuned, false, 'the model of a session that never finished is not used');

  // A session that finishes, then a kill once its model is saved: the new model is the one in use.
  assert.equal(await b.page.evaluate(() => window.app.fineTune({ layers: 'head' })), true);
  await b.page.waitForFunction(() => !['preparing', 'running'].includes(window.app.state().fineTune.state), null, { timeout: 180000 });
  assert.equal((await state(b.page)).fineTune.state, 'done');
  await b.page.evaluate(() => window.app.saved());
  await b.kill();

  b = await relaunch();
  s = await modelIsWhole(b.page);
  assert.equal(s.tuned, true, 'the finished fine-tuned model is kept');
  assert.equal(s.sampleTotal, 6);
  assert.deepEqual(b.errors, []);
  await b.kill();
});
