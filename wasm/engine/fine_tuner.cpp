#include "fine_tuner.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "digitlab/error.h"
#include "digitlab/random.h"
#include "digitlab/reference.h"

namespace digitlab {
namespace {

// One image moved by (dx, dy) pixels, zeros shifted in.
void shifted(const float* img, float* out, int side, int dx, int dy) {
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      const int sx = x - dx, sy = y - dy;
      out[y * side + x] = (sx >= 0 && sy >= 0 && sx < side && sy < side) ? img[sy * side + sx] : 0.f;
    }
}

}  // namespace

FineTuneConfig page_fine_tune_config(TrainableLayers trainable, size_t samples) {
  FineTuneConfig c;
  c.trainable = trainable;
  c.holdout = samples >= 10 ? 0.2f : 0.f;
  c.optimizer.lr = trainable == TrainableLayers::head ? 3e-3f : 1e-3f;
  return c;
}

void FineTuner::check_config(const FineTuneConfig& config) {
  if (config.epochs < 1 || config.epochs > 1000) throw Error("epochs must be between 1 and 1000");
  if (config.batch < 1 || config.batch > 1024) throw Error("batch must be between 1 and 1024");
  if (config.replay_per_batch < 0 || config.replay_per_batch >= config.batch)
    throw Error("replay digits per batch must be at least 0 and fewer than the batch size");
  if (!(config.holdout >= 0.f && config.holdout < 1.f)) throw Error("holdout must be in [0, 1)");
}

FineTuner::FineTuner(const Model& base, const Dataset& replay, const FineTuneConfig& config)
    : base_(fold_batch_norm(base)), config_(config), trunk_(base_), replay_(replay), rng_(config.seed) {
  check_config(config);
  first_layer_ = first_trainable_layer(base_.arch, config.trainable);
  tail_ = std::make_unique<TailTrainer>(base_, first_layer_, config.optimizer, config.seed);
  feature_size_ = tail_->input_size();
  if (feature_size_ != trunk_.feature_size(first_layer_)) throw Error("engine and tail trainer disagree on the tail's input");
  if (replay.size() > 0 &&
      (replay.rows != base_.arch.input.h || replay.cols != base_.arch.input.w || base_.arch.input.c != 1))
    throw Error("replay digits do not fit the model's input");
}

void FineTuner::start(const Dataset& samples) {
  check_fine_tune_samples(base_.arch, samples);
  status_ = FineTuneStatus{};
  feature_jobs_.clear();
  eval_jobs_.clear();
  const SampleSplit split = split_samples(samples.size(), config_.holdout, rng_);
  const std::vector<uint32_t>& hold = split.heldout;
  const std::vector<uint32_t>& train = split.train;

  replay_labels_.clear();
  replay_pixels_.clear();
  if (replay_.size() > 0) {
    replay_pixels_ = dataset_pixels(replay_, 0, replay_.size());
    feature_jobs_.push_back({&replay_pixels_, int(replay_.size()), 0, &replay_features_, false});
    replay_labels_ = replay_.labels;
  }
  heldout_pixels_ = dataset_pixels(samples, hold);
  feature_jobs_.push_back({&heldout_pixels_, int(hold.size()), 0, &heldout_features_, false});
  heldout_labels_.clear();
  for (uint32_t i : hold) heldout_labels_.push_back(samples.labels[i]);

  // Training set: each sample, plus its four 1-pixel shifts when asked (features cached once).
  const std::vector<float> pixels = dataset_pixels(samples, train);
  const int side = samples.rows, per = side * samples.cols;
  const int copies = config_.shifted_copies ? 5 : 1;
  std::vector<float> expanded(pixels.size() * size_t(copies));
  train_labels_.clear();
  const int shifts[5][2] = {{0, 0}, {1, 0}, {-1, 0}, {0, 1}, {0, -1}};
  for (size_t i = 0; i < train.size(); ++i)
    for (int c = 0; c < copies; ++c) {
      shifted(pixels.data() + i * size_t(per), expanded.data() + (i * size_t(copies) + size_t(c)) * size_t(per), side,
              shifts[c][0], shifts[c][1]);
      train_labels_.push_back(samples.labels[train[i]]);
    }
  const int n_train = int(train_labels_.size());
  train_pixels_ = std::move(expanded);
  feature_jobs_.push_back({&train_pixels_, n_train, 0, &train_features_, true});
  for (FeatureJob& job : feature_jobs_) job.out->resize(size_t(job.count) * size_t(feature_size_));
  tuned_engine_.reset();
  queue_evaluation(&trunk_, status_.heldout_before, status_.replay_before);

  status_.train_samples = int(train.size());
  status_.heldout_samples = int(hold.size());
  const int user_per_batch = config_.batch - (replay_labels_.empty() ? 0 : config_.replay_per_batch);
  const int steps_per_epoch = int((train_labels_.size() + size_t(user_per_batch) - 1) / size_t(user_per_batch));
  status_.total_steps = steps_per_epoch * config_.epochs;
  // When every layer trains, a step is too long for one frame: it runs in parts of kTrainPart.
  part_size_ = first_layer_ == 0 ? kTrainPart : config_.batch;
  part_done_ = 0;
  int parts_per_epoch = 0;
  const size_t n_replay = replay_labels_.empty() ? 0 : size_t(config_.replay_per_batch);
  for (size_t left = train_labels_.size(); left > 0;) {
    const size_t user = std::min(left, size_t(user_per_batch));
    parts_per_epoch += int((user + n_replay + size_t(part_size_) - 1) / size_t(part_size_));
    left -= user;
  }
  const auto slices = [](size_t n, int per_slice) { return int((n + size_t(per_slice) - 1) / size_t(per_slice)); };
  int feature_slices = 0;
  for (const FeatureJob& job : feature_jobs_) feature_slices += slices(size_t(job.count), kFeatureSlice);
  const int eval_slices = slices(heldout_labels_.size(), kEvalSlice) + slices(replay_labels_.size(), kEvalSlice);
  status_.work_total = feature_slices + 2 * eval_slices + parts_per_epoch * config_.epochs;
  status_.state = FineTuneStatus::State::preparing;
  order_.resize(train_labels_.size());
  for (uint32_t i = 0; i < order_.size(); ++i) order_[i] = i;
  shuffle(order_, rng_);
  cursor_ = 0;
  epoch_loss_ = 0;
  epoch_batches_ = epoch_correct_ = epoch_seen_ = 0;
  measured_after_ = false;
}

void FineTuner::queue_evaluation(XnnEngine* engine, double& heldout, double& replay) {
  heldout = replay = NAN;
  if (first_layer_ > 0) engine = nullptr;  // a partial tail: its forward pass on the features is cheaper
  eval_jobs_.push_back({engine, &heldout_pixels_, &heldout_features_, &heldout_labels_, 0, 0, &heldout});
  eval_jobs_.push_back({engine, &replay_pixels_, &replay_features_, &replay_labels_, 0, 0, &replay});
}

bool FineTuner::do_feature_slice() {
  for (FeatureJob& job : feature_jobs_) {
    if (job.done >= job.count) continue;
    const int n = std::min(kFeatureSlice, job.count - job.done);
    const size_t per_image = base_.arch.input.size();
    trunk_.features_before(first_layer_, job.pixels->data() + size_t(job.done) * per_image, n,
                           job.out->data() + size_t(job.done) * size_t(feature_size_));
    job.done += n;
    if (job.done == job.count && job.release_pixels) *job.pixels = {};
    return true;
  }
  return false;
}

bool FineTuner::do_eval_slice() {
  for (EvalJob& job : eval_jobs_) {
    const size_t total = job.labels->size();
    if (job.done >= total) continue;  // finished, or nothing to score (result stays NaN)
    const int n = int(std::min<size_t>(kEvalSlice, total - job.done));
    eval_logits_.resize(size_t(n) * 10);
    if (job.engine)
      job.engine->forward(job.pixels->data() + job.done * base_.arch.input.size(), n, eval_logits_.data());
    else
      tail_->predict(job.features->data() + job.done * size_t(feature_size_), n, eval_logits_.data());
    for (int i = 0; i < n; ++i)
      if (argmax(eval_logits_.data() + i * 10, 10) == (*job.labels)[job.done + size_t(i)]) ++job.right;
    job.done += size_t(n);
    *job.result = double(job.right) / double(total);
    return true;
  }
  return false;
}

void FineTuner::fail(const std::string& why) {
  status_.state = FineTuneStatus::State::failed;
  status_.message = why;
}

void FineTuner::do_train_step() {
  const bool replay = !replay_labels_.empty() && config_.replay_per_batch > 0;
  const int user_per_batch = config_.batch - (replay ? config_.replay_per_batch : 0);
  const size_t F = size_t(feature_size_);
  if (part_done_ == 0) {  // a new batch: the person's next samples and random replay digits
    batch_user_ = std::min<size_t>(size_t(user_per_batch), order_.size() - cursor_);
    const size_t n_replay = replay ? size_t(config_.replay_per_batch) : 0;
    const size_t n = batch_user_ + n_replay;
    batch_features_.resize(n * F);
    batch_labels_.resize(n);
    for (size_t i = 0; i < batch_user_; ++i) {
      const uint32_t k = order_[cursor_ + i];
      std::memcpy(&batch_features_[i * F], &train_features_[size_t(k) * F], F * sizeof(float));
      batch_labels_[i] = train_labels_[k];
    }
    for (size_t i = 0; i < n_replay; ++i) {
      const size_t k = size_t(splitmix64_next(rng_) % replay_labels_.size());
      std::memcpy(&batch_features_[(batch_user_ + i) * F], &replay_features_[k * F], F * sizeof(float));
      batch_labels_[batch_user_ + i] = replay_labels_[k];
    }
    tail_->begin_step();
  }
  // One part of the batch per slice (all of it unless every layer trains).
  const size_t n = batch_labels_.size();
  const size_t part = std::min(n - part_done_, size_t(part_size_));
  tail_->accumulate(batch_features_.data() + part_done_ * F, batch_labels_.data() + part_done_, int(part), int(n));
  part_done_ += part;
  if (part_done_ < n) return;
  part_done_ = 0;
  const TrainStepResult r = tail_->finish_step();
  if (!r.ok) {
    fail("training diverged at step " + std::to_string(status_.step + 1) +
         " (the loss or the weights stopped being finite); kept the weights of the last good step. "
         "Try a lower learning rate.");
    return;
  }
  status_.last_loss = r.loss;
  epoch_loss_ += r.loss;
  ++epoch_batches_;
  epoch_correct_ += r.correct;
  epoch_seen_ += int(n);
  ++status_.step;
  cursor_ += batch_user_;
  if (cursor_ >= order_.size()) {  // end of an epoch
    status_.loss_history.push_back(float(epoch_loss_ / epoch_batches_));
    status_.accuracy_history.push_back(float(epoch_correct_) / float(epoch_seen_));
    ++status_.epoch;
    epoch_loss_ = 0;
    epoch_batches_ = epoch_correct_ = epoch_seen_ = 0;
    cursor_ = 0;
    shuffle(order_, rng_);
  }
}

bool FineTuner::features_pending() const {
  for (const FeatureJob& job : feature_jobs_)
    if (job.done < job.count) return true;
  return false;
}

bool FineTuner::eval_pending() const {
  for (const EvalJob& job : eval_jobs_)
    if (job.done < job.labels->size()) return true;
  return false;
}

// Moves to the next state as soon as the current one has no work left, so that every call of
// advance(1) does exactly one slice and the last slice ends the session.
void FineTuner::settle() {
  if (status_.state == FineTuneStatus::State::preparing && !features_pending() && !eval_pending()) {
    eval_jobs_.clear();
    status_.state = FineTuneStatus::State::running;
  }
  if (status_.state == FineTuneStatus::State::running && status_.step >= status_.total_steps) {
    if (!measured_after_) {
      if (first_layer_ == 0) tuned_engine_ = std::make_unique<XnnEngine>(tuned_model());
      queue_evaluation(tuned_engine_.get(), status_.heldout_after, status_.replay_after);
      measured_after_ = true;
    }
    if (!eval_pending()) status_.state = FineTuneStatus::State::done;
  }
}

const FineTuneStatus& FineTuner::advance(int max_units) {
  for (int u = 0; u < max_units && status_.busy(); ++u) {
    if (status_.state == FineTuneStatus::State::preparing) {
      if (!do_feature_slice()) do_eval_slice();
    } else if (status_.step < status_.total_steps) {
      do_train_step();
      if (status_.state == FineTuneStatus::State::failed) {
        // The last good weights are kept; measure them so the numbers describe what is kept.
        if (first_layer_ == 0) tuned_engine_ = std::make_unique<XnnEngine>(tuned_model());
        queue_evaluation(tuned_engine_.get(), status_.heldout_after, status_.replay_after);
        while (do_eval_slice()) {
        }
        return status_;
      }
    } else {
      do_eval_slice();
    }
    ++status_.work_done;
    settle();
  }
  return status_;
}

const FineTuneStatus& FineTuner::run(int max_steps) {
  while (status_.state == FineTuneStatus::State::preparing) advance(1);
  const int target = std::min(status_.total_steps, status_.step + max_steps);
  while (status_.state == FineTuneStatus::State::running && status_.step < target) advance(1);
  if (status_.state == FineTuneStatus::State::running && status_.step >= status_.total_steps)
    while (status_.busy()) advance(1);
  return status_;
}

Model FineTuner::tuned_model() const {
  Model m = base_;
  tail_->write_to(m);
  m.provenance["finetuned_from"] = base_.provenance.count("name") ? base_.provenance.at("name") : base_.arch.name;
  m.provenance["finetune_samples"] = std::to_string(status_.train_samples);
  m.provenance["finetune_steps"] = std::to_string(status_.step);
  m.provenance["finetune_optimizer"] = config_.optimizer.kind;
  m.provenance["finetuned_by"] = "digitlab engine";
  m.provenance["finetune_trained_layers"] = trainable_layers_name(config_.trainable);
  return m;
}

}  // namespace digitlab
