#include "fine_tune/worker_driver.h"

#include "digitlab/error.h"
#include "digitlab/fine_tuning.h"
#include "digitlab/safetensors.h"

namespace digitlab {

void WorkerFineTuneDriver::start(const FineTuneData& data, const FineTuneConfig& config) {
  if (!link_ || !link_->ready()) {
    cancel();
    local_driver_.start(data, config);
    local_ = true;
    return;
  }
  // Settings and samples are checked here, so their errors come with the button press. Building a
  // FineTuner here to check the rest (the model) would cost the page 20-40 ms; a model the trainer
  // cannot take is refused by the worker a message later, as a failed session with the reason.
  FineTuner::check_config(config);
  check_fine_tune_samples(data.base.arch, data.samples);
  FineTuneRequest request = make_fine_tune_request(data, config);
  cancel();
  local_ = false;
  ++session_;
  status_ = FineTuneStatus{};
  status_.state = FineTuneStatus::State::preparing;  // until the worker's first message
  longest_slice_ms_ = 0;
  result_.reset();
  pending_ = Event::none;
  remote_active_ = true;
  link_->start(session_, request);
}

void WorkerFineTuneDriver::warm_up(const Model& base, const Dataset& replay) {
  if (!link_ || !link_->available()) {
    local_driver_.warm_up(base, replay);
    return;
  }
  if (replay.size() < 8) return;
  warm_up_model_ = std::make_unique<Model>(base);
  warm_up_replay_ = replay.slice(0, 8);
  if (link_->ready()) send_warm_up();
}

void WorkerFineTuneDriver::on_worker_ready() {
  if (warm_up_model_) send_warm_up();
}

// Every phase once: trunk features, evaluation, steps of every layer on 2 samples + 2 replay digits.
void WorkerFineTuneDriver::send_warm_up() {
  const std::unique_ptr<Model> base = std::move(warm_up_model_);
  if (active()) return;  // a person's session warms it up anyway
  FineTuneConfig config;
  config.trainable = TrainableLayers::all;
  config.epochs = 1;
  config.batch = 4;
  config.replay_per_batch = 2;
  config.holdout = 0.f;
  try {
    const Dataset samples = warm_up_replay_.slice(0, 2), no_probe;
    link_->start(kWarmUpSession, make_fine_tune_request({*base, warm_up_replay_, no_probe, samples}, config));
  } catch (const Error&) {  // a model that cannot be sent cannot be tuned either: nothing to warm
  }
}

FineTuneDriver::Event WorkerFineTuneDriver::tick(double budget_ms) {
  if (local_) return local_driver_.tick(budget_ms);
  const Event e = pending_;
  pending_ = Event::none;
  return e;
}

void WorkerFineTuneDriver::cancel() {
  local_driver_.cancel();
  if (remote_active_ && link_) link_->cancel(session_);
  remote_active_ = false;
  result_.reset();
  pending_ = Event::none;
  status_ = FineTuneStatus{};
}

void WorkerFineTuneDriver::stop() {
  if (local_) local_driver_.stop();
  else if (remote_active_ && link_) link_->stop(session_);
}

Model WorkerFineTuneDriver::result() const {
  if (local_) return local_driver_.result();
  if (!result_) throw Error("no finished fine-tuning session");
  return *result_;
}

void WorkerFineTuneDriver::fail(const std::string& why) {
  status_.state = FineTuneStatus::State::failed;
  status_.message = why;
  remote_active_ = false;
  pending_ = Event::failed;
}

void WorkerFineTuneDriver::on_status(int session, const std::string& status_json) {
  if (local_ || !remote_active_ || session != session_) return;
  try {
    status_ = fine_tune_status_from_json(status_json, &longest_slice_ms_);
  } catch (const Error& e) {
    fail(std::string("the fine-tuning worker sent a bad status: ") + e.what());
    if (link_) link_->cancel(session_);
    return;
  }
  if (status_.state == FineTuneStatus::State::failed) {
    remote_active_ = false;
    pending_ = Event::failed;
  } else if (!status_.busy()) {  // done without its model, or idle: not a state the worker reports
    fail("the fine-tuning worker stopped without a result");
  }
}

void WorkerFineTuneDriver::on_finished(int session, const std::string& status_json, const uint8_t* model, size_t size) {
  if (local_ || !remote_active_ || session != session_) return;
  try {
    status_ = fine_tune_status_from_json(status_json, &longest_slice_ms_);
    result_ = std::make_unique<Model>(decode_model(model, size));
  } catch (const Error& e) {
    fail(std::string("the fine-tuned model from the worker could not be read: ") + e.what());
    return;
  }
  status_.state = FineTuneStatus::State::done;
  remote_active_ = false;
  pending_ = Event::finished;
}

void WorkerFineTuneDriver::on_worker_lost(const std::string& why) {
  if (warm_up_model_) {  // sessions run here from now on: warm this thread instead
    const std::unique_ptr<Model> base = std::move(warm_up_model_);
    local_driver_.warm_up(*base, warm_up_replay_);
  }
  if (local_ || !remote_active_) return;
  fail(why);
}

}  // namespace digitlab
