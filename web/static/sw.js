// Service worker: the page works offline once it has been loaded. Network first (a rebuilt app is
// picked up as soon as the server answers), the cache when the network fails. Installing caches
// the whole app, shipped models included, so the first visit already makes it available offline.
const CACHE = 'digitlab-v3';
const APP_FILES = ['./', 'index.html', 'shell.js', 'pointer.js', 'app.js', 'app.wasm', 'fine_tune_worker.js', 'fine_tune.js', 'fine_tune.wasm',
                   'manifest.webmanifest', 'icon-192.png', 'icon-512.png', 'icon-maskable-512.png', 'models/manifest.json'];
// The threaded worker module, which only a cross-origin isolated page runs (shell.js): fetched only
// where this worker is isolated too (same origin, same headers), so other pages never download it.
const THREADED_FILES = ['fine_tune_mt.js', 'fine_tune_mt.wasm', 'fine_tune_mt.worker.js'];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(self.crossOriginIsolated ? [...APP_FILES, ...THREADED_FILES] : APP_FILES);
    const manifest = await (await cache.match('models/manifest.json')).json();
    await cache.addAll([...manifest.models, ...manifest.digits].map((f) => 'models/' + f));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok) cache.put(request, response.clone());
      return response;
    } catch (offline) {
      const cached = await cache.match(request, { ignoreSearch: true });
      if (cached) return cached;
      throw offline;
    }
  })());
});
