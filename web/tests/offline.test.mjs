// Works offline once loaded: after a first visit, the page reloads and classifies with the server
// gone (a service worker keeps the app and the shipped models).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { closeClean, launchBrowser, openPage, startServer } from './browser.mjs';
import { DIGITS, draw } from './drawing.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });

test('the page reloads and works with the server stopped', async () => {
  const { page, errors } = await openPage(browser, server.url);
  await page.evaluate(() => navigator.serviceWorker.ready);
  server.stop();
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(fetch(server.url), 'the server is gone');
  await page.reload();
  await page.evaluate(() => window.app.ready);
  await draw(page, DIGITS[7]);
  const s = await page.evaluate(() => window.app.state());
  assert.equal(s.top, 7);
  assert.ok(s.models.length >= 2, 'every shipped model is available offline');
  assert.equal(await page.evaluate(() => window.app.selectModel('seed-cnn')), null);
  await closeClean(page, errors);
});
