// One XNNPACK convolution against the reference forward pass, in XNNPACK's tester style: a small
// builder sets the geometry, runs both, and compares. Runs natively and, compiled to wasm, under node.
#include "digitlab/reference.h"
#include "test_support.h"
#include "xnn_conv2d.h"

namespace digitlab {
namespace {

using namespace testing;  // random_vector, max_abs_diff, ...

class ConvTester {
 public:
  ConvTester& channels(int in, int out) { in_ = in, out_ = out; return *this; }
  ConvTester& input(int h, int w) { h_ = h, w_ = w; return *this; }
  ConvTester& kernel(int k) { k_ = k; return *this; }
  ConvTester& padding(int p) { pad_ = p; return *this; }
  ConvTester& stride(int s) { stride_ = s; return *this; }
  ConvTester& dilation(int d) { dilation_ = d; return *this; }
  ConvTester& groups(int g) { groups_ = g; return *this; }
  ConvTester& batch(int b) { batch_ = b; return *this; }
  ConvTester& relu(bool r) { relu_ = r; return *this; }

  void test() const {
    const Layer l = conv2d("conv", in_, out_, k_, pad_, stride_, dilation_, groups_);
    const auto w = random_vector(size_t(out_) * (in_ / groups_) * k_ * k_, 1);
    const auto b = random_vector(size_t(out_), 2);
    const auto x = random_vector(size_t(batch_) * in_ * h_ * w_, 3);
    const int oh = (h_ + 2 * pad_ - dilation_ * (k_ - 1) - 1) / stride_ + 1;
    const int ow = (w_ + 2 * pad_ - dilation_ * (k_ - 1) - 1) / stride_ + 1;

    std::vector<float> expected(size_t(batch_) * out_ * oh * ow);
    conv2d_forward(expected.data(), x.data(), w.data(), b.data(), batch_, in_, h_, w_, out_, k_, stride_, pad_, dilation_, groups_);
    if (relu_) relu_forward(expected.data(), expected.data(), int(expected.size()));

    XnnConv2d op(l, w.data(), b.data(), relu_);
    const std::vector<float> x_nhwc = testing::nchw_to_nhwc(x, batch_, in_, h_, w_);
    std::vector<float> y_nhwc(expected.size());
    op.reshape(batch_, h_, w_);
    ASSERT_EQ(op.output_height(), oh);
    ASSERT_EQ(op.output_width(), ow);
    for (int repeat = 0; repeat < 2; ++repeat) {  // the second run reuses the reshaped operator
      op.run(x_nhwc.data(), y_nhwc.data());
      EXPECT_LT(max_abs_diff(testing::nhwc_to_nchw(y_nhwc, batch_, out_, oh, ow), expected), 1e-4f);
    }
  }

 private:
  int in_ = 1, out_ = 1, h_ = 28, w_ = 28, k_ = 3, pad_ = 0, stride_ = 1, dilation_ = 1, groups_ = 1, batch_ = 1;
  bool relu_ = false;
};

TEST(XnnConv2d, FirstLayerOfSeedCnn) { ConvTester().channels(1, 32).padding(1).relu(true).test(); }
TEST(XnnConv2d, SecondLayerOfSeedCnnBatch4) { ConvTester().channels(32, 64).input(14, 14).padding(1).batch(4).test(); }
TEST(XnnConv2d, ValidPadding) { ConvTester().channels(32, 64).input(26, 26).test(); }
TEST(XnnConv2d, Strided) { ConvTester().channels(3, 8).input(13, 11).stride(2).padding(1).test(); }
TEST(XnnConv2d, DilatedDepthwise) { ConvTester().channels(32, 32).groups(32).input(14, 14).padding(2).dilation(2).test(); }
TEST(XnnConv2d, FollowsXnnpacksLifecycle) {
  const Layer l = conv2d("conv", 2, 4, 3, 1);
  const auto w = random_vector(4 * 2 * 9, 1);
  XnnConv2d op(l, w.data(), nullptr, false);
  std::vector<float> x(2 * 5 * 5 * 2), y(2 * 5 * 5 * 4);
  EXPECT_ERROR_CONTAINS(op.run(x.data(), y.data()), "before reshape");
  op.reshape(2, 5, 5);
  op.run(x.data(), y.data());
  EXPECT_EQ(op.output_height(), 5);
  EXPECT_ERROR_CONTAINS(XnnConv2d(conv2d("c", 1, 1, 3), nullptr, nullptr, false), "no weights");
}
TEST(XnnConv2d, Pointwise) { ConvTester().channels(16, 32).kernel(1).input(7, 7).test(); }

}  // namespace
}  // namespace digitlab
