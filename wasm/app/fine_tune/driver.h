// Runs a fine-tuning session (FineTuner) for the page without freezing it. A state machine the page
// and the tests observe:
//
//   idle --start--> preparing --(features, "before")--> running --(steps, "after")--> done
//                        \________________________ cancel ______________________/ -> idle
//                                                     non-finite loss ------------> failed
//
// Two drivers share this interface: SlicedFineTuneDriver runs the session on the calling thread, a
// time budget per frame (tests, and the page when no worker can run); WorkerFineTuneDriver
// (worker_driver.h) runs it in a Web Worker, so the page's frames only draw. A session crosses:
//   driver.h         this interface and the page-thread driver
//   worker_driver.h  the page's end of a worker session, and the link it sends through
//   messages.h       what crosses: the request in file formats, the status as JSON
//   worker.h         the worker's end (a SlicedFineTuneDriver between messages)
//   worker_link_web.cpp, worker_main_web.cpp, web/static/fine_tune_worker.js: the browser's postMessage
#pragma once
#include <memory>
#include <string>

#include <chrono>

#include "digitlab/idx.h"
#include "fine_tuner.h"

namespace digitlab {


class FineTuneDriver {
 public:
  enum class Event { none, finished, failed };
  virtual ~FineTuneDriver() = default;

  // Starts a session. Throws Error (nothing running) for an empty sample set, a model that cannot be
  // tuned or a bad setting.
  virtual void start(const FineTuneData& data, const FineTuneConfig& config) = 0;
  // The frame's share: advances the session (in budget_ms, where it runs here) or takes what the
  // worker sent. Returns finished once, on the tick the session completes (result() is then valid),
  // or failed once with status().message.
  virtual Event tick(double budget_ms) = 0;
  virtual void cancel() = 0;  // drops the session; the status shows idle again
  // Ends training early and keeps the best weights so far (FineTuner::stop); the session then
  // finishes as usual, with its "after" measurements.
  virtual void stop() = 0;
  // Gets the training code compiled and warm for this model before a person's first session, with
  // nothing to see: browsers compile wasm lazily, a function at its first call, and run it in a
  // baseline tier until it is hot (the first slice of a whole-network session took 29 ms in
  // Chromium, 3.5 ms later on). Ignored while a session runs. Called when a model goes into use.
  virtual void warm_up(const Model& base, const Dataset& replay) = 0;

  virtual bool active() const = 0;
  // The live session's status, or the last session's final one (done/failed) until the next start.
  virtual const FineTuneStatus& status() const = 0;
  virtual Model result() const = 0;              // the tuned model; throws Error unless the last session finished
  virtual double longest_slice_ms() const = 0;   // the longest piece of uninterrupted work, current/last session
  virtual const char* runs_in() const = 0;       // "main thread" or "worker": where the current/last session ran
};

class SlicedFineTuneDriver : public FineTuneDriver {
 public:
  void start(const FineTuneData& data, const FineTuneConfig& config) override;
  // Advances slice by slice while the next slice should fit in budget_ms (at least one slice), and
  // estimates the time left from the steps so far.
  Event tick(double budget_ms) override;
  void cancel() override;
  void stop() override;
  // One whole-network training step on one replay digit, here and now (a few milliseconds).
  void warm_up(const Model& base, const Dataset& replay) override;

  bool active() const override { return tuner_ != nullptr; }
  const FineTuneStatus& status() const override { return status_; }
  Model result() const override;
  double longest_slice_ms() const override { return longest_slice_ms_; }
  const char* runs_in() const override { return "main thread"; }

 private:
  void estimate_time_left();

  std::unique_ptr<FineTuner> tuner_;
  std::unique_ptr<Model> result_;
  FineTuneStatus status_;
  std::chrono::steady_clock::time_point training_since_;  // when the first step ran
  int steps_at_start_ = -1;                               // steps done then (-1: not training yet)
  double longest_slice_ms_ = 0;
};

}  // namespace digitlab
