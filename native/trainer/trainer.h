// The trainer's commands as a LibTorch-free interface, so the command-line front end (and anything
// else that drives training) compiles without LibTorch's headers. Every function throws Error with a
// message a shell user can act on, and never overwrites an output file unless it succeeds.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace digitlab {

struct CommonOptions {
  std::string device = "auto";  // auto | cpu | cuda
  int threads = 0;              // 0: one per hardware thread
  uint64_t seed = 1;
};

// Data-parallel runs (docs/distributed.md). Where the ranks are comes from the environment
// (torchrun, or RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT by hand); these say how they talk.
struct DistributedOptions {
  std::string backend = "auto";  // auto | gloo | nccl (auto: nccl on CUDA when built with it, else gloo)
  int timeout_s = 30;            // a rank that is missing or stops ends the others within this
  int bucket_kb = 256;           // gradients all-reduced together (DDP's bucket_cap_mb)
};

struct TrainOptions {
  CommonOptions common;
  DistributedOptions distributed;
  std::string arch = "digitlab-cnn";
  std::string data_dir;           // holds the four MNIST-format IDX files
  int epochs = 15;
  int batch = 128;                // per rank: a step of a job with N ranks takes N x batch images
  double lr = 0;                  // 0: the optimizer's default (adam/adamw 3e-3, sgd 0.05)
  std::string optimizer = "adam"; // adam | adamw | sgd (momentum)
  double momentum = 0.9;
  double weight_decay = 0;
  std::string schedule = "onecycle";  // onecycle (warm-up then cosine) | cosine | constant
  double label_smoothing = 0.0;
  std::string augment = "default";    // see parse_augment_options
  int val = 5000;                 // training images held out for validation (0: none)
  int limit = 0;                  // use only the first N training images (0: all)
  int patience = 0;               // stop after N epochs without a better validation loss (0: never)
  std::string init;               // start from these weights instead of a fresh initialisation
  bool reset_head = false;        // with init: re-initialise the last linear layer
  std::string resume;             // a checkpoint written by an earlier run (out + ".ckpt.safetensors");
                                  // after a torchrun restart, the run's own checkpoint is resumed by itself
  std::string out;                // default: <arch>.safetensors
  std::string metrics_csv;        // default: out + ".metrics.csv"
  double target_test_accuracy = 0;  // > 0: check the test set every eval_every steps, stop when reached
  int eval_every = 100;
  std::string command_line;       // recorded in the weights' provenance
};

struct EvalOptions {
  CommonOptions common;
  std::string model;
  std::string data_dir;
  std::string split = "test";  // test | train
  int batch = 500;
};

struct FineTuneOptions {
  CommonOptions common;
  DistributedOptions distributed;
  std::string model;
  std::string samples_images, samples_labels;
  std::string data_dir;         // MNIST, for the replay digits and the before/after test accuracy
  std::string freeze = "convs"; // convs (train linear layers) | none | all-but-last | LAYER (freeze up to and including it)
  bool reset_head = false;
  int replay = 1000;            // MNIST training digits mixed into every epoch
  int epochs = 20;
  int batch = 32;                 // per rank
  double lr = 1e-3;
  double weight_decay = 0;
  double holdout = 0.2;         // fraction of the samples kept out of training to measure the effect
  std::string augment = "rotate=8,scale=0.08,translate=1.5,shear=0.05,thickness=0.3";
  std::string out;
  std::string command_line;
};

struct PredictOptions {
  CommonOptions common;
  std::string model;
  std::string preprocess = "drawing";  // drawing (crop, scale to 20 px, centre of mass) | none (already 28x28)
  std::vector<std::string> inputs;     // images, or an IDX images file
};

struct TrainReport {
  int epochs = 0;              // epochs run (fewer than asked after early stopping or a reached target)
  double test_accuracy = 0;
};
struct FineTuneReport {        // accuracies in [0, 1]; NaN where a set is empty
  double heldout_before = 0, heldout_after = 0;
  double samples_before = 0, samples_after = 0;
  double mnist_before = 0, mnist_after = 0;
};

TrainReport run_train(const TrainOptions& options);
double run_eval(const EvalOptions& options);  // accuracy
FineTuneReport run_fine_tune(const FineTuneOptions& options);
void run_predict(const PredictOptions& options);

}  // namespace digitlab
