#include "fine_tune/worker_link_web.h"

#include <emscripten.h>

namespace digitlab {
namespace {

// Module.fineTuneWorker is set by shell.js once the page has loaded (it then starts the Worker), and
// has failed = true once the worker failed or stopped.
EM_JS(int, fine_tune_worker_available, (), {
  const w = Module.fineTuneWorker;
  return typeof Worker === 'function' && !(w && w.failed) ? 1 : 0;
});
EM_JS(int, fine_tune_worker_ready, (), { return Module.fineTuneWorker && Module.fineTuneWorker.ready ? 1 : 0; });

// Copies the parts out of the heap (the worker owns its copies: transferred, not shared).
EM_JS(void, fine_tune_worker_start, (int session, const uint8_t* const* data, const int* sizes, int count, const char* config), {
  const parts = [];
  for (let i = 0; i < count; i++) {
    const p = HEAPU32[(data >> 2) + i], n = HEAP32[(sizes >> 2) + i];
    parts.push(HEAPU8.slice(p, p + n));
  }
  Module.fineTuneWorker.post({ type: 'start', session, parts, config: UTF8ToString(config) }, parts.map((b) => b.buffer));
});

EM_JS(void, fine_tune_worker_cancel, (int session), {
  if (Module.fineTuneWorker) Module.fineTuneWorker.post({ type: 'cancel', session });
});
EM_JS(void, fine_tune_worker_stop, (int session), {
  if (Module.fineTuneWorker) Module.fineTuneWorker.post({ type: 'stop', session });
});

}  // namespace

bool WebFineTuneWorkerLink::available() const { return fine_tune_worker_available() == 1; }
bool WebFineTuneWorkerLink::ready() const { return fine_tune_worker_ready() == 1; }

void WebFineTuneWorkerLink::start(int session, const FineTuneRequest& request) {
  const uint8_t* data[FineTuneRequest::part_count];
  int sizes[FineTuneRequest::part_count];
  for (int i = 0; i < FineTuneRequest::part_count; ++i) {
    data[i] = request.parts[i].data();
    sizes[i] = int(request.parts[i].size());
  }
  fine_tune_worker_start(session, data, sizes, FineTuneRequest::part_count, request.config.c_str());
}

void WebFineTuneWorkerLink::cancel(int session) { fine_tune_worker_cancel(session); }
void WebFineTuneWorkerLink::stop(int session) { fine_tune_worker_stop(session); }

}  // namespace digitlab
