#include "fine_tune/worker.h"

#include "digitlab/error.h"
#include "digitlab/safetensors.h"

namespace digitlab {

bool FineTuneWorker::start(const FineTuneRequest& request) {
  driver_.cancel();
  start_error_.clear();
  try {
    DecodedFineTuneRequest r = decode_fine_tune_request(request);
    r.config.large_slices = true;  // nothing else runs on this thread: whole steps, big batches
    driver_.start(r.data(), r.config);
    return true;
  } catch (const Error& e) {
    start_error_ = std::string("fine-tuning could not start: ") + e.what();
    return false;
  }
}

FineTuneDriver::Event FineTuneWorker::advance(double budget_ms) { return driver_.tick(budget_ms); }

std::string FineTuneWorker::status_json() const {
  if (!start_error_.empty()) {
    FineTuneStatus failed;
    failed.state = FineTuneStatus::State::failed;
    failed.message = start_error_;
    return fine_tune_status_to_json(failed, 0);
  }
  return fine_tune_status_to_json(driver_.status(), driver_.longest_slice_ms());
}

std::vector<uint8_t> FineTuneWorker::result_bytes() const { return encode_model(driver_.result()); }

}  // namespace digitlab
