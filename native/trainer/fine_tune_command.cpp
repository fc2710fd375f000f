// `digitlab finetune`: personalise a trained model on a person's samples without forgetting MNIST.
#include <cmath>
#include <cstdio>

#include "augment.h"
#include "digitlab/error.h"
#include "digitlab/fine_tuning.h"
#include "digitlab/safetensors.h"
#include "torch_common.h"

namespace digitlab {
namespace {

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

FineTuneReport run_fine_tune(const FineTuneOptions& o) {
  const Model base = load_model_file(o.model);
  const Dataset samples = load_dataset(o.samples_images, o.samples_labels);
  check_fine_tune_samples(base.arch, samples, o.samples_images);
  const AugmentOptions augment = parse_augment_options(o.augment);
  const size_t first_trainable = first_trainable_layer_after_freeze(base.arch, o.freeze);
  const torch::Device device = setup_runtime(o.common);

  // Hold out a share of the samples (shuffled with the seed) to measure what fine-tuning did: the
  // same split the page makes.
  uint64_t split_rng = o.common.seed;
  const SampleSplit split = split_samples(samples.size(), o.holdout, split_rng);
  const auto take = [&](const std::vector<uint32_t>& which, torch::Tensor& x, torch::Tensor& y) {
    std::vector<int64_t> idx(which.begin(), which.end());
    const torch::Tensor order = torch::tensor(idx, torch::kInt64);
    x = dataset_images(samples, torch::kCPU).index_select(0, order).to(device);
    y = dataset_labels(samples, torch::kCPU).index_select(0, order).to(device);
  };
  torch::Tensor train_x, train_y, hold_x, hold_y;
  take(split.train, train_x, train_y);
  take(split.heldout, hold_x, hold_y);
  const int64_t n = int64_t(samples.size()), n_hold = int64_t(split.heldout.size());
  torch::manual_seed(o.common.seed);

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
  return FineTuneReport{before_hold, after_hold, before_train, after_train, before_test, after_test};
}

}  // namespace digitlab
