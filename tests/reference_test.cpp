#include "digitlab/presets.h"
#include "digitlab/reference.h"

#include "test_support.h"

namespace digitlab {
namespace {

using namespace testing;  // random_vector, max_abs_diff, ...

TEST(Reference, Conv2dByHand) {
  // 1x1x3x3 input, one 2x2 kernel, bias 0.5, no padding -> 2x2 output computed by hand.
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const float w[4] = {1, 0, 0, -1};  // top-left minus bottom-right
  const float b[1] = {0.5f};
  float y[4];
  conv2d_forward(y, x, w, b, 1, 1, 3, 3, 1, 2, 1, 0, 1, 1);
  for (float v : y) EXPECT_FLOAT_EQ(v, -4 + 0.5f);
  // With padding 1 the corner output sees only x[0] under the kernel's bottom-right tap.
  float yp[16];
  conv2d_forward(yp, x, w, nullptr, 1, 1, 3, 3, 1, 2, 1, 1, 1, 1);
  EXPECT_FLOAT_EQ(yp[0], -1.f);
  EXPECT_FLOAT_EQ(yp[15], 9.f);
}

// A dilated kernel equals a dense kernel with zeros between its taps.
TEST(Reference, DilatedConvEqualsZeroStuffedKernel) {
  const int C = 3, H = 11, W = 9, OC = 4;
  const auto x = random_vector(C * H * W, 1), w = random_vector(OC * C * 9, 2), b = random_vector(OC, 3);
  std::vector<float> stuffed(OC * C * 25, 0.f);
  for (int o = 0; o < OC * C; ++o)
    for (int kh = 0; kh < 3; ++kh)
      for (int kw = 0; kw < 3; ++kw) stuffed[o * 25 + (2 * kh) * 5 + 2 * kw] = w[o * 9 + kh * 3 + kw];
  std::vector<float> y1(OC * H * W), y2(OC * H * W);
  conv2d_forward(y1.data(), x.data(), w.data(), b.data(), 1, C, H, W, OC, 3, 1, 2, 2, 1);
  conv2d_forward(y2.data(), x.data(), stuffed.data(), b.data(), 1, C, H, W, OC, 5, 1, 2, 1, 1);
  EXPECT_LT(max_abs_diff(y1, y2), 1e-5f);
}

// A grouped convolution equals a dense one whose weights are zero across groups.
TEST(Reference, GroupedConvEqualsBlockDiagonalDenseConv) {
  const int C = 4, H = 6, W = 7, OC = 8, G = 2, K = 3;
  const auto x = random_vector(2 * C * H * W, 4), w = random_vector(OC * (C / G) * K * K, 5);
  std::vector<float> dense(OC * C * K * K, 0.f);
  for (int o = 0; o < OC; ++o)
    for (int i = 0; i < C / G; ++i)
      for (int k = 0; k < K * K; ++k) dense[(o * C + (o / (OC / G)) * (C / G) + i) * K * K + k] = w[(o * (C / G) + i) * K * K + k];
  const int OH = (H - 3) / 2 + 1, OW = (W - 3) / 2 + 1;
  std::vector<float> y1(2 * OC * OH * OW), y2(y1.size());
  conv2d_forward(y1.data(), x.data(), w.data(), nullptr, 2, C, H, W, OC, K, 2, 0, 1, G);
  conv2d_forward(y2.data(), x.data(), dense.data(), nullptr, 2, C, H, W, OC, K, 2, 0, 1, 1);
  EXPECT_LT(max_abs_diff(y1, y2), 1e-5f);
}

TEST(Reference, PoolingLinearReluSoftmaxByHand) {
  const float x[16] = {1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, 0, 9, 0, 0};
  float p[4];
  max_pool2d_forward(p, x, 1, 1, 4, 4, 2, 2);
  EXPECT_EQ(std::vector<float>(p, p + 4), (std::vector<float>{6, 8, 9, 0}));
  float g[1];
  global_avg_pool_forward(g, x, 1, 1, 4, 4);
  EXPECT_FLOAT_EQ(g[0], 35.f / 16);
  const float w[6] = {1, 0, -1, 2, 2, 2}, b[2] = {0.5f, -1};
  const float in[3] = {3, 4, 5};
  float y[2];
  linear_forward(y, in, w, b, 1, 3, 2);
  EXPECT_FLOAT_EQ(y[0], 3 - 5 + 0.5f);
  EXPECT_FLOAT_EQ(y[1], 24 - 1);
  float r[3] = {-1, 0, 2};
  relu_forward(r, r, 3);
  EXPECT_EQ(std::vector<float>(r, r + 3), (std::vector<float>{0, 0, 2}));
  const float logits[3] = {1000, 1001, 1002};  // would overflow a naive exp
  float probs[3];
  softmax_forward(probs, logits, 1, 3);
  EXPECT_NEAR(probs[0] + probs[1] + probs[2], 1.f, 1e-6f);
  EXPECT_NEAR(probs[2], 0.6652f, 1e-4f);
}

TEST(Reference, ForwardAppliesTheModelNormalisation) {
  Architecture a;
  a.name = "tiny";
  a.input = Shape{1, 2, 2};
  a.num_classes = 2;
  a.layers = {flatten(), linear("fc", 4, 2)};
  Model m = init_model(a, 1);
  m.norm = Normalization{0.5f, 0.25f};
  m.params["fc.weight"].data = {1, 0, 0, 0, 0, 0, 0, 1};
  m.params["fc.bias"].data = {0, 1};
  const float pixels[4] = {1.f, 0.f, 0.f, 0.25f};
  const std::vector<float> y = reference_forward(m, pixels, 1);
  EXPECT_FLOAT_EQ(y[0], (1.f - 0.5f) / 0.25f);
  EXPECT_FLOAT_EQ(y[1], (0.25f - 0.5f) / 0.25f + 1);
}

TEST(Reference, EveryPresetRunsAndIsBatchIndependent) {
  const auto pixels = random_vector(4 * 784, 9, 0.f, 1.f);
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    const Model m = init_model(preset(name), 2);
    const std::vector<float> batch = reference_forward(m, pixels.data(), 4);
    ASSERT_EQ(batch.size(), 40u);
    const std::vector<float> third = reference_forward(m, pixels.data() + 2 * 784, 1);
    EXPECT_EQ(std::vector<float>(batch.begin() + 20, batch.begin() + 30), third);
    for (float v : batch) EXPECT_TRUE(std::isfinite(v));
  }
}

}  // namespace
}  // namespace digitlab
