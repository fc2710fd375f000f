// Personalises a model on a person's labelled samples in the browser: the frozen trunk runs once per
// sample through the XNNPACK engine and its features are cached; the trainable tail (the classifier
// head, the last convolution block and the head, or every layer: digitlab/fine_tuning.h) then trains
// on them (TailTrainer), each batch mixing the person's samples with replayed MNIST digits so the
// model does not forget the digits everyone writes.
//
// A session's length follows the data: a step budget per choice of layers (page_fine_tune_config),
// and early stopping on the person's held-out samples, which are checked at intervals; the weights
// that did best on them are the result. A second set of MNIST digits that never enters training
// (the probe) measures what the session cost on ordinary digits, before and after.
//
// Work is done in slices (advance()) so a page can spread it across animation frames or run it in a
// worker between messages; run() does it all for tools and tests that need not share their thread.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "digitlab/fine_tuning.h"
#include "digitlab/idx.h"
#include "digitlab/model.h"
#include "pthreadpool_runner.h"
#include "tail_trainer.h"
#include "xnn_engine.h"

namespace digitlab {

struct FineTuneConfig {
  TrainableLayers trainable = TrainableLayers::last_block;
  OptimizerOptions optimizer;  // adam, lr 1e-3 by default
  int epochs = 20;             // passes over the person's training samples, at most
  int max_steps = 0;           // optimizer steps at most (0: the epochs alone decide)
  int checks = 20;             // held-out checks (and points on the plots) over the planned steps
  int patience = 4;            // checks in a row without a better held-out loss that end training (0: never)
  int batch = 32;              // per step, replay digits included
  int replay_per_batch = 8;    // MNIST digits in every batch (0: none)
  float holdout = 0.2f;        // share of samples kept out of training, to measure and to stop early
  bool shifted_copies = true;  // also train on 1-pixel shifts of each sample (cheap augmentation)
  uint64_t seed = 1;
  // Threads for the training products (task_runner.h) and the trunk's XNNPACK operators (one
  // pthreadpool, pthreadpool_runner.h), the caller's included. The result does not depend on it.
  // Where threads cannot start (the single-threaded wasm build, or a pool that is exhausted) the
  // session runs on fewer and its status says how many and why.
  int threads = 1;
  // Slices of work (advance()'s unit) sized for a thread that does nothing else: a whole training
  // step, and 64 images of features or evaluation per slice, instead of the page thread's small ones
  // (kTrainPart, kFeatureSlice, kEvalSlice) that fit between frames. Fewer, larger products are what
  // threads need. The fine-tuning worker sets it. When every layer trains it changes how a batch's
  // gradient is summed, so the float rounding of the result (not the rest of the session).
  bool large_slices = false;
};

// What a session trains on and is measured with: the model as shipped, the MNIST digits mixed into
// training (replay) and those that only measure forgetting (probe), and the person's samples.
struct FineTuneData {
  const Model& base;
  const Dataset& replay;
  const Dataset& probe;
  const Dataset& samples;
};

// The page's settings for a session on `samples` samples and these layers:
// - learning rate: measured on a dozen drawn samples of a style the shipped model misreads
//   (tests/app_test.cpp): the head alone at Adam's usual 1e-3 moves too little (loss 6.9 -> 3.5,
//   style still misread) and 3e-3 learns it (loss -> 0.2); with convolutions training too, 1e-3;
// - a step budget that keeps a session to seconds in the page's worker whatever the sample count
//   (about 2, 12 and 30 ms a step for the head, the last block and every layer): 1,200, 500 and 300
//   steps; 20 epochs of a small set take fewer;
// - from 10 samples on, 20% are held out: they measure the effect and stop training early.
FineTuneConfig page_fine_tune_config(TrainableLayers trainable, size_t samples);

struct FineTuneStatus {
  // preparing: trunk features and "before" accuracies are computed in slices; running: optimizer
  // steps with held-out checks, then "after" accuracies (still running); done, or failed with a message.
  enum class State { idle, preparing, running, done, failed };
  // Why training ended: the planned steps ran out, the held-out loss stopped improving, or the
  // person stopped it (stop()).
  enum class Ending { none, budget, no_improvement, stopped };
  State state = State::idle;
  Ending ending = Ending::none;
  bool busy() const { return state == State::preparing || state == State::running; }
  int step = 0, total_steps = 0, epoch = 0;  // total_steps: planned (early stopping may end sooner)
  int work_done = 0, work_total = 0;         // all slices (features, evaluation, steps): the progress bar
  float last_loss = 0;
  // One point per check interval of points_every steps: mean training loss, training-batch accuracy
  // and held-out accuracy (NaN without held-out samples), in [0, 1] for the accuracies.
  std::vector<float> loss_history, accuracy_history, heldout_history;
  int points_every = 0;
  int best_step = 0;                        // the step whose weights are the result (0: the base model's)
  int train_samples = 0, heldout_samples = 0, mnist_digits = 0;
  double heldout_before = 0, heldout_after = 0;  // accuracy in [0, 1]; NaN without held-out samples
  double mnist_before = 0, mnist_after = 0;      // on the probe digits (never trained on); NaN without them
  // Every one of the person's samples, training and held-out alike, through the whole network as the
  // page's inference runs it (an XNNPACK engine, batches on the session's threads): the share read
  // right by the base model and by the result, and the digit the result reads in each sample, in
  // the samples' order (filled when the session is done; the page marks the misread ones).
  double samples_before = 0, samples_after = 0;  // in [0, 1]; NaN without samples
  std::vector<uint8_t> sample_predictions;
  double eta_seconds = -1;                  // time left, as the driver estimates it; < 0: not known yet
  int threads = 1;                          // threads the training products use
  std::string threads_note;                 // why fewer than asked for, if so
  std::string message;                      // what went wrong, when failed
  float progress() const { return work_total ? std::min(1.f, float(work_done) / float(work_total)) : 0.f; }
};

class FineTuner {
 public:
  // replay: MNIST digits mixed into training; probe: MNIST digits only ever evaluated (the
  // forgetting measure). Either may be empty. Throws Error for a model whose chosen layers cannot be
  // trained or a bad configuration. Cheap: the trunk runs only once start() is called.
  FineTuner(const Model& base, const Dataset& replay, const Dataset& probe, const FineTuneConfig& config);

  // The check the constructor makes on the settings alone (cheap: nothing is built), for a caller
  // that hands the session to another thread and wants its errors at once; the samples' check is
  // check_fine_tune_samples (digitlab/fine_tuning.h).
  static void check_config(const FineTuneConfig& config);  // throws Error

  // Checks and splits the samples (seeded) and queues the work: trunk features of the replay digits,
  // held-out and training samples and the probe, then the "before" accuracies. State becomes
  // preparing. Throws Error for an empty sample set, images of the wrong size or labels that are not digits.
  void start(const Dataset& samples);
  // Does at most max_units slices of work, whatever comes next: a slice is the trunk on a few images,
  // the tail on a few evaluation digits, or one optimizer step (or a part of one when every layer
  // trains), each a few milliseconds in the browser. A non-finite loss stops training with state
  // failed; the weights stay those of the last good step.
  const FineTuneStatus& advance(int max_units);
  // Finishes any preparation, then runs at most max_steps optimizer steps; once training has ended
  // it measures "after" (for tools and tests that need not share a thread with a UI).
  const FineTuneStatus& run(int max_steps);
  // Ends training now, keeping the weights that did best on the held-out samples so far; the "after"
  // measurements follow as usual. Nothing happens unless training is under way.
  void stop();
  const FineTuneStatus& status() const { return status_; }

  // The base model, batch norm folded, with the trained tail and provenance (base, samples, steps).
  Model tuned_model() const;

  // Sees every training batch's inputs (n x the tail's input size) as they go to the trainer: for
  // tests that check what trains.
  void observe_training(std::function<void(const float* inputs, int n)> observer) { observer_ = std::move(observer); }

  // Images whose trunk features one slice computes, digits one evaluation slice scores, and samples
  // of a training step one slice does when every layer trains (the others take a step per slice).
  static constexpr int kFeatureSlice = 8, kEvalSlice = 8, kTrainPart = 2;
  static constexpr int kLargeSlice = 64;  // features or evaluation per slice with large_slices

 private:
  // Trunk features for `count` images of `pixels`, computed kFeatureSlice at a time into `out`.
  struct FeatureJob {
    std::vector<float>* pixels = nullptr;
    int count = 0, done = 0;
    std::vector<float>* out = nullptr;
    bool release_pixels = false;  // the training images are not needed once their features are
  };
  // Accuracy (and mean loss) on a set of digits, kEvalSlice at a time: through the tail on cached
  // features, or through an XNNPACK engine of the whole network (base or tuned) when every layer
  // trains and the engine infers far faster than the trainer's forward pass.
  struct EvalJob {
    XnnEngine* engine = nullptr;  // null: the tail on features
    const std::vector<float>* pixels = nullptr;
    const std::vector<float>* features = nullptr;
    const std::vector<uint8_t>* labels = nullptr;
    size_t done = 0, right = 0;
    double loss_sum = 0;
    double* accuracy = nullptr;
    double* loss = nullptr;  // null: not wanted
    std::vector<uint8_t>* predictions = nullptr;  // the digit read in each image (null: not wanted)
  };
  enum class Phase { preparing, training, checking, after };
  void queue_measurements(bool before);
  int measurement_slices() const;  // the slices of one queue_measurements
  void skip_to_measurements();     // work_done: all but the measurements still queued
  void queue_check();
  bool do_feature_slice();  // false when no feature work is left
  bool do_eval_slice();     // false when no evaluation is left
  bool features_pending() const;
  bool eval_pending() const;
  void settle();
  void do_train_step();
  void end_interval();
  void end_check();
  void end_training(FineTuneStatus::Ending why);
  void fail(const std::string& why);

  Model base_;  // batch norm folded
  FineTuneConfig config_;
  XnnEngine trunk_;
  size_t first_layer_ = 0;
  std::unique_ptr<PthreadpoolRunner> runner_;  // when config_.threads > 1 and threads could start
  std::string threads_note_;
  std::unique_ptr<TailTrainer> tail_;  // the layers from first_layer_ on
  int feature_size_ = 0;
  Dataset replay_, probe_;
  Phase phase_ = Phase::preparing;
  std::vector<FeatureJob> feature_jobs_;
  std::vector<EvalJob> eval_jobs_;
  std::vector<float> replay_pixels_, train_pixels_, heldout_pixels_, probe_pixels_;
  std::vector<float> replay_features_, train_features_, heldout_features_, probe_features_;
  std::unique_ptr<XnnEngine> tuned_engine_;  // the result's whole network, for the "after" measurements
  std::vector<float> sample_pixels_;         // every sample, in order: what the gallery shows
  std::vector<uint8_t> sample_labels_, sample_predictions_;
  std::vector<uint8_t> replay_labels_, train_labels_, heldout_labels_, probe_labels_;
  std::vector<float> batch_features_, eval_logits_;
  std::vector<uint8_t> batch_labels_;
  std::vector<uint32_t> order_;  // shuffled indices into the training features, per epoch
  size_t cursor_ = 0;            // position in order_ within the epoch
  int part_size_ = 0;            // samples per slice of a training step
  int feature_slice_ = kFeatureSlice, eval_slice_ = kEvalSlice;  // images per slice (large_slices: kLargeSlice)
  size_t part_done_ = 0;         // samples of the current batch done (0: the next slice starts a batch)
  size_t batch_user_ = 0;        // the person's samples in the current batch
  double interval_loss_ = 0;
  int interval_steps_ = 0, interval_correct_ = 0, interval_seen_ = 0;
  double check_loss_ = 0, check_accuracy_ = 0;
  double best_loss_ = 0;
  int checks_without_gain_ = 0;
  std::vector<float> best_params_;  // the tail at best_step (empty: the current weights are the best)
  uint64_t rng_ = 0;
  std::function<void(const float*, int)> observer_;
  FineTuneStatus status_;
};

}  // namespace digitlab
