// The page's fine-tuning worker: runs sessions in fine_tune.wasm (wasm/app/fine_tune/worker_main_web.cpp) off the
// page's thread, so drawing stays smooth however long a training step takes. Protocol (shell.js is
// the other end):
//   page -> worker: {type: 'start', session, parts: [model, replay images, replay labels, probe
//                    images, probe labels, sample images, sample labels] (Uint8Arrays), config (JSON)},
//                   {type: 'cancel', session}, {type: 'stop', session} (end training, keep the best)
//   worker -> page: {type: 'ready'}, {type: 'status', session, status (JSON)} after every chunk of
//                   work, {type: 'finished', session, status, model (Uint8Array, .safetensors)},
//                   {type: 'lost', message} if the module stops.
'use strict';
const CHUNK_MS = 40;  // work between looks at the message queue: a cancel waits at most this plus one slice (a step)
let session = null;

// ?threads=N (N > 1, from shell.js on a cross-origin isolated page): the -pthread module
// fine_tune_mt.js, with N - 1 pool workers started before it runs; else the single-threaded one.
const THREADS = Math.max(1, Math.min(64, parseInt(new URLSearchParams(self.location.search).get('threads'), 10) || 1));
const MODULE = THREADS > 1 ? 'fine_tune_mt.js' : 'fine_tune.js';
self.Module = {
  print: (t) => console.log(t),
  printErr: (t) => console.warn(t),
  digitlabPoolSize: THREADS - 1,   // read by the module's pthread pool (PTHREAD_POOL_SIZE)
  mainScriptUrlOrBlob: MODULE,     // what the pool's workers load (not this script)
  onRuntimeInitialized() { postMessage({ type: 'ready' }); },
  onAbort(what) { session = null; postMessage({ type: 'lost', message: 'the fine-tuning worker stopped: ' + what }); },
};
importScripts(MODULE);

// The module's memory as bytes. With threads, memory can grow on a pool thread, which leaves
// Module.HEAPU8 a view of the old, shorter buffer on this one: view the memory itself each time.
const heap = () => (typeof wasmMemory !== 'undefined' ? new Uint8Array(wasmMemory.buffer) : Module.HEAPU8);

const status = () => Module.UTF8ToString(Module._fine_tune_status());

// A zero-delay yield to the event loop (setTimeout is clamped to 4 ms when nested).
const next = new MessageChannel();
next.port1.onmessage = work;

function work() {
  if (session === null) return;
  const result = Module._fine_tune_advance(CHUNK_MS);
  if (result === 1) {
    const p = Module._fine_tune_result_data(), model = heap().slice(p, p + Module._fine_tune_result_size());
    postMessage({ type: 'finished', session, status: status(), model }, [model.buffer]);
    session = null;
    return;
  }
  postMessage({ type: 'status', session, status: status() });
  if (result === 2) session = null;
  else next.port2.postMessage(null);
}

self.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'cancel') {
    if (m.session === session) { Module._fine_tune_cancel(); session = null; }
  } else if (m.type === 'stop') {
    if (m.session === session) Module._fine_tune_stop();
  } else if (m.type === 'start') {
    m.parts.forEach((bytes, i) => {
      const p = Module._fine_tune_part(i, bytes.length);  // may grow the heap: read HEAPU8 after
      heap().set(bytes, p);
    });
    const wasIdle = session === null;
    session = m.session;
    let config = m.config;
    try {  // this module's threads (the result does not depend on them); bad settings: the module says why
      config = JSON.stringify(Object.assign(JSON.parse(m.config), { threads: THREADS }));
    } catch (e) { /* passed on as they came */ }
    if (Module.ccall('fine_tune_start', 'number', ['string'], [config]) !== 1) {
      postMessage({ type: 'status', session, status: status() });  // state failed, with the reason
      session = null;
    } else if (wasIdle) {
      next.port2.postMessage(null);
    }
  }
};
