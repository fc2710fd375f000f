// A person with 10,000 samples (an IDX import) keeps a page that behaves as it did with 10: adding or
// deleting one sample, until saved() says it is durable, costs about the same at both sizes (the
// store rewrites one chunk, never the whole set), and the gallery lays out only what is on screen.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { closeClean, launchBrowser, openPage, root, startServer, state } from './browser.mjs';
import { DIGITS, draw } from './drawing.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });

// n real MNIST test digits (the 500 shipped ones, repeated) as an IDX pair.
function idxPair(n) {
  const images = gunzipSync(readFileSync(path.join(root, 'models/mnist-test-500-images.idx.gz'))).subarray(16);
  const labels = gunzipSync(readFileSync(path.join(root, 'models/mnist-test-500-labels.idx.gz'))).subarray(8);
  const img = Buffer.alloc(16 + n * 784), lab = Buffer.alloc(8 + n);
  img.writeUInt32BE(0x803, 0); img.writeUInt32BE(n, 4); img.writeUInt32BE(28, 8); img.writeUInt32BE(28, 12);
  lab.writeUInt32BE(0x801, 0); lab.writeUInt32BE(n, 4);
  for (let i = 0; i < n; i++) {
    images.copy(img, 16 + i * 784, (i % 500) * 784, (i % 500 + 1) * 784);
    lab[8 + i] = labels[i % 500];
  }
  return { images: img.toString('base64'), labels: lab.toString('base64') };  // 7.8 MB: base64 crosses CDP fast
}

async function importPair(page, n) {
  const result = await page.evaluate(({ images, labels }) => {
    const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return window.app.importSamples(bytes(images), bytes(labels));
  }, idxPair(n));
  assert.equal(result, null, `importing ${n} samples`);
  await page.evaluate(() => window.app.saved());
}

// Milliseconds from a change to its saved() resolving, the median of three: adding a drawn 7, and
// deleting the first sample.
async function changeCosts(page) {
  const add = [], del = [];
  for (let i = 0; i < 3; i++) {
    await draw(page, DIGITS[7]);
    add.push(await page.evaluate(async () => {
      const t0 = performance.now();
      if (!window.app.addSample(7)) return NaN;
      await window.app.saved();
      return performance.now() - t0;
    }));
    del.push(await page.evaluate(async () => {
      const t0 = performance.now();
      if (!window.app.deleteSample(0)) return NaN;
      await window.app.saved();
      return performance.now() - t0;
    }));
  }
  const median = (v) => v.sort((a, b) => a - b)[1];
  return { add: median(add), delete: median(del) };
}

test('10,000 samples: adding or deleting one costs about what it costs at 10; the page stays usable', async () => {
  const { page, errors } = await openPage(browser, server.url);
  await importPair(page, 10);
  const small = await changeCosts(page);
  assert.equal((await state(page)).sampleTotal, 10);

  await importPair(page, 9990);
  assert.equal((await state(page)).sampleTotal, 10000);
  const large = await changeCosts(page);
  console.log(`add + saved(): ${small.add.toFixed(1)} ms at 10 samples, ${large.add.toFixed(1)} ms at 10,000; ` +
              `delete + saved(): ${small.delete.toFixed(1)} ms, ${large.delete.toFixed(1)} ms`);
  // Generous: a whole-set rewrite at 10,000 samples (7.8 MB) costs hundreds of times the 10-sample figure.
  for (const what of ['add', 'delete'])
    assert.ok(large[what] <= 4 * small[what] + 50,
      `${what} at 10,000 samples took ${large[what].toFixed(1)} ms, at 10 ${small[what].toFixed(1)} ms`);

  // Usable: the gallery (Samples card) lays out the rows on screen, not 10,000 thumbnails, and a
  // drawing is still read.
  const thumbnails = Object.keys(await page.evaluate(() => window.app.controls())).filter((n) => n.startsWith('sample-'));
  assert.ok(thumbnails.length > 0 && thumbnails.length < 300, `thumbnails laid out: ${thumbnails.length}`);
  await draw(page, DIGITS[1]);
  const s = await state(page);
  assert.equal(s.top, 1);
  assert.equal(s.sampleTotal, 10000);
  await page.reload();
  await page.evaluate(() => window.app.ready);
  assert.equal((await state(page)).sampleTotal, 10000, 'all 10,000 come back after a reload');
  await closeClean(page, errors);
});
