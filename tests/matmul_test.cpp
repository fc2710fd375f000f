// The training code's own matrix product (wasm/engine/matmul.h) against a float64 triple loop, over
// shapes that exercise every kernel and edge: row counts that are not multiples of the row blocks,
// column counts that are not multiples of 4 or 8, short and long K (the (N, K) layout switches
// kernels at K = 16), with and without bias; and the same bits on 1, 2 and 4 threads. Native and under
// node.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "matmul.h"
#include "test_support.h"

namespace digitlab {
namespace {

using testing::random_vector;

std::vector<double> reference(const std::vector<float>& a, const std::vector<float>& b, const float* bias, int M, int K,
                              int N, bool k_by_n) {
  std::vector<double> out(size_t(M) * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = bias ? bias[n] : 0.0;
      for (int k = 0; k < K; ++k) s += double(a[size_t(m) * K + k]) * (k_by_n ? b[size_t(k) * N + n] : b[size_t(n) * K + k]);
      out[size_t(m) * N + n] = s;
    }
  return out;
}

TEST(MatMul, EqualsAFloat64ProductForEveryKernelAndEdge) {
  TrainWorkspace ws;  // one for every case: shapes change, the scratch grows as needed
  int cases = 0;
  for (int M : {1, 2, 3, 4, 5, 7, 9, 32})
    for (int N : {1, 3, 4, 5, 8, 11, 16, 19})
      for (int K : {0, 1, 5, 15, 16, 17, 33, 300})
        for (bool k_by_n : {false, true})
          for (bool with_bias : {false, true}) {
            const std::vector<float> a = random_vector(size_t(M) * K, 1 + M), b = random_vector(size_t(K) * N, 2 + N);
            const std::vector<float> bias = random_vector(size_t(N), 3);
            const float* bp = with_bias ? bias.data() : nullptr;
            std::vector<float> got(size_t(M) * N, NAN);
            matmul(got.data(), a.data(), b.data(), bp, M, K, N, k_by_n, ws);
            const std::vector<double> want = reference(a, b, bp, M, K, N, k_by_n);
            double worst = 0;
            for (size_t i = 0; i < got.size(); ++i)
              worst = std::max(worst, std::fabs(double(got[i]) - want[i]) / (1.0 + std::fabs(want[i])));
            ASSERT_LE(worst, 1e-5) << M << "x" << K << "x" << N << (k_by_n ? " KN" : " NK") << (with_bias ? " bias" : "");
            ++cases;
          }
  EXPECT_EQ(cases, 8 * 8 * 8 * 4);
}

// Mostly-zero left operands (gradients behind max pooling) take the zero-skipping row loop.
TEST(MatMul, MostlyZeroLeftOperandsGiveTheSameProduct) {
  const int M = 13, K = 50, N = 21;
  std::vector<float> a = random_vector(size_t(M) * K, 4);
  for (size_t i = 0; i < a.size(); ++i)
    if (i % 4 != 0) a[i] = 0.f;
  const std::vector<float> b = random_vector(size_t(K) * N, 5), bias = random_vector(size_t(N), 6);
  std::vector<float> got(size_t(M) * N, NAN);
  TrainWorkspace ws;
  matmul(got.data(), a.data(), b.data(), bias.data(), M, K, N, true, ws);
  const std::vector<double> want = reference(a, b, bias.data(), M, K, N, true);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * (1.0 + std::fabs(want[i])));
}

// With threads the product is split into fixed row ranges, each computed exactly as one thread
// computes it: bit-for-bit the same results at 1, 2 and 4 threads, on every kernel (the (N, K) dot
// products, the (K, N) blocks, the zero-skipping rows) and on shapes as large as training's.
TEST(MatMul, GivesTheSameBitsOnOneTwoAndFourThreads) {
  if (!testing::kThreadsAvailable) GTEST_SKIP() << "a single-threaded wasm build";
  ThreadPoolRunner two(2), four(4);
  int compared = 0;
  for (int M : {5, 37, 130, 1568})
    for (int K : {9, 16, 288})
      for (int N : {3, 32, 64})
        for (bool k_by_n : {false, true})
          for (bool mostly_zero : {false, true}) {
            std::vector<float> a = random_vector(size_t(M) * K, 7 + M + K);
            if (mostly_zero)
              for (size_t i = 0; i < a.size(); ++i)
                if (i % 4) a[i] = 0.f;
            const std::vector<float> b = random_vector(size_t(K) * N, 8 + N), bias = random_vector(size_t(N), 9);
            std::vector<float> want(size_t(M) * N), got(size_t(M) * N);
            TrainWorkspace ws;
            matmul(want.data(), a.data(), b.data(), bias.data(), M, K, N, k_by_n, ws);
            for (TaskRunner* r : {static_cast<TaskRunner*>(&two), static_cast<TaskRunner*>(&four)}) {
              ws.set_runner(r);
              std::fill(got.begin(), got.end(), NAN);
              matmul(got.data(), a.data(), b.data(), bias.data(), M, K, N, k_by_n, ws);
              ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)))
                  << M << "x" << K << "x" << N << (k_by_n ? " KN" : " NK") << " on " << r->threads() << " threads";
              ++compared;
            }
          }
  EXPECT_EQ(compared, 4 * 3 * 3 * 2 * 2 * 2);
}

// A task that throws does not leave the pool stuck: the error comes back and the next run works.
TEST(ThreadPoolRunner, RunsEveryTaskOnceAndReturnsATasksError) {
  if (!testing::kThreadsAvailable) GTEST_SKIP() << "a single-threaded wasm build";
  for (int threads : {1, 2, 4}) {
    ThreadPoolRunner pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    std::vector<int> hits(1000, 0);
    pool.run(hits.size(), [&](size_t i) { ++hits[i]; });
    EXPECT_EQ(std::count(hits.begin(), hits.end(), 1), 1000);
    EXPECT_THROW(pool.run(10, [](size_t i) { if (i == 3) throw std::runtime_error("task 3"); }), std::runtime_error);
    std::fill(hits.begin(), hits.end(), 0);
    pool.run(hits.size(), [&](size_t i) { ++hits[i]; });
    EXPECT_EQ(std::count(hits.begin(), hits.end(), 1), 1000);
  }
}

}  // namespace
}  // namespace digitlab
