// Winograd F(2x2,3x3) and F(4x4,3x3) convolution (wasm/engine/winograd_conv.h) in XNNPACK's tester style: against
// XNNPACK's direct convolution followed by a plain max pool loop, over padding, odd and even map
// sizes, channel counts that are not multiples of the SIMD width, more than one chunk of output
// channels, batches and repeated sizes; then the engine with Winograd on the shipped models over
// the whole MNIST test set. Native and under node.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "digitlab/idx.h"
#include "digitlab/presets.h"
#include "digitlab/safetensors.h"
#include "test_support.h"
#include "winograd_conv.h"
#include "xnn_conv2d.h"
#include "xnn_engine.h"

namespace digitlab {
namespace {

using testing::random_vector;
using testing::relative_error;

// 2x2 stride-2 max pool (floor) of an NHWC map.
std::vector<float> max_pool2(const std::vector<float>& x, int batch, int h, int w, int c) {
  const int oh = h / 2, ow = w / 2;
  std::vector<float> y(size_t(batch) * oh * ow * c);
  for (int b = 0; b < batch; ++b)
    for (int i = 0; i < oh; ++i)
      for (int j = 0; j < ow; ++j)
        for (int k = 0; k < c; ++k) {
          auto at = [&](int yy, int xx) { return x[((size_t(b) * h + yy) * w + xx) * c + k]; };
          y[((size_t(b) * oh + i) * ow + j) * c + k] =
              std::max(std::max(at(2 * i, 2 * j), at(2 * i, 2 * j + 1)), std::max(at(2 * i + 1, 2 * j), at(2 * i + 1, 2 * j + 1)));
        }
  return y;
}

class WinogradTester {
 public:
  WinogradTester& channels(int in, int out) { cin_ = in, cout_ = out; return *this; }
  WinogradTester& map(int h, int w) { h_ = h, w_ = w; return *this; }
  WinogradTester& padding(int p) { pad_ = p; return *this; }
  WinogradTester& relu(bool r) { relu_ = r; return *this; }
  WinogradTester& pool(bool p) { pool_ = p; return *this; }
  WinogradTester& batches(std::vector<int> b) { batches_ = std::move(b); return *this; }

  // Runs the case with both output tiles.
  void test() const {
    for (int tile : {2, 4}) test_tile(tile);
  }

  void test_tile(int tile) const {
    Layer l = conv2d("conv", cin_, cout_, 3, pad_);
    const std::vector<float> weight = random_vector(size_t(cout_) * cin_ * 9, 3, -0.5f, 0.5f);
    const std::vector<float> bias = random_vector(size_t(cout_), 5, -0.5f, 0.5f);
    XnnConv2d direct(l, weight.data(), bias.data(), relu_);
    WinogradConv3x3 winograd(l, weight.data(), bias.data(), relu_, pool_, tile);
    const int oh = h_ + 2 * pad_ - 2, ow = w_ + 2 * pad_ - 2;
    for (int batch : batches_) {
      SCOPED_TRACE("batch " + std::to_string(batch));
      const std::vector<float> x = random_vector(size_t(batch) * h_ * w_ * cin_, 7 + batch, -1.f, 1.f);
      std::vector<float> conv(size_t(batch) * oh * ow * cout_);
      direct.reshape(batch, h_, w_);
      direct.run(x.data(), conv.data());
      const std::vector<float> expected = pool_ ? max_pool2(conv, batch, oh, ow, cout_) : conv;
      const Shape s = winograd.output_shape(h_, w_);
      ASSERT_EQ(size_t(batch) * s.size(), expected.size());
      std::vector<float> got(expected.size(), NAN);
      winograd.reshape(batch, h_, w_);
      winograd.run(x.data(), got.data());
      const double err = relative_error(got, expected);
      std::printf("[ winograd ] F(%dx%d) %3d->%3d on %2dx%-2d pad %d%s%s batch %2d: relative error %.2g\n", tile, tile,
                  cin_, cout_, h_, w_, pad_, relu_ ? " relu" : "", pool_ ? " pool" : "", batch, err);
      EXPECT_LE(err, tile == 2 ? 1e-5 : 1e-4);
      for (float v : got) ASSERT_TRUE(std::isfinite(v));  // every output written
      if (relu_) {
        EXPECT_GE(*std::min_element(got.begin(), got.end()), 0.f);
      }
    }
  }

 private:
  int cin_ = 8, cout_ = 8, h_ = 6, w_ = 6, pad_ = 1;
  bool relu_ = false, pool_ = false;
  std::vector<int> batches_ = {1, 3, 1};
};

TEST(WinogradConv3x3, SamePaddingEvenMap) { WinogradTester().channels(32, 64).map(14, 14).test(); }
TEST(WinogradConv3x3, SamePaddingOddMapKeepsTheLastRowAndColumn) { WinogradTester().channels(8, 12).map(7, 9).test(); }
TEST(WinogradConv3x3, ValidPadding) {
  WinogradTester().channels(5, 7).map(8, 8).padding(0).test();
  WinogradTester().channels(5, 7).map(9, 6).padding(0).relu(true).test();
}
TEST(WinogradConv3x3, FusedReluAndPool) {
  WinogradTester().channels(32, 64).map(14, 14).relu(true).pool(true).test();
  WinogradTester().channels(64, 96).map(7, 7).relu(true).pool(true).test();  // floor: the 7th row is never computed
  WinogradTester().channels(3, 5).map(5, 8).padding(0).pool(true).test();
}
TEST(WinogradConv3x3, MoreOutputChannelsThanOneChunk) { WinogradTester().channels(9, 300).map(4, 5).relu(true).test(); }
TEST(WinogradConv3x3, OnePixelMap) { WinogradTester().channels(8, 4).map(1, 1).test(); }

TEST(WinogradConv3x3, PreferredTileCountsProducts) {
  const Layer same = conv2d("c", 32, 64, 3, 1);
  EXPECT_EQ(WinogradConv3x3::preferred_tile(same, 14, 14, true), 4);  // 16 tiles x 36 < 49 x 16
  EXPECT_EQ(WinogradConv3x3::preferred_tile(same, 7, 7, true), 4);    // 4 x 36 = 9 x 16: a tie
  EXPECT_EQ(WinogradConv3x3::preferred_tile(same, 2, 2, false), 2);   // 1 x 36 > 1 x 16
}

TEST(WinogradConv3x3, UnsupportedLayersAreErrors) {
  const std::vector<float> w(8 * 8 * 25, 0.f);
  EXPECT_ERROR_CONTAINS(WinogradConv3x3(conv2d("c", 8, 8, 5, 2), w.data(), nullptr, false, false), "3x3 stride-1");
  EXPECT_ERROR_CONTAINS(WinogradConv3x3(conv2d("c", 8, 8, 3, 1, 2), w.data(), nullptr, false, false), "3x3 stride-1");
  EXPECT_ERROR_CONTAINS(WinogradConv3x3(conv2d("c", 8, 8, 3, 1, 1, 1, 8), w.data(), nullptr, false, false), "3x3 stride-1");
  EXPECT_ERROR_CONTAINS(WinogradConv3x3(conv2d("c", 8, 8, 3, 1), w.data(), nullptr, false, false, 3), "2x2 or 4x4");
  WinogradConv3x3 pooled(conv2d("c", 8, 8, 3, 0), w.data(), nullptr, false, true);
  std::vector<float> x(3 * 3 * 8), y(8);
  EXPECT_ERROR_CONTAINS(pooled.run(x.data(), y.data()), "before reshape");
  EXPECT_ERROR_CONTAINS(pooled.reshape(1, 3, 3), "too small for a 2x2 max pool");
  EXPECT_ERROR_CONTAINS(pooled.run(x.data(), y.data()), "before reshape");  // a refused size leaves it unusable
}

TEST(WinogradConv3x3, EngineFusesThePoolAndRefusesToCutInsideIt) {
  const Model m = init_model(preset("digitlab-cnn"), 9);
  XnnEngine engine(m, {XnnEngine::Convolutions::winograd});
  const auto steps = engine.steps();
  for (const auto& s : engine.steps()) std::printf("  %s\n", s.description.c_str());
  ASSERT_GE(steps.size(), 5u);
  EXPECT_EQ(steps[0].description.find("Winograd"), std::string::npos);  // one input channel: direct
  EXPECT_NE(steps[2].description.find("max_pool"), std::string::npos) << steps[2].description;
  EXPECT_NE(steps[2].description.find("Winograd"), std::string::npos) << steps[2].description;
  EXPECT_EQ(steps[2].output, (Shape{64, 7, 7}));
  const std::vector<float> pixels(784, 0.3f);
  // Folded layers: conv1 relu pool conv2 relu pool(5) conv3 ...
  std::vector<float> features(size_t(engine.feature_size(6)));
  EXPECT_NO_THROW(engine.features_before(6, pixels.data(), 1, features.data()));  // after conv2's pool
  features.resize(size_t(engine.feature_size(5)));
  EXPECT_ERROR_CONTAINS(engine.features_before(5, pixels.data(), 1, features.data()), "inside a fused step");
}

// The shipped models on all 10,000 MNIST test digits: Winograd predicts what the direct engine does.
TEST(WinogradConv3x3, ShippedModelsAgreeWithDirectOnMnistTest) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const Dataset test = load_mnist(dir, MnistSplit::test);
  std::vector<float> pixels(test.images.size());
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = float(test.images[i]) / 255.f;
  for (const char* name : {"digitlab-cnn", "seed-cnn"}) {
    SCOPED_TRACE(name);
    const Model m = load_model_file(std::string(DIGITLAB_SOURCE_DIR) + "/models/" + name + ".safetensors");
    XnnEngine direct(m), winograd(m, {XnnEngine::Convolutions::winograd});
    size_t agree = 0, right = 0;
    float worst = 0.f;
    std::vector<float> a(64 * 10), b(64 * 10);
    for (size_t s = 0; s < test.size(); s += 64) {
      const int k = int(std::min<size_t>(64, test.size() - s));
      direct.forward(pixels.data() + s * 784, k, a.data());
      winograd.forward(pixels.data() + s * 784, k, b.data());
      for (int i = 0; i < k; ++i) {
        const float* pa = &a[size_t(i) * 10];
        const float* pb = &b[size_t(i) * 10];
        const int ya = int(std::max_element(pa, pa + 10) - pa), yb = int(std::max_element(pb, pb + 10) - pb);
        agree += ya == yb;
        right += yb == test.labels[s + size_t(i)];
        for (int j = 0; j < 10; ++j) worst = std::max(worst, std::fabs(pa[j] - pb[j]));
      }
    }
    std::printf("%s: Winograd agrees with direct on %zu of %zu (accuracy %.2f%%), max logit diff %.2g\n", name, agree,
                test.size(), 100.0 * double(right) / double(test.size()), worst);
    EXPECT_GE(double(agree) / double(test.size()), 0.999);
    EXPECT_LE(worst, 1e-3f);
  }
}

}  // namespace
}  // namespace digitlab
