// The worker's half of a page fine-tuning session: decodes a request (messages.h) and runs
// it with a SlicedFineTuneDriver in chunks, between which the worker's event loop takes messages (a
// cancel, a new session). The Web Worker wraps it in C functions (worker_main_web.cpp); tests
// drive it directly as the worker would.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "fine_tune/driver.h"
#include "fine_tune/messages.h"

namespace digitlab {

class FineTuneWorker {
 public:
  // Replaces any session. False when the request or its settings are refused; status_json() then
  // says why (state failed), as for a session that fails later.
  bool start(const FineTuneRequest& request);
  FineTuneDriver::Event advance(double budget_ms);  // at least one slice of work
  void cancel() { driver_.cancel(); }
  void stop() { driver_.stop(); }  // end training, keep the best so far
  bool active() const { return driver_.active(); }

  std::string status_json() const;
  std::vector<uint8_t> result_bytes() const;  // the tuned model as safetensors, once finished

 private:
  SlicedFineTuneDriver driver_;
  std::string start_error_;  // why the last start() was refused
};

}  // namespace digitlab
