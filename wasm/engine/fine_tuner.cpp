#include "fine_tuner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <system_error>

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

int slices(size_t n, int per_slice) { return int((n + size_t(per_slice) - 1) / size_t(per_slice)); }

void check_fits(const Dataset& d, const Architecture& arch, const char* what) {
  if (d.size() > 0 && (d.rows != arch.input.h || d.cols != arch.input.w || arch.input.c != 1))
    throw Error(std::string(what) + " do not fit the model's input");
}

// Cross-entropy of one row of logits for label y (log-softmax, stable).
double cross_entropy(const float* z, int n, int y) {
  const float m = *std::max_element(z, z + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(double(z[i] - m));
  return std::log(sum) - double(z[y] - m);
}

}  // namespace

FineTuneConfig page_fine_tune_config(TrainableLayers trainable, size_t samples) {
  FineTuneConfig c;
  c.trainable = trainable;
  c.holdout = samples >= 10 ? 0.2f : 0.f;
  c.optimizer.lr = trainable == TrainableLayers::head ? 3e-3f : 1e-3f;
  c.max_steps = trainable == TrainableLayers::head ? 1200 : trainable == TrainableLayers::last_block ? 500 : 300;
  return c;
}

void FineTuner::check_config(const FineTuneConfig& config) {
  if (config.epochs < 1 || config.epochs > 1000) throw Error("epochs must be between 1 and 1000");
  if (config.max_steps < 0 || config.max_steps > 1000000) throw Error("the step budget must be between 0 and 1,000,000");
  if (config.checks < 1 || config.checks > 1000) throw Error("checks must be between 1 and 1000");
  if (config.patience < 0 || config.patience > 1000) throw Error("patience must be between 0 and 1000");
  if (config.batch < 1 || config.batch > 1024) throw Error("batch must be between 1 and 1024");
  if (config.replay_per_batch < 0 || config.replay_per_batch >= config.batch)
    throw Error("replay digits per batch must be at least 0 and fewer than the batch size");
  if (!(config.holdout >= 0.f && config.holdout < 1.f)) throw Error("holdout must be in [0, 1)");
  if (config.threads < 1 || config.threads > 64) throw Error("threads must be between 1 and 64");
}

FineTuner::FineTuner(const Model& base, const Dataset& replay, const Dataset& probe, const FineTuneConfig& config)
    : base_(fold_batch_norm(base)), config_(config), trunk_(base_), replay_(replay), probe_(probe), rng_(config.seed) {
  check_config(config);
  first_layer_ = first_trainable_layer(base_.arch, config.trainable);
  tail_ = std::make_unique<TailTrainer>(base_, first_layer_, config.optimizer, config.seed);
  if (config.threads > 1) {
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
    threads_note_ = "this module is single-threaded";
#else
    try {
      runner_ = std::make_unique<PthreadpoolRunner>(config.threads);  // shared with the trunk (advance)
      tail_->set_runner(runner_.get());
    } catch (const std::system_error& e) {  // e.g. the wasm pool has no worker left (EAGAIN)
      threads_note_ = std::string("threads could not start: ") + e.what();
    }
#endif
  }
  feature_size_ = tail_->input_size();
  if (feature_size_ != trunk_.feature_size(first_layer_)) throw Error("engine and tail trainer disagree on the tail's input");
  check_fits(replay, base_.arch, "replay digits");
  check_fits(probe, base_.arch, "the MNIST digits that measure forgetting");
}

void FineTuner::start(const Dataset& samples) {
  check_fine_tune_samples(base_.arch, samples);
  status_ = FineTuneStatus{};
  status_.threads = tail_->threads();
  status_.threads_note = threads_note_;
  feature_jobs_.clear();
  eval_jobs_.clear();
  best_params_.clear();
  const SampleSplit split = split_samples(samples.size(), config_.holdout, rng_);
  const std::vector<uint32_t>& hold = split.heldout;
  const std::vector<uint32_t>& train = split.train;

  replay_labels_ = replay_.labels;
  replay_pixels_ = dataset_pixels(replay_, 0, replay_.size());
  feature_jobs_.push_back({&replay_pixels_, int(replay_.size()), 0, &replay_features_, false});
  heldout_pixels_ = dataset_pixels(samples, hold);
  feature_jobs_.push_back({&heldout_pixels_, int(hold.size()), 0, &heldout_features_, false});
  heldout_labels_.clear();
  for (uint32_t i : hold) heldout_labels_.push_back(samples.labels[i]);
  probe_labels_ = probe_.labels;
  probe_pixels_ = dataset_pixels(probe_, 0, probe_.size());
  // When every layer trains the probe is scored by an engine on its pixels; otherwise by the tail on
  // its cached features.
  if (first_layer_ > 0) feature_jobs_.push_back({&probe_pixels_, int(probe_.size()), 0, &probe_features_, false});

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
  train_pixels_ = std::move(expanded);
  feature_jobs_.push_back({&train_pixels_, int(train_labels_.size()), 0, &train_features_, true});
  for (FeatureJob& job : feature_jobs_) job.out->resize(size_t(job.count) * size_t(feature_size_));
  sample_pixels_ = dataset_pixels(samples, 0, samples.size());
  sample_labels_ = samples.labels;
  sample_predictions_.assign(samples.size(), 0);
  tuned_engine_.reset();
  queue_measurements(/*before=*/true);

  status_.train_samples = int(train.size());
  status_.heldout_samples = int(hold.size());
  status_.mnist_digits = int(probe_.size());
  // The plan: the epochs' steps, within the budget; a check of the held-out samples (and a point on
  // the plots) every points_every steps.
  const int user_per_batch = config_.batch - (replay_labels_.empty() ? 0 : config_.replay_per_batch);
  const int steps_per_epoch = int((train_labels_.size() + size_t(user_per_batch) - 1) / size_t(user_per_batch));
  status_.total_steps = steps_per_epoch * config_.epochs;
  if (config_.max_steps > 0) status_.total_steps = std::min(status_.total_steps, config_.max_steps);
  status_.points_every = std::max(1, (status_.total_steps + config_.checks - 1) / config_.checks);
  // When every layer trains, a step is too long for one frame: it runs in parts of kTrainPart.
  part_size_ = first_layer_ == 0 && !config_.large_slices ? kTrainPart : config_.batch;
  feature_slice_ = config_.large_slices ? kLargeSlice : kFeatureSlice;
  eval_slice_ = config_.large_slices ? kLargeSlice : kEvalSlice;
  part_done_ = 0;
  const size_t n_replay = replay_labels_.empty() ? 0 : size_t(config_.replay_per_batch);
  const int parts_per_step = slices(size_t(user_per_batch) + n_replay, part_size_);
  int feature_slices = 0;
  for (const FeatureJob& job : feature_jobs_) feature_slices += slices(size_t(job.count), feature_slice_);
  const int measure_slices = measurement_slices();
  const int checks = (status_.total_steps + status_.points_every - 1) / status_.points_every;
  status_.work_total = feature_slices + 2 * measure_slices + parts_per_step * status_.total_steps +
                       (heldout_labels_.empty() ? 0 : checks * slices(heldout_labels_.size(), eval_slice_));
  status_.state = FineTuneStatus::State::preparing;
  phase_ = Phase::preparing;
  order_.resize(train_labels_.size());
  for (uint32_t i = 0; i < order_.size(); ++i) order_[i] = i;
  shuffle(order_, rng_);
  cursor_ = 0;
  interval_loss_ = 0;
  interval_steps_ = interval_correct_ = interval_seen_ = 0;
  best_loss_ = INFINITY;
  checks_without_gain_ = 0;
  if (!heldout_labels_.empty()) best_params_ = tail_->parameters();  // the base model, until a check beats it
}

// "before" or "after": the held-out samples and the probe, then every sample. A partial tail scores
// the first two on cached features; the whole network through an engine (the base one before, the
// tuned one after), as it scores every sample in any case.
void FineTuner::queue_measurements(bool before) {
  double& heldout = before ? status_.heldout_before : status_.heldout_after;
  double& mnist = before ? status_.mnist_before : status_.mnist_after;
  double& samples = before ? status_.samples_before : status_.samples_after;
  heldout = mnist = samples = NAN;
  if (!before) tuned_engine_ = std::make_unique<XnnEngine>(tuned_model());
  XnnEngine* whole = before ? &trunk_ : tuned_engine_.get();
  XnnEngine* engine = first_layer_ == 0 ? whole : nullptr;
  // The held-out samples, then the probe digits; the base model's held-out loss is the first "best".
  eval_jobs_.push_back({engine, &heldout_pixels_, &heldout_features_, &heldout_labels_, 0, 0, 0, &heldout,
                        before ? &best_loss_ : nullptr});
  eval_jobs_.push_back({engine, &probe_pixels_, &probe_features_, &probe_labels_, 0, 0, 0, &mnist, nullptr});
  EvalJob all{whole, &sample_pixels_, nullptr, &sample_labels_, 0, 0, 0, &samples, nullptr};
  if (!before) all.predictions = &sample_predictions_;
  eval_jobs_.push_back(all);
}

int FineTuner::measurement_slices() const {
  return slices(heldout_labels_.size(), eval_slice_) + slices(probe_labels_.size(), eval_slice_) +
         slices(sample_labels_.size(), eval_slice_);
}

// The held-out samples through the tail as it is now: their loss decides early stopping.
void FineTuner::queue_check() {
  EvalJob c;
  c.features = &heldout_features_;
  c.labels = &heldout_labels_;
  c.accuracy = &check_accuracy_;
  c.loss = &check_loss_;
  eval_jobs_.push_back(c);
  phase_ = Phase::checking;
}

bool FineTuner::do_feature_slice() {
  for (FeatureJob& job : feature_jobs_) {
    if (job.done >= job.count) continue;
    const int n = std::min(feature_slice_, job.count - job.done);
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
    if (job.done >= total) continue;  // finished, or nothing to score (results stay NaN)
    const int n = int(std::min<size_t>(eval_slice_, total - job.done));
    const int classes = base_.arch.num_classes;
    eval_logits_.resize(size_t(n) * size_t(classes));
    if (job.engine)
      job.engine->forward(job.pixels->data() + job.done * base_.arch.input.size(), n, eval_logits_.data());
    else
      tail_->predict(job.features->data() + job.done * size_t(feature_size_), n, eval_logits_.data());
    for (int i = 0; i < n; ++i) {
      const float* z = eval_logits_.data() + size_t(i) * size_t(classes);
      const int y = (*job.labels)[job.done + size_t(i)];
      const int read = argmax(z, classes);
      if (job.predictions) (*job.predictions)[job.done + size_t(i)] = uint8_t(read);
      job.right += read == y;
      job.loss_sum += cross_entropy(z, classes, y);
    }
    job.done += size_t(n);
    *job.accuracy = double(job.right) / double(total);
    if (job.loss) *job.loss = job.loss_sum / double(total);
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
    if (observer_) observer_(batch_features_.data(), int(n));
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
  interval_loss_ += r.loss;
  ++interval_steps_;
  interval_correct_ += r.correct;
  interval_seen_ += int(n);
  ++status_.step;
  cursor_ += batch_user_;
  if (cursor_ >= order_.size()) {  // the end of a pass over the person's samples
    ++status_.epoch;
    cursor_ = 0;
    shuffle(order_, rng_);
  }
  if (status_.step % status_.points_every == 0 || status_.step >= status_.total_steps) end_interval();
}

// A point on the plots, and a held-out check when there are held-out samples.
void FineTuner::end_interval() {
  status_.loss_history.push_back(float(interval_loss_ / std::max(1, interval_steps_)));
  status_.accuracy_history.push_back(float(interval_correct_) / float(std::max(1, interval_seen_)));
  interval_loss_ = 0;
  interval_steps_ = interval_correct_ = interval_seen_ = 0;
  if (heldout_labels_.empty()) {
    status_.heldout_history.push_back(NAN);
    if (status_.step >= status_.total_steps) end_training(FineTuneStatus::Ending::budget);
    return;
  }
  queue_check();
}

// The held-out loss decides: better weights are kept; patience checks without a gain end training.
void FineTuner::end_check() {
  eval_jobs_.clear();
  phase_ = Phase::training;
  status_.heldout_history.push_back(float(check_accuracy_));
  if (check_loss_ < best_loss_) {
    best_loss_ = check_loss_;
    best_params_ = tail_->parameters();
    status_.best_step = status_.step;
    checks_without_gain_ = 0;
  } else {
    ++checks_without_gain_;
  }
  if (config_.patience > 0 && checks_without_gain_ >= config_.patience) end_training(FineTuneStatus::Ending::no_improvement);
  else if (status_.step >= status_.total_steps) end_training(FineTuneStatus::Ending::budget);
}

void FineTuner::end_training(FineTuneStatus::Ending why) {
  status_.ending = why;
  eval_jobs_.clear();
  if (!heldout_labels_.empty()) {
    tail_->parameters() = best_params_;  // the best check's weights (the base model's if none beat it)
  } else {
    status_.best_step = status_.step;  // nothing to choose with: the last weights
  }
  phase_ = Phase::after;
  queue_measurements(/*before=*/false);
  skip_to_measurements();
}

// The work still planned for steps that will not run is done: the bar jumps to the measurements.
void FineTuner::skip_to_measurements() {
  int left = 0;
  for (const EvalJob& job : eval_jobs_) left += slices(job.labels->size() - job.done, eval_slice_);
  status_.work_done = status_.work_total - left;
}

void FineTuner::stop() {
  if (status_.state != FineTuneStatus::State::running || phase_ == Phase::after) return;
  part_done_ = 0;  // a step in parts is dropped, not applied
  end_training(FineTuneStatus::Ending::stopped);
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

// Moves to the next phase as soon as the current one has no work left, so that every call of
// advance(1) does exactly one slice and the last slice ends the session.
void FineTuner::settle() {
  if (phase_ == Phase::preparing && !features_pending() && !eval_pending()) {
    eval_jobs_.clear();
    phase_ = Phase::training;
    status_.state = FineTuneStatus::State::running;
    if (status_.total_steps == 0) end_training(FineTuneStatus::Ending::budget);
  }
  if (phase_ == Phase::checking && !eval_pending()) end_check();
  if (phase_ == Phase::after && !eval_pending()) {
    status_.sample_predictions = sample_predictions_;
    status_.state = FineTuneStatus::State::done;
  }
}

const FineTuneStatus& FineTuner::advance(int max_units) {
  // The trunk's operators (features, evaluation) run on the training threads' pool meanwhile.
  const ScopedXnnThreadpool pool(runner_ ? runner_->pool() : nullptr);
  for (int u = 0; u < max_units && status_.busy(); ++u) {
    ++status_.work_done;  // counted as it starts, so that a jump made while doing it is the last word
    switch (phase_) {
      case Phase::preparing:
        if (!do_feature_slice()) do_eval_slice();
        break;
      case Phase::training:
        do_train_step();
        if (status_.state == FineTuneStatus::State::failed) {
          // The last good weights are kept; measure them so the numbers describe what is kept.
          queue_measurements(/*before=*/false);
          while (do_eval_slice()) {
          }
          return status_;
        }
        break;
      case Phase::checking:
      case Phase::after:
        do_eval_slice();
        break;
    }
    settle();
  }
  return status_;
}

const FineTuneStatus& FineTuner::run(int max_steps) {
  while (phase_ == Phase::preparing && status_.busy()) advance(1);
  const int target = status_.step + max_steps;
  while (status_.busy() && phase_ != Phase::after && status_.step < target) advance(1);
  while (status_.busy() && phase_ == Phase::checking) advance(1);  // a step's check belongs to it
  if (phase_ == Phase::after)
    while (status_.busy()) advance(1);
  return status_;
}

Model FineTuner::tuned_model() const {
  Model m = base_;
  tail_->write_to(m);
  m.provenance["finetuned_from"] = base_.provenance.count("name") ? base_.provenance.at("name") : base_.arch.name;
  m.provenance["finetune_samples"] = std::to_string(status_.train_samples);
  m.provenance["finetune_steps"] = std::to_string(status_.best_step);
  m.provenance["finetune_optimizer"] = config_.optimizer.kind;
  m.provenance["finetuned_by"] = "digitlab engine";
  m.provenance["finetune_trained_layers"] = trainable_layers_name(config_.trainable);
  return m;
}

}  // namespace digitlab
