// Shared setup for the page tests: serve build/wasm/web with web/serve.py on a free loopback port and
// drive Debian's chromium through playwright-core (never a downloaded browser).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const artifacts = path.join(root, 'build', 'test-logs', 'browser');
mkdirSync(artifacts, { recursive: true });

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
    srv.on('error', reject);
  });
}

export async function startServer() {
  const port = await freePort();
  const proc = spawn('python3', [path.join(root, 'web/serve.py'), '--port', String(port),
    '--directory', path.join(root, 'build/wasm/web')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {  // wait up to 10 s for the socket
    try { await fetch(url); return { url, stop: () => proc.kill() }; } catch { await new Promise(r => setTimeout(r, 100)); }
  }
  proc.kill();
  throw new Error('web/serve.py did not start');
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
}

// Opens the page, collecting console errors and uncaught exceptions, and waits for window.app.ready.
// options: browser context options (e.g. hasTouch, deviceScaleFactor) over a 1280x800 viewport, and
// initScript, a function run in the page before its own scripts (e.g. to take a browser feature away).
export async function openPage(browser, url, { initScript, ...options } = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, ...options });
  if (initScript) await page.addInitScript(initScript);
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.evaluate(() => window.app.ready);
  return { page, errors };
}

// What the page shows now (window.app.state(), documented in web/README.md).
export const state = (page) => page.evaluate(() => window.app.state());

// A reload once every change has reached IndexedDB, as a person coming back would see the page.
export async function reload(page) {
  await page.evaluate(() => window.app.saved());
  await page.reload();
  await page.evaluate(() => window.app.ready);
}

// The end of every page test: nothing went wrong on the console, then the page closes.
export async function closeClean(page, errors) {
  assert.deepEqual(errors, [], 'console errors or uncaught exceptions');
  await page.close();
}
