// The in-browser tail trainer (native and wasm): gradients agree with finite differences, training
// lowers the loss, a non-finite step restores the weights, and trained weights go back by name.
#include <cmath>
#include <cstring>

#include "digitlab/fine_tuning.h"
#include "digitlab/presets.h"
#include "digitlab/safetensors.h"
#include "tail_trainer.h"
#include "test_support.h"
#include "train_layers.h"

namespace digitlab {
namespace {

using testing::random_vector;

struct Batch {
  std::vector<float> features;
  std::vector<uint8_t> labels;
};

Batch random_batch(int features, int B, uint64_t seed) {
  Batch b{random_vector(size_t(B) * size_t(features), seed, 0.f, 2.f), {}};
  for (int i = 0; i < B; ++i) b.labels.push_back(uint8_t((i * 7 + int(seed)) % 10));
  return b;
}

TEST(TailTrainer, TrainsTheLayersAfterTheLastSpatialLayer) {
  const Model seed = init_model(preset("seed-cnn"), 1);
  TailTrainer t(seed, first_trainable_layer(seed.arch, TrainableLayers::head), OptimizerOptions{});
  EXPECT_EQ(t.input_size(), 3136);  // 64 x 7 x 7, flattened
  EXPECT_EQ(t.num_parameters(), size_t(3136 * 128 + 128 + 128 * 10 + 10));
  const Model dl = init_model(preset("digitlab-cnn"), 1);
  TailTrainer d(dl, first_trainable_layer(dl.arch, TrainableLayers::head), OptimizerOptions{});
  EXPECT_EQ(d.input_size(), 128);
  EXPECT_EQ(d.num_parameters(), size_t(128 * 10 + 10));
}

TEST(TailTrainer, GradientsMatchFiniteDifferences) {
  // keras-cnn's head: flatten 576 -> fc1 64 -> relu -> fc2 10; checked on a sample of coordinates.
  const Model m = init_model(preset("keras-cnn"), 4);
  TailTrainer t(m, first_trainable_layer(m.arch, TrainableLayers::head), OptimizerOptions{});
  const Batch b = random_batch(t.input_size(), 5, 3);
  t.forward_backward(b.features.data(), b.labels.data(), 5, false);
  const std::vector<float> analytic = t.gradients();
  const float h = 1e-3f;
  for (size_t i = 0; i < analytic.size(); i += 997) {
    std::vector<float>& p = t.parameters();
    const float saved = p[i];
    p[i] = saved + h;
    const double up = t.forward_backward(b.features.data(), b.labels.data(), 5, false);
    p[i] = saved - h;
    const double down = t.forward_backward(b.features.data(), b.labels.data(), 5, false);
    p[i] = saved;
    const double numeric = (up - down) / (2 * h);
    EXPECT_NEAR(analytic[i], numeric, 2e-3 + 0.02 * std::fabs(numeric)) << "parameter " << i;
  }
}

// Every preset's last convolution block, or every layer (batch norm folded), checked on a sample of
// coordinates: exercises the conv (incl. depthwise-separable and dilated), max-pool and
// global-average-pool backward passes.
void check_gradients_from(bool whole_network, int parameter_samples, int input_samples) {
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    const Model m = fold_batch_norm(init_model(preset(name), 5));
    TailTrainer t(m, whole_network ? 0 : first_trainable_layer(m.arch, TrainableLayers::last_block), OptimizerOptions{});
    const int B = 3;
    const Batch b = random_batch(t.input_size(), B, 8);
    t.forward_backward(b.features.data(), b.labels.data(), B, false);
    const std::vector<float> analytic = t.gradients();
    const std::vector<float> danalytic = t.input_gradient();
    const float h = 1e-3f;
    auto numeric = [&](float& x) {
      const float saved = x;
      x = saved + h;
      const double up = t.forward_backward(b.features.data(), b.labels.data(), B, false);
      x = saved - h;
      const double down = t.forward_backward(b.features.data(), b.labels.data(), B, false);
      x = saved;
      return (up - down) / (2 * h);
    };
    for (size_t i = 0; i < analytic.size(); i += 1 + analytic.size() / size_t(parameter_samples)) {
      const double n = numeric(t.parameters()[i]);
      EXPECT_NEAR(analytic[i], n, 2e-3 + 0.02 * std::fabs(n)) << "parameter " << i;
    }
    std::vector<float> inputs = b.features;
    for (size_t i = 0; i < inputs.size(); i += 1 + inputs.size() / size_t(input_samples)) {
      const float saved = inputs[i];
      inputs[i] = saved + h;
      const double up = t.forward_backward(inputs.data(), b.labels.data(), B, false);
      inputs[i] = saved - h;
      const double down = t.forward_backward(inputs.data(), b.labels.data(), B, false);
      inputs[i] = saved;
      const double n = (up - down) / (2 * h);
      EXPECT_NEAR(danalytic[i], n, 2e-3 + 0.02 * std::fabs(n)) << "input " << i;
    }
  }
}

TEST(TailTrainer, LastBlockGradientsMatchFiniteDifferences) { check_gradients_from(false, 40, 20); }
TEST(TailTrainer, WholeNetworkGradientsMatchFiniteDifferences) { check_gradients_from(true, 16, 8); }

// Every layer trained, one batch in parts of 5 + 5 + 6 (how the page keeps frames short): the
// accumulated gradients, loss and updated weights equal one step on the whole batch.
TEST(TailTrainer, AStepInPartsEqualsTheWholeStep) {
  const Model m = fold_batch_norm(init_model(preset("digitlab-cnn"), 5));
  OptimizerOptions o;
  o.kind = "sgd";
  o.lr = 0.05f;
  TailTrainer whole(m, 0, o), parts(m, 0, o);
  ASSERT_EQ(whole.input_size(), 784);
  const Batch b = random_batch(784, 16, 3);
  // Dropout would draw different masks for parts; compare its deterministic forward/backward first.
  const float loss = whole.forward_backward(b.features.data(), b.labels.data(), 16, /*dropout=*/false);
  const std::vector<float> g_whole = whole.gradients();
  parts.begin_step();
  int done = 0;
  for (int n : {5, 5, 6}) {
    std::vector<float> x(b.features.begin() + done * 784, b.features.begin() + (done + n) * 784);
    ASSERT_TRUE(parts.accumulate(x.data(), b.labels.data() + done, n, 16));
    done += n;
  }
  // accumulate() trains with dropout on; digitlab-cnn's dropout (p = 0.1) sits before the head, so
  // the comparison is made with p = 0 below instead, and here only shapes and finiteness.
  const TrainStepResult r = parts.finish_step();
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_EQ(parts.gradients().size(), g_whole.size());

  Model no_dropout = m;
  for (Layer& l : no_dropout.arch.layers)
    if (l.kind == LayerKind::dropout) l.p = 0.f;
  TailTrainer a(no_dropout, 0, o), c(no_dropout, 0, o);
  const TrainStepResult ra = a.train_step(b.features.data(), b.labels.data(), 16);
  c.begin_step();
  done = 0;
  for (int n : {5, 5, 6}) {
    ASSERT_TRUE(c.accumulate(b.features.data() + done * 784, b.labels.data() + done, n, 16));
    done += n;
  }
  const TrainStepResult rc = c.finish_step();
  ASSERT_TRUE(ra.ok && rc.ok);
  EXPECT_NEAR(ra.loss, rc.loss, 1e-5);
  EXPECT_NEAR(ra.loss, loss, 1e-5);
  EXPECT_EQ(ra.correct, rc.correct);
  EXPECT_LE(testing::relative_error(c.gradients(), a.gradients()), 1e-5);
  EXPECT_LE(testing::relative_error(c.parameters(), a.parameters()), 1e-6);
}

// Whole-network training on 1, 2 and 4 threads: the same losses and, after a few Adam steps with
// dropout, the same weights bit for bit (the products split into fixed row ranges; task_runner.h).
TEST(TailTrainer, StepsOnOneTwoAndFourThreadsGiveTheSameWeights) {
  if (!testing::kThreadsAvailable) GTEST_SKIP() << "a single-threaded wasm build";
  for (const char* name : {"seed-cnn", "digitlab-cnn"}) {
    const Model m = fold_batch_norm(init_model(preset(name), 6));
    OptimizerOptions o;  // the page's default: Adam
    const Batch b = random_batch(784, 32, 4);
    std::vector<float> want;
    std::vector<float> losses;
    for (int threads : {1, 2, 4}) {
      ThreadPoolRunner pool(threads);
      TailTrainer t(m, 0, o, /*seed=*/3);
      t.set_runner(&pool);
      EXPECT_EQ(t.threads(), threads);
      std::vector<float> l;
      for (int step = 0; step < 3; ++step) l.push_back(t.train_step(b.features.data(), b.labels.data(), 32).loss);
      if (want.empty()) {
        want = t.parameters();
        losses = l;
        continue;
      }
      EXPECT_EQ(l, losses) << name << " on " << threads << " threads";
      ASSERT_EQ(t.parameters().size(), want.size());
      EXPECT_EQ(0, std::memcmp(t.parameters().data(), want.data(), want.size() * sizeof(float)))
          << name << " on " << threads << " threads";
    }
  }
}

TEST(TailTrainer, ANonFinitePartVoidsTheWholeStep) {
  const Model m = init_model(preset("keras-cnn"), 2);
  TailTrainer t(m, 0, OptimizerOptions{});
  const std::vector<float> before = t.parameters();
  Batch b = random_batch(784, 8, 4);
  b.features[5 * 784 + 3] = NAN;  // in the second part
  t.begin_step();
  EXPECT_TRUE(t.accumulate(b.features.data(), b.labels.data(), 4, 8));
  EXPECT_FALSE(t.accumulate(b.features.data() + 4 * 784, b.labels.data() + 4, 4, 8));
  EXPECT_FALSE(t.finish_step().ok);
  EXPECT_EQ(t.parameters(), before);
  EXPECT_ERROR_CONTAINS(t.accumulate(b.features.data(), b.labels.data(), 9, 8), "larger than its batch of 8");
}

TEST(TailTrainer, RefusesUnfoldedBatchNorm) {
  const Model m = init_model(preset("digitlab-cnn"), 1);
  EXPECT_ERROR_CONTAINS(TailTrainer(m, 0, OptimizerOptions{}), "fold batch norm");
}

TEST(TailTrainer, TrainingLowersTheLossOnAFixedBatch) {
  for (const char* kind : {"adam", "sgd"}) {
    SCOPED_TRACE(kind);
    OptimizerOptions o;
    o.kind = kind;
    o.lr = std::string(kind) == "adam" ? 1e-3f : 0.05f;
    const Model m = init_model(preset("seed-cnn"), 2);
    TailTrainer t(m, first_trainable_layer(m.arch, TrainableLayers::head), o);
    const Batch b = random_batch(t.input_size(), 32, 5);
    const float first = t.train_step(b.features.data(), b.labels.data(), 32).loss;
    float last = first;
    for (int i = 0; i < 30; ++i) last = t.train_step(b.features.data(), b.labels.data(), 32).loss;
    EXPECT_LT(last, 0.5f * first);
  }
}

TEST(TailTrainer, NonFiniteStepRestoresTheWeights) {
  OptimizerOptions o;
  o.kind = "sgd";
  const Model m = init_model(preset("keras-cnn"), 2);
  TailTrainer t(m, first_trainable_layer(m.arch, TrainableLayers::head), o);
  Batch b = random_batch(t.input_size(), 8, 9);
  for (float& f : b.features) f *= 3e38f;  // inputs overflow to inf
  const std::vector<float> before = t.parameters();
  const TrainStepResult s = t.train_step(b.features.data(), b.labels.data(), 8);
  EXPECT_FALSE(s.ok) << "loss " << s.loss;
  EXPECT_EQ(t.parameters(), before);
  b.features[0] = NAN;
  EXPECT_FALSE(t.train_step(b.features.data(), b.labels.data(), 8).ok);
  EXPECT_EQ(t.parameters(), before);
  // Finite but huge inputs, absurd learning rate: the loss or the weights overflow; the step is undone.
  OptimizerOptions wild;
  wild.kind = "sgd";
  wild.lr = 9.f;
  TailTrainer u(m, first_trainable_layer(m.arch, TrainableLayers::head), wild);
  Batch c = random_batch(u.input_size(), 8, 9);
  for (float& f : c.features) f *= 1e38f;  // still finite (max 2e38)
  const std::vector<float> start = u.parameters();
  const TrainStepResult bad = u.train_step(c.features.data(), c.labels.data(), 8);
  EXPECT_FALSE(bad.ok) << "loss " << bad.loss;
  EXPECT_EQ(u.parameters(), start);
}

TEST(TailTrainer, RejectsBadBatchesAndLabels) {
  const Model m = init_model(preset("dsconv"), 2);
  TailTrainer t(m, first_trainable_layer(m.arch, TrainableLayers::head), OptimizerOptions{});
  Batch b = random_batch(t.input_size(), 4, 1);
  EXPECT_ERROR_CONTAINS(t.train_step(b.features.data(), b.labels.data(), 0), "batch size");
  b.labels[2] = 10;
  EXPECT_ERROR_CONTAINS(t.train_step(b.features.data(), b.labels.data(), 4), "label 10");
  OptimizerOptions bad;
  bad.kind = "rmsprop";
  EXPECT_ERROR_CONTAINS(TailTrainer(init_model(preset("dsconv"), 2), 0, bad), "rmsprop");
}

TEST(TailTrainer, TrainedWeightsGoBackUnderTheirNames) {
  Model m = init_model(preset("digitlab-cnn"), 6);
  TailTrainer t(m, first_trainable_layer(m.arch, TrainableLayers::head), OptimizerOptions{});
  const Batch b = random_batch(t.input_size(), 16, 2);
  for (int i = 0; i < 5; ++i) t.train_step(b.features.data(), b.labels.data(), 16);
  const std::vector<float> before_fc = m.params.at("fc.weight").data;
  t.write_to(m);
  EXPECT_NE(m.params.at("fc.weight").data, before_fc);
  EXPECT_EQ(std::vector<float>(t.parameters().begin(), t.parameters().begin() + 1280), m.params.at("fc.weight").data);
  const Model back = decode_model(encode_model(m).data(), encode_model(m).size());  // still a valid model
  EXPECT_EQ(back.params.at("fc.bias").data, m.params.at("fc.bias").data);
}

}  // namespace
}  // namespace digitlab
