// Trains the classifier head of a model (the layers after its last convolution/pooling layer:
// linear, relu, dropout, flatten) on feature vectors that the frozen trunk computed once. Parameters
// live in one contiguous buffer; gradients, and the optimizer's moments, mirror it (llm.c style).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "digitlab/model.h"
#include "optimizer.h"

namespace digitlab {

struct HeadStep {
  float loss = 0;     // mean cross-entropy of the batch
  bool ok = true;     // false: the loss or the updated weights were not finite; weights were restored
};

class HeadTrainer {
 public:
  // Throws Error if the model's tail holds a layer kind this trainer cannot train.
  HeadTrainer(const Model& model, const OptimizerOptions& options, uint64_t seed = 1);

  size_t first_layer() const { return first_; }   // index into model.arch.layers
  int feature_size() const { return features_; }  // per sample, in PyTorch's flatten (C, H, W) order
  size_t num_parameters() const { return params_.size(); }

  // features (B, feature_size), labels (B): forward, backward, optimizer step. A non-finite loss or
  // weight restores the weights of before this step and reports ok = false.
  HeadStep train_step(const float* features, const uint8_t* labels, int B);
  // features (B, feature_size) -> logits (B, 10), inference mode (no dropout).
  void predict(const float* features, int B, float* logits);

  // For tests: forward + backward into grads() without updating; dropout on or off.
  float forward_backward(const float* features, const uint8_t* labels, int B, bool dropout);
  const std::vector<float>& parameters() const { return params_; }
  std::vector<float>& parameters() { return params_; }
  const std::vector<float>& gradients() const { return grads_; }
  const std::vector<float>& input_gradient() const { return dinput_; }  // d loss / d features
  void apply_gradients() { optimizer_.step(params_.data(), grads_.data()); }

  // Copies the trained weights into model.params under their PyTorch names.
  void write_to(Model& model) const;

 private:
  struct Step {  // one tail layer
    Layer layer;
    int in = 0, out = 0;                    // feature counts
    size_t weight = 0, bias = 0;            // offsets into params_ / grads_ (linear only)
    bool has_bias = false;
  };
  void forward(const float* features, int B, bool dropout);
  void ensure_batch(int B);

  size_t first_ = 0;
  int features_ = 0;
  std::vector<Step> steps_;
  std::vector<float> params_, grads_, backup_;
  std::vector<std::vector<float>> acts_, masks_, dacts_;  // per step output, dropout mask, gradient
  std::vector<float> probs_, dinput_;
  int batch_capacity_ = 0;
  Optimizer optimizer_;
  uint64_t rng_;
};

}  // namespace digitlab
