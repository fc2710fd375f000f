#include "torch_common.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <thread>

#include "digitlab/error.h"
#include "progress.h"

namespace digitlab {

// LibTorch already splits work across OpenMP threads; OpenBLAS's own thread pool on top of that
// oversubscribes the cores and spins in sched_yield. Measured here (seed-cnn, batch 64, 2 cores):
// 1,800 img/s with OpenBLAS threads, 2,900 img/s without. The environment variable is read when the
// library loads, before main, hence the call (when the BLAS in use is OpenBLAS).
void single_threaded_blas() {
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(1);
}

torch::Device setup_runtime(const CommonOptions& options, const DistributedEnv& env) {
  single_threaded_blas();
  torch::manual_seed(options.seed);
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = options.threads > 0 ? options.threads : std::max(1, cores / std::max(1, env.local_world_size));
  torch::set_num_threads(threads);
  torch::Device device = select_device(options.device, env.local_rank);
  const bool quiet = env.present && env.rank != 0;
  if (quiet) return device;
  if (device.is_cuda()) {
    std::fprintf(stderr, "device: cuda:%d (%zu GPU(s) visible)%s\n", int(device.index()), size_t(torch::cuda::device_count()),
                 env.present ? ", each rank on GPU LOCAL_RANK" : "");
  } else {
    std::fprintf(stderr, "device: cpu, %d thread(s)%s\n", threads, env.present ? " per rank" : "");
  }
  return device;
}

Evaluation evaluate(TorchNet& net, const torch::Tensor& all_images, const torch::Tensor& all_labels, int batch,
                    const std::string& progress_label, Distributed* dist) {
  torch::NoGradGuard no_grad;
  Evaluation e;
  const bool shared = dist && dist->world_size() > 1;
  if (shared) dist->broadcast_from_main(net.buffers());  // score the model rank 0 saves
  const int64_t rank = shared ? dist->rank() : 0, world = shared ? dist->world_size() : 1;
  const torch::Tensor images = all_images.slice(0, rank, all_images.size(0), world);
  const torch::Tensor labels = all_labels.slice(0, rank, all_labels.size(0), world);
  const int64_t n = images.size(0);
  ProgressBar bar(progress_label.empty() ? "eval" : progress_label, n * world, "img", rank == 0);
  double loss_sum = 0;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t end = std::min<int64_t>(n, b + batch);
    const torch::Tensor logits = net.forward(rows(images, b, end), /*train=*/false);
    const torch::Tensor y = rows(labels, b, end);
    loss_sum += torch::nn::functional::cross_entropy(logits, y, torch::nn::functional::CrossEntropyFuncOptions()
                                                                    .reduction(torch::kSum)).item<double>();
    const torch::Tensor pred = logits.argmax(1).to(torch::kCPU).contiguous();
    const torch::Tensor truth = y.to(torch::kCPU).contiguous();  // a rank's share is a strided view
    const int64_t* p = pred.data_ptr<int64_t>();
    const int64_t* t = truth.data_ptr<int64_t>();
    for (int64_t i = 0; i < end - b; ++i) e.confusion.add(int(t[i]), int(p[i]));
    bar.update(end * world);
  }
  bar.finish();
  int64_t total = n;
  if (shared) {  // the counts and the loss of every rank's share, added up
    torch::Tensor sums = torch::zeros({102}, torch::kFloat64);
    auto* s = sums.data_ptr<double>();
    for (int i = 0; i < 100; ++i) s[i] = double(e.confusion.counts[size_t(i / 10)][size_t(i % 10)]);
    s[100] = loss_sum;
    s[101] = double(n);
    sums = sums.to(net.device());
    dist->all_reduce_sum(sums);
    sums = sums.to(torch::kCPU);
    s = sums.data_ptr<double>();
    for (int i = 0; i < 100; ++i) e.confusion.counts[size_t(i / 10)][size_t(i % 10)] = int64_t(std::llround(s[i]));
    loss_sum = s[100];
    total = int64_t(std::llround(s[101]));
  }
  e.loss = total ? loss_sum / double(total) : 0;
  return e;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, std::vector<torch::Tensor> params,
                                                        double lr, double momentum, double weight_decay) {
  if (params.empty()) throw Error("nothing to train: every layer is frozen");
  if (name == "adam") {
    return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(lr).weight_decay(weight_decay));
  }
  if (name == "adamw") {
    return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(lr).weight_decay(weight_decay));
  }
  if (name == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(lr).momentum(momentum).weight_decay(weight_decay));
  }
  throw Error("--optimizer must be adam, adamw or sgd (got '" + name + "')");
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace digitlab
