// Runs a fine-tuning session (FineTuner) on the page's main thread without freezing it: each frame
// gets a time budget and the session advances slice by slice until the budget is spent. A state
// machine the page and the tests observe:
//
//   idle --start--> preparing --(features, "before")--> running --(steps, "after")--> done
//                        \________________________ cancel ______________________/ -> idle
//                                                     non-finite loss ------------> failed
#pragma once
#include <memory>
#include <string>

#include "fine_tuner.h"

namespace digitlab {

class FineTuneDriver {
 public:
  enum class Event { none, finished, failed };

  // Starts a session from base on samples (replay digits mixed in). Throws Error (nothing running)
  // for an empty sample set, a model that cannot be tuned or a bad setting.
  void start(const Model& base, const Dataset& replay, const Dataset& samples, const FineTuneConfig& config);
  // Advances slice by slice while the next slice should fit in budget_ms (at least one slice).
  // Returns finished once, on the tick the session completes (result() is then valid), or failed
  // once with status().message.
  Event tick(double budget_ms);
  void cancel();  // drops the session; the status shows idle again

  bool active() const { return tuner_ != nullptr; }
  // The live session's status, or the last session's final one (done/failed) until the next start.
  const FineTuneStatus& status() const { return status_; }
  Model result() const;          // the tuned model; throws Error unless the last session finished
  double longest_slice_ms() const { return longest_slice_ms_; }  // in the current/last session

 private:
  std::unique_ptr<FineTuner> tuner_;
  std::unique_ptr<Model> result_;
  FineTuneStatus status_;
  double longest_slice_ms_ = 0;
};

}  // namespace digitlab
