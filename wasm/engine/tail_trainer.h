// Trains the tail of a model (its layers from first_layer on) on the inputs that the frozen layers
// before it produce, which the caller computes once and caches (the XNNPACK engine's trunk). Layers:
// conv2d (any stride/padding/dilation/groups), relu, max_pool2d, global_avg_pool, flatten, linear,
// dropout; batch norm must be folded first (fold_batch_norm). Parameters live in one contiguous
// buffer; gradients and the optimizer's moments mirror it (llm.c style).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "digitlab/model.h"
#include "optimizer.h"
#include "train_layers.h"

namespace digitlab {

// What one optimizer step did.
struct TrainStepResult {
  float loss = 0;     // mean cross-entropy of the batch
  int correct = 0;    // samples of the batch whose top logit was the label (in training mode)
  bool ok = true;     // false: the loss or the updated weights were not finite; weights were restored
};

class TailTrainer {
 public:
  // Throws Error if a layer from first_layer on cannot be trained here (e.g. an unfolded batch norm).
  // first_trainable_layer() (digitlab/fine_tuning.h) says where a choice of trainable layers begins.
  TailTrainer(const Model& model, size_t first_layer, const OptimizerOptions& options, uint64_t seed = 1);

  size_t first_layer() const { return first_; }
  // Threads for the matrix products (not owned; null: the caller's thread only). Results are the
  // same bit for bit whatever the runner (task_runner.h).
  void set_runner(TaskRunner* runner) { workspace_.set_runner(runner); }
  int threads() const { return workspace_.threads(); }
  int input_size() const { return int(input_.size()); }  // per sample, (C, H, W) order
  Shape input_shape() const { return input_; }
  size_t num_parameters() const { return params_.size(); }

  // inputs (B, input_size), labels (B): forward, backward, optimizer step. A non-finite loss or
  // weight restores the weights of before this step and reports ok = false.
  TrainStepResult train_step(const float* inputs, const uint8_t* labels, int B);
  // The same step in parts (gradient accumulation), so that each call stays short: begin_step(),
  // accumulate() for parts of b samples out of the batch's total, finish_step(). The gradients equal
  // train_step's on the whole batch (no layer mixes samples: batch norm is folded). accumulate()
  // returns false once an input or loss is not finite; finish_step() then reports ok = false and
  // changes nothing.
  void begin_step();
  bool accumulate(const float* inputs, const uint8_t* labels, int b, int total);
  TrainStepResult finish_step();
  // inputs (B, input_size) -> logits (B, 10), inference mode (no dropout).
  void predict(const float* inputs, int B, float* logits);

  // For tests: forward + backward into gradients() without updating; dropout on or off.
  float forward_backward(const float* inputs, const uint8_t* labels, int B, bool dropout);
  std::vector<float>& parameters() { return params_; }
  const std::vector<float>& parameters() const { return params_; }
  const std::vector<float>& gradients() const { return grads_; }
  const std::vector<float>& input_gradient() const { return dinput_; }  // d loss / d inputs
  void apply_gradients() { optimizer_.step(params_.data(), grads_.data(), workspace_); }

  // Copies the trained weights into model.params under their PyTorch names.
  void write_to(Model& model) const;

 private:
  // A layer of the tail with its offsets into the parameters and what its backward pass keeps.
  struct LayerState {
    Layer layer;
    Shape in, out;                 // per sample
    size_t weight = 0, bias = 0;   // offsets into params_ / grads_
    bool has_bias = false;
    ConvGeometry conv;
    std::vector<float> col;            // conv: im2col of the last forward
    std::vector<int32_t> argmax;       // max pool
  };
  void forward(const float* inputs, int B, bool dropout);
  void ensure_batch(int B);

  size_t first_ = 0;
  Shape input_;
  std::vector<LayerState> layers_;
  std::vector<float> params_, grads_, backup_;
  std::vector<float> acc_grads_;  // the step's gradients summed over its parts
  float acc_loss_ = 0;
  int acc_correct_ = 0, acc_parts_ = 0;
  bool acc_ok_ = true;
  bool skip_input_gradient_ = false;  // set while accumulate() runs: training needs no d loss / d inputs
  std::vector<std::vector<float>> acts_, masks_, dacts_;  // per layer: output, dropout mask, gradient
  std::vector<float> probs_, dinput_;
  TrainWorkspace workspace_;
  int batch_capacity_ = 0;
  Optimizer optimizer_;
  uint64_t rng_;
};

}  // namespace digitlab
