#include "fine_tune/driver.h"

#include <algorithm>
#include <chrono>

#include "digitlab/error.h"
#include "tail_trainer.h"

namespace digitlab {

void SlicedFineTuneDriver::start(const FineTuneData& data, const FineTuneConfig& config) {
  auto tuner = std::make_unique<FineTuner>(data.base, data.replay, data.probe, config);
  tuner->start(data.samples);  // cheap: checks and queues; the trunk runs in tick()
  tuner_ = std::move(tuner);
  result_.reset();
  status_ = tuner_->status();
  longest_slice_ms_ = 0;
  steps_at_start_ = -1;
}

// Time left = the steps still planned at the pace of the steps so far, plus as long again as the
// "before" measurements took for the "after" ones (roughly: the same digits, once more). Early
// stopping can only make it shorter.
void SlicedFineTuneDriver::estimate_time_left() {
  using Clock = std::chrono::steady_clock;
  status_.eta_seconds = -1;
  if (status_.state != FineTuneStatus::State::running) return;
  if (steps_at_start_ < 0) {
    steps_at_start_ = status_.step;
    training_since_ = Clock::now();
    return;
  }
  const int steps = status_.step - steps_at_start_;
  if (steps < 3) return;
  const double per_step = std::chrono::duration<double>(Clock::now() - training_since_).count() / steps;
  status_.eta_seconds = per_step * std::max(0, status_.total_steps - status_.step);
}

void SlicedFineTuneDriver::stop() {
  if (tuner_) tuner_->stop();
}

FineTuneDriver::Event SlicedFineTuneDriver::tick(double budget_ms) {
  if (!tuner_) return Event::none;
  using Clock = std::chrono::steady_clock;
  const auto ms_since = [](Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); };
  const auto start = Clock::now();
  double last_slice = 0;
  // At least one slice; then another only if it should fit in what is left of the budget (slices of
  // one phase take about as long as each other), so a frame overruns its budget rarely and little.
  do {
    const auto s0 = Clock::now();
    tuner_->advance(1);
    last_slice = ms_since(s0);
    longest_slice_ms_ = std::max(longest_slice_ms_, last_slice);
  } while (tuner_->status().busy() && ms_since(start) + last_slice < budget_ms);
  status_ = tuner_->status();
  estimate_time_left();
  if (status_.busy()) return Event::none;
  Event e = Event::failed;
  if (status_.state == FineTuneStatus::State::done) {
    result_ = std::make_unique<Model>(tuner_->tuned_model());
    e = Event::finished;
  }
  tuner_.reset();
  return e;
}

void SlicedFineTuneDriver::cancel() {
  tuner_.reset();
  result_.reset();
  status_ = FineTuneStatus{};
}

void SlicedFineTuneDriver::warm_up(const Model& base, const Dataset& replay) {
  if (active() || replay.size() == 0 || replay.image_size() != size_t(base.arch.input.size())) return;
  try {
    const Model folded = fold_batch_norm(base);
    TailTrainer trainer(folded, 0, OptimizerOptions{}, 1);  // every layer: the code a session runs
    std::vector<float> x = dataset_pixels(replay, 0, 1);
    for (float& v : x) v = (v - folded.norm.mean) / folded.norm.std;  // normalised, as a session's input
    trainer.train_step(x.data(), replay.labels.data(), 1);
  } catch (const Error&) {
    // a model the trainer cannot train: a session will say so when it starts
  }
}

Model SlicedFineTuneDriver::result() const {
  if (!result_) throw Error("no finished fine-tuning session");
  return *result_;
}

}  // namespace digitlab
