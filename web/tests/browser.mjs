// Shared setup for the page tests: serve build/wasm/web with web/serve.py on a free loopback port and
// drive Debian's chromium through playwright-core (never a downloaded browser).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
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

// isolated: false serves without COOP/COEP (web/serve.py --no-isolation), as a host that cannot send them.
export async function startServer({ isolated = true } = {}) {
  const port = await freePort();
  const proc = spawn('python3', [path.join(root, 'web/serve.py'), '--port', String(port),
    '--directory', path.join(root, 'build/wasm/web'), ...(isolated ? [] : ['--no-isolation'])], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {  // wait up to 10 s for the socket
    try { await fetch(url); return { url, stop: () => proc.kill() }; } catch { await new Promise(r => setTimeout(r, 100)); }
  }
  proc.kill();
  throw new Error('web/serve.py did not start');
}

const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const chromiumFlags = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'];

export async function launchBrowser() {
  return chromium.launch({ executablePath: chromiumPath, args: chromiumFlags });
}

// A Chromium this test starts itself, not through playwright's launcher, and reaches over the
// DevTools port: a persistent profile in userDataDir (what a person's browser keeps between runs),
// and a process the test can SIGKILL the way a crash or a power cut ends a browser. headful: under
// Xvfb, where a tab behind another really is hidden (headless Chromium reports every tab visible).
// Returns { browser, context, kill }: kill() SIGKILLs the browser and everything it started.
export async function launchOwnBrowser({ userDataDir, headful = false }) {
  const portFile = path.join(userDataDir, 'DevToolsActivePort');
  rmSync(portFile, { force: true });
  const args = [...chromiumFlags, `--user-data-dir=${userDataDir}`, '--remote-debugging-port=0',
    '--window-size=1280,900', '--no-default-browser-check', ...(headful ? [] : ['--headless']), 'about:blank'];
  const proc = headful
    ? spawn('xvfb-run', ['-a', '-s', '-screen 0 1280x900x24', chromiumPath, ...args], { stdio: 'ignore', detached: true })
    : spawn(chromiumPath, args, { stdio: 'ignore', detached: true });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  let port = null;
  for (let i = 0; i < 300 && !port; i++) {  // up to 30 s for the DevTools port
    await new Promise((r) => setTimeout(r, 100));
    if (existsSync(portFile)) port = Number(readFileSync(portFile, 'utf8').split('\n')[0]) || null;
  }
  const kill = async () => {
    try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* already gone */ }
    await exited;
  };
  if (!port) { await kill(); throw new Error(`chromium did not open its DevTools port (${userDataDir})`); }
  // noDefaults: no focus emulation, which would keep every tab "visible" (a hidden tab is the point).
  const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`, { noDefaults: true });
  return { browser, context: browser.contexts()[0], kill };
}

// Opens the page, collecting console errors and uncaught exceptions, and waits for window.app.ready.
// options: browser context options (e.g. hasTouch, deviceScaleFactor) over a 1280x800 viewport, and
// initScript, a function run in the page before its own scripts (e.g. to take a browser feature away).
export async function openPage(browser, url, { initScript, ...options } = {}) {
  return load(await browser.newPage({ viewport: { width: 1280, height: 800 }, ...options }), url, initScript);
}

// The same in a tab of a browser from launchOwnBrowser (its window's size, its profile).
export async function openPageIn(context, url) { return load(await context.newPage(), url); }

async function load(page, url, initScript) {
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
