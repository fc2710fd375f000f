#include "data_parallel.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "digitlab/error.h"

namespace digitlab {

std::unique_ptr<Distributed> join_job(const DistributedEnv& env, const DistributedOptions& o, torch::Device device) {
  if (!env.present) return std::make_unique<Distributed>();
  if (o.timeout_s < 1) throw Error("--timeout must be at least 1 second");
  auto dist = std::make_unique<Distributed>(env, o.backend, std::chrono::seconds(o.timeout_s), device);
  if (dist->is_main())
    std::fprintf(stderr, "data-parallel: %d ranks (%s, store at %s:%d%s), timeout %d s%s\n", dist->world_size(),
                 dist->backend().c_str(), env.master_addr.c_str(), env.master_port, env.agent_store ? ", torchrun's" : "",
                 o.timeout_s, env.restart_count ? (", restart " + std::to_string(env.restart_count)).c_str() : "");
  return dist;
}

DataParallelStep::DataParallelStep(Distributed& dist, TorchNet& net, torch::optim::Optimizer& optimizer, size_t bucket_bytes)
    : dist_(dist), net_(net), optimizer_(optimizer) {
  if (dist.world_size() > 1)
    all_reduce_ = std::make_unique<GradientAllReduce>(dist, net.trainable_parameters(), std::max<size_t>(bucket_bytes, 1));
}

StepTotals DataParallelStep::step(const torch::Tensor& x, const torch::Tensor& y, double label_smoothing,
                                  const std::string& what_if_not_finite) {
  const torch::Tensor logits = net_.forward(x, /*train=*/true);
  const torch::Tensor loss = torch::nn::functional::cross_entropy(
      logits, y, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
  const double n = double(x.size(0));
  // This rank's totals go out now and come back, summed, while backward runs.
  torch::Tensor totals = torch::tensor({loss.item<double>() * n, double(logits.argmax(1).eq(y).sum().item<int64_t>()), n},
                                       torch::TensorOptions().dtype(torch::kFloat64).device(net_.device()));
  Distributed::PendingSum sum = dist_.all_reduce_sum_async(totals);
  optimizer_.zero_grad();
  if (all_reduce_) all_reduce_->prepare_for_backward();
  loss.backward();
  if (all_reduce_) all_reduce_->synchronize();
  try {
    sum.wait();
  } catch (const Error& e) {
    throw Error("rank " + std::to_string(dist_.rank()) + " of " + std::to_string(dist_.world_size()) + ": " + e.what());
  }
  const torch::Tensor t = totals.to(torch::kCPU);
  StepTotals r;
  r.loss_sum = t[0].item<double>();
  r.correct = int64_t(std::llround(t[1].item<double>()));
  r.images = int64_t(std::llround(t[2].item<double>()));
  if (!std::isfinite(r.loss_sum)) throw Error("loss became " + std::to_string(r.loss_sum / double(r.images)) + " " + what_if_not_finite);
  optimizer_.step();
  return r;
}

std::string DataParallelStep::communication_summary() const {
  if (!all_reduce_) return "";
  const GradientAllReduce::Stats s = all_reduce_->stats();
  char line[256];
  std::snprintf(line, sizeof line,
                "gradient all-reduce: %zu buckets, %.2f ms a step on its own, %.2f ms a step left after backward: "
                "%.0f%% hidden behind backward (%lld steps)",
                s.buckets, s.alone_ms, s.steps ? s.exposed_ms / double(s.steps) : 0.0, 100 * s.hidden_share(),
                (long long)s.steps);
  return line;
}

void broadcast_network(Distributed& dist, TorchNet& net) {
  if (dist.world_size() <= 1) return;
  torch::NoGradGuard no_grad;
  dist.broadcast_from_main(net.state_tensors());
}

std::vector<uint8_t> optimizer_state_bytes(torch::optim::Optimizer& optimizer) {
  std::ostringstream out;
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  archive.save_to(out);
  const std::string s = out.str();
  return std::vector<uint8_t>(s.begin(), s.end());
}

void load_optimizer_state(torch::optim::Optimizer& optimizer, const std::vector<uint8_t>& bytes, const std::string& source) {
  try {
    std::istringstream in(std::string(bytes.begin(), bytes.end()));
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    optimizer.load(archive);
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw Error(source + ": not an optimizer state of this run (" + what.substr(0, what.find('\n')) + ")");
  }
}

}  // namespace digitlab
