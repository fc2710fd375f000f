// Picking and loading models, and fixing a sample's label, the way a person does it: the picker
// opened with the mouse shows each shipped model's size and accuracy; a weight file chosen in the
// file dialog is validated and used; a sample clicked in the gallery is relabelled with a key.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, closeClean, launchBrowser, openPage, reload, root, startServer, state } from './browser.mjs';
import { DIGITS, click, draw } from './drawing.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });


test('the model picker lists shipped models with parameters and accuracy and switches between them', async () => {
  const { page, errors } = await openPage(browser, server.url);
  const models = (await state(page)).models;
  const byId = Object.fromEntries(models.map((m) => [m.id, m]));
  assert.equal(byId['digitlab-cnn'].parameters, 186538);
  assert.ok(byId['digitlab-cnn'].testAccuracy >= 0.995, JSON.stringify(byId['digitlab-cnn']));
  assert.equal(byId['seed-cnn'].parameters, 421642);
  assert.ok(byId['seed-cnn'].testAccuracy > 0.99);
  assert.equal(models.find((m) => m.selected).id, 'digitlab-cnn');

  await click(page, 'model-picker');
  await page.screenshot({ path: path.join(artifacts, 'model-picker.png') });
  await click(page, 'model-seed-cnn');
  let s = await state(page);
  assert.equal(s.model, 'seed-cnn');
  assert.equal(s.modelParameters, 421642);
  await draw(page, DIGITS[7]);
  assert.equal((await state(page)).top, 7, 'the picked model classifies');
  await reload(page);
  assert.equal((await state(page)).model, 'seed-cnn', 'the choice is remembered');
  assert.equal(await page.evaluate(() => window.app.selectModel('digitlab-cnn')), null);
  await closeClean(page, errors);
});

test('a weight file from the file dialog is validated, used and kept', async () => {
  const { page, errors } = await openPage(browser, server.url);
  await page.setInputFiles('#file-input', { name: 'broken.safetensors', mimeType: 'application/octet-stream',
                                            buffer: Buffer.from('{"not": "a model"}') });
  await page.waitForTimeout(200);
  let s = await state(page);
  assert.equal(s.model, 'digitlab-cnn', 'the model in use stays');
  assert.match(s.modelError, /broken\.safetensors/);

  await page.setInputFiles('#file-input', path.join(root, 'models/seed-cnn.safetensors'));
  await page.waitForFunction(() => window.app.state().model === 'seed-cnn.safetensors');
  s = await state(page);
  assert.equal(s.modelError, null);
  assert.ok(s.models.some((m) => m.loaded && m.label === 'seed-cnn.safetensors'));
  await draw(page, DIGITS[0]);
  assert.equal((await state(page)).top, 0);
  await reload(page);
  assert.equal((await state(page)).model, 'seed-cnn.safetensors', 'kept across reloads');
  await closeClean(page, errors);
});

test('a sample clicked in the gallery is relabelled with a number key, or deleted', async () => {
  const { page, errors } = await openPage(browser, server.url);
  for (const digit of ['1', '0']) {
    await draw(page, DIGITS[digit]);
    await page.keyboard.press(digit);
    await page.waitForTimeout(50);
  }
  assert.deepEqual((await state(page)).sampleLabels, [1, 0]);
  await click(page, 'sample-0');  // the "1", labelled as such; say it was meant as a 7
  assert.equal((await state(page)).selectedSample, 0);
  await page.keyboard.press('7');
  await page.waitForTimeout(100);
  let s = await state(page);
  assert.deepEqual(s.sampleLabels, [7, 0]);
  assert.equal(s.sampleTotal, 2, 'relabelling adds nothing');
  await page.keyboard.press('Delete');
  await page.waitForTimeout(100);
  s = await state(page);
  assert.deepEqual(s.sampleLabels, [0]);
  assert.equal(s.selectedSample, null);
  await reload(page);
  assert.deepEqual((await state(page)).sampleLabels, [0]);
  await closeClean(page, errors);
});
