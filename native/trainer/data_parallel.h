// The training step every command shares, data-parallel or not: forward, loss, backward with the
// gradients all-reduced across ranks while it runs (distributed.h), the optimizer step, and the
// step's loss and accuracy summed over every rank, so every rank sees the same numbers and makes the
// same decisions (a non-finite loss, early stopping, a reached target).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "distributed.h"
#include "torch_net.h"
#include "trainer.h"

namespace digitlab {

// Joins the job this process was started in (distributed_env.h), or a world of one outside one.
// Rank 0 says what it joined; the others print nothing unless something fails.
std::unique_ptr<Distributed> join_job(const DistributedEnv& env, const DistributedOptions& options, torch::Device device);

struct StepTotals {  // summed over every rank
  double loss_sum = 0;  // mean loss x images, added up
  int64_t correct = 0, images = 0;
  double mean_loss() const { return images ? loss_sum / double(images) : 0; }
};

class DataParallelStep {
 public:
  // optimizer over net.trainable_parameters(); with more than one rank the gradients are averaged
  // across ranks, in buckets of about bucket_bytes (DistributedOptions::bucket_kb).
  DataParallelStep(Distributed& dist, TorchNet& net, torch::optim::Optimizer& optimizer, size_t bucket_bytes);
  // One step on this rank's batch. Throws Error, before changing any weight, when the loss summed
  // over ranks is not finite (the same on every rank); what_if_not_finite explains it to a person.
  StepTotals step(const torch::Tensor& x, const torch::Tensor& y, double label_smoothing,
                  const std::string& what_if_not_finite);
  const GradientAllReduce* all_reduce() const { return all_reduce_.get(); }
  // One line for the log: buckets, all-reduce time, share hidden behind backward ("" for one rank).
  std::string communication_summary() const;

 private:
  Distributed& dist_;
  TorchNet& net_;
  torch::optim::Optimizer& optimizer_;
  std::unique_ptr<GradientAllReduce> all_reduce_;
};

// Every parameter and batch-norm statistic of the network, set to rank 0's values on every rank.
void broadcast_network(Distributed& dist, TorchNet& net);

// An optimizer's state as bytes (LibTorch's archive) and back, for checkpoints and for sharing rank
// 0's state with the others.
std::vector<uint8_t> optimizer_state_bytes(torch::optim::Optimizer& optimizer);
void load_optimizer_state(torch::optim::Optimizer& optimizer, const std::vector<uint8_t>& bytes, const std::string& source);

}  // namespace digitlab
