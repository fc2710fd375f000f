#include "tuner_link_web.h"

#include <emscripten.h>

namespace digitlab {
namespace {

EM_JS(int, tuner_worker_ready, (), { return Module.tuner && Module.tuner.ready ? 1 : 0; });

// Copies the parts out of the heap (the worker owns its copies: transferred, not shared).
EM_JS(void, tuner_worker_start, (int session, const uint8_t* const* data, const int* sizes, int count, const char* config), {
  const parts = [];
  for (let i = 0; i < count; i++) {
    const p = HEAPU32[(data >> 2) + i], n = HEAP32[(sizes >> 2) + i];
    parts.push(HEAPU8.slice(p, p + n));
  }
  Module.tuner.post({ type: 'start', session, parts, config: UTF8ToString(config) }, parts.map((b) => b.buffer));
});

EM_JS(void, tuner_worker_cancel, (int session), { if (Module.tuner) Module.tuner.post({ type: 'cancel', session }); });

}  // namespace

bool WebTunerLink::ready() const { return tuner_worker_ready() == 1; }

void WebTunerLink::start(int session, const FineTuneRequest& request) {
  const uint8_t* data[FineTuneRequest::part_count];
  int sizes[FineTuneRequest::part_count];
  for (int i = 0; i < FineTuneRequest::part_count; ++i) {
    data[i] = request.parts[i].data();
    sizes[i] = int(request.parts[i].size());
  }
  tuner_worker_start(session, data, sizes, FineTuneRequest::part_count, request.config.c_str());
}

void WebTunerLink::cancel(int session) { tuner_worker_cancel(session); }

}  // namespace digitlab
