// `digitlab finetune`: personalise a trained model on a person's samples without forgetting MNIST.
#include <cmath>
#include <cstdio>

#include "augment.h"
#include "data_parallel.h"
#include "digitlab/error.h"
#include "digitlab/fine_tuning.h"
#include "digitlab/idx.h"
#include "digitlab/safetensors.h"
#include "torch_common.h"

namespace digitlab {
namespace {

double accuracy_of(TorchNet& net, const torch::Tensor& x, const torch::Tensor& y, Distributed& dist) {
  if (!x.defined() || x.size(0) == 0) return NAN;
  return evaluate(net, x, y, 500, "", &dist).confusion.accuracy();
}

// The base model and the samples are rank 0's files: it reads and checks them, every rank gets the
// same bytes (or rank 0's error).
struct Inputs {
  Model base;
  Dataset samples;
};
Inputs read_inputs(const FineTuneOptions& o, Distributed& dist) {
  Inputs in;
  const std::vector<uint8_t> model = dist.share_what_main_reads("finetune/model", [&] {
    in.base = load_model_file(o.model);
    in.samples = load_dataset(o.samples_images, o.samples_labels);
    check_fine_tune_samples(in.base.arch, in.samples, o.samples_images);
    return encode_model(in.base);
  });
  if (dist.world_size() <= 1) return in;
  const Dataset& d = in.samples;
  const std::vector<uint8_t> images = dist.share_from_main(
      "finetune/images", dist.is_main() ? encode_idx(IdxArray{{uint32_t(d.size()), uint32_t(d.rows), uint32_t(d.cols)}, d.images}, false)
                                        : std::vector<uint8_t>{});
  const std::vector<uint8_t> labels =
      dist.share_from_main("finetune/labels", dist.is_main() ? encode_idx(IdxArray{{uint32_t(d.size())}, d.labels}, false) : std::vector<uint8_t>{});
  if (!dist.is_main()) {
    in.base = decode_model(model.data(), model.size());
    in.samples = dataset_from_idx(decode_idx(images.data(), images.size()), decode_idx(labels.data(), labels.size()));
  }
  return in;
}

std::string percent(double v) {
  if (std::isnan(v)) return "   n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%6.2f%%", 100 * v);
  return buf;
}

}  // namespace

FineTuneReport run_fine_tune(const FineTuneOptions& o) {
  const DistributedEnv env = read_distributed_env();
  const AugmentOptions augment = parse_augment_options(o.augment);
  const torch::Device device = setup_runtime(o.common, env);
  const std::unique_ptr<Distributed> job = join_job(env, o.distributed, device);
  Distributed& dist = *job;
  const bool main = dist.is_main();
  const Inputs in = read_inputs(o, dist);
  const Model& base = in.base;
  const Dataset& samples = in.samples;
  const size_t first_trainable = first_trainable_layer_after_freeze(base.arch, o.freeze);

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
  broadcast_network(dist, net);
  const double before_hold = accuracy_of(net, hold_x, hold_y, dist), before_train = accuracy_of(net, train_x, train_y, dist);
  const double before_test = accuracy_of(net, test_x, test_y, dist);
  if (main)
    std::fprintf(stderr, "finetune %s: %lld samples (%lld train, %lld held out) + %d MNIST replay digits, layers %zu.. of %zu train%s\n",
                 base.arch.name.c_str(), (long long)n, (long long)(n - n_hold), (long long)n_hold, o.replay, first_trainable,
                 base.arch.layers.size(),
                 dist.world_size() > 1 ? (", batch " + std::to_string(o.batch) + " per rank x " + std::to_string(dist.world_size())).c_str() : "");

  auto optimizer = make_optimizer("adam", net.trainable_parameters(), o.lr, 0.9, o.weight_decay);
  DataParallelStep step(dist, net, *optimizer, size_t(o.distributed.bucket_kb) * 1024);
  const int64_t total = all_x.size(0);
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const torch::Tensor perm = torch::randperm(total, torch::kInt64);  // on the CPU: the same on every rank
    const torch::Tensor shard = shard_for_rank(perm, dist.rank(), dist.world_size()).to(device);
    StepTotals epoch_totals;
    for (int64_t b = 0; b < shard.size(0); b += o.batch) {
      const torch::Tensor idx = rows(shard, b, std::min<int64_t>(shard.size(0), b + o.batch));
      const StepTotals t = step.step(augment_batch(all_x.index_select(0, idx), augment), all_y.index_select(0, idx), 0.0,
                                     "in epoch " + std::to_string(epoch) + " (try a lower --lr); " + o.out +
                                         " was not written and " + o.model + " is unchanged");
      epoch_totals.loss_sum += t.loss_sum;
      epoch_totals.images += t.images;
    }
    if (main) {
      std::printf("epoch %3d/%d  loss %.4f\n", epoch, o.epochs, epoch_totals.mean_loss());
      std::fflush(stdout);
    }
  }

  const double after_hold = accuracy_of(net, hold_x, hold_y, dist), after_train = accuracy_of(net, train_x, train_y, dist);
  const double after_test = accuracy_of(net, test_x, test_y, dist);
  const FineTuneReport report{before_hold, after_hold, before_train, after_train, before_test, after_test};
  if (!main) return report;  // rank 0 reports and writes the model
  if (dist.world_size() > 1) std::printf("%s\n", step.communication_summary().c_str());
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
  return report;
}

}  // namespace digitlab
