// Pieces the LibTorch commands share: runtime set-up, batched evaluation, optimizers.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

#include "metrics.h"
#include "torch_net.h"
#include "trainer.h"

namespace digitlab {

// Seeds torch, sets the intra-op thread count (LibTorch here defaults to 1) and picks the device.
// Prints one line saying what it chose.
torch::Device setup_runtime(const CommonOptions& options);

struct Evaluation {
  ConfusionMatrix confusion;
  double loss = 0;  // mean cross-entropy
};
// images (N,1,28,28) in [0,1] and labels (N) on the net's device; inference mode, in batches.
Evaluation evaluate(TorchNet& net, const torch::Tensor& images, const torch::Tensor& labels, int batch,
                    const std::string& progress_label = "");

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, std::vector<torch::Tensor> params,
                                                        double lr, double momentum, double weight_decay);
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// Rows [begin, end) of a tensor, as a view.
inline torch::Tensor rows(const torch::Tensor& t, int64_t begin, int64_t end) { return t.slice(0, begin, end); }

}  // namespace digitlab
