#include "fine_tuner.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "digitlab/error.h"
#include "digitlab/random.h"
#include "xnn_matmul.h"

namespace digitlab {
namespace {

void shuffle(std::vector<uint32_t>& v, uint64_t& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[splitmix64_next(rng) % i]);
}

// Pixels in [0, 1] from a dataset's bytes, for images [first, first + count).
std::vector<float> to_pixels(const Dataset& d, const std::vector<uint32_t>& which) {
  const size_t n = size_t(d.rows) * size_t(d.cols);
  std::vector<float> out(which.size() * n);
  for (size_t i = 0; i < which.size(); ++i) {
    const uint8_t* img = d.image(which[i]);
    for (size_t p = 0; p < n; ++p) out[i * n + p] = float(img[p]) / 255.f;
  }
  return out;
}

// One image moved by (dx, dy) pixels, zeros shifted in.
void shifted(const float* img, float* out, int side, int dx, int dy) {
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      const int sx = x - dx, sy = y - dy;
      out[y * side + x] = (sx >= 0 && sy >= 0 && sx < side && sy < side) ? img[sy * side + sx] : 0.f;
    }
}

}  // namespace

FineTuner::FineTuner(const Model& base, const Dataset& replay, const FineTuneConfig& config)
    : base_(fold_batch_norm(base)), config_(config), trunk_(base_), rng_(config.seed) {
  if (config.trainable != "head" && config.trainable != "last-block")
    throw Error("trainable layers must be 'head' or 'last-block', not '" + config.trainable + "'");
  if (config.epochs < 1 || config.epochs > 1000) throw Error("epochs must be between 1 and 1000");
  if (config.batch < 1 || config.batch > 1024) throw Error("batch must be between 1 and 1024");
  if (config.replay_per_batch < 0 || config.replay_per_batch >= config.batch)
    throw Error("replay digits per batch must be at least 0 and fewer than the batch size");
  if (!(config.holdout >= 0.f && config.holdout < 1.f)) throw Error("holdout must be in [0, 1)");
  first_layer_ = config.trainable == "head" ? head_start(base_.arch) : last_block_start(base_.arch);
  head_ = std::make_unique<TailTrainer>(base_, first_layer_, config.optimizer, config.seed, xnn_matmul());
  feature_size_ = head_->input_size();
  if (feature_size_ != trunk_.feature_size(first_layer_)) throw Error("engine and tail trainer disagree on the tail's input");
  if (replay.size() > 0) {
    if (replay.rows != base_.arch.input.h || replay.cols != base_.arch.input.w || base_.arch.input.c != 1)
      throw Error("replay digits do not fit the model's input");
    std::vector<uint32_t> all(replay.size());
    for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
    compute_features(to_pixels(replay, all), int(all.size()), replay_features_);
    replay_labels_ = replay.labels;
  }
}

void FineTuner::compute_features(const std::vector<float>& pixels, int count, std::vector<float>& out) {
  const int per_image = int(base_.arch.input.size());
  out.resize(size_t(count) * size_t(feature_size_));
  for (int b = 0; b < count; b += 64) {
    const int n = std::min(64, count - b);
    trunk_.features_before(first_layer_, pixels.data() + size_t(b) * per_image, n, out.data() + size_t(b) * feature_size_);
  }
}

double FineTuner::head_accuracy(const std::vector<float>& features, const std::vector<uint8_t>& labels) {
  if (labels.empty()) return NAN;
  std::vector<float> logits(10 * 64);
  size_t right = 0;
  for (size_t b = 0; b < labels.size(); b += 64) {
    const int n = int(std::min<size_t>(64, labels.size() - b));
    head_->predict(features.data() + b * size_t(feature_size_), n, logits.data());
    for (int i = 0; i < n; ++i) {
      const float* z = logits.data() + i * 10;
      if (std::max_element(z, z + 10) - z == labels[b + size_t(i)]) ++right;
    }
  }
  return double(right) / double(labels.size());
}

void FineTuner::start(const Dataset& samples) {
  if (samples.size() == 0) throw Error("no samples to fine-tune on: label some digits first");
  if (samples.rows != base_.arch.input.h || samples.cols != base_.arch.input.w)
    throw Error("samples are " + std::to_string(samples.rows) + "x" + std::to_string(samples.cols) +
                " images; the model takes " + std::to_string(base_.arch.input.h) + "x" + std::to_string(base_.arch.input.w));
  for (uint8_t l : samples.labels)
    if (l > 9) throw Error("sample label " + std::to_string(l) + " is not a digit");
  status_ = FineTuneStatus{};
  std::vector<uint32_t> idx(samples.size());
  for (uint32_t i = 0; i < idx.size(); ++i) idx[i] = i;
  shuffle(idx, rng_);
  size_t n_hold = size_t(std::floor(double(idx.size()) * config_.holdout));
  if (config_.holdout > 0.f && idx.size() >= 5 && n_hold == 0) n_hold = 1;
  const std::vector<uint32_t> hold(idx.end() - long(n_hold), idx.end());
  const std::vector<uint32_t> train(idx.begin(), idx.end() - long(n_hold));

  compute_features(to_pixels(samples, hold), int(hold.size()), heldout_features_);
  heldout_labels_.clear();
  for (uint32_t i : hold) heldout_labels_.push_back(samples.labels[i]);

  // Training set: each sample, plus its four 1-pixel shifts when asked (features cached once).
  const std::vector<float> pixels = to_pixels(samples, train);
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
  compute_features(expanded, int(train_labels_.size()), train_features_);

  status_.train_samples = int(train.size());
  status_.heldout_samples = int(hold.size());
  status_.heldout_before = head_accuracy(heldout_features_, heldout_labels_);
  status_.replay_before = head_accuracy(replay_features_, replay_labels_);
  const int user_per_batch = config_.batch - (replay_labels_.empty() ? 0 : config_.replay_per_batch);
  const int steps_per_epoch = int((train_labels_.size() + size_t(user_per_batch) - 1) / size_t(user_per_batch));
  status_.total_steps = steps_per_epoch * config_.epochs;
  status_.state = FineTuneStatus::State::running;
  order_.resize(train_labels_.size());
  for (uint32_t i = 0; i < order_.size(); ++i) order_[i] = i;
  shuffle(order_, rng_);
  cursor_ = 0;
  epoch_loss_ = 0;
  epoch_batches_ = 0;
}

const FineTuneStatus& FineTuner::run(int max_steps) {
  if (status_.state != FineTuneStatus::State::running) return status_;
  const bool replay = !replay_labels_.empty() && config_.replay_per_batch > 0;
  const int user_per_batch = config_.batch - (replay ? config_.replay_per_batch : 0);
  const size_t F = size_t(feature_size_);
  for (int s = 0; s < max_steps && status_.step < status_.total_steps; ++s) {
    const size_t n_user = std::min<size_t>(size_t(user_per_batch), order_.size() - cursor_);
    const size_t n_replay = replay ? size_t(config_.replay_per_batch) : 0;
    const size_t n = n_user + n_replay;
    batch_features_.resize(n * F);
    batch_labels_.resize(n);
    for (size_t i = 0; i < n_user; ++i) {
      const uint32_t k = order_[cursor_ + i];
      std::memcpy(&batch_features_[i * F], &train_features_[size_t(k) * F], F * sizeof(float));
      batch_labels_[i] = train_labels_[k];
    }
    for (size_t i = 0; i < n_replay; ++i) {
      const size_t k = size_t(splitmix64_next(rng_) % replay_labels_.size());
      std::memcpy(&batch_features_[(n_user + i) * F], &replay_features_[k * F], F * sizeof(float));
      batch_labels_[n_user + i] = replay_labels_[k];
    }
    const TailStep r = head_->train_step(batch_features_.data(), batch_labels_.data(), int(n));
    if (!r.ok) {
      status_.state = FineTuneStatus::State::failed;
      status_.message = "training diverged at step " + std::to_string(status_.step + 1) +
                        " (the loss or the weights stopped being finite); kept the weights of the last good step. "
                        "Try a lower learning rate.";
      finish();
      return status_;
    }
    status_.last_loss = r.loss;
    epoch_loss_ += r.loss;
    ++epoch_batches_;
    ++status_.step;
    cursor_ += n_user;
    if (cursor_ >= order_.size()) {  // end of an epoch
      status_.loss_history.push_back(float(epoch_loss_ / epoch_batches_));
      ++status_.epoch;
      epoch_loss_ = 0;
      epoch_batches_ = 0;
      cursor_ = 0;
      shuffle(order_, rng_);
    }
  }
  if (status_.step >= status_.total_steps) {
    status_.state = FineTuneStatus::State::done;
    finish();
  }
  return status_;
}

void FineTuner::finish() {
  status_.heldout_after = head_accuracy(heldout_features_, heldout_labels_);
  status_.replay_after = head_accuracy(replay_features_, replay_labels_);
}

Model FineTuner::tuned_model() const {
  Model m = base_;
  head_->write_to(m);
  m.provenance["finetuned_from"] = base_.provenance.count("name") ? base_.provenance.at("name") : base_.arch.name;
  m.provenance["finetune_samples"] = std::to_string(status_.train_samples);
  m.provenance["finetune_steps"] = std::to_string(status_.step);
  m.provenance["finetune_optimizer"] = config_.optimizer.kind;
  m.provenance["finetuned_by"] = "digitlab engine";
  m.provenance["finetune_trained_layers"] = config_.trainable;
  return m;
}

}  // namespace digitlab
