// Installable: the browser has nothing against installing the page (Chrome's own check, over CDP),
// the manifest says what an installed app needs, its icons are real PNGs of the sizes it claims, and
// the service worker that makes it work offline is in control.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { closeClean, launchOwnBrowser, openPageIn, startServer } from './browser.mjs';

let server, own, profile;
// A persistent profile: Chromium refuses installation in an incognito-like (throw-away) context.
before(async () => {
  server = await startServer();
  profile = mkdtempSync(path.join(os.tmpdir(), 'digitlab-install-'));
  own = await launchOwnBrowser({ userDataDir: profile });
});
after(async () => { await own?.kill(); server?.stop(); rmSync(profile, { recursive: true, force: true }); });

// Width and height from a PNG's IHDR chunk; throws when the bytes are not a PNG.
function pngSize(bytes) {
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  assert.deepEqual([...bytes.subarray(0, 8)], signature, 'PNG signature');
  assert.equal(bytes.subarray(12, 16).toString('latin1'), 'IHDR');
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test('the page is installable: manifest, icons, service worker, and no installability errors', async () => {
  const response = await fetch(new URL('manifest.webmanifest', server.url));
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^application\/manifest\+json/);
  const manifest = await response.json();
  assert.ok(manifest.name && manifest.short_name && manifest.short_name.length <= 12, 'name and a short name');
  assert.equal(manifest.display, 'standalone');
  assert.match(manifest.theme_color, /^#[0-9a-f]{6}$/i);
  assert.ok(manifest.start_url);
  for (const want of [192, 512]) {
    const icon = manifest.icons.find((i) => i.sizes === `${want}x${want}` && (i.purpose ?? 'any').includes('any'));
    assert.ok(icon, `a ${want}x${want} icon`);
    const bytes = Buffer.from(await (await fetch(new URL(icon.src, server.url))).arrayBuffer());
    assert.deepEqual(pngSize(bytes), [want, want], `${icon.src} is ${want}x${want}`);
  }

  const { page, errors } = await openPageIn(own.context, server.url);
  await page.evaluate(() => navigator.serviceWorker.ready);
  const cdp = await own.context.newCDPSession(page);
  // Chrome decides "Install" from the same checks; poll while the service worker takes control.
  let installability = null;
  for (let i = 0; i < 20; i++) {
    installability = (await cdp.send('Page.getInstallabilityErrors')).installabilityErrors;
    if (installability.length === 0) break;
    await page.waitForTimeout(500);
  }
  assert.deepEqual(installability, [], 'Chromium\'s installability errors');
  const appManifest = await cdp.send('Page.getAppManifest');
  assert.deepEqual(appManifest.errors, [], 'manifest parse errors');
  await closeClean(page, errors);
});
