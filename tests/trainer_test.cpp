// The trainer learns: it overfits a tiny batch, reaches 95% after a short CPU run, and fine-tuning on
// a consistently shifted sample set helps on that shift without forgetting MNIST.
#include <torch/torch.h>

#include <cmath>

#include "digitlab/idx.h"
#include "digitlab/presets.h"
#include "digitlab/safetensors.h"
#include "test_support.h"
#include "torch_common.h"
#include "trainer.h"

namespace digitlab {
namespace {

TEST(Trainer, OverfitsATinyBatch) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const Dataset train = load_mnist(dir, MnistSplit::train).slice(0, 32);
  torch::manual_seed(3);
  TorchNet net(init_model(preset("seed-cnn"), 3), torch::kCPU);
  auto opt = make_optimizer("adam", net.trainable_parameters(), 1e-3, 0.9, 0);
  const torch::Tensor x = dataset_images(train, torch::kCPU), y = dataset_labels(train, torch::kCPU);
  for (int step = 0; step < 60; ++step) {
    opt->zero_grad();
    torch::nn::functional::cross_entropy(net.forward(x, true), y).backward();
    opt->step();
  }
  EXPECT_EQ(evaluate(net, x, y, 32).confusion.accuracy(), 1.0);
}

// Two epochs of seed-cnn on the first `limit` MNIST training images, without augmentation.
TrainOptions short_seed_cnn_run(const std::string& mnist, int limit, int val, const std::string& out) {
  TrainOptions o;
  o.arch = "seed-cnn";
  o.data_dir = mnist;
  o.limit = limit;
  o.val = val;
  o.epochs = 2;
  o.batch = 64;
  o.augment = "none";
  o.out = testing::output_path(out);
  return o;
}

TEST(Trainer, ShortCpuRunReaches95PercentOn1000TestImages) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const TrainOptions o = short_seed_cnn_run(dir, 5000, 500, "short_run.safetensors");
  const TrainReport r = run_train(o);
  EXPECT_EQ(r.epochs, 2);

  const Dataset test = load_mnist(dir, MnistSplit::test).slice(0, 1000);
  TorchNet net(load_model_file(o.out), torch::kCPU);
  const double acc = evaluate(net, dataset_images(test, torch::kCPU), dataset_labels(test, torch::kCPU), 500)
                         .confusion.accuracy();
  EXPECT_GE(acc, 0.95);
  // The written model records how it was made.
  const Model m = load_model_file(o.out);
  EXPECT_EQ(m.provenance.at("train_images"), "4500");
  EXPECT_EQ(m.arch.name, "seed-cnn");
}

// A fixed "handwriting style" no MNIST digit has: rotated 35 degrees and shifted 3 px right.
Dataset shifted_digits(const Dataset& src, size_t first, size_t count) {
  Dataset d = src.slice(first, count);
  torch::Tensor x = dataset_images(d, torch::kCPU);
  const double a = 35.0 * 3.14159265 / 180;
  const torch::Tensor theta = torch::tensor({{std::cos(a), -std::sin(a), -3.0 / 14}, {std::sin(a), std::cos(a), 0.0}},
                                            torch::kFloat32).expand({long(count), 2, 3});
  namespace F = torch::nn::functional;
  x = F::grid_sample(x, F::affine_grid(theta, x.sizes(), false), F::GridSampleFuncOptions().align_corners(false));
  const torch::Tensor bytes = (x * 255).round().clamp(0, 255).to(torch::kUInt8).contiguous();
  std::memcpy(d.images.data(), bytes.data_ptr<uint8_t>(), d.images.size());
  return d;
}

TEST(Trainer, FinetuningOnAShiftedStyleHelpsWithoutForgetting) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const TrainOptions t = short_seed_cnn_run(dir, 12000, 0, "finetune_base.safetensors");
  run_train(t);

  const Dataset train = load_mnist(dir, MnistSplit::train);
  const Dataset samples = shifted_digits(train, 50000, 300);  // digits the base never saw
  const std::string images = testing::output_path("shifted-images.idx"), labels = testing::output_path("shifted-labels.idx");
  save_dataset(samples, images, labels, false);

  FineTuneOptions f;
  f.model = t.out;
  f.samples_images = images;
  f.samples_labels = labels;
  f.data_dir = dir;
  f.freeze = "none";
  f.replay = 2000;
  f.epochs = 8;
  f.holdout = 0.3;
  f.out = testing::output_path("finetuned.safetensors");
  const FineTuneReport r = run_fine_tune(f);
  std::printf("held-out shifted: %.3f -> %.3f, MNIST test: %.4f -> %.4f\n", r.heldout_before, r.heldout_after,
              r.mnist_before, r.mnist_after);
  EXPECT_GE(r.heldout_after, r.heldout_before + 0.15);  // "substantially": at least 15 points
  EXPECT_GT(r.mnist_after, r.mnist_before - 0.01);       // forgets less than one point
  EXPECT_EQ(load_model_file(f.out).provenance.at("finetuned_from"), t.out);
}

}  // namespace
}  // namespace digitlab
