// Runs the page's fine-tuning sessions in a Web Worker, so a whole-network session (tens of
// milliseconds of arithmetic a step) never shares a frame with drawing. The page keeps a copy of the
// session's status, updated from the worker's messages, and gets the tuned model's bytes at the end.
// When no worker is ready (not yet loaded, failed to load, no Worker in this browser) a session runs
// on the page's thread in slices instead (SlicedFineTuneDriver), as before workers existed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fine_tune/driver.h"
#include "fine_tune/messages.h"

namespace digitlab {

// How the page reaches its worker: postMessage in the browser (worker_link_web.cpp), a loopback in
// tests. Messages back arrive through WorkerFineTuneDriver's on_* functions.
class FineTuneWorkerLink {
 public:
  virtual ~FineTuneWorkerLink() = default;
  // A worker exists or is loading: false where the browser has no Worker, or it failed to load.
  virtual bool available() const = 0;
  virtual bool ready() const = 0;  // a worker is loaded and takes sessions
  virtual void start(int session, const FineTuneRequest& request) = 0;
  virtual void cancel(int session) = 0;
  virtual void stop(int session) = 0;  // end training, keep the best weights so far
};

class WorkerFineTuneDriver : public FineTuneDriver {
 public:
  explicit WorkerFineTuneDriver(std::unique_ptr<FineTuneWorkerLink> link) : link_(std::move(link)) {}

  // Checks the settings and samples here (an error is thrown at once), then sends the session to
  // the worker, or runs it here without one. A model the trainer cannot take fails a message later.
  void start(const FineTuneData& data, const FineTuneConfig& config) override;
  Event tick(double budget_ms) override;  // takes what the worker sent since the last tick
  void cancel() override;
  void stop() override;
  // Where sessions will run: in the worker, a tiny whole-network session it runs and nobody sees, as
  // soon as it is ready (browsers also optimise wasm later, on background threads, so a person's
  // first session would otherwise share a small machine's cores with that compile and stutter the
  // page); without a worker, the page-thread driver's warm-up.
  void warm_up(const Model& base, const Dataset& replay) override;
  static constexpr int kWarmUpSession = -1;

  bool active() const override { return local_ ? local_driver_.active() : remote_active_; }
  const FineTuneStatus& status() const override { return local_ ? local_driver_.status() : status_; }
  Model result() const override;
  double longest_slice_ms() const override { return local_ ? local_driver_.longest_slice_ms() : longest_slice_ms_; }
  const char* runs_in() const override { return local_ ? local_driver_.runs_in() : "worker"; }

  // From the worker. Messages of a session that is no longer current (cancelled, replaced) are ignored.
  void on_status(int session, const std::string& status_json);
  void on_finished(int session, const std::string& status_json, const uint8_t* model, size_t size);
  void on_worker_ready();                       // the worker has loaded: a pending warm-up goes to it
  void on_worker_lost(const std::string& why);  // the worker died: its session fails with why

  int session() const { return session_; }

 private:
  void fail(const std::string& why);
  void send_warm_up();

  std::unique_ptr<FineTuneWorkerLink> link_;
  SlicedFineTuneDriver local_driver_;
  bool local_ = false;          // the current/last session runs here
  int session_ = 0;             // id of the current/last session sent to the worker
  bool remote_active_ = false;
  FineTuneStatus status_;
  double longest_slice_ms_ = 0;
  std::unique_ptr<Model> result_;
  Event pending_ = Event::none;  // what the next tick() reports
  std::unique_ptr<Model> warm_up_model_;  // the model to warm up on once the worker is ready
  Dataset warm_up_replay_;               // 8 replay digits for it
};

}  // namespace digitlab
