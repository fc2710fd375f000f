// Personalises a model on a person's labelled samples in the browser: the frozen trunk runs once per
// sample through the XNNPACK engine and its features are cached; the trainable tail (the classifier
// head, or the last convolution block and the head) then trains on them (TailTrainer), each batch mixing the person's samples with replayed MNIST digits so
// the model does not forget the digits everyone writes. Work is done in slices (run(max_steps)) so a
// page can spread it across animation frames and stay responsive.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "digitlab/idx.h"
#include "digitlab/model.h"
#include "tail_trainer.h"
#include "xnn_engine.h"

namespace digitlab {

struct FineTuneConfig {
  std::string trainable = "last-block";  // head | last-block
  OptimizerOptions optimizer;  // adam, lr 1e-3 by default
  int epochs = 20;             // passes over the person's training samples
  int batch = 32;              // per step, replay digits included
  int replay_per_batch = 8;    // MNIST digits in every batch (0: none)
  float holdout = 0.2f;        // share of samples kept out of training, to measure the effect
  bool shifted_copies = true;  // also train on 1-pixel shifts of each sample (cheap augmentation)
  uint64_t seed = 1;
};

struct FineTuneStatus {
  enum class State { idle, running, done, failed };
  State state = State::idle;
  int step = 0, total_steps = 0, epoch = 0;
  float last_loss = 0;
  std::vector<float> loss_history;       // mean loss per epoch
  int train_samples = 0, heldout_samples = 0;
  double heldout_before = 0, heldout_after = 0;  // accuracy in [0, 1]; NaN without held-out samples
  double replay_before = 0, replay_after = 0;    // on the replay digits
  std::string message;                   // what went wrong, when failed
};

class FineTuner {
 public:
  // replay: MNIST digits shipped with the page (may be empty). Throws Error for a model whose head
  // cannot be trained or a bad configuration.
  FineTuner(const Model& base, const Dataset& replay, const FineTuneConfig& config);

  // Splits the samples (seeded), computes trunk features, measures "before". Throws Error for an
  // empty sample set or images of the wrong size.
  void start(const Dataset& samples);
  // Runs at most max_steps optimizer steps; on the last one measures "after". A non-finite loss
  // stops training with state failed; the weights stay those of the last good step.
  const FineTuneStatus& run(int max_steps);
  const FineTuneStatus& status() const { return status_; }

  // The base model, batch norm folded, with the trained tail and provenance (base, samples, steps).
  Model tuned_model() const;

 private:
  double head_accuracy(const std::vector<float>& features, const std::vector<uint8_t>& labels);
  void compute_features(const std::vector<float>& pixels, int count, std::vector<float>& out);
  void finish();

  Model base_;  // batch norm folded
  FineTuneConfig config_;
  XnnEngine trunk_;
  size_t first_layer_ = 0;
  std::unique_ptr<TailTrainer> head_;
  int feature_size_ = 0;
  std::vector<float> replay_features_, train_features_, heldout_features_;
  std::vector<uint8_t> replay_labels_, train_labels_, heldout_labels_;
  std::vector<float> batch_features_;
  std::vector<uint8_t> batch_labels_;
  std::vector<uint32_t> order_;  // shuffled indices into the training features, per epoch
  size_t cursor_ = 0;            // position in order_ within the epoch
  double epoch_loss_ = 0;
  int epoch_batches_ = 0;
  uint64_t rng_ = 0;
  FineTuneStatus status_;
};

}  // namespace digitlab
