// XNNPACK's dynamic fully-connected operator as the training code's matrix product (native and wasm):
// it computes what the plain loops compute, so the tail trainer's gradients stay those that the
// LibTorch comparison (tail_trainer_torch_test, on the loops) validated.
#include <cmath>

#include "tail_trainer.h"
#include "test_support.h"
#include "xnn_matmul.h"

namespace digitlab {
namespace {

using testing::relative_error;
using testing::random_vector;

TEST(XnnMatMul, EqualsTheLoopsInBothLayouts) {
  const MatMul xnn = xnn_matmul();
  struct Case { int M, K, N; } cases[] = {{1, 1, 1}, {32, 128, 10}, {288, 864, 128}, {9, 32, 3136}, {128, 288, 9}};
  for (const Case& c : cases)
    for (bool k_by_n : {false, true})
      for (bool with_bias : {false, true}) {
        SCOPED_TRACE(std::to_string(c.M) + "x" + std::to_string(c.K) + "x" + std::to_string(c.N) + (k_by_n ? " KN" : " NK"));
        const std::vector<float> a = random_vector(size_t(c.M) * c.K, 1), b = random_vector(size_t(c.K) * c.N, 2);
        const std::vector<float> bias = random_vector(size_t(c.N), 3);
        std::vector<float> want(size_t(c.M) * c.N), got(want.size(), NAN);
        matmul_loops(want.data(), a.data(), b.data(), with_bias ? bias.data() : nullptr, c.M, c.K, c.N, k_by_n);
        xnn(got.data(), a.data(), b.data(), with_bias ? bias.data() : nullptr, c.M, c.K, c.N, k_by_n);
        EXPECT_LE(relative_error(got, want), 1e-5);
      }
}

TEST(XnnMatMul, TailTrainerGradientsMatchTheLoops) {
  for (const std::string& name : preset_names()) {
    const Model m = fold_batch_norm(init_model(preset(name), 21));
    for (const size_t first : {head_start(m.arch), last_block_start(m.arch)}) {
      SCOPED_TRACE(name + " from layer " + std::to_string(first));
      TailTrainer loops(m, first, OptimizerOptions{}), xnn(m, first, OptimizerOptions{}, 1, xnn_matmul());
      const int B = 8;
      const std::vector<float> x = random_vector(size_t(B) * loops.input_size(), 5, 0.f, 2.f);
      std::vector<uint8_t> y;
      for (int i = 0; i < B; ++i) y.push_back(uint8_t(i));
      EXPECT_NEAR(loops.forward_backward(x.data(), y.data(), B, false), xnn.forward_backward(x.data(), y.data(), B, false), 1e-5);
      EXPECT_LE(relative_error(xnn.gradients(), loops.gradients()), 1e-4);
      EXPECT_LE(relative_error(xnn.input_gradient(), loops.input_gradient()), 1e-4);
    }
  }
}

}  // namespace
}  // namespace digitlab
