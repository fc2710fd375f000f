// The fine-tuning worker's wasm module (fine_tune.js + fine_tune.wasm, loaded by
// web/static/fine_tune_worker.js): C functions around FineTuneWorker. The worker's JavaScript copies a
// request's parts in with fine_tune_part(), starts it, then calls fine_tune_advance() in chunks and
// posts the status after each.
#include <emscripten.h>

#include <string>

#include "fine_tune/worker.h"

namespace {

digitlab::FineTuneWorker g_worker;
digitlab::FineTuneRequest g_request;  // filled part by part before fine_tune_start
std::string g_status;
std::vector<uint8_t> g_result;

}  // namespace

// Room for `size` bytes of part `which` (FineTuneRequest::Part); the worker copies the part there.
extern "C" EMSCRIPTEN_KEEPALIVE uint8_t* fine_tune_part(int which, int size) {
  if (which < 0 || which >= digitlab::FineTuneRequest::part_count || size < 0) return nullptr;
  std::vector<uint8_t>& part = g_request.parts[which];
  part.assign(size_t(size), 0);
  return part.data();
}

// 1: the session runs; 0: refused (fine_tune_status() says why). The parts are released either way.
extern "C" EMSCRIPTEN_KEEPALIVE int fine_tune_start(const char* config_json) {
  g_request.config = config_json ? config_json : "";
  const bool ok = g_worker.start(g_request);
  g_request = digitlab::FineTuneRequest{};
  g_result.clear();
  return ok ? 1 : 0;
}

// Works for about budget_ms (at least one slice). 0: more to do; 1: finished (fine_tune_result_*); 2: failed.
extern "C" EMSCRIPTEN_KEEPALIVE int fine_tune_advance(double budget_ms) {
  switch (g_worker.advance(budget_ms)) {
    case digitlab::FineTuneDriver::Event::none: return 0;
    case digitlab::FineTuneDriver::Event::failed: return 2;
    case digitlab::FineTuneDriver::Event::finished: break;
  }
  g_result = g_worker.result_bytes();
  return 1;
}

extern "C" EMSCRIPTEN_KEEPALIVE const char* fine_tune_status() {
  g_status = g_worker.status_json();
  return g_status.c_str();
}
extern "C" EMSCRIPTEN_KEEPALIVE const uint8_t* fine_tune_result_data() { return g_result.data(); }
extern "C" EMSCRIPTEN_KEEPALIVE int fine_tune_result_size() { return int(g_result.size()); }
extern "C" EMSCRIPTEN_KEEPALIVE void fine_tune_cancel() { g_worker.cancel(); }
extern "C" EMSCRIPTEN_KEEPALIVE void fine_tune_stop() { g_worker.stop(); }

int main() { return 0; }
