// `digitlab finetune`: personalise a trained model on a person's samples without forgetting MNIST.
#include <cmath>
#include <cstdio>

#include "augment.h"
#include "digitlab/error.h"
#include "digitlab/safetensors.h"
#include "torch_common.h"

namespace digitlab {
namespace {

// Index of the first layer that trains, from the --freeze choice.
size_t first_trainable_layer(const Architecture& arch, const std::string& freeze) {
  const auto& L = arch.layers;
  if (freeze == "none") return 0;
  if (freeze == "convs") {
    size_t first = 0;
    for (size_t i = 0; i < L.size(); ++i) {
      if (L[i].kind == LayerKind::conv2d || L[i].kind == LayerKind::batch_norm2d) first = i + 1;
    }
    return first;
  }
  if (freeze == "all-but-last") {
    for (size_t i = L.size(); i-- > 0;) {
      if (L[i].kind == LayerKind::linear) return i;
    }
  }
  std::string names;
  for (size_t i = 0; i < L.size(); ++i) {
    if (L[i].name.empty()) continue;
    if (L[i].name == freeze) return i + 1;
    names += (names.empty() ? "" : ", ") + L[i].name;
  }
  throw Error("--freeze: '" + freeze + "' is not convs, none, all-but-last or a layer of " + arch.name + " (" + names + ")");
}

double accuracy_of(TorchNet& net, const torch::Tensor& x, const torch::Tensor& y) {
  if (!x.defined() || x.size(0) == 0) return NAN;
  return evaluate(net, x, y, 500).confusion.accuracy();
}

std::string percent(double v) {
  if (std::isnan(v)) return "   n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%6.2f%%", 100 * v);
  return buf;
}

}  // namespace

FinetuneReport run_finetune(const FinetuneOptions& o) {
  const Model base = load_model_file(o.model);
  const Dataset samples = load_dataset(o.samples_images, o.samples_labels);
  if (samples.size() == 0) throw Error("the sample set " + o.samples_images + " is empty: label some digits first");
  if (samples.rows != base.arch.input.h || samples.cols != base.arch.input.w) {
    throw Error("samples are " + std::to_string(samples.rows) + "x" + std::to_string(samples.cols) + " images; " +
                base.arch.name + " takes " + std::to_string(base.arch.input.h) + "x" + std::to_string(base.arch.input.w));
  }
  const AugmentOptions augment = parse_augment_options(o.augment);
  const size_t first_trainable = first_trainable_layer(base.arch, o.freeze);
  const torch::Device device = setup_runtime(o.common);

  // Hold out a share of the samples (shuffled with the seed) to measure what fine-tuning did.
  const int64_t n = int64_t(samples.size());
  int64_t n_hold = int64_t(std::floor(double(n) * o.holdout));
  if (o.holdout > 0 && n >= 5 && n_hold == 0) n_hold = 1;
  if (n - n_hold < 1) throw Error("no samples left to train on after holding out " + std::to_string(n_hold));
  torch::manual_seed(o.common.seed);
  const torch::Tensor order = torch::randperm(n, torch::kInt64);
  const torch::Tensor sx = dataset_images(samples, torch::kCPU).index_select(0, order).to(device);
  const torch::Tensor sy = dataset_labels(samples, torch::kCPU).index_select(0, order).to(device);
  const torch::Tensor train_x = rows(sx, 0, n - n_hold), train_y = rows(sy, 0, n - n_hold);
  const torch::Tensor hold_x = rows(sx, n - n_hold, n), hold_y = rows(sy, n - n_hold, n);

  const Dataset mnist_train = load_mnist(o.data_dir, MnistSplit::train);
  const Dataset mnist_test = load_mnist(o.data_dir, MnistSplit::test);
  const torch::Tensor test_x = dataset_images(mnist_test, device), test_y = dataset_labels(mnist_test, device);
  torch::Tensor replay_x, replay_y;
  if (o.replay > 0) {
    const torch::Tensor pick = torch::randperm(int64_t(mnist_train.size()), torch::kInt64).slice(0, 0, o.replay);
    replay_x = dataset_images(mnist_train, torch::kCPU).index_select(0, pick).to(device);
    replay_y = dataset_labels(mnist_train, torch::kCPU).index_select(0, pick).to(device);
  }
  const torch::Tensor all_x = o.replay > 0 ? torch::cat({train_x, replay_x}) : train_x;
  const torch::Tensor all_y = o.replay > 0 ? torch::cat({train_y, replay_y}) : train_y;

  TorchNet net(base, device);
  net.set_first_trainable_layer(first_trainable);
  if (o.reset_head) {
    for (auto it = base.arch.layers.rbegin(); it != base.arch.layers.rend(); ++it) {
      if (it->kind == LayerKind::linear) {
        net.reinitialize_layer(it->name, o.common.seed);
        break;
      }
    }
  }
  const double before_hold = accuracy_of(net, hold_x, hold_y), before_train = accuracy_of(net, train_x, train_y);
  const double before_test = accuracy_of(net, test_x, test_y);
  std::fprintf(stderr, "finetune %s: %lld samples (%lld train, %lld held out) + %d MNIST replay digits, layers %zu.. of %zu train\n",
               base.arch.name.c_str(), (long long)n, (long long)(n - n_hold), (long long)n_hold, o.replay,
               first_trainable, base.arch.layers.size());

  auto optimizer = make_optimizer("adam", net.trainable_parameters(), o.lr, 0.9, o.weight_decay);
  const int64_t total = all_x.size(0);
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const torch::Tensor perm = torch::randperm(total, torch::TensorOptions().dtype(torch::kInt64).device(device));
    double loss_sum = 0;
    for (int64_t b = 0; b < total; b += o.batch) {
      const torch::Tensor idx = rows(perm, b, std::min<int64_t>(total, b + o.batch));
      const torch::Tensor x = augment_batch(all_x.index_select(0, idx), augment);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(net.forward(x, true), all_y.index_select(0, idx));
      const double v = loss.item<double>();
      if (!std::isfinite(v)) {
        throw Error("loss became " + std::to_string(v) + " in epoch " + std::to_string(epoch) +
                    " (try a lower --lr); " + o.out + " was not written and " + o.model + " is unchanged");
      }
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
      loss_sum += v * double(idx.size(0));
    }
    std::printf("epoch %3d/%d  loss %.4f\n", epoch, o.epochs, loss_sum / double(total));
    std::fflush(stdout);
  }

  const double after_hold = accuracy_of(net, hold_x, hold_y), after_train = accuracy_of(net, train_x, train_y);
  const double after_test = accuracy_of(net, test_x, test_y);
  std::printf("\n%-26s %8s %8s\n", "accuracy", "before", "after");
  std::printf("%-26s %8s %8s\n", "held-out samples", percent(before_hold).c_str(), percent(after_hold).c_str());
  std::printf("%-26s %8s %8s\n", "training samples", percent(before_train).c_str(), percent(after_train).c_str());
  std::printf("%-26s %8s %8s\n", "MNIST test set", percent(before_test).c_str(), percent(after_test).c_str());

  Model tuned = net.to_model();
  tuned.provenance["finetuned_from"] = o.model;
  tuned.provenance["finetune_command"] = o.command_line;
  tuned.provenance["finetune_samples"] = std::to_string(n - n_hold);
  tuned.provenance["finetune_replay"] = std::to_string(o.replay);
  tuned.provenance["finetune_epochs"] = std::to_string(o.epochs);
  tuned.provenance["test_accuracy"] = std::to_string(after_test);
  save_model_file(tuned, o.out);
  std::printf("wrote %s\n", o.out.c_str());
  return FinetuneReport{before_hold, after_hold, before_train, after_train, before_test, after_test};
}

}  // namespace digitlab
