#include "fine_tune/driver.h"

#include <algorithm>
#include <chrono>

#include "digitlab/error.h"
#include "tail_trainer.h"

namespace digitlab {

void SlicedFineTuneDriver::start(const Model& base, const Dataset& replay, const Dataset& samples, const FineTuneConfig& config) {
  auto tuner = std::make_unique<FineTuner>(base, replay, config);
  tuner->start(samples);  // cheap: checks and queues; the trunk runs in tick()
  tuner_ = std::move(tuner);
  result_.reset();
  status_ = tuner_->status();
  longest_slice_ms_ = 0;
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
    TailTrainer trainer(folded, 0, OptimizerOptions{}, 1);
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
