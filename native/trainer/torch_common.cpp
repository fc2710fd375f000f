#include "torch_common.h"

#include <dlfcn.h>

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

torch::Device setup_runtime(const CommonOptions& options) {
  single_threaded_blas();
  torch::manual_seed(options.seed);
  const int threads = options.threads > 0 ? options.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  const torch::Device device = select_device(options.device);
  if (device.is_cuda()) {
    std::fprintf(stderr, "device: cuda:%d (%zu GPU(s) visible)\n", int(device.index()), size_t(torch::cuda::device_count()));
  } else {
    std::fprintf(stderr, "device: cpu, %d thread(s)\n", threads);
  }
  return device;
}

Evaluation evaluate(TorchNet& net, const torch::Tensor& images, const torch::Tensor& labels, int batch,
                    const std::string& progress_label) {
  torch::NoGradGuard no_grad;
  Evaluation e;
  const int64_t n = images.size(0);
  ProgressBar bar(progress_label.empty() ? "eval" : progress_label, n);
  double loss_sum = 0;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t end = std::min<int64_t>(n, b + batch);
    const torch::Tensor logits = net.forward(rows(images, b, end), /*train=*/false);
    const torch::Tensor y = rows(labels, b, end);
    loss_sum += torch::nn::functional::cross_entropy(logits, y, torch::nn::functional::CrossEntropyFuncOptions()
                                                                    .reduction(torch::kSum)).item<double>();
    const torch::Tensor pred = logits.argmax(1).to(torch::kCPU);
    const torch::Tensor truth = y.to(torch::kCPU);
    const int64_t* p = pred.data_ptr<int64_t>();
    const int64_t* t = truth.data_ptr<int64_t>();
    for (int64_t i = 0; i < end - b; ++i) e.confusion.add(int(t[i]), int(p[i]));
    bar.update(end);
  }
  bar.finish();
  e.loss = n ? loss_sum / double(n) : 0;
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
