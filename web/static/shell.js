// The page shell: feature checks, loading the wasm module and the shipped models, and window.app,
// the page's JavaScript API for automation and embedding (documented in web/README.md).
(function () {
  const status = document.getElementById('status');
  const canvas = document.getElementById('canvas');
  function fail(message) { status.textContent = message; status.className = 'error'; }
  function setStatus(message) { status.textContent = message; }

  // Feature checks first, so an old browser gets a sentence rather than a blank page.
  const hasWebGL2 = !!document.createElement('canvas').getContext('webgl2');
  // The smallest module using a SIMD instruction (v128.const): validates only with wasm SIMD.
  const simdProbe = new Uint8Array([0,97,115,109,1,0,0,0,1,5,1,96,0,1,123,3,2,1,0,10,22,1,20,0,253,12,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,11]);
  const hasSimd = typeof WebAssembly === 'object' && WebAssembly.validate(simdProbe);

  let resolveReady, rejectReady, resolveWorker;
  let savedWaiters = [];
  const str = (ptr) => Module.UTF8ToString(ptr) || null;
  const withBytes = (bytes, fn) => {  // copies bytes into the module's heap for the call
    const p = Module._malloc(bytes.length);
    Module.HEAPU8.set(bytes, p);
    try { return fn(p); } finally { Module._free(p); }
  };

  window.app = {
    // Resolved once the module runs and a model is loaded; rejected with the reason otherwise.
    ready: new Promise((res, rej) => { resolveReady = res; rejectReady = rej; }),
    // Resolved once the fine-tuning worker answers (true), or when there will be none (false: sessions
    // then run on the page's thread, in slices between frames).
    fineTuneWorker: new Promise((res) => { resolveWorker = res; }),
    // Milliseconds from navigation start to ready (performance.now() at that moment).
    timing: { readyMs: null },
    // Resolves once every change so far (samples, models, the fine-tuned model) is in IndexedDB,
    // i.e. survives a reload or a closed tab.
    saved() {
      if (!Module.savesInFlight) return Promise.resolve();
      return new Promise((resolve) => savedWaiters.push(resolve));
    },
    // A plain object: what the page shows right now (see web/README.md for every field).
    state() {
      const s = JSON.parse(Module.UTF8ToString(Module._app_state_json_js()));
      // Threads: inference runs on the page's thread; training on the worker's module (below).
      s.perf.threads = { inference: 1, training: trainingThreads.count, module: trainingThreads.module, why: trainingThreads.why,
                         inferenceWhy: 'the page module (app.wasm) is single-threaded: a drawn digit takes well under a frame; batch inference (the gallery\'s samples, held-out and MNIST digits) runs in the worker, on its threads' };
      return s;
    },
    // On a phone, the page shown: 'draw', 'samples', 'train' or 'model' (the navigation bar's).
    showPage(name) {
      const i = ['draw', 'samples', 'train', 'model'].indexOf(name);
      if (i < 0) throw new Error(`no page '${name}'`);
      Module._app_show_page(i);
    },
    // Stops a fine-tuning session early and keeps the best weights so far (the Stop button).
    stopFineTune() { Module._app_stop_fine_tune_js(); },
    // The drawing pad's position and size in CSS pixels, relative to the viewport.
    drawingRect() {
      const side = Module._app_pad_rect(2);
      if (!(side > 0)) return null;
      const r = canvas.getBoundingClientRect(), k = r.width / canvas.width;
      return { x: r.left + Module._app_pad_rect(0) * k, y: r.top + Module._app_pad_rect(1) * k, width: side * k, height: side * k };
    },
    // A control's rectangle in CSS pixels, as drawingRect(): 'clear', 'undo', 'digit-0'..'digit-9',
    // 'fine-tune', 'model-picker', 'model-<id>' (while the picker is open), 'sample-<i>'; null when
    // it is not on screen. For pressing controls with a real mouse, finger or pen.
    controlRect(name) { return this.controls()[name] || null; },
    // Every control laid out in the last frame: {name: {x, y, width, height}} in CSS pixels.
    controls() {
      const all = JSON.parse(Module.UTF8ToString(Module._app_controls_json()));
      const r = canvas.getBoundingClientRect(), k = r.width / canvas.width;
      const out = {};
      for (const [name, c] of Object.entries(all))
        out[name] = { x: r.left + c[0] * k, y: r.top + c[1] * k, width: c[2] * k, height: c[3] * k };
      return out;
    },
    // Adds the current drawing as a sample with this label (as the 0-9 buttons and keys do).
    addSample(label) { return Module._app_add_sample_js(label) === 1; },
    // Sample i (0 = oldest, as in state().sampleLabels): change its label, or delete it.
    relabelSample(i, label) { return Module._app_relabel_sample_js(i, label) === 1; },
    deleteSample(i) { return Module._app_delete_sample_js(i) === 1; },
    // Uses a model of state().models, by id or index; null on success, else the reason.
    selectModel(which) {
      const i = typeof which === 'number' ? which : this.state().models.findIndex((m) => m.id === which);
      return Module._app_select_model_js(i) === 1 ? null : str(Module._app_model_error());
    },
    // Starts fine-tuning on the samples (the page keeps drawing while it runs): layers 'head',
    // 'last-block' or 'all' (lastBlock: true is 'last-block'); false without samples.
    fineTune({ layers, lastBlock = false } = {}) {
      const started = Module.ccall('app_fine_tune_js', 'number', ['string'], [String(layers ?? (lastBlock ? 'last-block' : 'head'))]);
      if (started === -1) throw new Error(str(Module._app_notice()));
      return started === 1;
    },
    cancelFineTune() { Module._app_cancel_fine_tune_js(); },
    // Back to the selected model as shipped; its fine-tuned copy is deleted from this browser.
    revert() { Module._app_revert_js(); },
    // The samples as an IDX pair ({images, labels}: Uint8Array each, the native trainer's format);
    // with {download: true} the browser also saves them as two files.
    exportSamples({ download = false } = {}) {
      const paths = ['/tmp/export-images.idx', '/tmp/export-labels.idx'];
      if (Module.ccall('app_export_samples_js', 'number', ['string', 'string'], paths) !== 1) return { images: null, labels: null };
      const pair = { images: Module.FS.readFile(paths[0]), labels: Module.FS.readFile(paths[1]) };
      paths.forEach((p) => Module.FS.unlink(p));
      if (download) {
        save(pair.images, 'digitlab-samples-images.idx');
        save(pair.labels, 'digitlab-samples-labels.idx');
      }
      return pair;
    },
    // Adds the samples of an IDX pair; returns null or the reason it was refused.
    importSamples(images, labels) {
      Module.FS.writeFile('/tmp/import-images.idx', images);
      Module.FS.writeFile('/tmp/import-labels.idx', labels);
      const ok = Module.ccall('app_import_samples_js', 'number', ['string', 'string'],
                              ['/tmp/import-images.idx', '/tmp/import-labels.idx']);
      return ok ? null : str(Module._app_notice());
    },
    // The model in use (fine-tuned or as shipped) as .safetensors bytes; {download: true} saves it.
    modelBytes({ download = false } = {}) {
      const bytes = Module.FS.readFile(str(Module._app_current_model_path()));
      if (download) {
        const s = this.state();
        const base = s.models.find((m) => m.selected)?.id || 'model';
        save(bytes, `digitlab-${base}${s.tuned ? '-fine-tuned' : ''}.safetensors`);
      }
      return bytes;
    },
    downloadModel() { return this.modelBytes({ download: true }); },
    // Loads a .safetensors model from bytes; returns null on success or the error message (the
    // model in use stays on error).
    loadModel(bytes, name) {
      return withBytes(bytes, (p) => Module.ccall('app_load_model_bytes', 'number', ['number', 'number', 'string'],
                                                  [p, bytes.length, name])) ? null : str(Module._app_model_error());
    },
  };

  // The page draws only when something changes (main_web.cpp): every call of window.app that can
  // change what it shows asks for frames, and so does any input.
  for (const [name, fn] of Object.entries(window.app)) {
    if (typeof fn !== 'function' || ['state', 'drawingRect', 'controlRect', 'controls', 'saved'].includes(name)) continue;
    window.app[name] = function (...args) {
      try { return fn.apply(this, args); } finally { if (Module._app_wake) Module._app_wake(); }
    };
  }
  for (const type of ['pointerdown', 'pointermove', 'pointerup', 'wheel', 'keydown', 'keyup', 'focus', 'visibilitychange']) {
    window.addEventListener(type, () => { if (Module._app_wake) Module._app_wake(); }, { capture: true, passive: true });
  }

  function save(bytes, name) {
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // Files from the picker or dropped on the page: a .safetensors model, or an IDX pair of samples
  // (the names tell images from labels, as MNIST's and our exports do).
  async function openFiles(files) {
    const list = [...files];
    const bytes = async (f) => new Uint8Array(await f.arrayBuffer());
    const model = list.find((f) => f.name.endsWith('.safetensors'));
    if (model) window.app.loadModel(await bytes(model), model.name);
    const images = list.find((f) => /image/i.test(f.name)), labels = list.find((f) => /label/i.test(f.name));
    if (images && labels) window.app.importSamples(await bytes(images), await bytes(labels));
  }
  const fileInput = document.getElementById('file-input');
  fileInput.addEventListener('change', () => { openFiles(fileInput.files); fileInput.value = ''; });
  canvas.addEventListener('dragover', (e) => e.preventDefault());
  canvas.addEventListener('drop', (e) => { e.preventDefault(); openFiles(e.dataTransfer.files); });

  // The shipped models and digit sets (listed in models/manifest.json) go into the module's file
  // system; the app then loads them with the person's saved samples and models (IndexedDB at /data).
  async function loadShippedFiles() {
    const get = async (name) => {
      const response = await fetch('models/' + name);
      if (!response.ok) throw new Error(`could not fetch models/${name} (HTTP ${response.status})`);
      return new Uint8Array(await response.arrayBuffer());
    };
    const manifest = JSON.parse(new TextDecoder().decode(await get('manifest.json')));
    Module.FS.mkdir('/models');
    const names = [...manifest.models, ...manifest.digits];
    const files = await Promise.all(names.map(get));
    names.forEach((name, i) => Module.FS.writeFile('/models/' + name, files[i]));
    if (Module._app_start_js() !== 1) throw new Error(str(Module._app_model_error()) || 'no usable model');
  }

  // Fine-tuning runs in a Web Worker (fine_tune_worker.js), loaded once the page is ready so it never
  // delays the first prediction. Until it answers, or if it cannot load, sessions run on this thread
  // in slices (state().fineTune.runsIn says which). Its messages go to the app (main_web.cpp).
  // The threaded worker module needs SharedArrayBuffer, which a browser gives only to a cross-origin
  // isolated page (COOP/COEP headers, as web/serve.py sends). Threads: the cores less the page's own,
  // at least 2 (the page's thread is idle most of a session) and at most 8 (a batch of 32 gives no
  // more than that much parallel work). A session's status says how many it really got.
  const trainingThreads = (() => {
    if (!self.crossOriginIsolated || typeof SharedArrayBuffer !== 'function')
      return { count: 1, module: 'fine_tune', why: 'page not cross-origin isolated (no SharedArrayBuffer): single-threaded worker' };
    if (new URLSearchParams(location.search).get('threads') === '1')
      return { count: 1, module: 'fine_tune', why: '?threads=1 asked for the single-threaded worker' };
    const cores = navigator.hardwareConcurrency || 2;
    const count = Math.max(2, Math.min(8, cores - 1));
    return { count, module: 'fine_tune_mt', why: `cross-origin isolated: ${count} threads for ${cores} cores` };
  })();

  function startFineTuneWorker() {
    if (typeof Worker !== 'function') { resolveWorker(false); return; }
    const link = { ready: false, failed: false, post: (message, transfer) => worker.postMessage(message, transfer) };
    Module.fineTuneWorker = link;
    let worker;
    const lost = (why) => {
      link.ready = false;
      link.failed = true;
      resolveWorker(false);
      Module.ccall('app_fine_tune_worker_lost', null, ['string'], [why]);
    };
    try { worker = new Worker('fine_tune_worker.js?threads=' + trainingThreads.count); } catch (e) {
      console.warn('fine-tuning worker unavailable: ' + e.message);
      lost('the fine-tuning worker could not start: ' + e.message);
      return;
    }
    worker.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'ready') {
        link.ready = true;
        Module._app_fine_tune_worker_ready();  // a hidden warm-up session, so the first real one runs compiled code
        resolveWorker(true);
      }
      else if (m.type === 'status') Module.ccall('app_fine_tune_worker_status', null, ['number', 'string'], [m.session, m.status]);
      else if (m.type === 'finished') {
        withBytes(m.model, (p) => Module.ccall('app_fine_tune_worker_finished', null, ['number', 'string', 'number', 'number'],
                                                [m.session, m.status, p, m.model.length]));
      } else if (m.type === 'lost') { lost(m.message); worker.terminate(); }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      console.warn('fine-tuning worker failed: ' + e.message + '; sessions run on the page instead');
      lost('the fine-tuning worker failed: ' + e.message);
      worker.terminate();
    };
  }

  window.Module = {
    canvas,
    print: (t) => console.log(t),
    printErr: (t) => console.warn(t),
    onAppReady() {
      setStatus('Loading the models…');
      loadShippedFiles().then(() => {
        status.className = 'hidden';
        window.app.timing.readyMs = performance.now();
        resolveReady();
        startFineTuneWorker();
      }, (e) => { fail('The model could not be loaded: ' + e.message); rejectReady(e); resolveWorker(false); });
    },
    onSaved() {
      const waiting = savedWaiters;
      savedWaiters = [];
      waiting.forEach((resolve) => resolve());
    },
    onWebGLError() { fail('This page needs WebGL2, which this browser does not provide.'); rejectReady(new Error('no WebGL2')); },
    onAbort(what) { fail('The app stopped: ' + what); rejectReady(new Error(String(what))); },
  };
  attachPointerInput(canvas, window.Module);

  if (!hasWebGL2) {
    fail('This page needs WebGL2, which this browser does not provide.');
    rejectReady(new Error('no WebGL2'));
  } else if (!hasSimd) {
    fail('This page needs WebAssembly SIMD (Chrome 91+, Firefox 89+, Safari 16.4+).');
    rejectReady(new Error('no wasm SIMD'));
  } else {
    const script = document.createElement('script');
    script.src = 'app.js';
    script.onerror = () => { fail('Could not load app.js: is the page served by `./run demo`?'); rejectReady(new Error('app.js')); };
    document.body.appendChild(script);
  }
  // Offline use: a service worker keeps the app and models (http://localhost counts as secure).
  if ('serviceWorker' in navigator && window.isSecureContext) {
    navigator.serviceWorker.register('sw.js').catch((e) => console.warn('offline mode unavailable: ' + e.message));
  }
})();
