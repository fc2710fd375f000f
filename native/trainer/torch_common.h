// Pieces the LibTorch commands share: runtime set-up, batched evaluation, optimizers.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

#include "distributed.h"
#include "metrics.h"
#include "torch_net.h"
#include "trainer.h"

namespace digitlab {

// Seeds torch, sets the intra-op thread count (LibTorch here defaults to 1) and picks the device.
// Prints one line saying what it chose (rank 0 only, in a data-parallel job). Without --threads, the
// ranks on one host share its cores (LOCAL_WORLD_SIZE), and CUDA ranks take GPU LOCAL_RANK.
torch::Device setup_runtime(const CommonOptions& options, const DistributedEnv& env = DistributedEnv());

struct Evaluation {
  ConfusionMatrix confusion;
  double loss = 0;  // mean cross-entropy
};
// images (N,1,28,28) in [0,1] and labels (N) on the net's device; inference mode, in batches. With a
// job of several ranks, each scores every world_size-th image with rank 0's batch-norm statistics
// and the counts are summed: every rank gets the whole set's result.
Evaluation evaluate(TorchNet& net, const torch::Tensor& images, const torch::Tensor& labels, int batch,
                    const std::string& progress_label = "", Distributed* dist = nullptr);

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, std::vector<torch::Tensor> params,
                                                        double lr, double momentum, double weight_decay);
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// Rows [begin, end) of a tensor, as a view.
inline torch::Tensor rows(const torch::Tensor& t, int64_t begin, int64_t end) { return t.slice(0, begin, end); }

}  // namespace digitlab
