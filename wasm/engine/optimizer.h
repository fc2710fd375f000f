// Optimizers over one flat parameter buffer and its mirrored gradient buffer. The update rules match
// torch.optim.SGD (momentum, dampening 0) and torch.optim.Adam, including their L2 weight decay
// (added to the gradient), so one step here equals one step there (tested against LibTorch).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "train_workspace.h"

namespace digitlab {

struct OptimizerOptions {
  std::string kind = "adam";  // adam | sgd
  float lr = 1e-3f;
  float momentum = 0.9f;  // sgd
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // adam
  float weight_decay = 0.f;
  float clip_grad_norm = 0.f;  // > 0: scale gradients so their global L2 norm is at most this
};

class Optimizer {
 public:
  Optimizer(const OptimizerOptions& options, size_t num_params);  // throws Error for a bad option
  // grads may be modified (decay, clipping). The update is element by element, so it runs on the
  // workspace's threads; the clipping norm is summed on the caller's thread, in order.
  void step(float* params, float* grads, TrainWorkspace& ws);
  void reset();                            // forget moments (e.g. after restoring weights)

 private:
  OptimizerOptions o_;
  std::vector<float> m_, v_;  // sgd uses m_ as its momentum buffer
  long t_ = 0;
};

}  // namespace digitlab
