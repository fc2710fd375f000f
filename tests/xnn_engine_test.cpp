// The XNNPACK engine against the reference forward pass, in XNNPACK's tester style: every preset with
// random weights (batch-norm statistics too, so folding is exercised) at several batch sizes, odd
// layer sequences, bad weights and batches, and trained models on real MNIST when they exist.
// Runs natively and, compiled to wasm, under node.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>

#include "digitlab/file_io.h"
#include "digitlab/idx.h"
#include "digitlab/presets.h"
#include "digitlab/reference.h"
#include "digitlab/safetensors.h"
#include "test_support.h"
#include "xnn_engine.h"

namespace digitlab {
namespace {

using namespace testing;  // random_vector, max_abs_diff, ...

// init_model's weights, with batch-norm layers moved away from the identity.
Model random_model(const Architecture& arch, uint64_t seed) {
  Model m = init_model(arch, seed);
  for (const Layer& l : arch.layers) {
    if (l.kind != LayerKind::batch_norm2d) continue;
    auto fill = [&](const char* what, float lo, float hi) {
      std::vector<float>& v = m.params.at(l.name + "." + what).data;
      v = random_vector(v.size(), ++seed, lo, hi);
    };
    fill("weight", 0.5f, 1.5f);
    fill("bias", -0.5f, 0.5f);
    fill("running_mean", -0.5f, 0.5f);
    fill("running_var", 0.5f, 2.f);
  }
  return m;
}

std::vector<float> slice(const std::vector<float>& v, int batch, int per_item) {
  return std::vector<float>(v.begin(), v.begin() + size_t(batch) * per_item);
}

class EngineTester {
 public:
  EngineTester& architecture(Architecture arch) { arch_ = std::move(arch); return *this; }
  // Batch sizes of consecutive forward calls on one engine.
  EngineTester& batches(std::vector<int> b) { batches_ = std::move(b); return *this; }
  EngineTester& options(XnnEngine::Options o) { options_ = o; return *this; }

  void test() const {
    const Model model = random_model(arch_, 7);
    const int largest = *std::max_element(batches_.begin(), batches_.end());
    const int classes = arch_.num_classes;
    const auto pixels = random_vector(size_t(largest) * arch_.input.size(), 11, 0.f, 1.f);
    // The reference treats images independently, so its first b rows are its answer for batch b.
    const std::vector<float> expected = reference_forward(model, pixels.data(), largest);

    XnnEngine engine(model, options_);
    const char* algorithm = options_.convolutions == XnnEngine::Convolutions::winograd ? " (Winograd)" : "";
    std::map<int, std::vector<float>> first_at_size;
    for (int b : batches_) {
      const std::vector<float> logits = engine.forward(pixels.data(), b);
      const float diff = max_abs_diff(logits, slice(expected, b, classes));
      std::printf("[ parity   ] %-14s batch %3d: max abs diff %.3g%s\n", arch_.name.c_str(), b, diff, algorithm);
      EXPECT_LE(diff, 1e-4f) << arch_.name << " at batch " << b;
      // A repeated size reuses reshaped operators and buffers: the very same numbers.
      auto [first, inserted] = first_at_size.emplace(b, logits);
      if (!inserted) {
        EXPECT_EQ(logits, first->second) << arch_.name << " at batch " << b;
      }
    }
  }

 private:
  Architecture arch_;
  std::vector<int> batches_ = {1};
  XnnEngine::Options options_;
};

const XnnEngine::Options kWinograd{XnnEngine::Convolutions::winograd};

class XnnEngineParity : public ::testing::TestWithParam<std::string> {};

TEST_P(XnnEngineParity, Batch1) { EngineTester().architecture(preset(GetParam())).batches({1}).test(); }
TEST_P(XnnEngineParity, Batch64) { EngineTester().architecture(preset(GetParam())).batches({64}).test(); }
TEST_P(XnnEngineParity, AlternatingBatchSizes) {
  EngineTester().architecture(preset(GetParam())).batches({64, 1, 7, 64, 1, 7}).test();
}

TEST_P(XnnEngineParity, WinogradAtAlternatingBatchSizes) {
  EngineTester().architecture(preset(GetParam())).options(kWinograd).batches({64, 1, 7, 64, 1}).test();
}

INSTANTIATE_TEST_SUITE_P(Presets, XnnEngineParity, ::testing::ValuesIn(preset_names()),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) if (c == '-') c = '_';
                           return name;
                         });

// ReLUs the engine cannot fuse (on the input, after global pooling), ReLU after max pooling and after
// a flatten, a 1x1 max pool, linear without bias, a multi-channel input, a 2x2 map flattened into a
// linear layer, and a network whose output is a flattened 2x5 map.
TEST(XnnEngine, OddLayerSequences) {
  Architecture a;
  a.name = "odd";
  a.input = {2, 9, 9};
  a.num_classes = 4;
  Layer fc = linear("fc2", 6, 4);
  fc.bias = false;
  Layer identity_pool = max_pool2d(1);
  a.layers = {relu(), conv2d("conv1", 2, 8, 3, 1, 2), identity_pool, max_pool2d(2), relu(), dropout(0.1f),
              conv2d("conv2", 8, 6, 1), flatten(), relu(), linear("fc1", 6 * 2 * 2, 6), relu(), fc};
  EngineTester().architecture(a).batches({3, 1, 3}).test();

  Architecture b = a;
  b.name = "gap-relu";
  b.layers = {conv2d("conv1", 2, 8, 3), global_avg_pool(), relu(), flatten(), global_avg_pool(), linear("fc1", 8, 4)};
  EngineTester().architecture(b).batches({5, 2}).test();

  Architecture c = a;
  c.name = "flatten-last";
  c.input = {1, 5, 1};
  c.num_classes = 10;
  c.layers = {conv2d("conv1", 1, 2, 1), flatten(), relu()};
  EngineTester().architecture(c).batches({2, 1}).test();
}

TEST(XnnEngine, StepsDescribeFusedOperators) {
  Architecture a;
  a.name = "small-bn";
  a.input = {1, 8, 8};
  a.layers = {conv2d("conv1", 1, 4, 3, 1, 1, 1, 1, false), batch_norm2d("bn1", 4), relu(), max_pool2d(2),
              conv2d("conv2", 4, 6, 3, 1, 1, 1, 1, false), batch_norm2d("bn2", 6), relu(),
              global_avg_pool(), dropout(0.1f), linear("fc", 6, 10)};
  XnnEngine engine(random_model(a, 1));
  const auto steps = engine.steps();
  ASSERT_EQ(steps.size(), 5u);  // batch norms folded, ReLUs fused, dropout runs nothing
  EXPECT_EQ(steps[0].description, describe(engine.architecture().layers[0]) + " + relu");
  EXPECT_EQ(steps[0].output, (Shape{4, 8, 8}));
  EXPECT_EQ(steps[3].output, (Shape{6, 1, 1}));
  EXPECT_EQ(steps[4].output, (Shape{10, 1, 1}));
  const std::vector<float> pixels(2 * 64, 0.25f);
  EXPECT_EQ(engine.activation(0), nullptr);  // nothing run yet
  engine.forward(pixels.data(), 2);
  for (float v : std::vector<float>(engine.activation(2), engine.activation(2) + 2 * 6 * 4 * 4)) EXPECT_GE(v, 0.f);
}

TEST(XnnEngine, ProbabilitiesAreASoftmax) {
  XnnEngine engine(init_model(preset("seed-cnn"), 2));
  const auto pixels = random_vector(3 * 28 * 28, 5, 0.f, 1.f);
  const std::vector<float> logits = engine.forward(pixels.data(), 3), p = engine.probabilities(pixels.data(), 3);
  std::vector<float> expected(p.size());
  softmax_forward(expected.data(), logits.data(), 3, 10);
  EXPECT_EQ(p, expected);
}

// Built an operator at a time (how the page spreads a faster path over frames), the engine refuses
// to run until complete and then gives exactly what one built at once gives.
TEST(XnnEngine, BuiltAnOperatorAtATimeItRunsOnlyWhenCompleteAndMatchesOneBuiltAtOnce) {
  const Model m = random_model(preset("digitlab-cnn"), 11);
  const XnnEngine::Options winograd{XnnEngine::Convolutions::winograd};
  XnnEngine at_once(m, winograd);
  XnnEngine later(m, winograd, XnnEngine::BuildLater{});
  const auto pixels = random_vector(2 * 28 * 28, 6, 0.f, 1.f);
  EXPECT_FALSE(later.complete());
  EXPECT_ERROR_CONTAINS(later.forward(pixels.data(), 1), "still being built (0 of");
  size_t calls = 0;
  while (later.build_next()) {
    ++calls;
    if (!later.complete()) EXPECT_ERROR_CONTAINS(later.forward(pixels.data(), 1), "still being built");
  }
  EXPECT_EQ(calls, at_once.steps().size());
  EXPECT_TRUE(later.complete());
  EXPECT_FALSE(later.build_next());
  EXPECT_EQ(later.max_batch(), at_once.max_batch());
  EXPECT_EQ(later.forward(pixels.data(), 2), at_once.forward(pixels.data(), 2));
}

TEST(XnnEngine, WeightsThatDoNotMatchAreNamed) {
  Model m = init_model(preset("seed-cnn"), 3);
  Model wrong_shape = m;
  wrong_shape.params.at("conv2.weight") = Tensor{{64, 32, 5, 5}, std::vector<float>(64 * 32 * 25)};
  EXPECT_ERROR_CONTAINS(XnnEngine{wrong_shape}, "conv2.weight");
  Model missing = m;
  missing.params.erase("fc2.bias");
  EXPECT_ERROR_CONTAINS(XnnEngine{missing}, "fc2.bias");
  Model extra = m;
  extra.params["fc3.weight"] = Tensor{{1}, {0.f}};
  EXPECT_ERROR_CONTAINS(XnnEngine{extra}, "fc3.weight");
  Model nan = m;
  nan.params.at("fc1.weight").data[5] = NAN;
  EXPECT_ERROR_CONTAINS(XnnEngine{nan}, "fc1.weight");
  Model bn = init_model(preset("digitlab-cnn"), 3);
  bn.params.at("bn2.running_var").data[0] = -1.f;
  EXPECT_ERROR_CONTAINS(XnnEngine{bn}, "bn2.running_var");
  Model zero_std = m;
  zero_std.norm.std = 0.f;
  EXPECT_ERROR_CONTAINS(XnnEngine{zero_std}, "normalisation");
}

TEST(XnnEngine, LayerSequencesItCannotRunAreErrors) {
  Architecture a;
  a.name = "conv-after-flatten";
  a.input = {1, 4, 4};
  a.num_classes = 2;
  a.layers = {flatten(), conv2d("conv", 16, 2, 1)};
  EXPECT_ERROR_CONTAINS(XnnEngine{init_model(a, 1)}, "convolution on flattened features");

  Layer pool = max_pool2d(2);
  pool.stride = 3;
  a.name = "strided-pool";
  a.input = {2, 4, 4};
  a.layers = {pool, flatten(), linear("fc", 2, 2)};
  EXPECT_ERROR_CONTAINS(XnnEngine{init_model(a, 1)}, "stride larger than the window");

  a.name = "bn-after-pool";
  a.layers = {max_pool2d(4), batch_norm2d("bn", 2), flatten()};
  EXPECT_ERROR_CONTAINS(XnnEngine{init_model(a, 1)}, "cannot fold batch norm 'bn'");
}

TEST(XnnEngine, BadBatchesAreErrors) {
  const Model model = init_model(preset("dsconv"), 4);
  XnnEngine engine(model);
  const std::vector<float> pixels(28 * 28, 0.5f);
  std::vector<float> logits(10);
  EXPECT_ERROR_CONTAINS(engine.forward(pixels.data(), 0, logits.data()), "batch size 0");
  EXPECT_ERROR_CONTAINS(engine.forward(pixels.data(), -3, logits.data()), "batch size -3");
  EXPECT_ERROR_CONTAINS(engine.forward(pixels.data(), engine.max_batch() + 1, logits.data()), "out of range");
  EXPECT_ERROR_CONTAINS(engine.forward(pixels.data(), std::numeric_limits<int>::max()), "out of range");
  EXPECT_ERROR_CONTAINS(engine.forward(nullptr, 1, logits.data()), "buffers");
  EXPECT_ERROR_CONTAINS(engine.activation(99), "no step 99");
  // Still usable after refusing those calls.
  EXPECT_LE(max_abs_diff(engine.forward(pixels.data(), 1), reference_forward(model, pixels.data(), 1)), 1e-4f);
}

// Trained models (written by the native trainer) on the first 1000 MNIST test images.
void check_trained_model(const std::string& name) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const std::string path = std::string(DIGITLAB_SOURCE_DIR) + "/models/" + name + ".safetensors";
  if (!file_exists(path)) GTEST_SKIP() << path << " not found; train it first";
  const Model model = load_model_file(path);
  const Dataset test = load_mnist(dir, MnistSplit::test);
  const int n = 1000, chunk = 100;
  ASSERT_GE(test.size(), size_t(n));
  std::vector<float> pixels(size_t(n) * 28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = test.images[i] / 255.f;

  XnnEngine engine(model);
  int agree = 0, correct = 0;
  float diff = 0.f;
  for (int start = 0; start < n; start += chunk) {
    const float* x = pixels.data() + size_t(start) * 28 * 28;
    const std::vector<float> got = engine.forward(x, chunk), want = reference_forward(model, x, chunk);
    diff = std::max(diff, max_abs_diff(got, want));
    for (int i = 0; i < chunk; ++i) {
      auto argmax = [&](const std::vector<float>& v) {
        return int(std::max_element(v.begin() + i * 10, v.begin() + i * 10 + 10) - (v.begin() + i * 10));
      };
      agree += argmax(got) == argmax(want);
      correct += argmax(got) == test.labels[size_t(start + i)];
    }
  }
  std::printf("[ mnist    ] %s: argmax agrees with reference on %d/%d, logits max abs diff %.3g, accuracy %.4f\n",
              name.c_str(), agree, n, diff, double(correct) / n);
  EXPECT_EQ(agree, n);
  EXPECT_GE(double(correct) / n, 0.98);
}

TEST(XnnEngineMnist, TrainedSeedCnn) { check_trained_model("seed-cnn"); }
TEST(XnnEngineMnist, TrainedDigitlabCnn) { check_trained_model("digitlab-cnn"); }

}  // namespace
}  // namespace digitlab
